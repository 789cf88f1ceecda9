//! The coarse plausibility band, the broker's defence in depth behind the session's price
//! guard: a fill far from its decision price is rejected, a tick or candle far from the last
//! accepted price triggers no exit (and a following run of consistent prints re-anchors
//! it), and a forced close at such a price is refused; all counted.

use la_core::{Broker, ExitReason, OrderRejectReason, Side};

use super::*;
use crate::{BrokerConfig, MarketFillModel};

#[test]
fn a_market_fill_far_from_its_decision_price_is_rejected_as_implausible() {
    // A fresh broker takes its first print as it comes; if that print is 1/1000 of the
    // market, a market order decided at the real price must not fill at it: refused at
    // submit, or at release when the order was in flight.
    let config = BrokerConfig {
        market_fill: MarketFillModel::LatestTick,
        ..quiet_config()
    };
    let mut at_submit = broker(config.clone());
    on_tick(&mut at_submit, last_only(0, "100"));
    let events = submit(
        &mut at_submit,
        market("bad", Side::Long, "0.01", "100000", "99700", None),
        1,
    );
    assert_eq!(
        rejections(&events),
        vec![OrderRejectReason::ImplausiblePrice]
    );
    assert!(at_submit.position().is_none());
    let in_flight_config = BrokerConfig {
        latency_ms: 1_000,
        ..config.clone()
    };
    let mut in_flight = broker(in_flight_config);
    submit(
        &mut in_flight,
        market("late", Side::Long, "0.01", "100000", "99700", None),
        0,
    );
    let events = on_tick(&mut in_flight, last_only(1_000, "100"));
    assert_eq!(
        rejections(&events),
        vec![OrderRejectReason::ImplausiblePrice]
    );
    assert!(fills(&events).is_empty());
    assert!(in_flight.position().is_none());
    assert_eq!(
        in_flight.stats().rejected_orders.get("implausible_price"),
        Some(&1)
    );
    // Within the band it fills as usual.
    let mut ok = broker(config);
    on_tick(&mut ok, last_only(0, "100100"));
    let events = submit(
        &mut ok,
        market("ok", Side::Long, "0.01", "100000", "99700", None),
        1,
    );
    assert_eq!(fills(&events)[0].price, px("100100"));
}

#[test]
fn implausible_ticks_and_candles_trigger_no_exit_and_are_counted() {
    let mut long = long_at_100k(quiet_config());
    on_tick(&mut long, last_only(1, "100010"));
    // 1/1000 would hit the stop, 1000× the target.
    assert!(on_tick(&mut long, last_only(2, "100")).is_empty());
    assert!(on_tick(&mut long, last_only(3, "100000000")).is_empty());
    assert!(
        on_candle(
            &mut long,
            candle(0, "100000", "100020", "100", "99990", "1")
        )
        .is_empty()
    );
    assert!(long.position().is_some());
    assert_eq!(long.stats().implausible_refused, 3);
    // A real move still exits.
    let exit = only_exit(&on_tick(&mut long, last_only(4, "99690")));
    assert_eq!(exit.reason, ExitReason::StopLoss);
}

#[test]
fn a_new_level_confirmed_by_consecutive_prints_is_accepted_again() {
    let mut long = long_at_100k(quiet_config());
    on_tick(&mut long, last_only(1, "100000"));
    // A 60 % crash that stays: refused until three prints spanning 2 s confirm it.
    for at in [1_000, 2_000] {
        assert!(on_tick(&mut long, last_only(at, "40000")).is_empty());
    }
    let exit = only_exit(&on_tick(&mut long, last_only(3_500, "40000")));
    assert_eq!(exit.reason, ExitReason::StopLoss);
    assert_eq!(long.stats().implausible_refused, 2);
}

#[test]
fn a_forced_close_at_an_implausible_price_is_refused() {
    let mut long = long_at_100k(quiet_config());
    on_tick(&mut long, last_only(1, "100010"));
    let mut events = Vec::new();
    long.close_position(px("100"), ts(2), ExitReason::ForceClose, &mut events)
        .unwrap();
    assert!(events.is_empty());
    assert!(long.position().is_some());
    assert_eq!(long.stats().implausible_refused, 1);
    long.close_position(px("100005"), ts(3), ExitReason::ForceClose, &mut events)
        .unwrap();
    assert_eq!(only_exit(&events).exit_price, px("100005"));
}

#[test]
fn the_band_must_be_positive_and_bounded() {
    for bad in ["0", "-0.1", "1000.5"] {
        let config = BrokerConfig {
            price_band: d(bad),
            ..quiet_config()
        };
        let err = PaperBroker::new(config).unwrap_err().to_string();
        assert!(err.contains("price_band"), "{err}");
    }
}
