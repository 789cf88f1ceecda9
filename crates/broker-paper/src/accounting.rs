//! Position accounting: FIFO lots, average entry, realized PnL net of fees, the R multiple,
//! and the equity statistics (peak equity, max drawdown).
//!
//! Linear (USDT-margined) contracts: PnL = sign × (exit − entry) × qty, summed lot by lot so
//! the result does not depend on how an entry was split into fills. Fees are exact `Decimal`
//! products (`price × qty × rate`, never rounded), so with the scales that
//! [`crate::InstrumentSpec::validate`] allows, every figure here is exact.

use la_core::{Position, Price, Qty, Side};
use rust_decimal::Decimal;

use crate::{
    config::TrailingConfig,
    error::BrokerError,
    margin::Totals,
    state::{Counters, IsolatedMargin, LotState, PositionState},
};

/// Turns a failed checked operation into an invariant breach (never a panic).
pub(crate) fn checked(value: Option<Decimal>, what: &str) -> Result<Decimal, BrokerError> {
    value.ok_or_else(|| BrokerError::InvariantBreach(format!("arithmetic overflow in {what}")))
}

/// `price × qty × rate`: the fee of one fill.
pub(crate) fn fee_of(price: Price, qty: Qty, rate: Decimal) -> Result<Decimal, BrokerError> {
    let notional = checked(price.get().checked_mul(qty.get()), "notional")?;
    checked(notional.checked_mul(rate), "fee")
}

/// Values derived from the lots, recomputed whenever the lots change so the tick path only
/// compares numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PositionCache {
    /// Σ lot qty.
    pub(crate) qty: Decimal,
    /// Σ lot price × qty.
    pub(crate) cost: Decimal,
    /// Σ lot entry fees.
    pub(crate) entry_fees: Decimal,
    /// Σ |lot price − initial stop| × qty: the initial risk of the whole position.
    pub(crate) risk_total: Decimal,
    /// Price at which the trailing stop activates (None: no trailing configured).
    pub(crate) activation_price: Option<Decimal>,
    /// Distance the trailing stop keeps from the best price.
    pub(crate) trail_distance: Decimal,
}

/// The open position: its persisted state, its isolated margin (also kept in
/// `state.isolated`, which is always `Some` at run time) and the derived cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OpenPosition {
    pub(crate) state: PositionState,
    pub(crate) isolated: IsolatedMargin,
    pub(crate) cache: PositionCache,
}

impl OpenPosition {
    /// Wraps a state carrying its isolated margin, computing the cache.
    ///
    /// # Errors
    /// [`BrokerError::InvariantBreach`] when `state.isolated` is missing (a schema-1 state
    /// must be migrated first) or the totals overflow.
    pub(crate) fn from_state(
        state: PositionState,
        trailing: Option<TrailingConfig>,
    ) -> Result<Self, BrokerError> {
        let isolated = state.isolated.ok_or_else(|| {
            BrokerError::InvariantBreach(format!(
                "position {} has no isolated margin",
                state.client_order_id
            ))
        })?;
        let mut position = Self {
            state,
            isolated,
            cache: PositionCache::default(),
        };
        position.recompute(trailing)?;
        Ok(position)
    }

    /// Appends a lot (a further partial fill) with the margin repriced for the grown
    /// position, and refreshes the cache.
    pub(crate) fn add_lot(
        &mut self,
        lot: LotState,
        isolated: IsolatedMargin,
        trailing: Option<TrailingConfig>,
    ) -> Result<(), BrokerError> {
        self.state.lots.push(lot);
        self.isolated = isolated;
        self.state.isolated = Some(isolated);
        self.recompute(trailing)
    }

    /// The totals the isolated margin is priced from.
    pub(crate) fn totals(&self) -> Totals {
        Totals {
            cost: self.cache.cost,
            qty: self.cache.qty,
            entry_fees: self.cache.entry_fees,
        }
    }

