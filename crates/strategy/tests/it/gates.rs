//! Every gate of the setups strategy blocks with its reason, and only then.

use la_core::Decimal;
use la_strategy::{
    Decision, Gate, Indicators, Regime, SetupsConfig, SetupsStrategy, Signal, SizingSpec, Strategy,
    StrategyContext,
};

use crate::{
    scenarios::{Feed, dip, expect_market, trend},
    support::{candle, ctx, dec},
};

/// Feeds 70 up-trend candles, then a dip candle (a long pullback when nothing blocks), all
/// with `context`.
fn at_pullback(context: StrategyContext) -> Decision {
    let mut feed =
        Feed::new(SetupsStrategy::new(SetupsConfig::default()).unwrap()).with_ctx(context);
    let before = trend(&mut feed, 70, false);
    dip(&mut feed, &before, false)
}

fn funding(rate: Option<&str>) -> StrategyContext {
    StrategyContext {
        funding_rate: rate.map(dec),
        ..ctx()
    }
}

#[test]
fn warmup_blocks_until_warmup_bars_candles() {
    let mut strategy = SetupsStrategy::new(SetupsConfig::default()).unwrap();
    assert_eq!(strategy.warmup_bars(), 50);
    for i in 0..49 {
        let d = strategy.on_candle(&candle(i, "100", "101", "99", "100", "1"), &ctx());
        assert_eq!(d.blocked_by(), Some(Gate::Warmup), "candle {i}");
    }
    let d = strategy.on_candle(&candle(49, "100", "101", "99", "100", "1"), &ctx());
    assert_ne!(d.blocked_by(), Some(Gate::Warmup));
    assert!(d.indicators.ema_slow.is_some());
}

#[test]
fn an_open_position_blocks_new_entries() {
    let d = at_pullback(StrategyContext {
        position_open: true,
        ..ctx()
    });
    assert_eq!(
        (d.signal, d.blocked_by(), d.order()),
        (Signal::Long, Some(Gate::PositionOpen), None)
    );
}

#[test]
fn extreme_funding_halts_and_hot_funding_blocks_either_sign() {
    for (rate, want) in [
        ("0.001", Gate::FundingExtreme),
        ("-0.0015", Gate::FundingExtreme),
        ("0.0005", Gate::FundingHot),
        ("-0.0007", Gate::FundingHot),
    ] {
        let d = at_pullback(funding(Some(rate)));
        assert_eq!(
            (d.signal, d.blocked_by()),
            (Signal::Long, Some(want)),
            "rate {rate}"
        );
        assert_eq!(d.indicators.funding_rate, Some(dec(rate)));
    }
}

#[test]
fn warm_funding_halves_the_size() {
    let full = at_pullback(funding(Some("0.0001"))).order().unwrap();
    let warm = at_pullback(funding(Some("-0.0003")));
    let half = warm.order().unwrap();
    assert_eq!(warm.indicators.size_mult, Some(dec("0.5")));
    assert_eq!(warm.indicators.size_reason, Some("funding_warm"));
    let diff = (full.qty.get() / Decimal::TWO - half.qty.get()).abs();
    assert!(diff <= dec("0.0001"), "{} vs {}", full.qty, half.qty);
}

#[test]
fn unknown_funding_trades_at_half_size_and_records_why() {
    let d = at_pullback(funding(None));
    expect_market(&d);
    assert_eq!(d.blocked_by(), None);
    assert_eq!(d.indicators.funding_rate, None);
    assert_eq!(d.indicators.size_mult, Some(dec("0.5")));
    assert_eq!(d.indicators.size_reason, Some("funding_unknown"));
}

#[test]
fn cooldown_blocks_the_next_candles_after_a_fill() {
    let mut feed = Feed::new(SetupsStrategy::new(SetupsConfig::default()).unwrap());
    let mut previous = trend(&mut feed, 70, false);
    let first = dip(&mut feed, &previous, false);
    expect_market(&first);
    feed.strategy.notify_trade_opened();
    previous = first;
    for bar in 0..5 {
        let d = dip(&mut feed, &previous, false);
        assert_eq!(
            (d.signal, d.blocked_by()),
            (Signal::Long, Some(Gate::Cooldown)),
            "bar {bar}"
        );
        previous = d;
    }
    let after = dip(&mut feed, &previous, false);
    expect_market(&after);
}

