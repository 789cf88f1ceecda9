//! What a strategy is given and what it answers: [`StrategyContext`] in, a [`Decision`] out
//! for **every** closed candle, whose [`Verdict`] is either the [`OrderPlan`] when it wants to
//! trade or the [`Gate`] that stopped it when it does not, so "why did it not trade?" always
//! has an answer.

use la_core::{
    ClientOrderId, DataError, Decimal, Leverage, MarginRates, OrderIntent, OrderKind, OrderSpec,
    Price, Qty, Side, number::POW10,
};
use serde::{Deserialize, Serialize};

use crate::indicators::{Divergence, SweepSide};

/// Instrument rules and trading costs that sizing and price rounding must respect.
///
/// Fields are public for convenience; a spec with a non-positive step, minimum or tick, or a
/// round-trip cost outside `[0, MAX_ROUND_TRIP_COST_FRAC]`, is not rejected here but blocks
/// every order with [`Gate::InvalidSpec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizingSpec {
    /// Quantity increment (base asset). Quantities are floored to it.
    pub qty_step: Decimal,
    /// Smallest order quantity (base asset).
    pub min_qty: Decimal,
    /// Price increment (quote asset). Stops and targets are rounded to it.
    pub tick_size: Decimal,
    /// What one round trip (entry and exit) costs, as a **fraction of the notional**:
    /// `2 × taker fee + 2 × slippage`, i.e. a market entry and a stop-loss exit, the costliest
    /// round trip (a take-profit exit pays the lower maker fee without slippage, so this is
    /// conservative for winners). Bitunix BTCUSDT: `2 × 0.0006 + 2 × 0.0001 = 0.0014`
    /// (0.14 %). Sizing adds `entry × round_trip_cost_frac` to the per-unit loss at the stop,
    /// blocks stops that are not a multiple of it (`stop_too_close`), and nets it out of the
    /// reward/risk. Zero gives cost-blind sizing (only sensible for tests of pure geometry).
    pub round_trip_cost_frac: Decimal,
    /// The venue's isolated-margin rates, for the liquidation price the sizing keeps beyond
    /// the stop (see `sizing.rs`).
    pub margin: MarginRates,
}

/// The largest accepted [`SizingSpec::round_trip_cost_frac`]: 0.05 (5 % of the notional per
/// round trip). Anything above is a percent written where a fraction is expected.
pub const MAX_ROUND_TRIP_COST_FRAC: Decimal = Decimal::from_parts(5, 0, 0, false, 2);

impl SizingSpec {
    /// Bitunix BTCUSDT perpetual: tick 0.1, step 0.0001, minimum 0.0001
    /// (`quotePrecision` 1, `basePrecision` 4, `minTradeVolume` "0.0001"), a round trip
    /// costing 0.0014 of the notional (taker 0.06 % on both legs plus 1 bp of slippage on
    /// each, the paper broker's defaults), and [`MarginRates::BITUNIX_BTCUSDT`].
    pub const BITUNIX_BTCUSDT: SizingSpec = SizingSpec {
        qty_step: Decimal::from_parts(1, 0, 0, false, 4),
        min_qty: Decimal::from_parts(1, 0, 0, false, 4),
        tick_size: Decimal::from_parts(1, 0, 0, false, 1),
        round_trip_cost_frac: Decimal::from_parts(14, 0, 0, false, 4),
        margin: MarginRates::BITUNIX_BTCUSDT,
    };

    /// `2 × taker_fee + 2 × slippage_frac`: the round-trip cost of a market entry and a
    /// market (stop) exit, for [`SizingSpec::round_trip_cost_frac`]. Both inputs are
    /// fractions (0.0006 = 0.06 %; 1 bp of slippage = 0.0001).
    /// `None` when the sum overflows `Decimal` (no real fee does).
    pub fn round_trip_cost(taker_fee: Decimal, slippage_frac: Decimal) -> Option<Decimal> {
        taker_fee
            .checked_add(slippage_frac)?
            .checked_mul(Decimal::TWO)
    }

