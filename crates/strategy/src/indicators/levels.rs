//! Price levels from recent extremes: [`SwingHighLow`] (the range of the last `n` candles)
//! and [`EqualLevels`] (clusters of nearly equal highs or lows, where stops tend to rest).

use la_core::{Candle, Decimal};
use serde::Serialize;

use super::{
    FixedCandle, check_period,
    fixed::{self, PRICE_SCALE},
    ring::{Extreme, MonotonicWindow, Ring},
};
use crate::error::StrategyError;

/// The swing range of the last `n` candles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SwingLevels {
    /// Max high.
    pub high: Decimal,
    /// Min low.
    pub low: Decimal,
}

/// Max high and min low over the last `lookback` candles (fewer while filling).
#[derive(Clone, Debug)]
pub struct SwingHighLow {
    highs: MonotonicWindow,
    lows: MonotonicWindow,
}

impl SwingHighLow {
    /// A swing range over `lookback` candles.
    ///
    /// # Errors
    /// [`StrategyError::InvalidConfig`] unless `1 <= lookback <= MAX_PERIOD`.
    pub fn new(lookback: usize) -> Result<Self, StrategyError> {
        let lookback = check_period("swing lookback", lookback)?;
        Ok(Self {
            highs: MonotonicWindow::new(lookback, Extreme::Max),
            lows: MonotonicWindow::new(lookback, Extreme::Min),
        })
    }

    /// Feeds one closed candle.
    pub fn update(&mut self, candle: &Candle) {
        self.update_fixed(&FixedCandle::new(candle));
    }

    pub(crate) fn update_fixed(&mut self, candle: &FixedCandle) {
        self.highs.push(candle.high);
        self.lows.push(candle.low);
    }

    /// Forgets every candle, as if new.
    pub(crate) fn clear(&mut self) {
        self.highs.clear();
        self.lows.clear();
    }

    /// The current range, `None` before the first candle.
    pub fn value(&self) -> Option<SwingLevels> {
        Some(SwingLevels {
            high: fixed::to_decimal(self.highs.value()?, PRICE_SCALE)?,
            low: fixed::to_decimal(self.lows.value()?, PRICE_SCALE)?,
        })
    }

    pub(crate) fn high_fixed(&self) -> Option<i128> {
        self.highs.value()
    }

    pub(crate) fn low_fixed(&self) -> Option<i128> {
        self.lows.value()
    }
}

/// Equal highs and equal lows found by [`EqualLevels`]; each is `None` when the last value
/// has no earlier partner within tolerance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EqualLevelsValue {
    /// Average of the equal highs.
    pub high: Option<Decimal>,
    /// Average of the equal lows.
    pub low: Option<Decimal>,
}

/// Equal levels among the last `window` highs (and, separately, lows): the last value plus
/// every earlier value within `tol_frac × |last|` of it, averaged. At least `min_values`
/// candles are needed; no earlier match means no level.
#[derive(Clone, Debug)]
pub struct EqualLevels {
    highs: LevelSeries,
    lows: LevelSeries,
    min_values: usize,
    tolerance: i128,
}

/// One series (highs or lows) of the window, kept twice: exactly, and as `i64` for the fast
/// path every price below ~9.2·10^6 takes (`i64::MIN` marks a value that does not fit).
#[derive(Clone, Debug)]
struct LevelSeries {
    exact: Ring<i128>,
    narrow: Ring<i64>,
    wide_in_window: usize,
}

impl LevelSeries {
    fn new(window: usize) -> Self {
        Self {
            exact: Ring::new(window, 0),
            narrow: Ring::new(window, 0),
            wide_in_window: 0,
        }
    }

    fn push(&mut self, value: i128) {
        self.exact.push(value);
        let narrow = i64::try_from(value).ok().filter(|v| *v != i64::MIN);
        if self.narrow.push(narrow.unwrap_or(i64::MIN)) == Some(i64::MIN) {
            self.wide_in_window -= 1;
        }
        if narrow.is_none() {
            self.wide_in_window += 1;
        }
    }

    fn len(&self) -> usize {
        self.exact.len()
    }

    fn clear(&mut self) {
        self.exact.clear();
        self.narrow.clear();
        self.wide_in_window = 0;
    }

