//! [`BrokerStats`]: the run's trading statistics for reports and status output.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

/// Cumulative statistics (persisted in the state, so they survive restarts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BrokerStats {
    /// Closed trades.
    pub trades: u64,
    /// Trades with a positive net PnL.
    pub wins: u64,
    /// Trades with a negative net PnL.
    pub losses: u64,
    /// Trades with a net PnL of exactly zero.
    pub breakeven: u64,
    /// Σ net PnL of closed trades (fees included, funding excluded).
    pub realized_pnl: Decimal,
    /// Σ fees paid (entry fees at fill time, exit fees at exit).
    pub fees_paid: Decimal,
    /// Σ funding cash flows (negative = paid).
    pub funding_total: Decimal,
    /// Realized equity now.
    pub equity: Decimal,
    /// Highest realized equity.
    pub peak_equity: Decimal,
    /// Largest fall of realized equity from a peak (quote currency).
    pub max_drawdown: Decimal,
    /// The same as a fraction of that peak.
    pub max_drawdown_frac: Decimal,
    /// Candles with both stop and target inside the range (stop assumed first).
    pub ambiguous_bars: u64,
    /// Rejected orders by reason label.
    pub rejected_orders: BTreeMap<String, u64>,
    /// Ticks for another symbol that were ignored.
    pub ignored_ticks: u64,
    /// Funding settlements refused because the rate failed the sanity bound.
    pub funding_skipped: u64,
    /// Positions closed by liquidation (also counted in `trades`).
    pub liquidations: u64,
    /// Ticks, candles and forced closes refused for a price outside the coarse
    /// plausibility band.
    pub implausible_refused: u64,
}