    pub(crate) fn is_valid(&self) -> bool {
        // Signs read from the representation (a negative zero is zero): asked on every
        // candle with a setup, where full `Decimal` compares were a measurable share.
        let positive = |d: Decimal| !d.is_zero() && d.is_sign_positive();
        positive(self.qty_step)
            && positive(self.min_qty)
            && positive(self.tick_size)
            && (self.round_trip_cost_frac.is_zero() || self.round_trip_cost_frac.is_sign_positive())
            && within_cost_cap(self.round_trip_cost_frac)
    }
}

/// `frac <= MAX_ROUND_TRIP_COST_FRAC` for a non-negative `frac`, from the representations:
/// `m / 10^s <= M / 10^S` exactly when `m × 10^S <= M × 10^s`, and both products fit an
/// `i128` (a mantissa is below 2^96, a scale at most 28, and the cap is 5 at scale 2).
fn within_cost_cap(frac: Decimal) -> bool {
    const CAP: Decimal = MAX_ROUND_TRIP_COST_FRAC;
    match (
        POW10.get(CAP.scale() as usize),
        POW10.get(frac.scale() as usize),
    ) {
        (Some(&cap_unit), Some(&frac_unit)) => {
            frac.mantissa() * cap_unit <= CAP.mantissa() * frac_unit
        }
        _ => frac <= CAP,
    }
}

impl Default for SizingSpec {
    /// [`SizingSpec::BITUNIX_BTCUSDT`].
    fn default() -> Self {
        Self::BITUNIX_BTCUSDT
    }
}

/// The account state a strategy decides against, supplied by the session on every candle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrategyContext {
    /// Current equity in quote currency (USDT); risk is a fraction of it.
    pub equity: Decimal,
    /// Whether a position (or a working entry order) is open; a strategy never stacks entries.
    pub position_open: bool,
    /// The latest funding rate as a **fraction per 8 h** (0.0001 = 0.01 %); `None` = unknown.
    pub funding_rate: Option<Decimal>,
    /// Instrument rules for sizing and rounding.
    pub spec: SizingSpec,
}

/// The direction a strategy's conditions point to on this candle (before gates).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// No setup.
    #[default]
    None,
    /// A long setup.
    Long,
    /// A short setup.
    Short,
}

impl Signal {
    /// The order side, if any.
    pub const fn side(self) -> Option<Side> {
        match self {
            Self::None => None,
            Self::Long => Some(Side::Long),
            Self::Short => Some(Side::Short),
        }
    }

    pub(crate) const fn from_side(side: Side) -> Self {
        match side {
            Side::Long => Self::Long,
            Side::Short => Self::Short,
        }
    }
}

/// An entry the strategy wants, already sized and rounded; every plan satisfies
/// `la_core::OrderIntent::new` (long: `stop_loss < entry < take_profit`, short: the mirror)
/// and `qty >= spec.min_qty`, on `spec.qty_step`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OrderPlan {
    /// Entry direction.
    pub side: Side,
    /// Market (the default: fill at the next price) or a limit at a price.
    pub kind: OrderKind,
    /// Quantity in base asset.
    pub qty: Qty,
    /// The price the plan was computed at: the candle close (market) or the limit price.
    pub entry_reference: Price,
    /// Protective stop, rounded to the tick away from the entry.
    pub stop_loss: Price,
    /// Target, rounded to the tick toward the entry.
    pub take_profit: Option<Price>,
    /// Isolated leverage, chosen so the liquidation price lies beyond the stop.
    pub leverage: Leverage,
    /// The setup that produced it (`pullback_ribbon`, `sweep_invalidation`, `sma_cross`).
    pub setup: &'static str,
}

impl OrderPlan {
    /// The broker order for this plan under client order id `id`.
    ///
    /// # Errors
    /// A plan whose geometry `OrderIntent::new` refuses (a strategy bug, never expected).
    pub fn to_intent(&self, id: ClientOrderId) -> Result<OrderIntent, DataError> {
        OrderIntent::new(OrderSpec {
            client_order_id: id,
            side: self.side,
            kind: self.kind,
            qty: self.qty,
            entry_reference: self.entry_reference,
            stop_loss: self.stop_loss,
            take_profit: self.take_profit,
            leverage: self.leverage,
        })
    }
}

