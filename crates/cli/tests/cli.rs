//! The real binary, as a user runs it: signals, the workspace lock, crash recovery, config
//! errors and the status/stop commands. Waits poll files with a deadline; nothing sleeps its
//! way to green.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::Path,
    process::{Child, Stdio},
    time::Duration,
};

#[path = "common/process.rs"]
mod process;

use process::{command, run, signal, sim_run_args, wait_exit, wait_for};

#[path = "common/candles.rs"]
mod candles;

use candles::real_slice;

#[path = "common/workspace.rs"]
mod workspace;

use workspace::heartbeat_candles;

fn start_session(workspace: &Path, speed: &str) -> Child {
    start_session_on(workspace, speed, None)
}

fn start_session_on(workspace: &Path, speed: &str, data: Option<&Path>) -> Child {
    let mut command = command();
    command.args(sim_run_args(workspace, speed, "5m", &[]));
    if let Some(data) = data {
        command.arg("--data").arg(data);
    }
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts")
}

#[test]
fn sigterm_saves_state_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = start_session(dir.path(), "120");
    wait_for("two closed candles", Duration::from_secs(30), || {
        heartbeat_candles(dir.path()) >= 2
    });
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean stop");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("runs/latest/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["stopped_reason"], "signal");
    for state in ["paper/broker_state.json", "paper/unified_state.json"] {
        let text = std::fs::read_to_string(dir.path().join(state)).unwrap();
        assert!(text.contains("schema_version"), "{state} saved");
    }
    assert!(!dir.path().join("session.lock").exists(), "lock released");
}

#[test]
fn a_second_session_in_the_same_workspace_is_refused_with_exit_3_and_stop_works() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = start_session(dir.path(), "120");
    wait_for("the first heartbeat", Duration::from_secs(30), || {
        dir.path().join("heartbeat.json").exists()
    });
    let ws = dir.path().to_str().unwrap();
    let second = run(&[
        "run",
        "--source",
        "sim",
        "--duration",
        "1m",
        "--workspace",
        ws,
    ]);
    assert_eq!(
        second.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(String::from_utf8_lossy(&second.stderr).contains("already running"));
    let status = run(&["status", "--json", "--workspace", ws]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["running"], true);
    assert_eq!(status["pid"], first.id());
    let stop = run(&["stop", "--workspace", ws]);
    assert_eq!(
        stop.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&stop.stdout)
    );
    assert!(String::from_utf8_lossy(&stop.stdout).contains("stopped (stop_requested)"));
    assert_eq!(
        wait_exit(&mut first, Duration::from_secs(10)).code(),
        Some(0)
    );
}

