//! The sizing's leverage choice: the highest leverage within `max_leverage` whose
//! liquidation price lies beyond the stop by a round-trip cost, a lower one for a wide stop,
//! and a refusal when not even 1× keeps the liquidation price beyond the stop.
//!
//! The numbers (Bitunix rates: maintenance margin 0.4 %, liquidation fee 0.5 %; round trip
//! 0.14 % = 140 per BTC at 100,000, half of it as the entry fee): a long's liquidation price
//! per unit is `(100,000 + 70 + 400 − 100,000 / L) / 0.995`, which must lie at or below
//! `stop − 140`.

use la_core::Side;
use la_strategy::{Decision, Gate, SmaCrossConfig, SmaCrossStrategy, Strategy};

use crate::{
    real_candles::assert_plan_valid,
    support::{ctx, dec, flat},
};

/// The decision on a cross up (long at 100,000) or down (short at 100,000).
fn cross(side: Side, stop_bps: &str, max_leverage: &str) -> Decision {
    let mut strategy = SmaCrossStrategy::new(SmaCrossConfig {
        fast: 2,
        slow: 4,
        stop_bps: dec(stop_bps),
        max_leverage: dec(max_leverage),
        ..SmaCrossConfig::default()
    })
    .unwrap();
    let before = match side {
        Side::Long => "99000",
        Side::Short => "101000",
    };
    let closes = [before, before, before, before, before, "100000"];
    let mut last = None;
    for (i, close) in closes.iter().enumerate() {
        last = Some(strategy.on_candle(&flat(i as i64, close), &ctx()));
    }
    last.unwrap()
}

#[test]
fn a_tight_stop_gets_the_highest_leverage_allowed() {
    // 50 bp stop at 99,500: at 20× the liquidation price is (100,470 − 5,000) / 0.995
    // = 95,949.8, far below 99,360.
    let d = cross(Side::Long, "50", "20");
    let order = d.order().unwrap();
    assert_eq!(order.leverage.get(), 20);
    assert_plan_valid(&order, &ctx(), dec("0.01"));
    // The defaults (max leverage 3) give 3×.
    assert_eq!(
        cross(Side::Short, "50", "3")
            .order()
            .unwrap()
            .leverage
            .get(),
        3
    );
}

#[test]
fn a_wide_stop_lowers_the_leverage_until_the_liquidation_price_lies_beyond_it() {
    // 30 % stop at 70,000 (limit 69,860): 4× liquidates at (100,470 − 25,000) / 0.995
    // = 75,849.8, before the stop; 3× at (100,470 − 33,333.3…) / 0.995 = 67,474.0, beyond.
    let long = cross(Side::Long, "3000", "20").order().unwrap();
    assert_eq!(long.leverage.get(), 3);
    assert_plan_valid(&long, &ctx(), dec("0.01"));
    // Short at 130,000 (limit 130,140): 3× liquidates at (99,530 + 33,333.3…) / 1.005
    // = 132,202.3, beyond; 4× at (99,530 + 25,000) / 1.005 = 123,910.4, before the stop.
    let short = cross(Side::Short, "3000", "20").order().unwrap();
    assert_eq!(short.leverage.get(), 3);
    assert_plan_valid(&short, &ctx(), dec("0.01"));
}

#[test]
fn a_stop_beyond_the_liquidation_price_even_at_1x_is_refused() {
    // 99.9 % stop at 100: even fully margined (1×) a long is liquidated at
    // (100,470 − 100,000) / 0.995 = 472.4, above the stop.
    let d = cross(Side::Long, "9990", "3");
    assert_eq!(d.blocked_by(), Some(Gate::LiquidationBeforeStop));
    assert!(d.order().is_none());
    assert_eq!(
        Gate::LiquidationBeforeStop.as_str(),
        "liquidation_before_stop"
    );
}