/// Trend label of the market intake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// EMA fast > EMA slow and close > EMA fast.
    Up,
    /// EMA fast < EMA slow and close < EMA fast.
    Down,
    /// Anything else.
    Chop,
}

/// Volatility regime of the market intake, from ATR / close.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    /// ATR / close below the low-volatility threshold (default 0.2 %).
    LowVol,
    /// Between the thresholds.
    Normal,
    /// ATR / close above the high-volatility threshold (default 0.6 %).
    HighVol,
}

/// The values a decision was based on. Fields a strategy does not compute, or that are not
/// available yet (warm-up), are `None` and left out of the JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Indicators {
    /// Trend EMA (setups: EMA20) or the fast SMA (sma-cross).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ema_fast: Option<Decimal>,
    /// Slow EMA (setups: EMA50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ema_slow: Option<Decimal>,
    /// Filter EMA of the sweep setup (EMA9).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ema_filter: Option<Decimal>,
    /// Fast SMA (sma-cross).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sma_fast: Option<Decimal>,
    /// Slow SMA (sma-cross).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sma_slow: Option<Decimal>,
    /// ATR (simple mean of true ranges), quote units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub atr: Option<Decimal>,
    /// Rolling VWAP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vwap: Option<Decimal>,
    /// Synthetic CVD, base units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cvd: Option<Decimal>,
    /// CVD/price divergence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cvd_divergence: Option<Divergence>,
    /// Swing high (max high over the swing lookback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swing_high: Option<Decimal>,
    /// Swing low.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swing_low: Option<Decimal>,
    /// Equal-highs level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equal_high: Option<Decimal>,
    /// Equal-lows level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equal_low: Option<Decimal>,
    /// Side of a reclaimed sweep on this candle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepSide>,
    /// The swept level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep_level: Option<Decimal>,
    /// Average volume over the volume-filter window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_avg: Option<Decimal>,
    /// Trend label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trend: Option<Trend>,
    /// Volatility regime label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regime: Option<Regime>,
    /// The funding rate the gates saw (fraction per 8 h); `None` = unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub funding_rate: Option<Decimal>,
    /// Size multiplier applied by the funding gates (1, or 0.5 when warm or unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_mult: Option<Decimal>,
    /// Why the size was reduced: `funding_warm` or `funding_unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_reason: Option<&'static str>,
    /// **Net** reward/risk of the candidate order: `(reward − cost) / (risk + cost)`, with
    /// signed distances after tick rounding and `cost = entry × round_trip_cost_frac` per
    /// unit, i.e. what a win at the target earns over what a loss at the stop costs, both
    /// after fees and slippage. Rounded to 4 decimals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rr: Option<Decimal>,
    /// Stop distance in multiples of the per-unit round-trip cost (`|entry − stop| /
    /// (entry × round_trip_cost_frac)`), when a candidate order got that far and costs are
    /// non-zero; below `min_stop_cost_multiple` it is blocked with `stop_too_close`.
    /// Rounded to 2 decimals. From the tick-rounded stop, except for a market pullback
    /// refused before rounding because even a tick more could not clear the gate, where it
    /// is the unrounded ATR distance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_cost_multiple: Option<Decimal>,
}

/// What a candle's decision came to: an order, or the first gate or filter that stopped it.
/// The type makes "exactly one of the two" impossible to break.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every gate passed: place this order.
    Order(OrderPlan),
    /// Blocked by this gate or filter.
    Blocked(Gate),
}

impl From<Result<OrderPlan, Gate>> for Verdict {
    fn from(result: Result<OrderPlan, Gate>) -> Self {
        match result {
            Ok(plan) => Self::Order(plan),
            Err(gate) => Self::Blocked(gate),
        }
    }
}

/// A strategy's answer for one closed candle: the [`Verdict`], and what it was based on.
///
/// `signal`/`setup` show what the conditions pointed to even when a gate then blocked it.
/// Serialised as `signal`, `setup`, `blocked_by` (the gate's label, or `null`), `indicators`
/// and `order` (or `null`): the shape `decisions.jsonl` has always had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Direction of the setup found on this candle (before gates).
    pub signal: Signal,
    /// Name of that setup.
    pub setup: Option<&'static str>,
    /// The values the decision was based on.
    pub indicators: Indicators,
    /// The order, or what blocked it.
    pub verdict: Verdict,
}

