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
/// Decimals kept of the recent volatility (a relative move: 10^-12 is far below any band).
const VOLATILITY_SCALE: u32 = 12;
/// `10^VOLATILITY_SCALE`.
const VOLATILITY_UNIT: i128 = 1_000_000_000_000;
/// The largest relative move the volatility counts, in its fixed point: 10^6 (the band's
/// ceiling makes anything beyond a few units irrelevant; the cap keeps the average's
/// products far inside `i128`).
const MAX_RELATIVE_MOVE: i128 = 1_000_000 * VOLATILITY_UNIT;

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

/// `1 + w` of a band as an exact ratio `numerator / denominator` (`denominator` a power of
/// ten), kept only when [`PriceBand::contains`]' `Decimal` products are exact for every valid
/// price: a price has at most 24 significant digits (at most 10^12, at most 12 decimals), so
/// a factor of at most 79,228 as an integer keeps every product under 2^96, where `Decimal`
/// never rounds. Wider factors (a width with many decimals) keep the `Decimal` path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ExactFactor {
    numerator: i128,
    denominator: i128,
}

impl ExactFactor {
    /// The largest numerator for which `numerator × 10^24 < 2^96`.
    const MAX_NUMERATOR: i128 = 79_228;

    fn new(half_width: Decimal) -> Option<Self> {
        let factor = (Decimal::ONE + half_width).normalize();
        let numerator = factor.mantissa();
        let denominator = 10i128.checked_pow(factor.scale())?;
        // `f >= 1` (a band's width is never negative) is what makes the window one interval.
        (denominator <= numerator && numerator <= Self::MAX_NUMERATOR).then_some(Self {
            numerator,
            denominator,
        })
    }
}

/// The prices a band accepts around a span `[low, high]` of accepted prices, in exact fixed
/// point ([`Price::to_fixed`]): `p` is inside the band around `low`, inside it around
/// `high`, or between them, exactly when `low / f <= p <= high × f` (`f = 1 + w`; the three
/// intervals overlap into one). With `f = n / d` and `p`, `low`, `high` as the integers `P`,
/// `L`, `H`: `P × n >= L × d` and `P × d <= H × n`. So a price costs two integer products
/// and compares instead of up to six `Decimal` products and compares, with the same answer
/// ([`ExactFactor`] keeps those `Decimal` products exact).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FixedWindow {
    factor: ExactFactor,
    /// `L × d`.
    low_scaled: i128,
    /// `H × n`.
    high_scaled: i128,
}

impl FixedWindow {
    /// The window around `[low, high]` ([`Price::to_fixed`] values, at most 10^24). No
    /// product here or in [`FixedWindow::contains`] can overflow: the factor's numerator is
    /// at most 79,228 and, being at least its power-of-ten denominator, bounds that too, so
    /// every product is below 10^24 × 79,228 < 2^97, far inside `i128`.
    fn new(factor: ExactFactor, low: i128, high: i128) -> Self {
        Self {
            factor,
            low_scaled: low * factor.denominator,
            high_scaled: high * factor.numerator,
        }
    }

