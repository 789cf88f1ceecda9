//! `laptop-agents backtest`: historical candles through the live engine.

use std::process::ExitCode;

use la_core::{Decimal, Interval, Symbol, TimestampMs};
use la_session::{
    backtest::{BacktestConfig, run_backtest},
    engine::EngineSettings,
    error_chain,
    intrabar::IntrabarTicks,
};

use crate::{Failure, args::BacktestArgs, console};

fn parse_time(key: &str, text: &str) -> Result<TimestampMs, Failure> {
    let ms = match text.parse::<i64>() {
        Ok(ms) => ms,
        Err(_) => time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
            .map_err(|_| {
                Failure::config(
                    format!("`{key}`: {text:?} is neither epoch ms nor RFC 3339"),
                    "e.g. 1619000000000 or 2021-04-21T00:00:00Z",
                )
            })?,
    };
    TimestampMs::new(ms)
        .map_err(|e| Failure::config(format!("`{key}`: {e}"), "a time between 2010 and 2100"))
}

pub(crate) fn run(args: &BacktestArgs) -> Result<ExitCode, Failure> {
    let workspace = args.workspace.resolve();
    let symbol = Symbol::normalize(&args.symbol)
        .map_err(|e| Failure::config(format!("`symbol`: {e}"), "e.g. BTCUSDT"))?;
    let interval = args.interval;
    console::install_logging_with(
        &workspace.join("logs").join("system.jsonl"),
        symbol.as_str(),
        "error",
    )?;
    let data = match (&args.data, args.source.as_deref()) {
        (Some(data), None) => data.clone(),
        (None, Some(_bitunix)) => {
            let days = args.days.filter(|d| (1..=365).contains(d)).ok_or_else(|| {
                Failure::config(
                    "`days`: --source bitunix needs --days N (1..=365)".into(),
                    "e.g. --days 7",
                )
            })?;
            let rest_url = args
                .rest_url
                .clone()
                .unwrap_or_else(|| "https://fapi.bitunix.com".to_owned());
            download(&rest_url, symbol, interval, days, &workspace)?
        }
        (Some(_), Some(_)) => {
            return Err(Failure::config(
                "`data` and `source` are exclusive".into(),
                "pass either --data FILE or --source bitunix --days N",
            ));
        }
        (None, None) => {
            return Err(Failure::config(
                "`data`: pass --data FILE (ts_ms,open,high,low,close,volume CSV, .gz allowed) or --source bitunix --days N".into(),
                "e.g. --data ../shared/data/candles/binance_spot_btcusdt_1m_2024-09-21.csv",
            ));
        }
    };
    let strategy = args.strategy;
    let starting_balance: Decimal = args
        .starting_balance
        .parse()
        .ok()
        .filter(|b: &Decimal| *b > Decimal::ZERO)
        .ok_or_else(|| {
            Failure::config(
                format!(
                    "`starting_balance`: {:?} is not a positive number",
                    args.starting_balance
                ),
                "e.g. 10000",
            )
        })?;
    let funding_rate = args
        .funding_rate
        .as_deref()
        .map(|text| {
            text.parse::<Decimal>()
                .ok()
                .filter(|r| r.abs() < Decimal::new(5, 2))
                .ok_or_else(|| {
                    Failure::config(
                        format!("`funding_rate`: {text:?} is not a fraction below 0.05"),
                        "e.g. 0.0001 for 0.01 % per 8 h",
                    )
                })
        })
        .transpose()?;
    let intrabar = IntrabarTicks::from(args.intrabar);
    let mut engine = EngineSettings::new(symbol, strategy);
    engine.broker.starting_balance = starting_balance;
    engine.warmup_bars = args.warmup_bars;
    let config = BacktestConfig {
        engine,
        data,
        interval,
        from: args
            .from
            .as_deref()
            .map(|t| parse_time("from", t))
            .transpose()?,
        to: args
            .to
            .as_deref()
            .map(|t| parse_time("to", t))
            .transpose()?,
        workspace: workspace.clone(),
        intrabar,
        funding_rate,
    };
    let stats = run_backtest(&config).map_err(|err| {
        tracing::error!(target: crate::console::REPORTED, symbol = %symbol, error = &err as &dyn std::error::Error, "backtest failed");
        Failure::runtime(format!("backtest failed: {}", error_chain(&err)))
    })?;
    let report = la_report::render_run_report(std::path::Path::new(&stats.run_dir));
    if let Err(err) = &report {
        tracing::warn!(symbol = %symbol, error = err as &dyn std::error::Error, "cannot write the run report");
    }
    if args.json {
        let text = serde_json::to_string(&stats)
            .map_err(|e| Failure::runtime(format!("cannot serialise stats: {e}")))?;
        println!("{text}");
    } else {
        let s = &stats.results;
        println!(
            "backtest {} over {} candles ({})",
            stats.strategy,
            stats.candles_closed,
            config.data.display()
        );
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
            ("funding", s.funding.round_dp(2).to_string()),
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
        ] {
            println!("  {name:<16} {value}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Downloads (or reuses the cached) candles over REST.
fn download(
    rest_url: &str,
    symbol: Symbol,
    interval: Interval,
    days: u32,
    workspace: &std::path::Path,
) -> Result<std::path::PathBuf, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    runtime
        .block_on(la_session::download::download_candles(
            rest_url, symbol, interval, days, workspace,
        ))
        .map_err(|err| {
            Failure::runtime(format!(
                "candle download from {rest_url} failed: {}",
                error_chain(&err)
            ))
        })
}

fn fmt_ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}
