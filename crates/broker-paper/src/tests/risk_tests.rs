//! Risk rules at submit: typed reasons, orders per minute and the daily loss limit in event
//! time.

use la_core::{Broker, ExitReason, OrderRejectReason as R, Side};

use super::*;
use crate::BrokerConfig;

#[test]
fn risk_rules_reject_with_typed_reasons() {
    struct Case {
        name: &'static str,
        config: BrokerConfig,
        order: la_core::OrderIntent,
        reason: R,
    }
    let cases = [
        Case {
            name: "notional 250k above 200k",
            config: BrokerConfig {
                max_risk_per_trade: d("100000"),
                ..quiet_config()
            },
            order: market("n", Side::Long, "2.5", "100000", "99900", None),
            reason: R::MaxNotional,
        },
        Case {
            name: "leverage 3 above 2",
            config: BrokerConfig {
                max_leverage: d("2"),
                ..quiet_config()
            },
            order: market("l", Side::Long, "0.3", "100000", "99900", None),
            reason: R::MaxLeverage,
        },
        Case {
            name: "risk 300 above 200",
            config: quiet_config(),
            order: market("r", Side::Long, "1", "100000", "99700", None),
            reason: R::RiskCap,
        },
        Case {
            name: "short risk counts the distance above",
            config: quiet_config(),
            order: limit("rs", Side::Short, "0.5", "100000", "100500", None),
            reason: R::RiskCap,
        },
        Case {
            name: "below the minimum quantity",
            config: quiet_config(),
            order: market("q", Side::Long, "0.00005", "100000", "99700", None),
            reason: R::BelowMinQty,
        },
    ];
    for case in cases {
        let mut b = broker(case.config);
        let events = submit(&mut b, case.order, 0);
        assert_eq!(rejections(&events), vec![case.reason], "{}", case.name);
        assert!(b.position().is_none(), "{}", case.name);
        assert_eq!(
            b.stats().rejected_orders.get(case.reason.as_str()),
            Some(&1),
            "{}",
            case.name
        );
    }
}

#[test]
fn exactly_at_a_limit_is_allowed() {
    // Risk exactly 200, notional exactly 20 × 10 000 with leverage 20.
    let mut b = broker(quiet_config());
    let events = submit(
        &mut b,
        market("edge", Side::Long, "2", "100000", "99900", None),
        0,
    );
    assert!(rejections(&events).is_empty(), "{events:?}");
}

#[test]
fn orders_per_minute_uses_event_time() {
    let mut b = broker(quiet_config());
    // Ten submissions inside one event-time minute (each refused for its size, but counted).
    for i in 0..10 {
        let events = submit(
            &mut b,
            market(
                &format!("o{i}"),
                Side::Long,
                "0.00001",
                "100000",
                "99700",
                None,
            ),
            i * 1_000,
        );
        assert_eq!(rejections(&events), vec![R::BelowMinQty]);
    }
    let events = submit(
        &mut b,
        market("o10", Side::Long, "0.01", "100000", "99700", None),
        59_999,
    );
    assert_eq!(rejections(&events), vec![R::OrdersPerMinute]);
    // The window slides with event time, not with the wall clock: at 60.000 s after the first
    // submission it has left the window, though no real time passed.
    let events = submit(
        &mut b,
        market("o11", Side::Long, "0.01", "100000", "99700", None),
        60_000,
    );
    assert!(rejections(&events).is_empty(), "{events:?}");
}

#[test]
fn a_replay_faster_than_real_time_is_not_throttled() {
    let mut b = broker(quiet_config());
    for i in 0..30 {
        let at = i * 10 * MINUTE;
        let events = submit(
            &mut b,
            market(
                &format!("f{i}"),
                Side::Long,
                "0.01",
                "100000",
                "99700",
                None,
            ),
            at,
        );
        assert!(rejections(&events).is_empty(), "order {i}: {events:?}");
        let mut close = Vec::new();
        b.close_position(px("100000"), ts(at + 1), ExitReason::EndOfData, &mut close)
            .unwrap();
    }
    assert_eq!(b.stats().trades, 30);
}

#[test]
fn daily_loss_limit_resets_on_new_utc_day() {
    let mut b = broker(quiet_config());
    // Lose 600 (> 5 % of 10 000) on day one: long 2 BTC, closed 300 lower.
    submit(
        &mut b,
        market("d1", Side::Long, "2", "100000", "99900", None),
        0,
    );
    let mut events = Vec::new();
    b.close_position(px("99700"), ts(1_000), ExitReason::ForceClose, &mut events)
        .unwrap();
    assert!(b.equity() < d("9500"), "{}", b.equity());
    let refused = submit(
        &mut b,
        market("d2", Side::Long, "0.01", "100000", "99700", None),
        2 * MINUTE,
    );
    assert_eq!(rejections(&refused), vec![R::DailyLossLimit]);
    // Still the same UTC day one millisecond before midnight.
    let refused = submit(
        &mut b,
        market("d3", Side::Long, "0.01", "100000", "99700", None),
        DAY - 1,
    );
    assert_eq!(rejections(&refused), vec![R::DailyLossLimit]);
    // Next UTC day: a fresh baseline.
    let allowed = submit(
        &mut b,
        market("d4", Side::Long, "0.01", "100000", "99700", None),
        DAY,
    );
    assert!(rejections(&allowed).is_empty(), "{allowed:?}");
}

#[test]
fn daily_loss_within_the_limit_does_not_block() {
    let mut b = broker(quiet_config());
    submit(
        &mut b,
        market("s1", Side::Long, "1", "100000", "99900", None),
        0,
    );
    let mut events = Vec::new();
    // Lose 100 plus 119.94 of fees: about 2.2 % of the day's 10 000.
    b.close_position(px("99900"), ts(1), ExitReason::ForceClose, &mut events)
        .unwrap();
    let next = submit(
        &mut b,
        market("s2", Side::Long, "0.01", "100000", "99700", None),
        2,
    );
    assert!(rejections(&next).is_empty(), "{next:?}");
}
