//! Orders and their outcomes: [`Side`], [`ClientOrderId`], [`OrderIntent`], [`Fill`],
//! [`Position`], [`ExitReason`].
//!
//! Every order carries a stop-loss: the broker refuses to hold a position without one.
//! `OrderIntent::new` checks the stop and the optional take-profit against a reference entry
//! price for the order's side, so a take-profit on the wrong side (which the Python
//! program accepted) cannot even be expressed.

use std::{fmt, str::FromStr};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{
    error::{DataError, RejectReason},
    margin::Leverage,
    time::TimestampMs,
    value::{Price, Qty},
};

/// Direction of an entry order and of the position it opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Buy to open; profits when the price rises.
    Long,
    /// Sell to open; profits when the price falls.
    Short,
}

impl Side {
    /// `+1` for long, `-1` for short: PnL = sign × (exit − entry) × qty.
    pub fn sign(self) -> Decimal {
        match self {
            Self::Long => Decimal::ONE,
            Self::Short => Decimal::NEGATIVE_ONE,
        }
    }
    /// The other side.
    pub const fn opposite(self) -> Self {
        match self {
            Self::Long => Self::Short,
            Self::Short => Self::Long,
        }
    }
    /// Stable label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Long => "long",
            Self::Short => "short",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest accepted client order id.
pub const MAX_CLIENT_ORDER_ID_LEN: usize = 64;

/// A caller-chosen order id, the key of idempotency: one id fills at most once, ever.
/// 1..=64 characters of `A-Za-z0-9`, `-`, `_`, `.`, `:`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientOrderId(String);

impl ClientOrderId {
    /// Validates an id.
    ///
    /// # Errors
    /// `InvalidClientOrderId` when empty, too long or containing other characters.
    pub fn new(text: &str) -> Result<Self, DataError> {
        let ok = !text.is_empty()
            && text.len() <= MAX_CLIENT_ORDER_ID_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(DataError::new(
                "client_order_id",
                RejectReason::InvalidClientOrderId,
                text,
            ))
        }
    }
    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ClientOrderId {
    type Err = DataError;
    fn from_str(text: &str) -> Result<Self, DataError> {
        Self::new(text)
    }
}

impl TryFrom<String> for ClientOrderId {
    type Error = DataError;
    fn try_from(text: String) -> Result<Self, DataError> {
        Self::new(&text)
    }
}

impl From<ClientOrderId> for String {
    fn from(id: ClientOrderId) -> String {
        id.0
    }
}

/// How an order is priced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OrderKind {
    /// Fill now at the touch (ask for longs, bid for shorts), plus modelled slippage.
    Market,
    /// Rest until the market touches `price`.
    Limit {
        /// The limit price.
        price: Price,
    },
}

/// A request to open a position, with its protective stop, optional target and the isolated
/// leverage the position is to carry.
///
/// Invariants: long → `stop_loss < entry_reference` and `take_profit > entry_reference`;
/// short → the mirror. `entry_reference` is the limit price for limit orders and the price
/// the decision was made at for market orders; the broker re-checks against the real fill.
/// `leverage` is always a valid [`Leverage`]; whether the venue accepts it (its maximum, the
/// margin it needs) is the broker's decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderIntent {
    client_order_id: ClientOrderId,
    side: Side,
    kind: OrderKind,
    qty: Qty,
    entry_reference: Price,
    stop_loss: Price,
    take_profit: Option<Price>,
    leverage: Leverage,
}

/// The parts of an order, each named, for [`OrderIntent::new`]. Every field is required (a
/// struct literal cannot leave out the stop or the leverage), and nothing is checked until
/// `OrderIntent::new` checks the whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderSpec {
    /// The idempotency key.
    pub client_order_id: ClientOrderId,
    /// Entry direction.
    pub side: Side,
    /// Market or limit.
    pub kind: OrderKind,
    /// Requested quantity.
    pub qty: Qty,
    /// The price the decision was made at (market orders); ignored for a limit order, whose
    /// limit price is used instead.
    pub entry_reference: Price,
    /// Mandatory protective stop.
    pub stop_loss: Price,
    /// Optional take-profit.
    pub take_profit: Option<Price>,
    /// The leverage the position is opened at.
    pub leverage: Leverage,
}

impl OrderIntent {
    /// Builds an order from its parts, checking the stop and target sides.
    ///
    /// For a limit order `entry_reference` is ignored and the limit price is used.
    ///
    /// # Errors
    /// `StopOnWrongSide` or `TakeProfitOnWrongSide`.
    pub fn new(spec: OrderSpec) -> Result<Self, DataError> {
        let OrderSpec {
            client_order_id,
            side,
            kind,
            qty,
            entry_reference,
            stop_loss,
            take_profit,
            leverage,
        } = spec;
        let entry = match kind {
            OrderKind::Market => entry_reference,
            OrderKind::Limit { price } => price,
        };
        check_protection_sides(side, entry, stop_loss, take_profit)?;
        Ok(Self {
            client_order_id,
            side,
            kind,
            qty,
            entry_reference: entry,
            stop_loss,
            take_profit,
            leverage,
        })
    }

