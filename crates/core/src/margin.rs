//! Isolated margin for a linear (USDT-margined) perpetual: the order's [`Leverage`], the
//! venue's [`MarginRates`] (maintenance margin and liquidation fee), and the one liquidation
//! price formula that both the paper broker (to liquidate) and the strategy's sizing (to keep
//! the stop nearer than the liquidation price) use.
//!
//! # The formula
//! For a position of quantity `Q`, entry cost `C = Σ lot price × lot qty` (so the average
//! entry is `E = C / Q`), entry fees `F` already paid, leverage `L`, maintenance margin rate
//! `mmr` and liquidation fee rate `f`:
//!
//! - isolated (initial) margin `M = C / L`, the most the position can lose;
//! - maintenance margin `MM = C × mmr` (Bitunix: open price × size × rate);
//! - margin balance at price `P`: `M + sign × (P × Q − C) − F` (the entry fee counts against
//!   the margin, so the loss bound below includes it);
//! - the position is liquidated when its margin balance no longer covers the maintenance
//!   margin plus the liquidation fee its close would pay, `P × Q × f`:
//!   - long: `P_liq = (C + F + MM − M) / (Q × (1 − f))`,
//!   - short: `P_liq = (C − F − MM + M) / (Q × (1 + f))`;
//! - closed at `P_liq` and charged `P_liq × Q × f`, the position loses exactly `M − MM`
//!   (gross loss + entry fee + liquidation fee), never more than its margin. The price is
//!   rounded to the tick **toward the entry** (long up, short down): liquidation a hair
//!   earlier, and the loss only smaller.
//!
//! The price is on the loss side of the entry only while `M > C × (mmr + f) + F`, roughly
//! `L × (mmr + f + fee rate) < 1`; callers check the result of
//! [`MarginRates::liquidation_price`] with [`is_on_loss_side`] and refuse a leverage for which
//! it is not.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{
    error::{DataError, RejectReason},
    order::Side,
    value::Price,
};

/// Highest leverage accepted: Bitunix's `maxLeverage` for BTCUSDT (`trading_pairs`).
pub const MAX_LEVERAGE: u32 = 125;

/// An isolated position's leverage: a whole number in `1..=`[`MAX_LEVERAGE`], as exchanges
/// offer it. The initial margin of a position is its notional divided by this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Leverage(u32);

impl Leverage {
    /// 1×: the whole notional is margin.
    pub const ONE: Leverage = Leverage(1);

    /// Validates a leverage.
    ///
    /// # Errors
    /// `Zero` for 0, `OutOfRange` above [`MAX_LEVERAGE`].
    pub fn new(value: u32) -> Result<Self, DataError> {
        match value {
            0 => Err(DataError::new("leverage", RejectReason::Zero, value)),
            v if v > MAX_LEVERAGE => Err(DataError::new("leverage", RejectReason::OutOfRange, v)),
            v => Ok(Self(v)),
        }
    }

    /// The multiple.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The multiple as a decimal.
    pub fn as_decimal(self) -> Decimal {
        Decimal::from(self.0)
    }
}

impl TryFrom<u32> for Leverage {
    type Error = DataError;
    fn try_from(value: u32) -> Result<Self, DataError> {
        Self::new(value)
    }
}

impl From<Leverage> for u32 {
    fn from(value: Leverage) -> u32 {
        value.0
    }
}

impl fmt::Display for Leverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x", self.0)
    }
}

/// Largest accepted maintenance margin rate (50 %, Bitunix's highest BTCUSDT tier).
pub const MAX_MAINTENANCE_MARGIN_RATE: Decimal = Decimal::from_parts(5, 0, 0, false, 1);

/// Largest accepted liquidation fee rate (5 % of the liquidated notional).
pub const MAX_LIQUIDATION_FEE_RATE: Decimal = Decimal::from_parts(5, 0, 0, false, 2);

/// The unchecked shape of [`MarginRates`] (serde goes through [`MarginRates::new`]).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMarginRates {
    maintenance_margin_rate: Decimal,
    liquidation_fee_rate: Decimal,
}

/// The venue's isolated-margin rates, both fractions of notional.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawMarginRates", into = "RawMarginRates")]
pub struct MarginRates {
    maintenance_margin_rate: Decimal,
    liquidation_fee_rate: Decimal,
}

impl MarginRates {
    /// Bitunix BTCUSDT.
    ///
    /// - Maintenance margin rate **0.40 %**: the first tier of Bitunix's published BTCUSDT
    ///   table ("Tiered Maintenance Margin Rate Rules", Bitunix support centre: 125×, up to 6
    ///   contracts, 0.40 %; the next tiers are 0.50 % at 100×, 1.00 % at 50×, 2.50 % at 20×).
    ///   The table's wording leaves open whether the tier follows the position size (then the
    ///   paper account, ≤ 200 000 USDT notional, is always in tier 1) or the leverage chosen;
    ///   the rate is configurable for the stricter reading.
    /// - Liquidation fee **0.5 %** of the liquidated notional: an **assumption**. Bitunix
    ///   publishes no liquidation fee that we could find; 0.5 % is at the low end of what other
    ///   venues publish for BTCUSDT (0.5 % at BIT, 1 % at BTCC). Here a higher fee only moves
    ///   the liquidation price nearer the entry (the loss at liquidation is `M − MM`
    ///   whatever the fee, see the module docs).
    pub const BITUNIX_BTCUSDT: MarginRates = MarginRates {
        maintenance_margin_rate: Decimal::from_parts(4, 0, 0, false, 3),
        liquidation_fee_rate: Decimal::from_parts(5, 0, 0, false, 3),
    };

