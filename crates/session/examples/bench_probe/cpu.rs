//! Throughput per core measured in **on-CPU time** of the measuring thread, so the figures
//! hold better on a shared machine: criterion measures wall time, which on a 2-core VM running
//! other builds includes every moment the bench thread waited for a core (the decode figures
//! of one run moved 3× with the load average). CPU time still moves with the load (caches and
//! sibling hardware threads are shared), so the best and worst rounds are reported too. The
//! thread's CPU time is read from `/proc/thread-self/schedstat` (nanoseconds on the CPU;
//! updated at scheduler events, so each round runs ≥ 1 s of CPU to make that granularity
//! negligible).
//!
//! - `decode-cpu`: the feed's `FrameDecoder` on the kline and ticker frames of
//!   `crates/feed-bitunix/benches/decode.rs` (simd-json and serde_json back ends).
//! - `backtest-cpu`: `replay_candles` over the real candle month, as `benches/backtest.rs`.

use std::{hint::black_box, path::PathBuf, time::Instant};

use la_core::{Interval, Symbol};
use la_feed_bitunix::decode::{FrameDecoder, JsonBackend};
use la_session::{
    backtest::{ReplayOptions, replay_candles},
    candle_file::load_candles,
    engine::{EngineSettings, NullSink, RestoredState, build_engine},
    intrabar::IntrabarTicks,
};
use la_strategy::StrategyKind;

use crate::load_average;

const KLINE: &str = r#"{"ch":"market_kline_1min","symbol":"BTCUSDT","ts":1786650732204,"data":{"o":"63404.6","c":"63404.7","h":"63404.8","l":"63404.5","b":"0.2413","q":"15299.54977"}}"#;
const TICKER: &str = r#"{"ch":"ticker","symbol":"BTCUSDT","ts":1790126515684,"data":{"s":"BTCUSDT","o":"85567","la":"86688.2","h":"86815.6","l":"85080","b":"27478.1701","q":"2362759522.50052","r":"1.3103182302"}}"#;

/// Minimum CPU time of one round.
const ROUND_CPU_NS: u64 = 1_000_000_000;

/// The nanoseconds on a CPU in a `/proc/.../schedstat` text (its first field; the others are
/// the time spent waiting for a CPU and the number of time slices).
pub(crate) fn schedstat_cpu_ns(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Nanoseconds this thread has spent on a CPU.
fn thread_cpu_ns() -> Result<u64, String> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .map_err(|e| format!("/proc/thread-self/schedstat: {e}"))?;
    schedstat_cpu_ns(&text).ok_or_else(|| "unreadable schedstat".to_owned())
}

/// Per-operation CPU and wall nanoseconds of one round.
#[derive(Clone, Copy, Debug)]
struct Round {
    cpu_ns: f64,
    wall_ns: f64,
}

/// Runs `batch` (which performs `per_batch` operations) until a round has used
/// [`ROUND_CPU_NS`] of CPU; returns the per-operation costs.
fn round(per_batch: u64, batch: &mut dyn FnMut() -> Result<(), String>) -> Result<Round, String> {
    let (cpu0, wall0) = (thread_cpu_ns()?, Instant::now());
    let mut ops = 0u64;
    loop {
        batch()?;
        ops += per_batch;
        let cpu = thread_cpu_ns()? - cpu0;
        if cpu >= ROUND_CPU_NS {
            return Ok(Round {
                cpu_ns: cpu as f64 / ops as f64,
                wall_ns: wall0.elapsed().as_nanos() as f64 / ops as f64,
            });
        }
    }
}

fn summarise(name: &str, rounds: &mut [Round], unit_per_op: f64, extra: &str) {
    rounds.sort_by(|a, b| a.cpu_ns.total_cmp(&b.cpu_ns));
    let median = rounds[rounds.len() / 2];
    let (best, worst) = (rounds[0], rounds[rounds.len() - 1]);
    let per_s = |ns: f64| unit_per_op * 1e9 / ns;
    println!(
        "probe/{name} rounds={} cpu_ns={:.1} cpu_min_ns={:.1} cpu_max_ns={:.1} per_s_cpu={:.0} per_s_cpu_min={:.0} per_s_cpu_max={:.0} wall_ns={:.1} per_s_wall={:.0} load={} {extra}",
        rounds.len(),
        median.cpu_ns,
        best.cpu_ns,
        worst.cpu_ns,
        per_s(median.cpu_ns),
        per_s(worst.cpu_ns),
        per_s(best.cpu_ns),
        median.wall_ns,
        per_s(median.wall_ns),
        load_average()
    );
}

