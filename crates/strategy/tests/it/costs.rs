//! Trading costs in sizing and gating: the loss at the stop includes the round trip's fees
//! and slippage, fee-dominated stops are refused, reward/risk is net, and the daily loss
//! budget stops entries before the broker's daily limit would.

use la_core::Decimal;
use la_strategy::{
    Decision, Gate, Indicators, SetupsConfig, SetupsStrategy, Signal, SizingSpec, SmaCrossConfig,
    SmaCrossStrategy, Strategy, StrategyContext,
};

use crate::{
    real_candles::assert_plan_valid,
    scenarios::{Feed, SweepTape, dip, fine_ctx, sweep, trend, trend_by},
    support::{ctx, dec},
};

fn floor_to(value: Decimal, step: Decimal) -> Decimal {
    (value / step).floor() * step
}

/// A long pullback in a slow trend (+10 a candle, 3-point wicks at ~50,700): 1.5 ATR is
/// about 24 USDT, a third of one 0.14 % round trip (~71 USDT).
fn slow_pullback(config: SetupsConfig, context: StrategyContext) -> Decision {
    let mut feed = Feed::new(SetupsStrategy::new(config).unwrap()).with_ctx(context);
    let before = trend_by(&mut feed, 70, false, dec("10"), dec("3"));
    let ema = before.indicators.ema_fast.unwrap();
    let open = feed.last_close;
    let close = open + dec("10");
    feed.bar(open, close + dec("3"), ema + dec("10"), close, dec("5"))
}

#[test]
fn a_stop_inside_three_round_trip_costs_is_refused_as_fee_dominated() {
    let decision = slow_pullback(SetupsConfig::default(), ctx());
    assert_eq!(
        (decision.signal, decision.blocked_by(), decision.order()),
        (Signal::Long, Some(Gate::StopTooClose), None)
    );
    let multiple = decision.indicators.stop_cost_multiple.unwrap();
    assert!(
        multiple > Decimal::ZERO && multiple < dec("1"),
        "{multiple}"
    );
}

#[test]
fn without_the_gate_a_tight_stop_is_sized_on_stop_plus_costs() {
    let config = SetupsConfig {
        min_stop_cost_multiple: Decimal::ZERO,
        max_leverage: dec("20"),
        ..SetupsConfig::default()
    };
    let decision = slow_pullback(config.clone(), ctx());
    let order = decision.order().unwrap_or_else(|| panic!("{decision:#?}"));
    let entry = order.entry_reference.get();
    let risk = entry - order.stop_loss.get();
    let cost = entry * dec("0.0014");
    // 100 USDT over (~24 + ~71) per BTC, not over ~24: about a quarter of the fee-blind size.
    assert_eq!(
        order.qty.get(),
        floor_to(dec("100") / (risk + cost), dec("0.0001"))
    );
    assert_plan_valid(&order, &ctx(), dec("0.01"));

    let costless = StrategyContext {
        spec: SizingSpec {
            round_trip_cost_frac: Decimal::ZERO,
            ..SizingSpec::BITUNIX_BTCUSDT
        },
        ..ctx()
    };
    let blind = slow_pullback(config, costless).order().unwrap();
    assert_eq!(blind.qty.get(), floor_to(dec("100") / risk, dec("0.0001")));
    assert!(
        blind.qty.get() > order.qty.get() * dec("3"),
        "{blind:?} vs {order:?}"
    );
}

#[test]
fn reward_to_risk_is_net_of_costs() {
    let sweep_only = || {
        SetupsStrategy::new(SetupsConfig {
            pullback_enabled: false,
            min_stop_cost_multiple: Decimal::ZERO,
            ..SetupsConfig::default()
        })
        .unwrap()
    };
    let costless = StrategyContext {
        spec: SizingSpec {
            round_trip_cost_frac: Decimal::ZERO,
            ..fine_ctx().spec
        },
        ..fine_ctx()
    };
    let mut feed = Feed::new(sweep_only()).with_ctx(costless);
    let gross = sweep(&mut feed, SweepTape::default());
    let order = gross.order().unwrap_or_else(|| panic!("{gross:#?}"));
    let entry = order.entry_reference.get();
    let risk = entry - order.stop_loss.get();
    let reward = order.take_profit.unwrap().get() - entry;
    assert_eq!(gross.indicators.rr, Some((reward / risk).round_dp(4)));
    assert!(gross.indicators.rr.unwrap() >= dec("1.5"));
    assert_eq!(
        gross.indicators.stop_cost_multiple, None,
        "no costs, no multiple"
    );

    // A 0.3 % round trip: the same geometry is under 1.5 R once costs are netted out.
    let costly = StrategyContext {
        spec: SizingSpec {
            round_trip_cost_frac: dec("0.003"),
            ..fine_ctx().spec
        },
        ..fine_ctx()
    };
    let mut feed = Feed::new(sweep_only()).with_ctx(costly);
    let net = sweep(&mut feed, SweepTape::default());
    let cost = entry * dec("0.003");
    let rr = ((reward - cost) / (risk + cost)).round_dp(4);
    assert_eq!(net.indicators.rr, Some(rr));
    assert!(rr < dec("1.5"), "{rr}");
    assert_eq!(net.blocked_by(), Some(Gate::RrBelowMin));
}

