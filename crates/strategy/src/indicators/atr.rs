//! Average true range as the **simple mean** of the last `n` true ranges (not Wilder's
//! smoothing), as the reference program computed it.

use la_core::{Candle, Decimal};

use super::{
    FixedCandle, check_period,
    fixed::{self, PRICE_SCALE},
    ring::Ring,
};
use crate::error::StrategyError;

/// ATR(n): the mean of the last `n` true ranges, `TR = max(H − L, |H − prevC|, |L − prevC|)`.
/// The first candle has no previous close and yields no TR, so ATR(14) needs 15 candles.
#[derive(Clone, Debug)]
pub struct Atr {
    ranges: Ring<i128>,
    sum: i128,
    previous_close: Option<i128>,
    divisor: fixed::Divisor,
}

impl Atr {
    /// An ATR over `period` true ranges.
    ///
    /// # Errors
    /// [`StrategyError::InvalidConfig`] unless `1 <= period <= MAX_PERIOD`.
    pub fn new(period: usize) -> Result<Self, StrategyError> {
        let period = check_period("atr period", period)?;
        Ok(Self {
            ranges: Ring::new(period, 0),
            sum: 0,
            previous_close: None,
            divisor: fixed::Divisor::new(period as u64),
        })
    }

    /// Feeds one closed candle.
    pub fn update(&mut self, candle: &Candle) {
        self.update_fixed(&FixedCandle::new(candle));
    }

    pub(crate) fn update_fixed(&mut self, candle: &FixedCandle) {
        if let Some(previous) = self.previous_close {
            let true_range = (candle.high - candle.low)
                .max((candle.high - previous).abs())
                .max((candle.low - previous).abs());
            if let Some(evicted) = self.ranges.push(true_range) {
                self.sum -= evicted;
            }
            self.sum += true_range;
        }
        self.previous_close = Some(candle.close);
    }

    /// The current ATR, `None` until `period + 1` candles were seen.
    pub fn value(&self) -> Option<Decimal> {
        self.value_fixed()
            .and_then(|v| fixed::to_decimal(v, PRICE_SCALE))
    }

    pub(crate) fn value_fixed(&self) -> Option<i128> {
        self.sum_fixed().map(|sum| self.divisor.div_round(sum))
    }

    /// Σ of the last `period` true ranges (exact), once the window is full.
    pub(crate) fn sum_fixed(&self) -> Option<i128> {
        self.ranges.is_full().then_some(self.sum)
    }
}
