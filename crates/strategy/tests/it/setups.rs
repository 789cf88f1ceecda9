//! The setups strategy on crafted candles: each setup fires with the documented geometry,
//! and each filter and gate blocks with its reason.

use la_core::{Decimal, OrderKind, Side};
use la_strategy::{
    Decision, Gate, PullbackEntry, SetupsConfig, SetupsStrategy, Signal, StrategyContext, Trend,
};

use crate::{
    real_candles::assert_plan_valid,
    scenarios::{Feed, SweepTape, dip, expect_market, fine_ctx, sweep, trend},
    support::{ctx, dec},
};

fn setups(config: SetupsConfig) -> SetupsStrategy {
    SetupsStrategy::new(config).unwrap()
}

fn floor_to(value: Decimal, step: Decimal) -> Decimal {
    (value / step).floor() * step
}

fn ceil_to(value: Decimal, step: Decimal) -> Decimal {
    (value / step).ceil() * step
}

/// A long pullback after 70 trend candles.
fn pullback_long(config: SetupsConfig, ctx: StrategyContext) -> (Feed<SetupsStrategy>, Decision) {
    let mut feed = Feed::new(setups(config)).with_ctx(ctx);
    let before = trend(&mut feed, 70, false);
    assert_eq!(before.blocked_by(), Some(Gate::NoConditions), "{before:#?}");
    assert_eq!(before.indicators.trend, Some(Trend::Up));
    let decision = dip(&mut feed, &before, false);
    (feed, decision)
}

#[test]
fn pullback_long_fires_at_the_close_when_an_uptrend_dips_into_the_ema_band() {
    let (feed, decision) = pullback_long(SetupsConfig::default(), ctx());
    expect_market(&decision);
    let order = decision.order().unwrap();
    assert_eq!(
        (decision.signal, decision.setup),
        (Signal::Long, Some("pullback_ribbon"))
    );
    assert_eq!(decision.blocked_by(), None);
    assert_eq!(order.side, Side::Long);
    assert_eq!(order.entry_reference.get(), feed.last_close);

    // Stop 1.5 ATR below the close (rounded down to the 0.1 tick); target 2 R net of the
    // round-trip cost c = entry × 0.0014 above: entry + 2 × (1.5 ATR + c) + c (rounded down,
    // toward the entry); qty = 1 % of 10,000 / (stop distance + c), floored.
    let atr = decision.indicators.atr.unwrap();
    let entry = feed.last_close;
    let tick = dec("0.1");
    let cost = entry * dec("0.0014");
    let distance = atr * dec("1.5");
    let stop = floor_to(entry - distance, tick);
    let target = floor_to(entry + (distance + cost) * dec("2") + cost, tick);
    assert_eq!(order.stop_loss.get(), stop);
    assert_eq!(order.take_profit.unwrap().get(), target);
    let qty = floor_to(dec("100") / (entry - stop + cost), dec("0.0001"));
    assert_eq!(order.qty.get(), qty);
    // The loss at the stop, costs included, is within one quantity step of the budget.
    let loss = (entry - stop + cost) * qty;
    assert!(
        loss <= dec("100") && loss > dec("100") - (entry - stop + cost) * dec("0.0001"),
        "{loss}"
    );
    // Net reward/risk is the 2 R target less the tick rounding.
    let rr = decision.indicators.rr.unwrap();
    assert!(rr > dec("1.99") && rr <= dec("2"), "rr {rr}");
    let multiple = decision.indicators.stop_cost_multiple.unwrap();
    assert_eq!(multiple, ((entry - stop) / cost).round_dp(2));
    assert!(multiple >= dec("3"), "{multiple}");
    assert_eq!(decision.indicators.size_mult, Some(Decimal::ONE));
    assert_plan_valid(&order, &ctx(), dec("0.01"));
}

