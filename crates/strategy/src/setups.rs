//! The default strategy, `setups`: the previous Python program's agent pipeline, run
//! incrementally on each closed candle, with its defects fixed.
//!
//! # Pipeline (per closed candle)
//!
//! 1. **Intake.** Update every indicator once. Trend: `up` if EMA20 > EMA50 and close >
//!    EMA20, `down` mirrored, else `chop`. Regime from ATR14 / close: below 0.2 % `low_vol`,
//!    above 0.6 % `high_vol`, else `normal` (a label only).
//! 2. **Setups** (after warm-up; nothing if ATR / close < `min_atr_frac`: `low_volatility`).
//!    - **A `pullback_ribbon`**: in an up trend, a candle whose low reaches the band
//!      `EMA20 × (1 + entry_band_frac)` is a long at its close (default; or a limit at EMA20);
//!      down trend mirrored. Stop `entry ∓ d` with `d = ATR × pullback_stop_atr_mult`,
//!      target `pullback_tp_r_mult` **net** R away: `entry ± (tp_r × (d + cost) + cost)` with
//!      `cost = entry × round_trip_cost_frac`, so a win at the target nets `tp_r` times what a
//!      stop-out loses, both after fees and slippage (with zero costs: `entry ± d × tp_r`).
//!    - **B `sweep_invalidation`** (when A did not fire): a reclaimed sweep of the previous
//!      `sweep_lookback` candles' low is a long at the close with stop `level − ATR ×
//!      sweep_stop_atr_mult` and the VWAP as target; a sweep of the high is the mirrored
//!      short. Filters: EMA9 below EMA20 blocks the long (above blocks the short:
//!      `ema_filter`); volume below the 20-candle average × `min_vol_ratio` blocks
//!      (`volume_filter`); optionally a CVD divergence in the trade's direction is required
//!      (`cvd_confirmation`).
//! 3. **Gates**, first failure wins: `position_open`, funding (`funding_extreme`,
//!    `funding_hot`; warm or unknown funding halves the size), `daily_loss_budget` (3 % of
//!    the day's starting equity lost), `cooldown` (5 candles after a fill), the setup's own outcome (`low_volatility`, `no_conditions`, filters), then the
//!    geometry, cost and risk rules of [`crate::sizing`] (`stop_too_close` when the stop
//!    is under `min_stop_cost_multiple` round-trip costs, `tp_wrong_side`, `rr_below_min`
//!    on the net reward/risk, `below_min_qty`, ...).
//!
//! `Decision::signal` and `setup` report what the conditions pointed to even when a gate then
//! blocked it; only `Decision::order` means "place this".
//!
//! # Deviations from the reference, and why
//!
//! - The pullback entry is a **market order at the close of a candle that touched the band**,
//!   not a limit at EMA20 re-placed on every trend candle: fills then happen at a known price
//!   in backtests and live alike. The reference behaviour is `PullbackEntry::Limit`.
//! - Funding that is unknown halves the size instead of being ignored (the reference session
//!   never had a funding source), and the thresholds are real per-8 h fractions.
//! - **Costs count.** The reference sized from the stop distance alone; on 1m candles its
//!   ATR stops are often smaller than a round trip's fees and slippage (0.14 % of the
//!   notional at Bitunix taker rates), so positions were several times too large and a
//!   stop-out lost 2–3 R net. Here the size includes the costs, fee-dominated stops are
//!   refused (`stop_too_close`), reward/risk is net, and leverage is capped at 3 by default
//!   (see [`SetupsConfig`]).
//! - Gates the reference session skipped (cooldown, funding, reward/risk, risk limit) apply.
//! - Reward/risk is signed, so a VWAP target on the wrong side of the entry is rejected
//!   (`tp_wrong_side`) instead of passing.
//! - Equal highs/lows are not recorded unless `record_equal_levels` (no setup uses them).
//!
//! Indicators run on exact fixed-point integers; only a candle whose gates all pass pays for
//! `Decimal` geometry and sizing, and a market pullback whose ATR stop is plainly inside the
//! cost gate is refused in fixed point first ([`crate::cost_gate`]), so `on_candle` is O(1)
//! and allocation-free.

use la_core::{Candle, Decimal, Side, TimestampMs};

