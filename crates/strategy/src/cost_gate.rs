//! A fixed-point pre-check of the `stop_too_close` cost gate for the market pullback, so
//! the candles whose ATR stop is obviously fee-dominated skip the `Decimal` geometry.
//!
//! On 1m candles most pullback candidates fail the gate (on the 2021-04/05 month about a
//! third of all candles), and the exact check in [`crate::sizing`] costs `Decimal`
//! rounding, multiplications and divisions. The pre-check answers "surely blocked" only
//! when the exact check must block too: the exact check uses the stop rounded **away** from
//! the entry, which adds less than one tick, so with `d = ATR × pullback_stop_atr_mult` and
//! the per-unit cost `c = close × round_trip_cost_frac`,
//! `d + tick ≤ min_stop_cost_multiple × c` implies the rounded distance is below the
//! minimum. Anything closer to the edge falls through to the exact `Decimal` check, so the
//! decisions are the same with or without the pre-check (a test compares them).
//!
//! Everything is compared on sums over the ATR window (`atr_sum = ATR × period`) to avoid
//! divisions, in exact `i128` arithmetic.

use la_core::Decimal;

use crate::indicators::fixed;

/// Slack for the `Decimal` path's own rounding (its ATR is the window sum divided and
/// rounded to 12 decimals, then multiplied): 10⁻⁶ of a quote unit, far below any tick.
const ROUNDING_SLACK: i128 = 1_000_000;

/// The spec-dependent factors, derived again only when the spec's cost or tick changes.
#[derive(Clone, Copy, Debug)]
struct Factors {
    /// The cost fraction and tick they were derived from, by representation
    /// ([`Decimal::serialize`]): equal representations are equal values, so a hit is always
    /// right (an equal value written differently only derives them again), and comparing
    /// bytes costs far less than `Decimal`'s rescaling compare on every candle with a setup.
    key: [[u8; 16]; 2],
    /// `round_trip_cost_frac × min_stop_cost_multiple × period`, fixed point.
    min_cost_sum: i128,
    /// `round_trip_cost_frac × period`, fixed point.
    cost_sum: i128,
    /// `tick × period` plus [`ROUNDING_SLACK`], fixed point.
    slack_sum: i128,
}

/// The pre-check for one strategy (its stop multiplier, gate multiple and ATR period).
#[derive(Clone, Debug)]
pub(crate) struct CostPrecheck {
    stop_mult: i128,
    min_multiple: Decimal,
    /// `min_multiple > 0`: with none, the gate never blocks and neither does the pre-check.
    gate_enabled: bool,
    period: Decimal,
    period_units: i128,
    factors: Option<Factors>,
}

impl CostPrecheck {
    pub(crate) fn new(stop_atr_mult: Decimal, min_multiple: Decimal, period: usize) -> Self {
        Self {
            stop_mult: fixed::fraction_fixed(stop_atr_mult).unwrap_or(i128::MAX),
            min_multiple,
            gate_enabled: min_multiple > Decimal::ZERO,
            period: Decimal::from(period),
            period_units: i128::try_from(period).unwrap_or(i128::MAX),
            factors: None,
        }
    }

    fn factors(&mut self, cost_frac: Decimal, tick: Decimal) -> Option<Factors> {
        let key = [cost_frac.serialize(), tick.serialize()];
        if let Some(f) = self.factors
            && f.key == key
        {
            return Some(f);
        }
        let cost_sum = cost_frac.checked_mul(self.period)?;
        let factors = Factors {
            key,
            min_cost_sum: fixed::fraction_fixed(cost_sum.checked_mul(self.min_multiple)?)?,
            cost_sum: fixed::fraction_fixed(cost_sum)?,
            slack_sum: fixed::fraction_fixed(tick.checked_mul(self.period)?)?
                .checked_add(ROUNDING_SLACK)?,
        };
        self.factors = Some(factors);
        Some(factors)
    }

    /// For a market entry at `close` (fixed point) with the ATR window sum `atr_sum`:
    /// `Some(multiple)` when the stop is surely closer than the gate allows, with the
    /// **unrounded** stop distance in round-trip costs (2 decimals; `None` inside if it
    /// cannot be represented); `None` when the exact check must decide.
    pub(crate) fn surely_too_close(
        &mut self,
        close: i128,
        atr_sum: i128,
        cost_frac: Decimal,
        tick: Decimal,
    ) -> Option<Option<Decimal>> {
        // `cost_frac <= 0` from the sign and zero flags (a negative zero is zero).
        if cost_frac.is_zero() || cost_frac.is_sign_negative() || !self.gate_enabled {
            return None;
        }
        let factors = self.factors(cost_frac, tick)?;
        let distance_sum = fixed::mul_fraction(atr_sum, self.stop_mult);
        let upper = distance_sum.checked_add(factors.slack_sum)?;
        // The exact check reports a stop at or below zero first: leave those to it.
        if upper >= close.checked_mul(self.period_units)?
            || !fixed::cmp_scaled(upper, close, factors.min_cost_sum).is_le()
        {
            return None;
        }
        let cost = fixed::mul_fraction(close, factors.cost_sum);
        if cost <= 0 {
            return Some(None);
        }
        let multiple = distance_sum
            .checked_mul(100)
            .map(|hundredths| fixed::div_round(hundredths, cost))
            .and_then(|hundredths| fixed::to_decimal(hundredths, 2));
        Some(multiple)
    }
}

#[cfg(test)]
mod tests;
