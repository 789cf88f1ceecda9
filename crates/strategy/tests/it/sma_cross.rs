//! The SMA-crossover strategy: crosses, the reference's worked sizing example, and gates.

use la_core::{OrderKind, Side};
use la_strategy::{
    Decision, Gate, Signal, SmaCrossConfig, SmaCrossStrategy, Strategy, StrategyContext,
};

use crate::{
    real_candles::assert_plan_valid,
    support::{ctx, dec, flat},
};

fn small() -> SmaCrossStrategy {
    SmaCrossStrategy::new(SmaCrossConfig {
        fast: 2,
        slow: 4,
        ..SmaCrossConfig::default()
    })
    .unwrap()
}

/// Feeds closes as flat candles; every decision.
fn feed(strategy: &mut SmaCrossStrategy, closes: &[&str], ctx: &StrategyContext) -> Vec<Decision> {
    closes
        .iter()
        .enumerate()
        .map(|(i, close)| strategy.on_candle(&flat(i as i64, close), ctx))
        .collect()
}

#[test]
fn a_cross_up_goes_long_with_the_worked_example_geometry() {
    // SMA2 vs SMA4 equal while flat at 99,000; a close at 100,000 lifts SMA2 above SMA4.
    let mut strategy = small();
    assert_eq!(strategy.warmup_bars(), 5);
    let decisions = feed(
        &mut strategy,
        &["99000", "99000", "99000", "99000", "99000", "100000"],
        &ctx(),
    );
    for d in &decisions[..4] {
        assert_eq!(d.blocked_by(), Some(Gate::Warmup), "needs slow + 1 candles");
    }
    assert_eq!(
        decisions[4].blocked_by(),
        Some(Gate::NoCross),
        "equal stays equal"
    );
    let d = &decisions[5];
    assert_eq!((d.signal, d.setup), (Signal::Long, Some("sma_cross")));
    let order = d.order().unwrap();
    // Module docs' example: equity 10,000, risk 1 %, stop 50 bp (d = 500), round-trip cost
    // 0.14 % (c = 140), target 1.5 R net: 100,000 + 1.5 × 640 + 140; qty 100 / 640.
    assert_eq!(order.kind, OrderKind::Market);
    assert_eq!(order.entry_reference.get(), dec("100000"));
    assert_eq!(order.stop_loss.get(), dec("99500"));
    assert_eq!(order.take_profit.unwrap().get(), dec("101100"));
    assert_eq!(order.qty.get(), dec("0.1562"));
    assert_eq!(d.indicators.rr, Some(dec("1.5")));
    assert_plan_valid(&order, &ctx(), dec("0.01"));
}

#[test]
fn a_cross_down_goes_short() {
    let mut strategy = small();
    let decisions = feed(
        &mut strategy,
        &["101", "101", "101", "101", "101", "100"],
        &ctx(),
    );
    let d = decisions.last().unwrap();
    let order = d.order().unwrap_or_else(|| panic!("{d:#?}"));
    assert_eq!((d.signal, order.side), (Signal::Short, Side::Short));
    assert!(order.take_profit.unwrap() < order.entry_reference);
    assert!(order.entry_reference < order.stop_loss);
}

#[test]
fn no_cross_while_the_averages_keep_their_order() {
    let mut strategy = small();
    let decisions = feed(
        &mut strategy,
        &["1", "2", "3", "4", "5", "6", "7", "8"],
        &ctx(),
    );
    for d in &decisions[5..] {
        assert_eq!(
            (d.signal, d.blocked_by()),
            (Signal::None, Some(Gate::NoCross))
        );
        assert!(d.indicators.sma_fast.unwrap() > d.indicators.sma_slow.unwrap());
    }
}

#[test]
fn leverage_caps_the_crossover_quantity() {
    let mut strategy = SmaCrossStrategy::new(SmaCrossConfig {
        fast: 2,
        slow: 4,
        stop_bps: dec("1"),
        max_leverage: dec("3"),
        min_stop_cost_multiple: dec("0"),
        ..SmaCrossConfig::default()
    })
    .unwrap();
    let decisions = feed(
        &mut strategy,
        &["99000", "99000", "99000", "99000", "99000", "100000"],
        &ctx(),
    );
    let order = decisions.last().unwrap().order().unwrap();
    // Uncapped: 100 / (10 + 140 of costs) = 0.66 BTC. At 3× the isolated margin must fit the
    // 10,000 equity with room for a round trip's slippage: 30,000 / (100,000 × 1.0014)
    // = 0.29958… BTC, floored to 0.2995.
    assert_eq!(order.leverage.get(), 3);
    assert_eq!(order.qty.get(), dec("0.2995"));
}

#[test]
fn an_open_position_blocks_the_crossover() {
    let mut strategy = small();
    let open = StrategyContext {
        position_open: true,
        ..ctx()
    };
    let decisions = feed(
        &mut strategy,
        &["99000", "99000", "99000", "99000", "99000", "100000"],
        &open,
    );
    let d = decisions.last().unwrap();
    assert_eq!(
        (d.signal, d.blocked_by(), d.order()),
        (Signal::Long, Some(Gate::PositionOpen), None)
    );
}

#[test]
fn crossover_config_rejects_percent_risk_and_inverted_periods() {
    let percent = SmaCrossConfig {
        risk_frac: dec("1"),
        ..SmaCrossConfig::default()
    };
    let message = SmaCrossStrategy::new(percent).unwrap_err().to_string();
    assert!(
        message.contains("risk_frac") && message.contains("not a percent"),
        "{message}"
    );
    let inverted = SmaCrossConfig {
        fast: 30,
        slow: 10,
        ..SmaCrossConfig::default()
    };
    assert!(SmaCrossStrategy::new(inverted).is_err());
}