    fn recompute(&mut self, trailing: Option<TrailingConfig>) -> Result<(), BrokerError> {
        let totals = totals_of(&self.state.lots)?;
        let mut cache = PositionCache {
            qty: totals.qty,
            cost: totals.cost,
            entry_fees: totals.entry_fees,
            ..PositionCache::default()
        };
        let stop = self.state.initial_stop.get();
        for lot in &self.state.lots {
            let risk = checked(
                (lot.price.get() - stop).abs().checked_mul(lot.qty.get()),
                "risk",
            )?;
            cache.risk_total = checked(cache.risk_total.checked_add(risk), "risk total")?;
        }
        if let Some(trailing) = trailing
            && !cache.qty.is_zero()
        {
            let avg = checked(cache.cost.checked_div(cache.qty), "average entry")?;
            let r = (avg - stop).abs();
            let sign = self.state.side.sign();
            let activation = checked(trailing.activation_r.checked_mul(r), "activation")?;
            cache.activation_price = Some(checked(
                avg.checked_add(sign * activation),
                "activation price",
            )?);
            cache.trail_distance = checked(trailing.distance_r.checked_mul(r), "trail distance")?;
        }
        self.cache = cache;
        Ok(())
    }

    /// Quantity-weighted average entry (not rounded to the tick).
    pub(crate) fn avg_entry(&self) -> Decimal {
        self.cache
            .cost
            .checked_div(self.cache.qty)
            .unwrap_or(Decimal::ZERO)
    }

    /// The read-only view for [`la_core::Broker::position`].
    pub(crate) fn view(&self) -> Option<Position> {
        Some(Position {
            side: self.state.side,
            qty: Qty::new(self.cache.qty).ok()?,
            avg_entry: self.avg_entry(),
            stop_loss: self.state.stop,
            take_profit: self.state.take_profit,
            opened_at: self.state.opened_at,
            client_order_id: self.state.client_order_id.clone(),
            leverage: self.isolated.leverage,
            margin: self.isolated.margin,
            liquidation_price: self.isolated.liquidation_price,
        })
    }
}

/// Σ qty, Σ price × qty and Σ entry fees of `lots`.
pub(crate) fn totals_of(lots: &[LotState]) -> Result<Totals, BrokerError> {
    lots.iter().try_fold(Totals::ZERO, |totals, lot| {
        totals.grow(lot.price, lot.qty, lot.fee).ok_or_else(|| {
            BrokerError::InvariantBreach("arithmetic overflow in position totals".to_owned())
        })
    })
}

/// What closing (part of) a position realized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Realized {
    /// Quantity closed.
    pub(crate) qty: Decimal,
    /// Σ sign × (exit − lot price) × lot qty.
    pub(crate) gross: Decimal,
    /// Entry fees of the consumed quantity.
    pub(crate) entry_fees: Decimal,
    /// Σ lot price × qty of the consumed quantity (for the average entry).
    pub(crate) cost: Decimal,
    /// Σ |lot price − initial stop| × qty of the consumed quantity.
    pub(crate) risk: Decimal,
}

