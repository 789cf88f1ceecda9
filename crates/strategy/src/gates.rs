//! The gates between a setup and an order that do not depend on the setup's geometry:
//! funding (halt, block, half size), the daily loss budget, the post-trade cooldown, and the
//! size multiplier they produce. Geometry gates (reward/risk, wrong-side target, sizing) live in
//! [`crate::sizing`].

use la_core::Decimal;
use serde::{Deserialize, Serialize};

use crate::{decision::Gate, error::StrategyError, indicators::fixed::fraction_fixed};

/// Funding thresholds, as **fractions per 8 h** (0.0001 = 0.01 %), compared with |rate|.
///
/// The defaults are the Python program's orchestrated-mode values. Its strategy file's
/// 0.05 / 0.03 were percent-like numbers read as fractions (5 % per 8 h), so they could never
/// bind; BTC funding is usually about 0.0001, which trades at full size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FundingGates {
    /// |rate| ≥ this halts trading (`funding_extreme`). Default 0.001 (0.1 % per 8 h).
    pub extreme: Decimal,
    /// |rate| ≥ this blocks new entries (`funding_hot`). Default 0.0005 (0.05 % per 8 h).
    pub no_trade: Decimal,
    /// |rate| ≥ this trades at `half_size_mult` (`funding_warm`). Default 0.0002 (0.02 %).
    pub half_size: Decimal,
    /// Size multiplier when funding is warm. Default 0.5.
    pub half_size_mult: Decimal,
    /// Size multiplier when the rate is unknown (`funding_unknown`): trading continues at
    /// reduced size rather than stopping, because a source without funding (replays, the
    /// mock feed, a REST outage) must not silently disable the strategy. Default 0.5.
    pub unknown_size_mult: Decimal,
}

impl Default for FundingGates {
    fn default() -> Self {
        Self {
            extreme: Decimal::new(1, 3),
            no_trade: Decimal::new(5, 4),
            half_size: Decimal::new(2, 4),
            half_size_mult: Decimal::new(5, 1),
            unknown_size_mult: Decimal::new(5, 1),
        }
    }
}

/// Outcome of the funding gates for one candle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FundingVerdict {
    /// No entries: `funding_extreme` or `funding_hot`.
    Block(Gate),
    /// Entries allowed at `mult` × the normal size, with the reason when reduced.
    Size {
        mult: Decimal,
        reason: Option<&'static str>,
    },
}

/// `Indicators::size_reason` when |funding| is at or above the half-size threshold.
pub const FUNDING_WARM: &str = "funding_warm";
/// `Indicators::size_reason` when the funding rate is unknown.
pub const FUNDING_UNKNOWN: &str = "funding_unknown";

impl FundingGates {
    pub(crate) fn validate(&self) -> Result<(), StrategyError> {
        let fraction = |field: &'static str, value: Decimal| {
            if value.is_sign_negative() || value > Decimal::ONE {
                Err(StrategyError::invalid(
                    field,
                    format!("must be a fraction per 8 h in [0, 1], got {value}"),
                ))
            } else {
                Ok(())
            }
        };
        fraction("funding.extreme", self.extreme)?;
        fraction("funding.no_trade", self.no_trade)?;
        fraction("funding.half_size", self.half_size)?;
        if !(self.half_size <= self.no_trade && self.no_trade <= self.extreme) {
            return Err(StrategyError::invalid(
                "funding",
                format!(
                    "thresholds must satisfy half_size <= no_trade <= extreme, got {} / {} / {}",
                    self.half_size, self.no_trade, self.extreme
                ),
            ));
        }
        for (field, mult) in [
            ("funding.half_size_mult", self.half_size_mult),
            ("funding.unknown_size_mult", self.unknown_size_mult),
        ] {
            if mult <= Decimal::ZERO || mult > Decimal::ONE {
                return Err(StrategyError::invalid(
                    field,
                    format!("must be a size multiplier in (0, 1], got {mult}"),
                ));
            }
        }
        Ok(())
    }

    /// The gates with their thresholds in fixed point, for the per-candle check.
    pub(crate) fn compile(&self) -> FundingCheck {
        let fixed = |value: Decimal| fraction_fixed(value).unwrap_or(i128::MAX);
        FundingCheck {
            extreme: fixed(self.extreme),
            no_trade: fixed(self.no_trade),
            half_size: fixed(self.half_size),
            half_size_mult: self.half_size_mult,
            unknown_size_mult: self.unknown_size_mult,
        }
    }
}

/// [`FundingGates`] compiled to fixed-point thresholds: checking a rate costs integer
/// compares instead of `Decimal` ones.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FundingCheck {
    extreme: i128,
    no_trade: i128,
    half_size: i128,
    half_size_mult: Decimal,
    unknown_size_mult: Decimal,
}

