//! Isolated margin in the broker: pricing a position's [`IsolatedMargin`] at submit and at
//! every entry fill (refusing a leverage that cannot be held or a margin that does not fit),
//! the available balance an order's margin must fit in, and the invariant check of a
//! position's margin and liquidation price.
//!
//! The formula itself (margin = notional / leverage, the liquidation price, how fees enter)
//! lives in `la_core::margin`, shared with the strategy's sizing; this file applies it to the
//! broker's lots and grid. Funding is settled against the account balance, not the isolated
//! margin, so it never moves a liquidation price (documented in the crate's rules).

use std::cell::Cell;

use la_core::{
    BrokerEvent, Leverage, MarginInputs, MarginRates, OrderRejectReason, Price, Qty, Side,
    TimestampMs, margin,
};
use rust_decimal::Decimal;

use crate::{
    PaperBroker,
    accounting::{OpenPosition, checked, fee_of},
    error::BrokerError,
    state::{IsolatedMargin, WorkingKind, WorkingOrderState},
};

/// The isolated margin of a position with these totals at `leverage`, or `None` when the
/// liquidation price would not lie strictly on the loss side of the average entry (or the
/// arithmetic overflows): such a leverage cannot be held.
pub(crate) fn price_isolated(
    side: Side,
    inputs: Totals,
    leverage: Leverage,
    rates: &MarginRates,
    tick_size: Decimal,
) -> Option<IsolatedMargin> {
    let margin = margin::initial_margin(inputs.cost, leverage)?;
    let liquidation_price = rates.liquidation_price(
        side,
        &MarginInputs {
            cost: inputs.cost,
            qty: inputs.qty,
            entry_fees: inputs.entry_fees,
            margin,
        },
        tick_size,
    )?;
    let entry = inputs.cost.checked_div(inputs.qty)?;
    margin::is_on_loss_side(side, entry, liquidation_price).then_some(IsolatedMargin {
        leverage,
        margin,
        liquidation_price,
        rates: *rates,
    })
}

/// Position totals the margin is priced from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Totals {
    /// Σ lot price × qty.
    pub(crate) cost: Decimal,
    /// Σ lot qty.
    pub(crate) qty: Decimal,
    /// Σ lot entry fees.
    pub(crate) entry_fees: Decimal,
}

impl Totals {
    /// No lots.
    pub(crate) const ZERO: Totals = Totals {
        cost: Decimal::ZERO,
        qty: Decimal::ZERO,
        entry_fees: Decimal::ZERO,
    };

    /// These totals with one more lot of `qty` at `price` paying `fee` (`None` on overflow).
    pub(crate) fn grow(self, price: Price, qty: Qty, fee: Decimal) -> Option<Totals> {
        Some(Totals {
            cost: self.cost.checked_add(price.get().checked_mul(qty.get())?)?,
            qty: self.qty.checked_add(qty.get())?,
            entry_fees: self.entry_fees.checked_add(fee)?,
        })
    }
}

/// The net loss (positive; negative for a gain) a full close of a position with `totals` at
/// `price` with fee rate `fee_rate` books: gross loss + entry fees + exit fee.
pub(crate) fn loss_at(
    side: Side,
    totals: Totals,
    price: Decimal,
    fee_rate: Decimal,
) -> Result<Decimal, BrokerError> {
    let value = checked(price.checked_mul(totals.qty), "exit value")?;
    let gross = side.sign() * (value - totals.cost);
    let exit_fee = checked(value.checked_mul(fee_rate), "exit fee")?;
    Ok(totals.entry_fees + exit_fee - gross)
}

/// The isolated-margin promise for a position with `totals`: closed at its liquidation price
/// with its liquidation fee, it loses no more than its margin. `Err` says by how much not.
pub(crate) fn check_loss_bound(
    side: Side,
    totals: Totals,
    isolated: &IsolatedMargin,
) -> Result<(), String> {
    let loss = loss_at(
        side,
        totals,
        isolated.liquidation_price.get(),
        isolated.rates.liquidation_fee_rate(),
    )
    .map_err(|err| err.to_string())?;
    if loss > isolated.margin {
        return Err(format!(
            "a close at the liquidation price {} loses {loss}, more than the margin {}",
            isolated.liquidation_price, isolated.margin
        ));
    }
    Ok(())
}

