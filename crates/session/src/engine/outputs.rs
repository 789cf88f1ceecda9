//! What the engine produces: the decision record of every closed candle with its
//! [`Outcome`], the context of every broker event, and the [`EngineSink`] they go to.

use la_core::{BrokerEvent, Candle, ClientOrderId, Decimal, Provenance, TimestampMs};
use la_strategy::Decision;

use crate::funding::FundingRateSource;

/// What happened to a candle's decision, for the decision record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No order was produced (see `blocked_by`).
    NoOrder,
    /// Blocked by the session's warm-up gate.
    Warmup,
    /// Blocked by the circuit breaker.
    CircuitBreaker,
    /// Dry run: logged, not submitted.
    DryRun,
    /// The candle was older than the last processed one (late backfill or replay).
    OutOfOrder,
    /// The order queue was full.
    QueueFull,
    /// The order could not be built (invalid geometry); never expected from a correct strategy.
    InvalidOrder,
    /// Submitted to the broker (the broker's events say whether it filled).
    Submitted,
    /// Refused before the broker: the broker already processed its id.
    Duplicate,
    /// A warm-up candle from history: indicators only, never an order.
    History,
    /// Replayed while catching up after a downtime: exits and funding only, never an entry.
    CatchUp,
    /// Older than one interval when decided: never traded on.
    Stale,
    /// A price of the candle was outside the plausibility band: quarantined, never seen by
    /// the strategy or the broker.
    ImplausiblePrice,
}

impl Outcome {
    /// Stable label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NoOrder => "no_order",
            Self::Warmup => "warmup",
            Self::CircuitBreaker => "circuit_breaker",
            Self::DryRun => "dry_run",
            Self::OutOfOrder => "out_of_order",
            Self::QueueFull => "queue_full",
            Self::InvalidOrder => "invalid_order",
            Self::Submitted => "submitted",
            Self::Duplicate => "duplicate",
            Self::History => "history",
            Self::ImplausiblePrice => "implausible_price",
            Self::CatchUp => "catch_up",
            Self::Stale => "stale",
        }
    }
}

/// One closed candle's decision, borrowed so the hot path allocates nothing.
#[derive(Debug)]
pub struct DecisionRecord<'a> {
    /// The candle.
    pub candle: &'a Candle,
    /// Its provenance.
    pub provenance: Provenance,
    /// 1-based count of candles the strategy has seen.
    pub bar_index: u64,
    /// The strategy's decision.
    pub decision: &'a Decision,
    /// The client order id, if an order was produced.
    pub client_order_id: Option<&'a ClientOrderId>,
    /// What the session did with it.
    pub outcome: Outcome,
    /// Realized equity after the candle.
    pub equity: Decimal,
    /// Replayed while catching up after a downtime.
    pub catch_up: bool,
}

/// What the engine knew about a broker event when it happened, for the journal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventContext {
    /// Booked while replaying a downtime (see [`Engine::begin_catch_up`]).
    pub catch_up: bool,
    /// For a funding settlement: where its rate came from.
    pub funding_source: Option<FundingRateSource>,
}

/// Where the engine's outputs go (journal, decisions file, equity curve, or nowhere).
pub trait EngineSink {
    /// A broker event (fill, exit, funding, rejection, ...) and its context.
    fn broker_event(&mut self, event: &BrokerEvent, context: EventContext);
    /// One record per closed candle.
    fn decision(&mut self, record: &DecisionRecord<'_>);
    /// The circuit breaker tripped.
    fn breaker_tripped(&mut self, _reason: &str, _ts: TimestampMs) {}
}

/// A sink that drops everything (benchmarks).
#[derive(Debug, Default)]
pub struct NullSink;

impl EngineSink for NullSink {
    fn broker_event(&mut self, _event: &BrokerEvent, _context: EventContext) {}
    fn decision(&mut self, _record: &DecisionRecord<'_>) {}
}
