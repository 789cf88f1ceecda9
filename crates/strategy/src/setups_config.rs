//! Parameters of the setups strategy, their defaults and their validation.
//!
//! Every ratio is a **fraction** (0.01 = 1 %), never a percent: the reference program passed
//! `risk_pct = 1.0` (percent) to code expecting a fraction, so validation rejects
//! a `risk_frac` above [`MAX_RISK_FRAC`] with a message that names the unit.
//!
//! The defaults are the reference's `config/strategies/default.json` with both setups
//! **enabled** (the reference session shipped them disabled and never traded),
//! funding thresholds as real per-8 h fractions (the reference's 0.05/0.03 could never
//! bind), and a market entry at the close for the pullback setup.
//!
//! Cost-related defaults (not in the reference, which ignored costs): stops must be at least
//! 3 round-trip costs away (`min_stop_cost_multiple`), reward/risk is net of costs, leverage
//! is capped at 3× (was 20×), and a 3 % daily loss budget stops entries for the UTC day.
//! Measured with the real engine and paper broker (10,000 USDT, unknown funding so half
//! size, taker 0.06 %, 1 bp slippage): on the quiet day 2024-09-21 the strategy now places
//! no order (its 1m stops are under one round-trip cost; fee-blind sizing lost 5 % in 9
//! trades); on the volatile month 2021-04-20..05-20 it places about 250 pullback trades,
//! stop-outs lose 1.00–1.01 × the risk budget net of fees (the broker's R, which excludes
//! costs from its denominator, reads about −1.2), fees are about a fifth of the gross moves,
//! and the broker's daily limit never has to refuse an order. It still loses money on that
//! month: the defaults are sane, not profitable, and were not tuned to make them so.

use la_core::Decimal;
use serde::{Deserialize, Serialize};

use crate::{error::StrategyError, gates::FundingGates, indicators::check_period};

/// The largest risk per trade accepted: 2 % of equity (the reference risk gate's limit).
pub const MAX_RISK_FRAC: Decimal = Decimal::from_parts(2, 0, 0, false, 2);

/// How the pullback-ribbon setup enters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PullbackEntry {
    /// Market order at the close of a candle that pulled back into the band around the
    /// trend EMA and closed with the trend (default; backtest and live behave the same).
    #[default]
    Market,
    /// Limit order resting at the trend EMA on every candle in trend (the reference's
    /// behaviour). The session should cancel it after `limit_expiry_bars` unfilled candles
    /// and report `position_open = true` while it works.
    Limit,
}

