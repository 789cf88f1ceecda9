//! `laptop-agents backtest`: historical candles through the live engine, configured exactly
//! as `run` is (the same keys, files, variables and flags).

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use la_report::ReportError;
use la_session::{
    RunSummary, SessionError,
    backtest::{BacktestConfig, run_backtest},
    candle_file::describe_quality,
    error_chain,
    run_files::DecisionLog,
};

use crate::{Failure, args::BacktestArgs, commands::history, console::outln};

pub(crate) fn run(args: &BacktestArgs) -> Result<ExitCode, Failure> {
    let experiment = history::resolve(&args.experiment)?;
    let config = BacktestConfig {
        decisions: if args.decisions {
            DecisionLog::Written
        } else {
            DecisionLog::CountedOnly
        },
        ..experiment.backtest_config(&experiment.config)
    };
    let (stats, report) = backtest_with_report(&config)?;
    if args.json {
        let text = serde_json::to_string(&stats)
            .map_err(|e| Failure::runtime(format!("cannot serialise stats: {e}")))?;
        outln!("{text}");
    } else {
        let s = &stats.results;
        outln!(
            "backtest {} over {} candles ({})",
            stats.strategy,
            stats.candles_closed,
            config.data.display()
        );
        if let Some(quality) = &stats.candle_file {
            for line in describe_quality(quality) {
                outln!("  data: {line}");
            }
        }
        if let la_session::FundingModel::File { rejected, .. } = &stats.funding_model
            && !rejected.is_empty()
        {
            outln!(
                "  funding file: rejected rows: {}",
                la_session::funding_file::describe_rejected(rejected)
            );
        }
        if stats.funding_skipped > 0 {
            outln!(
                "  funding: {} funding time(s) had no rate in the file; nothing settled then",
                stats.funding_skipped
            );
        }
        for (name, value) in [
            (
                "trades",
                format!(
                    "{} ({} won, {} lost, win rate {})",
                    s.trades, s.wins, s.losses, s.win_rate
                ),
            ),
            ("starting equity", s.starting_equity.round_dp(2).to_string()),
            ("ending equity", s.ending_equity.round_dp(2).to_string()),
            ("net pnl", s.net_pnl.round_dp(2).to_string()),
            ("trade pnl", s.trade_pnl.round_dp(2).to_string()),
            ("fees", s.fees.round_dp(2).to_string()),
            (
                "funding",
                history::funding_figure(s.funding, &stats.funding_model, 0),
            ),
        ]
        .into_iter()
        .chain(risk_rows(s))
        .chain([
            (
                "profit factor",
                s.profit_factor
                    .map_or_else(|| "-".into(), |p| p.to_string()),
            ),
            ("exposure", s.exposure.to_string()),
            ("ambiguous bars", stats.ambiguous_bars.to_string()),
            ("run dir", stats.run_dir.clone()),
            (
                "report",
                report
                    .as_ref()
                    .map_or_else(|e| format!("not written: {e}"), |p| p.display().to_string()),
            ),
        ]) {
            outln!("  {name:<16} {value}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `config`'s backtest (its run directory under the workspace's `runs/`) and renders
/// the run's report; a report that cannot be written is logged, never fatal. `backtest` and
/// `sweep` (for its best set) run this.
pub(crate) fn backtest_with_report(
    config: &BacktestConfig,
) -> Result<(RunSummary, Result<PathBuf, ReportError>), Failure> {
    let symbol = config.engine.symbol;
    let stats = run_backtest(config).map_err(|err| {
        tracing::error!(target: crate::console::REPORTED, symbol = %symbol, error = &err as &dyn std::error::Error, "backtest failed");
        match err {
            // Unusable input data is the user's to fix, like a bad flag: exit 2.
            SessionError::Data { .. } => Failure::config(
                format!("backtest failed: {}", error_chain(&err)),
                "a candle file is `ts_ms,open,high,low,close,volume` rows (epoch ms), optionally gzipped",
            ),
            _ => Failure::runtime(format!("backtest failed: {}", error_chain(&err))),
        }
    })?;
    let report = la_report::render_run_report(Path::new(&stats.run_dir));
    if let Err(err) = &report {
        tracing::warn!(symbol = %symbol, error = err as &dyn std::error::Error, "cannot write the run report");
    }
    Ok((stats, report))
}

/// A ratio with two decimals, `-` when undefined.
pub(crate) fn fmt_ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

/// The drawdown and risk-adjusted return lines of a statistics block.
pub(crate) fn risk_rows(s: &la_session::RunResults) -> [(&'static str, String); 2] {
    [
        (
            "max drawdown",
            format!(
                "{} ({})",
                s.max_drawdown.round_dp(2),
                s.max_drawdown_frac.round_dp(4)
            ),
        ),
        (
            "sharpe / sortino",
            format!("{} / {}", fmt_ratio(s.sharpe), fmt_ratio(s.sortino)),
        ),
    ]
}
