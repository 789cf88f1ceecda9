//! P2 in process: how long a tick that crosses the stop of an open position takes
//! to become an exit event, as a latency distribution (HDR histogram, ≥ 100 k samples per
//! variant) rather than a mean. Goal: p99 ≤ 20 µs.
//!
//! Each sample opens a fresh long (untimed: a closed candle through the engine, whose probe
//! strategy buys at market with the stop 60 below the close), then times one crossing tick:
//! - `broker`: `PaperBroker::on_tick` until the `Exited` event is in the event buffer;
//! - `engine`: `Engine::on_tick` (counters, breaker bookkeeping, sink) until the sink holds
//!   the `Exited` event, the path a live session takes for every tick;
//! - `frame_to_exit`: the ticker frame's bytes through `FrameDecoder::decode` (simd-json and
//!   validation), `Tick::new`, then `Engine::on_tick` to the sink: everything in process
//!   between a socket read and the exit except the channel hop between the feed task and
//!   the session task (that hop, and the sockets, are in the loopback probe:
//!   `cargo run --release -p la-session --example bench_probe -- loopback`).
//!
//! `timer` is two back-to-back `Instant::now()` calls: the floor every figure includes.
//! Output: one `tick_to_exit/<variant> samples=… p50_ns=… …` line per variant (parsed by
//! `cargo xtask bench`). Run: `cargo bench -p la-session --bench tick_to_exit [-- --samples N]`.

// Setup builds fixed literals; a failure there is a bug in the bench itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/stop_probe.rs"]
mod stop_probe;

use std::{hint::black_box, time::Instant};

use hdrhistogram::Histogram;
use la_broker_paper::{BrokerConfig, MarketFillModel, PaperBroker};
use la_core::{
    Broker, BrokerEvent, Candle, ClientOrderId, Decimal, Interval, OrderIntent, OrderKind,
    OrderSpec, Price, Provenance, Qty, Side, Symbol, Tick, TimestampMs, Volume,
};
use la_feed_bitunix::decode::{Decoded, FrameDecoder};
use la_session::engine::Engine;
use stop_probe::{ExitStamp, STOP_DISTANCE, probe_engine};

/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000;
const MINUTE: i64 = 60_000;
/// The probe price: every candle opens and closes here.
const PRICE: i64 = 60_000;
const WARMUP_SAMPLES: usize = 20_000;
const DEFAULT_SAMPLES: usize = 200_000;

fn price(units: i64) -> Price {
    Price::new(Decimal::from(units)).unwrap()
}

fn ts(ms: i64) -> TimestampMs {
    TimestampMs::new(ms).unwrap()
}

/// Candle `i`: flat at [`PRICE`] with a range wide enough to be valid.
fn candle(i: usize) -> Candle {
    Candle::new(
        Interval::M1,
        ts(T0 + i as i64 * MINUTE),
        price(PRICE),
        price(PRICE + 100),
        price(PRICE - 100),
        price(PRICE),
        Volume::new(Decimal::from(5)).unwrap(),
    )
    .unwrap()
}

/// The crossing tick after candle `i` closed: 2 × the stop distance below the entry.
fn crossing_ms(i: usize) -> i64 {
    T0 + (i as i64 + 1) * MINUTE + 1
}

fn crossing_price() -> i64 {
    PRICE - 2 * STOP_DISTANCE
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10_000_000_000, 3).unwrap()
}

fn report(name: &str, h: &Histogram<u64>) {
    println!(
        "tick_to_exit/{name} samples={} p50_ns={} p90_ns={} p99_ns={} p999_ns={} max_ns={} mean_ns={:.0}",
        h.len(),
        h.value_at_quantile(0.50),
        h.value_at_quantile(0.90),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
        h.mean()
    );
}

fn record(h: &mut Histogram<u64>, start: Instant, end: Instant) {
    let ns = end.duration_since(start).as_nanos();
    h.record(u64::try_from(ns).unwrap_or(u64::MAX).max(1))
        .unwrap();
}

fn timer_floor(samples: usize) -> Histogram<u64> {
    let mut h = histogram();
    for _ in 0..samples {
        let start = Instant::now();
        let end = black_box(Instant::now());
        record(&mut h, start, end);
    }
    h
}

