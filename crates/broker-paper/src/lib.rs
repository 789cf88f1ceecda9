//! The paper broker: a Decimal-exact, deterministic simulation of a Bitunix USDT-margined
//! perpetual account, implementing [`la_core::Broker`].
//!
//! # Brief overview
//! - [`PaperBroker`]: the state machine. Every call carries its event time; it never reads a
//!   clock, so backtests, replays and live runs behave alike.
//! - [`BrokerConfig`] / [`InstrumentSpec`]: limits, costs and the contract; defaults below.
//! - [`BrokerState`]: the versioned snapshot (schema 2; a schema-1 state is migrated by
//!   [`PaperBroker::from_state`], an open position at leverage 1); [`persist`] writes and
//!   reads it crash-safely (also used by the session for its own state file).
//! - [`BrokerStats`]: trades, wins, PnL, fees, funding, drawdown, liquidations, rejections by
//!   reason.
//!
//! # Rules
//! - **One position at a time.** A submit while a position or a working order exists is
//!   refused (`PositionAlreadyOpen`). Every order carries a stop (mandatory in
//!   [`la_core::OrderIntent`]); a position without a stop cannot be represented.
//! - **Rounding is explicit** (`orders.rs`): quantity down to the step, below the minimum →
//!   `BelowMinQty`; stops and targets to the tick away from the entry, limits to the tick
//!   never worse than asked, fills to the tick against the trader.
//! - **Idempotency** (`ids.rs`): a client order id fills at most once, in a session and across
//!   restarts. *Processed* ids (filled, rejected — any rejection, so a refused id can never be
//!   retried into a fill — or cancelled) are kept, newest `processed_id_retention` (default
//!   10 000), in the state file; the *in-flight* working order is known but not processed, so a
//!   legitimate first attempt is never refused as a duplicate.
//! - **Fills** (`orders.rs`): market orders price per [`MarketFillModel`] (latest tick's ask
//!   for longs / bid for shorts, else the decision price ± `half_spread_bps`), plus adverse
//!   `slippage_bps` and an optional seeded jitter `U(0, slippage_jitter_bps)` (SplitMix64 of
//!   the seed and a persisted draw counter, so runs and restarts are reproducible). With
//!   `latency_ms > 0` a market order is in flight until the first tick or candle at or after
//!   `submit + latency`; a tick prices it per the model, a candle at its close ± half-spread.
//!   Limit orders rest until touched (tick: ask ≤ limit long / bid ≥ limit short; candle:
//!   low/high) and fill at the limit as maker. At every fill the stop and target must still
//!   bracket the actual price, else `ProtectionCrossedAtFill`. Entry fee = notional × taker
//!   (market) or maker (limit).
//! - **Liquidity cap** (optional): one fill takes at most `liquidity_cap_frac` × the volume of
//!   the candle being processed (or, for a fill at submit or on a tick, of the last closed
//!   candle), rounded down to the step; zero volume or no candle yet → no cap. The rest rests
//!   as a limit at the fill price (maker) and is cancelled if the position closes first. With
//!   the cap on, resting orders fill on candles only (ticks carry no volume).
//! - **Exits** (`exits.rs`): stop → target → trailing on *every tick*, at the level itself
//!   (continuous-path model), stops/trailing/forced exits with adverse slippage and the taker
//!   fee, targets without slippage at the maker fee. Closed candles: gap through the stop →
//!   the open; stop and target in one bar → stop first, `CandleAmbiguousStop`, counted; trailing
//!   stop in R from the close; `max_bars_open` exit at the close (a market exit: slippage and
//!   taker fee). `close_position` is the forced exit (shutdown, end of data) at the given price,
//!   also with slippage and the taker fee.
//! - **Risk at submit** (`risk.rs`), each a typed `OrderRejected` event plus a `warn!` with the
//!   symbol: max notional, max leverage (notional / realized equity), per-trade risk cap
//!   (|entry − stop| × qty), orders per minute (sliding 60 s of *event* time), daily loss
//!   (UTC day of event time, realized loss since the day's start > fraction × day-start
//!   equity), the order's isolated leverage (`InvalidLeverage`) and its initial margin
//!   (`InsufficientMargin`, below). A halted broker refuses every submit (`TradingHalted`);
//!   exits still work.
//! - **Isolated margin** (`margin.rs`; formula in `la_core::margin`): every order carries a
//!   [`la_core::Leverage`]; a position posts margin `M = entry notional / leverage` and has a
//!   liquidation price where its margin balance (`M` + unrealized PnL − entry fees) no longer
//!   covers the maintenance margin (`entry notional × mmr`) plus the liquidation fee its close
//!   would pay, rounded to the tick toward the entry. Both are fixed at the entry fills (with
//!   the rates then in force, carried on the position) and repriced only when a further lot
//!   fills. The available balance is `equity − margin in use − margin the working order
//!   reserves`; an order whose initial margin exceeds it is refused at submit, and a fill whose
//!   position margin would exceed the equity (a worse fill than expected) at the fill. A
//!   leverage above `max_leverage` (1× is always allowed), or one whose liquidation price
//!   would not lie on the loss side of the fill, is `InvalidLeverage`. Funding is settled
//!   against the balance, not the isolated margin: it never moves a liquidation price.
//! - **Liquidation** (`exits.rs`): checked with the stop on every tick (long on the bid, short
//!   on the ask, each falling back to the last) and on closed candles under the same bar rules;
//!   the nearer of stop and liquidation price is taken first, so a stop nearer than the
//!   liquidation price always exits first on a continuous path; an open at or beyond the
//!   liquidation price (a gap through both) liquidates even then. A liquidation
//!   (`ExitReason::Liquidation`, label `liquidation`) fills at the liquidation price without
//!   slippage and pays the liquidation fee; any other exit whose fill would lie at or beyond
//!   it becomes a liquidation there. The position loses `M − maintenance margin`, never more
//!   than its margin (checked before booking: a breach halts). Counted in `liquidations`.
//! - **Accounting** (`accounting.rs`): FIFO lots, average entry, realized PnL net of entry and
//!   exit fees, linear PnL `sign × (exit − entry) × qty`, R multiple = net / (|avg entry −
//!   initial stop| × qty), realized equity, peak and max drawdown after each exit or funding.
//!   Fees are never rounded, and [`InstrumentSpec::validate`] bounds the decimal places so
//!   every product is exact: the realized PnL of an order is the same to the last digit
//!   however its fills were split (proved by a proptest).
//! - **Funding** (`funding.rs`): `amount = −sign(side) × rate × qty × mark` — a positive rate
//!   means longs pay and shorts receive; idempotent per funding time; flat → nothing owed but
//!   the time is marked settled. When no rate is known the session warns and does not call.
//! - **Exit times** (`exits.rs`, `broker.rs`): an exit is never dated before its entry. A
//!   tick stamped before the position opened (late, or replayed) never exits it; a forced
//!   close whose event time is before the entry is booked at the entry time (with a warning);
//!   the rule is also an invariant (the latest exit) and a restore check (the outbox).
//! - **Restore** (`restore.rs`): [`PaperBroker::from_state`] refuses a state that cannot be
//!   right with [`BrokerError::InvalidState`] naming the field — positive starting balance
//!   and equity, lots on the step and tick grids with plausible fees and times at or after
//!   `opened_at`, stops and target on the tick grid and on their sides, the notional within
//!   `max_notional`, the margin and liquidation price exactly what the lots, leverage and
//!   rates give — then runs the invariant check.
//! - **Invariants**, checked after every mutating call in debug and release:
//!   `equity == starting + Σ realized net + Σ funding` (liquidations included), position
//!   quantity == Σ lots, stop on the loss side at entry and never moved against the trader,
//!   the isolated margin exactly what the lots, leverage and rates give, a close at the
//!   liquidation price losing no more than the margin, and more (see
//!   [`PaperBroker::check_invariants`]). A breach halts the broker and returns
//!   [`BrokerError::InvariantBreach`]; nothing panics.
//!
//! # Defaults ([`BrokerConfig::default`])
//! BTCUSDT (tick 0.1, step 0.0001, min 0.0001 from Bitunix `trading_pairs`; maker 0.02 %,
//! taker 0.06 %), balance 10 000, slippage 1 bps, no jitter, half-spread 0.5 bps, latest-tick
//! fills, seed 7, no latency, max notional 200 000, max leverage 20, max risk per trade 200
//! (not the Python 100: with 1 % sizing at 10 000 it rejected every order after any gain),
//! 10 orders per minute, daily loss 5 %, trailing at 1 R with a 1 R distance,
//! no max-bars exit, no liquidity cap, 10 000 processed ids; maintenance margin 0.40 %
//! (Bitunix's first BTCUSDT tier) and a liquidation fee of 0.5 % (an assumption: Bitunix
//! publishes none we could find; see [`la_core::MarginRates::BITUNIX_BTCUSDT`]).
//!
//! # Events
//! `OrderAccepted` (an order starts waiting: latency or resting), `Filled` (each entry fill),
//! `Exited` (with its [`la_core::ExitReason`]), `FundingApplied`, `OrderRejected` (with its
//! [`la_core::OrderRejectReason`]), `TrailingActivated`, `OrderCancelled`. Events are appended
//! to the caller's buffer; the tick path allocates nothing when nothing happens.

mod accounting;
mod broker;
mod config;
mod error;
mod exits;
mod funding;
mod ids;
mod margin;
mod orders;
pub mod persist;
mod restore;
mod risk;
mod spec;
mod state;
mod stats;

pub use broker::PaperBroker;
pub use config::{BrokerConfig, MAX_BPS, MarketFillModel, TrailingConfig};
pub use error::BrokerError;
pub use funding::{FUNDING_RETENTION, MAX_ABS_FUNDING_RATE};
pub use spec::{InstrumentSpec, MAX_ABS_FEE, MAX_COMBINED_SCALE, PriceRounding};
pub use state::{
    BrokerState, Counters, DayState, IsolatedMargin, LotState, PositionState, SCHEMA_VERSION,
    SCHEMA_VERSION_WITHOUT_MARGIN, WorkingKind, WorkingOrderState,
};
pub use stats::BrokerStats;

#[cfg(test)]
mod tests;
