//! Cost-aware sizing and price rounding: turns a setup's raw geometry (entry, stop, target)
//! into an [`OrderPlan`] that the exchange rules and `la_core::OrderIntent` accept, or into
//! the [`Gate`] that says why it cannot be placed.
//!
//! Rules, all in fractions (0.01 = 1 %), computed in exact `Decimal` arithmetic (this runs
//! only on candles with a setup, so its cost does not matter). `cost` is the per-unit
//! round-trip cost `entry × spec.round_trip_cost_frac` (fees and slippage of a market entry
//! and a stop exit, see [`SizingSpec`]):
//!
//! 1. The stop is rounded to the tick **away** from the entry and the target **toward** it,
//!    so rounding never adds risk or promises more reward.
//! 2. `risk = |entry − stop|` must be at least `min_stop_cost_multiple × cost`
//!    (`stop_too_close`): with a default multiple of 3, costs are at most a quarter of every
//!    loss. Tighter stops were the measured failure of the fee-blind sizing: a $50 stop on
//!    BTC at $60,000 is 0.08 % while a round trip costs 0.14 %, so the position was sized
//!    ~3× too large and every stop-out lost 2–3 R.
//! 3. The target must lie strictly on the profit side of the entry (`tp_wrong_side`
//!    otherwise; the reference's absolute-distance check let it pass).
//! 4. **Net** reward/risk `rr = (reward − cost) / (risk + cost)` (signed distances) must be at
//!    least `rr_min`: a target that barely covers the fees is not a 1.5 R trade.
//! 5. **Leverage** (isolated margin, formula in `la_core::margin`): the highest whole
//!    leverage `L ≤ max_leverage` (at least 1) whose liquidation price lies beyond the stop by
//!    more than one round-trip cost (`entry × round_trip_cost_frac`), computed for a fill at
//!    the entry paying half the round trip as its entry fee. The buffer absorbs the entry
//!    fill's and the stop exit's slippage, so the broker's liquidation price, computed from
//!    the actual fill, stays beyond the stop's actual fill: the stop always comes first on a
//!    continuous path, and the position is not liquidated in normal operation. When not even
//!    1× keeps the liquidation price beyond the stop, the order is refused
//!    (`liquidation_before_stop`).
//! 6. `qty = equity × risk_frac × size_mult / (risk + cost)`, using the rounded stop, capped
//!    at `equity × max_leverage / entry`, at `equity × L / (entry × (1 + round_trip_cost_frac))`
//!    (the isolated margin `notional / L` must fit the equity, with room for the fill's
//!    slippage) and at `max_notional / entry`, floored to `qty_step`; below `min_qty` or
//!    `min_notional` it is not placed. The loss at the stop **including the round-trip costs**
//!    is therefore at most `equity × risk_frac × size_mult` (as long as the stop fills at its
//!    level: a gap through it loses more), so a stop-out is about −1 R net of fees rather than
//!    −2 or −3 R.

use la_core::{
    Decimal, Leverage, MarginInputs, OrderKind, Price, Qty, Side,
    margin::{MAX_LEVERAGE, initial_margin},
};

use crate::decision::{Gate, Indicators, OrderPlan, SizingSpec, StrategyContext};

/// Where a setup wants to enter, stop out and take profit, before rounding.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    pub(crate) side: Side,
    /// `Market` (entry = `entry`, the close) or `Limit` (at `entry`, already on the tick).
    pub(crate) limit: bool,
    pub(crate) entry: Decimal,
    pub(crate) stop: Decimal,
    pub(crate) target: Option<Decimal>,
    pub(crate) setup: &'static str,
}

/// Account-level sizing limits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SizingRules {
    pub(crate) risk_frac: Decimal,
    pub(crate) max_leverage: Decimal,
    pub(crate) max_notional: Option<Decimal>,
    pub(crate) min_notional: Decimal,
    pub(crate) rr_min: Option<Decimal>,
    /// Smallest stop distance in multiples of the per-unit round-trip cost.
    pub(crate) min_stop_cost_multiple: Decimal,
}

/// Diagnostics of a sizing attempt, recorded in the decision whether or not it traded.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SizingNotes {
    /// Net reward/risk, when there is a target and it got that far.
    pub(crate) rr: Option<Decimal>,
    /// Stop distance / per-unit round-trip cost, when costs are non-zero.
    pub(crate) stop_cost_multiple: Option<Decimal>,
}

