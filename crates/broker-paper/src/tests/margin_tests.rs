//! Isolated margin and liquidation: the hand-computed liquidation price on the position, the
//! liquidation on ticks and candles (and which of stop and liquidation comes first), the
//! liquidation fee, the margin rejections, the stats counter, and restore and migration of
//! margined states.
//!
//! The numbers: a quiet broker (no slippage) filling 0.01 BTC at 100 000 at 20× — cost 1000,
//! taker fee 0.6, margin 50, maintenance margin 4 — liquidates a long at
//! (1000 + 0.6 + 4 − 50) / (0.01 × 0.995) = 95 939.698…, up to **95 939.7**, and a short at
//! (1000 − 0.6 − 4 + 50) / (0.01 × 1.005) = 104 019.900…, down to **104 019.9**.

use la_core::{
    Broker, ExitReason, Leverage, OrderIntent, OrderKind, OrderRejectReason as R, OrderSpec, Side,
};

use super::*;
use crate::{BrokerError, BrokerState, SCHEMA_VERSION, state::IsolatedMargin};

const LONG_LIQUIDATION: &str = "95939.7";
const SHORT_LIQUIDATION: &str = "104019.9";

/// An entry order: at market with `limit` `None`, else a limit there.
fn entry(
    order_id: &str,
    side: Side,
    limit: Option<&str>,
    size: &str,
    reference: &str,
    stop: &str,
    lev: u32,
) -> OrderIntent {
    let kind = limit.map_or(OrderKind::Market, |price| OrderKind::Limit {
        price: px(price),
    });
    OrderIntent::new(OrderSpec {
        client_order_id: id(order_id),
        side,
        kind,
        qty: qty(size),
        entry_reference: px(reference),
        stop_loss: px(stop),
        take_profit: None,
        leverage: Leverage::new(lev).unwrap(),
    })
    .unwrap()
}

/// A market entry at 100 000.
fn with_leverage(side: Side, size: &str, stop: &str, lev: u32) -> OrderIntent {
    entry("m-1", side, None, size, "100000", stop, lev)
}

/// A quiet broker holding 0.01 BTC at 100 000 at 20× with its stop at `stop`.
fn opened(side: Side, stop: &str) -> PaperBroker {
    let mut b = broker(quiet_config());
    let events = submit(&mut b, with_leverage(side, "0.01", stop, 20), 0);
    assert_eq!(fills(&events).len(), 1, "{events:#?}");
    b
}

#[test]
fn a_position_carries_its_leverage_margin_and_hand_computed_liquidation_price() {
    let long = opened(Side::Long, "99700");
    let position = long.position().unwrap();
    assert_eq!(position.leverage.get(), 20);
    assert_eq!(position.margin, d("50"));
    assert_eq!(position.liquidation_price, px(LONG_LIQUIDATION));
    assert_eq!(long.available_balance(), d("9950"));
    let short = opened(Side::Short, "100300");
    assert_eq!(
        short.position().unwrap().liquidation_price,
        px(SHORT_LIQUIDATION)
    );
}

#[test]
fn a_tick_at_the_liquidation_price_liquidates_there_with_the_liquidation_fee() {
    // The stop (95 000) lies beyond the liquidation price, so liquidation comes first.
    let mut b = opened(Side::Long, "95000");
    assert!(on_tick(&mut b, quote(1, "95939.8", "95940")).is_empty());
    let exit = only_exit(&on_tick(&mut b, quote(2, LONG_LIQUIDATION, "95940")));
    assert_eq!(exit.reason, ExitReason::Liquidation);
    assert_eq!(exit.reason.as_str(), "liquidation");
    assert_eq!(exit.exit_price, px(LONG_LIQUIDATION));
    // Gross −40.603, entry fee 0.6, liquidation fee 95 939.7 × 0.01 × 0.005 = 4.796985.
    assert_eq!(exit.fees, d("5.396985"));
    assert_eq!(exit.pnl_net, d("-45.999985"));
    assert!(-exit.pnl_net <= d("50"), "never more than the margin");
    assert_eq!(exit.leverage.get(), 20);
    assert_eq!(exit.liquidation_price, px(LONG_LIQUIDATION));
    assert_eq!(b.equity(), d("9954.000015"));
    assert_eq!(b.stats().liquidations, 1);
    assert_eq!(b.stats().trades, 1);
    b.check_invariants().unwrap();
}