/// Parameters of [`crate::SetupsStrategy`]. Units: periods and windows in candles, ratios as
/// fractions, multipliers as plain numbers, money in quote currency (USDT).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SetupsConfig {
    /// Trend EMA period (the "ribbon"; pullback entry level). Candles. Default 20.
    pub ema_fast: usize,
    /// Slow EMA period for the trend label. Candles. Default 50.
    pub ema_slow: usize,
    /// Filter EMA period of the sweep setup, compared with the trend EMA. Candles. Default 9.
    pub ema_filter: usize,
    /// ATR period (simple mean of true ranges). Candles. Default 14.
    pub atr_period: usize,
    /// ATR / close below this is the `low_vol` regime. Fraction. Default 0.002 (0.2 %).
    pub regime_low_vol_frac: Decimal,
    /// ATR / close above this is the `high_vol` regime. Fraction. Default 0.006 (0.6 %).
    pub regime_high_vol_frac: Decimal,
    /// ATR / close below this blocks all setups (`low_volatility`). Fraction. Default 0.0001.
    pub min_atr_frac: Decimal,
    /// Swing high/low lookback. Candles. Default 40.
    pub swing_lookback: usize,
    /// Equal-levels window. Candles. Default 12.
    pub equal_levels_window: usize,
    /// Equal levels need at least this many candles. Default 6.
    pub equal_levels_min: usize,
    /// Equal-levels tolerance (BTC override of the reference). Fraction. Default 0.0005.
    pub equal_tol_frac: Decimal,
    /// Whether decisions record equal highs/lows. No setup uses them (nor did the
    /// reference's), and scanning the window costs about a fifth of a candle's work, so they
    /// are off by default. Default false.
    pub record_equal_levels: bool,
    /// CVD divergence needs this many candles. Default 20.
    pub cvd_lookback: usize,

    /// Whether the pullback-ribbon setup may fire. Default true.
    pub pullback_enabled: bool,
    /// Market (default) or limit entry for the pullback setup.
    pub pullback_entry: PullbackEntry,
    /// Pullback band: a long needs `low <= EMA × (1 + band)`, a short
    /// `high >= EMA × (1 − band)`. Fraction. Default 0.001 (0.1 %).
    pub entry_band_frac: Decimal,
    /// Pullback stop distance in ATRs. Default 1.5.
    pub pullback_stop_atr_mult: Decimal,
    /// Pullback target in multiples of the stop distance (R). Default 2.0.
    pub pullback_tp_r_mult: Decimal,
    /// Advisory for the session: cancel an unfilled limit entry after this many candles.
    /// Default 24.
    pub limit_expiry_bars: u32,

    /// Whether the sweep-invalidation setup may fire. Default true.
    pub sweep_enabled: bool,
    /// Sweep lookback: the previous N candles' high/low is the level. Default 10.
    pub sweep_lookback: usize,
    /// VWAP window; the VWAP is the sweep setup's target. Candles. Default 60.
    pub vwap_window: usize,
    /// Sweep stop beyond the swept level, in ATRs. Default 0.5.
    pub sweep_stop_atr_mult: Decimal,
    /// Volume-filter average window. Candles. Default 20.
    pub volume_avg_window: usize,
    /// Volume filter: volume must be at least the average × this. Default 0.5.
    pub min_vol_ratio: Decimal,
    /// Require a CVD divergence in the trade's direction. Default false.
    pub require_cvd_confirm: bool,

    /// Risk per trade. Fraction of equity, at most [`MAX_RISK_FRAC`]. Default 0.01 (1 %).
    pub risk_frac: Decimal,
    /// Minimum **net** reward/risk: `(reward − cost) / (risk + cost)` per unit, with the
    /// round-trip cost of [`crate::SizingSpec::round_trip_cost_frac`]. Default 1.5.
    pub rr_min: Decimal,
    /// Smallest stop distance in multiples of the per-unit round-trip cost
    /// (`entry × round_trip_cost_frac`); closer stops are blocked with `stop_too_close`.
    /// Default 3: costs are then at most a quarter of a stop-out's loss. At BTC 60,000 and
    /// 0.14 % per round trip the stop must be at least 252 USDT (0.42 %) away. 0 disables.
    pub min_stop_cost_multiple: Decimal,
    /// Notional cap as a multiple of equity, and the highest isolated leverage the sizing may
    /// give an order (it picks the highest whole leverage up to this that keeps the
    /// liquidation price beyond the stop; at least 1). Default 3.
    ///
    /// With cost-aware sizing and the stop gate, 1 % risk never needs more than about 1.8×
    /// (a 0.42 % stop plus 0.14 % costs), so the cap only binds on misconfiguration; it
    /// bounds what a gap through the stop can cost (a 5 % gap loses 15 % of equity at 3×,
    /// all of it at 20×). The broker's own limit (20×) stays the hard backstop.
    pub max_leverage: Decimal,
    /// Notional cap per order. Quote currency. Default 200,000.
    pub max_notional: Decimal,
    /// Smallest order notional. Quote currency. Default 5.
    pub min_notional: Decimal,
    /// Daily loss budget: once realized equity is this fraction below its value at the UTC
    /// day's first candle, entries are blocked until the next day (`daily_loss_budget`).
    /// Fraction, 0 disables. Default 0.03 (3 %): below the paper broker's 5 % daily limit
    /// by more than one trade's risk, so the broker's limit is not what ends the day.
    pub max_daily_loss_frac: Decimal,
    /// Candles blocked after a trade opened. Default 5.
    pub cooldown_bars: u32,
    /// Funding gates.
    pub funding: FundingGates,
}

