//! Orders: idempotency, in-flight vs processed, market fill models, slippage and jitter,
//! limit orders, protection at fill, rounding, the liquidity cap, cancel and halt.

use la_core::{Broker, BrokerEvent, ExitReason, OrderRejectReason as R, Side};
use rust_decimal::Decimal;

use super::*;
use crate::{BrokerConfig, MarketFillModel};

#[test]
fn repeated_client_order_id_never_fills_twice() {
    let mut b = long_at_100k(quiet_config());
    // While the position is open: refused as a duplicate, not merely as "position open".
    let again = submit(
        &mut b,
        market("long-1", Side::Long, "0.01", "100000", "99700", None),
        1,
    );
    assert_eq!(rejections(&again), vec![R::DuplicateClientOrderId]);
    assert!(fills(&again).is_empty());
    // After the position is gone, still refused.
    let mut events = Vec::new();
    b.close_position(px("100000"), ts(2), ExitReason::ForceClose, &mut events)
        .unwrap();
    let again = submit(
        &mut b,
        market("long-1", Side::Long, "0.01", "100000", "99700", None),
        3,
    );
    assert_eq!(rejections(&again), vec![R::DuplicateClientOrderId]);
    assert!(fills(&again).is_empty() && b.position().is_none());
    assert_eq!(
        b.stats().rejected_orders.get("duplicate_client_order_id"),
        Some(&2)
    );
}

#[test]
fn a_rejected_order_id_counts_as_processed() {
    let mut b = broker(quiet_config());
    let first = submit(
        &mut b,
        market("r1", Side::Long, "0.00001", "100000", "99700", None),
        0,
    );
    assert_eq!(rejections(&first), vec![R::BelowMinQty]);
    assert!(b.is_known_order(&id("r1")));
    let retry = submit(
        &mut b,
        market("r1", Side::Long, "0.01", "100000", "99700", None),
        1,
    );
    assert_eq!(rejections(&retry), vec![R::DuplicateClientOrderId]);
    assert!(b.position().is_none());
}

#[test]
fn in_flight_order_is_not_rejected_as_duplicate_on_first_attempt() {
    let mut b = broker(BrokerConfig {
        latency_ms: 500,
        ..quiet_config()
    });
    let accepted = submit(
        &mut b,
        market("lat-1", Side::Long, "0.01", "100000", "99700", None),
        0,
    );
    assert!(
        matches!(accepted.as_slice(), [BrokerEvent::OrderAccepted { .. }]),
        "{accepted:?}"
    );
    assert!(b.is_known_order(&id("lat-1")), "in flight is known");
    assert_eq!(b.working_order_id(), Some(&id("lat-1")));
    // Too early: nothing happens.
    assert!(on_tick(&mut b, quote(499, "100000", "100000.5")).is_empty());
    // A resubmission while in flight is a duplicate and does not disturb the original.
    let dup = submit(
        &mut b,
        market("lat-1", Side::Long, "0.01", "100000", "99700", None),
        100,
    );
    assert_eq!(rejections(&dup), vec![R::DuplicateClientOrderId]);
    assert_eq!(b.working_order_id(), Some(&id("lat-1")));
    // Due: the first attempt fills exactly once.
    let filled = on_tick(&mut b, quote(500, "100000", "100000.5"));
    assert_eq!(fills(&filled).len(), 1, "{filled:?}");
    assert!(rejections(&filled).is_empty());
    assert!(b.working_order_id().is_none());
    assert!(b.is_known_order(&id("lat-1")), "processed after the fill");
}

#[test]
fn latency_order_fills_at_the_releasing_tick_price() {
    let config = BrokerConfig {
        latency_ms: 1_000,
        market_fill: MarketFillModel::LatestTick,
        ..quiet_config()
    };
    let mut b = broker(config);
    on_tick(&mut b, quote(0, "100000", "100000.5"));
    submit(
        &mut b,
        market("lat", Side::Long, "0.01", "100000", "99700", None),
        0,
    );
    let events = on_tick(&mut b, quote(1_000, "100100", "100100.5"));
    assert_eq!(fills(&events)[0].price, px("100100.5"));
    assert_eq!(fills(&events)[0].ts, ts(1_000));
}

#[test]
fn latency_order_released_by_a_candle_fills_at_its_close_plus_half_spread() {
    let config = BrokerConfig {
        latency_ms: 5_000,
        market_fill: MarketFillModel::LatestTick,
        half_spread_bps: d("1"),
        ..quiet_config()
    };
    let mut b = broker(config);
    submit(
        &mut b,
        market("lat", Side::Short, "0.01", "100000", "100300", None),
        0,
    );
    let events = on_candle(
        &mut b,
        candle(0, "100000", "100050", "99950", "100010", "5"),
    );
    // 100010 × (1 − 0.0001) = 99999.999 → rounded down (against the seller) to 99999.9.
    let fill = &fills(&events)[0];
    assert_eq!(fill.price, px("99999.9"));
    assert_eq!(fill.ts, ts(MINUTE));
}

