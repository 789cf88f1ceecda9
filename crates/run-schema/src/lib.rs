//! The schema of a run directory's `summary.json`, one shape for live sessions and
//! backtests, shared by the writer (`la-session`) and the readers (`la-report`, the CLI).
//!
//! It is its own small crate (serde, `rust_decimal`, `serde_json`) so that a reader never
//! depends on the session, its runtime or its sockets, and so that a field renamed on one
//! side is a compile error on the other. Field names are a stable contract: the reliability
//! checks in `xtask` read `stopped_reason`, `source`, `candles_closed`, `starting_equity`,
//! `state_save_failures`, `rejected_frames` and `run_dir` by name.
//!
//! # Money, defined once
//! - `starting_equity` / `ending_equity`: the account's realized equity when the run
//!   started and ended.
//! - `net_pnl` = `ending_equity − starting_equity`: everything the run did to the account,
//!   trades **and** funding.
//! - `trade_pnl` = Σ net PnL of the run's closed trades (fees included, funding excluded).
//! - `funding`: the funding cash flow of the run, read from the broker's ledger (negative
//!   = paid). So `net_pnl == trade_pnl + funding` is a check, not a definition.

pub mod downtime;
pub mod inputs;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use downtime::{DowntimeRecord, FundingSettlement};
use inputs::{CandleFileQuality, FundingModel};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// `<path>.<n>`: the name of the `n`-th newest rotated copy of a log or of a live run's
/// `decisions.jsonl` (`.1` is the newest). The session's rotation writes these names and
/// the report reads them back, so the convention lives here, once.
pub fn rotated_name(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The closed set of reasons a live session ends. Exactly one is recorded per run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The configured duration elapsed.
    DurationReached,
    /// SIGINT or SIGTERM.
    Signal,
    /// `laptop-agents stop` or a programmatic request.
    StopRequested,
    /// `kill.txt` in the workspace or `LA_KILL_SWITCH=1`.
    KillSwitch,
    /// No market data for longer than the stale timeout.
    StaleData,
    /// More errors than the error budget allows.
    ErrorBudget,
    /// Daily drawdown or consecutive-loss circuit breaker tripped.
    CircuitBreaker,
    /// Resident memory above the configured ceiling.
    MemoryLimit,
    /// The market-data feed ended and cannot continue (e.g. a replay ran out of data).
    FeedEnded,
    /// An unrecoverable error (e.g. a broker invariant breach).
    FatalError,
    /// A downtime was longer than `max_catch_up`: replaying it was refused.
    CatchUpTooLong,
}

