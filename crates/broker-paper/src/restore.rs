//! Restoring a [`BrokerState`] before the broker trusts it: the schema check and the
//! migration of schema-1 states (written before isolated margin existed).
//!
//! **Versions.** Schema 2 is read as is; its margin fields are required (a missing one is
//! [`BrokerError::InvalidState`] naming it). Schema 1 is migrated: a flat account gains
//! nothing but a zero `liquidations` counter; an open position is given **leverage 1** —
//! fully margined, which is what a schema-1 position effectively was, since that broker never
//! liquidated — with its margin and liquidation price priced from its lots and the configured
//! [`la_core::MarginRates`] (a long at 1× is liquidated only near zero, a short near twice
//! its entry); a working order gets leverage 1 too, so its fill is margined like any other.
//! Any other version, older or newer, is refused ([`BrokerError::UnsupportedSchema`]).

use la_core::Leverage;

use crate::{
    accounting::totals_of,
    config::BrokerConfig,
    error::BrokerError,
    margin::price_isolated,
    state::{BrokerState, SCHEMA_VERSION, SCHEMA_VERSION_WITHOUT_MARGIN},
};

/// Checks the schema and migrates a schema-1 state; returns a schema-2 state.
///
/// # Errors
/// [`BrokerError::UnsupportedSchema`] for an unknown version, [`BrokerError::InvalidState`]
/// for a margin field missing from (or, in schema 1, present in) the state.
pub(crate) fn upgrade(
    config: &BrokerConfig,
    state: BrokerState,
) -> Result<BrokerState, BrokerError> {
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
