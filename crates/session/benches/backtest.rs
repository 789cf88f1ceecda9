//! P3: backtest throughput in candles per second over the real
//! 42,915-candle month of BTCUSDT 1m candles in `../shared/data/candles`, through the same
//! hot loop `laptop-agents backtest` runs ([`la_session::backtest::replay_candles`]): every
//! bar replayed as its intrabar ticks into the broker's exit checks, then closed through the
//! warm-up gate, the strategy and the broker, with the equity curve kept. Decisions go to a
//! [`NullSink`] (not serialised), so the figure is the engine's, not the JSON writer's.
//!
//! Variants, all on the real file with the CLI's defaults (`EngineSettings::new` as
//! `laptop-agents backtest` builds it):
//! - `setups_waypoints`: the setups strategy, bars replayed as their four waypoints (the
//!   backtest default; the figure);
//! - `setups_cadence_1s`: the same with the simulator's 1 s ticker cadence (`--intrabar
//!   cadence`, ~64 ticks per bar; the parity model);
//! - `sma_cross_waypoints`: the SMA-crossover strategy, for comparison.
//!
//! The data file is read once, outside the measurement. It is real data that is never copied
//! into the repository: if it is missing the bench stops with a message naming the path
//! (override with `LA_BENCH_CANDLES=/path/to/file.csv.gz`).
//!
//! Run: `cargo bench -p la-session --bench backtest -- --warm-up-time 1 --measurement-time 5`

// Setup failures (missing data, invalid literals) are bench bugs: fail loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{hint::black_box, path::PathBuf, time::Duration};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use la_core::{Candle, Interval, Symbol};
use la_session::{
    backtest::{ReplayOptions, replay_candles},
    candle_file::load_candles,
    engine::{EngineSettings, NullSink, RestoredState, build_engine},
    intrabar::IntrabarTicks,
};
use la_strategy::StrategyKind;

/// The real month the issue names.
const DATA_FILE: &str = "binance_spot_btcusdt_1m_2021-04-20_2021-05-20.csv.gz";

fn data_path() -> PathBuf {
    if let Some(path) = std::env::var_os("LA_BENCH_CANDLES") {
        return PathBuf::from(path);
    }
    la_shared_data::root().join("candles").join(DATA_FILE)
}

fn load() -> Vec<Candle> {
    let path = data_path();
    assert!(
        path.is_file(),
        "the backtest bench needs the real candle file {} (set LA_BENCH_CANDLES to override)",
        path.display()
    );
    let file = load_candles(&path, Interval::M1).expect("readable candle file");
    assert!(
        file.quality.rejected.is_empty(),
        "rows rejected in {}: {:?}",
        path.display(),
        file.quality.rejected
    );
    file.candles
}

/// The engine `laptop-agents backtest --data FILE` builds with its default flags.
fn settings(strategy: StrategyKind) -> EngineSettings {
    EngineSettings::new(Symbol::new("BTCUSDT").unwrap(), strategy)
}

fn bench_backtest(c: &mut Criterion) {
    let candles = load();
    let mut group = c.benchmark_group("backtest");
    group.throughput(Throughput::Elements(candles.len() as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
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
        (
            "sma_cross_waypoints",
            StrategyKind::SmaCross,
            IntrabarTicks::Waypoints,
        ),
    ] {
        let cfg = settings(strategy);
        let options = ReplayOptions {
            intrabar,
            funding_rate: None,
        };
        // One untimed pass proves the run trades at all (a bench of a strategy that never
        // orders would measure nothing of the broker).
        let mut engine = build_engine(&cfg, RestoredState::default()).unwrap();
        let mut curve = Vec::with_capacity(candles.len());
        replay_candles(
            &mut engine,
            cfg.symbol,
            &candles,
            options,
            &mut NullSink,
            &mut curve,
        )
        .unwrap();
        let fills = engine.counters().fills;
        assert!(fills > 0, "{name}: no trade over the whole month");
        println!(
            "{name}: {} candles, {fills} fills, {} exits",
            candles.len(),
            engine.counters().exits
        );

        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    (
                        build_engine(&cfg, RestoredState::default()).unwrap(),
                        Vec::with_capacity(candles.len()),
                    )
                },
                |(mut engine, mut curve)| {
                    let exposure = replay_candles(
                        &mut engine,
                        cfg.symbol,
                        black_box(&candles),
                        options,
                        &mut NullSink,
                        &mut curve,
                    )
                    .unwrap();
                    black_box((exposure, engine.counters().exits, curve.len()))
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, bench_backtest);
criterion_main!(benches);