#[test]
fn a_short_is_liquidated_on_the_ask() {
    let mut b = opened(Side::Short, "105000");
    assert!(on_tick(&mut b, quote(1, "104000", "104019.8")).is_empty());
    let exit = only_exit(&on_tick(&mut b, quote(2, "104000", SHORT_LIQUIDATION)));
    assert_eq!(exit.reason, ExitReason::Liquidation);
    assert_eq!(exit.exit_price, px(SHORT_LIQUIDATION));
    // Gross −40.199, entry fee 0.6, liquidation fee 104 019.9 × 0.01 × 0.005 = 5.200995.
    assert_eq!(exit.pnl_net, d("-45.999995"));
    assert_eq!(b.stats().liquidations, 1);
}

#[test]
fn a_stop_nearer_than_the_liquidation_price_exits_at_the_stop_even_on_a_tick_through_both() {
    let mut b = opened(Side::Long, "99700");
    let exit = only_exit(&on_tick(&mut b, quote(1, "90000", "90001")));
    assert_eq!(exit.reason, ExitReason::StopLoss);
    assert_eq!(exit.exit_price, px("99700"));
    assert_eq!(b.stats().liquidations, 0);
}

#[test]
fn on_candles_the_nearer_of_stop_and_liquidation_price_comes_first_and_a_gap_liquidates() {
    // (case, side, stop, candle open/high/low/close, exit reason, exit price)
    let cases = [
        (
            "a gap through the liquidation price liquidates there, though the stop was nearer",
            Side::Long,
            "99700",
            ["95000", "95100", "94000", "94500"],
            ExitReason::Liquidation,
            LONG_LIQUIDATION,
        ),
        (
            "a gap between the stop and the liquidation price exits at the open",
            Side::Long,
            "99700",
            ["97000", "97100", "94000", "94500"],
            ExitReason::CandleStopLoss,
            "97000",
        ),
        (
            "a bar reaching the liquidation price after the stop exits at the stop",
            Side::Short,
            "100300",
            ["100000", "106000", "99990", "105000"],
            ExitReason::CandleStopLoss,
            "100300",
        ),
        (
            "with the stop beyond it, a bar reaching the liquidation price liquidates",
            Side::Long,
            "95000",
            ["100000", "100100", "95500", "96000"],
            ExitReason::Liquidation,
            LONG_LIQUIDATION,
        ),
    ];
    for (case, side, stop, [o, h, l, c], reason, price) in cases {
        let mut b = opened(side, stop);
        let exit = only_exit(&on_candle(&mut b, candle(1, o, h, l, c, "1")));
        assert_eq!(
            (exit.reason, exit.exit_price),
            (reason, px(price)),
            "{case}"
        );
        assert!(
            -exit.pnl_net <= d("50"),
            "{case}: more than the margin lost"
        );
    }
}

#[test]
fn a_forced_close_beyond_the_liquidation_price_is_a_liquidation_there() {
    let mut b = opened(Side::Long, "99700");
    let mut events = Vec::new();
    b.close_position(px("90000"), ts(1), ExitReason::ForceClose, &mut events)
        .unwrap();
    let exit = only_exit(&events);
    assert_eq!(exit.reason, ExitReason::Liquidation);
    assert_eq!(exit.exit_price, px(LONG_LIQUIDATION));
    assert_eq!(b.stats().liquidations, 1);
}

