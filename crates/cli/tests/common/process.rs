//! Driving the real binary as a process: waits that poll with a deadline (nothing sleeps its
//! way to green), real signals, and exit waits. Included by the integration tests that spawn
//! `laptop-agents` (`#[path]` module).

use std::{
    process::{Child, Command},
    time::{Duration, Instant},
};

/// Polls `condition` every 50 ms until it holds or `deadline` passes.
pub(crate) fn wait_for(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for `child` to exit within `deadline` (kills it and fails otherwise).
pub(crate) fn wait_exit(child: &mut Child, deadline: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
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