    /// The idempotency key.
    pub fn client_order_id(&self) -> &ClientOrderId {
        &self.client_order_id
    }
    /// Entry direction.
    pub const fn side(&self) -> Side {
        self.side
    }
    /// Market or limit.
    pub const fn kind(&self) -> OrderKind {
        self.kind
    }
    /// Requested quantity.
    pub const fn qty(&self) -> Qty {
        self.qty
    }
    /// The price the stop and target were validated against.
    pub const fn entry_reference(&self) -> Price {
        self.entry_reference
    }
    /// Protective stop (mandatory).
    pub const fn stop_loss(&self) -> Price {
        self.stop_loss
    }
    /// Profit target, if any.
    pub const fn take_profit(&self) -> Option<Price> {
        self.take_profit
    }
    /// The isolated leverage of the position it opens (initial margin = notional / this).
    pub const fn leverage(&self) -> Leverage {
        self.leverage
    }
}

/// Checks `stop_loss` and `take_profit` lie on the correct sides of `entry` for `side`.
///
/// # Errors
/// `StopOnWrongSide` or `TakeProfitOnWrongSide`.
pub fn check_protection_sides(
    side: Side,
    entry: Price,
    stop_loss: Price,
    take_profit: Option<Price>,
) -> Result<(), DataError> {
    let stop_ok = match side {
        Side::Long => stop_loss < entry,
        Side::Short => stop_loss > entry,
    };
    if !stop_ok {
        return Err(DataError::new(
            "stop_loss",
            RejectReason::StopOnWrongSide,
            format_args!("{side} entry {entry} stop {stop_loss}"),
        ));
    }
    if let Some(target) = take_profit {
        let target_ok = match side {
            Side::Long => target > entry,
            Side::Short => target < entry,
        };
        if !target_ok {
            return Err(DataError::new(
                "take_profit",
                RejectReason::TakeProfitOnWrongSide,
                format_args!("{side} entry {entry} target {target}"),
            ));
        }
    }
    Ok(())
}

/// An executed (possibly partial) entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// The order that filled.
    pub client_order_id: ClientOrderId,
    /// Entry direction.
    pub side: Side,
    /// Execution price, after slippage.
    pub price: Price,
    /// Filled quantity.
    pub qty: Qty,
    /// Fee paid (quote currency; negative would be a rebate).
    pub fee: Decimal,
    /// Whether this was a maker (resting limit) fill.
    pub maker: bool,
    /// Event time.
    pub ts: TimestampMs,
}

/// Why a position was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    /// Stop-loss crossed by a tick.
    StopLoss,
    /// Take-profit crossed by a tick.
    TakeProfit,
    /// Trailing stop crossed.
    TrailingStop,
    /// Stop-loss on a candle (including gap-through fills at the open).
    CandleStopLoss,
    /// Both stop and target inside one bar: the stop is assumed first (conservative).
    CandleAmbiguousStop,
    /// Take-profit on a candle.
    CandleTakeProfit,
    /// Held for the maximum number of bars.
    MaxBarsOpen,
    /// Closed by the session at shutdown.
    ForceClose,
    /// Closed at the last close when a backtest's data ran out.
    EndOfData,
    /// The isolated margin no longer covered the maintenance margin: closed at the
    /// liquidation price with the liquidation fee.
    Liquidation,
}

impl ExitReason {
    /// Stable label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StopLoss => "stop_loss",
            Self::TakeProfit => "take_profit",
            Self::TrailingStop => "trailing_stop",
            Self::CandleStopLoss => "candle_stop_loss",
            Self::CandleAmbiguousStop => "candle_ambiguous_stop",
            Self::CandleTakeProfit => "candle_take_profit",
            Self::MaxBarsOpen => "max_bars_open",
            Self::ForceClose => "force_close",
            Self::EndOfData => "end_of_data",
            Self::Liquidation => "liquidation",
        }
    }
}

/// A read-only view of the open position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Direction.
    pub side: Side,
    /// Total open quantity (Σ lots).
    pub qty: Qty,
    /// Quantity-weighted average entry price (not rounded to the tick).
    pub avg_entry: Decimal,
    /// Current protective stop (may have been trailed).
    pub stop_loss: Price,
    /// Profit target, if any.
    pub take_profit: Option<Price>,
    /// Time of the first fill.
    pub opened_at: TimestampMs,
    /// The order that opened it.
    pub client_order_id: ClientOrderId,
    /// Isolated leverage.
    pub leverage: Leverage,
    /// Isolated margin posted (quote currency): entry notional / leverage, the most the
    /// position can lose.
    pub margin: Decimal,
    /// Price at which the position is liquidated (computed at entry, see [`crate::margin`]).
    pub liquidation_price: Price,
}

impl Position {
    /// Unrealized PnL at `price` (linear contract), before exit fees.
    pub fn unrealized_pnl(&self, price: Price) -> Decimal {
        self.side.sign() * (price.get() - self.avg_entry) * self.qty.get()
    }
}
