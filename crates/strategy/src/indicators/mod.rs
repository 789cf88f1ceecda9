//! Incremental indicators: each is fed one closed candle at a time with `update(&Candle)` and
//! answers `value()`, in O(1) amortised time and without touching the heap after
//! construction (windows live in fixed-size ring buffers allocated once).
//!
//! # Exact definitions
//!
//! These follow the previous Python program's indicators, with its defects fixed; the
//! table below is the whole definition.
//!
//! | Indicator | Definition | First value after |
//! |---|---|---|
//! | [`Sma`]`(n)` | Plain mean of the last `n` closes. | `n` candles |
//! | [`Ema`]`(n)` | Seeded with the SMA of the first `n` closes, then `e += (close − e) × 2/(n+1)`. | `n` candles |
//! | [`Atr`]`(n)` | **Simple mean** (not Wilder) of the last `n` true ranges, `TR = max(H−L, \|H−prevC\|, \|L−prevC\|)`; the first candle has no previous close and yields no TR. | `n + 1` candles (15 for ATR14) |
//! | [`Vwap`]`(w)` | Over the last `w` candles (fewer while filling): `Σ(TP×V) / ΣV` with typical price `TP = (H+L+C)/3`; when `ΣV = 0` it falls back to the last close. | 1 candle |
//! | [`SwingHighLow`]`(n)` | Max high and min low over the last `n` candles (fewer while filling). | 1 candle |
//! | [`EqualLevels`]`(w, min, tol)` | Separately for highs and lows: among the last `w` values, the last one plus every earlier one within `tol × \|last\|` of it, averaged; no level when nothing earlier matches. | `min` candles |
//! | [`Cvd`] | Synthetic cumulative volume delta: `Σ ((C−L) − (H−C)) / (H−L) × V`, a candle with `H = L` adds 0. | 1 candle |
//! | [`CvdDivergence`]`(lookback)` | Over the last 5 candles: BULLISH if the last low is below the previous 4 lows while the last CVD is above the previous 4 CVDs' minimum; else BEARISH if the last high is above the previous 4 highs while the last CVD is below their maximum; else NONE. | `max(lookback, 5)` candles |
//! | [`SweepDetector`]`(n)` | HIGH sweep: the candle's high is above the max high of the previous `n` candles and its close is back below that level; else LOW sweep: the mirror image on lows. The swept level is that previous max/min. | `n + 1` candles |
//!
//! # Arithmetic
//!
//! Internally values are exact fixed-point integers (12 decimals for prices, 8 for volumes and
//! CVD), so results can differ from infinitely precise arithmetic by rounding at the 12th (8th)
//! decimal: each EMA step, each mean and the CVD delta round half away from zero once.
//! Returned `Decimal`s carry that scale; compare them numerically (`Decimal` equality ignores
//! trailing zeros). Magnitudes no market produces (a candle notional above ~10^15 quote units)
//! make the affected indicator report `None` instead of a wrong number; nothing panics.

mod atr;
mod cvd;
mod ema;
pub(crate) mod fixed;
mod levels;
pub(crate) mod ring;
mod sweep;
mod volume;
mod vwap;

#[cfg(test)]
mod tests;

use la_core::Candle;

pub use atr::Atr;
pub use cvd::{Cvd, CvdDivergence, Divergence};
pub use ema::{Ema, Sma};
pub use levels::{EqualLevels, EqualLevelsValue, SwingHighLow, SwingLevels};
pub use sweep::{Sweep, SweepDetector, SweepSide};
pub(crate) use volume::VolumeAverage;
pub use vwap::Vwap;

use crate::error::StrategyError;

/// Longest window any indicator accepts; keeps every fixed-point sum far from overflow.
pub const MAX_PERIOD: usize = 10_000;

/// Checks a period or window length: `1..=MAX_PERIOD`.
pub(crate) fn check_period(field: &'static str, period: usize) -> Result<usize, StrategyError> {
    if (1..=MAX_PERIOD).contains(&period) {
        Ok(period)
    } else {
        Err(StrategyError::invalid(
            field,
            format!("must be between 1 and {MAX_PERIOD}, got {period}"),
        ))
    }
}

/// A candle converted once to fixed-point integers (prices at 12 decimals, volume at 8), so
/// the indicators of a strategy share one conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FixedCandle {
    pub(crate) high: i128,
    pub(crate) low: i128,
    pub(crate) close: i128,
    pub(crate) volume: i128,
}

impl FixedCandle {
    /// The prices are the candle's own fixed-point values (`Price::to_fixed`, also 12
    /// decimals, exact for every price), computed once when the candle was built rather than
    /// once per candle of every sweep set.
    pub(crate) fn new(candle: &Candle) -> Self {
        const _: () = assert!(fixed::PRICE_SCALE == la_core::value::MAX_SCALE);
        Self {
            high: candle.high_fixed(),
            low: candle.low_fixed(),
            close: candle.close_fixed(),
            volume: fixed::volume_fixed(candle.volume().get()),
        }
    }
}
