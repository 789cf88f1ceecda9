//! A flood of connections to the HTTP surface: a local process that opens hundreds of
//! connections and sends nothing must not take the file descriptors the session needs for its
//! heartbeat, its state saves and its summary. The session runs under a descriptor limit of
//! 160 (a laptop's is often 256 or 1,024), which 180 accepted connections would exhaust. (The
//! flood stays within the connections the surface serves plus the listener's accept queue of
//! 128: a connect beyond that waits in the client.)

use std::{
    net::{SocketAddr, TcpStream},
    process::Stdio,
    time::{Duration, Instant},
};

use crate::process::{binary, poll, signal, sim_run_args, wait_exit};

/// The heartbeat's `http_url` as an address, once the surface listens.
fn http_addr(workspace: &std::path::Path) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(workspace.join("heartbeat.json")).ok()?;
    let beat: serde_json::Value = serde_json::from_str(&text).ok()?;
    let url = beat["http_url"].as_str()?;
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .ok()
}

/// `updated_at_ms` of the heartbeat.
fn heartbeat_ms(workspace: &std::path::Path) -> Option<i64> {
    let text = std::fs::read_to_string(workspace.join("heartbeat.json")).ok()?;
    serde_json::from_str::<serde_json::Value>(&text).ok()?["updated_at_ms"].as_i64()
}

#[test]
fn a_flood_of_silent_connections_leaves_the_session_its_heartbeat_saves_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    // `ulimit` in a shell, then exec: the limit applies to the session alone.
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 160 && exec \"$0\" \"$@\"")
        .arg(binary())
        .args(sim_run_args(&ws, "60", "10m", &["--http", "127.0.0.1:0"]))
        .env_remove("LA_TEST_BINARY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let addr = poll("the HTTP surface", Duration::from_secs(60), || {
        http_addr(&ws)
    });
    let flood: Vec<TcpStream> = (0..180)
        .map(|i| {
            TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("connection {i}: {e}"))
        })
        .collect();
    // Heartbeats written after the flood arrived (each is a new file and a rename).
    let flooded_at = heartbeat_ms(&ws).unwrap_or_default();
    poll(
        "two heartbeats during the flood",
        Duration::from_secs(20),
        || heartbeat_ms(&ws).filter(|ms| *ms >= flooded_at + 1_500),
    );
    let signalled = Instant::now();
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(30));
    drop(flood);
    let stderr = {
        use std::io::Read;
        let mut text = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    };
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(signalled.elapsed() < Duration::from_secs(30));
    let log = std::fs::read_to_string(ws.join("logs/system.jsonl")).unwrap();
    assert!(
        !log.contains("Too many open files") && !stderr.contains("Too many open files"),
        "the flood took the session's descriptors:\n{}",
        log.lines()
            .filter(|l| l.contains("Too many open files"))
            .take(3)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let summary = crate::workspace::summary(&ws);
    assert_eq!(summary["stopped_reason"], "signal", "{summary}");
}
