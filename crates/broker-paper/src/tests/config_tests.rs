//! Instrument spec rounding and configuration validation.

use rust_decimal::Decimal;

use super::{btc, d};
use crate::{
    BrokerConfig, BrokerError, InstrumentSpec, PaperBroker, PriceRounding, TrailingConfig,
};

#[test]
fn btcusdt_spec_matches_the_exchange_trading_pairs_row() {
    let spec = InstrumentSpec::btcusdt();
    assert_eq!(spec.symbol, btc());
    assert_eq!(spec.tick_size, d("0.1"));
    assert_eq!(spec.qty_step, d("0.0001"));
    assert_eq!(spec.min_qty, d("0.0001"));
    assert_eq!(spec.maker_fee, d("0.0002"));
    assert_eq!(spec.taker_fee, d("0.0006"));
    spec.validate().unwrap();
}

#[test]
fn prices_round_to_the_tick_in_the_named_direction_only() {
    let spec = InstrumentSpec::btcusdt();
    let cases = [
        ("100000.05", PriceRounding::Down, "100000.0"),
        ("100000.05", PriceRounding::Up, "100000.1"),
        ("100000.1", PriceRounding::Down, "100000.1"),
        ("100000.1", PriceRounding::Up, "100000.1"),
        ("99999.99", PriceRounding::Up, "100000.0"),
        ("0.15", PriceRounding::Down, "0.1"),
    ];
    for (input, dir, expected) in cases {
        let rounded = spec.round_price(d(input), dir).unwrap();
        assert_eq!(rounded.get(), d(expected), "{input} {dir:?}");
    }
    // Rounds to zero: not a price, so no silent substitute.
    assert_eq!(spec.round_price(d("0.05"), PriceRounding::Down), None);
}

#[test]
fn non_decimal_ticks_round_exactly() {
    let spec = InstrumentSpec {
        tick_size: d("0.25"),
        qty_step: d("0.003"),
        min_qty: d("0.006"),
        ..InstrumentSpec::btcusdt()
    };
    spec.validate().unwrap();
    assert_eq!(
        spec.round_price(d("100.3"), PriceRounding::Down)
            .unwrap()
            .get(),
        d("100.25")
    );
    assert_eq!(
        spec.round_price(d("100.3"), PriceRounding::Up)
            .unwrap()
            .get(),
        d("100.5")
    );
    assert_eq!(
        spec.round_price(d("100.5"), PriceRounding::Up)
            .unwrap()
            .get(),
        d("100.5")
    );
    assert_eq!(spec.round_qty_down(d("0.0101")).unwrap().get(), d("0.009"));
    assert_eq!(
        spec.round_qty_down(d("0.0059")),
        None,
        "below min after flooring"
    );
}

#[test]
fn quantities_round_down_to_the_step_and_never_up_to_the_minimum() {
    let spec = InstrumentSpec::btcusdt();
    assert_eq!(
        spec.round_qty_down(d("0.33339")).unwrap().get(),
        d("0.3333")
    );
    assert_eq!(spec.round_qty_down(d("0.0001")).unwrap().get(), d("0.0001"));
    assert_eq!(spec.round_qty_down(d("0.00009")), None);
}

#[test]
fn invalid_specs_are_refused_with_the_field_named() {
    let base = InstrumentSpec::btcusdt();
    let cases: Vec<(InstrumentSpec, &str)> = vec![
        (
            InstrumentSpec {
                tick_size: Decimal::ZERO,
                ..base.clone()
            },
            "tick_size",
        ),
        (
            InstrumentSpec {
                qty_step: d("-1"),
                ..base.clone()
            },
            "qty_step",
        ),
        (
            InstrumentSpec {
                min_qty: d("0.00015"),
                ..base.clone()
            },
            "min_qty",
        ),
        (
            InstrumentSpec {
                taker_fee: d("0.06"),
                ..base.clone()
            },
            "taker_fee",
        ),
        (
            InstrumentSpec {
                maker_fee: d("-0.5"),
                ..base.clone()
            },
            "maker_fee",
        ),
        (
            InstrumentSpec {
                tick_size: d("0.000000001"),
                qty_step: d("0.00000001"),
                ..base.clone()
            },
            "decimal places",
        ),
    ];
    for (spec, needle) in cases {
        match spec.validate() {
            Err(BrokerError::InvalidConfig(msg)) => assert!(msg.contains(needle), "{msg}"),
            other => panic!("{needle}: expected InvalidConfig, got {other:?}"),
        }
    }
    // A maker rebate is legitimate.
    InstrumentSpec {
        maker_fee: d("-0.0002"),
        ..base
    }
    .validate()
    .unwrap();
}

