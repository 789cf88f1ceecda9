//! The backtest: historical candles through the **same** engine, strategy and broker as the
//! live session.
//!
//! Each candle is replayed as ticks along the explicit intrabar path (open → nearer extreme
//! → farther extreme → close, [`Candle::path_waypoints`]) — the same path the simulator
//! streams in live runs — then closed. That is what makes backtest and live trade lists
//! agree. The result is the same [`RunSummary`] a live session writes (`summary.json`).

use std::{collections::BTreeMap, path::PathBuf};

use la_broker_paper::persist;
use la_core::{
    Broker, Candle, Decimal, ExitReason, Interval, Price, Provenance, Symbol, TimestampMs,
};
use la_run_schema::RunSummary;

use crate::{
    candle_file::load_candles,
    engine::{Engine, EngineSettings, EngineSink, RestoredState, build_engine},
    error::SessionError,
    funding::{FundingRateSource, FundingSchedule},
    funding_source::Funding,
    intrabar::{IntrabarTicks, for_each_path_tick},
    run_files::{DecisionLog, EquityPoint, FileSink, write_equity_csv, write_trades_csv},
    stats::{RunLedger, compute_results},
    time_fmt::now_rfc3339,
    workspace::Workspace,
};

/// Backtest settings.
#[derive(Clone, Debug)]
pub struct BacktestConfig {
    /// The engine: strategy, broker costs, warm-up, breaker (built by
    /// [`crate::engine::build_engine`], as in the live session).
    pub engine: EngineSettings,
    /// Candle file (`ts_ms,open,high,low,close,volume`, `.gz` allowed).
    pub data: PathBuf,
    /// The interval traded; a finer file is resampled to it.
    pub interval: Interval,
    /// First candle open time to use (inclusive).
    pub from: Option<TimestampMs>,
    /// Last candle open time to use (inclusive).
    pub to: Option<TimestampMs>,
    /// Workspace (the run directory goes under `runs/`).
    pub workspace: PathBuf,
    /// How bars are replayed as ticks.
    pub intrabar: IntrabarTicks,
    /// Where funding rates come from (read and validated): none, a constant, a rate file, or
    /// the exchange's history.
    pub funding: Funding,
    /// Whether `decisions.jsonl` is written (the counts are in `summary.json` either way).
    pub decisions: DecisionLog,
}

/// How a replay over history (a backtest, a sweep's set, a walk-forward's window) turns
/// bars into ticks and settles funding.
#[derive(Clone, Copy, Debug)]
pub struct HistoryReplay<'a> {
    /// Which ticks each bar is replayed as.
    pub intrabar: IntrabarTicks,
    /// The funding rates, shared read-only by every replay.
    pub funding: &'a Funding,
}

/// What a [`replay_history`] counted besides the curve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayCounts {
    /// Candles closed with a position open.
    pub exposure_bars: u64,
    /// Funding times passed that the funding source had no rate for (nothing settled).
    pub funding_missing: u64,
}

/// How [`replay_candles`] turns bars into events.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReplayOptions {
    /// Which ticks each bar is replayed as.
    pub intrabar: IntrabarTicks,
    /// A constant funding rate (fraction per 8 h) settled at 00/08/16 UTC and shown to the
    /// strategy; `None` = unknown (no settlement, the strategy sizes as for an unknown rate).
    pub funding_rate: Option<Decimal>,
}

/// Which rate settles a funding time a replay passes.
pub trait ReplayFunding {
    /// The rate, the mark price and the rate's source for `funding_time`; `fallback_mark` is
    /// the price of the bar at that time. `None`: nothing is settled for that time.
    fn rate_at(
        &mut self,
        funding_time: TimestampMs,
        fallback_mark: Price,
    ) -> Option<(Decimal, Price, FundingRateSource)>;
}

/// The backtest's funding: one assumed constant rate (or none), marked at the bar's price.
#[derive(Clone, Copy, Debug)]
pub struct AssumedFunding(pub Option<Decimal>);

impl ReplayFunding for AssumedFunding {
    fn rate_at(
        &mut self,
        _funding_time: TimestampMs,
        fallback_mark: Price,
    ) -> Option<(Decimal, Price, FundingRateSource)> {
        self.0
            .map(|rate| (rate, fallback_mark, FundingRateSource::Assumed))
    }
}