#[test]
fn kill_9_then_restart_restores_state_and_never_fills_an_order_twice() {
    let dir = tempfile::tempdir().unwrap();
    let data = real_slice(dir.path());
    let journal = dir.path().join("paper/events.jsonl");
    let fills = || {
        std::fs::read_to_string(&journal)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"kind\":\"fill\""))
            .count()
    };
    let mut child = start_session_on(dir.path(), "600", Some(&data));
    wait_for("a fill", Duration::from_secs(60), || fills() >= 1);
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(
        dir.path().join("session.lock").exists(),
        "a hard kill leaves the lock behind"
    );
    let before: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("paper/unified_state.json")).unwrap(),
    )
    .unwrap();

    let restarted = run(&[
        "run",
        "--source",
        "sim",
        "--speed",
        "600",
        "--duration",
        "8s",
        "--max-clock-skew",
        "off",
        "--workspace",
        dir.path().to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(
        restarted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&restarted.stderr)
    );
    let after: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("paper/unified_state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        before["starting_equity"], after["starting_equity"],
        "the account continues"
    );
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(
        text.contains("took_over_stale_lock"),
        "the dead owner's lock was taken over"
    );
    let mut ids = std::collections::BTreeMap::<String, u32>::new();
    for line in text.lines().filter(|l| l.contains("\"kind\":\"fill\"")) {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        *ids.entry(value["client_order_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert!(
        ids.values().all(|n| *n == 1),
        "an order filled twice: {ids:?}"
    );
}

/// The body of `GET <rest_url><path>` as JSON, over a plain loopback socket.
fn get_json(rest_url: &str, path: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let host = rest_url.strip_prefix("http://").expect("an http:// URL");
    let mut socket = std::net::TcpStream::connect(host).unwrap();
    write!(
        socket,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).unwrap();
    let body = &response[response.find("\r\n\r\n").expect("a header end") + 4..];
    let json = &body[body.find('{').expect("a JSON body")..];
    serde_json::Deserializer::from_str(json)
        .into_iter()
        .next()
        .expect("one JSON value")
        .unwrap()
}

#[test]
fn the_simulator_prints_where_it_listens_and_serves_its_history_there() {
    use std::io::{BufRead, BufReader, Read};
    let mut child = command()
        .args(["sim", "--listen", "127.0.0.1:0", "--history-candles", "5"])
        .args(["--seconds", "20"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("ws_url=") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the simulator exited without a ws_url= line"
        );
    }
    let pairs: Vec<(&str, &str)> = line
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .collect();
    let [("ws_url", ws_url), ("rest_url", rest_url)] = pairs[..] else {
        panic!("not `ws_url=… rest_url=…`: {line:?}");
    };
    let port = rest_url.rsplit(':').next().unwrap();
    assert_eq!(ws_url, format!("ws://127.0.0.1:{port}/public/"));
    // Five candles are history at the start: complete, served over REST.
    let klines = get_json(
        rest_url,
        "/api/v1/futures/market/kline?symbol=BTCUSDT&interval=1m&limit=100",
    );
    assert_eq!(klines["code"], 0, "{klines}");
    assert_eq!(klines["data"].as_array().unwrap().len(), 5, "{klines}");
    signal(&child, "INT");
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(10)).code(),
        Some(0),
        "Ctrl-C is a clean stop"
    );
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(
        rest.contains("\"rest_requests\""),
        "counters printed: {rest}"
    );
}

#[test]
fn an_invalid_setting_names_the_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "run",
        "--duration",
        "soon",
        "--interval",
        "7m",
        "--workspace",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`duration`") && stderr.contains("`interval`"),
        "{stderr}"
    );
    let out = command()
        .args(["run", "--workspace", dir.path().to_str().unwrap()])
        .env("LA_NOT_A_KEY", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not_a_key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_mistyped_key_or_table_gets_the_nearest_name_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (text, typed, near) in [
        ("durration = \"5m\"\n", "durration", "duration"),
        ("[setup]\nrisk_frac = 0.01\n", "setup", "setups"),
        ("[setups]\nrisk_fract = 0.01\n", "risk_fract", "risk_frac"),
    ] {
        let file = dir.path().join("typo.toml");
        std::fs::write(&file, text).unwrap();
        let out = run(&[
            "run",
            "--config",
            file.to_str().unwrap(),
            "--workspace",
            dir.path().join("ws").to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{text}: {out:?}");
        // miette wraps long lines: compare without the line breaks and the gutter.
        let stderr: String = String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(|line| line.trim_start_matches([' ', '│']).to_owned())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            stderr.contains(&format!("unknown key `{typed}`; did you mean `{near}`?")),
            "{text}: {stderr}"
        );
        assert!(
            stderr.contains("typo.toml"),
            "{text}: the file is named: {stderr}"
        );
    }
}

#[test]
fn a_zero_duration_is_a_configuration_error_not_a_session_without_end() {
    let dir = tempfile::tempdir().unwrap();
    for flag in ["--duration", "--max-clock-skew"] {
        // Spawned with a deadline: read as "no limit", the session would never end.
        let mut child = command()
            .args(["run", flag, "0", "--workspace"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let status = wait_exit(&mut child, Duration::from_secs(30));
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(2), "{flag} 0: {stderr}");
        assert!(stderr.contains("off for no limit"), "{flag} 0: {stderr}");
    }
}

#[test]
fn backtest_flags_are_typed_and_list_their_values_on_a_typo() {
    for (flag, bad, listed) in [
        ("--strategy", "setup", "setups, sma-cross"),
        ("--intrabar", "ticks", "waypoints, cadence"),
        ("--interval", "7m", "1m, 3m, 5m"),
        ("--source", "binance", "bitunix"),
    ] {
        let out = run(&["backtest", flag, bad]);
        assert_eq!(out.status.code(), Some(2), "{flag} {bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("invalid value '{bad}'")) && stderr.contains(listed),
            "{flag}: {stderr}"
        );
    }
}