impl Decision {
    /// A decision with no setup, blocked by `gate`.
    pub fn blocked(gate: Gate, indicators: Indicators) -> Self {
        Self {
            signal: Signal::None,
            setup: None,
            indicators,
            verdict: Verdict::Blocked(gate),
        }
    }

    /// The order to place, if every gate passed.
    pub fn order(&self) -> Option<OrderPlan> {
        match self.verdict {
            Verdict::Order(plan) => Some(plan),
            Verdict::Blocked(_) => None,
        }
    }

    /// The gate that blocked it, if any.
    pub fn blocked_by(&self) -> Option<Gate> {
        match self.verdict {
            Verdict::Order(_) => None,
            Verdict::Blocked(gate) => Some(gate),
        }
    }
}

impl Serialize for Decision {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            signal: Signal,
            setup: Option<&'static str>,
            blocked_by: Option<Gate>,
            indicators: &'a Indicators,
            order: Option<OrderPlan>,
        }
        Wire {
            signal: self.signal,
            setup: self.setup,
            blocked_by: self.blocked_by(),
            indicators: &self.indicators,
            order: self.order(),
        }
        .serialize(serializer)
    }
}

/// The gates and filters that can block a candle's order, in the order the strategies check
/// them (the first that applies is reported). Serialised as the snake_case label
/// ([`Gate::as_str`]) that `decisions.jsonl` and the decision counts carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// A candle whose open time is not after the previous one; indicators were not updated.
    StaleCandle,
    /// A price of the candle lies outside the plausibility band around the last accepted
    /// price (a quarantined print): the strategy never saw it.
    ImplausiblePrice,
    /// Not enough history yet (`Strategy::warmup_bars`).
    Warmup,
    /// A position (or working entry) is already open.
    PositionOpen,
    /// |funding| ≥ the extreme threshold: trading halted.
    FundingExtreme,
    /// |funding| ≥ the no-trade threshold.
    FundingHot,
    /// Realized equity fell more than `max_daily_loss_frac` below its value at the first
    /// candle of the UTC day: no new entries until the next day.
    DailyLossBudget,
    /// Within the cooldown after a trade was opened.
    Cooldown,
    /// ATR / price below the minimum: too quiet to set a meaningful stop.
    LowVolatility,
    /// No setup's conditions hold.
    NoConditions,
    /// Sweep setup: the EMA filter opposes the trade (EMA9 vs EMA20).
    EmaFilter,
    /// Sweep setup: the candle's volume is below the average × `min_vol_ratio`.
    VolumeFilter,
    /// Sweep setup: CVD confirmation required and absent.
    CvdConfirmation,
    /// SMA crossover: the averages did not cross on this candle.
    NoCross,
    /// An indicator the order needs cannot be represented (prices beyond any market).
    IndicatorUnavailable,
    /// The sizing spec has a non-positive step, minimum or tick, or a round-trip cost out of
    /// range.
    InvalidSpec,
    /// Non-positive equity.
    NoEquity,
    /// The stop would be at or below zero.
    StopNotPositive,
    /// The stop is closer to the entry than `min_stop_cost_multiple` × the per-unit
    /// round-trip cost (fees and slippage would be a large part of every loss: a
    /// fee-dominated trade), or it rounds onto the entry.
    StopTooClose,
    /// The target lies on the wrong side of the entry (or on it) after rounding.
    TpWrongSide,
    /// Net reward/risk (after round-trip costs) below `rr_min`.
    RrBelowMin,
    /// Equity, leverage or quantity beyond what `Decimal`/`Qty` can represent.
    SizingOverflow,
    /// The sized quantity is below the instrument minimum.
    BelowMinQty,
    /// The order notional is below the minimum notional.
    BelowMinNotional,
    /// Even at leverage 1 the liquidation price would not lie beyond the stop (with the
    /// cost buffer): the position could be liquidated before its stop.
    LiquidationBeforeStop,
}