/// P1 on CPU time: each frame copied into a reused buffer and decoded to validated values.
/// `only` restricts the run to one variant, e.g. `kline_simd_json` (for profiling).
pub(crate) fn decode(rounds: usize, only: &str) -> Result<(), String> {
    let symbol = Symbol::new("BTCUSDT").map_err(|e| e.to_string())?;
    for (frame_name, frame) in [("kline", KLINE), ("ticker", TICKER)] {
        for (backend_name, backend) in [
            ("simd_json", JsonBackend::SimdJson),
            ("serde_json", JsonBackend::SerdeJson),
        ] {
            let variant = format!("{frame_name}_{backend_name}");
            if !only.is_empty() && only != variant {
                continue;
            }
            let mut decoder = FrameDecoder::with_backend(Interval::M1, backend);
            let mut buf = frame.as_bytes().to_vec();
            let mut batch = || {
                for _ in 0..10_000 {
                    buf.copy_from_slice(frame.as_bytes());
                    decoder
                        .decode(black_box(&mut buf), symbol)
                        .map_err(|e| format!("{frame_name} did not decode: {e:?}"))?;
                }
                Ok(())
            };
            round(10_000, &mut batch)?; // warm-up
            let mut results = (0..rounds)
                .map(|_| round(10_000, &mut batch))
                .collect::<Result<Vec<_>, _>>()?;
            summarise(&format!("decode_cpu_{variant}"), &mut results, 1.0, "");
        }
    }
    Ok(())
}

fn default_candles() -> PathBuf {
    la_shared_data::root().join("candles/binance_spot_btcusdt_1m_2021-04-20_2021-05-20.csv.gz")
}

/// P3 on CPU time: whole passes of `replay_candles` over the file (a fresh engine per pass,
/// built inside the timed part: microseconds against tens of milliseconds).
/// `only` restricts the run to one variant, e.g. `setups_waypoints` (for profiling).
pub(crate) fn backtest(rounds: usize, data: Option<PathBuf>, only: &str) -> Result<(), String> {
    let path = data.unwrap_or_else(default_candles);
    let candles = load_candles(&path, Interval::M1)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .candles;
    for (name, strategy, intrabar) in [
        (
            "setups_waypoints",
            StrategyKind::Setups,
            IntrabarTicks::Waypoints,
        ),
        (
            "setups_cadence_1s",
            StrategyKind::Setups,
            IntrabarTicks::Cadence { ticker_ms: 1_000 },
        ),
    ] {
        if !only.is_empty() && only != name {
            continue;
        }
        // The engine `laptop-agents backtest --data FILE` builds with its default flags.
        let settings =
            EngineSettings::new(Symbol::new("BTCUSDT").map_err(|e| e.to_string())?, strategy);
        let options = ReplayOptions {
            intrabar,
            funding_rate: None,
        };
        let mut exits = 0;
        let mut pass = || -> Result<(), String> {
            let mut engine =
                build_engine(&settings, RestoredState::default()).map_err(|e| e.to_string())?;
            let mut curve = Vec::with_capacity(candles.len());
            replay_candles(
                &mut engine,
                settings.symbol,
                black_box(&candles),
                options,
                &mut NullSink,
                &mut curve,
            )
            .map_err(|e| e.to_string())?;
            exits = engine.counters().exits;
            Ok(())
        };
        round(1, &mut pass)?; // warm-up
        let mut results = (0..rounds)
            .map(|_| round(1, &mut pass))
            .collect::<Result<Vec<_>, _>>()?;
        summarise(
            &format!("backtest_cpu_{name}"),
            &mut results,
            candles.len() as f64,
            &format!("candles={} exits={exits}", candles.len()),
        );
    }
    Ok(())
}
