//! Price plausibility: whether a print is a market move or a bad print (a price 1000× or
//! 1/1000 of the market, as exchanges and feeds occasionally emit), decided before the price
//! reaches a strategy or a broker.
//!
//! [`PriceGuard`] is a pure state machine: no clock, no I/O; every call carries its event
//! time. It keeps the last accepted price (the *reference*) and a recent volatility, and
//! classifies each tick or candle:
//! - **accepted** when every price lies inside the band around the reference
//!   ([`PlausibilityConfig::band_at`]: a floor, widened with the square root of the time
//!   elapsed since the reference and with recent volatility, capped by a ceiling);
//! - **quarantined** otherwise: never used, counted, and remembered as a *candidate* level;
//! - **confirmed** when the candidate is borne out: [`PlausibilityConfig::confirm_prints`]
//!   consecutive prints consistent with it (and none with the old reference) spanning at
//!   least [`PlausibilityConfig::confirm_span_ms`], or an authoritative read of the last
//!   price ([`PriceGuard::on_reference_read`], a REST call the live session makes when a
//!   quarantine starts) that agrees with it. A print consistent with the reference again
//!   refutes the candidate.
//!
//! The band is relative and symmetric in ratio: `p` is inside the band of half-width `w`
//! around `r` when `r / (1 + w) <= p <= r × (1 + w)`. The ceiling (default 0.5, a factor of
//! 1.5 either way) is what makes a 1000× or 1/1000 print implausible whatever the elapsed
//! time or volatility. [`PriceBand`] is that math on its own, also used by the paper broker
//! as a coarse defence in depth.
//!
//! The very first price has nothing to be judged against and is accepted; a live session
//! runs its REST history candles through the guard before live prices arrive, so live
//! prices are judged against the exchange's own recent bars.

use rust_decimal::{Decimal, MathematicalOps};
use serde::{Deserialize, Serialize};

use crate::{
    market::{Candle, Tick},
    time::TimestampMs,
    value::Price,
};

/// Milliseconds in a minute: elapsed time is scaled per square root of minutes.
const MINUTE_MS: i64 = 60_000;

/// A relative band around a reference price: `reference / (1 + w) ..= reference × (1 + w)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceBand {
    half_width: Decimal,
}

impl PriceBand {
    /// A band of relative half-width `half_width` (0.05 = 5 %); negative widths are taken
    /// as zero.
    pub fn new(half_width: Decimal) -> Self {
        Self {
            half_width: half_width.max(Decimal::ZERO),
        }
    }

    /// The relative half-width.
    pub const fn half_width(&self) -> Decimal {
        self.half_width
    }

    /// Whether `price` lies inside the band around `reference`.
    pub fn contains(&self, reference: Price, price: Price) -> bool {
        let factor = Decimal::ONE + self.half_width;
        let (r, p) = (reference.get(), price.get());
        // p <= r(1+w) and p(1+w) >= r; a product beyond Decimal's range is outside.
        match (r.checked_mul(factor), p.checked_mul(factor)) {
            (Some(upper), Some(scaled)) => p <= upper && scaled >= r,
            (None, Some(scaled)) => scaled >= r,
            (Some(upper), None) => p <= upper,
            (None, None) => false,
        }
    }

    /// Whether every price in `prices` lies inside the band around `reference`.
    pub fn contains_all(&self, reference: Price, prices: &[Price]) -> bool {
        prices.iter().all(|p| self.contains(reference, *p))
    }
}

/// The plausibility band's settings. Fractions are relative (0.05 = 5 %).
///
/// The defaults accept every move in the recorded BTCUSDT month of April–May 2021 (including
/// a one-minute bar of 8.6 % and the 2021-05-19 crash) and a 4-hour hole in that file, while
/// 1000× and 1/1000 prints are always outside (the ceiling).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlausibilityConfig {
    /// The band's half-width with no time elapsed and no volatility.
    pub floor: Decimal,
    /// Widening per square root of elapsed minutes (a random walk's growth), on its own.
    pub per_sqrt_minute: Decimal,
    /// Widening per square root of elapsed minutes in units of recent volatility (the
    /// average largest one-candle move, relative, per square root of a minute).
    pub volatility_multiple: Decimal,
    /// The band's largest half-width, whatever the time and volatility.
    pub ceiling: Decimal,
    /// Weight of the newest candle in the volatility average (an exponential average;
    /// 0.1 ≈ the last 20 candles).
    pub volatility_weight: Decimal,
    /// Consecutive prints consistent with a quarantined level that confirm it.
    pub confirm_prints: u32,
    /// The least event time, in ms, those prints must span.
    pub confirm_span_ms: i64,
}

