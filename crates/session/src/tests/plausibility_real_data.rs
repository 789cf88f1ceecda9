//! The default plausibility band against every real move in `../shared/data`: the recorded
//! BTCUSDT month of April–May 2021 (a one-minute bar of 8.6 %, the 2021-05-19 crash and a
//! 4-hour hole) and a quiet day of 2024, replayed as the backtest replays them (ticks along
//! the intrabar path, then the close) — zero quarantines; and 1000× and 1/1000 prints
//! slipped in anywhere in them — always quarantined.

use la_core::{
    Candle, Decimal, Interval, PlausibilityConfig, Price, PriceGuard, PriceVerdict, Symbol, Tick,
    TimestampMs, Volume,
};

use crate::{
    backtest::{ReplayOptions, replay_candles},
    candle_file::load_candles,
    engine::{EngineSettings, NullSink, RestoredState, build_engine},
    intrabar::{IntrabarTicks, for_each_path_tick},
};

const MONTH: &str = "candles/binance_spot_btcusdt_1m_2021-04-20_2021-05-20.csv.gz";
const QUIET_DAY: &str = "candles/binance_spot_btcusdt_1m_2024-09-21.csv";
/// 2021-05-19 12:00 UTC to 16:00 UTC: the crash's steepest hours.
const CRASH: (i64, i64) = (1_621_425_600_000, 1_621_440_000_000);

fn symbol() -> Symbol {
    Symbol::new("BTCUSDT").expect("symbol")
}

fn tick_at(ts: TimestampMs, price: Price) -> Tick {
    Tick::new(symbol(), ts, price, None, None).expect("tick")
}

fn real_candles(relative: &str) -> Vec<Candle> {
    let path = la_shared_data::path(relative);
    let file = load_candles(&path, Interval::M1).expect("readable candle file");
    assert!(
        file.quality.rejected.is_empty(),
        "{:?}",
        file.quality.rejected
    );
    file.candles
}

/// Replays `candles` through a fresh guard under `model`; returns every quarantine.
fn quarantines(candles: &[Candle], model: IntrabarTicks) -> Vec<String> {
    let mut guard = PriceGuard::new(PlausibilityConfig::default());
    let mut found = Vec::new();
    for candle in candles {
        for_each_path_tick(candle, model, symbol(), |tick| {
            if let PriceVerdict::Quarantined {
                price,
                reference,
                band,
                ..
            } = guard.check_tick(&tick)
            {
                found.push(format!(
                    "tick {}: {price} vs {reference} ± {}",
                    tick.ts(),
                    band.half_width()
                ));
            }
        });
        if let PriceVerdict::Quarantined {
            price,
            reference,
            band,
            ..
        } = guard.check_candle(candle)
        {
            found.push(format!(
                "candle {}: {price} vs {reference} ± {}",
                candle.open_time(),
                band.half_width()
            ));
        }
    }
    found
}

#[test]
fn every_real_move_of_the_recorded_month_and_day_is_accepted() {
    let month = real_candles(MONTH);
    // The file's own landmarks are in it: the 4-hour hole and the largest bar.
    let hole = month
        .windows(2)
        .map(|w| w[1].open_time().ms_since(w[0].open_time()))
        .max();
    assert_eq!(hole, Some(285 * 60_000), "the 2021-04-25 hole");
    let widest = month
        .iter()
        .map(|c| (c.high().get() - c.low().get()) / c.low().get())
        .max()
        .unwrap_or_default();
    assert!(widest > Decimal::new(85, 3), "the 8.6 % bar: {widest}");
    assert_eq!(
        quarantines(&month, IntrabarTicks::Waypoints),
        Vec::<String>::new()
    );
    let crash: Vec<Candle> = month
        .iter()
        .filter(|c| (CRASH.0..CRASH.1).contains(&c.open_time().as_ms()))
        .copied()
        .collect();
    assert_eq!(crash.len(), 240);
    let cadence = IntrabarTicks::Cadence { ticker_ms: 1_000 };
    assert_eq!(quarantines(&crash, cadence), Vec::<String>::new());
    let day = real_candles(QUIET_DAY);
    assert_eq!(
        quarantines(&day, IntrabarTicks::Waypoints),
        Vec::<String>::new()
    );
}

#[test]
fn thousandfold_and_thousandth_prints_inside_real_data_are_always_quarantined() {
    let month = real_candles(MONTH);
    // Before and after the hole, in the crash, at the very end.
    let hole_end = month
        .windows(2)
        .position(|w| w[1].open_time().ms_since(w[0].open_time()) > 60_000)
        .map_or(0, |i| i + 1);
    let crash_start = month
        .iter()
        .position(|c| c.open_time().as_ms() >= CRASH.0 + 3_600_000)
        .unwrap_or(0);
    let landmarks = [100, hole_end, crash_start, month.len() - 1];
    let mut guard = PriceGuard::new(PlausibilityConfig::default());
    for (at, real) in month.iter().enumerate() {
        if landmarks.contains(&at) {
            for factor in [Decimal::ONE_THOUSAND, Decimal::new(1, 3)] {
                assert_bad_prints_quarantined(guard.clone(), real, factor, at);
            }
        }
        for_each_path_tick(real, IntrabarTicks::Waypoints, symbol(), |tick| {
            guard.check_tick(&tick);
        });
        guard.check_candle(real);
    }
    assert_eq!(guard.counters().implausible_prices(), 0);
}

/// A tick and a kline close at `factor` of `real`, fed to a guard that has seen the data up
/// to `real`: both quarantined, and the reference untouched.
fn assert_bad_prints_quarantined(mut guard: PriceGuard, real: &Candle, factor: Decimal, at: usize) {
    let reference = guard.reference();
    let bad = |p: Price| Price::new((p.get() * factor).round_dp(1)).expect("bad price");
    let at_ms = real.open_time().checked_add_ms(1_000).expect("time");
    assert!(
        !guard
            .check_tick(&tick_at(at_ms, bad(real.open())))
            .is_usable(),
        "tick ×{factor} at candle {at}"
    );
    // The adversarial kline: a real open, a close at the factor.
    let (low, high) = if factor > Decimal::ONE {
        (real.low(), bad(real.close()))
    } else {
        (bad(real.close()), real.high())
    };
    let kline = Candle::new(
        Interval::M1,
        real.open_time(),
        real.open(),
        high,
        low,
        bad(real.close()),
        Volume::ZERO,
    )
    .expect("kline");
    assert!(
        !guard.check_candle(&kline).is_usable(),
        "close ×{factor} at candle {at}"
    );
    assert_eq!(guard.counters().implausible_prices(), 2);
    assert_eq!(guard.reference(), reference);
}

#[test]
fn the_backtest_engine_quarantines_nothing_on_the_recorded_month() {
    let month = real_candles(MONTH);
    let settings = EngineSettings::new(
        Symbol::new("BTCUSDT").expect("symbol"),
        la_strategy::StrategyKind::Setups,
    );
    let mut engine = build_engine(&settings, RestoredState::default()).expect("engine");
    let mut curve = Vec::new();
    replay_candles(
        &mut engine,
        settings.symbol,
        &month,
        ReplayOptions::default(),
        &mut NullSink,
        &mut curve,
    )
    .expect("replay");
    assert_eq!(engine.counters().candles_closed, month.len() as u64);
    assert_eq!(engine.counters().implausible_price, 0);
    assert!(engine.counters().fills > 0, "the month is traded");
}