    /// Validates both rates.
    ///
    /// # Errors
    /// `maintenance_margin_rate` not in `(0, 0.5]` or `liquidation_fee_rate` not in
    /// `[0, 0.05]` (`Zero`, `Negative` or `OutOfRange`).
    pub fn new(
        maintenance_margin_rate: Decimal,
        liquidation_fee_rate: Decimal,
    ) -> Result<Self, DataError> {
        let mmr = maintenance_margin_rate;
        if mmr.is_zero() {
            return Err(DataError::new(
                "maintenance_margin_rate",
                RejectReason::Zero,
                mmr,
            ));
        }
        if mmr.is_sign_negative() {
            return Err(DataError::new(
                "maintenance_margin_rate",
                RejectReason::Negative,
                mmr,
            ));
        }
        if mmr > MAX_MAINTENANCE_MARGIN_RATE {
            return Err(DataError::new(
                "maintenance_margin_rate",
                RejectReason::OutOfRange,
                mmr,
            ));
        }
        let fee = liquidation_fee_rate;
        if fee.is_sign_negative() && !fee.is_zero() {
            return Err(DataError::new(
                "liquidation_fee_rate",
                RejectReason::Negative,
                fee,
            ));
        }
        if fee > MAX_LIQUIDATION_FEE_RATE {
            return Err(DataError::new(
                "liquidation_fee_rate",
                RejectReason::OutOfRange,
                fee,
            ));
        }
        Ok(Self {
            maintenance_margin_rate: mmr,
            liquidation_fee_rate: fee,
        })
    }

    /// Maintenance margin as a fraction of the entry notional.
    pub const fn maintenance_margin_rate(&self) -> Decimal {
        self.maintenance_margin_rate
    }

    /// Liquidation fee as a fraction of the liquidated notional.
    pub const fn liquidation_fee_rate(&self) -> Decimal {
        self.liquidation_fee_rate
    }

    /// The liquidation price of a position (see the module docs), rounded to `tick_size`
    /// toward the entry. `None` on overflow, a non-positive quantity or tick, or a result
    /// that is not a valid [`Price`]. The caller checks it lies on the loss side of the entry.
    pub fn liquidation_price(
        &self,
        side: Side,
        position: &MarginInputs,
        tick_size: Decimal,
    ) -> Option<Price> {
        let MarginInputs {
            cost,
            qty,
            entry_fees,
            margin,
        } = *position;
        if qty <= Decimal::ZERO || tick_size <= Decimal::ZERO {
            return None;
        }
        let maintenance = cost.checked_mul(self.maintenance_margin_rate)?;
        let (numerator, factor) = match side {
            Side::Long => (
                cost.checked_add(entry_fees)?
                    .checked_add(maintenance)?
                    .checked_sub(margin)?,
                Decimal::ONE - self.liquidation_fee_rate,
            ),
            Side::Short => (
                cost.checked_sub(entry_fees)?
                    .checked_sub(maintenance)?
                    .checked_add(margin)?,
                Decimal::ONE + self.liquidation_fee_rate,
            ),
        };
        let raw = numerator.checked_div(qty.checked_mul(factor)?)?;
        let rounded = round_to_tick(raw, tick_size, side == Side::Long)?;
        Price::new(rounded).ok()
    }
}

impl Default for MarginRates {
    /// [`MarginRates::BITUNIX_BTCUSDT`].
    fn default() -> Self {
        Self::BITUNIX_BTCUSDT
    }
}

impl TryFrom<RawMarginRates> for MarginRates {
    type Error = DataError;
    fn try_from(raw: RawMarginRates) -> Result<Self, DataError> {
        Self::new(raw.maintenance_margin_rate, raw.liquidation_fee_rate)
    }
}

impl From<MarginRates> for RawMarginRates {
    fn from(rates: MarginRates) -> Self {
        Self {
            maintenance_margin_rate: rates.maintenance_margin_rate,
            liquidation_fee_rate: rates.liquidation_fee_rate,
        }
    }
}

/// What the liquidation price of a position depends on (quote currency unless noted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarginInputs {
    /// `Σ lot price × lot qty`.
    pub cost: Decimal,
    /// Open quantity (base currency).
    pub qty: Decimal,
    /// Entry fees paid for the open quantity.
    pub entry_fees: Decimal,
    /// The isolated margin, [`initial_margin`] of `cost`.
    pub margin: Decimal,
}

/// `notional / leverage`: the isolated margin a position of that entry notional posts.
/// `None` on overflow.
pub fn initial_margin(notional: Decimal, leverage: Leverage) -> Option<Decimal> {
    notional.checked_div(leverage.as_decimal())
}

/// Whether `liquidation` lies strictly on the loss side of `entry` for `side` (long: below).
pub fn is_on_loss_side(side: Side, entry: Decimal, liquidation: Price) -> bool {
    match side {
        Side::Long => liquidation.get() < entry,
        Side::Short => liquidation.get() > entry,
    }
}

/// `value` rounded to a multiple of `tick` (exactly, via the remainder): up or down.
fn round_to_tick(value: Decimal, tick: Decimal, up: bool) -> Option<Decimal> {
    let rem = value.checked_rem(tick)?;
    if rem.is_zero() {
        return Some(value);
    }
    let floor = if rem.is_sign_negative() {
        value.checked_sub(rem)?.checked_sub(tick)?
    } else {
        value.checked_sub(rem)?
    };
    if up {
        floor.checked_add(tick)
    } else {
        Some(floor)
    }
}

#[cfg(test)]
mod tests;
