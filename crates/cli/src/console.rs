//! Console and log output: the JSON log file, warnings on stderr, the live status line and
//! the end-of-run summary table.
//!
//! Colour only reaches a terminal: ANSI codes are left out when stderr is not a terminal
//! (a pipe, a file, journald) or `NO_COLOR` is set. A failure is printed once, by `main`
//! through miette; the event logged for the same failure goes to the JSON log only (target
//! [`REPORTED`]).
//!
//! Nothing here panics on a closed stream: every line reaches stdout or stderr through
//! [`outln!`] / [`errln!`] (or the stderr log layer, whose own write errors are silenced), which
//! drop the text when the reader has gone away. `laptop-agents run … | head -1` closes the
//! pipe after one line, and the session must still save its state and write its report.

use std::{
    io::{IsTerminal, Write},
    path::Path,
    time::{Duration, Instant},
};

use la_session::{RunSummary, logging::JsonLogLayer, rotation::RotationPolicy, status::Heartbeat};
use tracing_subscriber::{
    EnvFilter, Layer, filter::filter_fn, layer::SubscriberExt, util::SubscriberInitExt,
};

use crate::Failure;

/// The `tracing` target of events whose failure `main` prints itself: they are written to
/// `logs/system.jsonl` but not echoed on stderr, so each error appears once on the console.
pub(crate) const REPORTED: &str = "laptop_agents::reported";

/// Writes to stdout, dropping the text when it cannot be written (a closed pipe, a full
/// disk behind a redirection): the console is a courtesy, the run's files are its record.
pub(crate) fn write_stdout(text: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(text).and_then(|()| out.flush());
}

/// [`write_stdout`] for stderr.
pub(crate) fn write_stderr(text: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(text);
}

/// `println!` that never panics: see [`write_stdout`].
macro_rules! outln {
    () => {
        $crate::console::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::console::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;

/// `eprintln!` that never panics: see [`write_stderr`].
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::console::write_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use errln;

/// Whether stderr may carry ANSI colour: a terminal, and `NO_COLOR` unset or empty
/// (<https://no-color.org>).
pub(crate) fn stderr_colour() -> bool {
    colour_allowed(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

fn colour_allowed(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(std::ffi::OsStr::is_empty)
}

/// Makes miette's error reports follow the same colour rule as the log lines.
pub(crate) fn install_error_style() {
    let colour = stderr_colour();
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(miette::MietteHandlerOpts::new().color(colour).build())
    }));
}

/// Installs `tracing`: every event at `info` and above (or `LA_LOG`) as JSON lines to
/// `log_path`, and warnings and errors in human form on stderr.
pub(crate) fn install_logging(
    log_path: &Path,
    symbol: &str,
    rotation: RotationPolicy,
) -> Result<(), Failure> {
    install_logging_with(log_path, symbol, rotation, "warn")
}

/// [`install_logging`] with a chosen stderr level (backtests only show errors).
pub(crate) fn install_logging_with(
    log_path: &Path,
    symbol: &str,
    rotation: RotationPolicy,
    stderr_level: &str,
) -> Result<(), Failure> {
    if let Some(dir) = log_path.parent() {
        la_private_fs::create_private_dir_all(dir).map_err(|e| {
            Failure::runtime(format!(
                "cannot create log directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let json = JsonLogLayer::open_rotating(
        log_path,
        symbol,
        Some(rotation),
        std::sync::Arc::new(la_feed_bitunix::SystemClock),
    )
    .map_err(|e| Failure::runtime(format!("cannot open log file {}: {e}", log_path.display())))?;
    let filter = EnvFilter::try_from_env("LA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(stderr_colour())
        // A failed write would otherwise be reported with `eprintln!`, which panics when
        // stderr is a closed pipe.
        .log_internal_errors(false)
        .compact()
        .with_filter(EnvFilter::new(stderr_level))
        .with_filter(filter_fn(|meta| meta.target() != REPORTED));
    tracing_subscriber::registry()
        .with(json.with_filter(filter))
        .with(stderr)
        .try_init()
        .map_err(|e| Failure::runtime(format!("cannot install logging: {e}")))
}

/// The per-second status callback: a rewritten line on a terminal, a plain line every
/// 10 seconds otherwise (logs and pipes).
pub(crate) fn status_printer() -> Box<dyn FnMut(&Heartbeat) + Send> {
    let tty = std::io::stdout().is_terminal();
    let mut last_plain: Option<Instant> = None;
    Box::new(move |beat: &Heartbeat| {
        let line = beat.status_line();
        if tty {
            write_stdout(format_args!("\r{line}\x1b[K"));
        } else if last_plain.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
            last_plain = Some(Instant::now());
            outln!("{line}");
        }
    })
}

/// Prints the end-of-run summary table.
pub(crate) fn print_summary(report: &RunSummary) {
    let results = &report.results;
    let rows = [
        (
            "stopped",
            report
                .stopped_reason
                .map_or_else(|| "end of data".to_owned(), |r| r.as_str().to_owned()),
        ),
        ("duration", format!("{:.1}s", report.duration_s)),
        ("source", report.source.clone()),
        ("symbol", format!("{} {}", report.symbol, report.interval)),
        ("strategy", report.strategy.clone()),
        ("candles closed", report.candles_closed.to_string()),
        (
            "trades",
            format!(
                "{} ({} won, {} lost)",
                results.trades, results.wins, results.losses
            ),
        ),
        (
            "starting equity",
            results.starting_equity.round_dp(2).to_string(),
        ),
        (
            "ending equity",
            results.ending_equity.round_dp(2).to_string(),
        ),
        ("net pnl", results.net_pnl.round_dp(2).to_string()),
        ("trade pnl", results.trade_pnl.round_dp(2).to_string()),
        ("fees", results.fees.round_dp(2).to_string()),
        ("funding", results.funding.round_dp(4).to_string()),
        ("max drawdown", results.max_drawdown.round_dp(2).to_string()),
        ("reconnects", report.reconnects.to_string()),
        (
            "rejected frames",
            report.rejected_frames.values().sum::<u64>().to_string(),
        ),
        ("errors", report.errors.to_string()),
        ("run dir", report.run_dir.clone()),
    ];
    outln!();
    for (name, value) in rows {
        outln!("  {name:<16} {value}");
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::colour_allowed;

    #[test]
    fn colour_needs_a_terminal_and_no_no_color() {
        assert!(colour_allowed(true, None));
        assert!(
            colour_allowed(true, Some(OsStr::new(""))),
            "an empty NO_COLOR is unset"
        );
        assert!(!colour_allowed(true, Some(OsStr::new("1"))));
        assert!(!colour_allowed(false, None));
    }
}