#[test]
fn pullback_short_fires_when_a_downtrend_rallies_into_the_ema_band() {
    let mut feed = Feed::new(setups(SetupsConfig::default()));
    let before = trend(&mut feed, 70, true);
    assert_eq!(before.indicators.trend, Some(Trend::Down));
    let decision = dip(&mut feed, &before, true);
    expect_market(&decision);
    let order = decision.order().unwrap();
    assert_eq!((decision.signal, order.side), (Signal::Short, Side::Short));
    let atr = decision.indicators.atr.unwrap();
    let entry = feed.last_close;
    let cost = entry * dec("0.0014");
    // Short: stop rounded up (away), target rounded up (toward the entry).
    assert_eq!(
        order.stop_loss.get(),
        ceil_to(entry + atr * dec("1.5"), dec("0.1"))
    );
    assert_eq!(
        order.take_profit.unwrap().get(),
        ceil_to(
            entry - (atr * dec("1.5") + cost) * dec("2") - cost,
            dec("0.1")
        )
    );
    assert_plan_valid(&order, &ctx(), dec("0.01"));
}

#[test]
fn pullback_needs_the_dip_into_the_band() {
    let mut feed = Feed::new(setups(SetupsConfig::default()));
    for decision in (0..30).map(|_| trend(&mut feed, 3, false)) {
        assert_eq!(decision.order(), None);
    }
    let decision = trend(&mut feed, 1, false);
    assert_eq!(decision.indicators.trend, Some(Trend::Up));
    assert_eq!(
        (decision.signal, decision.blocked_by()),
        (Signal::None, Some(Gate::NoConditions))
    );
}

#[test]
fn pullback_limit_entry_rests_at_the_ema_on_every_trend_candle() {
    let config = SetupsConfig {
        pullback_entry: PullbackEntry::Limit,
        ..SetupsConfig::default()
    };
    let mut feed = Feed::new(setups(config));
    let decision = trend(&mut feed, 70, false);
    let order = decision.order().unwrap_or_else(|| panic!("{decision:#?}"));
    let ema = decision.indicators.ema_fast.unwrap();
    let OrderKind::Limit { price } = order.kind else {
        panic!("expected a limit: {order:?}");
    };
    assert_eq!(
        price.get(),
        floor_to(ema, dec("0.1")),
        "a long buys at or below the EMA"
    );
    assert_eq!(order.entry_reference, price);
    assert!(order.stop_loss < price && price < order.take_profit.unwrap());
    assert_plan_valid(&order, &ctx(), dec("0.01"));
}

fn sweep_only() -> SetupsConfig {
    SetupsConfig {
        pullback_enabled: false,
        ..SetupsConfig::default()
    }
}

#[test]
fn sweep_long_fires_on_a_reclaimed_low_with_the_vwap_as_target() {
    let mut feed = Feed::new(setups(sweep_only())).with_ctx(fine_ctx());
    let decision = sweep(&mut feed, SweepTape::default());
    expect_market(&decision);
    let order = decision.order().unwrap();
    assert_eq!(
        (decision.signal, decision.setup),
        (Signal::Long, Some("sweep_invalidation"))
    );
    assert_eq!(decision.indicators.sweep.map(|s| s.as_str()), Some("low"));
    let level = decision.indicators.sweep_level.unwrap();
    let atr = decision.indicators.atr.unwrap();
    let vwap = decision.indicators.vwap.unwrap();
    assert_eq!(
        order.stop_loss.get(),
        floor_to(level - atr * dec("0.5"), dec("0.01"))
    );
    assert_eq!(
        order.take_profit.unwrap().get(),
        floor_to(vwap, dec("0.01"))
    );
    assert!(decision.indicators.rr.unwrap() >= dec("1.5"));
    assert_plan_valid(&order, &fine_ctx(), dec("0.01"));
}

