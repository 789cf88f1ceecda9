//! The [`Strategy`] trait the session drives, the [`StrategyKind`] names the CLI accepts,
//! and [`build`], which turns a kind and its configuration into a boxed strategy.

use std::{fmt, str::FromStr};

use la_core::Candle;
use serde::{Deserialize, Serialize};

use crate::{
    decision::{Decision, StrategyContext},
    error::StrategyError,
    setups::SetupsStrategy,
    setups_config::SetupsConfig,
    sma_cross::{SmaCrossConfig, SmaCrossStrategy},
};

/// A trading strategy: one decision per closed candle.
///
/// Implementations are pure and synchronous (no I/O, no clock): the same candles and
/// contexts always give the same decisions, so backtests and live sessions agree.
pub trait Strategy: Send {
    /// Stable name (`setups`, `sma-cross`).
    fn name(&self) -> &'static str;

    /// Called once per CLOSED candle, in open-time order. Incremental: O(1) amortised per
    /// candle, no heap allocation. A candle whose open time is not after the previous one
    /// is refused (`stale_candle`) without touching the indicators.
    fn on_candle(&mut self, candle: &Candle, ctx: &StrategyContext) -> Decision;

    /// [`Strategy::on_candle`] written into a decision the caller owns, overwriting all of
    /// it. The engine calls this: a decision is ~520 bytes, and a returned one is built on
    /// the strategy's stack and copied out, once per candle of every set of a sweep. A
    /// strategy overrides it when that copy matters.
    fn decide_into(&mut self, candle: &Candle, ctx: &StrategyContext, decision: &mut Decision) {
        *decision = self.on_candle(candle, ctx);
    }

    /// Candles of history needed before the strategy can signal; decisions before that are
    /// blocked with `warmup`.
    fn warmup_bars(&self) -> usize;

    /// The session reports that an entry of this strategy filled (starts the cooldown).
    fn notify_trade_opened(&mut self) {}

    /// Whether decisions carry the numeric indicator values (`Decision::indicators`; on by
    /// default). A backtest that keeps only orders and blocking gates may turn it off: the
    /// decisions, signals and orders are identical, only the indicator values (not the
    /// trend/regime labels, funding, size and reward/risk fields) are left out, which saves
    /// about a quarter of the per-candle work. Indicators that are only ever recorded (no
    /// gate reads them) are not kept while it is off; turned back on, they fill again from
    /// the next candle.
    fn record_indicators(&mut self, enabled: bool) {
        let _ = enabled;
    }
}

/// Which strategy to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    /// The setups strategy (default).
    #[default]
    Setups,
    /// The SMA crossover.
    SmaCross,
}

impl StrategyKind {
    /// Every kind.
    pub const ALL: [StrategyKind; 2] = [Self::Setups, Self::SmaCross];

    /// The name accepted on the command line and in configuration.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Setups => "setups",
            Self::SmaCross => "sma-cross",
        }
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StrategyKind {
    type Err = StrategyError;
    fn from_str(text: &str) -> Result<Self, StrategyError> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| StrategyError::UnknownStrategy {
                name: text.to_owned(),
            })
    }
}

/// Configuration of every strategy; only the chosen kind's part is used.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StrategyConfig {
    /// Parameters of `setups`.
    pub setups: SetupsConfig,
    /// Parameters of `sma-cross`.
    pub sma_cross: SmaCrossConfig,
}

/// Builds the strategy `kind` from its part of `config`.
///
/// # Errors
/// [`StrategyError::InvalidConfig`] when that part does not validate.
pub fn build(
    kind: StrategyKind,
    config: &StrategyConfig,
) -> Result<Box<dyn Strategy>, StrategyError> {
    Ok(match kind {
        StrategyKind::Setups => Box::new(SetupsStrategy::new(config.setups.clone())?),
        StrategyKind::SmaCross => Box::new(SmaCrossStrategy::new(config.sma_cross.clone())?),
    })
}