/// Replays `candles` through `engine`, feeding the intrabar path as ticks first. Returns the
/// number of candles that closed with a position open. This is the hot loop the throughput
/// benchmark measures.
///
/// # Errors
/// A broker invariant breach.
pub fn replay_candles(
    engine: &mut Engine,
    symbol: Symbol,
    candles: &[Candle],
    options: ReplayOptions,
    sink: &mut dyn EngineSink,
    equity_curve: &mut Vec<EquityPoint>,
) -> Result<u64, la_broker_paper::BrokerError> {
    if let Some(rate) = options.funding_rate {
        engine.observe_funding_rate(rate);
    }
    let bars = Bars {
        symbol,
        candles,
        provenance: Provenance::Historical,
        intrabar: options.intrabar,
    };
    replay_bars(
        engine,
        &bars,
        &mut FundingSchedule::default(),
        &mut AssumedFunding(options.funding_rate),
        sink,
        equity_curve,
    )
}

/// The replay of a backtest, a sweep's set and a walk-forward's window: `candles` through
/// `engine` with `replay`'s intrabar ticks and funding (a constant rate is shown to the
/// strategy from the start; a file's or the exchange's rate once it settles), then what ends
/// a backtest ([`replay_to_end_funded`]).
///
/// # Errors
/// A broker invariant breach.
pub fn replay_history(
    engine: &mut Engine,
    symbol: Symbol,
    candles: &[Candle],
    replay: HistoryReplay<'_>,
    sink: &mut dyn EngineSink,
    equity_curve: &mut Vec<EquityPoint>,
) -> Result<ReplayCounts, la_broker_paper::BrokerError> {
    if let Some(rate) = replay.funding.known_in_advance() {
        engine.observe_funding_rate(rate);
    }
    let mut settler = replay.funding.settler();
    let bars = Bars {
        symbol,
        candles,
        provenance: Provenance::Historical,
        intrabar: replay.intrabar,
    };
    let exposure_bars = replay_to_end_funded(engine, &bars, &mut settler, sink, equity_curve)?;
    Ok(ReplayCounts {
        exposure_bars,
        funding_missing: settler.missing(),
    })
}

/// [`replay_bars`] settling funding with `funding`, then what ends a backtest: a position
/// still open after the last candle is closed at the last accepted price as `end_of_data`,
/// and the last equity point shows the account flat. Returns the bars closed with a position
/// open.
///
/// # Errors
/// A broker invariant breach.
pub fn replay_to_end_funded(
    engine: &mut Engine,
    bars: &Bars<'_>,
    funding: &mut dyn ReplayFunding,
    sink: &mut dyn EngineSink,
    equity_curve: &mut Vec<EquityPoint>,
) -> Result<u64, la_broker_paper::BrokerError> {
    let exposure_bars = replay_bars(
        engine,
        bars,
        &mut FundingSchedule::default(),
        funding,
        sink,
        equity_curve,
    )?;
    close_at_end(engine, bars.candles, sink, equity_curve)?;
    Ok(exposure_bars)
}

/// What ends a backtest: a position still open after the last candle is closed at the last
/// accepted price as `end_of_data`, and the last equity point shows the account flat.
fn close_at_end(
    engine: &mut Engine,
    candles: &[Candle],
    sink: &mut dyn EngineSink,
    equity_curve: &mut [EquityPoint],
) -> Result<(), la_broker_paper::BrokerError> {
    if let Some(last) = candles.last()
        && engine.broker().position().is_some()
    {
        engine.close_position(
            engine.last_price().unwrap_or(last.close()),
            last.close_time(),
            ExitReason::EndOfData,
            sink,
        )?;
        if let Some(point) = equity_curve.last_mut() {
            point.equity = engine.broker().equity();
            point.mark_equity = point.equity;
        }
    }
    Ok(())
}

/// The bars of a replay and how they are fed.
#[derive(Clone, Copy, Debug)]
pub struct Bars<'a> {
    /// Instrument of the ticks.
    pub symbol: Symbol,
    /// The candles, oldest first.
    pub candles: &'a [Candle],
    /// Their provenance in the decision records.
    pub provenance: Provenance,
    /// Which ticks each bar is replayed as.
    pub intrabar: IntrabarTicks,
}