#[test]
fn sweep_short_fires_on_a_reclaimed_high() {
    let mut feed = Feed::new(setups(sweep_only())).with_ctx(fine_ctx());
    let tape = SweepTape {
        mirror: true,
        ..SweepTape::default()
    };
    let decision = sweep(&mut feed, tape);
    expect_market(&decision);
    let order = decision.order().unwrap();
    assert_eq!(
        (order.side, decision.indicators.sweep.map(|s| s.as_str())),
        (Side::Short, Some("high"))
    );
    let level = decision.indicators.sweep_level.unwrap();
    let atr = decision.indicators.atr.unwrap();
    assert_eq!(
        order.stop_loss.get(),
        ceil_to(level + atr * dec("0.5"), dec("0.01"))
    );
    assert_eq!(
        order.take_profit.unwrap().get(),
        ceil_to(decision.indicators.vwap.unwrap(), dec("0.01"))
    );
    assert_plan_valid(&order, &fine_ctx(), dec("0.01"));
}

fn blocked_sweep(config: SetupsConfig, tape: SweepTape) -> Decision {
    let mut feed = Feed::new(setups(config)).with_ctx(fine_ctx());
    let decision = sweep(&mut feed, tape);
    assert_eq!(decision.order(), None, "{decision:#?}");
    assert_eq!(decision.setup, Some("sweep_invalidation"), "{decision:#?}");
    decision
}

#[test]
fn ema_filter_blocks_a_sweep_against_the_short_term_trend() {
    let tape = SweepTape {
        falling: true,
        ..SweepTape::default()
    };
    let decision = blocked_sweep(sweep_only(), tape);
    assert!(decision.indicators.ema_filter.unwrap() < decision.indicators.ema_fast.unwrap());
    assert_eq!(
        (decision.signal, decision.blocked_by()),
        (Signal::Long, Some(Gate::EmaFilter))
    );
}

#[test]
fn volume_filter_blocks_a_thin_sweep() {
    let tape = SweepTape {
        sweep_volume: "1",
        ..SweepTape::default()
    };
    let decision = blocked_sweep(sweep_only(), tape);
    assert_eq!(decision.blocked_by(), Some(Gate::VolumeFilter));
}

#[test]
fn cvd_confirmation_blocks_only_when_required_and_absent() {
    let required = SetupsConfig {
        require_cvd_confirm: true,
        ..sweep_only()
    };
    // The sweep closes in the upper part of its range: CVD rises, a bullish divergence.
    let mut feed = Feed::new(setups(required.clone())).with_ctx(fine_ctx());
    let confirmed = sweep(&mut feed, SweepTape::default());
    assert_eq!(
        confirmed.indicators.cvd_divergence.map(|d| d.as_str()),
        Some("bullish")
    );
    expect_market(&confirmed);

    // A close just above the level is in the lower part of the range: CVD falls, no
    // divergence.
    let tape = SweepTape {
        close_above_level: "0.01",
        ..SweepTape::default()
    };
    let decision = blocked_sweep(required, tape);
    assert_eq!(decision.blocked_by(), Some(Gate::CvdConfirmation));
    // Without the requirement the same candle trades.
    let mut feed = Feed::new(setups(sweep_only())).with_ctx(fine_ctx());
    expect_market(&sweep(&mut feed, tape));
}

#[test]
fn target_on_the_wrong_side_of_the_entry_is_rejected() {
    // VWAP below the entry: an absolute (unsigned) reward/risk check let this long through.
    let tape = SweepTape {
        vwap_below: true,
        ..SweepTape::default()
    };
    let decision = blocked_sweep(sweep_only(), tape);
    assert!(decision.indicators.vwap.unwrap() < dec("100"));
    assert_eq!(
        (decision.signal, decision.blocked_by()),
        (Signal::Long, Some(Gate::TpWrongSide))
    );
}

#[test]
fn reward_to_risk_below_the_minimum_is_rejected() {
    let config = SetupsConfig {
        rr_min: dec("2.5"),
        ..SetupsConfig::default()
    };
    let (_, decision) = pullback_long(config, ctx());
    assert_eq!(decision.blocked_by(), Some(Gate::RrBelowMin));
    assert!(decision.indicators.rr.unwrap() < dec("2.5"));
}