#[test]
fn an_order_whose_margin_exceeds_the_available_balance_is_rejected() {
    // 2 BTC at 100 000 = 200 000 notional: within max notional and 20× account leverage, but
    // at 10× it needs 20 000 of margin against a 10 000 balance.
    let mut b = broker(quiet_config());
    let events = submit(&mut b, with_leverage(Side::Long, "2", "99950", 10), 0);
    assert_eq!(rejections(&events), vec![R::InsufficientMargin]);
    assert_eq!(R::InsufficientMargin.as_str(), "insufficient_margin");
    assert_eq!(b.stats().rejected_orders["insufficient_margin"], 1);
    // At 20× the same order needs exactly the balance, and fills.
    let mut b = broker(quiet_config());
    let order = entry("m-2", Side::Long, None, "2", "100000", "99950", 20);
    let events = submit(&mut b, order, 0);
    assert_eq!(fills(&events).len(), 1, "{events:#?}");
    assert_eq!(b.available_balance(), d("0"));
}

#[test]
fn a_resting_order_whose_margin_exceeds_the_available_balance_is_rejected_at_submit() {
    // A limit far below the market never fills; only the submit-time check can refuse it.
    // 2 × 90 000 / 12 = 15 000 of margin against a 10 000 balance.
    let mut b = broker(quiet_config());
    let order = entry(
        "big-limit",
        Side::Long,
        Some("90000"),
        "2",
        "90000",
        "89950",
        12,
    );
    let events = submit(&mut b, order, 0);
    assert_eq!(rejections(&events), vec![R::InsufficientMargin]);
    assert!(b.working_order_id().is_none());
}

#[test]
fn a_fill_whose_margin_outgrew_the_balance_is_rejected_at_the_fill() {
    // Sized at submit to need exactly the balance (2 × 100 000 / 20); the fill, released
    // after the latency by a tick 500 higher, would need 10 050.
    let config = BrokerConfig {
        latency_ms: 1_000,
        market_fill: MarketFillModel::LatestTick,
        ..quiet_config()
    };
    let mut b = broker(config);
    on_tick(&mut b, quote(0, "99999.9", "100000"));
    let order = entry("late", Side::Long, None, "2", "100000", "99950", 20);
    assert!(rejections(&submit(&mut b, order, 0)).is_empty());
    let events = on_tick(&mut b, quote(1_000, "100499.9", "100500"));
    assert_eq!(rejections(&events), vec![R::InsufficientMargin]);
    assert!(fills(&events).is_empty() && b.position().is_none());
    b.check_invariants().unwrap();
}

#[test]
fn an_order_above_the_maximum_leverage_is_rejected() {
    let mut b = broker(quiet_config());
    let events = submit(&mut b, with_leverage(Side::Long, "0.01", "99700", 21), 0);
    assert_eq!(rejections(&events), vec![R::InvalidLeverage]);
    assert_eq!(R::InvalidLeverage.as_str(), "invalid_leverage");
}

#[test]
fn a_resting_order_reserves_its_margin() {
    let mut b = broker(quiet_config());
    let order = entry(
        "rest",
        Side::Long,
        Some("99000"),
        "0.1",
        "99000",
        "98000",
        10,
    );
    submit(&mut b, order, 0);
    assert!(b.working_order_id().is_some());
    // 0.1 × 99 000 / 10 = 990.
    assert_eq!(b.available_balance(), d("9010"));
}

