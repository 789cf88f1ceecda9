//! Snapshots and restore: identical state after save → load, duplicates refused after a
//! restart, restore validation (schema, symbol, invariants), bounded id retention.

use la_core::{Broker, ExitReason, OrderRejectReason as R, Side, Symbol};

use super::*;
use crate::{
    BrokerConfig, BrokerError, BrokerState, InstrumentSpec, PaperBroker, SCHEMA_VERSION,
    persist::{LoadSource, load_json, save_json_atomic},
};

/// A broker with history: a closed trade, a rejection, funding, an open position with a
/// resting remainder.
fn busy_broker() -> PaperBroker {
    let config = BrokerConfig {
        liquidity_cap_frac: Some(d("0.1")),
        ..quiet_config()
    };
    let mut b = broker(config);
    submit(
        &mut b,
        market("t1", Side::Long, "0.01", "100000", "99700", Some("100450")),
        0,
    );
    on_tick(&mut b, quote(1, "100450", "100451"));
    submit(
        &mut b,
        market("bad", Side::Long, "0.00001", "100000", "99700", None),
        2,
    );
    submit(
        &mut b,
        limit("t2", Side::Long, "0.012", "99900", "99600", Some("100500")),
        3,
    );
    on_candle(
        &mut b,
        candle(0, "99950", "100000", "99880", "99950", "0.05"),
    );
    let mut events = Vec::new();
    b.apply_funding(ts(2 * MINUTE), d("0.0001"), px("99950"), &mut events)
        .unwrap();
    assert!(b.position().is_some() && b.working_order_id().is_some());
    b
}

#[test]
fn save_then_load_restores_identical_state() {
    let original = busy_broker();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker.json");
    save_json_atomic(&path, &original.state()).unwrap();
    let loaded = load_json::<BrokerState>(&path).unwrap();
    assert_eq!(loaded.source, LoadSource::Main);
    let state = loaded.value.unwrap();
    assert_eq!(state, original.state());
    let config = BrokerConfig {
        liquidity_cap_frac: Some(d("0.1")),
        ..quiet_config()
    };
    let mut restored = PaperBroker::from_state(config, state).unwrap();
    assert_eq!(restored.state(), original.state());
    assert_eq!(restored.stats(), original.stats());
    // Same behaviour afterwards: the remainder fills and the target exits identically.
    let mut original = original;
    for b in [&mut original, &mut restored] {
        on_candle(b, candle(2, "99950", "100000", "99880", "99950", "0.05"));
    }
    let a = on_tick(&mut original, quote(4 * MINUTE, "100500", "100501"));
    let b = on_tick(&mut restored, quote(4 * MINUTE, "100500", "100501"));
    assert_eq!(a, b);
    assert_eq!(original.state(), restored.state());
}

#[test]
fn duplicate_id_refused_after_restart() {
    let mut b = long_at_100k(quiet_config());
    let mut events = Vec::new();
    b.close_position(px("100000"), ts(1), ExitReason::ForceClose, &mut events)
        .unwrap();
    let json = serde_json::to_string(&b.state()).unwrap();
    let state: BrokerState = serde_json::from_str(&json).unwrap();
    let mut restored = PaperBroker::from_state(quiet_config(), state).unwrap();
    assert!(restored.is_known_order(&id("long-1")));
    let again = submit(
        &mut restored,
        market("long-1", Side::Long, "0.01", "100000", "99700", None),
        2,
    );
    assert_eq!(rejections(&again), vec![R::DuplicateClientOrderId]);
    assert!(restored.position().is_none());
}

#[test]
fn an_in_flight_order_survives_a_restart_and_fills_once() {
    let config = BrokerConfig {
        latency_ms: 1_000,
        ..quiet_config()
    };
    let mut b = broker(config.clone());
    submit(
        &mut b,
        market("fly", Side::Long, "0.01", "100000", "99700", None),
        0,
    );
    let mut restored = PaperBroker::from_state(config, b.state()).unwrap();
    assert!(restored.is_known_order(&id("fly")));
    let dup = submit(
        &mut restored,
        market("fly", Side::Long, "0.01", "100000", "99700", None),
        10,
    );
    assert_eq!(rejections(&dup), vec![R::DuplicateClientOrderId]);
    assert_eq!(
        fills(&on_tick(&mut restored, quote(1_000, "100000", "100001"))).len(),
        1
    );
}

#[test]
fn restore_refuses_another_symbol_schema_or_an_inconsistent_state() {
    let state = long_at_100k(quiet_config()).state();
    let eth = BrokerConfig {
        spec: InstrumentSpec {
            symbol: Symbol::new("ETHUSDT").unwrap(),
            ..InstrumentSpec::btcusdt()
        },
        ..quiet_config()
    };
    assert!(matches!(
        PaperBroker::from_state(eth, state.clone()),
        Err(BrokerError::SymbolMismatch { .. })
    ));
    let future = BrokerState {
        schema_version: SCHEMA_VERSION + 1,
        ..state.clone()
    };
    assert!(matches!(
        PaperBroker::from_state(quiet_config(), future),
        Err(BrokerError::UnsupportedSchema { .. })
    ));
    let cooked = BrokerState {
        balance: state.balance - d("1"),
        ..state.clone()
    };
    assert!(matches!(
        PaperBroker::from_state(quiet_config(), cooked),
        Err(BrokerError::InvariantBreach(msg)) if msg.contains("equity")
    ));
    let mut no_lots = state.clone();
    no_lots.position.as_mut().unwrap().lots.clear();
    assert!(matches!(
        PaperBroker::from_state(quiet_config(), no_lots),
        Err(BrokerError::InvalidState { field, .. }) if field == "position.lots"
    ));
    let mut loose_stop = state.clone();
    loose_stop.position.as_mut().unwrap().stop = px("99000");
    assert!(matches!(
        PaperBroker::from_state(quiet_config(), loose_stop),
        Err(BrokerError::InvalidState { field, reason }) if field == "position.stop" && reason.contains("against")
    ));
    let mut counters = state;
    counters.counters.trades = 5;
    assert!(PaperBroker::from_state(quiet_config(), counters).is_err());
}

