//! Restore refuses a state that cannot be right, naming the field; and an exit is never dated
//! before its entry — not from a late tick, not from a forced close with an older clock, and
//! not in a restored outbox.

use la_core::{Broker, BrokerEvent, ExitReason, Leverage, Side};

use super::*;
use crate::{BrokerError, BrokerState, LotState, PaperBroker};

/// The long of [`long_at_100k`] (0.01 BTC at 100 000, stop 99 700, target 100 450, 20×).
fn state() -> BrokerState {
    long_at_100k(quiet_config()).state()
}

#[track_caller]
fn refused_naming(state: BrokerState, expected: &str) {
    match PaperBroker::from_state(quiet_config(), state) {
        Err(BrokerError::InvalidState { field, reason }) => {
            assert_eq!(field, expected, "{reason}");
        }
        other => panic!("expected InvalidState on {expected}, got {other:?}"),
    }
}

#[test]
fn every_tampered_field_is_refused_by_name() {
    type Edit = fn(&mut BrokerState);
    let cases: [(&str, Edit); 15] = [
        ("starting_balance", |s| s.starting_balance = d("-10000")),
        ("balance", |s| s.balance = d("0")),
        ("counters.max_drawdown_frac", |s| {
            s.counters.max_drawdown_frac = d("2");
        }),
        ("position.lots", |s| {
            s.position.as_mut().unwrap().lots.clear()
        }),
        ("position.lots[0].qty", |s| {
            s.position.as_mut().unwrap().lots[0].qty = qty("0.01005");
        }),
        // A digit moved (0.01 → 0.1): on the grid, but no longer what the margin was priced for.
        ("position.isolated.margin", |s| {
            s.position.as_mut().unwrap().lots[0].qty = qty("0.1");
        }),
        ("position.lots[0].price", |s| {
            s.position.as_mut().unwrap().lots[0].price = px("100000.05");
        }),
        ("position.lots[0].fee", |s| {
            s.position.as_mut().unwrap().lots[0].fee = d("100");
        }),
        ("position.opened_at", |s| {
            s.position.as_mut().unwrap().opened_at = ts(5);
        }),
        ("position.lots[1].ts", |s| {
            let position = s.position.as_mut().unwrap();
            let mut earlier = position.lots[0].clone();
            earlier.ts = ts(-1);
            position.lots.push(earlier);
        }),
        ("position.initial_stop", |s| {
            s.position.as_mut().unwrap().initial_stop = px("100100");
        }),
        ("position.take_profit", |s| {
            s.position.as_mut().unwrap().take_profit = Some(px("99800"));
        }),
        // Three whole BTC (300 000): above the 200 000 notional limit.
        ("position.lots", |s| {
            s.position.as_mut().unwrap().lots[0].qty = qty("3");
        }),
        ("position.isolated.liquidation_price", |s| {
            let position = s.position.as_mut().unwrap();
            position.isolated.as_mut().unwrap().liquidation_price = px("90000");
        }),
        ("outbox[0].ts", |s| {
            let mut exit = only_exit(&{
                let mut b = long_at_100k(quiet_config());
                let mut events = Vec::new();
                b.close_position(px("100000"), ts(10), ExitReason::ForceClose, &mut events)
                    .unwrap();
                events
            });
            exit.ts = ts(-10);
            s.outbox.push(BrokerEvent::Exited(exit));
        }),
    ];
    PaperBroker::from_state(quiet_config(), state()).unwrap();
    for (field, edit) in cases {
        let mut tampered = state();
        edit(&mut tampered);
        refused_naming(tampered, field);
    }
}

#[test]
fn a_working_order_off_the_step_grid_is_refused() {
    let mut b = broker(quiet_config());
    submit(
        &mut b,
        limit("rest", Side::Long, "0.01", "99000", "98700", None),
        0,
    );
    let mut state = b.state();
    PaperBroker::from_state(quiet_config(), state.clone()).unwrap();
    state.working_order.as_mut().unwrap().remaining = qty("0.00999");
    refused_naming(state, "working_order.remaining");
}

#[test]
fn a_tick_from_before_the_entry_never_exits_the_position() {
    let mut b = broker(quiet_config());
    submit(
        &mut b,
        market("late", Side::Long, "0.01", "100000", "99700", None),
        MINUTE,
    );
    // Far below the stop, but stamped before the position existed.
    assert!(on_tick(&mut b, quote(MINUTE - 1, "99000", "99001")).is_empty());
    assert!(b.position().is_some());
    let exit = only_exit(&on_tick(&mut b, quote(MINUTE + 1, "99000", "99001")));
    assert_eq!(exit.reason, ExitReason::StopLoss);
    assert!(exit.ts >= exit.opened_at);
}

#[test]
fn a_forced_close_dated_before_the_entry_is_booked_at_the_entry_time() {
    let mut b = broker(quiet_config());
    submit(
        &mut b,
        market("replayed", Side::Long, "0.01", "100000", "99700", None),
        MINUTE,
    );
    let mut events = Vec::new();
    b.close_position(px("100100"), ts(0), ExitReason::EndOfData, &mut events)
        .unwrap();
    let exit = only_exit(&events);
    assert_eq!(exit.ts, exit.opened_at);
    assert_eq!(exit.ts, ts(MINUTE));
}

#[test]
fn an_exit_dated_before_its_entry_is_an_invariant_breach() {
    let mut b = long_at_100k(quiet_config());
    let mut events = Vec::new();
    b.close_position(px("100000"), ts(10), ExitReason::ForceClose, &mut events)
        .unwrap();
    b.check_invariants().unwrap();
    // Backdate the booked exit behind the broker's back.
    b.closed_trades.last_mut().unwrap().ts = ts(-1);
    let err = b.check_invariants().unwrap_err();
    assert!(
        matches!(&err, BrokerError::InvariantBreach(msg) if msg.contains("before its entry")),
        "{err}"
    );
}

#[test]
fn a_valid_two_lot_position_restores() {
    // Partial fills keep their own times after the entry: accepted.
    let mut state = state();
    let position = state.position.as_mut().unwrap();
    let second = LotState {
        ts: ts(MINUTE),
        ..position.lots[0].clone()
    };
    position.lots.push(second);
    let lots = crate::accounting::totals_of(&position.lots).unwrap();
    position.isolated = crate::margin::price_isolated(
        Side::Long,
        lots,
        Leverage::new(20).unwrap(),
        &la_core::MarginRates::BITUNIX_BTCUSDT,
        d("0.1"),
    );
    state.fees_paid = d("1.2");
    let restored = PaperBroker::from_state(quiet_config(), state).unwrap();
    assert_eq!(restored.position().unwrap().qty, qty("0.02"));
}