impl StopReason {
    /// Stable label, as written to `summary.json`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DurationReached => "duration_reached",
            Self::Signal => "signal",
            Self::StopRequested => "stop_requested",
            Self::KillSwitch => "kill_switch",
            Self::StaleData => "stale_data",
            Self::ErrorBudget => "error_budget",
            Self::CircuitBreaker => "circuit_breaker",
            Self::MemoryLimit => "memory_limit",
            Self::FeedEnded => "feed_ended",
            Self::FatalError => "fatal_error",
            Self::CatchUpTooLong => "catch_up_too_long",
        }
    }

    /// Whether the CLI should exit 0: a stop the user asked for or expected.
    pub const fn is_clean(self) -> bool {
        matches!(
            self,
            Self::DurationReached | Self::Signal | Self::StopRequested | Self::KillSwitch
        )
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a run (a live session or a backtest) did, in one object: `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Run id (also the run directory name).
    pub run_id: String,
    /// `bitunix`, `sim`, `mock` or `backtest`.
    pub source: String,
    /// Instrument.
    pub symbol: String,
    /// Candle interval.
    pub interval: String,
    /// Strategy name.
    pub strategy: String,
    /// Whether orders were only logged.
    pub dry_run: bool,
    /// The candle file of a backtest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Start, RFC 3339 UTC (wall clock).
    pub started_at: String,
    /// End, RFC 3339 UTC (wall clock).
    pub ended_at: String,
    /// Wall-clock length in seconds.
    pub duration_s: f64,
    /// Why a live session ended (one reason, always); `None` for a backtest, which ends
    /// with its data.
    pub stopped_reason: Option<StopReason>,
    /// Closed candles processed by the strategy.
    pub candles_closed: u64,
    /// Money and trade statistics.
    #[serde(flatten)]
    pub results: RunResults,
    /// Entries filled.
    pub fills: u64,
    /// Orders the broker rejected.
    pub orders_rejected: u64,
    /// Bars where stop and target were both inside the range (stop assumed first).
    pub ambiguous_bars: u64,
    /// Errors counted against the error budget.
    pub errors: u32,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// Feed reconnects.
    pub reconnects: u64,
    /// Rejected market-data frames by reason.
    pub rejected_frames: BTreeMap<String, u64>,
    /// Rejected candle-file rows by reason (backtests).
    pub rejected_rows: BTreeMap<String, u64>,
    /// Kline pushes kept after a documented normalisation, by label (`open_outside_range`:
    /// the range was widened to include the open).
    #[serde(default)]
    pub frames_normalized: BTreeMap<String, u64>,
    /// REST kline rows rejected, by reason.
    #[serde(default)]
    pub rest_rows_rejected: BTreeMap<String, u64>,
    /// REST kline rows kept after a documented normalisation, by label.
    #[serde(default)]
    pub rest_rows_normalized: BTreeMap<String, u64>,
    /// Candle-file rows kept after a documented normalisation, by label (backtests).
    #[serde(default)]
    pub rows_normalized: BTreeMap<String, u64>,
    /// A backtest's candle file: rejected rows with their first lines, gaps, resampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candle_file: Option<CandleFileQuality>,
    /// Where the funding rates came from; [`FundingModel::NotModelled`] says funding was
    /// not settled at all (never a silent zero).
    #[serde(default)]
    pub funding_model: FundingModel,
    /// Prices quarantined as implausible (ticks and candles never used, funding mark
    /// prices replaced by the last accepted price).
    #[serde(default)]
    pub implausible_price: u64,
    /// Prices the paper broker's own coarse band refused (its defence in depth; nonzero
    /// only when an implausible print got past the session's guard).
    #[serde(default)]
    pub implausible_refused: u64,
    /// Candles filled in over REST after a gap.
    pub backfilled_candles: u64,
    /// Funding settlements applied.
    pub funding_events: u64,
    /// Funding times passed without a rate.
    pub funding_skipped: u64,
    /// Failed state saves (each one alerted).
    pub state_save_failures: u64,
    /// Decision counts by outcome and blocking gate (`outcome:X`, `blocked_by:Y`).
    pub decisions: BTreeMap<String, u64>,
    /// Every funding settlement of the run: time, rate, amount, where the rate came from,
    /// and whether it was booked catching up after a downtime.
    #[serde(default)]
    pub funding_settlements: Vec<FundingSettlement>,
    /// The downtimes a live session detected (restart, suspend, outage): the interval, its
    /// cause, and the exits and funding booked catching up.
    #[serde(default)]
    pub downtime: Vec<DowntimeRecord>,
    /// Ticks and candles a live session dropped because a catch-up had already replayed
    /// their time.
    #[serde(default)]
    pub covered_by_catch_up: u64,
    /// The run directory.
    pub run_dir: String,
    /// The resolved configuration of the run (for the report and its fingerprint).
    pub config: serde_json::Value,
}

/// The money and trade statistics of a run (see the crate docs for the money definitions).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    /// Closed trades.
    pub trades: u64,
    /// Trades with net PnL > 0.
    pub wins: u64,
    /// The rest (a zero-PnL trade counts as a loss).
    pub losses: u64,
    /// wins / trades (0 without trades).
    pub win_rate: Decimal,
    /// Realized equity at the start of the run.
    pub starting_equity: Decimal,
    /// Realized equity at the end of the run.
    pub ending_equity: Decimal,
    /// `ending_equity − starting_equity`: trades and funding.
    pub net_pnl: Decimal,
    /// Σ net PnL of the run's closed trades (fees included, funding excluded).
    pub trade_pnl: Decimal,
    /// Σ fees of the run's closed trades.
    pub fees: Decimal,
    /// Funding cash flow of the run from the broker's ledger (negative = paid).
    pub funding: Decimal,
    /// Largest peak-to-trough fall of realized equity (quote currency).
    pub max_drawdown: Decimal,
    /// The same as a fraction of the peak.
    pub max_drawdown_frac: Decimal,
    /// Annualised (√365) Sharpe ratio of daily mark-to-market returns; `None` with fewer
    /// than two days or a zero deviation.
    pub sharpe: Option<f64>,
    /// Annualised (√365) Sortino ratio of daily returns (downside deviation).
    pub sortino: Option<f64>,
    /// Gross profit / |gross loss| (`None` without losses).
    pub profit_factor: Option<Decimal>,
    /// Fraction of closed candles with a position open.
    pub exposure: Decimal,
    /// Trades closed by liquidation (counted in `trades` too).
    pub liquidations: u64,
}

#[cfg(test)]
mod tests;