impl SizingNotes {
    /// Copies the notes into a decision's indicators.
    pub(crate) fn record(self, indicators: &mut Indicators) {
        indicators.rr = self.rr;
        indicators.stop_cost_multiple = self.stop_cost_multiple;
    }
}

/// A sized plan plus its diagnostics.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sized {
    pub(crate) plan: OrderPlan,
    pub(crate) notes: SizingNotes,
}

/// Why a geometry was not placed, plus the diagnostics gathered until then.
pub(crate) type Refusal = (Gate, SizingNotes);

/// Rounds `value` down (`up == false`) or up to a multiple of `step`.
pub(crate) fn round_to_step(value: Decimal, step: Decimal, up: bool) -> Option<Decimal> {
    let steps = value.checked_div(step)?;
    let whole = if up { steps.ceil() } else { steps.floor() };
    whole.checked_mul(step).map(|v| v.normalize())
}

/// Sizes and rounds `geometry`, recording the diagnostics gathered on the way (net
/// reward/risk, stop-cost multiple) in `indicators` whether or not it is placed; the error is
/// the [`Gate`] that blocks it.
pub(crate) fn size_order(
    geometry: &Geometry,
    rules: &SizingRules,
    ctx: &StrategyContext,
    size_mult: Decimal,
    indicators: &mut Indicators,
) -> Result<OrderPlan, Gate> {
    match size_geometry(geometry, rules, ctx, size_mult) {
        Ok(sized) => {
            sized.notes.record(indicators);
            Ok(sized.plan)
        }
        Err((gate, notes)) => {
            notes.record(indicators);
            Err(gate)
        }
    }
}

/// [`size_order`] without the recording.
fn size_geometry(
    geometry: &Geometry,
    rules: &SizingRules,
    ctx: &StrategyContext,
    size_mult: Decimal,
) -> Result<Sized, Refusal> {
    let mut notes = SizingNotes::default();
    let spec: &SizingSpec = &ctx.spec;
    if !spec.is_valid() {
        return Err((Gate::InvalidSpec, notes));
    }
    if ctx.equity <= Decimal::ZERO {
        return Err((Gate::NoEquity, notes));
    }
    let overflow = Gate::SizingOverflow;
    let long = geometry.side == Side::Long;
    let entry = geometry.entry;
    // Long: stop down (away), target down (toward). Short: both up.
    let stop = round_to_step(geometry.stop, spec.tick_size, !long)
        .ok_or((Gate::StopNotPositive, notes))?;
    if stop <= Decimal::ZERO {
        return Err((Gate::StopNotPositive, notes));
    }
    let risk = if long { entry - stop } else { stop - entry };
    if risk <= Decimal::ZERO {
        return Err((Gate::StopTooClose, notes));
    }
    let cost = entry
        .checked_mul(spec.round_trip_cost_frac)
        .ok_or((overflow, notes))?;
    if cost > Decimal::ZERO {
        let multiple = risk.checked_div(cost).ok_or((overflow, notes))?;
        notes.stop_cost_multiple = Some(multiple.round_dp(2));
        if multiple < rules.min_stop_cost_multiple {
            return Err((Gate::StopTooClose, notes));
        }
    }
    let loss_per_unit = risk.checked_add(cost).ok_or((overflow, notes))?;
    let target = match geometry.target {
        Some(raw) => {
            let target =
                round_to_step(raw, spec.tick_size, !long).ok_or((Gate::TpWrongSide, notes))?;
            let reward = if long { target - entry } else { entry - target };
            if reward <= Decimal::ZERO || target <= Decimal::ZERO {
                return Err((Gate::TpWrongSide, notes));
            }
            let rr = (reward - cost)
                .checked_div(loss_per_unit)
                .ok_or((overflow, notes))?;
            notes.rr = Some(rr.round_dp(4));
            if let Some(rr_min) = rules.rr_min
                && rr < rr_min
            {
                return Err((Gate::RrBelowMin, notes));
            }
            Some(target)
        }
        None => None,
    };
    let leverage =
        choose_leverage(geometry.side, entry, stop, cost, rules, spec).map_err(|r| (r, notes))?;
    let qty = size_qty(
        entry,
        loss_per_unit,
        rules,
        leverage,
        ctx.equity,
        size_mult,
        spec,
    )
    .map_err(|r| (r, notes))?;
    let entry_price = Price::new(entry).map_err(|_| (Gate::StopNotPositive, notes))?;
    let stop_price = Price::new(stop).map_err(|_| (Gate::StopNotPositive, notes))?;
    let target_price = match target {
        Some(t) => Some(Price::new(t).map_err(|_| (Gate::TpWrongSide, notes))?),
        None => None,
    };
    let kind = if geometry.limit {
        OrderKind::Limit { price: entry_price }
    } else {
        OrderKind::Market
    };
    Ok(Sized {
        plan: OrderPlan {
            side: geometry.side,
            kind,
            qty,
            entry_reference: entry_price,
            stop_loss: stop_price,
            take_profit: target_price,
            leverage,
            setup: geometry.setup,
        },
        notes,
    })
}

