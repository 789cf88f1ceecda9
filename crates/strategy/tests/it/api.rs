//! The public surface: configuration validation, strategy names, `build`, and the JSON
//! shape of decisions; plus "every candle gets an answer" over a generated market.

use la_core::{Decimal, Side};
use la_strategy::{
    Decision, Gate, SetupsConfig, SetupsStrategy, SmaCrossStrategy, Strategy, StrategyConfig,
    StrategyError, StrategyKind, build,
};

use crate::{
    real_candles::assert_plan_valid,
    scenarios::{Feed, dip, trend},
    support::{ctx, dec, generate, simulate},
};

#[test]
fn setups_config_rejects_a_percent_where_a_fraction_is_expected() {
    let percent = SetupsConfig {
        risk_frac: dec("1.0"),
        ..SetupsConfig::default()
    };
    let error = SetupsStrategy::new(percent).unwrap_err();
    let StrategyError::InvalidConfig { field, reason } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(*field, "risk_frac");
    assert!(reason.contains("not a percent"), "{reason}");
    assert!(
        SetupsStrategy::new(SetupsConfig {
            risk_frac: dec("0.02"),
            ..SetupsConfig::default()
        })
        .is_ok()
    );
}

#[test]
fn setups_config_rejects_a_strategy_that_could_never_trade() {
    let disabled = SetupsConfig {
        pullback_enabled: false,
        sweep_enabled: false,
        ..SetupsConfig::default()
    };
    let message = SetupsStrategy::new(disabled).unwrap_err().to_string();
    assert!(message.contains("never trade"), "{message}");
}

#[test]
fn setups_config_rejects_inconsistent_parameters() {
    let cases = [
        SetupsConfig {
            ema_fast: 50,
            ema_slow: 20,
            ..SetupsConfig::default()
        },
        SetupsConfig {
            atr_period: 0,
            ..SetupsConfig::default()
        },
        SetupsConfig {
            pullback_stop_atr_mult: Decimal::ZERO,
            ..SetupsConfig::default()
        },
        SetupsConfig {
            regime_low_vol_frac: dec("0.01"),
            ..SetupsConfig::default()
        },
        SetupsConfig {
            min_notional: dec("300000"),
            ..SetupsConfig::default()
        },
        SetupsConfig {
            equal_levels_min: 13,
            ..SetupsConfig::default()
        },
        SetupsConfig {
            min_stop_cost_multiple: dec("-1"),
            ..SetupsConfig::default()
        },
        SetupsConfig {
            max_daily_loss_frac: dec("3"),
            ..SetupsConfig::default()
        },
    ];
    for config in cases {
        assert!(SetupsStrategy::new(config.clone()).is_err(), "{config:?}");
    }
    let mut funding = SetupsConfig::default();
    funding.funding.half_size = dec("0.002");
    assert!(
        SetupsStrategy::new(funding).is_err(),
        "half_size above no_trade"
    );
}