impl Default for SetupsConfig {
    fn default() -> Self {
        Self {
            ema_fast: 20,
            ema_slow: 50,
            ema_filter: 9,
            atr_period: 14,
            regime_low_vol_frac: Decimal::new(2, 3),
            regime_high_vol_frac: Decimal::new(6, 3),
            min_atr_frac: Decimal::new(1, 4),
            swing_lookback: 40,
            equal_levels_window: 12,
            equal_levels_min: 6,
            equal_tol_frac: Decimal::new(5, 4),
            record_equal_levels: false,
            cvd_lookback: 20,
            pullback_enabled: true,
            pullback_entry: PullbackEntry::Market,
            entry_band_frac: Decimal::new(1, 3),
            pullback_stop_atr_mult: Decimal::new(15, 1),
            pullback_tp_r_mult: Decimal::new(20, 1),
            limit_expiry_bars: 24,
            sweep_enabled: true,
            sweep_lookback: 10,
            vwap_window: 60,
            sweep_stop_atr_mult: Decimal::new(5, 1),
            volume_avg_window: 20,
            min_vol_ratio: Decimal::new(5, 1),
            require_cvd_confirm: false,
            risk_frac: Decimal::new(1, 2),
            rr_min: Decimal::new(15, 1),
            min_stop_cost_multiple: Decimal::new(3, 0),
            max_leverage: Decimal::new(3, 0),
            max_notional: Decimal::new(200_000, 0),
            min_notional: Decimal::new(5, 0),
            max_daily_loss_frac: Decimal::new(3, 2),
            cooldown_bars: 5,
            funding: FundingGates::default(),
        }
    }
}

/// Checks `lo <= value <= hi` (or `lo < value` when `open_low`).
fn check_range(
    field: &'static str,
    value: Decimal,
    lo: Decimal,
    open_low: bool,
    hi: Decimal,
    unit: &str,
) -> Result<(), StrategyError> {
    let low_ok = if open_low { value > lo } else { value >= lo };
    if low_ok && value <= hi {
        Ok(())
    } else {
        let bracket = if open_low { "(" } else { "[" };
        Err(StrategyError::invalid(
            field,
            format!("must be {unit} in {bracket}{lo}, {hi}], got {value}"),
        ))
    }
}