impl Default for PlausibilityConfig {
    fn default() -> Self {
        Self {
            floor: Decimal::new(5, 2),
            per_sqrt_minute: Decimal::new(1, 2),
            volatility_multiple: Decimal::from(6),
            ceiling: Decimal::new(5, 1),
            volatility_weight: Decimal::new(1, 1),
            confirm_prints: 3,
            confirm_span_ms: 2_000,
        }
    }
}

impl PlausibilityConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// A sentence naming the first setting out of range.
    pub fn validate(&self) -> Result<(), String> {
        let fraction = |name: &str, value: Decimal, max: Decimal| {
            if value < Decimal::ZERO || value > max {
                Err(format!(
                    "plausibility {name} must be in 0..={max}, got {value}"
                ))
            } else {
                Ok(())
            }
        };
        fraction("floor", self.floor, Decimal::ONE)?;
        fraction("per_sqrt_minute", self.per_sqrt_minute, Decimal::ONE)?;
        fraction(
            "volatility_multiple",
            self.volatility_multiple,
            Decimal::ONE_HUNDRED,
        )?;
        fraction("ceiling", self.ceiling, Decimal::TEN)?;
        fraction("volatility_weight", self.volatility_weight, Decimal::ONE)?;
        if self.ceiling < self.floor {
            return Err(format!(
                "plausibility ceiling {} is below the floor {}",
                self.ceiling, self.floor
            ));
        }
        if self.floor.is_zero() {
            return Err("plausibility floor must be above 0".to_owned());
        }
        if !(1..=100).contains(&self.confirm_prints) {
            return Err(format!(
                "plausibility confirm_prints must be in 1..=100, got {}",
                self.confirm_prints
            ));
        }
        if !(0..=3_600_000).contains(&self.confirm_span_ms) {
            return Err(format!(
                "plausibility confirm_span_ms must be in 0..=3600000, got {}",
                self.confirm_span_ms
            ));
        }
        Ok(())
    }

    /// The band after `elapsed_ms` of event time at `volatility` (relative move per square
    /// root of a minute): `min(ceiling, floor + (per_sqrt_minute + volatility_multiple ×
    /// volatility) × √minutes)`.
    pub fn band_at(&self, elapsed_ms: i64, volatility: Decimal) -> PriceBand {
        let minutes = Decimal::from(elapsed_ms.max(0)) / Decimal::from(MINUTE_MS);
        let root = minutes.sqrt().unwrap_or(Decimal::ZERO);
        let growth = (self.per_sqrt_minute + self.volatility_multiple * volatility) * root;
        PriceBand::new((self.floor + growth).min(self.ceiling))
    }
}

/// Where a checked price came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrintKind {
    /// A tick's last price.
    Tick,
    /// A closed candle (its open, high, low and close).
    Candle,
}

impl PrintKind {
    /// Stable snake_case label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tick => "tick",
            Self::Candle => "candle",
        }
    }
}

/// What the guard decided about one print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriceVerdict {
    /// Inside the band: use it.
    Accepted,
    /// It confirmed a quarantined level: use it; the reference moved there.
    Confirmed {
        /// The reference before the new level was confirmed.
        previous: Price,
    },
    /// Outside the band: never use it.
    Quarantined {
        /// The print's price that broke the band the most (the sample to log).
        price: Price,
        /// The reference it was judged against.
        reference: Price,
        /// The band it broke.
        band: PriceBand,
        /// True when this print started a quarantine (none was active): the moment to ask
        /// for an authoritative read of the last price.
        started: bool,
    },
}

impl PriceVerdict {
    /// Whether the print may be used (accepted or confirming).
    pub const fn is_usable(&self) -> bool {
        !matches!(self, Self::Quarantined { .. })
    }
}

/// How an authoritative read of the last price ended a quarantine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// No quarantine was active; the read only refreshed the reference.
    NoQuarantine,
    /// The read agrees with the quarantined level: it is confirmed.
    Confirmed,
    /// The read contradicts the quarantined level: it is discarded.
    Refuted,
}

/// A level under quarantine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Quarantine {
    /// The latest print consistent with the candidate level.
    candidate: Price,
    first_ts: TimestampMs,
    last_ts: TimestampMs,
    prints: u32,
}

