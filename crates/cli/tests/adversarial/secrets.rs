//! Secrets in server URLs: a password in the userinfo and a token in the query reach no file
//! of the workspace (logs, summary, report, journal, heartbeat, state) and neither output
//! stream. Two runs: the README's simulator run with both URLs configured (they are carried
//! in the configuration the run serialises), and a run on the exchange path whose feed
//! really connects through a URL holding the secrets (the binary's own `sim` as the
//! exchange).

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Output, Stdio},
    time::Duration,
};

use crate::{
    process::{command, output_text, signal, sim_run_args, wait_exit},
    workspace::summary,
};

const PASSWORD: &str = "Hunter2Passw0rd";
const USER: &str = "alice-operator";
const TOKEN: &str = "QueryT0kenXyz";

/// Every file under `root`, recursively (symlinks are not followed).
fn files_under(root: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable dir") {
            let entry = entry.expect("dir entry");
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files
}

/// No secret in any file of `workspace` nor in `output`.
fn assert_no_secret(workspace: &Path, output: &Output) {
    let files = files_under(workspace);
    assert!(files.len() > 5, "the run wrote its files: {files:?}");
    for secret in [PASSWORD, USER, TOKEN] {
        for file in &files {
            let bytes = std::fs::read(file).expect("readable file");
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(secret),
                "{secret} found in {}",
                file.display()
            );
        }
        let text = output_text(output);
        assert!(!text.contains(secret), "{secret} on the console:\n{text}");
    }
}

#[test]
fn a_password_and_a_query_token_in_the_configured_urls_reach_no_file_and_no_stream() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let ws_url = format!("wss://{USER}:{PASSWORD}@fapi.example.com/public/");
    let rest_url = format!("https://fapi.example.com/?token={TOKEN}");
    let output = command()
        .args(sim_run_args(
            &ws,
            "1200",
            "10s",
            &[
                "--http",
                "off",
                "--ws-url",
                &ws_url,
                "--rest-url",
                &rest_url,
            ],
        ))
        .output()
        .expect("binary runs");
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    // The URLs did reach the run's files, redacted.
    let config = &summary(&ws)["config"];
    assert_eq!(config["ws_url"], "wss://…@fapi.example.com/public/");
    assert_eq!(config["rest_url"], "https://fapi.example.com/?…");
    let report = std::fs::read_to_string(ws.join("runs/latest/report.html")).unwrap();
    assert!(
        report.contains("fapi.example.com/?…"),
        "the report shows the URL"
    );
    assert_no_secret(&ws, &output);
}

/// Starts the binary's own simulator (generated data at 60×) and returns it with its port.
fn exchange() -> (Child, u16) {
    let mut sim = command()
        .args(["sim", "--speed", "60", "--seconds", "300"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("simulator starts");
    let mut lines = BufReader::new(sim.stdout.take().expect("stdout")).lines();
    let rest = lines
        .by_ref()
        .map(|line| line.expect("simulator output"))
        .find_map(|line| {
            line.split_whitespace()
                .find_map(|pair| pair.strip_prefix("rest_url="))
                .map(str::to_owned)
        })
        .expect("the simulator prints its REST URL");
    let port = rest
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("a port");
    (sim, port)
}

#[test]
fn a_feed_connecting_through_a_url_with_credentials_never_shows_them() {
    let (mut sim, port) = exchange();
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let ws_url = format!("ws://{USER}:{PASSWORD}@127.0.0.1:{port}/public/?token={TOKEN}");
    let rest_url = format!("http://{USER}:{PASSWORD}@127.0.0.1:{port}");
    let output = command()
        .args([
            "run",
            "--source",
            "bitunix",
            "--duration",
            "8s",
            "--max-clock-skew",
            "off",
            "--http",
            "off",
            "--ws-url",
            &ws_url,
            "--rest-url",
            &rest_url,
            "--workspace",
        ])
        .arg(&ws)
        .output()
        .expect("binary runs");
    signal(&sim, "INT");
    let _ = wait_exit(&mut sim, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    // The feed connected through the URL and logged it, redacted.
    let log = std::fs::read_to_string(ws.join("logs/system.jsonl")).unwrap();
    assert!(
        log.contains(&format!("ws://…@127.0.0.1:{port}/public/?…")),
        "the feed logs its URL redacted"
    );
    assert!(summary(&ws)["candles_closed"].as_u64() > Some(0));
    assert_no_secret(&ws, &output);
}
