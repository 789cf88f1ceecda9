//! `laptop-agents status` and `laptop-agents stop`: ask the kernel whether a session holds
//! the workspace lock (the PID inside the file is only shown, never trusted: after a crash it
//! may name an unrelated process), read the heartbeat, and ask a running session to stop
//! through `stop.request`. `clean` deletes old run directories, never the running
//! session's.
//!
//! `status` exits with a code a health check can use: 0 running and fresh, 1 not running,
//! 3 stale lock (a lock file no process holds: its owner died), 4 running but stale, halted, or with a
//! heartbeat older than [`HEARTBEAT_MAX_AGE_MS`] (hung).

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use la_session::{
    status::{Heartbeat, read_heartbeat},
    time_fmt::wall_now_ms,
    workspace::{LockState, SessionLock, Workspace},
};
use serde_json::json;

use crate::{
    Failure,
    args::{CleanArgs, StatusArgs, StopArgs},
    console::outln,
};

/// A running session rewrites its heartbeat every second; one older than this means the
/// process is alive but its loop is not turning.
pub(crate) const HEARTBEAT_MAX_AGE_MS: i64 = 10_000;

/// What `status` concludes, and its exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Running, heartbeat recent, data fresh, able to trade.
    Fresh,
    /// No session holds the lock.
    NotRunning,
    /// A lock file that no process holds.
    StaleLock,
    /// Running, but not fresh and able to trade (the reason says why).
    Unhealthy(String),
}

impl Verdict {
    /// Decides from the kernel's lock and the heartbeat (`now_ms`: wall clock).
    pub(crate) fn assess(lock: LockState, beat: Option<&Heartbeat>, now_ms: i64) -> Self {
        let lock_pid = match lock {
            LockState::Absent => return Self::NotRunning,
            LockState::Stale { .. } => return Self::StaleLock,
            LockState::Held { pid } => pid,
        };
        let Some(beat) = beat.filter(|b| Some(b.pid) == lock_pid) else {
            return Self::Unhealthy("no heartbeat from the running session yet".into());
        };
        let age = now_ms - beat.updated_at_ms;
        if age > HEARTBEAT_MAX_AGE_MS {
            return Self::Unhealthy(format!("heartbeat is {} s old (hung?)", age / 1000));
        }
        match &beat.health {
            Some(health) if health.is_ok() => Self::Fresh,
            Some(health) => Self::Unhealthy(
                serde_json::to_string(health).unwrap_or_else(|_| health.as_str().to_owned()),
            ),
            None => Self::Unhealthy("the session does not report its health".into()),
        }
    }

    /// The exit code documented in the README.
    pub(crate) const fn exit_code(&self) -> u8 {
        match self {
            Self::Fresh => 0,
            Self::NotRunning => 1,
            Self::StaleLock => 3,
            Self::Unhealthy(_) => 4,
        }
    }

    const fn label(&self) -> &'static str {
        match self {
            Self::Fresh => "fresh",
            Self::NotRunning => "not_running",
            Self::StaleLock => "stale_lock",
            Self::Unhealthy(_) => "unhealthy",
        }
    }
}

pub(crate) fn status(args: &StatusArgs) -> Result<ExitCode, Failure> {
    let workspace = Workspace::new(args.workspace.resolve());
    let lock = probe_lock(&workspace)?;
    let (running, pid) = match lock {
        LockState::Absent => (false, None),
        LockState::Stale { pid } => (false, pid),
        LockState::Held { pid } => (true, pid),
    };
    let beat = read_heartbeat(&workspace.heartbeat()).ok();
    let now_ms = wall_now_ms();
    let heartbeat_age_ms = beat.as_ref().map(|b| now_ms - b.updated_at_ms);
    let verdict = Verdict::assess(lock, beat.as_ref(), now_ms);
    if args.json {
        let value = json!({
            "running": running,
            "pid": pid,
            "stale_lock": verdict == Verdict::StaleLock,
            "verdict": verdict.label(),
            "reason": match &verdict { Verdict::Unhealthy(reason) => Some(reason), _ => None },
            "exit_code": verdict.exit_code(),
            "heartbeat_age_ms": heartbeat_age_ms,
            "heartbeat": beat,
        });
        outln!("{value}");
    } else {
        match (&beat, running) {
            (Some(beat), true) => {
                outln!(
                    "running   pid {} ({}), up {}s",
                    beat.pid,
                    beat.run_id,
                    beat.uptime_s
                );
                outln!("  {}", beat.status_line());
                let candle_age = beat
                    .last_candle_open_ms
                    .map(|ms| (wall_now_ms() - ms) / 1000);
                outln!(
                    "  last candle open {}s ago, last data {} ms ago, errors {}, last error {}",
                    candle_age.map_or("-".into(), |s| s.to_string()),
                    beat.last_data_age_ms,
                    beat.errors,
                    beat.last_error.as_deref().unwrap_or("none")
                );
            }
            (_, true) => outln!(
                "running   pid {} (no heartbeat yet)",
                pid.unwrap_or_default()
            ),
            (Some(beat), false) => {
                let note = if verdict == Verdict::StaleLock {
                    " (stale lock: no process holds it)"
                } else {
                    ""
                };
                outln!(
                    "not running{note}; last run {} stopped: {}",
                    beat.run_id,
                    beat.stopping.as_deref().unwrap_or("unknown (crashed?)")
                );
                outln!("  {}", beat.status_line());
            }
            (None, false) => outln!(
                "not running; no session has run in {}",
                workspace.root().display()
            ),
        }
        for line in beat.iter().flat_map(Heartbeat::downtime_lines) {
            outln!("  {line}");
        }
        if let Verdict::Unhealthy(reason) = &verdict {
            outln!("  not healthy: {reason}");
        }
    }
    Ok(ExitCode::from(verdict.exit_code()))
}