#[test]
fn margined_and_liquidated_accounts_restore_identically() {
    let open = opened(Side::Long, "95000");
    let json = serde_json::to_string(&open.state()).unwrap();
    assert!(json.contains("\"liquidation_price\""), "{json}");
    let restored = PaperBroker::from_state(
        quiet_config(),
        serde_json::from_str::<BrokerState>(&json).unwrap(),
    )
    .unwrap();
    assert_eq!(restored.state(), open.state());
    assert_eq!(restored.position(), open.position());
    // The liquidation price and fee were fixed at entry: other rates in a later
    // configuration leave them where they are.
    let dearer = BrokerConfig {
        margin: la_core::MarginRates::new(d("0.004"), d("0.01")).unwrap(),
        ..quiet_config()
    };
    let mut later = PaperBroker::from_state(dearer, open.state()).unwrap();
    assert_eq!(
        later.position().unwrap().liquidation_price,
        px(LONG_LIQUIDATION)
    );
    let exit = only_exit(&on_tick(&mut later, quote(1, LONG_LIQUIDATION, "95940")));
    assert_eq!(exit.pnl_net, d("-45.999985"));
    let after = PaperBroker::from_state(quiet_config(), later.state()).unwrap();
    assert_eq!(after.stats().liquidations, 1);
    assert_eq!(after.state(), later.state());
}

#[test]
fn a_schema_1_state_migrates_its_position_at_leverage_1() {
    let state = opened(Side::Long, "99700").state();
    let mut value = serde_json::to_value(&state).unwrap();
    value["schema_version"] = serde_json::json!(1);
    value["position"]
        .as_object_mut()
        .unwrap()
        .remove("isolated");
    value["counters"]
        .as_object_mut()
        .unwrap()
        .remove("liquidations");
    let old: BrokerState = serde_json::from_value(value).unwrap();
    let b = PaperBroker::from_state(quiet_config(), old).unwrap();
    let position = b.position().unwrap();
    assert_eq!(position.leverage, Leverage::ONE);
    assert_eq!(position.margin, d("1000"));
    // (1000 + 0.6 + 4 − 1000) / (0.01 × 0.995) = 462.31…, up to 462.4.
    assert_eq!(position.liquidation_price, px("462.4"));
    assert_eq!(b.state().schema_version, SCHEMA_VERSION);
}

#[test]
fn unknown_schema_versions_and_a_missing_margin_are_refused() {
    let state = opened(Side::Long, "99700").state();
    for version in [0, SCHEMA_VERSION + 1] {
        let other = BrokerState {
            schema_version: version,
            ..state.clone()
        };
        assert!(matches!(
            PaperBroker::from_state(quiet_config(), other),
            Err(BrokerError::UnsupportedSchema { found, .. }) if found == version
        ));
    }
    let mut bare = state.clone();
    bare.position.as_mut().unwrap().isolated = None;
    let err = PaperBroker::from_state(quiet_config(), bare).unwrap_err();
    assert!(
        matches!(&err, BrokerError::InvalidState { field, .. } if field == "position.isolated"),
        "{err}"
    );
}

/// The margin check remembers the inputs it passed, never a verdict: a position whose
/// liquidation price or margin rates change after passing checks fails the next one.
#[test]
fn a_margin_check_that_passed_does_not_hide_a_later_breach() {
    // Sets the position's margin (mirrored in its state, as the broker keeps it) and
    // returns the next check's verdict.
    let check_with = |b: &mut PaperBroker, isolated: IsolatedMargin| {
        let position = b.position.as_mut().unwrap();
        (position.isolated, position.state.isolated) = (isolated, Some(isolated));
        b.check_invariants()
    };
    let is_pricing_breach = |verdict: Result<(), BrokerError>| matches!(verdict, Err(BrokerError::InvariantBreach(m)) if m.contains("is not what its lots"));
    let mut b = long_at_100k(quiet_config());
    b.check_invariants().unwrap();
    b.check_invariants().unwrap();
    let good = b.position.as_ref().unwrap().isolated;

    let mut moved = good;
    moved.liquidation_price = px("1000");
    assert!(is_pricing_breach(check_with(&mut b, moved)));
    check_with(&mut b, good).unwrap();
    let mut rates = good;
    rates.rates = la_core::MarginRates::new(d("0.05"), d("0.005")).unwrap();
    assert!(is_pricing_breach(check_with(&mut b, rates)));
}
