//! The [`Broker`] trait and the [`BrokerEvent`]s a broker reports.
//!
//! A broker is a synchronous, deterministic state machine: the same inputs in the same
//! order give the same events, whether they come from a live feed or a backtest. Events are
//! appended to a caller-owned buffer so the tick path allocates nothing when nothing happens.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{
    margin::Leverage,
    market::{Candle, Tick},
    order::{ClientOrderId, ExitReason, Fill, OrderIntent, Position, Side},
    time::TimestampMs,
    value::{Price, Qty},
};

/// Why the broker refused an order. Each is logged and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderRejectReason {
    /// The client order id was already processed (or is in flight).
    DuplicateClientOrderId,
    /// A position is already open (one position at a time).
    PositionAlreadyOpen,
    /// Notional above the configured maximum.
    MaxNotional,
    /// Notional / equity above the maximum leverage.
    MaxLeverage,
    /// Loss at the stop above the per-trade risk cap.
    RiskCap,
    /// More orders in the last minute (event time) than allowed.
    OrdersPerMinute,
    /// The day's realized loss (event time, UTC day) is past the limit.
    DailyLossLimit,
    /// Quantity below the instrument minimum after rounding to the step.
    BelowMinQty,
    /// No price to fill a market order at.
    NoMarketPrice,
    /// The fill price would be beyond the stop (or the target) already.
    ProtectionCrossedAtFill,
    /// Trading is halted (invariant breach, circuit breaker, kill switch).
    TradingHalted,
    /// The order's initial margin (notional / leverage) exceeds the available balance
    /// (equity − margin in use − margin of the working order).
    InsufficientMargin,
    /// The order's leverage is above the broker's maximum, or so high that the position
    /// would be liquidated at its own entry.
    InvalidLeverage,
    /// The fill price lies outside the broker's coarse plausibility band around the order's
    /// decision price (defence in depth behind the session's price guard).
    ImplausiblePrice,
}

impl OrderRejectReason {
    /// Stable label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DuplicateClientOrderId => "duplicate_client_order_id",
            Self::PositionAlreadyOpen => "position_already_open",
            Self::MaxNotional => "max_notional",
            Self::MaxLeverage => "max_leverage",
            Self::RiskCap => "risk_cap",
            Self::OrdersPerMinute => "orders_per_minute",
            Self::DailyLossLimit => "daily_loss_limit",
            Self::BelowMinQty => "below_min_qty",
            Self::NoMarketPrice => "no_market_price",
            Self::ProtectionCrossedAtFill => "protection_crossed_at_fill",
            Self::TradingHalted => "trading_halted",
            Self::InsufficientMargin => "insufficient_margin",
            Self::InvalidLeverage => "invalid_leverage",
            Self::ImplausiblePrice => "implausible_price",
        }
    }
}

/// A closed (or partly closed) position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// The order that opened the position.
    pub client_order_id: ClientOrderId,
    /// Position direction.
    pub side: Side,
    /// Why it closed.
    pub reason: ExitReason,
    /// Average entry price.
    pub entry_price: Decimal,
    /// Exit price after slippage.
    pub exit_price: Price,
    /// Quantity closed.
    pub qty: Qty,
    /// Realized PnL net of entry and exit fees.
    pub pnl_net: Decimal,
    /// Entry plus exit fees.
    pub fees: Decimal,
    /// `pnl_net` divided by the initial risk (|entry − initial stop| × qty).
    pub r_multiple: Decimal,
    /// Time the position opened.
    pub opened_at: TimestampMs,
    /// Event time of the exit.
    pub ts: TimestampMs,
    /// The position's isolated leverage.
    pub leverage: Leverage,
    /// The position's liquidation price (what a [`ExitReason::Liquidation`] exit filled at).
    pub liquidation_price: Price,
    /// Funding the broker booked against this position while it was open (negative =
    /// paid; not part of `pnl_net`). Absent in journals written before it was recorded.
    #[serde(default)]
    pub funding: Decimal,
}

/// Everything a broker reports; the session journals each one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum BrokerEvent {
    /// A limit order is resting.
    OrderAccepted {
        /// The order.
        client_order_id: ClientOrderId,
        /// Event time.
        ts: TimestampMs,
    },
    /// An entry filled.
    Filled(Fill),
    /// A position closed.
    Exited(Exit),
    /// Funding was settled.
    FundingApplied {
        /// Settlement time (the idempotency key).
        funding_time: TimestampMs,
        /// Rate as a fraction.
        rate: Decimal,
        /// Mark price used for the notional.
        mark_price: Price,
        /// Signed cash flow to the account (negative = paid).
        amount: Decimal,
    },
    /// The order was refused.
    OrderRejected {
        /// The order.
        client_order_id: ClientOrderId,
        /// Why.
        reason: OrderRejectReason,
        /// Event time.
        ts: TimestampMs,
    },
    /// A resting order was cancelled.
    OrderCancelled {
        /// The order.
        client_order_id: ClientOrderId,
        /// Event time.
        ts: TimestampMs,
    },
    /// The trailing stop became active.
    TrailingActivated {
        /// The position's order.
        client_order_id: ClientOrderId,
        /// The new stop.
        stop: Price,
        /// Event time.
        ts: TimestampMs,
    },
}

/// A simulated (or, one day, real) execution venue.
pub trait Broker {
    /// The broker's error type: unrecoverable conditions such as an invariant breach.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Submits an entry order at event time `now`. Rejections are events, not errors.
    ///
    /// # Errors
    /// Only for conditions that must halt trading.
    fn submit(
        &mut self,
        order: OrderIntent,
        now: TimestampMs,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), Self::Error>;

    /// Processes a tick: stop, target and trailing checks on every tick, resting limits.
    ///
    /// # Errors
    /// Only for conditions that must halt trading.
    fn on_tick(&mut self, tick: &Tick, events: &mut Vec<BrokerEvent>) -> Result<(), Self::Error>;

    /// Processes a closed candle: intrabar exits, bars-open counting, resting limits.
    ///
    /// # Errors
    /// Only for conditions that must halt trading.
    fn on_candle(
        &mut self,
        candle: &Candle,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), Self::Error>;

    /// Settles funding for `funding_time` at `rate` (fraction) and `mark_price`.
    /// Idempotent per `funding_time`.
    ///
    /// # Errors
    /// Only for conditions that must halt trading.
    fn apply_funding(
        &mut self,
        funding_time: TimestampMs,
        rate: Decimal,
        mark_price: Price,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), Self::Error>;

    /// Cancels every resting order.
    fn cancel_all(&mut self, now: TimestampMs, events: &mut Vec<BrokerEvent>);

    /// Closes any open position at `price` with `reason`.
    ///
    /// # Errors
    /// Only for conditions that must halt trading.
    fn close_position(
        &mut self,
        price: Price,
        now: TimestampMs,
        reason: ExitReason,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), Self::Error>;

    /// The open position, if any.
    fn position(&self) -> Option<Position>;

    /// Realized equity (starting balance + Σ realized net PnL + Σ funding).
    fn equity(&self) -> Decimal;
}
