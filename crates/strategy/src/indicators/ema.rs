//! Moving averages of closes: [`Ema`] (seeded by the SMA of its first `n` values) and
//! [`Sma`] (the plain mean of the last `n`).

use la_core::{Candle, Decimal};

use super::{
    FixedCandle, check_period,
    fixed::{self, PRICE_SCALE},
    ring::Ring,
};
use crate::error::StrategyError;

/// Exponential moving average of closes: seeded with the SMA of the first `period` closes,
/// then `e += (close − e) × 2 / (period + 1)`, each step rounded half away from zero at the
/// 12th decimal. `None` until `period` closes were seen.
#[derive(Clone, Debug)]
pub struct Ema {
    period: usize,
    /// Divides by `period` (the seed mean).
    seed_divisor: fixed::Divisor,
    /// Divides by `period + 1` (the smoothing step).
    step_divisor: fixed::Divisor,
    seen: usize,
    seed_sum: i128,
    value: Option<i128>,
}

impl Ema {
    /// An EMA over `period` closes.
    ///
    /// # Errors
    /// [`StrategyError::InvalidConfig`] unless `1 <= period <= MAX_PERIOD`.
    pub fn new(period: usize) -> Result<Self, StrategyError> {
        let period = check_period("ema period", period)?;
        Ok(Self {
            period,
            seed_divisor: fixed::Divisor::new(period as u64),
            step_divisor: fixed::Divisor::new(period as u64 + 1),
            seen: 0,
            seed_sum: 0,
            value: None,
        })
    }

    /// Feeds one closed candle (its close).
    pub fn update(&mut self, candle: &Candle) {
        self.update_fixed(&FixedCandle::new(candle));
    }

    pub(crate) fn update_fixed(&mut self, candle: &FixedCandle) {
        let close = candle.close;
        match self.value {
            Some(previous) => {
                // Prices are at most 10^24 here, so none of this can overflow an i128.
                let step = self.step_divisor.div_round((close - previous) * 2);
                self.value = Some(previous + step);
            }
            None => {
                self.seen += 1;
                self.seed_sum += close;
                if self.seen == self.period {
                    self.value = Some(self.seed_divisor.div_round(self.seed_sum));
                }
            }
        }
    }

    /// The current EMA, `None` during the first `period − 1` candles.
    pub fn value(&self) -> Option<Decimal> {
        self.value.and_then(|v| fixed::to_decimal(v, PRICE_SCALE))
    }

    pub(crate) fn value_fixed(&self) -> Option<i128> {
        self.value
    }
}

/// Simple moving average: the plain mean of the last `period` closes, rounded half away from
/// zero at the 12th decimal. `None` until `period` closes were seen.
#[derive(Clone, Debug)]
pub struct Sma {
    window: Ring<i128>,
    sum: i128,
    divisor: fixed::Divisor,
}

impl Sma {
    /// An SMA over `period` closes.
    ///
    /// # Errors
    /// [`StrategyError::InvalidConfig`] unless `1 <= period <= MAX_PERIOD`.
    pub fn new(period: usize) -> Result<Self, StrategyError> {
        let period = check_period("sma period", period)?;
        Ok(Self {
            window: Ring::new(period, 0),
            sum: 0,
            divisor: fixed::Divisor::new(period as u64),
        })
    }

    /// Feeds one closed candle (its close).
    pub fn update(&mut self, candle: &Candle) {
        self.update_fixed(&FixedCandle::new(candle));
    }

    pub(crate) fn update_fixed(&mut self, candle: &FixedCandle) {
        if let Some(evicted) = self.window.push(candle.close) {
            self.sum -= evicted;
        }
        self.sum += candle.close;
    }

    /// The current SMA, `None` until the window is full.
    pub fn value(&self) -> Option<Decimal> {
        self.value_fixed()
            .and_then(|v| fixed::to_decimal(v, PRICE_SCALE))
    }

    pub(crate) fn value_fixed(&self) -> Option<i128> {
        self.window
            .is_full()
            .then(|| self.divisor.div_round(self.sum))
    }

    /// The window sum (exact), `None` until the window is full; lets callers compare two
    /// averages without dividing.
    pub(crate) fn sum_fixed(&self) -> Option<i128> {
        self.window.is_full().then_some(self.sum)
    }

    pub(crate) fn period(&self) -> usize {
        self.window.capacity()
    }
}
