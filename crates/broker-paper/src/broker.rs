//! [`PaperBroker`]: construction, restore, snapshots, invariants and the [`Broker`] trait.
//!
//! The order pipeline lives in `orders.rs`, exits in `exits.rs`, funding in `funding.rs`;
//! this file owns the state and the rule that every mutating call ends with an invariant
//! check whose breach halts the broker and is returned as [`BrokerError::InvariantBreach`].
//! (`on_tick` runs the check whenever the tick changed the account, the position's stop or
//! the working order; a quiet tick only records the quote and the best price, which no
//! invariant covers, so the hot path stays check-free.)

use std::{cell::Cell, collections::VecDeque};

use la_core::{
    Broker, BrokerEvent, Candle, ClientOrderId, Exit, ExitReason, OrderIntent, Position, Price,
    PriceGuard, Tick, TimestampMs, Volume,
};
use rust_decimal::Decimal;

use crate::{
    accounting::{OpenPosition, check_position},
    config::BrokerConfig,
    error::BrokerError,
    exits::ExitKind,
    funding::FundingLedger,
    ids::ProcessedIds,
    margin::{MarginCheckInputs, check_isolated},
    restore,
    spec::Grid,
    state::{BrokerState, Counters, DayState, SCHEMA_VERSION, WorkingOrderState},
    stats::BrokerStats,
};

/// What the broker keeps of the latest closed candle: the market price it last showed and
/// the volume a market fill between candles is capped by. (Not the whole candle: it is
/// stored once per candle of every set of a sweep.)
#[derive(Clone, Copy, Debug)]
pub(crate) struct LastCandle {
    pub(crate) close_time: TimestampMs,
    pub(crate) close: Price,
    pub(crate) volume: Volume,
}

/// The paper broker: a deterministic state machine driven by submits, ticks, candles and
/// funding calls, each carrying its event time. See the crate docs for the rules.
#[derive(Debug)]
pub struct PaperBroker {
    pub(crate) config: BrokerConfig,
    pub(crate) price_grid: Grid,
    pub(crate) starting_balance: Decimal,
    pub(crate) balance: Decimal,
    pub(crate) realized_net_total: Decimal,
    pub(crate) funding_total: Decimal,
    pub(crate) fees_paid: Decimal,
    pub(crate) position: Option<OpenPosition>,
    pub(crate) working: Option<WorkingOrderState>,
    pub(crate) processed: ProcessedIds,
    pub(crate) order_times: VecDeque<TimestampMs>,
    pub(crate) day: Option<DayState>,
    pub(crate) funding: FundingLedger,
    pub(crate) jitter_draws: u64,
    pub(crate) counters: Counters,
    pub(crate) closed_trades: Vec<Exit>,
    pub(crate) latest_tick: Option<Tick>,
    pub(crate) last_candle: Option<LastCandle>,
    pub(crate) halted: Option<String>,
    /// The coarse plausibility band around the last accepted tick or candle
    /// ([`BrokerConfig::price_band`]); not persisted: after a restart the first price
    /// anchors it.
    pub(crate) price_guard: PriceGuard,
    /// The inputs of the last isolated-margin check that passed (not persisted).
    pub(crate) margin_check_passed: Cell<Option<MarginCheckInputs>>,
}

impl PaperBroker {
    /// A fresh account with `config.starting_balance`.
    ///
    /// # Errors
    /// [`BrokerError::InvalidConfig`] if the configuration does not validate.
    pub fn new(config: BrokerConfig) -> Result<Self, BrokerError> {
        config.validate()?;
        let balance = config.starting_balance;
        Ok(Self {
            price_grid: Grid::new(config.spec.tick_size),
            starting_balance: balance,
            balance,
            realized_net_total: Decimal::ZERO,
            funding_total: Decimal::ZERO,
            fees_paid: Decimal::ZERO,
            position: None,
            working: None,
            processed: ProcessedIds::from_ids(Vec::new(), config.processed_id_retention),
            order_times: VecDeque::with_capacity(config.max_orders_per_minute as usize),
            day: None,
            funding: FundingLedger::default(),
            jitter_draws: 0,
            counters: Counters {
                peak_equity: balance,
                ..Counters::default()
            },
            closed_trades: Vec::new(),
            latest_tick: None,
            last_candle: None,
            halted: None,
            price_guard: config.price_guard(),
            margin_check_passed: Cell::new(None),
            config,
        })
    }