/// `broker`: the paper broker alone.
fn broker_variant(samples: usize) -> Histogram<u64> {
    let symbol = Symbol::new("BTCUSDT").unwrap();
    let mut broker = PaperBroker::new(BrokerConfig {
        starting_balance: Decimal::from(10_000_000),
        market_fill: MarketFillModel::DecisionPrice,
        ..BrokerConfig::default()
    })
    .unwrap();
    let mut events = Vec::with_capacity(8);
    let mut h = histogram();
    for i in 0..WARMUP_SAMPLES + samples {
        let order = OrderIntent::new(OrderSpec {
            client_order_id: ClientOrderId::new(&format!("probe-{i}")).unwrap(),
            side: Side::Long,
            kind: OrderKind::Market,
            qty: Qty::new(Decimal::new(1, 3)).unwrap(),
            entry_reference: price(PRICE),
            stop_loss: price(PRICE - STOP_DISTANCE),
            take_profit: Some(price(PRICE + 10 * STOP_DISTANCE)),
            leverage: la_core::Leverage::new(10).unwrap(),
        })
        .unwrap();
        broker
            .submit(order, ts(crossing_ms(i) - 1), &mut events)
            .unwrap();
        assert!(broker.position().is_some(), "probe order did not fill");
        events.clear();
        let tick = Tick::new(
            symbol,
            ts(crossing_ms(i)),
            price(crossing_price()),
            None,
            None,
        )
        .unwrap();
        let start = Instant::now();
        broker.on_tick(black_box(&tick), &mut events).unwrap();
        let exited = events.iter().any(|e| matches!(e, BrokerEvent::Exited(_)));
        let end = Instant::now();
        assert!(exited, "sample {i}: no exit");
        if i >= WARMUP_SAMPLES {
            record(&mut h, start, end);
        }
        events.clear();
    }
    h
}

/// Opens the probe position on candle `i` (untimed).
fn open_position(engine: &mut Engine, sink: &mut ExitStamp, i: usize) {
    let fills = sink.fills;
    engine
        .on_candle_closed(&candle(i), Provenance::Live, candle(i).close_time(), sink)
        .unwrap();
    assert_eq!(
        sink.fills,
        fills + 1,
        "candle {i}: the probe order did not fill"
    );
}

/// `engine`: a prepared tick through the engine to the sink.
fn engine_variant(samples: usize) -> Histogram<u64> {
    let symbol = Symbol::new("BTCUSDT").unwrap();
    let mut engine = probe_engine(symbol).unwrap();
    let mut sink = ExitStamp::default();
    let mut h = histogram();
    for i in 0..WARMUP_SAMPLES + samples {
        open_position(&mut engine, &mut sink, i);
        let tick = Tick::new(
            symbol,
            ts(crossing_ms(i)),
            price(crossing_price()),
            None,
            None,
        )
        .unwrap();
        sink.decided_at = None;
        let start = Instant::now();
        engine.on_tick(black_box(&tick), &mut sink).unwrap();
        let end = sink.decided_at.expect("no exit event");
        if i >= WARMUP_SAMPLES {
            record(&mut h, start, end);
        }
    }
    h
}

fn ticker_frame(ts_ms: i64, last: i64) -> Vec<u8> {
    format!(
        r#"{{"ch":"ticker","symbol":"BTCUSDT","ts":{ts_ms},"data":{{"s":"BTCUSDT","o":"{PRICE}","la":"{last}","h":"{}","l":"{}","b":"27478.1701","q":"2362759522.50052","r":"-0.2"}}}}"#,
        PRICE + 100,
        PRICE - 200
    )
    .into_bytes()
}

/// `frame_to_exit`: frame bytes → decode → tick → engine → sink.
fn frame_variant(samples: usize) -> Histogram<u64> {
    let symbol = Symbol::new("BTCUSDT").unwrap();
    let mut engine = probe_engine(symbol).unwrap();
    let mut sink = ExitStamp::default();
    let mut decoder = FrameDecoder::new(Interval::M1);
    let mut h = histogram();
    for i in 0..WARMUP_SAMPLES + samples {
        open_position(&mut engine, &mut sink, i);
        let mut frame = ticker_frame(crossing_ms(i), crossing_price());
        sink.decided_at = None;
        let start = Instant::now();
        let Ok(Decoded::Ticker { ts, last }) = decoder.decode(black_box(&mut frame), symbol) else {
            panic!("sample {i}: the ticker frame did not decode");
        };
        let tick = Tick::new(symbol, ts, last, None, None).unwrap();
        engine.on_tick(&tick, &mut sink).unwrap();
        let end = sink.decided_at.expect("no exit event");
        if i >= WARMUP_SAMPLES {
            record(&mut h, start, end);
        }
    }
    h
}

fn samples_from_args() -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--samples")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_SAMPLES)
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench` absent; keep that quick.
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let samples = if bench_mode {
        samples_from_args()
    } else {
        1_000
    };
    report("timer", &timer_floor(samples));
    report("broker", &broker_variant(samples));
    report("engine", &engine_variant(samples));
    report("frame_to_exit", &frame_variant(samples));
}
