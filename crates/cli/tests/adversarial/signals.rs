//! Signals and closed output streams: SIGHUP (a closed terminal or SSH session) stops the
//! session like SIGTERM, and a reader that goes away (`| head -1`, a closed stderr) never
//! turns a finished session into a panic: it still saves, summarises and writes its report.

use std::{
    io::{BufRead, BufReader},
    process::Stdio,
    time::{Duration, SystemTime},
};

use crate::{
    process::{binary, command, output_text, signal, sim_run_args, wait_exit, wait_for},
    workspace::{heartbeat_candles, journal, summary},
};

/// The last journal line is the session's own stop record, with `reason`.
fn assert_stopped_with(workspace: &std::path::Path, reason: &str) {
    let lines = journal(workspace);
    let last = lines.last().expect("a journal");
    assert_eq!(last["kind"], "session_stopped", "{last}");
    assert_eq!(last["stopped_reason"], reason, "{last}");
}

#[test]
fn sighup_stops_the_session_gracefully_with_its_summary_and_saved_state() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let mut child = command()
        .args(sim_run_args(&ws, "1200", "5m", &["--http", "off"]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    wait_for("three closed candles", Duration::from_secs(60), || {
        heartbeat_candles(&ws) >= 3
    });
    let sent_at = SystemTime::now();
    signal(&child, "HUP");
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "SIGHUP is a clean stop: {status:?}");
    assert_eq!(summary(&ws)["stopped_reason"], "signal");
    assert_stopped_with(&ws, "signal");
    // The final save: the account state is stamped after the signal was sent (its own
    // millisecond stamp; file modification times lag the wall clock by up to a tick).
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ws.join("paper/unified_state.json")).unwrap(),
    )
    .unwrap();
    let saved_at = time::OffsetDateTime::parse(
        state["saved_at"].as_str().expect("saved_at"),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let sent_at = time::OffsetDateTime::from(sent_at);
    assert!(
        saved_at
            >= sent_at
                .replace_nanosecond(u32::from(sent_at.millisecond()) * 1_000_000)
                .unwrap(),
        "the state is saved on the way out: saved {saved_at}, signalled {sent_at}"
    );
    assert!(ws.join("runs/latest/report.html").is_file());
}

#[test]
fn a_run_piped_into_head_exits_zero_and_writes_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    // The literal shell pipeline; the exit status is the binary's own (PIPESTATUS), not
    // head's. head exits after the first status line, long before the summary is printed.
    let output = std::process::Command::new("bash")
        .env_remove("LA_TEST_BINARY")
        .arg("-c")
        .arg(r#""$0" "$@" | head -1; exit "${PIPESTATUS[0]}""#)
        .arg(binary())
        .args(sim_run_args(&ws, "1200", "15s", &["--http", "off"]))
        .output()
        .expect("bash runs");
    let text = output_text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).lines().count(),
        1,
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
    assert_eq!(summary(&ws)["stopped_reason"], "duration_reached", "{text}");
    assert_stopped_with(&ws, "duration_reached");
    assert!(ws.join("runs/latest/report.html").is_file(), "{text}");
}

#[test]
fn closed_stdout_and_stderr_do_not_stop_a_signalled_session_from_finishing() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let mut child = command()
        .args(sim_run_args(&ws, "1200", "5m", &["--http", "off"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    // stderr is closed at once; stdout after its first line.
    drop(child.stderr.take());
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("a status line");
    assert!(!first.is_empty());
    wait_for("a closed candle", Duration::from_secs(60), || {
        heartbeat_candles(&ws) >= 1
    });
    // The stop is logged as a warning (to the closed stderr), then the summary is printed
    // (to the closed stdout).
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_stopped_with(&ws, "signal");
    assert!(ws.join("runs/latest/report.html").is_file());
}
