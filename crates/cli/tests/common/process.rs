//! Driving the real binary as a process: the binary under test, starting it, waits that poll
//! with a deadline (nothing sleeps its way to green), real signals, and exit waits. Included
//! by the integration tests that spawn `laptop-agents` (`#[path]` module).
//!
//! The binary is `LA_TEST_BINARY` when set (so `cargo xtask ci` runs the same tests against
//! the release build) and this package's debug binary otherwise.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Output},
    time::{Duration, Instant},
};

/// The binary under test.
pub(crate) fn binary() -> PathBuf {
    std::env::var_os("LA_TEST_BINARY").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_laptop-agents")),
        PathBuf::from,
    )
}

/// A command for the binary under test. `LA_TEST_BINARY` is the harness's, not a setting: the
/// binary reads every `LA_*` variable as configuration and would refuse it as an unknown key.
pub(crate) fn command() -> Command {
    let mut command = Command::new(binary());
    command.env_remove("LA_TEST_BINARY");
    command
}

/// Runs the binary to completion.
pub(crate) fn run(args: &[&str]) -> Output {
    command().args(args).output().expect("binary runs")
}

/// `run --source sim` on `workspace` at `speed` for `duration`, without the clock-skew check
/// (the simulator's clock is virtual), plus `extra` arguments.
pub(crate) fn sim_run_args(
    workspace: &Path,
    speed: &str,
    duration: &str,
    extra: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = [
        "run",
        "--source",
        "sim",
        "--speed",
        speed,
        "--duration",
        duration,
        "--max-clock-skew",
        "off",
        "--workspace",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.push(workspace.to_str().expect("utf-8 path").to_owned());
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

/// Polls `probe` every 50 ms until it returns `Some`, or fails after `deadline`.
pub(crate) fn poll<T>(what: &str, deadline: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `condition` every 50 ms until it holds or `deadline` passes.
pub(crate) fn wait_for(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    poll(what, deadline, || condition().then_some(()));
}

/// Waits for `child` to exit within `deadline` (kills it and fails otherwise).
pub(crate) fn wait_exit(child: &mut Child, deadline: Duration) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process did not exit within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends the signal `name` (`TERM`, `STOP`, `CONT`, ...) to `child` with `kill`.
pub(crate) fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name}");
}

/// Both streams of an output, for assertion messages.
pub(crate) fn output_text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
