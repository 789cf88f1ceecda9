//! The traded instrument: [`InstrumentSpec`] (tick size, quantity step, minimum quantity, fees)
//! and the explicit rounding the broker applies to every price and quantity.
//!
//! Nothing is rounded implicitly. Prices go to the tick in a direction the caller names
//! ([`PriceRounding`]); quantities always go *down* to the step, and a result below the
//! minimum quantity is refused rather than raised to it.

use la_core::{Price, Qty, Symbol};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::BrokerError;

/// Largest sum of the decimal places of tick, step and fee that [`InstrumentSpec::validate`]
/// accepts. With it, every `price × qty × fee` product of prices and quantities below 10^12
/// fits rust_decimal's 28-digit mantissa, so fees and PnL are exact (no silent rounding).
pub const MAX_COMBINED_SCALE: u32 = 16;

/// Largest fee rate accepted (1 % per side); larger is surely a percent/fraction mix-up.
pub const MAX_ABS_FEE: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// Which way to round a price to the tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriceRounding {
    /// Toward minus infinity (floor to the tick).
    Down,
    /// Toward plus infinity (ceiling to the tick).
    Up,
}

/// The contract being traded: a linear (USDT-margined) perpetual.
///
/// Fees are fractions of notional (`0.0002` = 2 bps); a negative maker fee is a rebate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentSpec {
    /// Instrument symbol, e.g. `BTCUSDT`.
    pub symbol: Symbol,
    /// Price increment.
    pub tick_size: Decimal,
    /// Quantity increment (base currency).
    pub qty_step: Decimal,
    /// Smallest order quantity (base currency).
    pub min_qty: Decimal,
    /// Fee rate for resting (limit) fills and take-profit exits.
    pub maker_fee: Decimal,
    /// Fee rate for market entries and stop, trailing and forced exits.
    pub taker_fee: Decimal,
}

impl InstrumentSpec {
    /// Bitunix BTCUSDT perpetual.
    ///
    /// Sources: `GET /api/v1/futures/market/trading_pairs?symbols=BTCUSDT` has no tick or lot
    /// field; as ccxt does, tick = 10^−`quotePrecision` (1 → **0.1**) and step =
    /// 10^−`basePrecision` (4 → **0.0001**); `minTradeVolume` is `"0.0001"` (the exchange's
    /// documentation and a live probe agree). Fees: maker **0.02 %**, taker
    /// **0.06 %**, Bitunix's standard (VIP 0) futures tier as given in the project brief; the
    /// public market API has no fee field and we hold no fee schedule, so check
    /// these against the exchange's fee page before relying on them. (The Python program used
    /// a flat 2 bps both sides.)
    // The literal is a valid symbol (checked by a test), so the `expect` cannot fire; it is
    // not applied to input.
    #[allow(clippy::expect_used)]
    pub fn btcusdt() -> Self {
        Self {
            symbol: Symbol::new("BTCUSDT").expect("BTCUSDT is a valid symbol literal"),
            tick_size: Decimal::new(1, 1),
            qty_step: Decimal::new(1, 4),
            min_qty: Decimal::new(1, 4),
            maker_fee: Decimal::new(2, 4),
            taker_fee: Decimal::new(6, 4),
        }
    }

