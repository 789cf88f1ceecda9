//! `laptop-agents doctor` as a user runs it: against the simulator (everything passes, the
//! exchange is reachable and its clock is compared) and against a closed loopback port
//! (reported as unreachable, quickly, with exit code 1).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::TcpListener,
    path::Path,
    process::{Command, Output},
    time::{Duration, Instant},
};

use la_bitunix_sim::SimConfig;

const BIN: &str = env!("CARGO_BIN_EXE_laptop-agents");

/// Runs `doctor` with no `LA_*` variables from the caller's environment.
fn doctor(rest_url: &str, workspace: &Path, extra: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("LA_") {
            command.env_remove(key);
        }
    }
    command
        .args(["doctor", "--rest-url", rest_url])
        .arg("--workspace")
        .arg(workspace)
        .args(extra)
        .output()
        .expect("binary runs")
}

#[test]
fn doctor_passes_against_the_simulator() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(la_bitunix_sim::start(SimConfig::default()))
        .unwrap();
    let workspace = tempfile::tempdir().unwrap();

    let output = doctor(&sim.rest_url(), workspace.path(), &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "stdout:\n{stdout}");
    assert!(stdout.contains("reachable"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("PASS") && l.contains("exchange reachable")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("PASS") && l.contains("exchange clock")),
        "the simulator's Date header is compared: {stdout}"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");

    let output = doctor(&sim.rest_url(), workspace.path(), &["--json"]);
    assert_eq!(output.status.code(), Some(0));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["ok"], true);
    let checks = value["checks"].as_array().unwrap();
    let names: Vec<&str> = checks
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    for name in [
        "config valid",
        "workspace writable",
        "stale lock",
        "clock sane",
        "exchange reachable",
        "exchange clock",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(checks.iter().all(|c| c["status"] == "PASS"), "{value}");
    drop(sim);
}

#[test]
fn doctor_reports_a_closed_port_as_unreachable_quickly() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let workspace = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = doctor(&format!("http://127.0.0.1:{port}"), workspace.path(), &[]);
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("FAIL") && l.contains("offline / unreachable")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("WARN") && l.contains("exchange clock")),
        "{stdout}"
    );
}

#[test]
fn doctor_warns_about_a_stale_lock_and_fails_on_a_bad_config() {
    let workspace = tempfile::tempdir().unwrap();
    // pid_max on Linux is at most 2^22, so this pid is never alive.
    std::fs::write(workspace.path().join("session.lock"), "4194305\n").unwrap();
    let config = workspace.path().join("bad.toml");
    std::fs::write(&config, "strategy = \"moon\"\nno_such_key = 1\n").unwrap();
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let output = doctor(
        &format!("http://127.0.0.1:{port}"),
        workspace.path(),
        &["--config", config.to_str().unwrap(), "--json"],
    );
    assert_eq!(output.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let check = |name: &str| {
        value["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(check("stale lock")["status"], "WARN");
    assert!(
        check("stale lock")["detail"]
            .as_str()
            .unwrap()
            .contains("pid 4194305")
    );
    assert_eq!(check("config valid")["status"], "FAIL");
    assert!(
        check("config valid")["detail"]
            .as_str()
            .unwrap()
            .contains("no_such_key"),
        "{value}"
    );
    assert_eq!(check("workspace writable")["status"], "PASS");
}

#[test]
fn doctor_gives_up_on_a_silent_exchange_after_five_seconds() {
    // The kernel completes the handshake (backlog) but nothing ever answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let workspace = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = doctor(&format!("http://127.0.0.1:{port}"), workspace.path(), &[]);
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("FAIL")
            && l.contains("offline / unreachable")
            && l.contains("within 5 s")),
        "{stdout}"
    );
    drop(listener);
}
