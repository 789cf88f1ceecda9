//! The binary as an operator and a service manager see it: console output, `status` exit
//! codes, the global `--workspace`, shell completions. Waits poll with a deadline; nothing
//! sleeps its way to green.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

#[path = "common/process.rs"]
mod process;
#[path = "common/workspace.rs"]
mod workspace;

use process::{command, poll};

fn laptop_agents(args: &[&str]) -> Output {
    command()
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("binary runs")
}

/// A session on the simulator at `speed`, with `extra` flags; output discarded.
fn spawn_session(workspace: &Path, speed: &str, extra: &[&str]) -> Child {
    command()
        .args(process::sim_run_args(
            workspace,
            speed,
            "5m",
            &["--http", "127.0.0.1:0"],
        ))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts")
}

fn status_code(workspace: &Path) -> i32 {
    laptop_agents(&["status", "--workspace", workspace.to_str().unwrap()])
        .status
        .code()
        .unwrap_or(-1)
}

#[test]
fn a_start_failure_is_printed_once_and_without_colour_codes_on_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let out = laptop_agents(&[
        "run",
        "--source",
        "sim",
        "--data",
        "/nonexistent/candles.csv",
        "--workspace",
        dir.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI codes on a pipe: {stderr:?}"
    );
    assert_eq!(
        stderr.matches("candles.csv").count(),
        1,
        "the error must be printed exactly once: {stderr}"
    );
    let log = std::fs::read_to_string(dir.path().join("logs/system.jsonl")).unwrap();
    assert!(
        log.contains("session failed to start"),
        "the failure is still in the JSON log"
    );
}

#[test]
fn log_lines_on_a_piped_stderr_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let out = command()
        .args(["run", "--source", "sim", "--duration", "1m", "--workspace"])
        .arg(dir.path())
        .env("LA_KILL_SWITCH", "1")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("kill switch engaged"),
        "the warning reaches stderr: {stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI codes on a pipe: {stderr:?}"
    );
}

#[test]
fn workspace_is_accepted_before_and_after_the_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().to_str().unwrap();
    for args in [
        ["--workspace", ws, "status", "--json"],
        ["status", "--json", "--workspace", ws],
    ] {
        let out = laptop_agents(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(value["verdict"], "not_running", "{args:?}");
    }
}

#[test]
fn completions_are_generated_for_each_supported_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = laptop_agents(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("laptop-agents") && script.contains("backtest"),
            "{shell}: {script:.200}"
        );
    }
    assert_eq!(
        laptop_agents(&["completions", "cmd"]).status.code(),
        Some(2)
    );
}

#[test]
fn status_reports_a_stale_lock_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    // The pid of a process that has exited (and been reaped) is dead.
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    std::fs::write(dir.path().join("session.lock"), format!("{pid}\n")).unwrap();
    assert_eq!(status_code(dir.path()), 3);
}

#[test]
fn status_exits_0_while_fresh_then_4_when_data_goes_stale_then_1_after_exit() {
    let dir = tempfile::tempdir().unwrap();
    // 60x: two real seconds of data, then a silence the stale-data ladder sees after 2 s
    // (a quarter of the 8 s stale timeout); the session stops with stale data at 8 s.
    let mut child = spawn_session(
        dir.path(),
        "60",
        &["--fault", "120s@silence:600s", "--stale-timeout", "8s"],
    );
    poll("status 0 (running, fresh)", Duration::from_secs(30), || {
        (status_code(dir.path()) == 0).then_some(())
    });
    poll("status 4 (running, stale)", Duration::from_secs(30), || {
        (status_code(dir.path()) == 4).then_some(())
    });
    let exit = poll("the session to stop", Duration::from_secs(30), || {
        child.try_wait().unwrap()
    });
    assert_eq!(exit.code(), Some(1), "a stale-data stop is a risk halt");
    assert_eq!(status_code(dir.path()), 1);
}

