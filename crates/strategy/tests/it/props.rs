//! Property tests: indicators and strategies never panic on arbitrary valid candles, keep
//! basic invariants, and every order they plan is a valid `la_core::OrderIntent` within the
//! risk budget.

use la_core::{Candle, Decimal, Interval, OrderKind, Price, TimestampMs, Volume};
use la_strategy::{
    PullbackEntry, SetupsConfig, SetupsStrategy, SizingSpec, SmaCrossStrategy,
    Strategy as TradingStrategy, StrategyContext,
    indicators::{Atr, CvdDivergence, Ema, EqualLevels, SweepDetector, SwingHighLow, Vwap},
};
use proptest::prelude::*;

use crate::{
    real_candles::assert_plan_valid,
    support::{START_MS, dec, generate},
};

/// A positive price in (10^-12, 10^12] with up to 12 decimals.
fn price() -> impl Strategy<Value = Decimal> {
    (1u64..=1_000_000_000_000, 0u32..=12).prop_map(|(m, s)| Decimal::new(m as i64, s))
}

/// Any valid volume, including zero and magnitudes no market has.
fn volume() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        Just(Decimal::ZERO),
        (0u64..1_000_000_000, 0u32..=8).prop_map(|(m, s)| Decimal::new(m as i64, s)),
        (0u128..(1u128 << 96), 0u32..=12)
            .prop_map(|(m, s)| Decimal::from_i128_with_scale(m as i128, s)),
    ]
}

fn candles(max: usize) -> impl Strategy<Value = Vec<Candle>> {
    prop::collection::vec(
        (
            [price(), price(), price(), price()],
            volume(),
            any::<bool>(),
        ),
        1..max,
    )
    .prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (mut p, v, swap))| {
                p.sort();
                let (open, close) = if swap { (p[2], p[1]) } else { (p[1], p[2]) };
                Candle::new(
                    Interval::M1,
                    TimestampMs::new(START_MS + i as i64 * 60_000).unwrap(),
                    Price::new(open).unwrap(),
                    Price::new(p[3]).unwrap(),
                    Price::new(p[0]).unwrap(),
                    Price::new(close).unwrap(),
                    Volume::new(v).unwrap(),
                )
                .unwrap()
            })
            .collect()
    })
}

fn context(equity: Decimal, funding: Option<Decimal>, spec: SizingSpec) -> StrategyContext {
    StrategyContext {
        equity,
        position_open: false,
        funding_rate: funding,
        spec,
    }
}

/// Any instrument spec, including a 1 % round-trip cost under which nothing trades.
fn spec() -> impl Strategy<Value = SizingSpec> {
    spec_with_costs(vec!["0", "0.0004", "0.0014", "0.01"])
}

/// Specs whose round-trip cost leaves room to trade one-minute candles.
fn tradable_spec() -> impl Strategy<Value = SizingSpec> {
    spec_with_costs(vec!["0", "0.0004", "0.0014"])
}

fn spec_with_costs(costs: Vec<&'static str>) -> impl Strategy<Value = SizingSpec> {
    (
        prop::sample::select(vec!["0.01", "0.1", "1"]),
        prop::sample::select(vec!["0.0001", "0.001"]),
        prop::sample::select(costs),
    )
        .prop_map(|(tick, step, cost)| SizingSpec {
            qty_step: dec(step),
            min_qty: dec(step),
            tick_size: dec(tick),
            round_trip_cost_frac: dec(cost),
            ..SizingSpec::BITUNIX_BTCUSDT
        })
}

/// Unknown, or a rate below the no-trade gate (0.05 %): sizing may halve, never blocks.
fn funding() -> impl Strategy<Value = Option<Decimal>> {
    prop_oneof![
        Just(None),
        (-20i64..=20).prop_map(|bp| Some(Decimal::new(bp, 5))),
    ]
}

