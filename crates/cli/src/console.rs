//! Console and log output: the JSON log file, warnings on stderr, the live status line and
//! the end-of-run summary table.

use std::{
    io::{IsTerminal, Write},
    path::Path,
    time::{Duration, Instant},
};

use la_session::{SessionReport, logging::JsonLogLayer, status::Heartbeat};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use crate::Failure;

/// Installs `tracing`: every event at `info` and above (or `LA_LOG`) as JSON lines to
/// `log_path`, and warnings and errors in human form on stderr.
pub(crate) fn install_logging(log_path: &Path, symbol: &str) -> Result<(), Failure> {
    install_logging_with(log_path, symbol, "warn")
}

/// [`install_logging`] with a chosen stderr level (backtests only show errors).
pub(crate) fn install_logging_with(
    log_path: &Path,
    symbol: &str,
    stderr_level: &str,
) -> Result<(), Failure> {
    if let Some(dir) = log_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::runtime(format!(
                "cannot create log directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let json = JsonLogLayer::open(log_path, symbol).map_err(|e| {
        Failure::runtime(format!("cannot open log file {}: {e}", log_path.display()))
    })?;
    let filter = EnvFilter::try_from_env("LA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .compact()
        .with_filter(EnvFilter::new(stderr_level));
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
        let mut out = std::io::stdout();
        if tty {
            let _ = write!(out, "\r{line}\x1b[K");
            let _ = out.flush();
        } else if last_plain.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
            last_plain = Some(Instant::now());
            let _ = writeln!(out, "{line}");
        }
    })
}

/// Prints the end-of-run summary table.
pub(crate) fn print_summary(report: &SessionReport) {
    let rows = [
        ("stopped", report.stopped_reason.as_str().to_owned()),
        ("duration", format!("{:.1}s", report.duration_s)),
        ("source", report.source.clone()),
        ("symbol", format!("{} {}", report.symbol, report.interval)),
        ("strategy", report.strategy.clone()),
        ("candles closed", report.candles_closed.to_string()),
        (
            "trades",
            format!(
                "{} ({} won, {} lost)",
                report.trades, report.wins, report.losses
            ),
        ),
        (
            "starting equity",
            report.starting_equity.round_dp(2).to_string(),
        ),
        (
            "ending equity",
            report.ending_equity.round_dp(2).to_string(),
        ),
        ("net pnl", report.net_pnl.round_dp(2).to_string()),
        ("fees", report.fees.round_dp(2).to_string()),
        ("funding", report.funding.round_dp(4).to_string()),
        ("max drawdown", report.max_drawdown.round_dp(2).to_string()),
        ("reconnects", report.reconnects.to_string()),
        (
            "rejected frames",
            report.rejected_frames.values().sum::<u64>().to_string(),
        ),
        ("errors", report.errors.to_string()),
        ("run dir", report.run_dir.clone()),
    ];
    println!();
    for (name, value) in rows {
        println!("  {name:<16} {value}");
    }
}
