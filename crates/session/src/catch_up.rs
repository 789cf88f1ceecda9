//! Catching up after a downtime: fetch what the market did while the session was away,
//! and replay it through the account before trading on.
//!
//! [`fetch`] asks the exchange for the newest complete candle (its close is the exchange's
//! "now"), refuses a downtime longer than `max_catch_up`, and downloads the missed candles
//! (paged, rate-limited) and the funding rates that settled in the interval. [`replay`]
//! runs them through the engine in catch-up mode with the backtest's own replay
//! ([`crate::backtest::replay_bars`]): each bar's intrabar path as ticks (stop,
//! take-profit, trailing stop), its close (bar exits, max bars, the strategy's indicators —
//! never an entry), and funding at every funding time passed with the rate that settled
//! then. Every event it books is marked `catch_up`.
//!
//! Crash safety comes from the broker, not from here: client order ids are processed once
//! and funding is settled once per funding time, and the live session saves the replay's
//! result in one write-ahead save, so a kill during or after a catch-up books nothing twice
//! on the next start (which simply catches up again from the saved state).

use std::{collections::BTreeMap, time::Duration};

use la_core::{Candle, Decimal, Interval, Price, Provenance, Symbol, TimestampMs};
use la_feed_bitunix::{RestClient, SettledFunding};

use crate::{
    backtest::{Bars, ReplayFunding, replay_bars},
    engine::{Engine, EngineSink},
    error::error_chain,
    funding::{FUNDING_PERIOD_MS, FundingRateSource, FundingSchedule},
    intrabar::IntrabarTicks,
    run_files::EquityPoint,
};

/// What the market did while the session was away.
#[derive(Clone, Debug, Default)]
pub struct CatchUpData {
    /// The missed complete candles, oldest first.
    pub candles: Vec<Candle>,
    /// Funding rates that settled in the interval, oldest first.
    pub funding: Vec<SettledFunding>,
    /// Why the funding history is missing, if it could not be fetched (each funding time
    /// passed is then skipped, with this reason).
    pub funding_error: Option<String>,
    /// The exchange's "now": the close of its newest complete candle (none when it had
    /// none).
    pub exchange_now: Option<TimestampMs>,
    /// Candles the interval should hold but the exchange did not return.
    pub missing: u64,
}

/// Why a catch-up could not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatchUpError {
    /// The downtime is longer than `max_catch_up`.
    TooLong {
        /// How long it is (exchange time, ms).
        downtime_ms: i64,
        /// The configured bound (ms).
        limit_ms: i64,
    },
    /// The exchange could not be asked (cause chain).
    Fetch(String),
}

impl std::fmt::Display for CatchUpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLong {
                downtime_ms,
                limit_ms,
            } => write!(
                f,
                "downtime of {}s is longer than max_catch_up ({}s)",
                downtime_ms / 1000,
                limit_ms / 1000
            ),
            Self::Fetch(message) => write!(f, "catch-up download failed: {message}"),
        }
    }
}

/// Candles asked for to learn the exchange's newest complete one. The client asks for the
/// bars complete at the moment it asks (a slow answer cannot move that moment); a few
/// rather than one, so an exchange that also sends the forming bar still leaves some.
const NEWEST_ASKED: u16 = 5;

