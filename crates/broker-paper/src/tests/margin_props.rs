//! Property: **a position whose stop is nearer than its liquidation price is never
//! liquidated on a continuous path.** Precisely, for a position whose stop — and the stop's
//! fill after slippage — lies strictly between its entry and its liquidation price:
//!
//! - every tick, however far it jumps (through the stop *and* the liquidation price), exits
//!   by the stop: the path is continuous between ticks, so the nearer level comes first;
//! - every candle whose open lies on the entry side of the liquidation price exits by the
//!   stop's rules (at the stop, or at the open when it gapped through the stop only), never by
//!   liquidation, however far the bar's range reaches;
//! - a candle whose **open is at or beyond the liquidation price** (a gap through both levels:
//!   the price was never between them) liquidates, at the liquidation price and never worse;
//!   so does one whose open gapped through the stop so close to the liquidation price that the
//!   stop's fill at that open, after its slippage, would lie at or beyond it. That is the one
//!   way such a position is liquidated, and the only case the stop cannot help.
//!
//! The runner counts how often each case occurred, so the test proves it exercised both the
//! tick through both levels and the gap liquidation.

use std::cell::Cell;

use la_core::{
    Broker, BrokerEvent, Candle, ExitReason, Interval, Leverage, MarginInputs, MarginRates,
    OrderIntent, OrderKind, OrderSpec, Side,
};
use proptest::{
    prelude::*,
    test_runner::{Config, TestRunner},
};
use rust_decimal::Decimal;

use super::*;
use crate::{BrokerConfig, MarketFillModel, PaperBroker};

#[derive(Clone, Debug)]
enum Step {
    Tick {
        dollars: i32,
    },
    Candle {
        gap: i32,
        body: i32,
        up: u16,
        down: u16,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (-400i32..400).prop_map(|dollars| Step::Tick { dollars }),
        1 => (-40_000i32..40_000).prop_map(|dollars| Step::Tick { dollars }),
        2 => (
            prop_oneof![2 => Just(0i32), 1 => -40_000i32..40_000],
            -600i32..600,
            0u16..20_000,
            0u16..20_000,
        )
            .prop_map(|(gap, body, up, down)| Step::Candle { gap, body, up, down }),
    ]
}

#[derive(Clone, Debug)]
struct Case {
    long: bool,
    leverage: u32,
    /// Where the stop lies between the entry (0) and the liquidation price (1000), in ‰.
    stop_permille: i64,
    qty_steps: i64,
    slippage: &'static str,
    jitter: &'static str,
    seed: u64,
    steps: Vec<Step>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        1u32..=20,
        50i64..=900,
        1i64..500,
        prop::sample::select(vec!["0", "1", "5"]),
        prop::sample::select(vec!["0", "3"]),
        any::<u64>(),
        prop::collection::vec(step(), 1..60),
    )
        .prop_map(
            |(long, leverage, stop_permille, qty_steps, slippage, jitter, seed, steps)| Case {
                long,
                leverage,
                stop_permille,
                qty_steps,
                slippage,
                jitter,
                seed,
                steps,
            },
        )
}

/// What happened in one case.
#[derive(Default)]
struct Seen {
    tick_through_both: bool,
    gap_liquidation: bool,
}

