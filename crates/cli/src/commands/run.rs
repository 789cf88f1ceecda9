//! `laptop-agents run`: the live session.

use std::{
    future::Future,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use la_session::{SessionError, SessionHooks, StopReason, error_chain};
use tokio::signal::unix::{SignalKind, signal};

use crate::{Failure, args::RunArgs, console, settings};

/// The exit code of a start refused because the saved account cannot be trusted.
pub(crate) const STATE_REFUSED_EXIT_CODE: u8 = 5;

pub(crate) fn run(args: &RunArgs) -> Result<ExitCode, Failure> {
    let config = settings::load_run_config(args)?;
    console::install_logging(
        &config.workspace.join("logs").join("system.jsonl"),
        config.symbol.as_str(),
        config.logs.system,
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    let hurry = Arc::new(AtomicBool::new(false));
    let outcome = runtime.block_on(async {
        let stop = stop_signals(Arc::clone(&hurry))
            .map_err(|e| Failure::runtime(format!("cannot install signal handlers: {e}")))?;
        let hooks = SessionHooks {
            on_status: Some(console::status_printer()),
            hurry,
            reset_account: args.reset_account,
        };
        Ok::<_, Failure>(la_session::run(config, stop, hooks).await)
    })?;
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match outcome {
        Ok(report) => {
            console::print_summary(&report);
            crate::commands::report::render_after_run(std::path::Path::new(&report.run_dir));
            let clean = report.stopped_reason.is_some_and(StopReason::is_clean);
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Err(SessionError::AlreadyRunning { pid, path }) => Err(Failure {
            report: miette::miette!(
                help = "stop it with `laptop-agents stop`, or use another --workspace",
                "another session (pid {pid}) is already running in this workspace ({})",
                path.display()
            ),
            code: 3,
        }),
        Err(SessionError::StateRefused { path, reason }) => Err(Failure {
            report: miette::miette!(
                help = "restore a good copy of the file, or start over deliberately with \
                        `laptop-agents run --reset-account` (the old files are moved to \
                        paper/reset-<time>/, never deleted)",
                "refusing to start: the saved account in {} cannot be trusted: {reason}",
                path.display()
            ),
            code: STATE_REFUSED_EXIT_CODE,
        }),
        Err(err @ SessionError::AccountAheadOfData { .. }) => Err(Failure::config(
            err.to_string(),
            "to trade this data again on a fresh account, start over with `laptop-agents run \
             --reset-account` (the old files are moved to paper/reset-<time>/) or use \
             another --workspace",
        )),
        Err(err @ SessionError::Config { .. }) => Err(Failure::config(
            err.to_string(),
            "see `laptop-agents run --help`",
        )),
        Err(err) => {
            tracing::error!(
                target: console::REPORTED,
                error = &err as &dyn std::error::Error,
                "session failed to start"
            );
            Err(Failure::runtime(format!(
                "session failed: {}",
                error_chain(&err)
            )))
        }
    }
}

/// Resolves on the first SIGINT, SIGTERM or SIGHUP (a closed terminal or SSH session must not
/// kill the session before it saves); later SIGINTs set `hurry` (shorter shutdown waits; state
/// is still saved). Every handler stays installed for the process's life, so a second SIGHUP
/// or SIGTERM during the shutdown is ignored rather than fatal.
fn stop_signals(hurry: Arc<AtomicBool>) -> std::io::Result<impl Future<Output = StopReason>> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    Ok(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
            _ = hangup.recv() => "SIGHUP",
        };
        tracing::warn!(
            signal = name,
            "signal received; shutting down (press Ctrl-C again to shorten waits)"
        );
        tokio::spawn(async move {
            while interrupt.recv().await.is_some() {
                hurry.store(true, Ordering::Relaxed);
            }
        });
        StopReason::Signal
    })
}
