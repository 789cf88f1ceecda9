//! `laptop-agents status` and `laptop-agents stop`: read the lock and heartbeat files of a
//! workspace; ask a running session to stop through its stop-request file.
//!
//! `status` exits with a code a health check can use: 0 running and fresh, 1 not running,
//! 3 stale lock (its owner died without cleaning up), 4 running but stale, halted, or with a
//! heartbeat older than [`HEARTBEAT_MAX_AGE_MS`] (hung).

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use la_session::{
    status::{Heartbeat, read_heartbeat},
    time_fmt::wall_now_ms,
    workspace::{SessionLock, Workspace, process_alive},
};
use serde_json::json;

use crate::{
    Failure,
    args::{StatusArgs, StopArgs},
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
    /// A lock file names a dead process.
    StaleLock,
    /// Running, but not fresh and able to trade (the reason says why).
    Unhealthy(String),
}

impl Verdict {
    /// Decides from the lock owner's liveness and the heartbeat (`now_ms`: wall clock).
    pub(crate) fn assess(
        lock_pid: Option<u32>,
        running: bool,
        beat: Option<&Heartbeat>,
        now_ms: i64,
    ) -> Self {
        match (lock_pid, running) {
            (None, _) => return Self::NotRunning,
            (Some(_), false) => return Self::StaleLock,
            (Some(_), true) => {}
        }
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
    let pid = SessionLock::read_owner(&workspace.lock_file());
    let running = pid.is_some_and(process_alive);
    let beat = read_heartbeat(&workspace.heartbeat()).ok();
    let now_ms = wall_now_ms();
    let heartbeat_age_ms = beat.as_ref().map(|b| now_ms - b.updated_at_ms);
    let verdict = Verdict::assess(pid, running, beat.as_ref(), now_ms);
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
                let note = if pid.is_some() {
                    " (stale lock: the owner is dead)"
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
    let Some(pid) =
        SessionLock::read_owner(&workspace.lock_file()).filter(|pid| process_alive(*pid))
    else {
        outln!("no session is running in {}", workspace.root().display());
        return Ok(ExitCode::SUCCESS);
    };
    let request = workspace.stop_request_file();
    std::fs::write(&request, b"stop requested by `laptop-agents stop`\n")
        .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", request.display())))?;
    outln!(
        "asked session pid {pid} to stop; waiting up to {}s",
        args.wait
    );
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(args.wait) {
        if !process_alive(pid) {
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
        assert_eq!(
            Verdict::assess(Some(7), true, Some(&ok), now).exit_code(),
            0
        );
        assert_eq!(Verdict::assess(None, false, Some(&ok), now).exit_code(), 1);
        assert_eq!(
            Verdict::assess(Some(7), false, Some(&ok), now).exit_code(),
            3
        );
        let stale = beat(
            7,
            now - 500,
            Some(la_ops::Health::Stale {
                data_age_ms: 20_000,
            }),
        );
        assert_eq!(
            Verdict::assess(Some(7), true, Some(&stale), now).exit_code(),
            4
        );
        let hung = beat(7, now - HEARTBEAT_MAX_AGE_MS - 1, Some(la_ops::Health::Ok));
        assert_eq!(
            Verdict::assess(Some(7), true, Some(&hung), now).exit_code(),
            4
        );
        let previous_run = beat(6, now - 500, Some(la_ops::Health::Ok));
        assert_eq!(
            Verdict::assess(Some(7), true, Some(&previous_run), now).exit_code(),
            4,
            "a heartbeat of another pid says nothing about the running session"
        );
    }
}