fn run(case: &Case) -> Result<Seen, TestCaseError> {
    let side = if case.long { Side::Long } else { Side::Short };
    let config = BrokerConfig {
        slippage_bps: d(case.slippage),
        slippage_jitter_bps: d(case.jitter),
        half_spread_bps: d("0.5"),
        market_fill: MarketFillModel::DecisionPrice,
        seed: case.seed,
        trailing: None,
        max_risk_per_trade: d("1000000"),
        // The walk moves up to 30 % a step, down to 1/1000 of the entry, to reach every
        // liquidation price; the plausibility band (tested on its own) must not stand in the
        // way here.
        price_band: d("1000"),
        ..BrokerConfig::default()
    };
    let entry = d("100000");
    let qty_value = Decimal::new(case.qty_steps, 4);
    let leverage = Leverage::new(case.leverage).unwrap();
    // The liquidation price the expected fill would get (the actual fill is a few bp away;
    // a stop at most 90 % of the way keeps its slipped fill well inside).
    let cost = entry * qty_value;
    let expected = MarginRates::BITUNIX_BTCUSDT
        .liquidation_price(
            side,
            &MarginInputs {
                cost,
                qty: qty_value,
                entry_fees: cost * d("0.0006"),
                margin: cost / leverage.as_decimal(),
            },
            d("0.1"),
        )
        .unwrap();
    let stop = (entry + (expected.get() - entry) * Decimal::new(case.stop_permille, 3)).round_dp(1);
    let mut broker = PaperBroker::new(config).unwrap();
    let order = OrderIntent::new(OrderSpec {
        client_order_id: id("p-1"),
        side,
        kind: OrderKind::Market,
        qty: Qty::new(qty_value).unwrap(),
        entry_reference: Price::new(entry).unwrap(),
        stop_loss: Price::new(stop).unwrap(),
        take_profit: None,
        leverage,
    })
    .unwrap();
    let mut events = Vec::new();
    broker.submit(order, ts(0), &mut events).unwrap();
    let position = broker.position().unwrap();
    let liquidation = position.liquidation_price;
    let beyond = |price: Decimal| match side {
        Side::Long => price <= liquidation.get(),
        Side::Short => price >= liquidation.get(),
    };
    // The premise: the stop and its worst slipped fill lie strictly between entry and
    // liquidation price.
    let worst_slip = (d(case.slippage) + d(case.jitter)) * d("0.0001");
    let slipped_stop = stop - side.sign() * stop * worst_slip;
    prop_assume!(!beyond(slipped_stop) && !beyond(stop));
    let mut seen = Seen::default();
    let mut mid = entry;
    let mut now = 0i64;
    for step in &case.steps {
        let mut events = Vec::new();
        // Whether the open, slipped as a stop fill there with the least and with the most
        // slippage the configuration can draw, reaches the liquidation price.
        let (mut gap_surely, mut gap_possibly) = (false, false);
        let mut through_both = false;
        match step {
            Step::Tick { dollars } => {
                now += 1_000;
                mid = (mid + Decimal::from(*dollars)).max(d("100"));
                through_both = beyond(mid);
                let tick = Tick::new(btc(), ts(now), Price::new(mid).unwrap(), None, None).unwrap();
                broker.on_tick(&tick, &mut events).unwrap();
            }
            Step::Candle {
                gap,
                body,
                up,
                down,
            } => {
                let open_time = now - now.rem_euclid(MINUTE) + MINUTE;
                let open = (mid + Decimal::from(*gap)).max(d("100"));
                let close = (open + Decimal::from(*body)).max(d("100"));
                let high = open.max(close) + Decimal::from(*up);
                let low = (open.min(close) - Decimal::from(*down)).max(d("50"));
                let candle = Candle::new(
                    Interval::M1,
                    ts(open_time),
                    Price::new(open).unwrap(),
                    Price::new(high).unwrap(),
                    Price::new(low).unwrap(),
                    Price::new(close).unwrap(),
                    Volume::new(d("1")).unwrap(),
                )
                .unwrap();
                let slipped = |bps: Decimal| {
                    let moved = open - side.sign() * open * bps * d("0.0001");
                    let rounding = match side {
                        Side::Long => rust_decimal::RoundingStrategy::ToNegativeInfinity,
                        Side::Short => rust_decimal::RoundingStrategy::ToPositiveInfinity,
                    };
                    moved.round_dp_with_strategy(1, rounding)
                };
                let least = d(case.slippage);
                gap_surely = beyond(slipped(least));
                gap_possibly = beyond(slipped(least + d(case.jitter)));
                now = open_time + MINUTE;
                mid = close;
                broker.on_candle(&candle, &mut events).unwrap();
            }
        }
        let exit = events.iter().find_map(|e| match e {
            BrokerEvent::Exited(exit) => Some(exit.clone()),
            _ => None,
        });
        if let Some(exit) = exit {
            if exit.reason == ExitReason::Liquidation {
                prop_assert!(
                    gap_possibly,
                    "liquidated without a gap through it: {exit:?} {step:?}"
                );
                prop_assert_eq!(exit.exit_price, liquidation);
                seen.gap_liquidation = true;
            } else {
                prop_assert!(
                    !gap_surely,
                    "a gap through the liquidation price exited by {:?}",
                    exit.reason
                );
                prop_assert!(
                    matches!(
                        exit.reason,
                        ExitReason::StopLoss | ExitReason::CandleStopLoss
                    ),
                    "{exit:?}"
                );
                prop_assert!(!beyond(exit.exit_price.get()), "{exit:?}");
                seen.tick_through_both |= through_both;
            }
            prop_assert_eq!(
                broker.stats().liquidations,
                u64::from(exit.reason == ExitReason::Liquidation)
            );
            broker.check_invariants().unwrap();
            return Ok(seen);
        }
        prop_assert!(!gap_surely && !through_both, "still open after {step:?}");
    }
    Ok(seen)
}

#[test]
fn a_stop_nearer_than_the_liquidation_price_is_never_liquidated_on_a_continuous_path() {
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    let ticks_through_both = Cell::new(0u32);
    let gap_liquidations = Cell::new(0u32);
    let outcome = runner.run(&case(), |case| {
        let seen = run(&case)?;
        ticks_through_both.set(ticks_through_both.get() + u32::from(seen.tick_through_both));
        gap_liquidations.set(gap_liquidations.get() + u32::from(seen.gap_liquidation));
        Ok(())
    });
    if let Err(err) = outcome {
        panic!("{err}");
    }
    let (ticks_through_both, gap_liquidations) = (ticks_through_both.get(), gap_liquidations.get());
    assert!(
        ticks_through_both > 10,
        "only {ticks_through_both} ticks through both levels"
    );
    assert!(
        gap_liquidations > 10,
        "only {gap_liquidations} gap liquidations"
    );
}