/// The replay both the backtest and the live session's catch-up run: for each bar, the
/// funding times passed before it, its intrabar path as ticks (stop, take-profit, trailing
/// stop), its close (bar exits, max bars, the strategy; each decided at its own close
/// time), then the funding times its close reached. `schedule` says which funding time is
/// next (a default one arms at the first bar). Returns the bars closed with a position open.
///
/// # Errors
/// A broker invariant breach.
pub fn replay_bars(
    engine: &mut Engine,
    bars: &Bars<'_>,
    schedule: &mut FundingSchedule,
    funding: &mut dyn ReplayFunding,
    sink: &mut dyn EngineSink,
    equity_curve: &mut Vec<EquityPoint>,
) -> Result<u64, la_broker_paper::BrokerError> {
    let mut exposure_bars = 0;
    if let Some(first) = bars.candles.first() {
        settle_due(
            engine,
            schedule,
            first.open_time(),
            first.open(),
            funding,
            sink,
        )?;
    }
    for candle in bars.candles {
        let mut tick_result = Ok(());
        for_each_path_tick(candle, bars.intrabar, bars.symbol, |tick| {
            if tick_result.is_ok() {
                tick_result = engine.on_tick(&tick, sink);
            }
        });
        tick_result?;
        engine.on_candle_closed(candle, bars.provenance, candle.close_time(), sink)?;
        settle_due(
            engine,
            schedule,
            candle.close_time(),
            candle.close(),
            funding,
            sink,
        )?;
        // Marked at the last accepted price: a quarantined close never values the account.
        let mark = engine.last_price().unwrap_or(candle.close());
        let broker = engine.broker();
        if broker.position().is_some() {
            exposure_bars += 1;
        }
        equity_curve.push(EquityPoint {
            ts_ms: candle.close_time().as_ms(),
            equity: broker.equity(),
            mark_equity: broker.mark_to_market(mark),
            mark_price: mark.get(),
        });
    }
    Ok(exposure_bars)
}

/// Settles every funding time the schedule says is due at exchange time `now`.
fn settle_due(
    engine: &mut Engine,
    schedule: &mut FundingSchedule,
    now: TimestampMs,
    fallback_mark: Price,
    funding: &mut dyn ReplayFunding,
    sink: &mut dyn EngineSink,
) -> Result<(), la_broker_paper::BrokerError> {
    while let Some(funding_time) = schedule.due(now) {
        if let Some((rate, mark, source)) = funding.rate_at(funding_time, fallback_mark) {
            engine.settle_funding(funding_time, rate, mark, source, sink)?;
            // From now on the strategy's funding gates see the rate that settled last.
            engine.observe_funding_rate(rate);
        }
    }
    Ok(())
}

/// The candle file `data` read at `interval`, keeping the candles that open between `from`
/// and `to` (inclusive); its counts of rejected and normalised rows are the whole file's.
///
/// # Errors
/// Unreadable data, or no candle in the range.
pub fn load_range(
    data: &std::path::Path,
    interval: la_core::Interval,
    from: Option<la_core::TimestampMs>,
    to: Option<la_core::TimestampMs>,
) -> Result<crate::candle_file::CandleFile, SessionError> {
    let mut file = load_candles(data, interval)?;
    let (first, last) = (
        file.candles.first().map(Candle::open_time),
        file.candles.last().map(Candle::open_time),
    );
    file.candles.retain(|c| {
        from.is_none_or(|from| c.open_time() >= from) && to.is_none_or(|to| c.open_time() <= to)
    });
    if file.candles.is_empty() {
        return Err(SessionError::Data {
            path: data.to_path_buf(),
            message: format!(
                "no candles in the selected range; the file covers {} .. {}",
                first.map_or_else(String::new, |t| crate::time_fmt::ms_to_rfc3339(t.as_ms())),
                last.map_or_else(String::new, |t| crate::time_fmt::ms_to_rfc3339(t.as_ms())),
            ),
        });
    }
    Ok(file)
}