/// Counts of what the guard decided, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PlausibilityCounters {
    /// Ticks quarantined.
    pub ticks_quarantined: u64,
    /// Candles quarantined.
    pub candles_quarantined: u64,
    /// Quarantines started.
    pub quarantines: u64,
    /// Quarantined levels later confirmed (by prints or a read).
    pub confirmed: u64,
    /// Quarantined levels refuted (by a print back at the reference, or a read).
    pub refuted: u64,
}

impl PlausibilityCounters {
    /// Every quarantined print (the `implausible_price` count).
    pub const fn implausible_prices(&self) -> u64 {
        self.ticks_quarantined + self.candles_quarantined
    }
}

/// The plausibility state machine (see the module docs).
#[derive(Clone, Debug)]
pub struct PriceGuard {
    config: PlausibilityConfig,
    reference: Option<(Price, TimestampMs)>,
    /// Accepted prices since the last accepted candle (the reference among them): a candle
    /// spans its whole interval, so its prices are judged against this range.
    span_low: Option<Price>,
    span_high: Option<Price>,
    last_candle_close: Option<Price>,
    volatility: Decimal,
    quarantine: Option<Quarantine>,
    counters: PlausibilityCounters,
}

impl PriceGuard {
    /// A guard with no reference yet.
    pub fn new(config: PlausibilityConfig) -> Self {
        Self {
            config,
            reference: None,
            span_low: None,
            span_high: None,
            last_candle_close: None,
            volatility: Decimal::ZERO,
            quarantine: None,
            counters: PlausibilityCounters::default(),
        }
    }

    /// The settings.
    pub const fn config(&self) -> &PlausibilityConfig {
        &self.config
    }
    /// The last accepted price and its event time.
    pub const fn reference(&self) -> Option<(Price, TimestampMs)> {
        self.reference
    }
    /// Whether a level is under quarantine.
    pub const fn in_quarantine(&self) -> bool {
        self.quarantine.is_some()
    }
    /// What the guard decided so far.
    pub const fn counters(&self) -> &PlausibilityCounters {
        &self.counters
    }
    /// The recent volatility (relative move per square root of a minute).
    pub const fn volatility(&self) -> Decimal {
        self.volatility
    }

    fn band(&self, since: TimestampMs, ts: TimestampMs, span_ms: i64) -> PriceBand {
        let elapsed = ts.as_ms().saturating_sub(since.as_ms()).max(span_ms);
        self.config.band_at(elapsed, self.volatility)
    }

    fn set_reference(&mut self, price: Price, ts: TimestampMs) {
        let ts = self.reference.map_or(ts, |(_, at)| at.max(ts));
        self.reference = Some((price, ts));
        self.span_low = Some(self.span_low.map_or(price, |low| low.min(price)));
        self.span_high = Some(self.span_high.map_or(price, |high| high.max(price)));
    }

    fn accept_candle(&mut self, candle: &Candle) {
        if let Some(previous) = self.last_candle_close {
            let minutes = Decimal::from(candle.interval().as_ms() / MINUTE_MS).max(Decimal::ONE);
            let root = if minutes == Decimal::ONE {
                Decimal::ONE
            } else {
                minutes.sqrt().unwrap_or(Decimal::ONE)
            };
            let prev = previous.get();
            let moved = [candle.high(), candle.low(), candle.close()]
                .iter()
                .filter_map(|p| ((p.get() - prev) / prev).abs().checked_div(root))
                .max()
                .unwrap_or(Decimal::ZERO);
            let weight = self.config.volatility_weight;
            self.volatility += (moved - self.volatility) * weight;
        }
        self.last_candle_close = Some(candle.close());
        self.span_low = None;
        self.span_high = None;
        self.set_reference(candle.close(), candle.close_time());
    }

    /// Judges a tick at its event time: its last price, and its bid and ask when present
    /// (the last price is the print that counts towards confirming a new level).
    pub fn check_tick(&mut self, tick: &Tick) -> PriceVerdict {
        let prices = [Some(tick.last()), tick.bid(), tick.ask()];
        let mut judged = [tick.last(); 3];
        let mut n = 0;
        for price in prices.into_iter().flatten() {
            judged[n] = price;
            n += 1;
        }
        let verdict = self.judge(&judged[..n], tick.last(), tick.ts(), 0);
        match verdict {
            PriceVerdict::Quarantined { .. } => self.counters.ticks_quarantined += 1,
            _ => self.set_reference(tick.last(), tick.ts()),
        }
        verdict
    }

    /// Whether `price` at event time `ts` lies inside the band around the reference, without
    /// changing any state (for prices that are not prints of the market, such as a mark
    /// price used to settle funding). True when there is no reference yet.
    pub fn is_plausible(&self, price: Price, ts: TimestampMs) -> bool {
        let Some((_, reference_ts)) = self.reference else {
            return true;
        };
        let band = self.band(reference_ts, ts, 0);
        self.consistent_with_reference(&[price], band)
    }

