//! Rolling volume-weighted average price over a fixed window of candles, using the typical
//! price `(H + L + C) / 3`.

use la_core::{Candle, Decimal};

use super::{
    FixedCandle, check_period,
    fixed::{self, PRICE_SCALE},
    ring::Ring,
};
use crate::error::StrategyError;

/// One candle's contribution: `(H + L + C) × V` (scale 20) and `V` (scale 8), or `None`
/// when it is too large to sum safely.
type Contribution = Option<(i128, i128)>;

/// VWAP over the last `window` candles (all of them while fewer were seen):
/// `Σ(TP × V) / ΣV` with `TP = (H + L + C) / 3`. With `ΣV = 0` it is the last close.
#[derive(Clone, Debug)]
pub struct Vwap {
    entries: Ring<Contribution>,
    sum_weighted: i128,
    sum_volume: i128,
    oversized: usize,
    entry_limit: i128,
    last_close: Option<i128>,
}

impl Vwap {
    /// A VWAP over `window` candles.
    ///
    /// # Errors
    /// [`StrategyError::InvalidConfig`] unless `1 <= window <= MAX_PERIOD`.
    pub fn new(window: usize) -> Result<Self, StrategyError> {
        let window = check_period("vwap window", window)?;
        Ok(Self {
            entries: Ring::new(window, None),
            sum_weighted: 0,
            sum_volume: 0,
            oversized: 0,
            // Any `window` entries below this sum, and 3 × their volume sum, stay in range.
            entry_limit: i128::MAX / (4 * (window as i128 + 1)),
            last_close: None,
        })
    }

    /// Feeds one closed candle.
    pub fn update(&mut self, candle: &Candle) {
        self.update_fixed(&FixedCandle::new(candle));
    }

    pub(crate) fn update_fixed(&mut self, candle: &FixedCandle) {
        let typical_x3 = candle.high + candle.low + candle.close;
        let contribution = fixed::mul(typical_x3, candle.volume)
            .filter(|weighted| *weighted <= self.entry_limit && candle.volume <= self.entry_limit)
            .map(|weighted| (weighted, candle.volume));
        match self.entries.push(contribution) {
            Some(Some((weighted, volume))) => {
                self.sum_weighted -= weighted;
                self.sum_volume -= volume;
            }
            Some(None) => self.oversized -= 1,
            None => {}
        }
        match contribution {
            Some((weighted, volume)) => {
                self.sum_weighted += weighted;
                self.sum_volume += volume;
            }
            None => self.oversized += 1,
        }
        self.last_close = Some(candle.close);
    }

    /// The current VWAP; `None` before the first candle or while the window holds a candle
    /// too large to sum (notional beyond ~10^15).
    pub fn value(&self) -> Option<Decimal> {
        self.value_fixed()
            .and_then(|v| fixed::to_decimal(v, PRICE_SCALE))
    }

    pub(crate) fn value_fixed(&self) -> Option<i128> {
        if self.oversized > 0 {
            return None;
        }
        let last_close = self.last_close?;
        if self.sum_volume == 0 {
            return Some(last_close);
        }
        // scale 20 / scale 8 = scale 12.
        Some(fixed::div_round(self.sum_weighted, 3 * self.sum_volume))
    }
}
