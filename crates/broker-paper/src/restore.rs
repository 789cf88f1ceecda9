//! Restoring a [`BrokerState`] before the broker trusts it: the schema check, the migration
//! of schema-1 states (written before isolated margin existed), and the validation of every
//! field — a corrupt or edited file is refused with [`BrokerError::InvalidState`] naming the
//! field, never half-trusted (a quantity edited tenfold would otherwise book tenfold PnL).
//!
//! **Validation.** Positive starting balance and equity; totals within the value bound;
//! the day baseline positive; counters consistent (peak ≥ equity, drawdown fraction in
//! `[0, 1]`). The position: lots present, each quantity on the step grid, each price on the
//! tick grid, each fee within the largest fee rate of its notional, each fill time at or after
//! `opened_at` (which is the first lot's) and in order; stops and target on the tick grid,
//! the initial stop on the loss side of every lot, the stop never moved against the trader, the
//! target on the profit side; the best price positive; the notional within `max_notional`;
//! the isolated margin exactly `notional / leverage` and the liquidation price exactly the
//! formula's for the lots, leverage and carried rates. The working order: quantity and prices
//! on their grids. The outbox: no exit dated before its position's entry. What the invariants
//! cover besides (equity identity, counters adding up) is checked again by
//! [`PaperBroker::check_invariants`](crate::PaperBroker::check_invariants).
//!
//! **Versions.** Schema 2 is read as is; its margin fields are required (a missing one is
//! [`BrokerError::InvalidState`] naming it). Schema 1 is migrated: a flat account gains
//! nothing but a zero `liquidations` counter; an open position is given **leverage 1** —
//! fully margined, which is what a schema-1 position effectively was, since that broker never
//! liquidated — with its margin and liquidation price priced from its lots and the configured
//! [`la_core::MarginRates`] (a long at 1× is liquidated only near zero, a short near twice
//! its entry); a working order gets leverage 1 too, so its fill is margined like any other.
//! Any other version, older or newer, is refused ([`BrokerError::UnsupportedSchema`]).

use la_core::{BrokerEvent, Leverage, Price, Side, value::MAX_MAGNITUDE};
use rust_decimal::Decimal;

use crate::{
    accounting::totals_of,
    config::BrokerConfig,
    error::BrokerError,
    margin::{check_loss_bound, price_isolated},
    spec::{Grid, MAX_ABS_FEE},
    state::{
        BrokerState, Counters, PositionState, SCHEMA_VERSION, SCHEMA_VERSION_WITHOUT_MARGIN,
        WorkingKind, WorkingOrderState,
    },
};

/// The schema check, the migration and the validation: what
/// [`PaperBroker::from_state`](crate::PaperBroker::from_state) runs before building.
///
/// # Errors
/// [`BrokerError::UnsupportedSchema`] or [`BrokerError::InvalidState`].
pub(crate) fn restore(
    config: &BrokerConfig,
    state: BrokerState,
) -> Result<BrokerState, BrokerError> {
    let state = upgrade(config, state)?;
    validate(config, &state)?;
    Ok(state)
}

