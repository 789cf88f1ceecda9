//! The simple alternative strategy, `sma-cross`: a market entry when the fast SMA of closes
//! crosses the slow one, with the reference's fixed-fractional geometry (§9).
//!
//! On a cross up (fast ≤ slow on the previous candle, fast > slow now) it goes long at the
//! close; on a cross down, short. Stop distance `close × stop_bps / 10⁴`, target `tp_r`
//! stop distances away, `qty = equity × risk_frac / stop distance` capped at
//! `equity × max_leverage / close`, floored to the step. Worked example (defaults, equity
//! 10,000, long at 100,000): stop 99,700, target 100,450, qty 0.3333 (a $100 loss at the stop).

use std::cmp::Ordering;

use la_core::{Candle, Decimal, Side, TimestampMs};
use serde::{Deserialize, Serialize};

use crate::{
    decision::{Decision, Indicators, Signal, StrategyContext, reason},
    error::StrategyError,
    indicators::{FixedCandle, Sma, check_period},
    setups_config::MAX_RISK_FRAC,
    sizing::{Geometry, SizingRules, size_order},
    strategy::Strategy,
};

/// Setup label of the crossover.
pub const SMA_CROSS: &str = "sma_cross";

/// Parameters of [`SmaCrossStrategy`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmaCrossConfig {
    /// Fast SMA period. Candles. Default 10.
    pub fast: usize,
    /// Slow SMA period. Candles. Default 30.
    pub slow: usize,
    /// Risk per trade. Fraction of equity (0.01 = 1 %), at most 0.02. Default 0.01.
    pub risk_frac: Decimal,
    /// Stop distance from the entry. Basis points (30 = 0.3 %). Default 30.
    pub stop_bps: Decimal,
    /// Target in multiples of the stop distance (R). Default 1.5.
    pub tp_r: Decimal,
    /// Notional cap as a multiple of equity. Default 20.
    pub max_leverage: Decimal,
}

impl Default for SmaCrossConfig {
    fn default() -> Self {
        Self {
            fast: 10,
            slow: 30,
            risk_frac: Decimal::new(1, 2),
            stop_bps: Decimal::new(30, 0),
            tp_r: Decimal::new(15, 1),
            max_leverage: Decimal::new(20, 0),
        }
    }
}

impl SmaCrossConfig {
    /// Checks every parameter.
    ///
    /// # Errors
    /// [`StrategyError::InvalidConfig`] naming the first bad one.
    pub fn validate(&self) -> Result<(), StrategyError> {
        check_period("fast", self.fast)?;
        check_period("slow", self.slow)?;
        if self.fast >= self.slow {
            return Err(StrategyError::invalid(
                "fast",
                format!(
                    "must be shorter than slow ({}), got {}",
                    self.slow, self.fast
                ),
            ));
        }
        if self.risk_frac <= Decimal::ZERO || self.risk_frac > MAX_RISK_FRAC {
            return Err(StrategyError::invalid(
                "risk_frac",
                format!(
                    "must be a fraction of equity in (0, {MAX_RISK_FRAC}] (0.01 = 1 %, not a \
                     percent), got {}",
                    self.risk_frac
                ),
            ));
        }
        if self.stop_bps <= Decimal::ZERO || self.stop_bps >= Decimal::new(10_000, 0) {
            return Err(StrategyError::invalid(
                "stop_bps",
                format!("must be basis points in (0, 10000), got {}", self.stop_bps),
            ));
        }
        let limit = Decimal::new(1_000, 0);
        for (field, value) in [("tp_r", self.tp_r), ("max_leverage", self.max_leverage)] {
            if value <= Decimal::ZERO || value > limit {
                return Err(StrategyError::invalid(
                    field,
                    format!("must be a multiplier in (0, {limit}], got {value}"),
                ));
            }
        }
        Ok(())
    }
}

