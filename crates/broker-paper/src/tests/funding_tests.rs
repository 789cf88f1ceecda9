//! Funding: sign convention, idempotency per funding time, flat accounts, the sanity bound.

use la_core::{Broker, BrokerEvent, Price, Side, TimestampMs};
use rust_decimal::Decimal;

use super::*;
use crate::{FUNDING_RETENTION, PaperBroker};

/// 08:00 UTC on 2024-01-01.
const EIGHT_HOURS: i64 = 8 * 60 * MINUTE;

fn fund(b: &mut PaperBroker, at: i64, rate: &str, mark: &str) -> Vec<BrokerEvent> {
    let mut events = Vec::new();
    b.apply_funding(ts(at), d(rate), px(mark), &mut events)
        .unwrap();
    events
}

fn amount(events: &[BrokerEvent]) -> Option<Decimal> {
    events.iter().find_map(|e| match e {
        BrokerEvent::FundingApplied { amount, .. } => Some(*amount),
        _ => None,
    })
}

#[test]
fn positive_funding_longs_pay_shorts_receive() {
    let cases = [
        (Side::Long, "0.0001", "-0.1"),
        (Side::Short, "0.0001", "0.1"),
        (Side::Long, "-0.0001", "0.1"),
        (Side::Short, "-0.0001", "-0.1"),
    ];
    for (side, rate, expected) in cases {
        let mut b = match side {
            Side::Long => long_at_100k(quiet_config()),
            Side::Short => short_at_100k(quiet_config()),
        };
        // 0.01 BTC × mark 100 000 = 1 000 notional; × 0.01 % = 0.1.
        let events = fund(&mut b, EIGHT_HOURS, rate, "100000");
        assert_eq!(amount(&events), Some(d(expected)), "{side} {rate}");
        assert_eq!(b.equity(), d("10000") + d(expected));
        assert_eq!(b.stats().funding_total, d(expected));
        b.check_invariants().unwrap();
    }
}

#[test]
fn funding_uses_the_mark_price_notional() {
    let mut b = long_at_100k(quiet_config());
    let events = fund(&mut b, EIGHT_HOURS, "0.0001", "90000");
    assert_eq!(amount(&events), Some(d("-0.09")));
}

#[test]
fn funding_is_idempotent_per_timestamp() {
    let mut b = long_at_100k(quiet_config());
    assert!(amount(&fund(&mut b, EIGHT_HOURS, "0.0001", "100000")).is_some());
    let equity = b.equity();
    assert!(fund(&mut b, EIGHT_HOURS, "0.0001", "100000").is_empty());
    assert!(
        fund(&mut b, EIGHT_HOURS, "0.0003", "95000").is_empty(),
        "same time, other values"
    );
    assert_eq!(b.equity(), equity);
    assert!(amount(&fund(&mut b, 2 * EIGHT_HOURS, "0.0001", "100000")).is_some());
}

#[test]
fn funding_idempotency_survives_a_restart() {
    let mut b = long_at_100k(quiet_config());
    fund(&mut b, EIGHT_HOURS, "0.0001", "100000");
    let mut restored = PaperBroker::from_state(quiet_config(), b.state()).unwrap();
    assert!(fund(&mut restored, EIGHT_HOURS, "0.0001", "100000").is_empty());
    assert_eq!(restored.equity(), b.equity());
}

#[test]
fn flat_at_funding_time_owes_nothing_but_the_time_is_settled() {
    let mut b = broker(quiet_config());
    assert!(fund(&mut b, EIGHT_HOURS, "0.0001", "100000").is_empty());
    assert_eq!(b.equity(), d("10000"));
    // A position opened later cannot be charged for that settlement retroactively.
    submit(
        &mut b,
        market("late", Side::Long, "0.01", "100000", "99700", None),
        0,
    );
    assert!(fund(&mut b, EIGHT_HOURS, "0.0001", "100000").is_empty());
    assert_eq!(b.state().funding_settled, vec![ts(EIGHT_HOURS)]);
}