#[test]
fn low_volatility_blocks_a_market_too_quiet_for_a_stop() {
    let mut strategy = SetupsStrategy::new(SetupsConfig::default()).unwrap();
    let mut last = Decision::blocked(Gate::Warmup, Indicators::default());
    for i in 0..80 {
        // ATR ≈ 2 on 50,000: 0.004 % < 0.01 %.
        let close = if i % 2 == 0 { "50001" } else { "50000" };
        last = strategy.on_candle(&candle(i, "50000", "50001", "49999.5", close, "3"), &ctx());
    }
    assert_eq!(
        (last.signal, last.blocked_by()),
        (Signal::None, Some(Gate::LowVolatility))
    );
    assert_eq!(last.indicators.regime, Some(Regime::LowVol));
}

#[test]
fn tiny_equity_is_below_the_minimum_quantity_or_notional() {
    // 1 % of 2 USDT over a ~480 USDT loss per BTC (stop plus costs) is ~0.00004 BTC: below
    // the 0.0001 minimum, and with a 0.00001 lot about 2.4 USDT of notional, below 5.
    let d = at_pullback(StrategyContext {
        equity: dec("2"),
        ..ctx()
    });
    assert_eq!(d.blocked_by(), Some(Gate::BelowMinQty));

    let fine_lots = SizingSpec {
        qty_step: dec("0.00001"),
        min_qty: dec("0.00001"),
        ..SizingSpec::BITUNIX_BTCUSDT
    };
    let d = at_pullback(StrategyContext {
        equity: dec("2"),
        spec: fine_lots,
        ..ctx()
    });
    assert_eq!(d.blocked_by(), Some(Gate::BelowMinNotional));
}

#[test]
fn no_equity_and_a_broken_spec_block_instead_of_panicking() {
    let d = at_pullback(StrategyContext {
        equity: Decimal::ZERO,
        ..ctx()
    });
    assert_eq!(d.blocked_by(), Some(Gate::NoEquity));
    let d = at_pullback(StrategyContext {
        spec: SizingSpec {
            tick_size: Decimal::ZERO,
            ..SizingSpec::default()
        },
        ..ctx()
    });
    assert_eq!(d.blocked_by(), Some(Gate::InvalidSpec));
}

#[test]
fn leverage_caps_the_quantity() {
    // Uncapped: 100 USDT over a ~475 USDT loss per BTC is ~0.21 BTC (~12,000 USDT at
    // 57,100); at 1× the isolated margin (the whole notional) must fit the 10,000 equity
    // with room for a round trip's slippage: 10,000 / (57,100 × 1.0014).
    let config = SetupsConfig {
        max_leverage: dec("1"),
        ..SetupsConfig::default()
    };
    let mut feed = Feed::new(SetupsStrategy::new(config).unwrap());
    let before = trend(&mut feed, 70, false);
    let order = dip(&mut feed, &before, false).order().unwrap();
    let cap = dec("10000") / (order.entry_reference.get() * dec("1.0014"));
    assert_eq!(order.leverage.get(), 1);
    assert!(
        order.qty.get() <= cap && order.qty.get() > cap - dec("0.0001"),
        "{order:?}"
    );
}

#[test]
fn a_repeated_or_older_candle_is_refused_without_touching_the_indicators() {
    let candles: Vec<_> = (0..60)
        .map(|i| {
            let close = format!("{}", 100 + (i % 7));
            candle(i, "100", "108", "99", &close, "2")
        })
        .collect();
    let mut clean = SetupsStrategy::new(SetupsConfig::default()).unwrap();
    let mut noisy = SetupsStrategy::new(SetupsConfig::default()).unwrap();
    for (i, c) in candles.iter().enumerate() {
        let want = clean.on_candle(c, &ctx());
        let got = noisy.on_candle(c, &ctx());
        assert_eq!(got, want);
        if i > 0 {
            let stale = noisy.on_candle(&candles[i - 1], &ctx());
            assert_eq!(stale.blocked_by(), Some(Gate::StaleCandle));
            let again = noisy.on_candle(c, &ctx());
            assert_eq!(again.blocked_by(), Some(Gate::StaleCandle));
        }
    }
}