    /// Judges a closed candle (all four prices; its close is the print) at its close time.
    /// Its prices may lie anywhere in its interval, so the band is at least one interval
    /// wide in time and is taken around every price accepted since the last candle.
    pub fn check_candle(&mut self, candle: &Candle) -> PriceVerdict {
        let prices = [candle.open(), candle.high(), candle.low(), candle.close()];
        let verdict = self.judge(
            &prices,
            candle.close(),
            candle.close_time(),
            candle.interval().as_ms(),
        );
        match verdict {
            PriceVerdict::Quarantined { .. } => self.counters.candles_quarantined += 1,
            _ => self.accept_candle(candle),
        }
        verdict
    }

    /// Whether every price lies inside `band` around the reference or around the range of
    /// prices accepted since the last candle.
    fn consistent_with_reference(&self, prices: &[Price], band: PriceBand) -> bool {
        let Some((reference, _)) = self.reference else {
            return true;
        };
        let low = self.span_low.unwrap_or(reference).min(reference);
        let high = self.span_high.unwrap_or(reference).max(reference);
        prices
            .iter()
            .all(|p| band.contains(low, *p) || band.contains(high, *p) || (*p >= low && *p <= high))
    }

    fn judge(
        &mut self,
        prices: &[Price],
        print: Price,
        ts: TimestampMs,
        span_ms: i64,
    ) -> PriceVerdict {
        let Some((reference, reference_ts)) = self.reference else {
            return PriceVerdict::Accepted;
        };
        // The band is never narrower than its floor: nearly every real print is inside the
        // floor, and is decided without the square root of the full band.
        let floor = PriceBand::new(self.config.floor);
        let inside_floor = self.consistent_with_reference(prices, floor);
        let band = if inside_floor {
            floor
        } else {
            self.band(reference_ts, ts, span_ms)
        };
        if inside_floor || self.consistent_with_reference(prices, band) {
            if self.quarantine.take().is_some() {
                self.counters.refuted += 1;
            }
            return PriceVerdict::Accepted;
        }
        let worst = prices
            .iter()
            .copied()
            .max_by_key(|p| (p.get() - reference.get()).abs())
            .unwrap_or(print);
        let Some(mut quarantine) = self.quarantine else {
            self.counters.quarantines += 1;
            self.quarantine = Some(Quarantine {
                candidate: print,
                first_ts: ts,
                last_ts: ts,
                prints: 1,
            });
            return PriceVerdict::Quarantined {
                price: worst,
                reference,
                band,
                started: true,
            };
        };
        let candidate_band = self.band(quarantine.last_ts, ts, span_ms);
        if candidate_band.contains_all(quarantine.candidate, prices) {
            quarantine.prints += 1;
            quarantine.last_ts = quarantine.last_ts.max(ts);
            quarantine.candidate = print;
            let span = quarantine.last_ts.as_ms() - quarantine.first_ts.as_ms();
            if quarantine.prints >= self.config.confirm_prints
                && span >= self.config.confirm_span_ms
            {
                self.quarantine = None;
                self.counters.confirmed += 1;
                return PriceVerdict::Confirmed {
                    previous: reference,
                };
            }
        } else {
            // A third level: it becomes the candidate, counted from scratch.
            quarantine = Quarantine {
                candidate: print,
                first_ts: ts,
                last_ts: ts,
                prints: 1,
            };
        }
        self.quarantine = Some(quarantine);
        PriceVerdict::Quarantined {
            price: worst,
            reference,
            band,
            started: false,
        }
    }

    /// An authoritative read of the last price (the exchange's REST answer) at event time
    /// `ts`: it becomes the reference, and ends any quarantine — confirming the candidate
    /// when the read agrees with it, refuting it otherwise.
    pub fn on_reference_read(&mut self, price: Price, ts: TimestampMs) -> ReadOutcome {
        let outcome = match self.quarantine.take() {
            None => ReadOutcome::NoQuarantine,
            Some(quarantine) => {
                let band = self.band(quarantine.last_ts, ts, 0);
                if band.contains(quarantine.candidate, price) {
                    self.counters.confirmed += 1;
                    ReadOutcome::Confirmed
                } else {
                    self.counters.refuted += 1;
                    ReadOutcome::Refuted
                }
            }
        };
        self.set_reference(price, ts);
        outcome
    }
}

#[cfg(test)]
mod tests;
