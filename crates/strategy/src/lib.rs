//! Strategies for laptop-agents: incremental indicators, the default `setups` strategy, an
//! SMA-crossover alternative, and the per-candle [`Decision`] record.
//!
//! # Brief overview
//! - [`Strategy`]: the trait the session drives, one [`Decision`] per closed candle, given a
//!   [`StrategyContext`] (equity, whether a position is open, the funding rate, the
//!   instrument's [`SizingSpec`]: steps, tick and round-trip cost).
//! - [`SetupsStrategy`] (`setups`, the default; parameters in [`SetupsConfig`]) and
//!   [`SmaCrossStrategy`] (`sma-cross`, [`SmaCrossConfig`]); [`build`] picks one by
//!   [`StrategyKind`].
//! - [`Decision`]: the signal, the [`Indicators`] it saw, and its [`Verdict`]: the
//!   [`OrderPlan`] when it trades, else the [`Gate`] that blocked it; `Serialize`, one per
//!   line in `decisions.jsonl`.
//! - [`indicators`]: EMA, SMA, ATR, VWAP, swing high/low, equal levels, CVD, CVD divergence
//!   and sweep detection, each incremental with exact, documented definitions.
//!
//! # Units
//! Every ratio is a **fraction** (risk 0.01 = 1 % of equity, funding 0.0001 = 0.01 % per
//! 8 h), never a percent; money is `Decimal` in quote currency; periods are in candles.
//!
//! # Fixed defects of the reference program
//! - Its live session never traded because both setups were disabled: here both
//!   are on by default, a configuration with both off is rejected, and a test checks the
//!   defaults trade on a real month of BTCUSDT candles.
//! - Percent vs fraction (a percent was passed where a fraction was expected): `risk_frac` is a fraction, validated to at most
//!   [`MAX_RISK_FRAC`] with an error that says so.
//! - A take-profit on the wrong side passed an absolute reward/risk check: reward
//!   and risk are signed here and a wrong-side target is blocked with `tp_wrong_side`.
//! - Sizing ignored trading costs: on 1m BTC candles its ATR stops were often smaller than a
//!   round trip's fees and slippage, so positions were several times too large (about 12×
//!   leverage) and a stop-out lost 2–3 R net; a quiet day lost the broker's 5 % daily limit
//!   in 9 trades. Here [`SizingSpec::round_trip_cost_frac`] is part of the loss at the stop,
//!   stops under three round-trip costs are refused (`stop_too_close`), reward/risk is net,
//!   leverage is capped at 3×, and a 3 % daily loss budget (`daily_loss_budget`) ends the
//!   day before the broker's limit does. See [`sizing`] and [`SetupsConfig`].
//!
//! # Guarantees
//! - Every produced [`OrderPlan`] passes `la_core::OrderIntent::new` (long: stop < entry <
//!   target; short: the mirror), has `qty >= min_qty` on `qty_step`, prices on the tick, and
//!   loses at most `equity × risk_frac × size_mult` at its stop **including** the round-trip
//!   fees and slippage of [`SizingSpec::round_trip_cost_frac`] (when the stop fills at its
//!   level; a gap through it loses more), and carries the highest leverage within
//!   `max_leverage` whose liquidation price lies beyond its stop by a round-trip cost, with
//!   an isolated margin (`notional / leverage`) that fits the equity: the stop comes before
//!   the liquidation (`liquidation_before_stop` when not even 1× allows it).
//! - A decision without an order always names what blocked it.
//! - `on_candle` is O(1) amortised and allocation-free; the crate does no I/O. Indicators
//!   run on exact fixed-point integers (see [`indicators`]); `Decimal` arithmetic is used only
//!   for the few candles that become orders. `benches/setups.rs` measures the throughput.

mod cost_gate;
pub mod decision;
pub mod error;
pub mod gates;
pub mod indicators;
pub mod setups;
pub mod setups_config;
pub mod sizing;
pub mod sma_cross;
pub mod strategy;

pub use decision::{
    Decision, Gate, Indicators, MAX_ROUND_TRIP_COST_FRAC, OrderPlan, Regime, Signal, SizingSpec,
    StrategyContext, Trend, Verdict,
};
pub use error::StrategyError;
pub use gates::FundingGates;
pub use setups::{PULLBACK_RIBBON, SWEEP_INVALIDATION, SetupsStrategy};
pub use setups_config::{MAX_RISK_FRAC, PullbackEntry, SetupsConfig};
pub use sma_cross::{SMA_CROSS, SmaCrossConfig, SmaCrossStrategy};
pub use strategy::{Strategy, StrategyConfig, StrategyKind, build};