#[test]
fn market_fill_uses_ask_for_longs_bid_for_shorts_from_latest_tick() {
    let config = BrokerConfig {
        market_fill: MarketFillModel::LatestTick,
        ..quiet_config()
    };
    let mut long = broker(config.clone());
    on_tick(&mut long, quote(0, "99999.5", "100000.5"));
    let events = submit(
        &mut long,
        market("l", Side::Long, "0.01", "100000", "99700", None),
        1,
    );
    assert_eq!(fills(&events)[0].price, px("100000.5"));

    let mut short = broker(config.clone());
    on_tick(&mut short, quote(0, "99999.5", "100000.5"));
    let events = submit(
        &mut short,
        market("s", Side::Short, "0.01", "100000", "100300", None),
        1,
    );
    assert_eq!(fills(&events)[0].price, px("99999.5"));

    // No book on the tick: the last price.
    let mut bare = broker(config);
    on_tick(&mut bare, last_only(0, "100002"));
    let events = submit(
        &mut bare,
        market("b", Side::Long, "0.01", "100000", "99700", None),
        1,
    );
    assert_eq!(fills(&events)[0].price, px("100002"));
}

#[test]
fn without_a_tick_market_orders_use_the_decision_price_and_half_spread() {
    for model in [MarketFillModel::LatestTick, MarketFillModel::DecisionPrice] {
        let config = BrokerConfig {
            market_fill: model,
            half_spread_bps: d("0.5"),
            ..quiet_config()
        };
        let mut long = broker(config.clone());
        let events = submit(
            &mut long,
            market("l", Side::Long, "0.01", "100000", "99700", None),
            0,
        );
        assert_eq!(fills(&events)[0].price, px("100005"), "{model:?}");
        let mut short = broker(config);
        let events = submit(
            &mut short,
            market("s", Side::Short, "0.01", "100000", "100300", None),
            0,
        );
        assert_eq!(fills(&events)[0].price, px("99995"), "{model:?}");
    }
}

#[test]
fn market_slippage_is_adverse_and_rounded_against_the_trader() {
    let config = BrokerConfig {
        slippage_bps: d("1"),
        market_fill: MarketFillModel::LatestTick,
        ..quiet_config()
    };
    let mut long = broker(config.clone());
    on_tick(&mut long, quote(0, "100000.2", "100000.3"));
    let events = submit(
        &mut long,
        market("l", Side::Long, "0.01", "100000", "99700", None),
        1,
    );
    // 100000.3 × 1.0001 = 100010.30003 → up to 100010.4; taker fee on that notional.
    let fill = &fills(&events)[0];
    assert_eq!(fill.price, px("100010.4"));
    assert_eq!(fill.fee, d("100010.4") * d("0.01") * d("0.0006"));
    assert!(!fill.maker);

    let mut short = broker(config);
    on_tick(&mut short, quote(0, "100000.2", "100000.3"));
    let events = submit(
        &mut short,
        market("s", Side::Short, "0.01", "100000", "100300", None),
        1,
    );
    // 100000.2 × 0.9999 = 99990.19998 → down to 99990.1.
    assert_eq!(fills(&events)[0].price, px("99990.1"));
}

#[test]
fn jitter_is_seeded_bounded_and_reproducible() {
    let run = |seed: u64| -> Vec<Decimal> {
        let config = BrokerConfig {
            slippage_bps: d("1"),
            slippage_jitter_bps: d("5"),
            seed,
            ..quiet_config()
        };
        let mut b = broker(config);
        (0..8)
            .map(|i| {
                let name = format!("j{i}");
                let events = submit(
                    &mut b,
                    market(&name, Side::Long, "0.01", "100000", "99000", None),
                    i * MINUTE,
                );
                let price = fills(&events)[0].price.get();
                let mut close = Vec::new();
                b.close_position(
                    px("100000"),
                    ts(i * MINUTE + 1),
                    ExitReason::ForceClose,
                    &mut close,
                )
                .unwrap();
                price
            })
            .collect()
    };
    let a = run(7);
    assert_eq!(a, run(7), "same seed, same prices");
    assert_ne!(a, run(8), "another seed draws other values");
    for price in &a {
        // Between 1 bps and 6 bps above 100000, on the tick.
        assert!(*price >= d("100010") && *price <= d("100060"), "{price}");
    }
    assert!(
        a.iter().any(|p| *p != a[0]),
        "jitter varies between draws: {a:?}"
    );
}