#[test]
fn a_position_opened_after_the_funding_time_pays_nothing() {
    let mut b = broker(quiet_config());
    submit(
        &mut b,
        market("after", Side::Long, "0.01", "100000", "99700", None),
        EIGHT_HOURS + 1,
    );
    assert!(fund(&mut b, EIGHT_HOURS, "0.0001", "100000").is_empty());
    assert_eq!(b.equity(), d("10000"));
}

#[test]
fn an_implausible_rate_is_refused_counted_and_left_unsettled() {
    let mut b = long_at_100k(quiet_config());
    // 1 (= 100 %) is a percent value passed as a fraction, or garbage.
    assert!(fund(&mut b, EIGHT_HOURS, "1", "100000").is_empty());
    assert_eq!(b.stats().funding_skipped, 1);
    assert_eq!(b.equity(), d("10000"));
    // The corrected call still settles that time.
    assert_eq!(
        amount(&fund(&mut b, EIGHT_HOURS, "0.0001", "100000")),
        Some(d("-0.1"))
    );
}

#[test]
fn settled_times_are_bounded_and_pruned_times_stay_settled() {
    let mut b = broker(quiet_config());
    let count = FUNDING_RETENTION as i64 + 10;
    for i in 0..count {
        let mut events = Vec::new();
        b.apply_funding(ts(i * EIGHT_HOURS), d("0.0001"), px("100000"), &mut events)
            .unwrap();
    }
    let state = b.state();
    assert_eq!(state.funding_settled.len(), FUNDING_RETENTION);
    assert_eq!(state.funding_pruned_through, Some(ts(9 * EIGHT_HOURS)));
    // Open a position and replay the oldest (pruned) time: never charged twice.
    submit(
        &mut b,
        market("p", Side::Long, "0.01", "100000", "99700", None),
        0,
    );
    let oldest: TimestampMs = ts(0);
    let mut events = Vec::new();
    b.apply_funding(
        oldest,
        d("0.0001"),
        Price::new(d("100000")).unwrap(),
        &mut events,
    )
    .unwrap();
    assert!(events.is_empty());
}

#[test]
fn an_exit_carries_the_funding_booked_while_its_position_was_open() {
    let mut b = long_at_100k(quiet_config());
    // 0.01 BTC long: 0.01 × 100 000 × 0.0001 = 0.1 paid at 08:00, then 0.01 × 90 000 ×
    // −0.0002 = 0.18 received at 16:00.
    fund(&mut b, EIGHT_HOURS, "0.0001", "100000");
    fund(&mut b, 2 * EIGHT_HOURS, "-0.0002", "90000");
    let mut events = Vec::new();
    b.close_position(
        px("100000"),
        ts(2 * EIGHT_HOURS + MINUTE),
        la_core::ExitReason::ForceClose,
        &mut events,
    )
    .unwrap();
    assert_eq!(only_exit(&events).funding, d("0.08"));
    // The next position starts with none: its funding is its own.
    let mut next = long_at_100k(quiet_config());
    fund(&mut next, 3 * EIGHT_HOURS, "0", "100000");
    let mut events = Vec::new();
    next.close_position(
        px("100000"),
        ts(3 * EIGHT_HOURS + MINUTE),
        la_core::ExitReason::ForceClose,
        &mut events,
    )
    .unwrap();
    assert_eq!(only_exit(&events).funding, Decimal::ZERO);
}

#[test]
fn a_restored_position_keeps_the_funding_it_had_booked() {
    let mut b = long_at_100k(quiet_config());
    fund(&mut b, EIGHT_HOURS, "0.0001", "100000");
    let mut restored = PaperBroker::from_state(quiet_config(), b.state()).unwrap();
    let mut events = Vec::new();
    restored
        .close_position(
            px("100000"),
            ts(EIGHT_HOURS + MINUTE),
            la_core::ExitReason::ForceClose,
            &mut events,
        )
        .unwrap();
    assert_eq!(only_exit(&events).funding, d("-0.1"));
}