#[test]
fn clean_deletes_only_old_run_directories_never_the_running_session_latest_or_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let runs = ws.join("runs");
    let mut session = spawn_session(ws, "10", &[]);
    let current: String = poll("the session's heartbeat", Duration::from_secs(30), || {
        let text = std::fs::read_to_string(ws.join("heartbeat.json")).ok()?;
        let beat: serde_json::Value = serde_json::from_str(&text).ok()?;
        beat["run_id"].as_str().map(str::to_owned)
    });
    assert!(runs.join(&current).is_dir());
    // Runs stamped in the future, so the running session's own run is the oldest, and a
    // `latest` re-pointed away from it: each protection is tested on its own.
    let future = |n: u32| format!("20990101T00000{n}Z-{n}");
    for n in 1..=3 {
        std::fs::create_dir_all(runs.join(future(n))).unwrap();
        std::fs::write(runs.join(future(n)).join("summary.json"), "{}").unwrap();
    }
    std::fs::remove_file(runs.join("latest")).unwrap();
    std::os::unix::fs::symlink(future(1), runs.join("latest")).unwrap();
    // A link named like the oldest run, into a directory outside the workspace.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("precious.txt"), "keep me").unwrap();
    std::os::unix::fs::symlink(outside.path(), runs.join("20000101T000000Z-7")).unwrap();
    std::fs::create_dir_all(runs.join("not-a-run")).unwrap();

    let out = laptop_agents(&["clean", "--keep", "1", "--workspace", ws.to_str().unwrap()]);
    let text = process::output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("deleted runs/{}", future(2))),
        "{text}"
    );
    assert!(!runs.join(future(2)).exists(), "the old run is deleted");
    assert!(runs.join(future(3)).is_dir(), "the newest run is kept");
    assert!(
        runs.join(future(1)).is_dir(),
        "the run `latest` points at is kept"
    );
    assert!(
        runs.join(&current).is_dir(),
        "the running session's run is kept"
    );
    assert!(runs.join("not-a-run").is_dir());
    assert!(
        std::fs::symlink_metadata(runs.join("20000101T000000Z-7"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(outside.path().join("precious.txt")).unwrap(),
        "keep me"
    );
    process::signal(&session, "TERM");
    let exit = process::wait_exit(&mut session, Duration::from_secs(30));
    assert_eq!(exit.code(), Some(0));
    assert!(
        runs.join(&current).join("summary.json").is_file(),
        "the session finished its run in the directory clean left alone"
    );
}

/// Datagrams a `Type=notify` service manager would receive, with when they arrived.
fn notifications_until_stopping(socket: &std::os::unix::net::UnixDatagram) -> Vec<String> {
    let mut messages = Vec::new();
    let mut buf = [0_u8; 4096];
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(n) = socket.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let stopping = text.lines().any(|l| l == "STOPPING=1");
            messages.push(text);
            if stopping {
                break;
            }
        }
    }
    messages
}

#[test]
fn the_service_manager_hears_ready_then_watchdog_pings_only_while_data_is_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // 60x: five real seconds of data, then a silence the stale ladder sees after 2 s (a
    // quarter of the 8 s stale timeout); the session stops with stale data at 8 s. A shell
    // sets WATCHDOG_PID to its own pid and execs the binary, which keeps it, as systemd does.
    let args = process::sim_run_args(
        &dir.path().join("ws"),
        "60",
        "5m",
        &[
            "--http",
            "off",
            "--fault",
            "300s@silence:600s",
            "--stale-timeout",
            "8s",
        ],
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("WATCHDOG_PID=$$ exec \"$0\" \"$@\"")
        .arg(process::binary())
        .args(&args)
        .env_remove("LA_TEST_BINARY")
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "1000000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let messages = notifications_until_stopping(&socket);
    let exit = process::wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(exit.code(), Some(1), "a stale-data stop: {messages:?}");
    let position = |needle: &str| messages.iter().position(|m| m.lines().any(|l| l == needle));
    let ready = position("READY=1").unwrap_or_else(|| panic!("no READY=1: {messages:?}"));
    let stale =
        position("STATUS=health: stale").unwrap_or_else(|| panic!("no stale status: {messages:?}"));
    let stopping = position("STOPPING=1").unwrap_or_else(|| panic!("no STOPPING=1: {messages:?}"));
    // Every ping comes while the newest status said the data was fresh (the verdict can turn
    // ok again when data returns over REST during the silence, and pings then resume).
    let (mut status, mut pings) = ("", 0);
    for (i, message) in messages.iter().enumerate() {
        for line in message.lines() {
            if let Some(verdict) = line.strip_prefix("STATUS=health: ") {
                status = verdict;
            }
        }
        if message.lines().any(|l| l == "WATCHDOG=1") {
            pings += 1;
            assert!(
                status != "stale" && status != "starting" && i >= ready,
                "a ping while the verdict was {status:?}: {messages:?}"
            );
        }
    }
    assert!(pings >= 3, "the watchdog was fed while fresh: {messages:?}");
    assert!(ready < stale && stale < stopping, "{messages:?}");
    assert_eq!(stopping, messages.len() - 1, "{messages:?}");
}

#[test]
fn a_session_stopped_longer_than_its_stale_timeout_catches_up_instead_of_stopping_stale() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    // 60x: the stale timeout is 5 s of wall time; the process is stopped for 8 s (eight
    // virtual minutes pass meanwhile) — the laptop lid closed longer than the timeout.
    let mut child = command()
        .args(process::sim_run_args(
            &ws,
            "60",
            "25s",
            &["--http", "off", "--stale-timeout", "5s"],
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    poll("the first candles", Duration::from_secs(30), || {
        (workspace::heartbeat_candles(&ws) >= 3).then_some(())
    });
    process::signal(&child, "STOP");
    std::thread::sleep(Duration::from_secs(8));
    process::signal(&child, "CONT");
    let exit = process::wait_exit(&mut child, Duration::from_secs(90));
    let summary = workspace::summary(&ws);
    assert_eq!(
        summary["stopped_reason"], "duration_reached",
        "exit {exit:?}: {summary:#}"
    );
    let downtime = summary["downtime"].as_array().cloned().unwrap_or_default();
    assert!(
        downtime
            .iter()
            .any(|d| d["cause"] == "suspend" && d["outcome"] == "caught_up"),
        "the stop is recorded as a suspend and caught up: {downtime:#?}"
    );
}