#[test]
fn defaults_are_the_documented_values() {
    let config = BrokerConfig::default();
    assert_eq!(config.starting_balance, d("10000"));
    assert_eq!(config.slippage_bps, d("1"));
    assert_eq!(config.slippage_jitter_bps, Decimal::ZERO);
    assert_eq!(config.half_spread_bps, d("0.5"));
    assert_eq!(config.seed, 7);
    assert_eq!(config.latency_ms, 0);
    assert_eq!(config.max_notional, d("200000"));
    assert_eq!(config.max_leverage, d("20"));
    assert_eq!(config.max_risk_per_trade, d("200"));
    assert_eq!(config.max_orders_per_minute, 10);
    assert_eq!(config.daily_loss_limit_frac, d("0.05"));
    assert_eq!(
        config.trailing,
        Some(TrailingConfig {
            activation_r: d("1"),
            distance_r: d("1")
        })
    );
    assert_eq!(config.max_bars_open, None);
    assert_eq!(config.liquidity_cap_frac, None);
    assert_eq!(config.processed_id_retention, 10_000);
    config.validate().unwrap();
}

#[test]
fn invalid_configs_are_refused_before_a_broker_exists() {
    let base = BrokerConfig::default();
    let cases: Vec<(BrokerConfig, &str)> = vec![
        (
            BrokerConfig {
                starting_balance: Decimal::ZERO,
                ..base.clone()
            },
            "starting_balance",
        ),
        (
            BrokerConfig {
                slippage_bps: d("-1"),
                ..base.clone()
            },
            "slippage_bps",
        ),
        (
            BrokerConfig {
                half_spread_bps: d("5000"),
                ..base.clone()
            },
            "half_spread_bps",
        ),
        (
            BrokerConfig {
                latency_ms: -1,
                ..base.clone()
            },
            "latency_ms",
        ),
        (
            BrokerConfig {
                max_orders_per_minute: 0,
                ..base.clone()
            },
            "max_orders_per_minute",
        ),
        (
            BrokerConfig {
                daily_loss_limit_frac: d("5"),
                ..base.clone()
            },
            "daily_loss_limit_frac",
        ),
        (
            BrokerConfig {
                max_bars_open: Some(0),
                ..base.clone()
            },
            "max_bars_open",
        ),
        (
            BrokerConfig {
                liquidity_cap_frac: Some(d("1.5")),
                ..base.clone()
            },
            "liquidity_cap_frac",
        ),
        (
            BrokerConfig {
                processed_id_retention: 0,
                ..base.clone()
            },
            "processed_id_retention",
        ),
        (
            BrokerConfig {
                trailing: Some(TrailingConfig {
                    activation_r: d("1"),
                    distance_r: Decimal::ZERO,
                }),
                ..base.clone()
            },
            "distance_r",
        ),
    ];
    for (config, needle) in cases {
        match PaperBroker::new(config) {
            Err(BrokerError::InvalidConfig(msg)) => assert!(msg.contains(needle), "{msg}"),
            other => panic!("{needle}: expected InvalidConfig, got {other:?}"),
        }
    }
}

#[test]
fn config_deserializes_partial_toml_like_json_with_defaults_and_refuses_unknown_keys() {
    let config: BrokerConfig =
        serde_json::from_str(r#"{"slippage_bps": "2", "latency_ms": 250}"#).unwrap();
    assert_eq!(config.slippage_bps, d("2"));
    assert_eq!(config.latency_ms, 250);
    assert_eq!(config.max_notional, d("200000"));
    let err = serde_json::from_str::<BrokerConfig>(r#"{"slipage_bps": "2"}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}