/// Checks a position's isolated margin: mirrored in its state; exactly what its lots,
/// leverage and rates give (`margin == cost / leverage`, the liquidation price the formula's,
/// so on the tick grid and on the loss side of the average entry); and the isolated-margin
/// promise — closed at its liquidation price with its liquidation fee, the position loses no
/// more than its margin.
pub(crate) fn check_isolated(
    position: &OpenPosition,
    tick_size: Decimal,
    passed: &Cell<Option<MarginCheckInputs>>,
) -> Result<(), BrokerError> {
    let breach = |msg: String| Err(BrokerError::InvariantBreach(msg));
    let isolated = &position.isolated;
    let id = &position.state.client_order_id;
    if position.state.isolated != Some(*isolated) {
        return breach(format!(
            "position {id}: isolated margin not mirrored in its state"
        ));
    }
    let inputs = MarginCheckInputs::of(position, tick_size);
    if passed.get() == Some(inputs) {
        return Ok(());
    }
    let recomputed = price_isolated(
        position.state.side,
        position.totals(),
        isolated.leverage,
        &isolated.rates,
        tick_size,
    );
    if recomputed != Some(*isolated) {
        return breach(format!(
            "position {id}: isolated margin {isolated:?} is not what its lots, leverage and \
             rates give ({recomputed:?})"
        ));
    }
    check_loss_bound(position.state.side, position.totals(), isolated)
        .map_err(|reason| BrokerError::InvariantBreach(format!("position {id}: {reason}")))?;
    passed.set(Some(inputs));
    Ok(())
}

/// Everything [`check_isolated`]'s pricing and loss bound are computed from, each `Decimal`
/// by its exact representation (mantissa and scale, not only its value): the check is a
/// pure function of these, so inputs it already passed pass again and are not priced again.
/// A position is checked after every bar it is held; its margin inputs change only when a
/// lot is added, so most checks compare these instead of repricing (~3,000 instructions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MarginCheckInputs {
    side: Side,
    leverage: Leverage,
    /// Cost, quantity and entry fees of the lots; the margin and liquidation price; the
    /// maintenance and liquidation-fee rates; the tick size.
    decimals: [[u8; 16]; 8],
}

impl MarginCheckInputs {
    fn of(position: &OpenPosition, tick_size: Decimal) -> Self {
        let (totals, isolated) = (position.totals(), &position.isolated);
        Self {
            side: position.state.side,
            leverage: isolated.leverage,
            decimals: [
                totals.cost,
                totals.qty,
                totals.entry_fees,
                isolated.margin,
                isolated.liquidation_price.get(),
                isolated.rates.maintenance_margin_rate(),
                isolated.rates.liquidation_fee_rate(),
                tick_size,
            ]
            .map(|d| d.serialize()),
        }
    }
}

/// One entry fill, priced and margined, ready to book.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EntryFill {
    pub(crate) price: Price,
    pub(crate) qty: Qty,
    pub(crate) maker: bool,
    pub(crate) fee: Decimal,
    /// The position's isolated margin once this fill is booked.
    pub(crate) isolated: IsolatedMargin,
}

impl PaperBroker {
    /// Margin reserved by the working order: its remaining quantity at its reference price
    /// (limit price, or the decision price of a market order) over its leverage. A remainder
    /// of the open position reserves nothing extra: its fills are checked when they happen.
    fn working_margin(&self) -> Decimal {
        let Some(working) = &self.working else {
            return Decimal::ZERO;
        };
        if self
            .position
            .as_ref()
            .is_some_and(|p| p.state.client_order_id == working.client_order_id)
        {
            return Decimal::ZERO;
        }
        reserved_margin(working).unwrap_or(Decimal::ZERO)
    }

    /// Realized equity minus the isolated margin in use (the open position's) minus the
    /// margin the working order reserves. Negative when funding losses ate into margin.
    pub fn available_balance(&self) -> Decimal {
        let in_use = self
            .position
            .as_ref()
            .map_or(Decimal::ZERO, |p| p.isolated.margin);
        self.balance - in_use - self.working_margin()
    }