impl Gate {
    /// Every gate, in check order (for counters and reports).
    pub const ALL: [Gate; 25] = [
        Self::StaleCandle,
        Self::ImplausiblePrice,
        Self::Warmup,
        Self::PositionOpen,
        Self::FundingExtreme,
        Self::FundingHot,
        Self::DailyLossBudget,
        Self::Cooldown,
        Self::LowVolatility,
        Self::NoConditions,
        Self::EmaFilter,
        Self::VolumeFilter,
        Self::CvdConfirmation,
        Self::NoCross,
        Self::IndicatorUnavailable,
        Self::InvalidSpec,
        Self::NoEquity,
        Self::StopNotPositive,
        Self::StopTooClose,
        Self::TpWrongSide,
        Self::RrBelowMin,
        Self::SizingOverflow,
        Self::LiquidationBeforeStop,
        Self::BelowMinQty,
        Self::BelowMinNotional,
    ];

    /// The stable label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StaleCandle => "stale_candle",
            Self::ImplausiblePrice => "implausible_price",
            Self::Warmup => "warmup",
            Self::PositionOpen => "position_open",
            Self::FundingExtreme => "funding_extreme",
            Self::FundingHot => "funding_hot",
            Self::DailyLossBudget => "daily_loss_budget",
            Self::Cooldown => "cooldown",
            Self::LowVolatility => "low_volatility",
            Self::NoConditions => "no_conditions",
            Self::EmaFilter => "ema_filter",
            Self::VolumeFilter => "volume_filter",
            Self::CvdConfirmation => "cvd_confirmation",
            Self::NoCross => "no_cross",
            Self::IndicatorUnavailable => "indicator_unavailable",
            Self::InvalidSpec => "invalid_spec",
            Self::NoEquity => "no_equity",
            Self::StopNotPositive => "stop_not_positive",
            Self::StopTooClose => "stop_too_close",
            Self::TpWrongSide => "tp_wrong_side",
            Self::RrBelowMin => "rr_below_min",
            Self::SizingOverflow => "sizing_overflow",
            Self::BelowMinQty => "below_min_qty",
            Self::BelowMinNotional => "below_min_notional",
            Self::LiquidationBeforeStop => "liquidation_before_stop",
        }
    }
}

impl std::fmt::Display for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A decimal that is often zero (either sign), negative, or at the cost cap's edge.
    fn decimal() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            Just(Decimal::ZERO),
            Just(-Decimal::ZERO),
            Just(MAX_ROUND_TRIP_COST_FRAC),
            // The cap written with more decimals, and one unit of the last decimal either
            // side of it, up to 28 decimals.
            (2u32..=28).prop_map(|scale| {
                let mut cap = MAX_ROUND_TRIP_COST_FRAC;
                cap.rescale(scale);
                cap
            }),
            (-1i64..=1, 3u32..=28)
                .prop_map(|(unit, scale)| MAX_ROUND_TRIP_COST_FRAC + Decimal::new(unit, scale)),
            (-1_000i64..1_000, 0u32..6).prop_map(|(units, scale)| Decimal::new(units, scale)),
            // Large mantissas at any scale.
            (any::<i64>(), 0u32..=28).prop_map(|(units, scale)| Decimal::new(units, scale)),
        ]
    }

    proptest! {
        /// The sign-bit form of the validity check decides as the plain comparisons do.
        #[test]
        fn a_spec_is_valid_exactly_when_its_parts_are_in_range(
            qty_step in decimal(), min_qty in decimal(), tick_size in decimal(), cost in decimal(),
        ) {
            let spec = SizingSpec { qty_step, min_qty, tick_size, round_trip_cost_frac: cost, ..SizingSpec::default() };
            let expected = qty_step > Decimal::ZERO
                && min_qty > Decimal::ZERO
                && tick_size > Decimal::ZERO
                && cost >= Decimal::ZERO
                && cost <= MAX_ROUND_TRIP_COST_FRAC;
            prop_assert_eq!(spec.is_valid(), expected);
        }
    }
}
