//! The tick path with an open position: stop and target checks on every tick, plus the
//! trailing-stop ratchet. Goal: ≤ 1 µs per tick (recorded in BENCHMARKS.md).
//!
//! Two cases: `quiet` (no exit, no new best price: the common tick) and `new_best` (every tick
//! sets a new favourable extreme with the trail active, so the ratchet computes and moves the
//! stop on every tick: the worst non-exit case).

// Setup builds fixed literals; a failure there is a bug in the bench itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use criterion::{Criterion, criterion_group, criterion_main};
use la_broker_paper::{BrokerConfig, PaperBroker};
use la_core::{
    Broker, ClientOrderId, Leverage, OrderIntent, OrderKind, OrderSpec, Price, Qty, Side, Symbol,
    Tick, TimestampMs,
};
use rust_decimal::Decimal;

const T0: i64 = 1_704_067_200_000;
const BATCH: u64 = 20_000;

fn price(cents_tenths: i64) -> Price {
    Price::new(Decimal::new(cents_tenths, 1)).unwrap()
}

fn tick(symbol: Symbol, i: i64, bid_tenths: i64) -> Tick {
    Tick::new(
        symbol,
        TimestampMs::new(T0 + 1 + i).unwrap(),
        price(bid_tenths),
        Some(price(bid_tenths)),
        Some(price(bid_tenths + 1)),
    )
    .unwrap()
}

/// A long 0.01 BTC at ~100 010 with a stop at 99 900 and a far target, trailing on (defaults).
fn open_long() -> PaperBroker {
    let mut broker = PaperBroker::new(BrokerConfig::default()).unwrap();
    let order = OrderIntent::new(OrderSpec {
        client_order_id: ClientOrderId::new("bench-1").unwrap(),
        side: Side::Long,
        kind: OrderKind::Market,
        qty: Qty::new(Decimal::new(1, 2)).unwrap(),
        entry_reference: price(1_000_000),
        stop_loss: price(999_000),
        take_profit: Some(price(1_500_000)),
        leverage: Leverage::new(10).unwrap(),
    })
    .unwrap();
    let mut events = Vec::new();
    broker
        .submit(order, TimestampMs::new(T0).unwrap(), &mut events)
        .unwrap();
    assert!(broker.position().is_some());
    broker
}

fn bench_tick_path(c: &mut Criterion) {
    let symbol = Symbol::new("BTCUSDT").unwrap();
    let mut group = c.benchmark_group("tick_path");

    // Quiet: a small oscillation below the best price already seen.
    group.bench_function("quiet", |b| {
        let mut broker = open_long();
        let mut events = Vec::with_capacity(8);
        broker
            .on_tick(&tick(symbol, 0, 1_000_500), &mut events)
            .unwrap();
        let ticks: Vec<Tick> = (1..=1_024)
            .map(|i| tick(symbol, i, 1_000_200 + (i % 17)))
            .collect();
        let mut i = 0usize;
        b.iter(|| {
            broker.on_tick(black_box(&ticks[i]), &mut events).unwrap();
            i = (i + 1) & 1_023;
            if i == 0 {
                events.clear();
            }
        });
        assert!(broker.position().is_some(), "the quiet path must not exit");
    });

    // New best on every tick: the trail is active and ratchets each time.
    group.bench_function("new_best", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(BATCH);
                let mut broker = open_long();
                let mut events = Vec::with_capacity(8);
                // Activate the trail first (1 R ≈ 110 above entry).
                broker
                    .on_tick(&tick(symbol, 0, 1_002_000), &mut events)
                    .unwrap();
                let ticks: Vec<Tick> = (1..=n as i64)
                    .map(|i| tick(symbol, i, 1_002_000 + i))
                    .collect();
                let start = Instant::now();
                for t in &ticks {
                    broker.on_tick(black_box(t), &mut events).unwrap();
                }
                total += start.elapsed();
                assert!(broker.position().is_some());
                left -= n;
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, bench_tick_path);
criterion_main!(benches);