    /// The submit-time margin checks of an entry of `qty` expected to fill at `expected`
    /// paying `entry_fee_rate`: the leverage within `max_leverage` (1× is always allowed)
    /// and holdable (a liquidation price on the loss side of the fill), and the initial
    /// margin within the available balance.
    pub(crate) fn check_order_margin(
        &self,
        side: Side,
        expected: Price,
        qty: Qty,
        entry_fee_rate: Decimal,
        leverage: Leverage,
    ) -> Result<(), OrderRejectReason> {
        use OrderRejectReason as R;
        if leverage.as_decimal() > self.config.max_leverage.max(Decimal::ONE) {
            return Err(R::InvalidLeverage);
        }
        let notional = expected
            .get()
            .checked_mul(qty.get())
            .ok_or(R::MaxNotional)?;
        let totals = Totals {
            cost: notional,
            qty: qty.get(),
            entry_fees: notional.checked_mul(entry_fee_rate).ok_or(R::MaxNotional)?,
        };
        let isolated = price_isolated(
            side,
            totals,
            leverage,
            &self.config.margin,
            self.config.spec.tick_size,
        )
        .ok_or(R::InvalidLeverage)?;
        if isolated.margin > self.available_balance() {
            return Err(R::InsufficientMargin);
        }
        Ok(())
    }

    /// Prices the isolated margin the position will have once `qty` more fills at `price`
    /// with `fee`: refused when the leverage cannot be held at this fill or the position's
    /// margin would exceed the realized equity (the working order's own reservation is what
    /// this fill uses).
    pub(crate) fn margin_for_fill(
        &self,
        working: &WorkingOrderState,
        price: Price,
        qty: Qty,
        fee: Decimal,
    ) -> Result<IsolatedMargin, OrderRejectReason> {
        use OrderRejectReason as R;
        let leverage = working.leverage.ok_or(R::InvalidLeverage)?;
        let held = self
            .position
            .as_ref()
            .map_or(Totals::ZERO, OpenPosition::totals);
        let grown = held.grow(price, qty, fee).ok_or(R::InsufficientMargin)?;
        let isolated = price_isolated(
            working.side,
            grown,
            leverage,
            &self.config.margin,
            self.config.spec.tick_size,
        )
        .ok_or(R::InvalidLeverage)?;
        if isolated.margin > self.balance {
            return Err(R::InsufficientMargin);
        }
        Ok(isolated)
    }

    /// Prices and margins one entry fill; a refusal rejects the working order (its id becomes
    /// processed) and returns `None`.
    pub(crate) fn prepare_fill(
        &mut self,
        working: &WorkingOrderState,
        price: Price,
        qty: Qty,
        maker: bool,
        ts: TimestampMs,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<Option<EntryFill>, BrokerError> {
        let rate = if maker {
            self.config.spec.maker_fee
        } else {
            self.config.spec.taker_fee
        };
        let fee = fee_of(price, qty, rate)?;
        match self.margin_for_fill(working, price, qty, fee) {
            Ok(isolated) => Ok(Some(EntryFill {
                price,
                qty,
                maker,
                fee,
                isolated,
            })),
            Err(reason) => {
                tracing::warn!(
                    symbol = %self.config.spec.symbol,
                    client_order_id = %working.client_order_id,
                    fill = %price,
                    %qty,
                    balance = %self.balance,
                    "entry fill refused by the isolated-margin check"
                );
                self.reject(working.client_order_id.clone(), reason, ts, events, true);
                Ok(None)
            }
        }
    }
}

/// `remaining × reference / leverage` for a working order (`None`: no leverage recorded,
/// which only a not yet migrated schema-1 state can hold, or overflow).
fn reserved_margin(working: &WorkingOrderState) -> Option<Decimal> {
    let reference = match working.kind {
        WorkingKind::InFlightMarket {
            entry_reference, ..
        } => entry_reference,
        WorkingKind::RestingLimit { price, .. } => price,
    };
    let notional = reference.get().checked_mul(working.remaining.get())?;
    margin::initial_margin(notional, working.leverage?)
}