/// Runs a backtest over a candle file and writes a run directory like a live run's.
///
/// # Errors
/// Unreadable data, unwritable workspace, or a broker invariant breach.
pub fn run_backtest(config: &BacktestConfig) -> Result<RunSummary, SessionError> {
    let started = std::time::Instant::now();
    let started_at = now_rfc3339();
    let mut file = load_range(&config.data, config.interval, config.from, config.to)?;
    let candles = std::mem::take(&mut file.candles);
    let workspace = Workspace::new(&config.workspace);
    workspace.create_dirs()?;
    let run_id = format!(
        "backtest-{}-{}",
        crate::time_fmt::run_stamp(),
        std::process::id()
    );
    let run_dir = workspace.create_run_dir(&run_id)?;
    // Without decision records nobody reads the indicator values: the strategy skips them
    // (the same signals and orders).
    let mut engine = build_engine(&config.engine, RestoredState::default())?;
    engine.record_indicators(config.decisions == DecisionLog::Written);
    let symbol = config.engine.symbol;
    let journal_path = run_dir.join("events.jsonl");
    let mut sink = match config.decisions {
        DecisionLog::Written => {
            FileSink::open(&journal_path, false, &run_dir, symbol.as_str(), None)?
        }
        DecisionLog::CountedOnly => {
            FileSink::open_counting_decisions(&journal_path, false, &run_dir, symbol.as_str())?
        }
    };
    let mut curve = Vec::with_capacity(candles.len());
    let counts = replay_history(
        &mut engine,
        symbol,
        &candles,
        HistoryReplay {
            intrabar: config.intrabar,
            funding: &config.funding,
        },
        &mut sink,
        &mut curve,
    )?;
    sink.flush();
    let broker_stats = engine.broker().stats();
    let results = compute_results(&RunLedger {
        starting_equity: config.engine.broker.starting_balance,
        funding_at_start: Decimal::ZERO,
        account: (&broker_stats).into(),
        trades: &sink.trades,
        curve: &curve,
        exposure_bars: counts.exposure_bars,
    });
    write_trades_csv(&run_dir.join("trades.csv"), &sink.trades)?;
    write_equity_csv(&run_dir.join("equity.csv"), &curve)?;
    let counters = engine.counters();
    let summary = RunSummary {
        run_id,
        source: "backtest".to_owned(),
        symbol: symbol.to_string(),
        interval: config.interval.to_string(),
        strategy: engine.strategy_name().to_owned(),
        dry_run: config.engine.dry_run,
        data: Some(config.data.display().to_string()),
        started_at,
        ended_at: now_rfc3339(),
        duration_s: started.elapsed().as_secs_f64(),
        stopped_reason: None,
        candles_closed: counters.candles_closed,
        results,
        fills: counters.fills,
        orders_rejected: counters.orders_rejected,
        ambiguous_bars: broker_stats.ambiguous_bars,
        errors: 0,
        last_error: None,
        reconnects: 0,
        rejected_frames: BTreeMap::new(),
        rejected_rows: file.quality.rejected_counts(),
        frames_normalized: BTreeMap::new(),
        rest_rows_rejected: BTreeMap::new(),
        rest_rows_normalized: BTreeMap::new(),
        rows_normalized: file.quality.normalized.clone(),
        candle_file: Some(file.quality),
        funding_model: config.funding.model(),
        implausible_price: counters.implausible_price,
        implausible_refused: broker_stats.implausible_refused,
        backfilled_candles: 0,
        funding_events: counters.funding_events,
        funding_skipped: counts.funding_missing,
        state_save_failures: 0,
        decisions: sink.decision_counts().clone(),
        funding_settlements: sink.funding_settlements.clone(),
        downtime: Vec::new(),
        covered_by_catch_up: 0,
        run_dir: run_dir.display().to_string(),
        config: backtest_config_value(config),
    };
    persist::save_json_atomic(&run_dir.join("summary.json"), &summary)?;
    Ok(summary)
}

/// The resolved configuration of a backtest under its configuration key names (what a
/// `--config` file would hold), plus the backtest's own inputs, for the report and its
/// fingerprint.
fn backtest_config_value(config: &BacktestConfig) -> serde_json::Value {
    let mut keys = config.engine.config_keys();
    for (key, value) in [
        ("data", serde_json::json!(config.data)),
        ("interval", serde_json::json!(config.interval.as_str())),
        (
            "from",
            serde_json::json!(config.from.map(TimestampMs::as_ms)),
        ),
        ("to", serde_json::json!(config.to.map(TimestampMs::as_ms))),
        ("intrabar", serde_json::json!(config.intrabar)),
        (
            "funding_rate",
            serde_json::json!(config.funding.known_in_advance()),
        ),
        (
            "funding_file",
            serde_json::json!(config.funding.rate_file()),
        ),
    ] {
        keys.insert(key.to_owned(), value);
    }
    serde_json::Value::Object(keys)
}