use crate::{
    cost_gate::CostPrecheck,
    decision::{
        Decision, Gate, Indicators, OrderPlan, Regime, Signal, StrategyContext, Trend, Verdict,
    },
    gates::{Cooldown, DailyLossGuard, FundingCheck, FundingVerdict},
    indicators::{
        Atr, CvdDivergence, Divergence, Ema, EqualLevels, FixedCandle, SweepDetector, SweepSide,
        SwingHighLow, VolumeAverage, Vwap,
        fixed::{self, ONE, PRICE_SCALE, VOLUME_SCALE},
    },
    setups_config::{PullbackEntry, SetupsConfig},
    sizing::{Geometry, SizingRules, round_to_step, size_order},
    strategy::Strategy,
};

/// Setup label of the pullback-ribbon setup.
pub const PULLBACK_RIBBON: &str = "pullback_ribbon";
/// Setup label of the sweep-invalidation setup.
pub const SWEEP_INVALIDATION: &str = "sweep_invalidation";

/// Which setup fired, with what it needs to build its order (computed lazily: most hits
/// are blocked by a gate and never need `Decimal` geometry).
#[derive(Clone, Copy, Debug)]
enum Hit {
    Pullback { side: Side },
    Sweep { side: Side, level: i128 },
}

/// The setup stage's answer: a hit, or the reason there is none (with the side a filtered
/// sweep pointed to).
#[derive(Clone, Copy, Debug)]
enum SetupOutcome {
    Hit(Hit),
    Filtered { side: Side, reason: Gate },
    Nothing(Gate),
}

/// Fixed-point thresholds derived once from the configuration.
#[derive(Clone, Copy, Debug)]
struct Thresholds {
    /// `regime_low_vol_frac × atr_period`: compared with the ATR *sum* to avoid a division.
    low_vol: i128,
    high_vol: i128,
    min_atr: i128,
    band_up: i128,
    band_down: i128,
    min_vol_ratio: i128,
}

/// The `setups` strategy. See the module docs for the pipeline.
#[derive(Clone, Debug)]
pub struct SetupsStrategy {
    config: SetupsConfig,
    thresholds: Thresholds,
    rules: SizingRules,
    funding: FundingCheck,
    warmup: usize,
    ema_fast: Ema,
    ema_slow: Ema,
    ema_filter: Ema,
    atr: Atr,
    vwap: Vwap,
    swing: SwingHighLow,
    /// Only when `record_equal_levels`.
    equal: Option<EqualLevels>,
    divergence: CvdDivergence,
    sweep: SweepDetector,
    volume: VolumeAverage,
    cooldown: Cooldown,
    daily_loss: DailyLossGuard,
    cost_precheck: CostPrecheck,
    /// Whether the fixed-point cost pre-check runs (tests compare with it off).
    pub(crate) precheck_enabled: bool,
    /// Candles the pre-check refused (tests check it is exercised).
    #[cfg(test)]
    pub(crate) precheck_hits: u64,
    seen: usize,
    last_open_time: Option<TimestampMs>,
    record: bool,
}

fn threshold(value: Decimal, times: usize) -> i128 {
    fixed::fraction_fixed(value)
        .unwrap_or(i128::MAX)
        .saturating_mul(times as i128)
}

