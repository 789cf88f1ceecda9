//! Throughput of the setups strategy (and, for comparison, the SMA crossover) in candles per
//! second, over 100,000 generated 1m candles and over the real month of BTCUSDT candles in
//! `../shared/data` when that folder is present.
//!
//! Two regimes per strategy:
//! - `simulated`: a minimal, allocation-free position model (an order fills at once, the
//!   session calls `notify_trade_opened`, the position closes when a later candle touches its
//!   stop or target), as in a backtest: most candles are blocked by `position_open`;
//! - `lean`: the same with `record_indicators(false)` (decisions without indicator values);
//! - `flat`: never in a position and never notified, so every setup candle is sized into an
//!   order (the worst case: `Decimal` geometry on every trigger).
//!
//! Run: `cargo bench -p la-strategy --bench setups -- --warm-up-time 1 --measurement-time 3`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{hint::black_box, time::Duration};

use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};
use la_core::{Candle, Side};
use la_strategy::{
    OrderPlan, SetupsConfig, SetupsStrategy, SmaCrossConfig, SmaCrossStrategy, Strategy,
    StrategyContext,
};

#[path = "../tests/it/support.rs"]
mod support;

/// Runs `strategy` over `candles`; with `simulate`, models one position at a time.
/// Returns the number of orders.
fn run(
    strategy: &mut dyn Strategy,
    candles: &[Candle],
    base: &StrategyContext,
    simulate: bool,
) -> usize {
    let mut orders = 0;
    let mut open: Option<OrderPlan> = None;
    for candle in candles {
        if let Some(plan) = open {
            let hit = match plan.side {
                Side::Long => {
                    candle.low() <= plan.stop_loss
                        || plan.take_profit.is_some_and(|tp| candle.high() >= tp)
                }
                Side::Short => {
                    candle.high() >= plan.stop_loss
                        || plan.take_profit.is_some_and(|tp| candle.low() <= tp)
                }
            };
            if hit {
                open = None;
            }
        }
        let ctx = StrategyContext {
            position_open: open.is_some(),
            ..*base
        };
        let decision = black_box(strategy.on_candle(candle, &ctx));
        if let Some(plan) = decision.order() {
            orders += 1;
            if simulate {
                open = Some(plan);
                strategy.notify_trade_opened();
            }
        }
    }
    orders
}

fn bench_strategy(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    make: fn() -> Box<dyn Strategy>,
    candles: &[Candle],
) {
    let ctx = support::ctx();
    for (regime, simulate, record) in [
        ("simulated", true, true),
        ("lean", true, false),
        ("flat", false, true),
    ] {
        group.bench_function(format!("{name}/{regime}"), |b| {
            b.iter(|| {
                let mut strategy = make();
                strategy.record_indicators(record);
                run(strategy.as_mut(), candles, &ctx, simulate)
            })
        });
    }
}

fn bench_candles(c: &mut Criterion, name: &str, candles: &[Candle]) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(candles.len() as u64));
    group.sample_size(10);
    bench_strategy(
        &mut group,
        "setups",
        || Box::new(SetupsStrategy::new(SetupsConfig::default()).unwrap()),
        candles,
    );
    bench_strategy(
        &mut group,
        "sma-cross",
        || Box::new(SmaCrossStrategy::new(SmaCrossConfig::default()).unwrap()),
        candles,
    );
    group.finish();
}

fn benches(c: &mut Criterion) {
    let generated = support::generate(100_000, 42);
    bench_candles(c, "generated_100k", &generated);
    let month =
        la_shared_data::root().join("candles/binance_spot_btcusdt_1m_2021-04-20_2021-05-20.csv.gz");
    if month.is_file() {
        let candles = support::load_candles(&month);
        bench_candles(c, "real_month_42915", &candles);
    } else {
        eprintln!("{} not found: real-data bench skipped", month.display());
    }
}

criterion_group! {
    name = setups;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(setups);
