//! What `backtest`, `sweep` and `walk-forward` share before the engine runs: the layered
//! configuration (the same keys and precedence as `run`), where the candles come from
//! (`--data FILE` or a cached `--source bitunix --days N` download), the time window, the
//! funding source (read and validated here, once, for every command) and the intrabar model. Every problem here is a usage error (exit 2).

use std::path::PathBuf;

use la_core::{Candle, Decimal, TimestampMs};
use la_session::{
    FundingModel, RunConfig, SessionError,
    backtest::{BacktestConfig, HistoryReplay, load_range},
    error_chain,
    funding_source::Funding,
    intrabar::IntrabarTicks,
    run_files::DecisionLog,
};

use crate::{Failure, args::ExperimentArgs, console, settings};

/// A resolved experiment: the validated configuration and the historical inputs.
pub(crate) struct Experiment {
    /// The validated configuration (engine, costs, strategy parameters, workspace).
    pub(crate) config: RunConfig,
    /// The candle file.
    pub(crate) data: PathBuf,
    /// First candle open time to use.
    pub(crate) from: Option<TimestampMs>,
    /// Last candle open time to use.
    pub(crate) to: Option<TimestampMs>,
    /// Where funding rates come from (read and validated): `--funding-rate`, `--funding
    /// FILE`, the exchange's history with `--source bitunix`, or none (not modelled).
    pub(crate) funding: Funding,
    /// How bars are replayed as ticks.
    pub(crate) intrabar: IntrabarTicks,
}

impl Experiment {
    /// The backtest of `config` (the base configuration, or a grid set resolved over it)
    /// on this experiment's candles, window, funding and intrabar model.
    pub(crate) fn backtest_config(&self, config: &RunConfig) -> BacktestConfig {
        BacktestConfig {
            engine: config.engine_settings(),
            data: self.data.clone(),
            interval: config.interval,
            from: self.from,
            to: self.to,
            workspace: config.workspace.clone(),
            intrabar: self.intrabar,
            funding: self.funding.clone(),
            decisions: DecisionLog::CountedOnly,
        }
    }

    /// How bars are replayed and funded when the research commands run windows in memory.
    pub(crate) fn replay(&self) -> HistoryReplay<'_> {
        HistoryReplay {
            intrabar: self.intrabar,
            funding: &self.funding,
        }
    }

    /// The candles of the window, read once (the research commands share them read-only).
    pub(crate) fn load_candles(&self) -> Result<Vec<Candle>, Failure> {
        load_range(&self.data, self.config.interval, self.from, self.to)
            .map(|file| file.candles)
            .map_err(|e| Failure::config(error_chain(&e), "check --data, --from and --to"))
    }
}

/// Resolves the configuration layers and the history options, installs logging into the
/// configured workspace, and downloads the candles when `--source bitunix` asks for them.
pub(crate) fn resolve(args: &ExperimentArgs) -> Result<Experiment, Failure> {
    let history = &args.history;
    let raw = settings::resolve_raw(&args.layers, &args.flags)?;
    let config = settings::validate(&raw)?;
    let from = history
        .from
        .as_deref()
        .map(|t| parse_time("from", t))
        .transpose()?;
    let to = history
        .to
        .as_deref()
        .map(|t| parse_time("to", t))
        .transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(Failure::config(
            format!("`from` ({}) is after `to` ({})", from.as_ms(), to.as_ms()),
            "swap --from and --to",
        ));
    }
    let funding_rate = history
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
    let intrabar = IntrabarTicks::from(history.intrabar);
    console::install_logging_with(
        &config.workspace.join("logs").join("system.jsonl"),
        config.symbol.as_str(),
        config.logs.system,
        "error",
    )?;
    let mut exchange_funding = None;
    let data = match (history.source.as_deref(), &config.data) {
        (Some("bitunix"), _) => {
            let days = history
                .days
                .filter(|d| (1..=365).contains(d))
                .ok_or_else(|| {
                    Failure::config(
                        "`days`: --source bitunix needs --days N (1..=365)".into(),
                        "e.g. --days 7",
                    )
                })?;
            let candles = download(&config, days)?;
            if funding_rate.is_none() && history.funding.is_none() {
                exchange_funding = Some(download_funding(&config, &candles)?);
            }
            candles
        }
        (Some(other), _) => {
            return Err(Failure::config(
                format!("`source`: {other:?} is not a history source"),
                "--source bitunix (with --days N), or --data FILE",
            ));
        }
        (None, Some(data)) => data.clone(),
        (None, None) => {
            return Err(Failure::config(
                "`data`: pass --data FILE (ts_ms,open,high,low,close,volume CSV, .gz allowed), set `data` in the configuration, or --source bitunix --days N".into(),
                "e.g. --data ../shared/data/candles/binance_spot_btcusdt_1m_2024-09-21.csv",
            ));
        }
    };
    let funding = match (funding_rate, &history.funding, exchange_funding) {
        (Some(rate), _, _) => Funding::Constant(rate),
        (None, Some(file), _) => Funding::from_file(file).map_err(funding_failure)?,
        (None, None, Some(history)) => Funding::from_exchange_history(&history).map_err(|e| {
            Failure::runtime(format!(
                "the exchange's funding-rate history is unusable: {}",
                error_chain(&e)
            ))
        })?,
        (None, None, None) => Funding::NotModelled,
    };
    Ok(Experiment {
        config,
        data,
        from,
        to,
        funding,
        intrabar,
    })
}

/// The funding figure of a statistics block with where its rates came from, or **not
/// modelled** when there was no funding source: a 0.00 would claim a funding nobody looked at.
/// `missing` funding times had no rate in the source (nothing was settled then).
pub(crate) fn funding_figure(funding: Decimal, model: &FundingModel, missing: u64) -> String {
    if !model.is_modelled() {
        return "not modelled (no funding source: pass --funding FILE or --funding-rate, or use --source bitunix)".to_owned();
    }
    let mut text = format!("{} ({})", funding.round_dp(2), model.describe());
    if missing > 0 {
        text.push_str(&format!(
            "; {missing} funding time(s) had no rate, nothing settled then"
        ));
    }
    text
}

/// A funding file that cannot be used is the user's to fix, like a bad flag: exit 2.
pub(crate) fn funding_failure(err: SessionError) -> Failure {
    Failure::config(
        format!("funding: {}", error_chain(&err)),
        "a funding file is `ts_ms,rate` rows: the epoch ms of a 00/08/16 UTC funding time and the rate as a fraction (0.0001 = 0.01 %)",
    )
}

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

/// Downloads (or reuses the cached) funding-rate history over the span of `candles`.
fn download_funding(config: &RunConfig, candles: &std::path::Path) -> Result<PathBuf, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    runtime
        .block_on(la_session::download::download_funding_history(
            &config.rest_url,
            config.symbol,
            config.interval,
            candles,
        ))
        .map_err(|err| {
            Failure::runtime(format!(
                "funding-rate history download from {} failed: {}",
                la_core::redact_url(&config.rest_url),
                error_chain(&err)
            ))
        })
}

/// Downloads (or reuses the cached) candles over REST.
fn download(config: &RunConfig, days: u32) -> Result<PathBuf, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    runtime
        .block_on(la_session::download::download_candles(
            &config.rest_url,
            config.symbol,
            config.interval,
            days,
            &config.workspace,
        ))
        .map_err(|err| {
            Failure::runtime(format!(
                "candle download from {} failed: {}",
                la_core::redact_url(&config.rest_url),
                error_chain(&err)
            ))
        })
}
