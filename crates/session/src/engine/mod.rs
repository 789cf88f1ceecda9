//! The trading engine: one synchronous state machine that both the live session and the
//! backtest drive, so the same candles give the same trades (backtest ↔ live parity).
//!
//! It owns the broker and the strategy. Ticks go straight into the broker's exit checks;
//! each closed candle goes broker (bar exits) → strategy → gates (catch-up, stale candle,
//! warm-up, breaker) → bounded order queue → execution, and produces exactly one decision
//! record. It never reads a clock or touches a file: the caller passes the exchange time a
//! candle is decided at, and outputs go to an [`EngineSink`].
//!
//! **No entry is ever placed from a candle older than one interval when it is decided**
//! ([`Outcome::Stale`]): the live session passes the exchange's "now" as far as the account
//! has seen it (the newest exchange time applied, in arrival order), so a backfill that
//! lands behind newer live data stays history; the backtest passes each candle's own close
//! time, so it never trips there. In catch-up mode ([`Engine::begin_catch_up`]) exits and
//! funding run as usual, indicators update, and no entry is placed at all
//! ([`Outcome::CatchUp`]). It is built in one place, [`factory::build_engine`], from one
//! [`EngineSettings`] value.
//!
//! Every tick and closed candle is first judged by the price-plausibility guard
//! (`la_core::PriceGuard`); a quarantined print is counted (`implausible_price`), logged
//! with a sample, recorded (a candle's decision outcome is `implausible_price`) and goes no
//! further: never to the strategy, never to the broker, so never a fill, an exit or a size
//! at that price.

mod factory;

use std::collections::VecDeque;

pub use factory::{
    EngineSettings, RestoredState, build_engine, build_engine_with_strategy, sizing_for,
};
use la_broker_paper::{BrokerError, PaperBroker};
use la_core::{
    Broker, BrokerEvent, Candle, ClientOrderId, Decimal, ExitReason, OrderIntent,
    PlausibilityCounters, Price, PriceGuard, PriceVerdict, PrintKind, Provenance, ReadOutcome,
    Symbol, Tick, TimestampMs,
};
use la_strategy::{Decision, Gate, Indicators, SizingSpec, Strategy, StrategyContext};

mod outputs;

pub use outputs::{DecisionRecord, EngineSink, EventContext, NullSink, Outcome};

use crate::{
    breaker::{BreakerLimits, BreakerState, CircuitBreaker},
    funding::FundingRateSource,
};

/// The part of [`EngineSettings`] the engine keeps after it is built.
#[derive(Clone, Debug)]
struct EngineConfig {
    symbol: Symbol,
    warmup_bars: usize,
    dry_run: bool,
    order_queue_capacity: usize,
    breaker: BreakerLimits,
}

/// Counters the engine keeps for reports and status.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct EngineCounters {
    /// Closed candles processed by the strategy.
    pub candles_closed: u64,
    /// Of which were backfilled.
    pub candles_backfilled: u64,
    /// Candles not newer than the last one: repeats of it (dropped) and late ones (recorded
    /// as `out_of_order` decisions, never traded on; see `Engine::on_candle_closed`).
    pub candles_out_of_order: u64,
    /// Ticks processed.
    pub ticks: u64,
    /// Orders submitted to the broker.
    pub orders_submitted: u64,
    /// Fills.
    pub fills: u64,
    /// Closed trades.
    pub exits: u64,
    /// Broker rejections.
    pub orders_rejected: u64,
    /// Orders dropped because the queue was full.
    pub orders_dropped: u64,
    /// Funding settlements applied.
    pub funding_events: u64,
    /// Prices quarantined as implausible: ticks and candles never used, and funding mark
    /// prices replaced by the last accepted price.
    pub implausible_price: u64,
    /// What the plausibility guard decided (quarantines started, levels confirmed or
    /// refuted).
    pub plausibility: PlausibilityCounters,
}

/// Implausible prices are logged at most once per this much event time (with the number
/// suppressed in between); the counters keep the exact numbers.
const IMPLAUSIBLE_LOG_EVERY_MS: i64 = 60_000;

/// The rate limit of the implausible-price warning, on event time.
#[derive(Clone, Copy, Debug, Default)]
struct ImplausibleLog {
    last: Option<TimestampMs>,
    suppressed: u64,
}