impl FundingCheck {
    /// Applies the gates to `rate` (fraction per 8 h; `None` = unknown).
    pub(crate) fn check(&self, rate: Option<Decimal>) -> FundingVerdict {
        let Some(rate) = rate else {
            return FundingVerdict::Size {
                mult: self.unknown_size_mult,
                reason: Some(FUNDING_UNKNOWN),
            };
        };
        // Beyond i128 at 12 decimals means an absurd rate: treat it as extreme.
        let magnitude = fraction_fixed(rate).map_or(i128::MAX, i128::abs);
        if magnitude >= self.extreme {
            FundingVerdict::Block(Gate::FundingExtreme)
        } else if magnitude >= self.no_trade {
            FundingVerdict::Block(Gate::FundingHot)
        } else if magnitude >= self.half_size {
            FundingVerdict::Size {
                mult: self.half_size_mult,
                reason: Some(FUNDING_WARM),
            }
        } else {
            FundingVerdict::Size {
                mult: Decimal::ONE,
                reason: None,
            }
        }
    }
}

/// Blocks entries for a number of candles after a trade was opened.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Cooldown {
    remaining: u32,
}

impl Cooldown {
    /// A trade was opened: the next `bars` candles are blocked.
    pub(crate) fn arm(&mut self, bars: u32) {
        self.remaining = bars;
    }

    /// Called once per candle; whether this candle is inside the cooldown.
    pub(crate) fn on_candle(&mut self) -> bool {
        if self.remaining > 0 {
            self.remaining -= 1;
            true
        } else {
            false
        }
    }
}

const DAY_MS: i64 = 86_400_000;

/// Stops new entries for the rest of the UTC day once realized equity has fallen more than
/// a given fraction below its value at the day's first candle.
///
/// The paper broker (and an exchange's risk desk) refuses every order after a 5 % daily
/// loss; a strategy that keeps signalling into that wall produces a day of rejected orders
/// whose decisions look like trades. Stopping earlier, at a budget below the broker's
/// limit, keeps the refusal in the strategy's own decision record (`daily_loss_budget`)
/// and leaves room for the last trade's loss: at 3 % plus one 1 % stop-out the day ends
/// near 4 %, under the broker's 5 %.
///
/// Days are UTC days of the candle's close time (when its decision is acted on), like the
/// broker's. The state lives in memory: a restarted session starts a fresh day budget (the
/// session's persisted circuit breaker still applies).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DailyLossGuard {
    /// `1 − max_daily_loss_frac`.
    keep_frac: Decimal,
    day: Option<i64>,
    /// Equity below this blocks entries for the rest of `day`.
    floor: Decimal,
    /// The last equity judged (its exact representation) and the verdict: equity only
    /// changes when a trade closes, and a `Decimal` comparison across scales costs
    /// hundreds of instructions on every candle.
    last: Option<([u8; 16], bool)>,
}

impl DailyLossGuard {
    pub(crate) fn new(max_daily_loss_frac: Decimal) -> Self {
        Self {
            keep_frac: Decimal::ONE - max_daily_loss_frac,
            day: None,
            floor: Decimal::ZERO,
            last: None,
        }
    }

    /// Called once per candle with its close time and the current realized equity; whether
    /// the day's loss budget is spent.
    pub(crate) fn spent(&mut self, close_time_ms: i64, equity: Decimal) -> bool {
        let day = close_time_ms.div_euclid(DAY_MS);
        if self.day != Some(day) {
            self.day = Some(day);
            // Equity is validated positive by sizing; a non-positive one blocks there.
            self.floor = equity.checked_mul(self.keep_frac).unwrap_or(Decimal::ZERO);
            self.last = None;
        }
        let bits = equity.serialize();
        if let Some((last, spent)) = self.last
            && last == bits
        {
            return spent;
        }
        let spent = self.keep_frac < Decimal::ONE && equity < self.floor;
        self.last = Some((bits, spent));
        spent
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::{DAY_MS, DailyLossGuard};

    /// The verdict is remembered for an unchanged equity only: a loss later in the same day
    /// still spends the budget, and a recovery un-spends it.
    #[test]
    fn the_daily_budget_follows_the_equity_through_the_day() {
        let mut guard = DailyLossGuard::new(dec!(0.03));
        let day = 20_000 * DAY_MS;
        assert!(!guard.spent(day + 60_000, dec!(10000)));
        assert!(!guard.spent(day + 120_000, dec!(10000)));
        assert!(guard.spent(day + 180_000, dec!(9650)));
        assert!(guard.spent(day + 240_000, dec!(9650.00)));
        assert!(!guard.spent(day + 300_000, dec!(9800)));
        // The next day's budget starts from its first equity.
        assert!(!guard.spent(day + DAY_MS + 60_000, dec!(9650)));
    }
}