    /// Restores a broker from a snapshot: schema 2 as is, schema 1 migrated (see
    /// `restore.rs`: an open position gets leverage 1), any other version refused.
    ///
    /// The snapshot's balance and starting balance win over `config.starting_balance` (they are
    /// the account). Processed ids beyond the configured retention are trimmed, oldest first.
    /// `closed_trades()` starts empty: trades of earlier runs are in the session's journal.
    ///
    /// # Errors
    /// [`BrokerError::InvalidConfig`], [`BrokerError::UnsupportedSchema`],
    /// [`BrokerError::InvalidState`] (a field that cannot be right, named),
    /// [`BrokerError::SymbolMismatch`], or [`BrokerError::InvariantBreach`] when the snapshot
    /// is inconsistent (e.g. equity ≠ starting + realized + funding, lots ≠ quantity).
    pub fn from_state(config: BrokerConfig, state: BrokerState) -> Result<Self, BrokerError> {
        config.validate()?;
        let state = restore::restore(&config, state)?;
        if state.symbol != config.spec.symbol {
            return Err(BrokerError::SymbolMismatch {
                expected: config.spec.symbol,
                found: state.symbol,
            });
        }
        if state.starting_balance != config.starting_balance {
            tracing::warn!(
                symbol = %config.spec.symbol,
                state = %state.starting_balance,
                config = %config.starting_balance,
                "restored starting balance differs from the configuration; the state wins"
            );
        }
        let position = match state.position {
            Some(p) => Some(OpenPosition::from_state(p, config.trailing)?),
            None => None,
        };
        let broker = Self {
            price_grid: Grid::new(config.spec.tick_size),
            starting_balance: state.starting_balance,
            balance: state.balance,
            realized_net_total: state.realized_net_total,
            funding_total: state.funding_total,
            fees_paid: state.fees_paid,
            position,
            working: state.working_order,
            processed: ProcessedIds::from_ids(state.processed_ids, config.processed_id_retention),
            order_times: newest(
                state.recent_order_times,
                config.max_orders_per_minute as usize,
            ),
            day: state.day,
            funding: FundingLedger::restore(state.funding_settled, state.funding_pruned_through),
            jitter_draws: state.jitter_draws,
            counters: state.counters,
            closed_trades: Vec::new(),
            latest_tick: None,
            last_candle: None,
            halted: None,
            price_guard: config.price_guard(),
            margin_check_passed: Cell::new(None),
            config,
        };
        broker.check_invariants()?;
        Ok(broker)
    }

    /// A snapshot for persistence (see [`crate::persist::save_json_atomic`]).
    pub fn state(&self) -> BrokerState {
        BrokerState {
            schema_version: SCHEMA_VERSION,
            symbol: self.config.spec.symbol,
            starting_balance: self.starting_balance,
            balance: self.balance,
            realized_net_total: self.realized_net_total,
            funding_total: self.funding_total,
            fees_paid: self.fees_paid,
            position: self.position.as_ref().map(|p| p.state.clone()),
            working_order: self.working.clone(),
            processed_ids: self.processed.to_vec(),
            recent_order_times: self.order_times.iter().copied().collect(),
            day: self.day,
            funding_settled: self.funding.settled_vec(),
            funding_pruned_through: self.funding.pruned_through(),
            jitter_draws: self.jitter_draws,
            counters: self.counters.clone(),
            outbox: Vec::new(),
        }
    }