    /// Checks every field is in range.
    ///
    /// # Errors
    /// [`BrokerError::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<(), BrokerError> {
        let bad = |msg: String| Err(BrokerError::InvalidConfig(msg));
        let max = la_core::value::MAX_MAGNITUDE;
        for (name, value) in [
            ("tick_size", self.tick_size),
            ("qty_step", self.qty_step),
            ("min_qty", self.min_qty),
        ] {
            if value <= Decimal::ZERO || value > max {
                return bad(format!("{name} must be in (0, 1e12], got {value}"));
            }
        }
        if self.min_qty < self.qty_step || !Grid::new(self.qty_step).is_on_grid(self.min_qty) {
            return bad(format!(
                "min_qty {} must be a positive multiple of qty_step {}",
                self.min_qty, self.qty_step
            ));
        }
        for (name, value) in [("maker_fee", self.maker_fee), ("taker_fee", self.taker_fee)] {
            if value.abs() > MAX_ABS_FEE {
                return bad(format!(
                    "{name} {value} is outside [-{MAX_ABS_FEE}, {MAX_ABS_FEE}] (a fraction, not percent)"
                ));
            }
        }
        let fee_scale = self
            .maker_fee
            .normalize()
            .scale()
            .max(self.taker_fee.normalize().scale());
        let combined =
            self.tick_size.normalize().scale() + self.qty_step.normalize().scale() + fee_scale;
        if combined > MAX_COMBINED_SCALE {
            return bad(format!(
                "tick, step and fee carry {combined} decimal places in total; at most \
                 {MAX_COMBINED_SCALE} keep fee and PnL arithmetic exact"
            ));
        }
        Ok(())
    }

    /// Rounds `price` to the tick in direction `dir`; `None` if the result is not a valid
    /// [`Price`] (zero, negative or out of range).
    pub fn round_price(&self, price: Decimal, dir: PriceRounding) -> Option<Price> {
        Grid::new(self.tick_size).round_price(price, dir)
    }

    /// Rounds `qty` down to the step; `None` if the result is below `min_qty`.
    pub fn round_qty_down(&self, qty: Decimal) -> Option<Qty> {
        let floored = Grid::new(self.qty_step).floor(qty)?;
        if floored < self.min_qty {
            return None;
        }
        Qty::new(floored).ok()
    }
}

impl Default for InstrumentSpec {
    fn default() -> Self {
        Self::btcusdt()
    }
}

/// A rounding grid (tick or step), exact for any finite decimal input.
///
/// Rounding uses the remainder (`x − x mod step`), which is exact in `Decimal`, instead of
/// `floor(x / step) × step`, whose division could round at 28 digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grid {
    step: Decimal,
    /// `Some(k)` when `step == 10^−k`: then rounding is a cheap `round_dp`.
    power_of_ten_dp: Option<u32>,
}

impl Grid {
    pub(crate) fn new(step: Decimal) -> Self {
        let normalized = step.normalize();
        let power_of_ten_dp = (normalized.mantissa() == 1).then_some(normalized.scale());
        Self {
            step,
            power_of_ten_dp,
        }
    }

    pub(crate) fn floor(&self, x: Decimal) -> Option<Decimal> {
        if let Some(dp) = self.power_of_ten_dp {
            return Some(
                x.round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::ToNegativeInfinity),
            );
        }
        let rem = x.checked_rem(self.step)?;
        if rem.is_zero() {
            Some(x)
        } else if rem.is_sign_negative() {
            x.checked_sub(rem)?.checked_sub(self.step)
        } else {
            x.checked_sub(rem)
        }
    }

    pub(crate) fn ceil(&self, x: Decimal) -> Option<Decimal> {
        if let Some(dp) = self.power_of_ten_dp {
            return Some(
                x.round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::ToPositiveInfinity),
            );
        }
        let rem = x.checked_rem(self.step)?;
        if rem.is_zero() {
            Some(x)
        } else if rem.is_sign_negative() {
            x.checked_sub(rem)
        } else {
            x.checked_sub(rem)?.checked_add(self.step)
        }
    }

    pub(crate) fn round(&self, x: Decimal, dir: PriceRounding) -> Option<Decimal> {
        match dir {
            PriceRounding::Down => self.floor(x),
            PriceRounding::Up => self.ceil(x),
        }
    }

    pub(crate) fn round_price(&self, x: Decimal, dir: PriceRounding) -> Option<Price> {
        self.round(x, dir).and_then(|p| Price::new(p).ok())
    }

    pub(crate) fn is_on_grid(&self, x: Decimal) -> bool {
        x.checked_rem(self.step).is_some_and(|rem| rem.is_zero())
    }
}
