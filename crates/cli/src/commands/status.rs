//! `laptop-agents status` and `laptop-agents stop`: read the lock and heartbeat files of a
//! workspace; ask a running session to stop through its kill file.

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use la_session::{
    status::read_heartbeat,
    time_fmt::wall_now_ms,
    workspace::{SessionLock, Workspace, process_alive},
};
use serde_json::json;

use crate::{
    Failure,
    args::{StatusArgs, StopArgs},
};

pub(crate) fn status(args: &StatusArgs) -> Result<ExitCode, Failure> {
    let workspace = Workspace::new(args.workspace.resolve());
    let pid = SessionLock::read_owner(&workspace.lock_file());
    let running = pid.is_some_and(process_alive);
    let beat = read_heartbeat(&workspace.heartbeat()).ok();
    let heartbeat_age_ms = beat.as_ref().map(|b| wall_now_ms() - b.updated_at_ms);
    if args.json {
        let value = json!({
            "running": running,
            "pid": pid,
            "stale_lock": pid.is_some() && !running,
            "heartbeat_age_ms": heartbeat_age_ms,
            "heartbeat": beat,
        });
        println!("{value}");
    } else {
        match (&beat, running) {
            (Some(beat), true) => {
                println!(
                    "running   pid {} ({}), up {}s",
                    beat.pid, beat.run_id, beat.uptime_s
                );
                println!("  {}", beat.status_line());
                let candle_age = beat
                    .last_candle_open_ms
                    .map(|ms| (wall_now_ms() - ms) / 1000);
                println!(
                    "  last candle open {}s ago, last data {} ms ago, errors {}, last error {}",
                    candle_age.map_or("-".into(), |s| s.to_string()),
                    beat.last_data_age_ms,
                    beat.errors,
                    beat.last_error.as_deref().unwrap_or("none")
                );
            }
            (_, true) => println!(
                "running   pid {} (no heartbeat yet)",
                pid.unwrap_or_default()
            ),
            (Some(beat), false) => {
                let note = if pid.is_some() {
                    " (stale lock: the owner is dead)"
                } else {
                    ""
                };
                println!(
                    "not running{note}; last run {} stopped: {}",
                    beat.run_id,
                    beat.stopping.as_deref().unwrap_or("unknown (crashed?)")
                );
                println!("  {}", beat.status_line());
            }
            (None, false) => println!(
                "not running; no session has run in {}",
                workspace.root().display()
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn stop(args: &StopArgs) -> Result<ExitCode, Failure> {
    let workspace = Workspace::new(args.workspace.resolve());
    let Some(pid) =
        SessionLock::read_owner(&workspace.lock_file()).filter(|pid| process_alive(*pid))
    else {
        println!("no session is running in {}", workspace.root().display());
        return Ok(ExitCode::SUCCESS);
    };
    let request = workspace.stop_request_file();
    std::fs::write(&request, b"stop requested by `laptop-agents stop`\n")
        .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", request.display())))?;
    println!(
        "asked session pid {pid} to stop; waiting up to {}s",
        args.wait
    );
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(args.wait) {
        if !process_alive(pid) {
            let reason = read_heartbeat(&workspace.heartbeat())
                .ok()
                .and_then(|b| b.stopping);
            println!(
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
