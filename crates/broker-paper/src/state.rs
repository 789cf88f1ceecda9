//! The persisted shape of the broker, [`BrokerState`], versioned by `schema_version`.
//!
//! Everything needed to resume after a restart is here: balance and totals, the open
//! position with its FIFO lots and trailing state, the working order, the processed client
//! order ids (bounded), the order-rate window, the UTC-day baseline, settled funding times,
//! the jitter draw counter and the statistics counters. Market data (the latest tick, the last
//! candle) and the halt flag are deliberately not persisted: they are stale after a restart and
//! the session re-applies a halt itself (a persisted halt that never cleared stopped the
//! Python program's breaker for good).
//!
//! Every struct denies unknown fields, so a file from another schema is reported as corrupt
//! instead of being half-read.
//!
//! **Versions.** Schema 2 added isolated margin: the position's [`IsolatedMargin`]
//! (leverage, margin, liquidation price), the working order's leverage and the
//! `liquidations` counter. Those fields are optional in the serde shape only so that a
//! schema-1 file still *parses* and reaches
//! [`PaperBroker::from_state`](crate::PaperBroker::from_state), which migrates it (see there) instead of the file being
//! quarantined as corrupt; in a schema-2 state they are required, and a missing one is a
//! typed error naming the field.

use std::collections::BTreeMap;

use la_core::{
    BrokerEvent, ClientOrderId, Leverage, MarginRates, Price, Qty, Side, Symbol, TimestampMs,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 2;

/// The one older schema [`crate::PaperBroker::from_state`] migrates: no margin fields.
pub const SCHEMA_VERSION_WITHOUT_MARGIN: u32 = 1;

/// A snapshot of the whole broker, for persistence and restore.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerState {
    /// Always [`SCHEMA_VERSION`] when written by this build.
    pub schema_version: u32,
    /// The instrument this account trades.
    pub symbol: Symbol,
    /// Balance the account started with.
    pub starting_balance: Decimal,
    /// Realized equity: `starting_balance + realized_net_total + funding_total`.
    pub balance: Decimal,
    /// Σ net PnL of closed trades (entry and exit fees included).
    pub realized_net_total: Decimal,
    /// Σ funding cash flows (negative = paid).
    pub funding_total: Decimal,
    /// Σ fees paid, entry fees counted at fill time.
    pub fees_paid: Decimal,
    /// The open position, if any.
    pub position: Option<PositionState>,
    /// The working entry order (in flight or resting), if any.
    pub working_order: Option<WorkingOrderState>,
    /// Processed client order ids, oldest first, at most `processed_id_retention`.
    pub processed_ids: Vec<ClientOrderId>,
    /// Event times of the submissions counted by the orders-per-minute window.
    pub recent_order_times: Vec<TimestampMs>,
    /// The current UTC day and its opening equity (daily loss limit).
    pub day: Option<DayState>,
    /// Settled funding times, oldest first (bounded, see `funding.rs`).
    pub funding_settled: Vec<TimestampMs>,
    /// Funding times at or before this were pruned from `funding_settled` and count as settled.
    pub funding_pruned_through: Option<TimestampMs>,
    /// How many jitter values were drawn (the generator is a pure function of seed and count).
    pub jitter_draws: u64,
    /// Statistics counters.
    pub counters: Counters,
    /// Events this state already reflects that its owner had not yet acknowledged when it
    /// was saved (a transactional outbox). The session sets it to the fill, exit or funding
    /// events it will journal right after the save, so they are saved in the same atomic
    /// write as the account they changed; a restart journals those the journal lacks. The
    /// broker itself never reads it; [`PaperBroker::state`](crate::PaperBroker::state)
    /// leaves it empty (and absent from the file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<BrokerEvent>,
}

/// One FIFO entry lot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LotState {
    /// Fill price.
    pub price: Price,
    /// Filled quantity.
    pub qty: Qty,
    /// Entry fee paid for this lot.
    pub fee: Decimal,
    /// Fill time.
    pub ts: TimestampMs,
}

