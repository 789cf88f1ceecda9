//! Broker configuration: [`BrokerConfig`], the market-fill model and the trailing stop, with
//! the defaults documented next to each value and their source.
//!
//! Every field is checked by [`BrokerConfig::validate`] before a broker is built, so the rest
//! of the crate can rely on positive limits and sane ranges.

use la_core::{MarginRates, PlausibilityConfig, PriceGuard};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{error::BrokerError, spec::InstrumentSpec};

/// Largest slippage, jitter or half-spread accepted, in basis points (10 %).
pub const MAX_BPS: Decimal = Decimal::from_parts(1000, 0, 0, false, 0);

/// How a market order's base price is chosen (before slippage).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketFillModel {
    /// The latest tick: ask for longs, bid for shorts (each falling back to the last price).
    /// With no tick seen yet, behaves as [`MarketFillModel::DecisionPrice`].
    LatestTick,
    /// The order's `entry_reference()` (the price the decision was made at, normally the
    /// candle close) moved by `half_spread_bps` against the trader.
    DecisionPrice,
}

/// Trailing-stop parameters in multiples of the initial risk R = |entry − initial stop|.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrailingConfig {
    /// Favourable excursion (in R) at which the trail activates.
    pub activation_r: Decimal,
    /// Distance (in R) the trailing stop keeps from the best price seen.
    pub distance_r: Decimal,
}

/// Every knob of the paper broker. Missing keys in a deserialized config take the defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// The instrument (tick, step, minimum, fees).
    pub spec: InstrumentSpec,
    /// Account balance at the start (quote currency).
    pub starting_balance: Decimal,
    /// Adverse slippage in bps on market entries and on stop, trailing and forced exits.
    pub slippage_bps: Decimal,
    /// Extra adverse slippage, uniform in `[0, x]` bps, from a seeded generator; 0 = none.
    pub slippage_jitter_bps: Decimal,
    /// Half the bid/ask spread (bps) assumed when a market order is priced without a tick.
    pub half_spread_bps: Decimal,
    /// Where market orders get their base price.
    pub market_fill: MarketFillModel,
    /// Seed for the jitter generator (runs are reproducible).
    pub seed: u64,
    /// 0 = market orders fill at submit; otherwise they are in flight until the first tick or
    /// candle whose event time is at least submit time + latency.
    pub latency_ms: i64,
    /// Largest entry notional (quote currency).
    pub max_notional: Decimal,
    /// Largest notional / realized equity, and the largest isolated leverage an order may
    /// carry.
    pub max_leverage: Decimal,
    /// Isolated margin: maintenance margin rate and liquidation fee (see `la_core::margin`).
    pub margin: MarginRates,
    /// Largest loss at the stop for one trade, |entry − stop| × qty (quote currency).
    pub max_risk_per_trade: Decimal,
    /// Order submissions allowed in any 60 s window of event time.
    pub max_orders_per_minute: u32,
    /// New entries stop once the UTC day's realized loss exceeds this fraction of the equity
    /// at the start of that day.
    pub daily_loss_limit_frac: Decimal,
    /// Trailing stop, if any.
    pub trailing: Option<TrailingConfig>,
    /// Close at the candle close once a position has been open this many closed candles.
    pub max_bars_open: Option<u32>,
    /// Largest fill as a fraction of candle volume; the rest rests as a limit order.
    pub liquidity_cap_frac: Option<Decimal>,
    /// How many processed client order ids are remembered (newest kept).
    pub processed_id_retention: usize,
    /// The coarse plausibility band (relative half-width, see `la_core::PriceBand`): a tick
    /// or candle outside it around the broker's last accepted price never triggers an exit
    /// or a fill (until consecutive prints confirm the new level), a market fill outside it
    /// around the order's decision price is rejected (`implausible_price`), and a forced
    /// close outside it is refused. Defence in depth: the session's own, tighter guard
    /// already keeps implausible prints away from the broker.
    pub price_band: Decimal,
}

impl Default for BrokerConfig {
    /// The defaults and where they come from:
    /// - BTCUSDT spec ([`InstrumentSpec::btcusdt`]); starting balance 10 000 (the
    ///   previous Python program's default).
    /// - Slippage 1 bps adverse, no jitter, half-spread 0.5 bps: the upstream defaults carry
    ///   `slip 0.5`; the Python broker's extra "realistic" 30 bps doubled the loss at the stop,
    ///   which we do not copy.
    /// - Limits from the reference program's hard limits: max notional 200 000, max leverage
    ///   20, 10 orders per minute, daily loss 5 %.
    /// - Margin rates [`MarginRates::BITUNIX_BTCUSDT`]: maintenance margin 0.40 % (Bitunix's
    ///   first BTCUSDT tier) and a liquidation fee of 0.5 % (an assumption; see there).
    /// - `max_risk_per_trade` 200, not the Python 100: the default sizing risks 1 % of equity
    ///   (100 at 10 000), so a cap of exactly 100 rejected every order once equity rose above
    ///   10 000 (the risk cap bit after any gain). 200 (2 % of the starting
    ///   balance) still bounds a single loss while leaving room for equity growth and slippage.
    /// - Trailing stop activating at 1 R with a 1 R distance (i.e. it starts at break-even).
    /// - No max-bars exit and no liquidity cap; 10 000 processed ids retained.
    /// - A coarse price band of 0.5 (a factor of 1.5 either way): the ceiling of the
    ///   session's price guard, so it never refuses a price the guard let through.
    fn default() -> Self {
        Self {
            spec: InstrumentSpec::btcusdt(),
            starting_balance: Decimal::from(10_000),
            slippage_bps: Decimal::ONE,
            slippage_jitter_bps: Decimal::ZERO,
            half_spread_bps: Decimal::new(5, 1),
            market_fill: MarketFillModel::LatestTick,
            seed: 7,
            latency_ms: 0,
            max_notional: Decimal::from(200_000),
            max_leverage: Decimal::from(20),
            margin: MarginRates::BITUNIX_BTCUSDT,
            max_risk_per_trade: Decimal::from(200),
            max_orders_per_minute: 10,
            daily_loss_limit_frac: Decimal::new(5, 2),
            trailing: Some(TrailingConfig {
                activation_r: Decimal::ONE,
                distance_r: Decimal::ONE,
            }),
            max_bars_open: None,
            liquidity_cap_frac: None,
            processed_id_retention: 10_000,
            price_band: PlausibilityConfig::default().ceiling,
        }
    }
}