    /// Whether the price `fixed` (a [`Price::to_fixed`]) is inside.
    #[inline]
    fn contains(self, fixed: i128) -> bool {
        fixed * self.factor.numerator >= self.low_scaled
            && fixed * self.factor.denominator <= self.high_scaled
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

/// The largest of a candle's moves from the previous close `prev` ([`Price::to_fixed`]; its
/// high, low and close),
/// relative to that close, per `root` (the square root of the candle's minutes; `None`
/// for one minute), in fixed point with [`VOLATILITY_SCALE`] decimals, truncated.
///
/// The largest absolute difference is found first and divided once (a quotient by a fixed
/// positive divisor never decreases when the dividend grows). In integers: both prices are
/// at most 10^24 in [`Price::to_fixed`] units, so `largest × 10^12` fits an `i128`; a
/// `Decimal` quotient at full precision cost several times more, on every candle, for
/// digits a volatility never needs. Moves beyond [`MAX_RELATIVE_MOVE`] (a million times the
/// price: only a broken print) count as that.
fn largest_relative_move(prev: i128, candle: &Candle, root: Option<Decimal>) -> i128 {
    let largest = [
        candle.high_fixed(),
        candle.low_fixed(),
        candle.close_fixed(),
    ]
    .iter()
    .map(|p| (p - prev).abs())
    .max()
    .unwrap_or(0);
    let relative = if prev > 0 {
        (largest * VOLATILITY_UNIT / prev).min(MAX_RELATIVE_MOVE)
    } else {
        0
    };
    match root {
        Some(root) => Decimal::from_i128_with_scale(relative, VOLATILITY_SCALE)
            .checked_div(root)
            .map_or(0, |d| {
                let mut d = d.round_dp(VOLATILITY_SCALE);
                d.rescale(VOLATILITY_SCALE);
                d.mantissa()
            }),
        None => relative,
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

/// The range of prices accepted since the last accepted candle, with its floor band.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    low: Price,
    high: Price,
    /// `low` and `high` in fixed point ([`Price::to_fixed`]).
    low_fixed: i128,
    high_fixed: i128,
    /// The floor band around the span in fixed point, recomputed when the span widens;
    /// `None` when the floor has no exact factor.
    floor_window: Option<FixedWindow>,
}

/// The plausibility state machine (see the module docs).
#[derive(Clone, Debug)]
pub struct PriceGuard {
    config: PlausibilityConfig,
    reference: Option<(Price, TimestampMs)>,
    /// Accepted prices since the last accepted candle (the reference among them): a candle
    /// spans its whole interval, so its prices are judged against this range.
    span: Option<Span>,
    /// The last accepted candle's close as [`Price::to_fixed`].
    last_candle_close: Option<i128>,
    /// The recent volatility in fixed point, [`VOLATILITY_SCALE`] decimals.
    volatility: i128,
    /// [`PlausibilityConfig::volatility_weight`] as `numerator / denominator` (a power of
    /// ten), rounded to [`VOLATILITY_SCALE`] decimals.
    weight: (i128, i128),
    quarantine: Option<Quarantine>,
    counters: PlausibilityCounters,
    /// [`PlausibilityConfig::floor`] as a band.
    floor: PriceBand,
    /// The floor band's factor as an exact ratio, when it has one (see [`ExactFactor`]).
    floor_factor: Option<ExactFactor>,
    /// Whether the common-case shortcuts of [`Self::check_tick`] and [`Self::check_candle`]
    /// are taken (always, but in the test that proves them equal to the full judgement).
    shortcuts: bool,
}

impl PriceGuard {
    /// A guard with no reference yet.
    pub fn new(config: PlausibilityConfig) -> Self {
        Self {
            config,
            reference: None,
            span: None,
            last_candle_close: None,
            volatility: 0,
            weight: {
                let weight = config.volatility_weight.round_dp(VOLATILITY_SCALE);
                (
                    weight.mantissa(),
                    10i128.pow(weight.scale().min(VOLATILITY_SCALE)),
                )
            },
            quarantine: None,
            counters: PlausibilityCounters::default(),
            floor: PriceBand::new(config.floor),
            floor_factor: ExactFactor::new(PriceBand::new(config.floor).half_width()),
            shortcuts: true,
        }
    }

    /// A guard that always takes the full judgement, for the test that proves the shortcuts
    /// decide alike.
    #[cfg(test)]
    pub(crate) fn without_shortcuts(config: PlausibilityConfig) -> Self {
        Self {
            shortcuts: false,
            ..Self::new(config)
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
    /// The recent volatility (relative move per square root of a minute); always zero when
    /// [`PlausibilityConfig::volatility_multiple`] is, since it could not widen the band.
    pub fn volatility(&self) -> Decimal {
        Decimal::from_i128_with_scale(self.volatility, VOLATILITY_SCALE)
    }

    fn band(&self, since: TimestampMs, ts: TimestampMs, span_ms: i64) -> PriceBand {
        let elapsed = ts.as_ms().saturating_sub(since.as_ms()).max(span_ms);
        self.config.band_at(elapsed, self.volatility())
    }

    fn set_reference(&mut self, price: Price, ts: TimestampMs) {
        self.set_reference_fixed(price, price.to_fixed(), ts);
    }

    /// [`Self::set_reference`] with the price's [`Price::to_fixed`] already computed.
    #[inline]
    fn set_reference_fixed(&mut self, price: Price, fixed: i128, ts: TimestampMs) {
        // Updated in place: the reference's time never goes back.
        match &mut self.reference {
            Some((reference, at)) => {
                *reference = price;
                *at = (*at).max(ts);
            }
            None => self.reference = Some((price, ts)),
        }
        // The span in fixed point: an exact compare, without `Decimal`'s rescaling.
        match &mut self.span {
            Some(span) if span.low_fixed <= fixed && fixed <= span.high_fixed => {}
            Some(span) => {
                if fixed < span.low_fixed {
                    (span.low, span.low_fixed) = (price, fixed);
                } else {
                    (span.high, span.high_fixed) = (price, fixed);
                }
                span.floor_window = self
                    .floor_factor
                    .map(|factor| FixedWindow::new(factor, span.low_fixed, span.high_fixed));
            }
            None => {
                self.span = Some(Span {
                    low: price,
                    high: price,
                    low_fixed: fixed,
                    high_fixed: fixed,
                    floor_window: self
                        .floor_factor
                        .map(|factor| FixedWindow::new(factor, fixed, fixed)),
                });
            }
        }
    }

    fn accept_candle(&mut self, candle: &Candle) {
        // The volatility only ever widens the band through `volatility_multiple`: with none
        // (the paper broker's fixed band) it is not tracked.
        if let Some(previous) = self.last_candle_close
            && !self.config.volatility_multiple.is_zero()
        {
            let minutes = (candle.interval().as_ms() / MINUTE_MS).max(1);
            // A one-minute candle divides by 1: skipped, the quotient is the same.
            let root = (minutes > 1).then(|| Decimal::from(minutes).sqrt().unwrap_or(Decimal::ONE));
            let moved = largest_relative_move(previous, candle, root);
            // In fixed point: |moved − volatility| <= 10^18 and the weight's numerator is
            // small (a validated weight is at most 1 with at most 12 decimals), so the
            // product fits; an unvalidated huge weight saturates instead of overflowing.
            let (numerator, denominator) = self.weight;
            let step = (moved - self.volatility).checked_mul(numerator).map_or(
                moved - self.volatility,
                |product| {
                    // Nearly always within 64 bits: one machine division instead of a
                    // 128-bit one, with the same truncated quotient.
                    match (i64::try_from(product), i64::try_from(denominator)) {
                        (Ok(p), Ok(d)) => i128::from(p / d),
                        _ => product / denominator,
                    }
                },
            );
            self.volatility = (self.volatility + step).clamp(0, MAX_RELATIVE_MOVE);
        }
        self.last_candle_close = Some(candle.close_fixed());
        self.span = None;
        self.set_reference_fixed(candle.close(), candle.close_fixed(), candle.close_time());
    }

    /// Judges a tick at its event time: its last price, and its bid and ask when present
    /// (the last price is the print that counts towards confirming a new level).
    ///
    /// Inlined into its callers (each tick of a replay passes two guards): the common case
    /// is a few integer compares; the full judgement is kept out of line.
    #[inline]
    pub fn check_tick(&mut self, tick: &Tick) -> PriceVerdict {
        // The common case, decided in fixed point: a last price alone, no quarantine, inside
        // the floor band around the span. `judge` would accept it the same way (inside the
        // floor, nothing to refute) and the reference moves to it.
        if self.shortcuts
            && self.quarantine.is_none()
            && tick.bid().is_none()
            && tick.ask().is_none()
            && let Some(window) = self.span.as_ref().and_then(|span| span.floor_window)
            && window.contains(tick.last_fixed())
        {
            self.set_reference_fixed(tick.last(), tick.last_fixed(), tick.ts());
            return PriceVerdict::Accepted;
        }
        self.judge_tick(tick)
    }

    /// [`Self::check_tick`] past its common case: the full judgement.
    #[inline(never)]
    fn judge_tick(&mut self, tick: &Tick) -> PriceVerdict {
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
            _ => self.set_reference_fixed(tick.last(), tick.last_fixed(), tick.ts()),
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
        // The common case: every price of the candle lies between the lowest and highest
        // prices accepted since the last candle (its ticks visited them), so inside the floor
        // band around them; `judge` would accept it the same way, with nothing to refute.
        if self.shortcuts
            && self.quarantine.is_none()
            && let Some(span) = &self.span
            && span.low_fixed <= candle.low_fixed()
            && candle.high_fixed() <= span.high_fixed
        {
            self.accept_candle(candle);
            return PriceVerdict::Accepted;
        }
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
        let low = self.span.map_or(reference, |span| span.low).min(reference);
        let high = self.span.map_or(reference, |span| span.high).max(reference);
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
        let floor = self.floor;
        let inside_floor = match self.span.and_then(|span| span.floor_window) {
            Some(window) => prices.iter().all(|p| window.contains(p.to_fixed())),
            None => self.consistent_with_reference(prices, floor),
        };
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