impl ImplausibleLog {
    /// `Some(suppressed)` when a line may be written at `ts`.
    fn permit(&mut self, ts: TimestampMs) -> Option<u64> {
        if self
            .last
            .is_some_and(|last| ts.ms_since(last) < IMPLAUSIBLE_LOG_EVERY_MS)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(ts);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// The engine.
pub struct Engine {
    config: EngineConfig,
    broker: PaperBroker,
    strategy: Box<dyn Strategy>,
    sizing: SizingSpec,
    breaker: CircuitBreaker,
    queue: VecDeque<OrderIntent>,
    scratch: Vec<BrokerEvent>,
    bars_seen: u64,
    last_candle_open: Option<TimestampMs>,
    /// Open time of the newest candle the strategy saw in this process (its indicators are
    /// not persisted, so after a restart it may be fed history older than
    /// `last_candle_open`).
    strategy_last_open: Option<TimestampMs>,
    last_event_time: Option<TimestampMs>,
    last_price: Option<Price>,
    funding_rate: Option<Decimal>,
    /// Replaying a downtime: no entries, events marked `catch_up`.
    catching_up: bool,
    counters: EngineCounters,
    guard: PriceGuard,
    /// One warning limiter for ticks, one for candles, so a bad tick never hides the bad
    /// candle that follows it.
    implausible_log: [ImplausibleLog; 2],
    /// Set when a quarantine starts: the live session reads the last price over REST and
    /// hands it to [`Engine::on_reference_read`].
    reference_read_wanted: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("strategy", &self.strategy.name())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Assembles an engine around a broker and a strategy, restoring the breaker and the
    /// last processed candle from saved session state. Only the factory calls it.
    fn new(
        config: EngineConfig,
        broker: PaperBroker,
        strategy: Box<dyn Strategy>,
        sizing: SizingSpec,
        breaker_state: BreakerState,
        last_candle_open: Option<TimestampMs>,
        guard: PriceGuard,
    ) -> Self {
        let breaker = CircuitBreaker::new(config.breaker, breaker_state);
        Self {
            queue: VecDeque::with_capacity(config.order_queue_capacity),
            config,
            broker,
            strategy,
            sizing,
            breaker,
            scratch: Vec::with_capacity(8),
            bars_seen: 0,
            last_candle_open,
            strategy_last_open: None,
            last_event_time: None,
            last_price: None,
            funding_rate: None,
            catching_up: false,
            counters: EngineCounters::default(),
            guard,
            implausible_log: [ImplausibleLog::default(); 2],
            reference_read_wanted: false,
        }
    }

    /// Enters catch-up mode: until [`Engine::end_catch_up`], candles update the strategy's
    /// indicators and run the broker's exits, but never place an entry, and every broker
    /// event is marked `catch_up`.
    pub fn begin_catch_up(&mut self) {
        self.catching_up = true;
    }

    /// Leaves catch-up mode.
    pub fn end_catch_up(&mut self) {
        self.catching_up = false;
    }

    /// Whether the engine is in catch-up mode.
    pub fn is_catching_up(&self) -> bool {
        self.catching_up
    }

    /// The broker (read-only).
    pub fn broker(&self) -> &PaperBroker {
        &self.broker
    }
    /// Counters so far.
    pub fn counters(&self) -> &EngineCounters {
        &self.counters
    }
    /// The breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }
    /// Closed candles the strategy needs before its indicators are meaningful (the live
    /// session fetches this much history, plus a margin, before trading).
    pub fn strategy_warmup_bars(&self) -> usize {
        self.strategy.warmup_bars()
    }
    /// The strategy's name.
    pub fn strategy_name(&self) -> &'static str {
        self.strategy.name()
    }
    /// Open time of the newest candle processed.
    pub fn last_candle_open(&self) -> Option<TimestampMs> {
        self.last_candle_open
    }
    /// The newest event time seen.
    pub fn last_event_time(&self) -> Option<TimestampMs> {
        self.last_event_time
    }
    /// The newest accepted price (never a quarantined one).
    pub fn last_price(&self) -> Option<Price> {
        self.last_price
    }

    /// Whether a quarantine started since the last call: the live session then reads the
    /// last price over REST, off the data path, and hands it to
    /// [`Engine::on_reference_read`]. Clears the request.
    pub fn take_reference_read_request(&mut self) -> bool {
        std::mem::take(&mut self.reference_read_wanted)
    }

    /// An authoritative read of the last price (the exchange's REST answer): it becomes the
    /// reference, and a quarantined level is confirmed or refuted by it.
    pub fn on_reference_read(&mut self, price: Price) -> ReadOutcome {
        let ts = self.last_event_time.unwrap_or(TimestampMs::MIN);
        let outcome = self.guard.on_reference_read(price, ts);
        self.counters.plausibility = *self.guard.counters();
        self.last_price = Some(price);
        match outcome {
            ReadOutcome::NoQuarantine => {}
            ReadOutcome::Confirmed => {
                tracing::warn!(symbol = %self.config.symbol, %price, "a REST read of the last price confirmed a quarantined price level; prices there are accepted from now on")
            }
            ReadOutcome::Refuted => {
                tracing::info!(symbol = %self.config.symbol, %price, "a REST read of the last price refuted a quarantined price; it stays unused")
            }
        }
        outcome
    }

    /// Whether the plausibility guard lets a print through; counts, logs and asks for a
    /// REST read when it does not.
    #[inline]
    fn admit(&mut self, verdict: PriceVerdict, kind: PrintKind, ts: TimestampMs) -> bool {
        self.counters.plausibility = *self.guard.counters();
        // Nearly every print: inlined; the rest logs and counts out of line.
        matches!(verdict, PriceVerdict::Accepted) || self.admit_unusual(verdict, kind, ts)
    }

    /// [`Self::admit`] for a print that was not simply accepted.
    #[inline(never)]
    fn admit_unusual(&mut self, verdict: PriceVerdict, kind: PrintKind, ts: TimestampMs) -> bool {
        match verdict {
            PriceVerdict::Accepted => true,
            PriceVerdict::Confirmed { previous } => {
                tracing::warn!(symbol = %self.config.symbol, kind = kind.as_str(), previous = %previous, ts = ts.as_ms(), "a new price level was confirmed by consecutive prints; prices there are accepted from now on");
                true
            }
            PriceVerdict::Quarantined {
                price,
                reference,
                band,
                started,
            } => {
                self.counters.implausible_price += 1;
                self.reference_read_wanted |= started;
                let log = &mut self.implausible_log[usize::from(kind == PrintKind::Candle)];
                if let Some(suppressed) = log.permit(ts) {
                    tracing::warn!(
                        symbol = %self.config.symbol,
                        kind = kind.as_str(),
                        price = %price,
                        reference = %reference,
                        band = %band.half_width(),
                        ts = ts.as_ms(),
                        suppressed,
                        "implausible price quarantined: not used for any decision, fill or exit"
                    );
                }
                false
            }
        }
    }

    /// Whether the strategy fills its decisions' indicator values (on by default). A run
    /// whose decisions are never written or shown (a sweep's or a walk-forward fold's
    /// window) turns it off: the values are conversions for the record, never inputs to a
    /// gate or an order, so trades and results are the same without them.
    pub fn record_indicators(&mut self, enabled: bool) {
        self.strategy.record_indicators(enabled);
    }

    /// Records the latest funding rate (fraction) for the strategy's funding gates.
    pub fn observe_funding_rate(&mut self, rate: Decimal) {
        self.funding_rate = Some(rate);
    }

    fn note_time(&mut self, ts: TimestampMs) {
        if self.last_event_time.is_none_or(|last| ts > last) {
            self.last_event_time = Some(ts);
        }
    }

    /// Exit checks on a tick, called directly from the data path.
    ///
    /// # Errors
    /// A broker invariant breach (the caller halts trading).
    pub fn on_tick(&mut self, tick: &Tick, sink: &mut dyn EngineSink) -> Result<(), BrokerError> {
        self.counters.ticks += 1;
        self.note_time(tick.ts());
        let verdict = self.guard.check_tick(tick);
        if !self.admit(verdict, PrintKind::Tick, tick.ts()) {
            return Ok(());
        }
        self.last_price = Some(tick.last());
        let result = self.broker.on_tick(tick, &mut self.scratch);
        self.flush_events(sink, None);
        result
    }

    /// Processes a closed candle end to end and emits its decision record. `decided_at` is
    /// the exchange time the decision is made at (the live session's "now"; a backtest
    /// passes the candle's close time): a candle closed more than one interval before it
    /// never places an entry.
    ///
    /// # Errors
    /// A broker invariant breach (the caller halts trading).
    pub fn on_candle_closed(
        &mut self,
        candle: &Candle,
        provenance: Provenance,
        decided_at: TimestampMs,
        sink: &mut dyn EngineSink,
    ) -> Result<(), BrokerError> {
        let open_time = candle.open_time();
        if let Some(last) = self.last_candle_open
            && open_time <= last
        {
            self.counters.candles_out_of_order += 1;
            if open_time < last {
                self.record_late_candle(candle, provenance, last, sink);
            }
            return Ok(());
        }
        let now = candle.close_time();
        self.note_time(now);
        let verdict = self.guard.check_candle(candle);
        if !self.admit(verdict, PrintKind::Candle, now) {
            self.last_candle_open = Some(open_time);
            self.record_implausible_candle(candle, provenance, sink);
            return Ok(());
        }
        self.last_price = Some(candle.close());
        self.last_candle_open = Some(open_time);
        self.strategy_last_open = Some(open_time);
        self.counters.candles_closed += 1;
        if provenance == Provenance::Backfilled {
            self.counters.candles_backfilled += 1;
        }
        let bar_result = self.broker.on_candle(candle, &mut self.scratch);
        self.flush_events(sink, None);
        bar_result?;
        self.breaker.observe_time(now, self.broker.equity());

        self.bars_seen += 1;
        let context = self.strategy_context();
        let mut decision = Decision::blocked(Gate::Warmup, Indicators::default());
        self.strategy.decide_into(candle, &context, &mut decision);
        let (order, mut outcome) = self.gate(&decision, candle, decided_at);
        let order_id = order.as_ref().map(|o| o.client_order_id().clone());
        if let Some(order) = order {
            let id = order.client_order_id();
            if outcome == Outcome::Submitted && self.broker.is_known_order(id) {
                // Only an id the broker already processed is a duplicate (a first attempt is
                // never refused): ids are derived from the candle, so after a restart that
                // lost the session state the same candle yields the same id.
                tracing::warn!(symbol = %self.config.symbol, client_order_id = %id, "duplicate client order id; not submitted");
                outcome = Outcome::Duplicate;
            } else if outcome != Outcome::Submitted {
                // Dry run: recorded, never queued.
            } else if self.queue.len() >= self.config.order_queue_capacity {
                self.counters.orders_dropped += 1;
                outcome = Outcome::QueueFull;
                tracing::warn!(symbol = %self.config.symbol, client_order_id = %order.client_order_id(), "order queue full; order dropped");
            } else {
                self.queue.push_back(order);
            }
        }
        let mut execution = Ok(());
        if outcome == Outcome::Submitted {
            execution = self.execute_queue(now, sink);
        }
        let record = DecisionRecord {
            candle,
            provenance,
            bar_index: self.bars_seen,
            decision: &decision,
            client_order_id: order_id.as_ref(),
            outcome,
            equity: self.broker.equity(),
            catch_up: self.catching_up,
        };
        sink.decision(&record);
        execution
    }

    /// A candle older than the last processed one — typically a REST backfill that
    /// arrived after the live candle that revealed the gap. Trading on it now would act on
    /// a stale price, and the strategy's indicators cannot be rewound, so neither the
    /// strategy nor the broker sees it; it is recorded (decision outcome `out_of_order`,
    /// blocked by `stale_candle`) and logged, so a candle is never lost silently.
    fn record_late_candle(
        &mut self,
        candle: &Candle,
        provenance: Provenance,
        last: TimestampMs,
        sink: &mut dyn EngineSink,
    ) {
        tracing::warn!(
            symbol = %self.config.symbol,
            open_time = candle.open_time().as_ms(),
            last_processed = last.as_ms(),
            provenance = provenance.as_str(),
            "candle arrived after a later one was processed; recorded, not traded on"
        );
        let decision = Decision::blocked(Gate::StaleCandle, Indicators::default());
        sink.decision(&DecisionRecord {
            candle,
            provenance,
            bar_index: self.bars_seen,
            decision: &decision,
            client_order_id: None,
            outcome: Outcome::OutOfOrder,
            equity: self.broker.equity(),
            catch_up: self.catching_up,
        });
    }

    /// A closed candle with a price outside the plausibility band: neither the broker (no
    /// bar exit at its extremes) nor the strategy (no decision or size from it) sees it; it
    /// is recorded with outcome `implausible_price`, so it is never lost silently.
    fn record_implausible_candle(
        &mut self,
        candle: &Candle,
        provenance: Provenance,
        sink: &mut dyn EngineSink,
    ) {
        let decision = Decision::blocked(Gate::ImplausiblePrice, Indicators::default());
        sink.decision(&DecisionRecord {
            candle,
            provenance,
            bar_index: self.bars_seen,
            decision: &decision,
            client_order_id: None,
            outcome: Outcome::ImplausiblePrice,
            equity: self.broker.equity(),
            catch_up: self.catching_up,
        });
    }

    fn strategy_context(&self) -> StrategyContext {
        StrategyContext {
            equity: self.broker.equity(),
            position_open: self.broker.position().is_some(),
            funding_rate: self.funding_rate,
            spec: self.sizing,
        }
    }

    /// Feeds a historical candle (warm-up seeding) to the strategy: indicators update and
    /// the warm-up gate counts it, but it never trades and the broker does not see it. It
    /// passes the plausibility guard like any candle (which also anchors the guard on the
    /// exchange's recent bars before live prices arrive). After a restart the strategy
    /// starts cold, so history up to the last candle decided before the restart is welcome;
    /// it only has to be newer than what the strategy saw.
    pub fn on_history_candle(
        &mut self,
        candle: &Candle,
        provenance: Provenance,
        sink: &mut dyn EngineSink,
    ) {
        let open_time = candle.open_time();
        if self
            .strategy_last_open
            .is_some_and(|last| open_time <= last)
        {
            self.counters.candles_out_of_order += 1;
            return;
        }
        self.strategy_last_open = Some(open_time);
        self.last_candle_open = Some(
            self.last_candle_open
                .map_or(open_time, |l| l.max(open_time)),
        );
        let verdict = self.guard.check_candle(candle);
        if !self.admit(verdict, PrintKind::Candle, candle.close_time()) {
            self.record_implausible_candle(candle, provenance, sink);
            return;
        }
        self.last_price = Some(candle.close());
        self.bars_seen += 1;
        let context = self.strategy_context();
        let decision = self.strategy.on_candle(candle, &context);
        let record = DecisionRecord {
            candle,
            provenance,
            bar_index: self.bars_seen,
            decision: &decision,
            client_order_id: None,
            outcome: Outcome::History,
            equity: self.broker.equity(),
            catch_up: false,
        };
        sink.decision(&record);
    }

    /// Applies the catch-up and stale-candle gates, the warm-up gate, the breaker and
    /// dry-run; builds the order.
    fn gate(
        &self,
        decision: &Decision,
        candle: &Candle,
        decided_at: TimestampMs,
    ) -> (Option<OrderIntent>, Outcome) {
        let Some(plan) = decision.order() else {
            return (None, Outcome::NoOrder);
        };
        if self.catching_up {
            return (None, Outcome::CatchUp);
        }
        if decided_at.ms_since(candle.close_time()) > candle.interval().as_ms() {
            tracing::warn!(
                symbol = %self.config.symbol,
                open_time = candle.open_time().as_ms(),
                decided_at = decided_at.as_ms(),
                "candle older than one interval when decided; no entry from it"
            );
            return (None, Outcome::Stale);
        }
        if self.bars_seen < self.config.warmup_bars as u64 {
            return (None, Outcome::Warmup);
        }
        if self.breaker.tripped().is_some() {
            return (None, Outcome::CircuitBreaker);
        }
        let id_text = format!(
            "{}-{}-{}",
            self.strategy.name(),
            candle.open_time().as_ms(),
            plan.side.as_str()
        );
        let built = ClientOrderId::new(&id_text).and_then(|id| plan.to_intent(id));
        match built {
            Ok(order) if self.config.dry_run => {
                tracing::info!(symbol = %self.config.symbol, client_order_id = %order.client_order_id(), side = %order.side(), qty = %order.qty(), "dry run: would submit order");
                (Some(order), Outcome::DryRun)
            }
            Ok(order) => (Some(order), Outcome::Submitted),
            Err(err) => {
                tracing::error!(symbol = %self.config.symbol, error = %err, "strategy produced an invalid order");
                (None, Outcome::InvalidOrder)
            }
        }
    }

    /// Executes queued orders, refusing any id the broker has already processed.
    fn execute_queue(
        &mut self,
        now: TimestampMs,
        sink: &mut dyn EngineSink,
    ) -> Result<(), BrokerError> {
        while let Some(order) = self.queue.pop_front() {
            if self.broker.is_known_order(order.client_order_id()) {
                tracing::warn!(symbol = %self.config.symbol, client_order_id = %order.client_order_id(), "duplicate client order id; not submitted");
                continue;
            }
            self.counters.orders_submitted += 1;
            let result = self.broker.submit(order, now, &mut self.scratch);
            self.flush_events(sink, None);
            result?;
        }
        Ok(())
    }

    /// Cancels queued (not yet submitted) orders and resting broker orders; used at shutdown.
    pub fn cancel_pending(&mut self, now: TimestampMs, sink: &mut dyn EngineSink) -> usize {
        let cancelled = self.queue.len();
        for order in self.queue.drain(..) {
            tracing::info!(symbol = %self.config.symbol, client_order_id = %order.client_order_id(), "queued order cancelled at shutdown");
        }
        self.broker.cancel_all(now, &mut self.scratch);
        self.flush_events(sink, None);
        cancelled
    }

    /// Settles funding at `funding_time` with `rate`, taken from `source`.
    /// A mark price outside the plausibility band is replaced by the last accepted price
    /// (counted as `implausible_price`, logged).
    ///
    /// # Errors
    /// A broker invariant breach.
    pub fn settle_funding(
        &mut self,
        funding_time: TimestampMs,
        rate: Decimal,
        mark_price: Price,
        source: FundingRateSource,
        sink: &mut dyn EngineSink,
    ) -> Result<(), BrokerError> {
        self.note_time(funding_time);
        let mark_price = match self.last_price {
            Some(accepted) if !self.guard.is_plausible(mark_price, funding_time) => {
                self.counters.implausible_price += 1;
                tracing::warn!(symbol = %self.config.symbol, mark_price = %mark_price, used = %accepted, "implausible funding mark price; settling at the last accepted price");
                accepted
            }
            _ => mark_price,
        };
        let result = self
            .broker
            .apply_funding(funding_time, rate, mark_price, &mut self.scratch);
        self.flush_events(sink, Some(source));
        result
    }

    /// Closes any open position at `price` (shutdown force-close, end of backtest data).
    ///
    /// # Errors
    /// A broker invariant breach.
    pub fn close_position(
        &mut self,
        price: Price,
        now: TimestampMs,
        reason: ExitReason,
        sink: &mut dyn EngineSink,
    ) -> Result<(), BrokerError> {
        let result = self
            .broker
            .close_position(price, now, reason, &mut self.scratch);
        self.flush_events(sink, None);
        result
    }

    /// Halts new entries (invariant breach, circuit breaker); exits keep working.
    pub fn halt(&mut self, reason: &str) {
        self.broker.halt(reason);
    }

    /// Hands the broker's new events to the sink. Inlined for the common case of none (the
    /// broker produced nothing on most ticks and candles): no call at all.
    #[inline]
    fn flush_events(
        &mut self,
        sink: &mut dyn EngineSink,
        funding_source: Option<FundingRateSource>,
    ) {
        if !self.scratch.is_empty() {
            self.flush_pending_events(sink, funding_source);
        }
    }

    fn flush_pending_events(
        &mut self,
        sink: &mut dyn EngineSink,
        funding_source: Option<FundingRateSource>,
    ) {
        let context = EventContext {
            catch_up: self.catching_up,
            funding_source,
        };
        let mut events = std::mem::take(&mut self.scratch);
        for event in &events {
            match event {
                BrokerEvent::Filled(_) => {
                    self.counters.fills += 1;
                    self.strategy.notify_trade_opened();
                }
                BrokerEvent::Exited(exit) => {
                    self.counters.exits += 1;
                    let equity = self.broker.equity();
                    if let Some(reason) = self.breaker.record_exit(exit.ts, exit.pnl_net, equity) {
                        let reason = reason.to_owned();
                        tracing::warn!(symbol = %self.config.symbol, reason = %reason, "circuit breaker tripped; new entries blocked");
                        sink.breaker_tripped(&reason, exit.ts);
                    }
                }
                BrokerEvent::OrderRejected { .. } => self.counters.orders_rejected += 1,
                BrokerEvent::FundingApplied { .. } => self.counters.funding_events += 1,
                _ => {}
            }
            sink.broker_event(event, context);
        }
        events.clear();
        self.scratch = events;
    }
}