/// The highest leverage in `1..=max_leverage` whose liquidation price, for one unit filled
/// at `entry` paying half the round trip `cost` as its fee, lies beyond `stop` by more than
/// `cost` (rule 5).
fn choose_leverage(
    side: Side,
    entry: Decimal,
    stop: Decimal,
    cost: Decimal,
    rules: &SizingRules,
    spec: &SizingSpec,
) -> Result<Leverage, Gate> {
    let overflow = Gate::SizingOverflow;
    let ceiling = rules
        .max_leverage
        .floor()
        .clamp(Decimal::ONE, Decimal::from(MAX_LEVERAGE));
    let ceiling = u32::try_from(ceiling).map_err(|_| overflow)?;
    // The liquidation price must lie beyond this price.
    let limit = stop - side.sign() * cost;
    let entry_fee = cost.checked_div(Decimal::TWO).ok_or(overflow)?;
    for value in (1..=ceiling).rev() {
        let leverage = Leverage::new(value).map_err(|_| overflow)?;
        let unit = MarginInputs {
            cost: entry,
            qty: Decimal::ONE,
            entry_fees: entry_fee,
            margin: initial_margin(entry, leverage).ok_or(overflow)?,
        };
        let Some(liquidation) = spec.margin.liquidation_price(side, &unit, spec.tick_size) else {
            continue;
        };
        // Strictly: at a liquidation price equal to the stop the broker liquidates first.
        let beyond = match side {
            Side::Long => liquidation.get() < limit,
            Side::Short => liquidation.get() > limit,
        };
        if beyond {
            return Ok(leverage);
        }
    }
    Err(Gate::LiquidationBeforeStop)
}

/// `budget / loss_per_unit`, capped by leverage, margin and notional, floored to the step.
fn size_qty(
    entry: Decimal,
    loss_per_unit: Decimal,
    rules: &SizingRules,
    leverage: Leverage,
    equity: Decimal,
    size_mult: Decimal,
    spec: &SizingSpec,
) -> Result<Qty, Gate> {
    let overflow = Gate::SizingOverflow;
    let budget = equity
        .checked_mul(rules.risk_frac)
        .and_then(|b| b.checked_mul(size_mult))
        .ok_or(overflow)?;
    let mut qty = budget.checked_div(loss_per_unit).ok_or(overflow)?;
    let leverage_cap = equity
        .checked_mul(rules.max_leverage)
        .and_then(|n| n.checked_div(entry))
        .ok_or(overflow)?;
    qty = qty.min(leverage_cap);
    let margin_cap = equity
        .checked_mul(leverage.as_decimal())
        .and_then(|n| n.checked_div(entry.checked_mul(Decimal::ONE + spec.round_trip_cost_frac)?))
        .ok_or(overflow)?;
    qty = qty.min(margin_cap);
    if let Some(max_notional) = rules.max_notional {
        qty = qty.min(max_notional.checked_div(entry).ok_or(overflow)?);
    }
    let qty = round_to_step(qty, spec.qty_step, false).ok_or(overflow)?;
    if qty < spec.min_qty || qty <= Decimal::ZERO {
        return Err(Gate::BelowMinQty);
    }
    let notional = qty.checked_mul(entry).ok_or(overflow)?;
    if notional < rules.min_notional {
        return Err(Gate::BelowMinNotional);
    }
    Qty::new(qty).map_err(|_| overflow)
}