#[test]
fn setups_config_reads_toml_like_json_with_defaults_and_refuses_unknown_keys() {
    let config: SetupsConfig =
        serde_json::from_str(r#"{"risk_frac": "0.005", "funding": {"no_trade": "0.0004"}}"#)
            .unwrap();
    assert_eq!(config.risk_frac, dec("0.005"));
    assert_eq!(config.funding.no_trade, dec("0.0004"));
    assert_eq!(config.ema_fast, 20);
    assert!(serde_json::from_str::<SetupsConfig>(r#"{"risk_pct": 1}"#).is_err());
}

#[test]
fn strategy_kinds_parse_their_cli_names() {
    assert_eq!(
        "setups".parse::<StrategyKind>().unwrap(),
        StrategyKind::Setups
    );
    assert_eq!(
        "sma-cross".parse::<StrategyKind>().unwrap(),
        StrategyKind::SmaCross
    );
    let error = "sma_cross".parse::<StrategyKind>().unwrap_err();
    assert!(
        error
            .to_string()
            .contains("expected `setups` or `sma-cross`"),
        "{error}"
    );
    assert_eq!(StrategyKind::default().to_string(), "setups");
    for kind in StrategyKind::ALL {
        assert_eq!(kind.to_string().parse::<StrategyKind>().unwrap(), kind);
        let strategy = build(kind, &StrategyConfig::default()).unwrap();
        assert_eq!(strategy.name(), kind.as_str());
    }
    let mut bad = StrategyConfig::default();
    bad.sma_cross.fast = 0;
    assert!(build(StrategyKind::SmaCross, &bad).is_err());
    assert!(
        build(StrategyKind::Setups, &bad).is_ok(),
        "only the chosen part is used"
    );
}

#[test]
fn a_decision_serializes_to_snake_case_json() {
    let mut feed = Feed::new(SetupsStrategy::new(SetupsConfig::default()).unwrap());
    let before = trend(&mut feed, 70, false);
    let decision = dip(&mut feed, &before, false);
    let json: serde_json::Value = serde_json::to_value(decision).unwrap();
    assert_eq!(json["signal"], "long");
    assert_eq!(json["setup"], "pullback_ribbon");
    assert_eq!(json["blocked_by"], serde_json::Value::Null);
    assert_eq!(json["indicators"]["trend"], "up");
    assert!(json["indicators"]["ema_fast"].is_string(), "{json}");
    assert_eq!(json["order"]["side"], "long");
    assert_eq!(json["order"]["kind"]["type"], "market");
    assert!(json["order"]["qty"].is_string());

    let blocked =
        serde_json::to_value(Decision::blocked(Gate::Warmup, Default::default())).unwrap();
    assert_eq!(blocked["signal"], "none");
    assert_eq!(blocked["blocked_by"], "warmup");
    assert_eq!(blocked["indicators"], serde_json::json!({}));
}

#[test]
fn every_gate_serializes_as_its_stable_decisions_jsonl_label() {
    let mut seen = std::collections::BTreeSet::new();
    for gate in Gate::ALL {
        assert_eq!(
            serde_json::to_value(gate).unwrap(),
            serde_json::Value::from(gate.as_str())
        );
        assert_eq!(
            serde_json::from_value::<Gate>(serde_json::Value::from(gate.as_str())).unwrap(),
            gate
        );
        assert!(seen.insert(gate.as_str()), "duplicate label {gate}");
    }
    assert_eq!(Gate::ALL[0].as_str(), "stale_candle");
    assert_eq!(Gate::BelowMinNotional.as_str(), "below_min_notional");
}

fn assert_every_decision_answers(strategy: &mut dyn Strategy, seed: u64) -> usize {
    let candles = generate(20_000, seed);
    let run = simulate(strategy, &candles, ctx());
    assert_eq!(run.decisions.len(), candles.len());
    // "An order or the gate that blocked it" is the `Verdict` type; what remains to check is
    // that an order agrees with the signal and setup it came from.
    for (i, d) in run.decisions.iter().enumerate() {
        if let Some(order) = d.order() {
            assert_eq!(d.signal.side(), Some(order.side), "candle {i}");
            assert_eq!(d.setup, Some(order.setup));
            assert_plan_valid(&order, &ctx(), dec("0.01"));
        }
    }
    run.orders.len()
}

#[test]
fn every_setups_decision_has_an_order_or_a_reason() {
    let mut strategy = SetupsStrategy::new(SetupsConfig::default()).unwrap();
    let orders = assert_every_decision_answers(&mut strategy, 7);
    assert!(orders > 50, "{orders}");
}

#[test]
fn every_crossover_decision_has_an_order_or_a_reason() {
    let mut strategy = SmaCrossStrategy::new(Default::default()).unwrap();
    let orders = assert_every_decision_answers(&mut strategy, 11);
    assert!(orders > 20, "{orders}");
}

#[test]
fn a_generated_market_fires_both_setups_on_both_sides() {
    let candles = generate(50_000, 3);
    let run = |config: SetupsConfig| {
        let mut strategy = SetupsStrategy::new(config).unwrap();
        simulate(&mut strategy, &candles, ctx())
    };
    let both = run(SetupsConfig::default());
    // With both setups on, open pullback positions leave the rarer sweep little room (and
    // its EMA filter blocks most sweeps, which happen against the short-term trend), so the
    // sweep is also checked on its own. Its VWAP target is rarely 1.5 R away net of a
    // 0.14 % round trip, so on this tape it signals on both sides but seldom orders (its
    // orders are covered by the crafted scenarios in `setups.rs`).
    let sweep_only = run(SetupsConfig {
        pullback_enabled: false,
        ..SetupsConfig::default()
    });
    for long in [true, false] {
        let side = if long { Side::Long } else { Side::Short };
        let pullbacks = both
            .orders
            .iter()
            .filter(|(_, p)| p.setup == "pullback_ribbon" && p.side == side)
            .count();
        assert!(pullbacks > 100, "long={long}: {pullbacks} pullback orders");
        let sweeps = sweep_only
            .decisions
            .iter()
            .filter(|d| d.setup == Some("sweep_invalidation") && d.signal.side() == Some(side))
            .count();
        assert!(sweeps > 100, "long={long}: {sweeps} sweep signals");
    }
    // The sweeps that reach sizing are refused for a reason, not lost.
    let sized_sweeps = sweep_only
        .decisions
        .iter()
        .filter(|d| {
            matches!(
                d.blocked_by(),
                Some(Gate::StopTooClose | Gate::RrBelowMin | Gate::TpWrongSide)
            )
        })
        .count();
    assert!(sized_sweeps > 100, "{sized_sweeps}");
}

/// A strategy of `kind` with the default configuration.
fn default_strategy(kind: StrategyKind) -> Box<dyn Strategy> {
    build(kind, &StrategyConfig::default()).unwrap()
}

#[test]
fn deciding_into_a_used_decision_gives_the_decision_on_candle_gives() {
    // The engine decides into a decision it owns (`decide_into`); that must overwrite all of
    // it, whatever it held, on every path: warm-up, a stale candle, a block and an order.
    let candles = generate(5_000, 9);
    for kind in StrategyKind::ALL {
        let (mut plain, mut into) = (default_strategy(kind), default_strategy(kind));
        let earlier = simulate(default_strategy(kind).as_mut(), &candles, ctx());
        // Start from an order with every indicator recorded: the most a leftover could leak.
        let mut decision = *earlier
            .decisions
            .iter()
            .rev()
            .find(|d| d.order().is_some())
            .expect("the generated market gives an order");
        let (mut orders, mut stale) = (0, 0);
        for (i, candle) in candles.iter().enumerate() {
            // Every 500th candle is followed by itself again: refused as stale.
            let repeats = if i % 500 == 499 { 2 } else { 1 };
            for _ in 0..repeats {
                let expected = plain.on_candle(candle, &ctx());
                into.decide_into(candle, &ctx(), &mut decision);
                assert_eq!(decision, expected, "{kind} candle {i}");
                orders += usize::from(expected.order().is_some());
                stale += usize::from(expected.blocked_by() == Some(Gate::StaleCandle));
            }
        }
        assert!(
            orders > 0 && stale == 10,
            "{kind}: {orders} orders, {stale} stale"
        );
    }
}

#[test]
fn recorded_only_indicators_fill_again_when_recording_is_turned_back_on() {
    // Swing and equal levels feed no gate, so they are not kept while recording is off; on
    // again, they must report the candles since then, not a window with a hole in it.
    let candles = generate(1_500, 13);
    let config = SetupsConfig {
        record_equal_levels: true,
        ..SetupsConfig::default()
    };
    let mut toggled = SetupsStrategy::new(config.clone()).unwrap();
    let mut fresh = SetupsStrategy::new(config).unwrap();
    let (off, on) = (1_000, 1_100);
    let recorded = |d: &Decision| {
        let i = &d.indicators;
        (i.swing_high, i.swing_low, i.equal_high, i.equal_low)
    };
    let mut compared = 0;
    for (i, candle) in candles.iter().enumerate() {
        if i == off {
            toggled.record_indicators(false);
        }
        if i == on {
            toggled.record_indicators(true);
        }
        let decision = toggled.on_candle(candle, &ctx());
        if (off..on).contains(&i) {
            assert_eq!(recorded(&decision), (None, None, None, None), "candle {i}");
        }
        if i >= on {
            let expected = fresh.on_candle(candle, &ctx());
            assert_eq!(recorded(&decision), recorded(&expected), "candle {i}");
            compared += usize::from(expected.indicators.swing_high.is_some());
        }
    }
    assert_eq!(compared, candles.len() - on);
}

#[test]
fn turning_indicator_records_off_changes_no_decision() {
    let candles = generate(5_000, 5);
    for kind in StrategyKind::ALL {
        let (mut full, mut lean) = (default_strategy(kind), default_strategy(kind));
        lean.record_indicators(false);
        let full_run = simulate(full.as_mut(), &candles, ctx());
        let lean_run = simulate(lean.as_mut(), &candles, ctx());
        assert_eq!(full_run.orders, lean_run.orders, "{kind}");
        for (a, b) in full_run.decisions.iter().zip(&lean_run.decisions) {
            assert_eq!(
                (a.signal, a.setup, a.blocked_by()),
                (b.signal, b.setup, b.blocked_by())
            );
            assert_eq!(
                (a.indicators.trend, a.indicators.rr),
                (b.indicators.trend, b.indicators.rr)
            );
            assert_eq!(b.indicators.atr, None);
            assert_eq!(b.indicators.sma_fast, None);
        }
    }
}

#[test]
fn float_config_values_parse_to_the_written_decimal() {
    // TOML and JSON configs write fractions as floats; they must not pick up binary noise
    // (0.02 must stay 0.02, not exceed MAX_RISK_FRAC).
    let config: SetupsConfig =
        serde_json::from_str(r#"{"risk_frac": 0.02, "entry_band_frac": 0.001}"#).unwrap();
    assert_eq!(config.risk_frac, dec("0.02"));
    assert_eq!(config.entry_band_frac, dec("0.001"));
    assert!(SetupsStrategy::new(config).is_ok());
}
