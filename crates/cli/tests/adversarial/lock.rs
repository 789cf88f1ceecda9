//! The workspace lock: simultaneous starts, a lock file naming a live unrelated PID, and
//! `status`/`stop` on a lock nobody holds.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use crate::{
    process::{command, output_text, run, signal, sim_run_args, wait_exit, wait_for},
    workspace::journal,
};

/// Starts of the real binary at once on one workspace, per round.
const STARTS: usize = 20;

#[test]
fn twenty_simultaneous_starts_on_one_workspace_run_exactly_one_session() {
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let args = sim_run_args(dir.path(), "600", "5m", &[]);
        let mut children: Vec<_> = (0..STARTS)
            .map(|_| {
                command()
                    .args(&args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("binary starts")
            })
            .collect();
        // Every loser exits 3 at once; the winner keeps running (its duration is 5 min).
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut refused = 0;
        let mut other_exits = Vec::new();
        while refused + other_exits.len() < STARTS - 1 && Instant::now() < deadline {
            children.retain_mut(|child| match child.try_wait().unwrap() {
                Some(status) if status.code() == Some(3) => {
                    refused += 1;
                    false
                }
                Some(status) => {
                    other_exits.push(status);
                    false
                }
                None => true,
            });
            std::thread::sleep(Duration::from_millis(20));
        }
        // A moment more, so a second winner would have shown itself by now.
        std::thread::sleep(Duration::from_millis(500));
        let mut running = children;
        let still_running = running.len();
        for child in &running {
            signal(child, "TERM");
        }
        for child in &mut running {
            let _ = wait_exit(child, Duration::from_secs(30));
        }
        assert!(other_exits.is_empty(), "round {round}: {other_exits:?}");
        assert_eq!(
            (still_running, refused),
            (1, STARTS - 1),
            "round {round}: exactly one session runs, every other start is refused"
        );
        let started = journal(dir.path())
            .iter()
            .filter(|e| e["kind"] == "session_started")
            .count();
        assert_eq!(
            started, 1,
            "round {round}: one session_started in the journal"
        );
    }
}

#[test]
fn a_lock_file_naming_a_live_unrelated_pid_does_not_block_a_start() {
    let dir = tempfile::tempdir().unwrap();
    // PID 1 is alive and is never a session (the PID-reuse case after a crash).
    std::fs::write(dir.path().join("session.lock"), "1\n").unwrap();
    let args = sim_run_args(dir.path(), "600", "3s", &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let events = journal(dir.path());
    let started = events
        .iter()
        .find(|e| e["kind"] == "session_started")
        .expect("session_started");
    assert_eq!(started["detail"], "took_over_stale_lock_of_pid_1");
    assert!(!dir.path().join("session.lock").exists(), "lock released");
}

#[test]
fn status_and_stop_call_a_lock_nobody_holds_stale_and_leave_no_stop_request() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().to_str().unwrap();
    std::fs::write(dir.path().join("session.lock"), "1\n").unwrap();
    let status = run(&["status", "--json", "--workspace", ws]);
    let value: serde_json::Value = serde_json::from_slice(&status.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", output_text(&status)));
    assert_eq!(value["running"], false);
    assert_eq!(value["stale_lock"], true);
    assert_eq!(
        status.status.code(),
        Some(3),
        "status exits 3 on a stale lock"
    );
    assert_eq!(value["pid"], 1);

    let stop = run(&["stop", "--workspace", ws]);
    assert_eq!(stop.status.code(), Some(0), "{}", output_text(&stop));
    assert!(
        String::from_utf8_lossy(&stop.stdout).contains("no session is running"),
        "{}",
        output_text(&stop)
    );
    assert!(
        !dir.path().join("stop.request").exists(),
        "stop left a request behind for a later session"
    );

    // A stop request left from before a session starts is never obeyed by it.
    std::fs::write(dir.path().join("stop.request"), "stop\n").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let args = sim_run_args(dir.path(), "600", "3s", &[]);
    let mut child = command()
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(0));
    let summary = crate::workspace::summary(dir.path());
    assert_eq!(
        summary["stopped_reason"], "duration_reached",
        "a stale stop request stopped the session"
    );
    wait_for("no stop request", Duration::from_secs(1), || {
        !dir.path().join("stop.request").exists()
    });
}
