//! The fixed-point pre-check never changes a decision: the setups strategy with and without
//! it agrees on every candle of random-walk markets, across costs, ticks and volatilities,
//! and the pre-check does refuse candles (the comparison is not vacuous).

use la_core::{Candle, Decimal, Interval, Price, TimestampMs, Volume};
use proptest::prelude::*;

use crate::{SetupsConfig, SetupsStrategy, SizingSpec, Strategy, StrategyContext};

/// A 1m random walk around `start` (in ticks of 0.01) with steps up to `span` ticks and
/// wicks up to `span / 2`, from a xorshift seed.
fn walk(count: usize, seed: u64, start: i64, span: u64) -> Vec<Candle> {
    let mut state = seed.max(1);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut close = start;
    let mut candles = Vec::with_capacity(count);
    for i in 0..count {
        let open = close;
        // A slow drift that flips every 300 candles, so trends (and pullbacks) appear.
        let drift = if (i / 300) % 2 == 0 { 1 } else { -1 } * (span as i64 / 6);
        let step = (next() % (2 * span + 1)) as i64 - span as i64 + drift;
        close = (open + step).max(1_000);
        let high = open.max(close) + (next() % (span / 2 + 1)) as i64;
        let low = (open.min(close) - (next() % (span / 2 + 1)) as i64).max(1);
        let price = |cents: i64| Price::new(Decimal::new(cents, 2)).unwrap();
        candles.push(
            Candle::new(
                Interval::M1,
                TimestampMs::new(1_704_067_200_000 + i as i64 * 60_000).unwrap(),
                price(open),
                price(high),
                price(low),
                price(close),
                Volume::new(Decimal::new((next() % 50_000) as i64 + 1, 3)).unwrap(),
            )
            .unwrap(),
        );
    }
    candles
}

/// Runs the strategy with and without the pre-check over `candles`, the spec taking turns
/// through `specs` every 50 candles; returns how many candles the pre-check refused.
fn compare(candles: &[Candle], specs: &[SizingSpec], config: SetupsConfig) -> u64 {
    let mut fast = SetupsStrategy::new(config.clone()).unwrap();
    let mut exact = SetupsStrategy::new(config).unwrap();
    exact.precheck_enabled = false;
    for (i, candle) in candles.iter().enumerate() {
        let spec = specs[(i / 50) % specs.len()];
        let ctx = StrategyContext {
            equity: Decimal::new(10_000, 0),
            position_open: false,
            funding_rate: Some(Decimal::new(1, 4)),
            spec,
        };
        let a = fast.on_candle(candle, &ctx);
        let b = exact.on_candle(candle, &ctx);
        assert_eq!(
            (a.signal, a.setup, a.verdict, a.indicators.rr),
            (b.signal, b.setup, b.verdict, b.indicators.rr),
            "candle {i}"
        );
        // Pre-checked refusals report the unrounded distance: within a tick of the exact one.
        if let (Some(x), Some(y)) = (
            a.indicators.stop_cost_multiple,
            b.indicators.stop_cost_multiple,
        ) {
            let close = candle.close().get();
            let tick_in_costs = spec.tick_size / (close * spec.round_trip_cost_frac);
            assert!(
                (x - y).abs() <= tick_in_costs + Decimal::new(1, 2),
                "candle {i}: {x} vs {y}"
            );
        } else {
            assert_eq!(
                a.indicators.stop_cost_multiple.is_some(),
                b.indicators.stop_cost_multiple.is_some(),
                "candle {i}"
            );
        }
    }
    fast.precheck_hits
}

#[test]
fn the_precheck_agrees_with_the_exact_gate_on_btc_like_markets() {
    let mut hits = 0;
    for (span, seed) in [(2_000, 1), (6_000, 2), (15_000, 3), (40_000, 4)] {
        let candles = walk(4_000, seed, 6_000_000, span);
        for cost in ["0", "0.0004", "0.0014", "0.01"] {
            for tick in ["0.01", "0.1", "1"] {
                let spec = SizingSpec {
                    round_trip_cost_frac: cost.parse().unwrap(),
                    tick_size: tick.parse().unwrap(),
                    ..SizingSpec::BITUNIX_BTCUSDT
                };
                hits += compare(&candles, &[spec], SetupsConfig::default());
            }
        }
    }
    assert!(hits > 1_000, "the pre-check refused only {hits} candles");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_precheck_agrees_with_the_exact_gate_for_any_multiple_and_stop(
        seed in 1u64..u64::MAX,
        span in 100u64..50_000,
        start in 10_000i64..20_000_000,
        multiple in 0u32..=40,
        stop_tenths in 1u32..=60,
        cost in prop::sample::select(vec!["0.0001", "0.0014", "0.003", "0.05"]),
        tick in prop::sample::select(vec!["0.01", "0.1", "1", "5"]),
    ) {
        let candles = walk(600, seed, start, span);
        let spec = SizingSpec {
            round_trip_cost_frac: cost.parse().unwrap(),
            tick_size: tick.parse().unwrap(),
            ..SizingSpec::BITUNIX_BTCUSDT
        };
        let config = SetupsConfig {
            min_stop_cost_multiple: Decimal::from(multiple),
            pullback_stop_atr_mult: Decimal::new(i64::from(stop_tenths), 1),
            ..SetupsConfig::default()
        };
        compare(&candles, &[spec], config);
    }
}

#[test]
fn the_precheck_follows_a_spec_whose_cost_or_tick_changes_between_candles() {
    // The pre-check keeps factors derived from the last spec's cost and tick: a change of
    // either must derive them again, or it refuses by the old spec's costs.
    let spec = |cost: &str, tick: &str| SizingSpec {
        round_trip_cost_frac: cost.parse().unwrap(),
        tick_size: tick.parse().unwrap(),
        ..SizingSpec::BITUNIX_BTCUSDT
    };
    let candles = walk(4_000, 5, 6_000_000, 15_000);
    let mut hits = 0;
    // Each pair in both orders: factors kept from the cheaper spec only make the pre-check
    // more cautious, those from the costlier one make it refuse wrongly.
    for specs in [
        [spec("0.0004", "0.1"), spec("0.01", "0.1")],
        [spec("0.01", "0.1"), spec("0.0004", "0.1")],
        [spec("0.0014", "0.01"), spec("0.0014", "500")],
        [spec("0.0014", "500"), spec("0.0014", "0.01")],
    ] {
        hits += compare(&candles, &specs, SetupsConfig::default());
    }
    assert!(hits > 100, "the pre-check refused only {hits} candles");
}