#[test]
fn limit_orders_rest_until_touched_and_fill_at_the_limit_as_maker() {
    let mut b = broker(quiet_config());
    let events = submit(
        &mut b,
        limit("lim", Side::Long, "0.01", "99900", "99600", None),
        0,
    );
    assert!(matches!(
        events.as_slice(),
        [BrokerEvent::OrderAccepted { .. }]
    ));
    assert!(
        on_tick(&mut b, quote(1, "99900", "99900.1")).is_empty(),
        "ask above the limit"
    );
    let events = on_tick(&mut b, quote(2, "99890", "99895"));
    let fill = &fills(&events)[0];
    assert_eq!((fill.price, fill.maker), (px("99900"), true));
    assert_eq!(fill.fee, d("99900") * d("0.01") * d("0.0002"));

    let mut s = broker(quiet_config());
    submit(
        &mut s,
        limit("lim-s", Side::Short, "0.01", "100100", "100400", None),
        0,
    );
    assert!(
        on_tick(&mut s, quote(1, "100099.9", "100101")).is_empty(),
        "bid below the limit"
    );
    let events = on_tick(&mut s, quote(2, "100100", "100101"));
    assert_eq!(fills(&events)[0].price, px("100100"));
}

#[test]
fn limit_touched_by_a_candle_low_fills_at_the_limit() {
    let mut b = broker(quiet_config());
    submit(
        &mut b,
        limit("lim", Side::Long, "0.01", "99900", "99600", None),
        0,
    );
    assert!(
        fills(&on_candle(
            &mut b,
            candle(0, "100000", "100100", "99901", "100000", "3")
        ))
        .is_empty()
    );
    let events = on_candle(&mut b, candle(1, "100000", "100100", "99850", "99950", "3"));
    assert_eq!(fills(&events)[0].price, px("99900"));
    assert_eq!(b.position().unwrap().qty, qty("0.01"));
}

#[test]
fn wrong_side_target_rejected_at_fill() {
    let config = BrokerConfig {
        market_fill: MarketFillModel::LatestTick,
        ..quiet_config()
    };
    // The market ran past the target between decision and fill.
    let mut b = broker(config.clone());
    on_tick(&mut b, quote(0, "100499", "100500"));
    let events = submit(
        &mut b,
        market("tp", Side::Long, "0.01", "100000", "99700", Some("100450")),
        1,
    );
    assert_eq!(rejections(&events), vec![R::ProtectionCrossedAtFill]);
    assert!(b.position().is_none() && b.is_known_order(&id("tp")));
    // And past the stop, for a short.
    let mut s = broker(config);
    on_tick(&mut s, quote(0, "100400", "100401"));
    let events = submit(
        &mut s,
        market("sl", Side::Short, "0.01", "100000", "100300", None),
        1,
    );
    assert_eq!(rejections(&events), vec![R::ProtectionCrossedAtFill]);
    assert!(s.position().is_none());
}

#[test]
fn one_position_at_a_time() {
    let mut b = long_at_100k(quiet_config());
    let events = submit(
        &mut b,
        market("second", Side::Short, "0.01", "100000", "100300", None),
        1,
    );
    assert_eq!(rejections(&events), vec![R::PositionAlreadyOpen]);
    let mut resting = broker(quiet_config());
    submit(
        &mut resting,
        limit("rest", Side::Long, "0.01", "99000", "98700", None),
        0,
    );
    let events = submit(
        &mut resting,
        market("m", Side::Long, "0.01", "100000", "99700", None),
        1,
    );
    assert_eq!(
        rejections(&events),
        vec![R::PositionAlreadyOpen],
        "a resting entry counts"
    );
}

#[test]
fn quantities_and_levels_are_rounded_explicitly_at_submit() {
    let mut b = broker(quiet_config());
    let order = market(
        "round",
        Side::Long,
        "0.012345",
        "100000",
        "99700.05",
        Some("100450.01"),
    );
    let events = submit(&mut b, order, 0);
    assert_eq!(fills(&events)[0].qty, qty("0.0123"));
    let position = b.position().unwrap();
    assert_eq!(
        position.stop_loss,
        px("99700.0"),
        "long stop rounds down (away from entry)"
    );
    assert_eq!(
        position.take_profit,
        Some(px("100450.1")),
        "long target rounds up"
    );
    let mut s = broker(quiet_config());
    let order = limit(
        "round-s",
        Side::Short,
        "0.01",
        "100000.01",
        "100300.01",
        Some("99550.09"),
    );
    submit(&mut s, order, 0);
    let events = on_tick(&mut s, quote(1, "100000.1", "100000.2"));
    assert_eq!(
        fills(&events)[0].price,
        px("100000.1"),
        "short limit rounds up"
    );
    let position = s.position().unwrap();
    assert_eq!(position.stop_loss, px("100300.1"));
    assert_eq!(position.take_profit, Some(px("99550.0")));
}