/// Downloads the market from `from` (the first missed candle's open time) up to the
/// exchange's newest complete candle. An exchange with no complete candle yet, or none
/// newer than `from`, gives empty data: nothing was missed (not an error).
///
/// # Errors
/// [`CatchUpError::TooLong`] beyond `max_catch_up`; [`CatchUpError::Fetch`] when the
/// candles cannot be downloaded (a failed funding history is reported in the data instead).
pub async fn fetch(
    rest: &RestClient,
    symbol: Symbol,
    interval: Interval,
    from: TimestampMs,
    max_catch_up: Duration,
) -> Result<CatchUpData, CatchUpError> {
    let fetch_error = |err: la_feed_bitunix::FeedError| CatchUpError::Fetch(error_chain(&err));
    let newest = rest
        .klines(symbol, interval, NEWEST_ASKED, None)
        .await
        .map_err(fetch_error)?;
    let Some(newest) = newest.last() else {
        // No candle had completed when the exchange was asked: none can have been missed.
        tracing::info!(%symbol, from_ms = from.as_ms(), "the exchange has no complete candle yet; nothing to catch up");
        return Ok(CatchUpData::default());
    };
    let now = newest.close_time();
    let mut data = CatchUpData {
        exchange_now: Some(now),
        ..CatchUpData::default()
    };
    let downtime_ms = now.ms_since(from);
    if downtime_ms <= 0 {
        return Ok(data);
    }
    let limit_ms = i64::try_from(max_catch_up.as_millis()).unwrap_or(i64::MAX);
    if downtime_ms > limit_ms {
        return Err(CatchUpError::TooLong {
            downtime_ms,
            limit_ms,
        });
    }
    data.candles = rest
        .klines_range(symbol, interval, from, now, now)
        .await
        .map_err(fetch_error)?;
    let expected = u64::try_from(downtime_ms / interval.as_ms()).unwrap_or(0);
    data.missing = expected.saturating_sub(data.candles.len() as u64);
    let funding_from = from
        .checked_add_ms(-FUNDING_PERIOD_MS)
        .unwrap_or(TimestampMs::MIN);
    match rest.funding_rate_history(symbol, funding_from, now).await {
        Ok(funding) => data.funding = funding,
        Err(err) => data.funding_error = Some(error_chain(&err)),
    }
    Ok(data)
}

/// The exchange's settled rates, by funding time, as a replay's funding source.
#[derive(Debug)]
pub struct SettledRates {
    by_time: BTreeMap<TimestampMs, SettledFunding>,
    /// Funding times the replay passed without a settled rate.
    pub missing: Vec<TimestampMs>,
}

impl SettledRates {
    /// The rates of `funding`.
    pub fn new(funding: &[SettledFunding]) -> Self {
        Self {
            by_time: funding.iter().map(|f| (f.funding_time, *f)).collect(),
            missing: Vec::new(),
        }
    }
}

impl ReplayFunding for SettledRates {
    fn rate_at(
        &mut self,
        funding_time: TimestampMs,
        fallback_mark: Price,
    ) -> Option<(Decimal, Price, FundingRateSource)> {
        match self.by_time.get(&funding_time) {
            Some(settled) => Some((
                settled.rate,
                settled.mark_price.unwrap_or(fallback_mark),
                FundingRateSource::History,
            )),
            None => {
                self.missing.push(funding_time);
                None
            }
        }
    }
}

/// What a replay did.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Candles replayed.
    pub candles: u64,
    /// Close time of the last candle replayed.
    pub through: Option<TimestampMs>,
    /// Funding times passed without a settled rate (nothing settled for them).
    pub funding_missing: Vec<TimestampMs>,
}

/// Replays `data` through `engine` in catch-up mode: the candles newer than the last one
/// the engine decided, and funding from one period before `resume_after` (the exchange time
/// the account had reached; a funding time already settled is a no-op in the broker).
///
/// # Errors
/// A broker invariant breach.
pub fn replay(
    engine: &mut Engine,
    symbol: Symbol,
    data: &CatchUpData,
    resume_after: TimestampMs,
    sink: &mut dyn EngineSink,
    equity_curve: &mut Vec<EquityPoint>,
) -> Result<Replayed, la_broker_paper::BrokerError> {
    let last = engine.last_candle_open();
    let candles: Vec<Candle> = data
        .candles
        .iter()
        .filter(|c| last.is_none_or(|l| c.open_time() > l))
        .copied()
        .collect();
    let mut replayed = Replayed {
        candles: candles.len() as u64,
        through: candles.last().map(Candle::close_time),
        ..Replayed::default()
    };
    if candles.is_empty() {
        return Ok(replayed);
    }
    let mut schedule = FundingSchedule::starting_after(
        resume_after
            .checked_add_ms(-FUNDING_PERIOD_MS)
            .unwrap_or(resume_after),
    );
    let mut rates = SettledRates::new(&data.funding);
    let bars = Bars {
        symbol,
        candles: &candles,
        provenance: Provenance::Backfilled,
        intrabar: IntrabarTicks::Waypoints,
    };
    engine.begin_catch_up();
    let result = replay_bars(engine, &bars, &mut schedule, &mut rates, sink, equity_curve);
    engine.end_catch_up();
    result?;
    replayed.funding_missing = rates.missing;
    Ok(replayed)
}