#[test]
fn state_json_is_versioned_and_refuses_unknown_fields() {
    let state = long_at_100k(quiet_config()).state();
    let mut value = serde_json::to_value(&state).unwrap();
    assert_eq!(value["schema_version"], SCHEMA_VERSION);
    assert_eq!(value["symbol"], "BTCUSDT");
    value["surprise"] = serde_json::json!(1);
    let err = serde_json::from_value::<BrokerState>(value).unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn processed_ids_are_bounded_to_the_newest() {
    let config = BrokerConfig {
        processed_id_retention: 3,
        ..quiet_config()
    };
    let mut b = broker(config.clone());
    for i in 0..5 {
        submit(
            &mut b,
            market(
                &format!("x{i}"),
                Side::Long,
                "0.00001",
                "100000",
                "99700",
                None,
            ),
            i * MINUTE,
        );
    }
    let state = b.state();
    assert_eq!(state.processed_ids, vec![id("x2"), id("x3"), id("x4")]);
    // A restore with a smaller retention keeps the newest.
    let smaller = BrokerConfig {
        processed_id_retention: 2,
        ..config
    };
    let restored = PaperBroker::from_state(smaller, state).unwrap();
    assert_eq!(restored.state().processed_ids, vec![id("x3"), id("x4")]);
    assert!(restored.is_known_order(&id("x4")) && !restored.is_known_order(&id("x2")));
}

#[test]
fn an_invariant_breach_halts_the_broker_and_is_returned() {
    // Corrupt the live balance behind the broker's back: the check after the next mutating
    // call must catch it, halt, and return the error instead of panicking.
    let mut b = long_at_100k(quiet_config());
    b.balance += d("0.5");
    let mut events = Vec::new();
    let result = b.on_tick(&quote(1, "99700", "99701"), &mut events);
    assert!(
        matches!(result, Err(BrokerError::InvariantBreach(_))),
        "{result:?}"
    );
    assert!(b.is_halted());
    let events = submit_result(&mut b);
    assert_eq!(rejections(&events), vec![R::TradingHalted]);
}

fn submit_result(b: &mut PaperBroker) -> Vec<la_core::BrokerEvent> {
    let mut events = Vec::new();
    let _ = b.submit(
        market("z", Side::Long, "0.01", "100000", "99700", None),
        ts(5),
        &mut events,
    );
    events
}

#[test]
fn a_lower_rate_limit_after_restart_keeps_the_newest_submissions() {
    let mut b = broker(quiet_config());
    for i in 0..6 {
        submit(
            &mut b,
            market(
                &format!("w{i}"),
                Side::Long,
                "0.00001",
                "100000",
                "99700",
                None,
            ),
            i,
        );
    }
    assert_eq!(b.state().recent_order_times.len(), 6);
    let tighter = BrokerConfig {
        max_orders_per_minute: 4,
        ..quiet_config()
    };
    let mut restored = PaperBroker::from_state(tighter, b.state()).unwrap();
    assert_eq!(
        restored.state().recent_order_times,
        vec![ts(2), ts(3), ts(4), ts(5)]
    );
    let events = submit(
        &mut restored,
        market("w6", Side::Long, "0.01", "100000", "99700", None),
        6,
    );
    assert_eq!(rejections(&events), vec![R::OrdersPerMinute]);
}

#[test]
fn position_qty_must_equal_the_sum_of_lots() {
    let mut b = long_at_100k(quiet_config());
    b.check_invariants().unwrap();
    // Desynchronise the lots from the position's quantity behind the broker's back.
    let position = b.position.as_mut().unwrap();
    position.state.lots[0].qty = qty("0.02");
    let err = b.check_invariants().unwrap_err();
    assert!(
        matches!(&err, BrokerError::InvariantBreach(msg) if msg.contains("Σ lots")),
        "{err}"
    );
}

#[test]
fn the_outbox_is_saved_with_the_account_and_never_written_by_the_broker() {
    let broker = long_at_100k(quiet_config());
    let plain = broker.state();
    assert!(plain.outbox.is_empty());
    let json = serde_json::to_string(&plain).unwrap();
    assert!(
        !json.contains("outbox"),
        "an empty outbox is left out of the file"
    );
    let funding = BrokerEvent::FundingApplied {
        funding_time: TimestampMs::new(1_700_006_400_000).unwrap(),
        rate: d("0.0001"),
        mark_price: px("100000"),
        amount: d("-1"),
    };
    let with_outbox = BrokerState {
        outbox: vec![funding.clone()],
        ..plain.clone()
    };
    let back: BrokerState =
        serde_json::from_str(&serde_json::to_string(&with_outbox).unwrap()).unwrap();
    assert_eq!(back.outbox, vec![funding]);
    // Restoring ignores it: the account is the same either way.
    let restored = PaperBroker::from_state(quiet_config(), back).unwrap();
    assert_eq!(restored.state(), plain);
}
