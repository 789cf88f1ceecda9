//! The `mock` source: an in-process, deterministic market generator that implements
//! [`MarketFeed`] without any socket.
//!
//! Candles come from a seeded random walk; each bar is played as ticks along the same
//! intrabar path the backtest and the simulator use ([`Candle::path_price_at`]), on a
//! virtual clock running `speed` times faster than tokio time. It also supplies warm-up
//! history instantly, so a short `--source mock` run trades.

use std::collections::VecDeque;

use la_core::{
    Candle, Decimal, FundingInfo, Interval, MarketEvent, MarketFeed, Price, Provenance, Symbol,
    TimestampMs, Volume,
};
use tokio::time::Instant;

use crate::intrabar::{IntrabarTicks, for_each_path_tick};

/// A small, stable, seedable PRNG (SplitMix64), so mock runs are reproducible across
/// versions of the `rand` crate.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Seeds the generator.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform integer in `[-bound, bound]`.
    pub fn symmetric(&mut self, bound: i64) -> i64 {
        let span = (bound * 2 + 1) as u64;
        (self.next_u64() % span) as i64 - bound
    }
}

/// Mock feed settings.
#[derive(Clone, Debug)]
pub struct MockFeedConfig {
    /// Instrument.
    pub symbol: Symbol,
    /// Candle interval.
    pub interval: Interval,
    /// Seed of the random walk.
    pub seed: u64,
    /// Virtual milliseconds per real millisecond.
    pub speed: f64,
    /// Virtual start of the live stream (aligned down to the interval).
    pub start_time: TimestampMs,
    /// First price.
    pub start_price: Decimal,
    /// Virtual milliseconds between ticks.
    pub tick_every_ms: i64,
    /// Funding rate (fraction) announced on every candle close.
    pub funding_rate: Option<Decimal>,
}

/// The generator behind the mock feed: a mean-reverting random walk with occasional trends,
/// valid candles only.
#[derive(Clone, Debug)]
pub struct CandleGenerator {
    rng: SplitMix64,
    interval: Interval,
    next_open: TimestampMs,
    price_tenths: i64,
    drift_tenths: i64,
}

impl CandleGenerator {
    /// A generator whose first candle opens at `first_open`.
    pub fn new(
        seed: u64,
        interval: Interval,
        first_open: TimestampMs,
        start_price: Decimal,
    ) -> Self {
        let tenths = (start_price * Decimal::TEN)
            .round()
            .try_into()
            .unwrap_or(600_000i64);
        Self {
            rng: SplitMix64::new(seed),
            interval,
            next_open: interval.open_time_of(first_open),
            price_tenths: tenths.max(10_000),
            drift_tenths: 0,
        }
    }

    /// The next candle (prices on a 0.1 grid, positive volume).
    pub fn next_candle(&mut self) -> Option<Candle> {
        if self.rng.next_u64().is_multiple_of(40) {
            self.drift_tenths = self.rng.symmetric(30);
        }
        let open = self.price_tenths;
        let close = (open + self.drift_tenths + self.rng.symmetric(250)).max(10_000);
        let high = open.max(close) + (self.rng.next_u64() % 120) as i64 + 1;
        let low = (open.min(close) - (self.rng.next_u64() % 120) as i64 - 1).max(5_000);
        let volume = Decimal::new(1_000 + (self.rng.next_u64() % 50_000) as i64, 3);
        self.price_tenths = close;
        let to_price = |tenths: i64| Price::new(Decimal::new(tenths, 1));
        let candle = Candle::new(
            self.interval,
            self.next_open,
            to_price(open).ok()?,
            to_price(high).ok()?,
            to_price(low).ok()?,
            to_price(close).ok()?,
            Volume::new(volume).ok()?,
        )
        .ok()?;
        self.next_open = self.next_open.checked_add_ms(self.interval.as_ms())?;
        Some(candle)
    }
}

/// The mock feed.
#[derive(Debug)]
pub struct MockFeed {
    config: MockFeedConfig,
    generator: CandleGenerator,
    history: Vec<Candle>,
    pending: VecDeque<(i64, MarketEvent)>,
    real_origin: Instant,
    virtual_origin: i64,
}

impl MockFeed {
    /// Creates the feed with `history_bars` candles generated before `start_time`.
    pub fn new(config: MockFeedConfig, history_bars: usize) -> Self {
        let step = config.interval.as_ms();
        let start = config.interval.open_time_of(config.start_time);
        let first = start
            .checked_add_ms(-step * history_bars as i64)
            .unwrap_or(start);
        let mut generator =
            CandleGenerator::new(config.seed, config.interval, first, config.start_price);
        let history = (0..history_bars)
            .filter_map(|_| generator.next_candle())
            .collect();
        Self {
            virtual_origin: start.as_ms(),
            config,
            generator,
            history,
            pending: VecDeque::new(),
            real_origin: Instant::now(),
        }
    }

    /// Warm-up candles, oldest first (taken once).
    pub fn take_history(&mut self) -> Vec<Candle> {
        std::mem::take(&mut self.history)
    }

    fn schedule_next_candle(&mut self) -> bool {
        let Some(candle) = self.generator.next_candle() else {
            return false;
        };
        let open = candle.open_time().as_ms();
        let span = self.config.interval.as_ms();
        let (symbol, pending) = (self.config.symbol, &mut self.pending);
        let model = IntrabarTicks::Cadence {
            ticker_ms: self.config.tick_every_ms,
        };
        for_each_path_tick(&candle, model, symbol, |tick| {
            pending.push_back((tick.ts().as_ms(), MarketEvent::Tick(tick)));
        });
        self.pending.push_back((
            open + span,
            MarketEvent::CandleClosed {
                candle,
                provenance: Provenance::Generated,
            },
        ));
        if let (Some(rate), Ok(ts)) = (self.config.funding_rate, TimestampMs::new(open + span)) {
            let info = FundingInfo {
                rate,
                mark_price: Some(candle.close()),
                next_funding_time: None,
                ts,
            };
            self.pending
                .push_back((open + span, MarketEvent::Funding(info)));
        }
        true
    }

    fn real_instant_for(&self, virtual_ms: i64) -> Instant {
        let virtual_elapsed = (virtual_ms - self.virtual_origin).max(0) as f64;
        let real_ms = virtual_elapsed / self.config.speed;
        self.real_origin + std::time::Duration::from_micros((real_ms * 1_000.0) as u64)
    }
}

impl MarketFeed for MockFeed {
    async fn next_event(&mut self) -> Option<MarketEvent> {
        if self.pending.is_empty() && !self.schedule_next_candle() {
            return None;
        }
        // Cancel-safe: the event stays queued until the sleep has completed.
        let virtual_ms = self.pending.front()?.0;
        tokio::time::sleep_until(self.real_instant_for(virtual_ms)).await;
        self.pending.pop_front().map(|(_, event)| event)
    }
}
