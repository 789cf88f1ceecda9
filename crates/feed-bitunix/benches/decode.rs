//! Decode throughput on real-shaped Bitunix frames, in one run:
//! (a) our decoder on simd-json, (b) our decoder on serde_json, (c) a bare simd-json parse
//! of the same bytes (reused buffers and tape, no validation), and (d) a bare serde_json
//! parse for reference. (a) and (b) go all the way to validated `la_core` values.
//!
//! Every variant first copies the frame into a reused buffer (simd-json parses in place),
//! so the copy is part of every figure.
//!
//! Run: `cargo bench -p la-feed-bitunix --bench decode -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use la_core::{Interval, Symbol};
use la_feed_bitunix::decode::{FrameDecoder, JsonBackend};

const KLINE: &str = r#"{"ch":"market_kline_1min","symbol":"BTCUSDT","ts":1786650732204,"data":{"o":"63404.6","c":"63404.7","h":"63404.8","l":"63404.5","b":"0.2413","q":"15299.54977"}}"#;
const TICKER: &str = r#"{"ch":"ticker","symbol":"BTCUSDT","ts":1790126515684,"data":{"s":"BTCUSDT","o":"85567","la":"86688.2","h":"86815.6","l":"85080","b":"27478.1701","q":"2362759522.50052","r":"1.3103182302"}}"#;

fn bench(c: &mut Criterion) {
    #[allow(clippy::expect_used)] // A literal, valid by construction.
    let symbol = Symbol::new("BTCUSDT").expect("valid symbol");
    for (name, frame) in [("kline", KLINE), ("ticker", TICKER)] {
        let mut group = c.benchmark_group(format!("decode_{name}"));
        group.throughput(Throughput::Elements(1));
        let mut buf = frame.as_bytes().to_vec();

        let mut simd = FrameDecoder::with_backend(Interval::M1, JsonBackend::SimdJson);
        group.bench_function("a_ours_simd_json", |b| {
            b.iter(|| {
                buf.copy_from_slice(frame.as_bytes());
                black_box(simd.decode(black_box(&mut buf), symbol)).ok()
            });
        });

        let mut serde = FrameDecoder::with_backend(Interval::M1, JsonBackend::SerdeJson);
        group.bench_function("b_ours_serde_json", |b| {
            b.iter(|| {
                buf.copy_from_slice(frame.as_bytes());
                black_box(serde.decode(black_box(&mut buf), symbol)).ok()
            });
        });

        let mut buffers = simd_json::Buffers::new(512);
        let mut storage: Vec<simd_json::Node<'static>> = Vec::with_capacity(64);
        group.bench_function("c_bare_simd_json_tape", |b| {
            b.iter(|| {
                buf.copy_from_slice(frame.as_bytes());
                let mut tape = simd_json::Tape(std::mem::take(&mut storage)).reset();
                let ok = simd_json::fill_tape(black_box(&mut buf), &mut buffers, &mut tape).is_ok();
                let nodes = tape.0.len();
                storage = tape.reset().0;
                black_box((ok, nodes))
            });
        });

        group.bench_function("d_bare_serde_json_ignored", |b| {
            b.iter(|| {
                buf.copy_from_slice(frame.as_bytes());
                black_box(serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&buf)).is_ok())
            });
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
