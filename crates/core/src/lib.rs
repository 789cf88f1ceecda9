//! Pure domain types for laptop-agents.
//!
//! # Brief overview
//! - Scalars that cannot hold an invalid number: [`Price`], [`Qty`], [`Volume`],
//!   [`Symbol`], [`TimestampMs`], [`Interval`].
//! - Records with checked invariants: [`Candle`], [`Tick`], [`OrderIntent`].
//! - Outcomes: [`Fill`], [`Exit`], [`Position`], [`BrokerEvent`].
//! - Isolated margin ([`margin`]): [`Leverage`], [`MarginRates`] and the liquidation price
//!   formula shared by the broker and the strategy's sizing.
//! - [`redact_url`]: URLs with their credentials removed, for everything that is shown or
//!   stored.
//! - The seams other crates implement: [`MarketFeed`], [`Broker`], [`Clock`].
//!
//! **Invariant:** no I/O, no tokio, no system clock, no `f64` for money. Untrusted strings
//! go through [`number::parse_decimal`], and every rejection is a [`DataError`] carrying a
//! [`RejectReason`] the feed counts.

pub mod broker;
pub mod duration;
pub mod error;
pub mod feed;
pub mod margin;
pub mod market;
pub mod number;
pub mod order;
pub mod plausibility;
pub mod redact;
pub mod time;
pub mod value;

pub use broker::{Broker, BrokerEvent, Exit, OrderRejectReason};
pub use duration::parse_duration;
pub use error::{DataError, RejectReason, error_chain};
pub use feed::MarketFeed;
pub use margin::{Leverage, MarginInputs, MarginRates};
pub use market::{
    Candle, CandleNormalization, ConnectionEvent, FundingInfo, MarketEvent, Ohlc, PathSampler,
    Provenance, Tick, last_push_offset,
};
pub use order::{
    ClientOrderId, ExitReason, Fill, OrderIntent, OrderKind, OrderSpec, Position, Side,
    check_protection_sides,
};
pub use plausibility::{
    PlausibilityConfig, PlausibilityCounters, PriceBand, PriceGuard, PriceVerdict, PrintKind,
    ReadOutcome,
};
pub use redact::{redact_url, url_origin};
pub use rust_decimal::Decimal;
pub use time::{Clock, Interval, ManualClock, TimestampMs};
pub use value::{Price, Qty, Symbol, Volume};

#[cfg(test)]
mod tests;
