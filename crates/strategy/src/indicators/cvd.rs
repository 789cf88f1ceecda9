//! Synthetic cumulative volume delta ([`Cvd`]) and its price divergence ([`CvdDivergence`]).
//!
//! Without trade-side data the delta of a candle is estimated from where it closed inside
//! its range: a close at the high counts the whole volume as buying, at the low as selling.

use la_core::{Candle, Decimal};
use serde::Serialize;

use super::{
    FixedCandle, check_period,
    fixed::{self, VOLUME_SCALE},
    ring::Ring,
};
use crate::error::StrategyError;

/// Σ over all candles seen of `((C − L) − (H − C)) / (H − L) × V`; a candle with `H = L`
/// adds 0. Each delta is rounded half away from zero at the 8th decimal (volume precision).
#[derive(Clone, Debug, Default)]
pub struct Cvd {
    value: Option<i128>,
    overflowed: bool,
}

impl Cvd {
    /// A CVD starting at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one closed candle.
    pub fn update(&mut self, candle: &Candle) {
        self.update_fixed(&FixedCandle::new(candle));
    }

    pub(crate) fn update_fixed(&mut self, candle: &FixedCandle) {
        if self.overflowed {
            return;
        }
        let range = candle.high - candle.low;
        let delta = if range == 0 {
            Some(0)
        } else {
            // (2C − H − L) at scale 12 × V at scale 8 / range at scale 12 = scale 8.
            fixed::mul(2 * candle.close - candle.high - candle.low, candle.volume)
                .map(|numerator| fixed::div_round(numerator, range))
        };
        let total = delta.and_then(|d| self.value.unwrap_or(0).checked_add(d));
        match total {
            Some(total) => self.value = Some(total),
            None => {
                self.overflowed = true;
                self.value = None;
            }
        }
    }

    /// The accumulated CVD (base-asset units); `None` before the first candle, or for good
    /// once the sum left the representable range (beyond ~10^21).
    pub fn value(&self) -> Option<Decimal> {
        self.value.and_then(|v| fixed::to_decimal(v, VOLUME_SCALE))
    }

    pub(crate) fn value_fixed(&self) -> Option<i128> {
        self.value
    }
}

/// Price/CVD divergence over the last 5 candles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Divergence {
    /// No divergence.
    None,
    /// A lower low in price with a higher CVD than the previous 4 candles' minimum.
    Bullish,
    /// A higher high in price with a lower CVD than the previous 4 candles' maximum.
    Bearish,
}

impl Divergence {
    /// Stable label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Bullish => "bullish",
            Self::Bearish => "bearish",
        }
    }
}

/// Candles the divergence compares: the last one against the previous four.
const DIVERGENCE_SPAN: usize = 5;

/// Detects [`Divergence`] between price and the synthetic CVD; it tracks its own [`Cvd`].
/// BULLISH if the last low is below each of the previous 4 lows while the last CVD is above
/// the minimum of the previous 4 CVDs; else BEARISH if the last high is above each of the
/// previous 4 highs while the last CVD is below their maximum; else NONE. Computed once at
/// least `lookback` (reference: 20) candles were seen.
#[derive(Clone, Debug)]
pub struct CvdDivergence {
    cvd: Cvd,
    /// `(low, high, cvd)` of the last 5 candles.
    recent: Ring<(i128, i128, i128)>,
    lookback: usize,
    seen: usize,
}

impl CvdDivergence {
    /// A detector that answers after `lookback` candles (at least 5).
    ///
    /// # Errors
    /// [`StrategyError::InvalidConfig`] unless `1 <= lookback <= MAX_PERIOD`.
    pub fn new(lookback: usize) -> Result<Self, StrategyError> {
        let lookback = check_period("cvd lookback", lookback)?;
        Ok(Self {
            cvd: Cvd::new(),
            recent: Ring::new(DIVERGENCE_SPAN, (0, 0, 0)),
            lookback: lookback.max(DIVERGENCE_SPAN),
            seen: 0,
        })
    }

    /// Feeds one closed candle.
    pub fn update(&mut self, candle: &Candle) {
        self.update_fixed(&FixedCandle::new(candle));
    }

    pub(crate) fn update_fixed(&mut self, candle: &FixedCandle) {
        self.cvd.update_fixed(candle);
        self.seen = self.seen.saturating_add(1);
        match self.cvd.value_fixed() {
            Some(cvd) => {
                self.recent.push((candle.low, candle.high, cvd));
            }
            // Without a CVD there is nothing to compare: restart the window.
            None => self.seen = 0,
        }
    }

    /// The divergence on the last candle, `None` during warm-up.
    pub fn value(&self) -> Option<Divergence> {
        if self.seen < self.lookback || !self.recent.is_full() {
            return None;
        }
        let (last_low, last_high, last_cvd) = self.recent.last()?;
        let previous = || self.recent.iter().take(DIVERGENCE_SPAN - 1);
        let lower_low = previous().all(|(low, _, _)| last_low < low);
        if lower_low && previous().any(|(_, _, cvd)| last_cvd > cvd) {
            return Some(Divergence::Bullish);
        }
        let higher_high = previous().all(|(_, high, _)| last_high > high);
        if higher_high && previous().any(|(_, _, cvd)| last_cvd < cvd) {
            return Some(Divergence::Bearish);
        }
        Some(Divergence::None)
    }

    /// The underlying CVD.
    pub fn cvd(&self) -> &Cvd {
        &self.cvd
    }
}
