//! The end-of-run summary (`summary.json`), written by live sessions and backtests alike.

use std::collections::BTreeMap;

use la_core::Decimal;
use serde::{Deserialize, Serialize};

use crate::stop::StopReason;

/// What a run did, in one object. Field names are a stable contract for tooling.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionReport {
    /// Run id (also the run directory name).
    pub run_id: String,
    /// Why the run ended (one reason, always).
    pub stopped_reason: StopReason,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    /// End, RFC 3339 UTC.
    pub ended_at: String,
    /// Wall-clock length in seconds.
    pub duration_s: f64,
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
    /// Closed candles processed by the strategy.
    pub candles_closed: u64,
    /// Closed trades.
    pub trades: u64,
    /// Winning trades (net PnL > 0).
    pub wins: u64,
    /// Losing trades (net PnL <= 0).
    pub losses: u64,
    /// Trades closed by liquidation (counted in `trades` too).
    pub liquidations: u64,
    /// Entries filled.
    pub fills: u64,
    /// Orders the broker rejected.
    pub orders_rejected: u64,
    /// Errors counted against the error budget.
    pub errors: u32,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// Account equity at the start of this run.
    pub starting_equity: Decimal,
    /// Account equity at the end of this run (realized).
    pub ending_equity: Decimal,
    /// `ending_equity - starting_equity`.
    pub net_pnl: Decimal,
    /// Fees paid on this run's closed trades.
    pub fees: Decimal,
    /// Funding cash flow this run (negative = paid).
    pub funding: Decimal,
    /// Maximum drawdown of the account (quote currency).
    pub max_drawdown: Decimal,
    /// Maximum drawdown as a fraction of the peak.
    pub max_drawdown_frac: Decimal,
    /// Feed reconnects.
    pub reconnects: u64,
    /// Rejected frames and rows by reason.
    pub rejected_frames: BTreeMap<String, u64>,
    /// Candles filled in over REST after a gap.
    pub backfilled_candles: u64,
    /// Funding settlements applied.
    pub funding_events: u64,
    /// Funding times passed without a rate.
    pub funding_skipped: u64,
    /// Failed state saves (each one alerted).
    pub state_save_failures: u64,
    /// Decision counts by outcome and blocking gate ("why no trade").
    pub decisions: BTreeMap<String, u64>,
    /// The run directory.
    pub run_dir: String,
    /// The resolved configuration of the run (for the report and its fingerprint).
    pub config: serde_json::Value,
}