/// The `sma-cross` strategy.
#[derive(Clone, Debug)]
pub struct SmaCrossStrategy {
    config: SmaCrossConfig,
    rules: SizingRules,
    fast: Sma,
    slow: Sma,
    previous: Option<Ordering>,
    last_open_time: Option<TimestampMs>,
    record: bool,
}

impl SmaCrossStrategy {
    /// Builds the strategy after validating `config`.
    ///
    /// # Errors
    /// [`StrategyError::InvalidConfig`].
    pub fn new(config: SmaCrossConfig) -> Result<Self, StrategyError> {
        config.validate()?;
        Ok(Self {
            rules: SizingRules {
                risk_frac: config.risk_frac,
                max_leverage: config.max_leverage,
                max_notional: None,
                min_notional: Decimal::ZERO,
                rr_min: None,
            },
            fast: Sma::new(config.fast)?,
            slow: Sma::new(config.slow)?,
            previous: None,
            last_open_time: None,
            record: true,
            config,
        })
    }

    /// How the fast average compares with the slow one, exactly (no division).
    fn relation(&self) -> Option<Ordering> {
        let fast_sum = self.fast.sum_fixed()?;
        let slow_sum = self.slow.sum_fixed()?;
        let fast_n = self.fast.period() as i128;
        let slow_n = self.slow.period() as i128;
        match (fast_sum.checked_mul(slow_n), slow_sum.checked_mul(fast_n)) {
            (Some(left), Some(right)) => Some(left.cmp(&right)),
            _ => Some(self.fast.value_fixed()?.cmp(&self.slow.value_fixed()?)),
        }
    }
}

impl Strategy for SmaCrossStrategy {
    fn name(&self) -> &'static str {
        "sma-cross"
    }

    fn on_candle(&mut self, candle: &Candle, ctx: &StrategyContext) -> Decision {
        let mut indicators = Indicators {
            funding_rate: ctx.funding_rate,
            ..Indicators::default()
        };
        if let Some(last) = self.last_open_time
            && candle.open_time() <= last
        {
            return Decision::blocked(reason::STALE_CANDLE, indicators);
        }
        self.last_open_time = Some(candle.open_time());
        let fixed_candle = FixedCandle::new(candle);
        self.fast.update_fixed(&fixed_candle);
        self.slow.update_fixed(&fixed_candle);
        if self.record {
            indicators.sma_fast = self.fast.value();
            indicators.sma_slow = self.slow.value();
        }

        let now = self.relation();
        let previous = std::mem::replace(&mut self.previous, now);
        let (Some(now), Some(previous)) = (now, previous) else {
            return Decision::blocked(reason::WARMUP, indicators);
        };
        let side = match (previous, now) {
            (Ordering::Less | Ordering::Equal, Ordering::Greater) => Side::Long,
            (Ordering::Greater | Ordering::Equal, Ordering::Less) => Side::Short,
            _ => return Decision::blocked(reason::NO_CROSS, indicators),
        };
        let mut decision = Decision {
            signal: Signal::from_side(side),
            setup: Some(SMA_CROSS),
            blocked_by: None,
            indicators,
            order: None,
        };
        if ctx.position_open {
            decision.blocked_by = Some(reason::POSITION_OPEN);
            return decision;
        }
        let close = candle.close().get();
        let distance = close * self.config.stop_bps / Decimal::new(10_000, 0);
        let sign = side.sign();
        let geometry = Geometry {
            side,
            limit: false,
            entry: close,
            stop: close - sign * distance,
            target: Some(close + sign * distance * self.config.tp_r),
            setup: SMA_CROSS,
        };
        match size_order(&geometry, &self.rules, ctx, Decimal::ONE) {
            Ok(sized) => {
                decision.indicators.rr = sized.rr;
                decision.order = Some(sized.plan);
            }
            Err((reason, rr)) => {
                decision.indicators.rr = rr;
                decision.blocked_by = Some(reason);
            }
        }
        decision
    }

    fn warmup_bars(&self) -> usize {
        self.config.slow + 1
    }

    fn record_indicators(&mut self, enabled: bool) {
        self.record = enabled;
    }
}