impl SetupsConfig {
    /// Checks every parameter; the error names the first bad one and what is allowed.
    ///
    /// # Errors
    /// [`StrategyError::InvalidConfig`].
    pub fn validate(&self) -> Result<(), StrategyError> {
        let zero = Decimal::ZERO;
        let one = Decimal::ONE;
        let big = Decimal::new(1_000, 0);
        for (field, period) in [
            ("ema_fast", self.ema_fast),
            ("ema_slow", self.ema_slow),
            ("ema_filter", self.ema_filter),
            ("atr_period", self.atr_period),
            ("swing_lookback", self.swing_lookback),
            ("equal_levels_window", self.equal_levels_window),
            ("cvd_lookback", self.cvd_lookback),
            ("sweep_lookback", self.sweep_lookback),
            ("vwap_window", self.vwap_window),
            ("volume_avg_window", self.volume_avg_window),
        ] {
            check_period(field, period)?;
        }
        if self.ema_fast >= self.ema_slow {
            return Err(StrategyError::invalid(
                "ema_fast",
                format!(
                    "must be shorter than ema_slow ({}), got {}",
                    self.ema_slow, self.ema_fast
                ),
            ));
        }
        if !(1..=self.equal_levels_window).contains(&self.equal_levels_min) {
            return Err(StrategyError::invalid(
                "equal_levels_min",
                format!(
                    "must be between 1 and equal_levels_window ({}), got {}",
                    self.equal_levels_window, self.equal_levels_min
                ),
            ));
        }
        let fraction = "a fraction (0.01 = 1 %)";
        check_range(
            "regime_low_vol_frac",
            self.regime_low_vol_frac,
            zero,
            false,
            one,
            fraction,
        )?;
        check_range(
            "regime_high_vol_frac",
            self.regime_high_vol_frac,
            zero,
            false,
            one,
            fraction,
        )?;
        if self.regime_low_vol_frac > self.regime_high_vol_frac {
            return Err(StrategyError::invalid(
                "regime_low_vol_frac",
                format!(
                    "must not exceed regime_high_vol_frac ({}), got {}",
                    self.regime_high_vol_frac, self.regime_low_vol_frac
                ),
            ));
        }
        check_range(
            "min_atr_frac",
            self.min_atr_frac,
            zero,
            false,
            one,
            fraction,
        )?;
        check_range(
            "equal_tol_frac",
            self.equal_tol_frac,
            zero,
            false,
            Decimal::new(99, 2),
            fraction,
        )?;
        check_range(
            "entry_band_frac",
            self.entry_band_frac,
            zero,
            false,
            Decimal::new(99, 2),
            fraction,
        )?;
        let multiplier = "a multiplier";
        check_range(
            "pullback_stop_atr_mult",
            self.pullback_stop_atr_mult,
            zero,
            true,
            big,
            multiplier,
        )?;
        check_range(
            "pullback_tp_r_mult",
            self.pullback_tp_r_mult,
            zero,
            true,
            big,
            multiplier,
        )?;
        check_range(
            "sweep_stop_atr_mult",
            self.sweep_stop_atr_mult,
            zero,
            true,
            big,
            multiplier,
        )?;
        check_range(
            "min_vol_ratio",
            self.min_vol_ratio,
            zero,
            false,
            big,
            multiplier,
        )?;
        check_range("rr_min", self.rr_min, zero, false, big, multiplier)?;
        check_range(
            "min_stop_cost_multiple",
            self.min_stop_cost_multiple,
            zero,
            false,
            big,
            multiplier,
        )?;
        check_range(
            "max_leverage",
            self.max_leverage,
            zero,
            true,
            big,
            multiplier,
        )?;
        check_range(
            "risk_frac",
            self.risk_frac,
            zero,
            true,
            MAX_RISK_FRAC,
            "a fraction of equity (0.01 = 1 %, not a percent)",
        )?;
        check_range(
            "max_daily_loss_frac",
            self.max_daily_loss_frac,
            zero,
            false,
            one,
            "a fraction of equity (0.03 = 3 %, 0 disables)",
        )?;
        let money = "an amount of quote currency";
        let max_money = Decimal::new(1_000_000_000_000, 0);
        check_range(
            "max_notional",
            self.max_notional,
            zero,
            true,
            max_money,
            money,
        )?;
        check_range(
            "min_notional",
            self.min_notional,
            zero,
            false,
            max_money,
            money,
        )?;
        if self.min_notional > self.max_notional {
            return Err(StrategyError::invalid(
                "min_notional",
                format!(
                    "must not exceed max_notional ({}), got {}",
                    self.max_notional, self.min_notional
                ),
            ));
        }
        if !self.pullback_enabled && !self.sweep_enabled {
            return Err(StrategyError::invalid(
                "pullback_enabled",
                "at least one of pullback_enabled and sweep_enabled must be true, \
                 otherwise the strategy can never trade",
            ));
        }
        self.funding.validate()?;
        Ok(())
    }

    /// Candles of history needed before the first signal: the longest indicator warm-up
    /// (default 50, the slow EMA).
    pub fn warmup_bars(&self) -> usize {
        [
            self.ema_slow,
            self.ema_fast,
            self.ema_filter,
            self.atr_period + 1,
            self.sweep_lookback + 1,
            self.cvd_lookback.max(5),
            self.volume_avg_window,
        ]
        .into_iter()
        .max()
        .unwrap_or(1)
    }
}
