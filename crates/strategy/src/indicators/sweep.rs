//! Liquidity-sweep detection: a candle that trades through the recent extreme and closes
//! back inside ("reclaims" it), the trigger of the sweep-invalidation setup.

use la_core::{Candle, Decimal};
use serde::Serialize;

use super::{
    FixedCandle, check_period,
    fixed::{self, PRICE_SCALE},
    ring::{Extreme, MonotonicWindow},
};
use crate::error::StrategyError;

/// Which extreme was swept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepSide {
    /// The previous high was taken out and the close came back below it (bearish).
    High,
    /// The previous low was taken out and the close came back above it (bullish).
    Low,
}

impl SweepSide {
    /// Stable label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Low => "low",
        }
    }
}

/// A reclaimed sweep on the last candle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Sweep {
    /// Which extreme.
    pub side: SweepSide,
    /// The swept level: the max high (HIGH) or min low (LOW) of the previous `lookback` candles.
    pub level: Decimal,
}

/// Detects a reclaimed sweep of the previous `lookback` candles' extreme.
///
/// HIGH: `high > max(previous highs)` and `close < that max`. Otherwise LOW:
/// `low < min(previous lows)` and `close > that min`. An outside bar that satisfies both is
/// reported as HIGH, as the reference did.
#[derive(Clone, Debug)]
pub struct SweepDetector {
    highs: MonotonicWindow,
    lows: MonotonicWindow,
    lookback: u64,
    last: Option<(SweepSide, i128)>,
}

impl SweepDetector {
    /// A detector over the previous `lookback` candles (reference: 10).
    ///
    /// # Errors
    /// [`StrategyError::InvalidConfig`] unless `1 <= lookback <= MAX_PERIOD`.
    pub fn new(lookback: usize) -> Result<Self, StrategyError> {
        let lookback = check_period("sweep lookback", lookback)?;
        Ok(Self {
            highs: MonotonicWindow::new(lookback, Extreme::Max),
            lows: MonotonicWindow::new(lookback, Extreme::Min),
            lookback: lookback as u64,
            last: None,
        })
    }

    /// Feeds one closed candle.
    pub fn update(&mut self, candle: &Candle) {
        self.update_fixed(&FixedCandle::new(candle));
    }

    pub(crate) fn update_fixed(&mut self, candle: &FixedCandle) {
        self.last = None;
        if self.highs.pushed() >= self.lookback
            && let (Some(previous_high), Some(previous_low)) =
                (self.highs.value(), self.lows.value())
        {
            if candle.high > previous_high && candle.close < previous_high {
                self.last = Some((SweepSide::High, previous_high));
            } else if candle.low < previous_low && candle.close > previous_low {
                self.last = Some((SweepSide::Low, previous_low));
            }
        }
        self.highs.push(candle.high);
        self.lows.push(candle.low);
    }

    /// The swept level on the last candle, if it was a reclaimed sweep.
    pub fn value(&self) -> Option<Decimal> {
        self.sweep().map(|sweep| sweep.level)
    }

    /// The sweep on the last candle, with its side.
    pub fn sweep(&self) -> Option<Sweep> {
        let (side, level) = self.last?;
        Some(Sweep {
            side,
            level: fixed::to_decimal(level, PRICE_SCALE)?,
        })
    }

    pub(crate) fn sweep_fixed(&self) -> Option<(SweepSide, i128)> {
        self.last
    }
}