/// Consumes `qty` from the front of `lots` (FIFO) at `exit`, splitting the last lot touched.
///
/// A split lot's fee is allocated pro rata; the remainder keeps `fee − allocated`, so the
/// total fee is preserved exactly even if the allocation itself rounds.
pub(crate) fn realize_fifo(
    lots: &mut Vec<LotState>,
    side: Side,
    initial_stop: Price,
    exit: Price,
    qty: Decimal,
) -> Result<Realized, BrokerError> {
    let mut out = Realized {
        qty: Decimal::ZERO,
        gross: Decimal::ZERO,
        entry_fees: Decimal::ZERO,
        cost: Decimal::ZERO,
        risk: Decimal::ZERO,
    };
    let mut left = qty;
    let mut consumed = 0usize;
    for lot in lots.iter_mut() {
        if left <= Decimal::ZERO {
            break;
        }
        let take = left.min(lot.qty.get());
        let fee = if take == lot.qty.get() {
            consumed += 1;
            lot.fee
        } else {
            let part = checked(
                lot.fee
                    .checked_mul(take)
                    .and_then(|f| f.checked_div(lot.qty.get())),
                "fee allocation",
            )?;
            let rest_qty = Qty::new(lot.qty.get() - take)
                .map_err(|e| BrokerError::InvariantBreach(format!("lot split: {e}")))?;
            lot.qty = rest_qty;
            lot.fee -= part;
            part
        };
        let move_ = exit.get() - lot.price.get();
        let gross = checked((side.sign() * move_).checked_mul(take), "gross pnl")?;
        out.gross = checked(out.gross.checked_add(gross), "gross pnl")?;
        out.entry_fees = checked(out.entry_fees.checked_add(fee), "entry fees")?;
        let cost = checked(lot.price.get().checked_mul(take), "cost")?;
        out.cost = checked(out.cost.checked_add(cost), "cost")?;
        let risk = checked(
            (lot.price.get() - initial_stop.get())
                .abs()
                .checked_mul(take),
            "risk",
        )?;
        out.risk = checked(out.risk.checked_add(risk), "risk")?;
        out.qty += take;
        left -= take;
    }
    if left > Decimal::ZERO {
        return Err(BrokerError::InvariantBreach(format!(
            "asked to close {qty} but the lots hold only {}",
            out.qty
        )));
    }
    lots.drain(..consumed);
    Ok(out)
}

/// Updates trade counters and the equity curve statistics after a realized change.
pub(crate) fn record_trade(counters: &mut Counters, pnl_net: Decimal) {
    counters.trades += 1;
    if pnl_net > Decimal::ZERO {
        counters.wins += 1;
    } else if pnl_net < Decimal::ZERO {
        counters.losses += 1;
    } else {
        counters.breakeven += 1;
    }
}

/// Peak equity and max drawdown on realized equity, after each exit or funding settlement.
pub(crate) fn record_equity(counters: &mut Counters, equity: Decimal) {
    if equity > counters.peak_equity {
        counters.peak_equity = equity;
    }
    let drawdown = counters.peak_equity - equity;
    if drawdown > counters.max_drawdown {
        counters.max_drawdown = drawdown;
    }
    if counters.peak_equity > Decimal::ZERO
        && let Some(frac) = drawdown.checked_div(counters.peak_equity)
        && frac > counters.max_drawdown_frac
    {
        counters.max_drawdown_frac = frac;
    }
}

/// Checks the lots agree with the cached totals and the position's own rules.
pub(crate) fn check_position(position: &OpenPosition) -> Result<(), BrokerError> {
    let breach = |msg: String| Err(BrokerError::InvariantBreach(msg));
    let state = &position.state;
    if state.lots.is_empty() {
        return breach(format!("position {} has no lots", state.client_order_id));
    }
    let sum: Decimal = state.lots.iter().map(|lot| lot.qty.get()).sum();
    if sum != position.cache.qty {
        return breach(format!(
            "position qty {} != Σ lots {sum}",
            position.cache.qty
        ));
    }
    for lot in &state.lots {
        let stop_ok = match state.side {
            Side::Long => state.initial_stop < lot.price,
            Side::Short => state.initial_stop > lot.price,
        };
        if !stop_ok {
            return breach(format!(
                "{} lot at {} has its initial stop {} on the wrong side",
                state.side, lot.price, state.initial_stop
            ));
        }
    }
    // A trailed stop may pass the entry, but never moves against the trader.
    let stop_ok = match state.side {
        Side::Long => state.stop >= state.initial_stop,
        Side::Short => state.stop <= state.initial_stop,
    };
    if !stop_ok {
        return breach(format!(
            "stop {} moved against the {} position (initial {})",
            state.stop, state.side, state.initial_stop
        ));
    }
    Ok(())
}