#[test]
fn halted_broker_rejects_submits_but_still_exits() {
    let mut b = long_at_100k(quiet_config());
    b.halt("kill switch");
    assert!(b.is_halted());
    assert_eq!(b.halt_reason(), Some("kill switch"));
    let events = submit(
        &mut b,
        market("after", Side::Long, "0.01", "100000", "99700", None),
        1,
    );
    assert_eq!(rejections(&events), vec![R::TradingHalted]);
    let events = on_tick(&mut b, quote(2, "99700", "99700.5"));
    assert_eq!(only_exit(&events).reason, ExitReason::StopLoss);
}

#[test]
fn liquidity_cap_fills_in_parts_and_the_rest_rests_as_a_limit() {
    let config = BrokerConfig {
        liquidity_cap_frac: Some(d("0.1")),
        ..quiet_config()
    };
    let mut b = broker(config);
    submit(
        &mut b,
        limit("cap", Side::Long, "0.012", "99900", "99600", None),
        0,
    );
    // With the cap on, a tick does not fill a resting order (no volume on a tick).
    assert!(on_tick(&mut b, quote(1, "99800", "99850")).is_empty());
    let mut parts = Vec::new();
    for i in 0..3 {
        let events = on_candle(
            &mut b,
            candle(i, "99950", "100000", "99880", "99950", "0.05"),
        );
        parts.extend(fills(&events).into_iter().map(|f| f.qty.get()));
    }
    assert_eq!(parts, vec![d("0.005"), d("0.005"), d("0.002")]);
    assert_eq!(b.position().unwrap().qty, qty("0.012"));
    assert!(b.working_order_id().is_none());
    assert!(b.is_known_order(&id("cap")));
}

#[test]
fn capped_market_order_fills_part_at_market_and_rests_the_rest_at_that_price() {
    let config = BrokerConfig {
        liquidity_cap_frac: Some(d("0.1")),
        ..quiet_config()
    };
    let mut b = broker(config);
    on_candle(
        &mut b,
        candle(0, "100000", "100010", "99990", "100000", "0.05"),
    );
    let events = submit(
        &mut b,
        market("cm", Side::Long, "0.01", "100000", "99700", None),
        MINUTE,
    );
    assert_eq!(fills(&events)[0].qty, qty("0.005"));
    assert!(!fills(&events)[0].maker);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, BrokerEvent::OrderAccepted { .. }))
    );
    let events = on_candle(
        &mut b,
        candle(1, "100010", "100020", "99995", "100005", "1"),
    );
    let rest = &fills(&events)[0];
    assert_eq!(
        (rest.price, rest.qty, rest.maker),
        (px("100000"), qty("0.005"), true)
    );
}

#[test]
fn a_resting_remainder_is_cancelled_when_its_position_exits() {
    let config = BrokerConfig {
        liquidity_cap_frac: Some(d("0.1")),
        ..quiet_config()
    };
    let mut b = broker(config);
    submit(
        &mut b,
        limit("rem", Side::Long, "0.012", "99900", "99600", None),
        0,
    );
    on_candle(
        &mut b,
        candle(0, "99950", "100000", "99880", "99950", "0.05"),
    );
    assert_eq!(b.working_order_id(), Some(&id("rem")));
    let events = on_tick(&mut b, quote(MINUTE + 1, "99600", "99601"));
    assert_eq!(only_exit(&events).qty, qty("0.005"));
    assert!(
        matches!(events.last(), Some(BrokerEvent::OrderCancelled { .. })),
        "{events:?}"
    );
    assert!(b.working_order_id().is_none() && b.is_known_order(&id("rem")));
}

#[test]
fn cancel_all_cancels_the_resting_order_and_consumes_its_id() {
    let mut b = broker(quiet_config());
    submit(
        &mut b,
        limit("c", Side::Long, "0.01", "99000", "98700", None),
        0,
    );
    let mut events = Vec::new();
    b.cancel_all(ts(1), &mut events);
    assert!(matches!(
        events.as_slice(),
        [BrokerEvent::OrderCancelled { .. }]
    ));
    assert!(
        on_tick(&mut b, quote(2, "98000", "98001")).is_empty(),
        "nothing left to fill"
    );
    let retry = submit(
        &mut b,
        limit("c", Side::Long, "0.01", "99000", "98700", None),
        3,
    );
    assert_eq!(rejections(&retry), vec![R::DuplicateClientOrderId]);
}
