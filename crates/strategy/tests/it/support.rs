//! Shared helpers for the integration tests and the bench: candle builders, a deterministic
//! market generator, a CSV reader for the shared real data, and a tiny position simulator
//! that tells the strategy when a position is open (so order counts are realistic).

// Shared with the bench, which uses only part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    fs::File,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
};

use la_core::{Candle, Decimal, Interval, Price, Side, TimestampMs, Volume};
use la_strategy::{Decision, OrderPlan, SizingSpec, Strategy, StrategyContext};

/// 2024-01-01T00:00:00Z.
pub(crate) const START_MS: i64 = 1_704_067_200_000;

pub(crate) fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// A 1m candle at minute `index` from [`START_MS`].
pub(crate) fn candle(
    index: i64,
    open: &str,
    high: &str,
    low: &str,
    close: &str,
    volume: &str,
) -> Candle {
    candle_dec(
        index,
        dec(open),
        dec(high),
        dec(low),
        dec(close),
        dec(volume),
    )
}

pub(crate) fn candle_dec(
    index: i64,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: Decimal,
) -> Candle {
    Candle::new(
        Interval::M1,
        TimestampMs::new(START_MS + index * 60_000).unwrap(),
        Price::new(open).unwrap(),
        Price::new(high).unwrap(),
        Price::new(low).unwrap(),
        Price::new(close).unwrap(),
        Volume::new(volume).unwrap(),
    )
    .unwrap()
}

/// A candle with only a close (open = high = low = close).
pub(crate) fn flat(index: i64, close: &str) -> Candle {
    candle(index, close, close, close, close, "1")
}

/// The default context: 10,000 USDT, flat, funding known and neutral, Bitunix BTCUSDT spec.
pub(crate) fn ctx() -> StrategyContext {
    StrategyContext {
        equity: Decimal::new(10_000, 0),
        position_open: false,
        funding_rate: Some(Decimal::new(1, 4)),
        spec: SizingSpec::BITUNIX_BTCUSDT,
    }
}

/// xorshift64*: deterministic, dependency-free randomness for generated markets.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `[-span, span]`.
    pub(crate) fn signed(&mut self, span: i64) -> i64 {
        (self.next_u64() % (2 * span as u64 + 1)) as i64 - span
    }
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}

/// Price-move multiplier of [`generate`]: at 6 its 1m ATR is about 0.3 % of the price, like
/// the volatile stretches of the real 2021-04/05 month (median 0.15 %, 90th percentile
/// 0.35 %), so 1.5-ATR stops clear three round-trip costs (0.42 %) often enough to trade.
const VOLATILITY: i64 = 6;

/// A deterministic BTC-like 1m market in cents: alternating up-trend, range (mean-reverting)
/// and down-trend phases of `phase_len` candles, with noise, wicks that sometimes sweep the
/// recent extremes, and volume spikes; every move scaled by [`VOLATILITY`].
pub(crate) fn generate(count: usize, seed: u64) -> Vec<Candle> {
    let mut rng = Rng::new(seed);
    let mut candles = Vec::with_capacity(count);
    let mut close: i64 = 5_000_000; // 50,000.00 USDT in cents
    let phase_len = 240;
    let mut anchor = close;
    for i in 0..count {
        let phase = (i / phase_len) % 4;
        if i % phase_len == 0 {
            anchor = close;
        }
        let drift = VOLATILITY
            * match phase {
                0 => 900,  // up ~ +0.018 %/min (× VOLATILITY)
                2 => -900, // down
                _ => 0,    // range: mean-revert below
            };
        let open = close;
        let reversion = if drift == 0 { (anchor - open) / 8 } else { 0 };
        let step = drift + reversion + VOLATILITY * rng.signed(2_500);
        let next_close = (open + step).max(100_000);
        let body_high = open.max(next_close);
        let body_low = open.min(next_close);
        let mut upper = VOLATILITY * rng.below(1_500) as i64;
        let mut lower = VOLATILITY * rng.below(1_500) as i64;
        if rng.below(12) == 0 {
            lower += VOLATILITY * 6_000; // a long lower wick (possible low sweep)
        }
        if rng.below(12) == 0 {
            upper += VOLATILITY * 6_000;
        }
        let high = body_high + upper;
        let low = (body_low - lower).max(50_000);
        let mut volume_milli = 2_000 + rng.below(40_000) as i64;
        if rng.below(10) == 0 {
            volume_milli *= 4;
        }
        candles.push(candle_dec(
            i as i64,
            Decimal::new(open, 2),
            Decimal::new(high, 2),
            Decimal::new(low, 2),
            Decimal::new(next_close, 2),
            Decimal::new(volume_milli, 3),
        ));
        close = next_close;
    }
    candles
}