/// Runs `candles` through `strategy`, checking every planned order; returns how many there
/// were.
fn check_run(
    strategy: &mut dyn TradingStrategy,
    candles: &[Candle],
    ctx: &StrategyContext,
    risk: Decimal,
) -> usize {
    let mut orders = 0;
    for candle in candles {
        let d = strategy.on_candle(candle, ctx);
        if let Some(plan) = d.order() {
            orders += 1;
            let mult = d.indicators.size_mult.unwrap_or(Decimal::ONE);
            assert_plan_valid(&plan, ctx, risk * mult);
            if let OrderKind::Limit { price } = plan.kind {
                assert!((price.get() % ctx.spec.tick_size).is_zero(), "{plan:?}");
            }
            assert!(serde_json::to_string(&d).is_ok());
        }
    }
    orders
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn indicators_never_panic_and_keep_their_invariants(candles in candles(120)) {
        let mut ema = Ema::new(3).unwrap();
        let mut atr = Atr::new(3).unwrap();
        let mut vwap = Vwap::new(4).unwrap();
        let mut swing = SwingHighLow::new(5).unwrap();
        let mut equal = EqualLevels::new(12, 6, dec("0.0005")).unwrap();
        let mut divergence = CvdDivergence::new(5).unwrap();
        let mut sweep = SweepDetector::new(3).unwrap();
        for (i, c) in candles.iter().enumerate() {
            ema.update(c);
            atr.update(c);
            vwap.update(c);
            swing.update(c);
            equal.update(c);
            divergence.update(c);
            sweep.update(c);
            let window = &candles[i.saturating_sub(3)..=i];
            let lowest = window.iter().map(|c| c.low().get()).min().unwrap();
            let highest = window.iter().map(|c| c.high().get()).max().unwrap();
            if let Some(v) = vwap.value() {
                let tick = dec("0.000000000001");
                prop_assert!(v >= lowest - tick && v <= highest + tick, "vwap {v} outside [{lowest}, {highest}]");
            }
            if let Some(levels) = swing.value() {
                prop_assert!(levels.low <= levels.high);
                prop_assert!(levels.high >= c.high().get() && levels.low <= c.low().get());
            }
            if let Some(a) = atr.value() {
                prop_assert!(a >= Decimal::ZERO);
            }
            let _ = (ema.value(), equal.value(), divergence.value(), divergence.cvd().value());
            if let Some(s) = sweep.sweep() {
                prop_assert!(s.level > c.low().get() && s.level < c.high().get());
            }
        }
    }

    #[test]
    fn strategies_never_panic_on_arbitrary_candles(
        candles in candles(160),
        spec in spec(),
        funding in funding(),
    ) {
        let ctx = context(dec("10000"), funding, spec);
        let mut setups = SetupsStrategy::new(SetupsConfig::default()).unwrap();
        let _ = check_run(&mut setups, &candles, &ctx, dec("0.01"));
        let mut sma = SmaCrossStrategy::new(Default::default()).unwrap();
        let _ = check_run(&mut sma, &candles, &ctx, dec("0.01"));
    }

}

proptest! {
    // Each case runs 3,000 candles through two strategies; fewer cases keep debug runs short.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_order_plan_is_a_valid_order_intent_within_the_risk_budget(
        seed in 1u64..u64::MAX,
        // From an account that can afford the minimum quantity to one near the caps.
        equity in 1_000u64..10_000_000,
        spec in tradable_spec(),
        funding in funding(),
        limit in any::<bool>(),
    ) {
        let candles = generate(1_500, seed);
        let ctx = context(Decimal::from(equity), funding, spec);
        let config = SetupsConfig {
            pullback_entry: if limit { PullbackEntry::Limit } else { PullbackEntry::Market },
            ..SetupsConfig::default()
        };
        let mut setups = SetupsStrategy::new(config).unwrap();
        let setups_orders = check_run(&mut setups, &candles, &ctx, dec("0.01"));
        let mut sma = SmaCrossStrategy::new(Default::default()).unwrap();
        let sma_orders = check_run(&mut sma, &candles, &ctx, dec("0.01"));
        // The inputs are chosen to trade: a property over zero orders proves nothing.
        prop_assert!(setups_orders > 0, "setups planned no order: {ctx:?}, seed {seed}");
        prop_assert!(sma_orders > 0, "sma-cross planned no order: {ctx:?}, seed {seed}");
    }
}