/// Checks the schema and migrates a schema-1 state; returns a schema-2 state.
///
/// # Errors
/// [`BrokerError::UnsupportedSchema`] for an unknown version, [`BrokerError::InvalidState`]
/// for a margin field missing from (or, in schema 1, present in) the state.
fn upgrade(config: &BrokerConfig, state: BrokerState) -> Result<BrokerState, BrokerError> {
    match state.schema_version {
        SCHEMA_VERSION => {
            require_margin_fields(&state)?;
            Ok(state)
        }
        SCHEMA_VERSION_WITHOUT_MARGIN => migrate_without_margin(config, state),
        found => Err(BrokerError::UnsupportedSchema {
            found,
            supported: SCHEMA_VERSION,
        }),
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> BrokerError {
    BrokerError::InvalidState {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

fn require_margin_fields(state: &BrokerState) -> Result<(), BrokerError> {
    if state
        .position
        .as_ref()
        .is_some_and(|p| p.isolated.is_none())
    {
        return Err(invalid(
            "position.isolated",
            "missing (schema 2 carries the leverage, margin and liquidation price)",
        ));
    }
    if state
        .working_order
        .as_ref()
        .is_some_and(|w| w.leverage.is_none())
    {
        return Err(invalid("working_order.leverage", "missing (schema 2)"));
    }
    Ok(())
}

fn migrate_without_margin(
    config: &BrokerConfig,
    mut state: BrokerState,
) -> Result<BrokerState, BrokerError> {
    if let Some(position) = &mut state.position {
        if position.isolated.is_some() {
            return Err(invalid(
                "position.isolated",
                "present in a schema-1 state, which has no margin",
            ));
        }
        let totals = totals_of(&position.lots)?;
        let isolated = price_isolated(
            position.side,
            totals,
            Leverage::ONE,
            &config.margin,
            config.spec.tick_size,
        )
        .ok_or_else(|| {
            invalid(
                "position.isolated",
                "no liquidation price on the loss side of the entry at leverage 1",
            )
        })?;
        tracing::warn!(
            symbol = %config.spec.symbol,
            client_order_id = %position.client_order_id,
            margin = %isolated.margin,
            liquidation_price = %isolated.liquidation_price,
            "schema-1 position migrated at leverage 1 (fully margined)"
        );
        position.isolated = Some(isolated);
    }
    if let Some(working) = &mut state.working_order {
        if working.leverage.is_some() {
            return Err(invalid(
                "working_order.leverage",
                "present in a schema-1 state, which has no margin",
            ));
        }
        working.leverage = Some(Leverage::ONE);
    }
    state.schema_version = SCHEMA_VERSION;
    Ok(state)
}

/// The tick and step grids fields are checked against.
struct Grids {
    tick: Grid,
    step: Grid,
}

fn validate(config: &BrokerConfig, state: &BrokerState) -> Result<(), BrokerError> {
    for (field, value) in [
        ("starting_balance", state.starting_balance),
        ("balance", state.balance),
    ] {
        if value <= Decimal::ZERO || value > MAX_MAGNITUDE {
            return Err(invalid(
                field,
                format!("{value} is not a positive amount within 1e12"),
            ));
        }
    }
    for (field, value) in [
        ("realized_net_total", state.realized_net_total),
        ("funding_total", state.funding_total),
        ("fees_paid", state.fees_paid),
    ] {
        if value.abs() > MAX_MAGNITUDE {
            return Err(invalid(field, format!("{value} is beyond 1e12")));
        }
    }
    if let Some(day) = &state.day
        && day.start_equity <= Decimal::ZERO
    {
        return Err(invalid(
            "day.start_equity",
            format!("{} is not positive", day.start_equity),
        ));
    }
    validate_counters(&state.counters, state.balance)?;
    let grids = Grids {
        tick: Grid::new(config.spec.tick_size),
        step: Grid::new(config.spec.qty_step),
    };
    if let Some(position) = &state.position {
        validate_position(config, &grids, position)?;
    }
    for (i, event) in state.outbox.iter().enumerate() {
        if let BrokerEvent::Exited(exit) = event
            && exit.ts < exit.opened_at
        {
            return Err(invalid(
                &format!("outbox[{i}].ts"),
                format!("exit at {} before its entry at {}", exit.ts, exit.opened_at),
            ));
        }
    }
    if let Some(working) = &state.working_order {
        validate_working(&grids, working)?;
    }
    Ok(())
}

fn validate_counters(counters: &Counters, balance: Decimal) -> Result<(), BrokerError> {
    if counters.peak_equity < balance {
        return Err(invalid(
            "counters.peak_equity",
            format!("{} is below the equity {balance}", counters.peak_equity),
        ));
    }
    if counters.max_drawdown < Decimal::ZERO {
        return Err(invalid("counters.max_drawdown", "negative"));
    }
    if counters.max_drawdown_frac < Decimal::ZERO || counters.max_drawdown_frac > Decimal::ONE {
        return Err(invalid(
            "counters.max_drawdown_frac",
            format!("{} is not a fraction in [0, 1]", counters.max_drawdown_frac),
        ));
    }
    Ok(())
}

fn on_tick(grids: &Grids, field: &str, price: Price) -> Result<(), BrokerError> {
    if grids.tick.is_on_grid(price.get()) {
        Ok(())
    } else {
        Err(invalid(field, format!("{price} is off the tick grid")))
    }
}

fn validate_position(
    config: &BrokerConfig,
    grids: &Grids,
    position: &PositionState,
) -> Result<(), BrokerError> {
    let Some(first) = position.lots.first() else {
        return Err(invalid("position.lots", "empty"));
    };
    if first.ts != position.opened_at {
        return Err(invalid(
            "position.opened_at",
            format!(
                "{} is not the first fill's time {}",
                position.opened_at, first.ts
            ),
        ));
    }
    let mut previous = position.opened_at;
    for (i, lot) in position.lots.iter().enumerate() {
        let field = |name: &str| format!("position.lots[{i}].{name}");
        if !grids.step.is_on_grid(lot.qty.get()) {
            return Err(invalid(
                &field("qty"),
                format!("{} is off the step grid", lot.qty),
            ));
        }
        on_tick(grids, &field("price"), lot.price)?;
        let largest_fee = lot.price.get() * lot.qty.get() * MAX_ABS_FEE;
        if lot.fee.abs() > largest_fee {
            return Err(invalid(
                &field("fee"),
                format!(
                    "{} is above the largest fee {largest_fee} of the fill",
                    lot.fee
                ),
            ));
        }
        if lot.ts < previous {
            return Err(invalid(
                &field("ts"),
                format!(
                    "{} is before the entry or an earlier fill ({previous})",
                    lot.ts
                ),
            ));
        }
        previous = lot.ts;
        let stop_on_loss_side = match position.side {
            Side::Long => position.initial_stop < lot.price,
            Side::Short => position.initial_stop > lot.price,
        };
        if !stop_on_loss_side {
            return Err(invalid(
                "position.initial_stop",
                format!(
                    "{} is not on the loss side of the {} fill at {}",
                    position.initial_stop, position.side, lot.price
                ),
            ));
        }
    }
    on_tick(grids, "position.initial_stop", position.initial_stop)?;
    on_tick(grids, "position.stop", position.stop)?;
    let moved_against = match position.side {
        Side::Long => position.stop < position.initial_stop,
        Side::Short => position.stop > position.initial_stop,
    };
    if moved_against {
        return Err(invalid(
            "position.stop",
            format!(
                "{} moved against the {} position (initial {})",
                position.stop, position.side, position.initial_stop
            ),
        ));
    }
    let totals = totals_of(&position.lots)?;
    let entry = totals.cost / totals.qty;
    if let Some(target) = position.take_profit {
        on_tick(grids, "position.take_profit", target)?;
        let profit_side = match position.side {
            Side::Long => target.get() > entry,
            Side::Short => target.get() < entry,
        };
        if !profit_side {
            return Err(invalid(
                "position.take_profit",
                format!("{target} is not on the profit side of the entry {entry}"),
            ));
        }
    }
    if position.best_price <= Decimal::ZERO {
        return Err(invalid("position.best_price", "not positive"));
    }
    if totals.cost > config.max_notional {
        return Err(invalid(
            "position.lots",
            format!(
                "notional {} is above max_notional {}",
                totals.cost, config.max_notional
            ),
        ));
    }
    let Some(isolated) = &position.isolated else {
        return Err(invalid("position.isolated", "missing"));
    };
    let expected = price_isolated(
        position.side,
        totals,
        isolated.leverage,
        &isolated.rates,
        config.spec.tick_size,
    )
    .ok_or_else(|| {
        invalid(
            "position.isolated.leverage",
            format!("{} cannot hold this position", isolated.leverage),
        )
    })?;
    if expected.margin != isolated.margin {
        return Err(invalid(
            "position.isolated.margin",
            format!(
                "{} is not notional {} / leverage {} = {}",
                isolated.margin, totals.cost, isolated.leverage, expected.margin
            ),
        ));
    }
    if expected.liquidation_price != isolated.liquidation_price {
        return Err(invalid(
            "position.isolated.liquidation_price",
            format!(
                "{} is not the formula's {} for these lots, leverage and rates",
                isolated.liquidation_price, expected.liquidation_price
            ),
        ));
    }
    check_loss_bound(position.side, totals, isolated)
        .map_err(|reason| invalid("position.isolated", reason))
}

fn validate_working(grids: &Grids, working: &WorkingOrderState) -> Result<(), BrokerError> {
    if !grids.step.is_on_grid(working.remaining.get()) {
        return Err(invalid(
            "working_order.remaining",
            format!("{} is off the step grid", working.remaining),
        ));
    }
    on_tick(grids, "working_order.stop", working.stop)?;
    if let Some(target) = working.take_profit {
        on_tick(grids, "working_order.take_profit", target)?;
    }
    if let WorkingKind::RestingLimit { price, .. } = working.kind {
        on_tick(grids, "working_order.kind.price", price)?;
    }
    Ok(())
}