/// The shared real-data folder ([`la_shared_data::dir`]: panics loudly when missing).
pub(crate) fn shared_data_dir() -> PathBuf {
    la_shared_data::dir()
}

/// Reads a `ts_ms,open,high,low,close,volume` CSV (optionally gzip) of 1m candles.
pub(crate) fn load_candles(path: &Path) -> Vec<Candle> {
    let file = File::open(path)
        .unwrap_or_else(|e| panic!("cannot open real candle file {}: {e}", path.display()));
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut candles = Vec::new();
    for (line_no, line) in BufReader::new(reader).lines().enumerate() {
        let line = line.unwrap_or_else(|e| panic!("{}: read error: {e}", path.display()));
        if line_no == 0 {
            assert!(
                line.starts_with("ts_ms,"),
                "unexpected header in {}",
                path.display()
            );
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(
            fields.len(),
            6,
            "{}:{}: {line}",
            path.display(),
            line_no + 1
        );
        let ts: i64 = fields[0].parse().unwrap();
        candles.push(
            Candle::new(
                Interval::M1,
                TimestampMs::new(ts).unwrap(),
                Price::parse("open", fields[1]).unwrap(),
                Price::parse("high", fields[2]).unwrap(),
                Price::parse("low", fields[3]).unwrap(),
                Price::parse("close", fields[4]).unwrap(),
                Volume::parse("volume", fields[5]).unwrap(),
            )
            .unwrap(),
        );
    }
    candles
}

/// What a simulated run produced.
pub(crate) struct Run {
    pub(crate) decisions: Vec<Decision>,
    /// `(candle index, plan)` of every order placed (at most one position at a time).
    pub(crate) orders: Vec<(usize, OrderPlan)>,
}

/// Runs `strategy` over `candles` with a minimal position model: an order fills at once,
/// the session calls `notify_trade_opened`, and the position stays open (`position_open`)
/// until a later candle touches its stop or target. Equity stays at the context's value.
pub(crate) fn simulate(
    strategy: &mut dyn Strategy,
    candles: &[Candle],
    base: StrategyContext,
) -> Run {
    let mut decisions = Vec::with_capacity(candles.len());
    let mut orders = Vec::new();
    let mut open: Option<OrderPlan> = None;
    for (index, candle) in candles.iter().enumerate() {
        if let Some(plan) = open {
            let (low, high) = (candle.low(), candle.high());
            let stopped = match plan.side {
                Side::Long => low <= plan.stop_loss,
                Side::Short => high >= plan.stop_loss,
            };
            let target = plan.take_profit.is_some_and(|tp| match plan.side {
                Side::Long => high >= tp,
                Side::Short => low <= tp,
            });
            if stopped || target {
                open = None;
            }
        }
        let ctx = StrategyContext {
            position_open: open.is_some(),
            ..base
        };
        let decision = strategy.on_candle(candle, &ctx);
        if let Some(plan) = decision.order() {
            orders.push((index, plan));
            open = Some(plan);
            strategy.notify_trade_opened();
        }
        decisions.push(decision);
    }
    Run { decisions, orders }
}