pub(crate) fn stop(args: &StopArgs) -> Result<ExitCode, Failure> {
    let workspace = Workspace::new(args.workspace.resolve());
    let request = workspace.stop_request_file();
    let Some(pid) = holder_pid(&workspace)? else {
        // Nobody would read a request now, and a later session must not obey it.
        let _ = std::fs::remove_file(&request);
        outln!("no session is running in {}", workspace.root().display());
        return Ok(ExitCode::SUCCESS);
    };
    workspace
        .write_stop_request(pid)
        .map_err(|e| Failure::runtime(la_session::error_chain(&e)))?;
    outln!(
        "asked session pid {pid} to stop; waiting up to {}s",
        args.wait
    );
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(args.wait) {
        if !matches!(probe_lock(&workspace)?, LockState::Held { pid: Some(p) } if p == pid) {
            // Gone: a request it did not read must not stop the next session.
            let _ = std::fs::remove_file(&request);
            let reason = read_heartbeat(&workspace.heartbeat())
                .ok()
                .and_then(|b| b.stopping);
            outln!(
                "stopped ({})",
                reason.as_deref().unwrap_or("reason unknown")
            );
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(Failure::runtime(format!(
        "session pid {pid} did not stop within {}s",
        args.wait
    )))
}

fn probe_lock(workspace: &Workspace) -> Result<LockState, Failure> {
    SessionLock::probe(&workspace.lock_file()).map_err(|e| {
        Failure::runtime(format!(
            "cannot check the lock {}: {e}",
            workspace.lock_file().display()
        ))
    })
}

/// The PID of the session holding the lock, or `None` when none does. A session writes its
/// PID just after locking; this waits that instant out.
fn holder_pid(workspace: &Workspace) -> Result<Option<u32>, Failure> {
    let started = Instant::now();
    loop {
        match probe_lock(workspace)? {
            LockState::Held { pid: Some(pid) } => return Ok(Some(pid)),
            LockState::Held { pid: None } if started.elapsed() < Duration::from_secs(2) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            LockState::Held { pid: None } => {
                return Err(Failure::runtime(format!(
                    "a session holds {} but wrote no PID into it",
                    workspace.lock_file().display()
                )));
            }
            LockState::Absent | LockState::Stale { .. } => return Ok(None),
        }
    }
}

/// `laptop-agents clean --keep N`: deletes the oldest run directories beyond N. The run of a
/// live session (named by its heartbeat while it holds the lock) and the run `latest` points
/// at are kept whatever their age; only real directories named like a run are deleted.
pub(crate) fn clean(args: &CleanArgs) -> Result<ExitCode, Failure> {
    let workspace = Workspace::new(args.workspace.resolve());
    let lock = probe_lock(&workspace)?;
    let current = lock
        .is_held()
        .then(|| read_heartbeat(&workspace.heartbeat()).ok())
        .flatten()
        .map(|beat| beat.run_id);
    let protected: Vec<&str> = current.iter().map(String::as_str).collect();
    let outcome = workspace
        .prune_runs(args.keep as usize, &protected)
        .map_err(|e| Failure::runtime(la_session::error_chain(&e)))?;
    for name in &outcome.removed {
        outln!("deleted runs/{name}");
    }
    for (name, reason) in &outcome.failed {
        crate::console::errln!("cannot delete runs/{name}: {reason}");
    }
    outln!(
        "{} run directories deleted, {} kept",
        outcome.removed.len(),
        outcome.kept
    );
    Ok(if outcome.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(pid: u32, updated_at_ms: i64, health: Option<la_ops::Health>) -> Heartbeat {
        let mut beat: Heartbeat = serde_json::from_value(json!({
            "pid": pid, "run_id": "r", "source": "sim", "symbol": "BTCUSDT", "interval": "1m",
            "started_at": "", "updated_at": "", "updated_at_ms": updated_at_ms, "uptime_s": 1,
            "time_left_s": null, "last_price": null, "equity": "1", "mark_equity": "1",
            "pnl": "0", "position": null, "candles_closed": 0, "last_candle_open_ms": null,
            "last_data_age_ms": 0, "reconnects": 0, "trades": 0, "errors": 0,
            "last_error": null, "rss_bytes": null, "stopping": null
        }))
        .unwrap_or_else(|e| panic!("heartbeat fixture: {e}"));
        beat.health = health;
        beat
    }

    #[test]
    fn exit_codes_follow_lock_liveness_heartbeat_age_and_health() {
        let now = 1_000_000;
        let ok = beat(7, now - 500, Some(la_ops::Health::Ok));
        let held = LockState::Held { pid: Some(7) };
        assert_eq!(Verdict::assess(held, Some(&ok), now).exit_code(), 0);
        assert_eq!(
            Verdict::assess(LockState::Absent, Some(&ok), now).exit_code(),
            1
        );
        assert_eq!(
            Verdict::assess(LockState::Stale { pid: Some(7) }, Some(&ok), now).exit_code(),
            3
        );
        let stale = beat(
            7,
            now - 500,
            Some(la_ops::Health::Stale {
                data_age_ms: 20_000,
            }),
        );
        assert_eq!(Verdict::assess(held, Some(&stale), now).exit_code(), 4);
        let hung = beat(7, now - HEARTBEAT_MAX_AGE_MS - 1, Some(la_ops::Health::Ok));
        assert_eq!(Verdict::assess(held, Some(&hung), now).exit_code(), 4);
        let previous_run = beat(6, now - 500, Some(la_ops::Health::Ok));
        assert_eq!(
            Verdict::assess(held, Some(&previous_run), now).exit_code(),
            4,
            "a heartbeat of another pid says nothing about the running session"
        );
    }
}