impl SetupsStrategy {
    /// Builds the strategy after validating `config`.
    ///
    /// # Errors
    /// [`crate::StrategyError::InvalidConfig`] naming the first bad parameter.
    pub fn new(config: SetupsConfig) -> Result<Self, crate::StrategyError> {
        config.validate()?;
        let band = fixed::fraction_fixed(config.entry_band_frac).unwrap_or(0);
        let thresholds = Thresholds {
            low_vol: threshold(config.regime_low_vol_frac, config.atr_period),
            high_vol: threshold(config.regime_high_vol_frac, config.atr_period),
            min_atr: threshold(config.min_atr_frac, config.atr_period),
            band_up: ONE + band,
            band_down: ONE - band,
            min_vol_ratio: threshold(config.min_vol_ratio, 1),
        };
        let rules = SizingRules {
            risk_frac: config.risk_frac,
            max_leverage: config.max_leverage,
            max_notional: Some(config.max_notional),
            min_notional: config.min_notional,
            rr_min: Some(config.rr_min),
            min_stop_cost_multiple: config.min_stop_cost_multiple,
        };
        Ok(Self {
            thresholds,
            rules,
            funding: config.funding.compile(),
            warmup: config.warmup_bars(),
            ema_fast: Ema::new(config.ema_fast)?,
            ema_slow: Ema::new(config.ema_slow)?,
            ema_filter: Ema::new(config.ema_filter)?,
            atr: Atr::new(config.atr_period)?,
            vwap: Vwap::new(config.vwap_window)?,
            swing: SwingHighLow::new(config.swing_lookback)?,
            equal: if config.record_equal_levels {
                Some(EqualLevels::new(
                    config.equal_levels_window,
                    config.equal_levels_min,
                    config.equal_tol_frac,
                )?)
            } else {
                None
            },
            divergence: CvdDivergence::new(config.cvd_lookback)?,
            sweep: SweepDetector::new(config.sweep_lookback)?,
            volume: VolumeAverage::new(config.volume_avg_window),
            cooldown: Cooldown::default(),
            daily_loss: DailyLossGuard::new(config.max_daily_loss_frac),
            cost_precheck: CostPrecheck::new(
                config.pullback_stop_atr_mult,
                config.min_stop_cost_multiple,
                config.atr_period,
            ),
            precheck_enabled: true,
            #[cfg(test)]
            precheck_hits: 0,
            seen: 0,
            last_open_time: None,
            record: true,
            config,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &SetupsConfig {
        &self.config
    }

    fn update_indicators(&mut self, candle: &FixedCandle) {
        self.ema_fast.update_fixed(candle);
        self.ema_slow.update_fixed(candle);
        self.ema_filter.update_fixed(candle);
        self.atr.update_fixed(candle);
        self.vwap.update_fixed(candle);
        self.divergence.update_fixed(candle);
        self.sweep.update_fixed(candle);
        self.volume.update(candle.volume);
        if self.record {
            // Only ever recorded, never decided on: not kept while decisions leave them out
            // (every set of a sweep), restarted when recording is turned back on.
            self.swing.update_fixed(candle);
            if let Some(equal) = &mut self.equal {
                equal.update_fixed(candle);
            }
        }
    }

    fn trend(&self, close: i128) -> Option<Trend> {
        let fast = self.ema_fast.value_fixed()?;
        let slow = self.ema_slow.value_fixed()?;
        Some(if fast > slow && close > fast {
            Trend::Up
        } else if fast < slow && close < fast {
            Trend::Down
        } else {
            Trend::Chop
        })
    }

    fn regime(&self, close: i128) -> Option<Regime> {
        let atr_sum = self.atr.sum_fixed()?;
        Some(
            if fixed::cmp_scaled(atr_sum, close, self.thresholds.low_vol).is_lt() {
                Regime::LowVol
            } else if fixed::cmp_scaled(atr_sum, close, self.thresholds.high_vol).is_gt() {
                Regime::HighVol
            } else {
                Regime::Normal
            },
        )
    }

    fn snapshot(&self, into: &mut Indicators, trend: Option<Trend>, regime: Option<Regime>) {
        into.trend = trend;
        into.regime = regime;
        if !self.record {
            return;
        }
        let price = |v: Option<i128>| v.and_then(|v| fixed::to_decimal(v, PRICE_SCALE));
        let equal = self
            .equal
            .as_ref()
            .and_then(EqualLevels::value)
            .unwrap_or_default();
        let sweep = self.sweep.sweep_fixed();
        *into = Indicators {
            ema_fast: price(self.ema_fast.value_fixed()),
            ema_slow: price(self.ema_slow.value_fixed()),
            ema_filter: price(self.ema_filter.value_fixed()),
            atr: price(self.atr.value_fixed()),
            vwap: price(self.vwap.value_fixed()),
            cvd: self.divergence.cvd().value(),
            cvd_divergence: self.divergence.value(),
            swing_high: price(self.swing.high_fixed()),
            swing_low: price(self.swing.low_fixed()),
            equal_high: equal.high,
            equal_low: equal.low,
            sweep: sweep.map(|(side, _)| side),
            sweep_level: price(sweep.map(|(_, level)| level)),
            volume_avg: self
                .volume
                .average()
                .and_then(|v| fixed::to_decimal(v, VOLUME_SCALE)),
            trend,
            regime,
            ..Indicators::default()
        };
    }

    /// Stage 2: which setup (if any) the candle triggers.
    fn find_setup(&self, candle: &FixedCandle, trend: Trend, atr_sum: i128) -> SetupOutcome {
        if fixed::cmp_scaled(atr_sum, candle.close, self.thresholds.min_atr).is_lt() {
            return SetupOutcome::Nothing(Gate::LowVolatility);
        }
        if self.config.pullback_enabled
            && let Some(ema) = self.ema_fast.value_fixed()
        {
            let limit = self.config.pullback_entry == PullbackEntry::Limit;
            match trend {
                Trend::Up
                    if limit
                        || fixed::cmp_scaled(candle.low, ema, self.thresholds.band_up).is_le() =>
                {
                    return SetupOutcome::Hit(Hit::Pullback { side: Side::Long });
                }
                Trend::Down
                    if limit
                        || fixed::cmp_scaled(candle.high, ema, self.thresholds.band_down)
                            .is_ge() =>
                {
                    return SetupOutcome::Hit(Hit::Pullback { side: Side::Short });
                }
                _ => {}
            }
        }
        if !self.config.sweep_enabled {
            return SetupOutcome::Nothing(Gate::NoConditions);
        }
        let Some((swept, level)) = self.sweep.sweep_fixed() else {
            return SetupOutcome::Nothing(Gate::NoConditions);
        };
        let side = match swept {
            SweepSide::Low => Side::Long,
            SweepSide::High => Side::Short,
        };
        let filtered = |reason| SetupOutcome::Filtered { side, reason };
        if let (Some(filter), Some(fast)) =
            (self.ema_filter.value_fixed(), self.ema_fast.value_fixed())
        {
            let against = match side {
                Side::Long => filter < fast,
                Side::Short => filter > fast,
            };
            if against {
                return filtered(Gate::EmaFilter);
            }
        }
        if self
            .volume
            .passes(candle.volume, self.thresholds.min_vol_ratio)
            != Some(true)
        {
            return filtered(Gate::VolumeFilter);
        }
        if self.config.require_cvd_confirm {
            let wanted = match side {
                Side::Long => Divergence::Bullish,
                Side::Short => Divergence::Bearish,
            };
            if self.divergence.value() != Some(wanted) {
                return filtered(Gate::CvdConfirmation);
            }
        }
        SetupOutcome::Hit(Hit::Sweep { side, level })
    }

    /// Raw `Decimal` geometry of a hit; `None` if an indicator it needs is unavailable.
    fn geometry(&self, hit: Hit, close: Decimal, ctx: &StrategyContext) -> Option<Geometry> {
        let atr = fixed::to_decimal(self.atr.value_fixed()?, PRICE_SCALE)?;
        match hit {
            Hit::Pullback { side } => {
                let limit = self.config.pullback_entry == PullbackEntry::Limit;
                let entry = if limit {
                    let ema = fixed::to_decimal(self.ema_fast.value_fixed()?, PRICE_SCALE)?;
                    // A long buys at or below the EMA, a short sells at or above it.
                    round_to_step(ema, ctx.spec.tick_size, side == Side::Short).unwrap_or(ema)
                } else {
                    close
                };
                let distance = atr.checked_mul(self.config.pullback_stop_atr_mult)?;
                // The target is `tp_r` times what the stop loses, both net of the round
                // trip: reward − cost = tp_r × (distance + cost).
                let cost = entry.checked_mul(ctx.spec.round_trip_cost_frac)?;
                let reward = distance
                    .checked_add(cost)?
                    .checked_mul(self.config.pullback_tp_r_mult)?
                    .checked_add(cost)?;
                let sign = side.sign();
                Some(Geometry {
                    side,
                    limit,
                    entry,
                    stop: entry - sign * distance,
                    target: Some(entry + sign * reward),
                    setup: PULLBACK_RIBBON,
                })
            }
            Hit::Sweep { side, level } => {
                let level = fixed::to_decimal(level, PRICE_SCALE)?;
                let vwap = fixed::to_decimal(self.vwap.value_fixed()?, PRICE_SCALE)?;
                let buffer = atr.checked_mul(self.config.sweep_stop_atr_mult)?;
                Some(Geometry {
                    side,
                    limit: false,
                    entry: close,
                    stop: level - side.sign() * buffer,
                    target: Some(vwap),
                    setup: SWEEP_INVALIDATION,
                })
            }
        }
    }
}

impl Strategy for SetupsStrategy {
    fn name(&self) -> &'static str {
        "setups"
    }

    fn on_candle(&mut self, candle: &Candle, ctx: &StrategyContext) -> Decision {
        let mut decision = Decision::blocked(Gate::Warmup, Indicators::default());
        self.decide(candle, ctx, &mut decision);
        decision
    }

    fn decide_into(&mut self, candle: &Candle, ctx: &StrategyContext, decision: &mut Decision) {
        *decision = Decision::blocked(Gate::Warmup, Indicators::default());
        self.decide(candle, ctx, decision);
    }

    fn warmup_bars(&self) -> usize {
        self.warmup
    }

    fn notify_trade_opened(&mut self) {
        self.cooldown.arm(self.config.cooldown_bars);
    }

    fn record_indicators(&mut self, enabled: bool) {
        if enabled && !self.record {
            // The recorded-only indicators missed the candles seen while off: they fill
            // again from the next candle rather than report a window with a hole in it.
            self.swing.clear();
            if let Some(equal) = &mut self.equal {
                equal.clear();
            }
        }
        self.record = enabled;
    }
}

impl SetupsStrategy {
    /// [`Strategy::decide_into`]'s work: `decision` arrives blocked by warm-up with default
    /// indicators.
    fn decide(&mut self, candle: &Candle, ctx: &StrategyContext, decision: &mut Decision) {
        if let Some(last) = self.last_open_time
            && candle.open_time() <= last
        {
            decision.indicators.funding_rate = ctx.funding_rate;
            decision.verdict = Verdict::Blocked(Gate::StaleCandle);
            return;
        }
        self.last_open_time = Some(candle.open_time());
        let fixed_candle = FixedCandle::new(candle);
        self.update_indicators(&fixed_candle);
        self.seen = self.seen.saturating_add(1);
        let cooling = self.cooldown.on_candle();
        let day_spent = self
            .daily_loss
            .spent(candle.close_time().as_ms(), ctx.equity);

        let trend = self.trend(fixed_candle.close);
        let regime = self.regime(fixed_candle.close);
        let indicators = &mut decision.indicators;
        self.snapshot(indicators, trend, regime);
        indicators.funding_rate = ctx.funding_rate;
        let (Some(trend), Some(atr_sum), true) =
            (trend, self.atr.sum_fixed(), self.seen >= self.warmup)
        else {
            return;
        };

        let outcome = self.find_setup(&fixed_candle, trend, atr_sum);
        let (signal, setup) = match outcome {
            SetupOutcome::Hit(Hit::Pullback { side }) => {
                (Signal::from_side(side), Some(PULLBACK_RIBBON))
            }
            SetupOutcome::Hit(Hit::Sweep { side, .. }) | SetupOutcome::Filtered { side, .. } => {
                (Signal::from_side(side), Some(SWEEP_INVALIDATION))
            }
            SetupOutcome::Nothing(_) => (Signal::None, None),
        };
        let verdict: Result<OrderPlan, Gate> = 'verdict: {
            let size_mult = match self.funding.check(ctx.funding_rate) {
                FundingVerdict::Block(gate) => Err(gate),
                FundingVerdict::Size { mult, reason } => {
                    indicators.size_mult = Some(mult);
                    indicators.size_reason = reason;
                    Ok(mult)
                }
            };
            let gate = if ctx.position_open {
                Some(Gate::PositionOpen)
            } else if let Err(gate) = size_mult {
                Some(gate)
            } else if day_spent {
                Some(Gate::DailyLossBudget)
            } else if cooling {
                Some(Gate::Cooldown)
            } else {
                None
            };
            if let Some(gate) = gate {
                break 'verdict Err(gate);
            }
            let hit = match outcome {
                SetupOutcome::Hit(hit) => hit,
                SetupOutcome::Filtered { reason, .. } | SetupOutcome::Nothing(reason) => {
                    break 'verdict Err(reason);
                }
            };
            if self.precheck_enabled
                && matches!(hit, Hit::Pullback { .. })
                && self.config.pullback_entry == PullbackEntry::Market
                && ctx.equity > Decimal::ZERO
                && ctx.spec.is_valid()
                && let Some(multiple) = self.cost_precheck.surely_too_close(
                    fixed_candle.close,
                    atr_sum,
                    ctx.spec.round_trip_cost_frac,
                    ctx.spec.tick_size,
                )
            {
                // Fee-dominated for sure: skip the `Decimal` geometry (see `cost_gate`).
                #[cfg(test)]
                {
                    self.precheck_hits += 1;
                }
                indicators.stop_cost_multiple = multiple;
                break 'verdict Err(Gate::StopTooClose);
            }
            let Some(geometry) = self.geometry(hit, candle.close().get(), ctx) else {
                break 'verdict Err(Gate::IndicatorUnavailable);
            };
            size_order(
                &geometry,
                &self.rules,
                ctx,
                size_mult.unwrap_or(Decimal::ONE),
                indicators,
            )
        };
        decision.signal = signal;
        decision.setup = setup;
        decision.verdict = Verdict::from(verdict);
    }
}