/// The open position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionState {
    /// The order that opened it.
    pub client_order_id: ClientOrderId,
    /// Direction.
    pub side: Side,
    /// FIFO lots, oldest first; never empty.
    pub lots: Vec<LotState>,
    /// The stop at entry: defines R.
    pub initial_stop: Price,
    /// The current stop (trailing may have moved it).
    pub stop: Price,
    /// The target, if any.
    pub take_profit: Option<Price>,
    /// Time of the first fill.
    pub opened_at: TimestampMs,
    /// Closed candles the position has been open during.
    pub bars_open: u32,
    /// Whether the trailing stop is active.
    pub trailing_active: bool,
    /// Best (most favourable) price seen since entry.
    pub best_price: Decimal,
    /// Funding booked against this position so far (negative = paid); its exit carries it.
    /// Absent in a state saved before it was recorded (read as zero).
    #[serde(default)]
    pub funding: Decimal,
    /// Leverage, margin and liquidation price. Always present in schema 2; absent only in a
    /// schema-1 file (see the module docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolated: Option<IsolatedMargin>,
}

/// A position's isolated margin, fixed at its entry fills: the rates it was priced with
/// travel with it, so a later configuration change never moves an open position's
/// liquidation price or fee, and a restored liquidation price can be recomputed exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsolatedMargin {
    /// The order's leverage.
    pub leverage: Leverage,
    /// `Σ lot price × qty / leverage`: the most the position can lose.
    pub margin: Decimal,
    /// Where the position is liquidated (`la_core::margin`), on the tick grid.
    pub liquidation_price: Price,
    /// The maintenance margin and liquidation fee rates in force at entry.
    pub rates: MarginRates,
}

/// The working entry order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkingOrderState {
    /// Its client order id ("in flight": not yet processed).
    pub client_order_id: ClientOrderId,
    /// Direction.
    pub side: Side,
    /// Quantity still to fill (rounded to the step).
    pub remaining: Qty,
    /// Stop (rounded to the tick).
    pub stop: Price,
    /// Target (rounded to the tick).
    pub take_profit: Option<Price>,
    /// Submit time.
    pub submitted_at: TimestampMs,
    /// In flight or resting.
    pub kind: WorkingKind,
    /// The order's leverage. Always present in schema 2; absent only in a schema-1 file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leverage: Option<Leverage>,
}

/// What a working order is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum WorkingKind {
    /// A market order under simulated latency.
    InFlightMarket {
        /// First event time at which it may fill.
        due: TimestampMs,
        /// The decision price (for [`crate::MarketFillModel::DecisionPrice`]).
        entry_reference: Price,
    },
    /// A limit order resting until touched.
    RestingLimit {
        /// The limit price.
        price: Price,
        /// Whether this is the rest of a partially filled order (liquidity cap).
        remainder: bool,
    },
}

/// The UTC day the daily loss limit is measured in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayState {
    /// Days since the epoch (UTC), from event time.
    pub day_index: i64,
    /// Realized equity when the day was first seen.
    pub start_equity: Decimal,
}

/// Statistics counters (persisted, so a report after a restart is cumulative).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counters {
    /// Closed trades.
    pub trades: u64,
    /// Trades with `pnl_net > 0`.
    pub wins: u64,
    /// Trades with `pnl_net < 0`.
    pub losses: u64,
    /// Trades with `pnl_net == 0`.
    pub breakeven: u64,
    /// Candles where stop and target were both inside the range (stop assumed first).
    pub ambiguous_bars: u64,
    /// Highest realized equity.
    pub peak_equity: Decimal,
    /// Largest peak-to-trough fall of realized equity (quote currency).
    pub max_drawdown: Decimal,
    /// The same as a fraction of the peak.
    pub max_drawdown_frac: Decimal,
    /// Rejected orders by [`la_core::OrderRejectReason::as_str`].
    pub rejected_orders: BTreeMap<String, u64>,
    /// Ticks for another symbol that were ignored.
    pub ignored_ticks: u64,
    /// Funding calls refused because the rate was outside the sanity bound.
    pub funding_skipped: u64,
    /// Positions closed by liquidation (absent in schema-1 files: zero).
    #[serde(default)]
    pub liquidations: u64,
    /// Ticks, candles and forced closes refused because their price lay outside the coarse
    /// plausibility band (absent in older files: zero).
    #[serde(default)]
    pub implausible_refused: u64,
}