/// A default setups feed whose first candle opens 80 minutes before midnight UTC, so 70
/// trend candles and a dip close on day one.
fn feed_before_midnight() -> Feed<SetupsStrategy> {
    let mut feed = Feed::new(SetupsStrategy::new(SetupsConfig::default()).unwrap());
    feed.index = 1_440 - 80;
    feed.last_close = dec("50000");
    feed
}

#[test]
fn daily_loss_budget_blocks_entries_until_the_next_utc_day() {
    let mut feed = feed_before_midnight();
    trend(&mut feed, 40, false);
    // A 3.5 % realized loss since the day's first candle (budget 3 %).
    feed.ctx.equity = dec("9650");
    let before = trend(&mut feed, 30, false);
    let blocked = dip(&mut feed, &before, false);
    assert_eq!(
        (blocked.signal, blocked.blocked_by(), blocked.order()),
        (Signal::Long, Some(Gate::DailyLossBudget), None)
    );
    // Exactly 3 % is still inside the budget.
    let mut edge = feed_before_midnight();
    trend(&mut edge, 40, false);
    edge.ctx.equity = dec("9700");
    let before = trend(&mut edge, 30, false);
    assert!(dip(&mut edge, &before, false).order().is_some());

    // The next UTC day starts a new budget from the equity it opens with.
    let before = trend(&mut feed, 20, false);
    let next_day = dip(&mut feed, &before, false);
    assert_eq!(next_day.blocked_by(), None, "{next_day:#?}");
    assert!(next_day.order().is_some());
}

#[test]
fn a_zero_daily_budget_disables_the_gate() {
    let config = SetupsConfig {
        max_daily_loss_frac: Decimal::ZERO,
        ..SetupsConfig::default()
    };
    let mut feed = Feed::new(SetupsStrategy::new(config).unwrap());
    trend(&mut feed, 40, false);
    feed.ctx.equity = dec("5000");
    let before = trend(&mut feed, 30, false);
    assert!(dip(&mut feed, &before, false).order().is_some());
}

#[test]
fn the_crossover_stops_for_the_day_after_its_loss_budget() {
    let closes = ["99000", "99000", "99000", "99000", "99000", "100000"];
    let mut strategy = SmaCrossStrategy::new(SmaCrossConfig {
        fast: 2,
        slow: 4,
        ..SmaCrossConfig::default()
    })
    .unwrap();
    let mut last = Decision::blocked(Gate::Warmup, Indicators::default());
    for (i, close) in closes.iter().enumerate() {
        let context = StrategyContext {
            equity: if i == 0 { dec("10000") } else { dec("9600") },
            ..ctx()
        };
        last = strategy.on_candle(&crate::support::flat(i as i64, close), &context);
    }
    assert_eq!(
        (last.signal, last.blocked_by()),
        (Signal::Long, Some(Gate::DailyLossBudget))
    );
}

#[test]
fn a_spec_with_a_percent_for_its_cost_is_refused() {
    assert_eq!(
        SizingSpec::round_trip_cost(dec("0.0006"), dec("0.0001")),
        Some(SizingSpec::BITUNIX_BTCUSDT.round_trip_cost_frac)
    );
    let mut feed = Feed::new(SetupsStrategy::new(SetupsConfig::default()).unwrap()).with_ctx(
        StrategyContext {
            spec: SizingSpec {
                round_trip_cost_frac: dec("0.14"),
                ..SizingSpec::BITUNIX_BTCUSDT
            },
            ..ctx()
        },
    );
    let before = trend(&mut feed, 70, false);
    assert_eq!(
        dip(&mut feed, &before, false).blocked_by(),
        Some(Gate::InvalidSpec)
    );
}