    /// The run's statistics.
    pub fn stats(&self) -> BrokerStats {
        let c = &self.counters;
        BrokerStats {
            trades: c.trades,
            wins: c.wins,
            losses: c.losses,
            breakeven: c.breakeven,
            realized_pnl: self.realized_net_total,
            fees_paid: self.fees_paid,
            funding_total: self.funding_total,
            equity: self.balance,
            peak_equity: c.peak_equity,
            max_drawdown: c.max_drawdown,
            max_drawdown_frac: c.max_drawdown_frac,
            ambiguous_bars: c.ambiguous_bars,
            rejected_orders: c.rejected_orders.clone(),
            ignored_ticks: c.ignored_ticks,
            funding_skipped: c.funding_skipped,
            liquidations: c.liquidations,
            implausible_refused: c.implausible_refused,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// Checks the accounting and position invariants:
    /// `equity == starting + Σ realized net + Σ funding`; position quantity == Σ lots, lots
    /// non-empty, initial stop on the loss side of every lot, stop never moved against the
    /// trader (a position cannot exist without a stop: the type has no "no stop" state);
    /// the isolated margin exactly what the lots, leverage and entry-time rates give (margin =
    /// entry notional / leverage, the liquidation price on the tick grid and on the loss side
    /// of the entry), and a close there (with the liquidation fee) losing no more than the
    /// margin; every working order carries a leverage; the latest exit is not dated before
    /// its entry;
    /// a working order next to a position is that position's remainder; processed ids are
    /// bounded and do not include the working order; trade counters add up. Decimal values
    /// are always finite, so "balance finite" holds by construction.
    ///
    /// # Errors
    /// [`BrokerError::InvariantBreach`] describing the first violation.
    pub fn check_invariants(&self) -> Result<(), BrokerError> {
        let breach = |msg: String| Err(BrokerError::InvariantBreach(msg));
        let expected = self
            .starting_balance
            .checked_add(self.realized_net_total)
            .and_then(|v| v.checked_add(self.funding_total));
        if expected != Some(self.balance) {
            return breach(format!(
                "equity {} != starting {} + realized {} + funding {}",
                self.balance, self.starting_balance, self.realized_net_total, self.funding_total
            ));
        }
        if let Some(position) = &self.position {
            check_position(position)?;
            check_isolated(
                position,
                self.config.spec.tick_size,
                &self.margin_check_passed,
            )?;
        }
        if let Some(working) = &self.working {
            if working.leverage.is_none() {
                return breach(format!(
                    "working order {} has no leverage",
                    working.client_order_id
                ));
            }
            if self.processed.contains(&working.client_order_id) {
                return breach(format!(
                    "working order {} is also marked processed",
                    working.client_order_id
                ));
            }
            if let Some(position) = &self.position
                && (position.state.client_order_id != working.client_order_id
                    || position.state.side != working.side)
            {
                return breach(format!(
                    "working order {} next to the position of {}",
                    working.client_order_id, position.state.client_order_id
                ));
            }
        }
        if !self.processed.is_consistent() {
            return breach("processed id list and set disagree or exceed retention".to_owned());
        }
        let c = &self.counters;
        if c.trades != c.wins + c.losses + c.breakeven {
            return breach(format!(
                "trades {} != wins {} + losses {} + breakeven {}",
                c.trades, c.wins, c.losses, c.breakeven
            ));
        }
        if let Some(exit) = self.closed_trades.last()
            && exit.ts < exit.opened_at
        {
            return breach(format!(
                "exit of {} at {} before its entry at {}",
                exit.client_order_id, exit.ts, exit.opened_at
            ));
        }
        if c.liquidations > c.trades {
            return breach(format!(
                "liquidations {} > trades {}",
                c.liquidations, c.trades
            ));
        }
        if self.order_times.len() > self.config.max_orders_per_minute as usize {
            return breach("orders-per-minute window holds more than the limit".to_owned());
        }
        Ok(())
    }

    /// Runs the invariant check after a mutation; a breach halts the broker.
    pub(crate) fn after_mutation(&mut self) -> Result<(), BrokerError> {
        self.check_invariants().map_err(|err| self.halt_on(err))
    }

    /// Logs an invariant breach, halts the broker, and hands the error back.
    pub(crate) fn halt_on(&mut self, err: BrokerError) -> BrokerError {
        tracing::error!(symbol = %self.config.spec.symbol, error = %err, "halting: invariant breach");
        self.halted = Some(err.to_string());
        err
    }

    /// Whether `id` is processed or is the working order (in flight or resting).
    pub fn is_known_order(&self, id: &ClientOrderId) -> bool {
        self.processed.contains(id)
            || self
                .working
                .as_ref()
                .is_some_and(|w| &w.client_order_id == id)
    }

    /// Halts trading: every later submit is rejected with `TradingHalted`; working orders stop
    /// filling (cancel them with `cancel_all`), exits, funding and `close_position` still work.
    /// Not persisted: the session re-applies a halt after a restart.
    pub fn halt(&mut self, reason: &str) {
        tracing::warn!(symbol = %self.config.spec.symbol, reason, "broker halted");
        self.halted = Some(reason.to_owned());
    }

    /// Whether trading is halted.
    pub fn is_halted(&self) -> bool {
        self.halted.is_some()
    }

    /// Why trading is halted, if it is.
    pub fn halt_reason(&self) -> Option<&str> {
        self.halted.as_deref()
    }

    /// The most recent market price: the latest tick's last price or the last closed candle's
    /// close, whichever has the later event time.
    pub fn last_price(&self) -> Option<Price> {
        match (&self.latest_tick, &self.last_candle) {
            (Some(t), Some(c)) if c.close_time > t.ts() => Some(c.close),
            (Some(t), _) => Some(t.last()),
            (None, Some(c)) => Some(c.close),
            (None, None) => None,
        }
    }

    /// Realized equity plus the open position's PnL at `price`, net of the entry fees already
    /// paid (the exit fee is not anticipated).
    pub fn mark_to_market(&self, price: Price) -> Decimal {
        match &self.position {
            Some(p) => {
                // sign × (price × qty − Σ lot cost): exact, no average involved. Overflow is
                // impossible for validated prices and quantities (< 10^12 each); the fallback
                // only keeps this panic-free.
                price
                    .get()
                    .checked_mul(p.cache.qty)
                    .and_then(|value| value.checked_sub(p.cache.cost))
                    .map(|diff| p.state.side.sign() * diff)
                    .and_then(|unrealized| self.balance.checked_add(unrealized))
                    .and_then(|total| total.checked_sub(p.cache.entry_fees))
                    .unwrap_or(self.balance)
            }
            None => self.balance,
        }
    }

    /// Every exit of this run, oldest first (not persisted; see [`Self::from_state`]).
    pub fn closed_trades(&self) -> &[Exit] {
        &self.closed_trades
    }

    /// The working (in-flight or resting) entry order's id, if any.
    pub fn working_order_id(&self) -> Option<&ClientOrderId> {
        self.working.as_ref().map(|w| &w.client_order_id)
    }
}

/// The newest `keep` entries of an oldest-first list (a smaller limit after a config change
/// must not turn a valid snapshot into an invariant breach).
fn newest(mut times: Vec<TimestampMs>, keep: usize) -> VecDeque<TimestampMs> {
    let drop = times.len().saturating_sub(keep);
    times.drain(..drop);
    times.into_iter().collect()
}

impl Broker for PaperBroker {
    type Error = BrokerError;

    fn submit(
        &mut self,
        order: OrderIntent,
        now: TimestampMs,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), BrokerError> {
        self.submit_order(order, now, events)?;
        self.after_mutation()
    }

    fn on_tick(&mut self, tick: &Tick, events: &mut Vec<BrokerEvent>) -> Result<(), BrokerError> {
        if self.process_tick(tick, events)? {
            self.after_mutation()?;
        }
        Ok(())
    }

    fn on_candle(
        &mut self,
        candle: &Candle,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), BrokerError> {
        // Flat with no working order, a bar changes nothing the invariants cover (it only
        // becomes the last seen bar), so the check is skipped: most bars of a backtest.
        let idle = self.position.is_none() && self.working.is_none();
        self.process_candle(candle, events)?;
        if idle && events.is_empty() {
            return Ok(());
        }
        self.after_mutation()
    }

    fn apply_funding(
        &mut self,
        funding_time: TimestampMs,
        rate: Decimal,
        mark_price: Price,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), BrokerError> {
        self.settle_funding(funding_time, rate, mark_price, events)?;
        self.after_mutation()
    }

    fn cancel_all(&mut self, now: TimestampMs, events: &mut Vec<BrokerEvent>) {
        self.cancel_working(now, events);
        // The trait gives no error channel here; a breach still halts the broker and is
        // returned by the next mutating call's own check.
        let _ = self.after_mutation();
    }

    fn close_position(
        &mut self,
        price: Price,
        now: TimestampMs,
        reason: ExitReason,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), BrokerError> {
        if self.position.is_some() && !self.price_guard.is_plausible(price, now) {
            self.refuse_implausible("forced close", price, now);
            return Ok(());
        }
        if let Some(position) = &self.position {
            // A forced close is never dated before the entry (an event clock behind the
            // account, e.g. old data replayed onto a newer account): it is booked at the
            // position's opening time instead.
            let opened_at = position.state.opened_at;
            let at = if now < opened_at {
                tracing::warn!(
                    symbol = %self.config.spec.symbol,
                    client_order_id = %position.state.client_order_id,
                    %now,
                    %opened_at,
                    "forced close dated before the entry; booked at the entry time"
                );
                opened_at
            } else {
                now
            };
            self.exit_position(price, reason, ExitKind::Market, at, events)?;
        }
        self.after_mutation()
    }

    fn position(&self) -> Option<Position> {
        self.position.as_ref().and_then(OpenPosition::view)
    }

    fn equity(&self) -> Decimal {
        self.balance
    }
}