    /// The last value plus every value within `tolerance` (a fraction at scale 12) of it,
    /// averaged; `None` when nothing earlier matches.
    fn level(&self, tolerance: i128) -> Option<i128> {
        let last = self.exact.last()?;
        // Every value is compared, the last one too: it always matches itself.
        let fast = match (
            self.wide_in_window,
            i64::try_from(last),
            u64::try_from(tolerance),
        ) {
            (0, Ok(last_narrow), Ok(tolerance)) => {
                fixed::mul_fraction_floor_u64(last_narrow.unsigned_abs(), tolerance)
                    .map(|bound| (last_narrow, bound))
            }
            _ => None,
        };
        // An integer distance d satisfies d <= tol × |last| exactly when
        // d <= floor(tol × |last|): the bound is computed once, then plain compares.
        let (sum, count) = match fast {
            Some((last_narrow, bound)) => {
                let (first, second) = self.narrow.as_slices();
                let (sum_a, count_a) = sum_within_narrow(first, last_narrow, bound);
                let (sum_b, count_b) = sum_within_narrow(second, last_narrow, bound);
                (sum_a + sum_b, count_a + count_b)
            }
            None => {
                let bound = fixed::mul_fraction(last.abs(), tolerance).unsigned_abs();
                let (first, second) = self.exact.as_slices();
                let (sum_a, count_a) = sum_within_wide(first, last, bound);
                let (sum_b, count_b) = sum_within_wide(second, last, bound);
                (sum_a + sum_b, count_a + count_b)
            }
        };
        (count > 1).then(|| fixed::div_round(sum, count))
    }
}

/// Σ and count of `values` within `bound` of `last`.
fn sum_within_narrow(values: &[i64], last: i64, bound: u64) -> (i128, i128) {
    let mut sum = 0i128;
    let mut count = 0i128;
    for &value in values {
        if value.abs_diff(last) <= bound {
            sum += i128::from(value);
            count += 1;
        }
    }
    (sum, count)
}

/// Σ and count of `values` within `bound` of `last` (fallback for huge prices, where the
/// bound is rounded half away from zero instead of floored).
fn sum_within_wide(values: &[i128], last: i128, bound: u128) -> (i128, i128) {
    let mut sum = 0i128;
    let mut count = 0i128;
    for &value in values {
        if value.abs_diff(last) <= bound {
            sum = sum.saturating_add(value);
            count += 1;
        }
    }
    (sum, count)
}

impl EqualLevels {
    /// Equal levels over `window` candles (reference: 12), needing `min_values` (reference:
    /// 6), with a relative tolerance `tol_frac` (a fraction: 0.0005 = 0.05 %).
    ///
    /// # Errors
    /// [`StrategyError::InvalidConfig`] for a window outside `1..=MAX_PERIOD`,
    /// `min_values` outside `1..=window`, or `tol_frac` outside `[0, 1)`.
    pub fn new(window: usize, min_values: usize, tol_frac: Decimal) -> Result<Self, StrategyError> {
        let window = check_period("equal levels window", window)?;
        if !(1..=window).contains(&min_values) {
            return Err(StrategyError::invalid(
                "equal levels min_values",
                format!("must be between 1 and the window ({window}), got {min_values}"),
            ));
        }
        if tol_frac.is_sign_negative() || tol_frac >= Decimal::ONE {
            return Err(StrategyError::invalid(
                "equal levels tol_frac",
                format!("must be a fraction in [0, 1), got {tol_frac}"),
            ));
        }
        Ok(Self {
            highs: LevelSeries::new(window),
            lows: LevelSeries::new(window),
            min_values,
            tolerance: fixed::fraction_fixed(tol_frac).unwrap_or(0),
        })
    }

    /// Feeds one closed candle.
    pub fn update(&mut self, candle: &Candle) {
        self.update_fixed(&FixedCandle::new(candle));
    }

    pub(crate) fn update_fixed(&mut self, candle: &FixedCandle) {
        self.highs.push(candle.high);
        self.lows.push(candle.low);
    }

    /// Forgets every candle, as if new.
    pub(crate) fn clear(&mut self) {
        self.highs.clear();
        self.lows.clear();
    }

    /// The current equal levels, `None` while fewer than `min_values` candles were seen.
    pub fn value(&self) -> Option<EqualLevelsValue> {
        if self.highs.len() < self.min_values {
            return None;
        }
        Some(EqualLevelsValue {
            high: self
                .highs
                .level(self.tolerance)
                .and_then(|v| fixed::to_decimal(v, PRICE_SCALE)),
            low: self
                .lows
                .level(self.tolerance)
                .and_then(|v| fixed::to_decimal(v, PRICE_SCALE)),
        })
    }
}