impl BrokerConfig {
    /// Checks every field is in range (and the spec, see [`InstrumentSpec::validate`]).
    ///
    /// # Errors
    /// [`BrokerError::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<(), BrokerError> {
        self.spec.validate()?;
        let bad = |msg: String| Err(BrokerError::InvalidConfig(msg));
        let max = la_core::value::MAX_MAGNITUDE;
        for (name, value) in [
            ("starting_balance", self.starting_balance),
            ("max_notional", self.max_notional),
            ("max_leverage", self.max_leverage),
            ("max_risk_per_trade", self.max_risk_per_trade),
        ] {
            if value <= Decimal::ZERO || value > max {
                return bad(format!("{name} must be in (0, 1e12], got {value}"));
            }
        }
        for (name, value) in [
            ("slippage_bps", self.slippage_bps),
            ("slippage_jitter_bps", self.slippage_jitter_bps),
            ("half_spread_bps", self.half_spread_bps),
        ] {
            if value < Decimal::ZERO || value > MAX_BPS {
                return bad(format!("{name} must be in [0, {MAX_BPS}] bps, got {value}"));
            }
        }
        if !(0..=3_600_000).contains(&self.latency_ms) {
            return bad(format!(
                "latency_ms must be in [0, 3600000], got {}",
                self.latency_ms
            ));
        }
        if self.max_orders_per_minute == 0 {
            return bad("max_orders_per_minute must be at least 1".to_owned());
        }
        if self.daily_loss_limit_frac <= Decimal::ZERO || self.daily_loss_limit_frac > Decimal::ONE
        {
            return bad(format!(
                "daily_loss_limit_frac must be a fraction in (0, 1], got {}",
                self.daily_loss_limit_frac
            ));
        }
        if let Some(trailing) = self.trailing {
            if trailing.activation_r < Decimal::ZERO || trailing.activation_r > Decimal::from(100) {
                return bad(format!(
                    "trailing.activation_r must be in [0, 100], got {}",
                    trailing.activation_r
                ));
            }
            if trailing.distance_r <= Decimal::ZERO || trailing.distance_r > Decimal::from(100) {
                return bad(format!(
                    "trailing.distance_r must be in (0, 100], got {}",
                    trailing.distance_r
                ));
            }
        }
        if self.max_bars_open == Some(0) {
            return bad("max_bars_open must be at least 1 when set".to_owned());
        }
        if let Some(cap) = self.liquidity_cap_frac
            && (cap <= Decimal::ZERO || cap > Decimal::ONE)
        {
            return bad(format!(
                "liquidity_cap_frac must be a fraction in (0, 1], got {cap}"
            ));
        }
        // At the highest leverage allowed, the liquidation price must still lie on the loss
        // side of the entry: `M > C × (mmr + f) + F`, i.e. leverage × (mmr + f + fee) < 1.
        let worst_fee = self
            .spec
            .taker_fee
            .max(self.spec.maker_fee)
            .max(Decimal::ZERO);
        let per_leverage =
            self.margin.maintenance_margin_rate() + self.margin.liquidation_fee_rate() + worst_fee;
        if self
            .max_leverage
            .checked_mul(per_leverage)
            .is_none_or(|v| v >= Decimal::ONE)
        {
            return bad(format!(
                "max_leverage {} × (maintenance margin {} + liquidation fee {} + entry fee {}) \
                 must be below 1, or a position would be liquidated at its own entry",
                self.max_leverage,
                self.margin.maintenance_margin_rate(),
                self.margin.liquidation_fee_rate(),
                worst_fee
            ));
        }
        if self.processed_id_retention == 0 {
            return bad("processed_id_retention must be at least 1".to_owned());
        }
        if self.price_band <= Decimal::ZERO || self.price_band > Decimal::ONE_THOUSAND {
            return bad(format!(
                "price_band must be in (0, 1000], got {}",
                self.price_band
            ));
        }
        Ok(())
    }

    /// The broker's price guard: a fixed band of `price_band` (no widening with time or
    /// volatility), confirming a new level like the session's guard does.
    pub(crate) fn price_guard(&self) -> PriceGuard {
        PriceGuard::new(PlausibilityConfig {
            floor: self.price_band,
            per_sqrt_minute: Decimal::ZERO,
            volatility_multiple: Decimal::ZERO,
            ceiling: self.price_band,
            ..PlausibilityConfig::default()
        })
    }
}
