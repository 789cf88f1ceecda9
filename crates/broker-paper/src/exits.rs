//! Exits: stop, target and trailing stop on every tick; conservative intrabar rules on closed
//! candles; the max-bars exit; and the one place a position is closed and booked.
//!
//! **Ticks** (the hot path, called straight from the session's tick handler): a long checks
//! the tick's `sell_price()` (bid, else last), a short its `buy_price()` (ask, else last), in
//! the order stop → target → trailing update. A tick exit fills at the stop or target
//! **level itself**: we assume a continuous path through the level, which keeps a tick-driven
//! live run and a candle-driven backtest on the same prices. Stop and trailing exits then get
//! the adverse slippage (and taker fee); target exits get none (they behave like a resting
//! limit: maker fee, no slippage).
//!
//! **Candles** (closed): `bars_open` counts every closed candle that overlaps the position.
//! On a full bar (position open at the bar's start): the open gapping through the stop exits
//! at the open; gapping through the target exits at the open (limit-like price improvement);
//! stop and target both inside `[low, high]` → the stop is assumed first
//! (`CandleAmbiguousStop`, counted in `ambiguous_bars`); otherwise the level touched. On the
//! bar in which the position opened only the stop is checked (the target touch may have
//! preceded the entry; the stop is assumed to follow it — both conservative). After the
//! checks the trailing stop is ratcheted from the **close** (the one price known to come last),
//! then a position open for `max_bars_open` bars exits at the close (`MaxBarsOpen`).
//!
//! **Liquidation** (isolated margin, formula in `la_core::margin`): checked with the stop, on
//! the same price — a long on the tick's `sell_price()` (bid, else last), a short on its
//! `buy_price()` (ask, else last). On the continuous path the nearer level is crossed first:
//! a position whose stop is nearer than its liquidation price exits at the stop, one whose
//! liquidation price is at least as near is liquidated. On a candle the protective level is
//! the nearer of the two, with the stop's rules (stop and target in one bar → the protective
//! level first, counted as ambiguous); and an open **at or through the liquidation price**
//! (a gap) liquidates even when the stop was nearer — the price was never between them, and
//! the liquidation engine takes over before a stop can fill. A liquidation fills at the
//! liquidation price itself, without slippage, and pays the liquidation fee; the exchange's
//! insurance fund absorbs a gap beyond it, so the position never loses more than its margin
//! (`M − MM`, checked as an invariant). Any other exit whose fill (after slippage) would lie at
//! or beyond the liquidation price is a liquidation instead, at that price: a forced close or
//! a slipped stop cannot lose more than the margin either.
//!
//! **Trailing**: R = |average entry − initial stop|. Once the best price reaches
//! `activation_r × R` in the trader's favour the trail activates (one `TrailingActivated`
//! event) and the stop becomes `best ∓ distance_r × R`, rounded to the tick against the trader
//! (long down, short up), and only ever moves in the trader's favour.

use la_core::{BrokerEvent, Candle, Exit, ExitReason, Price, Qty, Side, Tick, TimestampMs};
use rust_decimal::Decimal;

use crate::{
    PaperBroker,
    accounting::{checked, fee_of, realize_fifo, record_equity, record_trade},
    broker::LastCandle,
    error::BrokerError,
    margin::loss_at,
    orders::MarketContext,
    risk::roll_day,
    state::WorkingKind,
};

/// How an exit fills and what it pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExitKind {
    /// Stop-like: adverse slippage and the taker fee.
    Market,
    /// Target-like: at the level, maker fee.
    Limit,
    /// At the liquidation price, no slippage, the liquidation fee.
    Liquidation,
}

/// How a decided exit is executed.
#[derive(Clone, Copy, Debug)]
struct ExitOrder {
    level: Price,
    reason: ExitReason,
    kind: ExitKind,
}

impl ExitOrder {
    fn market(level: Price, reason: ExitReason) -> Self {
        Self {
            level,
            reason,
            kind: ExitKind::Market,
        }
    }

    fn limit(level: Price, reason: ExitReason) -> Self {
        Self {
            level,
            reason,
            kind: ExitKind::Limit,
        }
    }

    fn liquidation(level: Price) -> Self {
        Self {
            level,
            reason: ExitReason::Liquidation,
            kind: ExitKind::Liquidation,
        }
    }
}

/// Whether `price` is at or beyond the liquidation price `liquidation` for `side`.
fn reaches(side: Side, price: Price, liquidation: Price) -> bool {
    match side {
        Side::Long => price <= liquidation,
        Side::Short => price >= liquidation,
    }
}

impl PaperBroker {
    /// The tick path. Returns whether anything changed that the invariants cover.
    pub(crate) fn process_tick(
        &mut self,
        tick: &Tick,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<bool, BrokerError> {
        if tick.symbol() != self.config.spec.symbol {
            self.counters.ignored_ticks += 1;
            if self.counters.ignored_ticks.is_power_of_two() {
                tracing::warn!(
                    symbol = %self.config.spec.symbol,
                    tick_symbol = %tick.symbol(),
                    ignored = self.counters.ignored_ticks,
                    "ignoring ticks for another symbol"
                );
            }
            return Ok(false);
        }
        if !self.price_guard.check_tick(tick).is_usable() {
            self.refuse_implausible("tick", tick.last(), tick.ts());
            return Ok(false);
        }
        if self.latest_tick.is_none_or(|t| tick.ts() >= t.ts()) {
            self.latest_tick = Some(*tick);
        }
        let mut changed = false;
        if self.position.is_some() {
            changed |= self.tick_exits(tick, events)?;
        }
        if self.working.is_some() && self.halted.is_none() && self.tick_working(tick, events)? {
            changed = true;
            if self.position.is_some() {
                self.tick_exits(tick, events)?;
            }
        }
        Ok(changed)
    }

    /// Counts and logs a price refused by the coarse band (the first, then every power of
    /// two): it triggers no exit, no fill and no forced close.
    pub(crate) fn refuse_implausible(&mut self, what: &'static str, price: Price, ts: TimestampMs) {
        self.counters.implausible_refused += 1;
        if self.counters.implausible_refused.is_power_of_two() {
            tracing::warn!(
                symbol = %self.config.spec.symbol,
                what,
                %price,
                reference = ?self.price_guard.reference().map(|(p, _)| p),
                ts = ts.as_ms(),
                refused = self.counters.implausible_refused,
                "price outside the broker's plausibility band refused: no exit, fill or close at it"
            );
        }
    }

    /// Stop, target, trailing on one tick.
    fn tick_exits(
        &mut self,
        tick: &Tick,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<bool, BrokerError> {
        let Some(position) = &self.position else {
            return Ok(false);
        };
        let state = &position.state;
        if tick.ts() < state.opened_at {
            // A quote from before the position existed (a late or replayed tick) says nothing
            // about it: an exit is never dated before its entry.
            return Ok(false);
        }
        let liquidation = position.isolated.liquidation_price;
        let price = match state.side {
            Side::Long => tick.sell_price(),
            Side::Short => tick.buy_price(),
        };
        let stop_hit = reaches(state.side, price, state.stop);
        let target_hit = state.take_profit.is_some_and(|t| match state.side {
            Side::Long => price >= t,
            Side::Short => price <= t,
        });
        // The liquidation price is nearer than (or as near as) the stop: the path reaches it
        // first. Otherwise a tick through both crossed the stop first.
        let liquidation_first = reaches(state.side, state.stop, liquidation);
        let order = if liquidation_first && reaches(state.side, price, liquidation) {
            Some(ExitOrder::liquidation(liquidation))
        } else if stop_hit {
            let reason = if state.trailing_active {
                ExitReason::TrailingStop
            } else {
                ExitReason::StopLoss
            };
            Some(ExitOrder::market(state.stop, reason))
        } else if target_hit {
            state
                .take_profit
                .map(|level| ExitOrder::limit(level, ExitReason::TakeProfit))
        } else {
            None
        };
        if let Some(order) = order {
            self.execute_exit(order, tick.ts(), events)?;
            return Ok(true);
        }
        Ok(self.update_trailing(price.get(), tick.ts(), events))
    }

    /// Ratchets the trailing stop from a new best price. Returns whether the stop or the
    /// activation changed.
    fn update_trailing(
        &mut self,
        price: Decimal,
        ts: TimestampMs,
        events: &mut Vec<BrokerEvent>,
    ) -> bool {
        let grid = self.price_grid;
        let Some(position) = &mut self.position else {
            return false;
        };
        let Some(activation) = position.cache.activation_price else {
            return false;
        };
        let state = &mut position.state;
        let improved = match state.side {
            Side::Long => price > state.best_price,
            Side::Short => price < state.best_price,
        };
        if !improved {
            return false;
        }
        state.best_price = price;
        let mut activated = false;
        if !state.trailing_active {
            let reached = match state.side {
                Side::Long => price >= activation,
                Side::Short => price <= activation,
            };
            if !reached {
                return false;
            }
            state.trailing_active = true;
            activated = true;
        }
        let distance = position.cache.trail_distance;
        let candidate = match state.side {
            Side::Long => grid.floor(price - distance),
            Side::Short => grid.ceil(price + distance),
        }
        .and_then(|p| Price::new(p).ok());
        let mut moved = false;
        if let Some(candidate) = candidate {
            let better = match state.side {
                Side::Long => candidate > state.stop,
                Side::Short => candidate < state.stop,
            };
            if better {
                state.stop = candidate;
                moved = true;
            }
        }
        if activated {
            tracing::info!(
                symbol = %self.config.spec.symbol,
                client_order_id = %state.client_order_id,
                stop = %state.stop,
                "trailing stop activated"
            );
            events.push(BrokerEvent::TrailingActivated {
                client_order_id: state.client_order_id.clone(),
                stop: state.stop,
                ts,
            });
        }
        moved || activated
    }

    /// Releases or fills the working order on a tick. Returns whether anything filled.
    fn tick_working(
        &mut self,
        tick: &Tick,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<bool, BrokerError> {
        let Some(working) = &self.working else {
            return Ok(false);
        };
        if tick.ts() < working.submitted_at {
            return Ok(false);
        }
        match working.kind {
            WorkingKind::InFlightMarket { due, .. } => {
                if tick.ts() < due {
                    return Ok(false);
                }
                self.execute_market(MarketContext::Tick(tick), tick.ts(), events)?;
                Ok(true)
            }
            WorkingKind::RestingLimit { price, .. } => {
                // With a liquidity cap, resting orders fill on candles only: a tick has no
                // volume, and re-using one candle's volume on every tick would overstate it.
                if self.config.liquidity_cap_frac.is_some() {
                    return Ok(false);
                }
                let touched = match working.side {
                    Side::Long => tick.buy_price() <= price,
                    Side::Short => tick.sell_price() >= price,
                };
                if !touched {
                    return Ok(false);
                }
                self.fill_limit(None, tick.ts(), events)
            }
        }
    }

    /// The closed-candle path.
    pub(crate) fn process_candle(
        &mut self,
        candle: &Candle,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), BrokerError> {
        if !self.price_guard.check_candle(candle).is_usable() {
            self.refuse_implausible("candle", candle.close(), candle.close_time());
            return Ok(());
        }
        if self.position.is_some() {
            self.candle_exits(candle, false, events)?;
        }
        if self.working.is_some() && self.halted.is_none() {
            let was_flat = self.position.is_none();
            let limit_filled = self.candle_working(candle, events)?;
            if limit_filled && was_flat && self.position.is_some() {
                self.candle_exits(candle, true, events)?;
            }
        }
        if self
            .last_candle
            .is_none_or(|c| candle.close_time() >= c.close_time)
        {
            self.last_candle = Some(LastCandle {
                close_time: candle.close_time(),
                close: candle.close(),
                volume: candle.volume(),
            });
        }
        Ok(())
    }

    /// Releases or fills the working order on a candle. Returns whether a *limit* filled in
    /// this bar (a released market order fills at the close, after the bar).
    fn candle_working(
        &mut self,
        candle: &Candle,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<bool, BrokerError> {
        let Some(working) = &self.working else {
            return Ok(false);
        };
        let close_time = candle.close_time();
        if close_time <= working.submitted_at {
            return Ok(false);
        }
        match working.kind {
            WorkingKind::InFlightMarket { due, .. } => {
                if close_time >= due {
                    self.execute_market(MarketContext::Candle(candle), close_time, events)?;
                }
                Ok(false)
            }
            WorkingKind::RestingLimit { price, .. } => {
                let touched = match working.side {
                    Side::Long => candle.low() <= price,
                    Side::Short => candle.high() >= price,
                };
                if !touched {
                    return Ok(false);
                }
                self.fill_limit(Some(candle.volume()), close_time, events)
            }
        }
    }

    /// Intrabar exit rules for one closed candle.
    fn candle_exits(
        &mut self,
        candle: &Candle,
        entry_bar_forced: bool,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), BrokerError> {
        let close_time = candle.close_time();
        let Some(position) = &mut self.position else {
            return Ok(());
        };
        let state = &mut position.state;
        if !entry_bar_forced && close_time <= state.opened_at {
            return Ok(());
        }
        let entry_bar = entry_bar_forced || state.opened_at > candle.open_time();
        state.bars_open = state.bars_open.saturating_add(1);
        let side = state.side;
        let (stop, target, open) = (state.stop, state.take_profit, candle.open());
        let liquidation = position.isolated.liquidation_price;
        // The extreme of the bar on the position's losing side, and on its winning side.
        let (adverse, favourable) = match side {
            Side::Long => (candle.low(), candle.high()),
            Side::Short => (candle.high(), candle.low()),
        };
        let target_reached = |price: Price| {
            target.is_some_and(|t| match side {
                Side::Long => price >= t,
                Side::Short => price <= t,
            })
        };
        let target_hit = target_reached(favourable);
        let gap_target = target_reached(open);
        let stop_reason = if state.trailing_active {
            ExitReason::TrailingStop
        } else {
            ExitReason::CandleStopLoss
        };
        // The protective level: the nearer of the stop and the liquidation price (the
        // liquidation price when they coincide).
        let liquidation_first = reaches(side, stop, liquidation);
        let (protect_hit, protect, ambiguous_exit) = if liquidation_first {
            let order = ExitOrder::liquidation(liquidation);
            (reaches(side, adverse, liquidation), order, order)
        } else {
            (
                reaches(side, adverse, stop),
                ExitOrder::market(stop, stop_reason),
                ExitOrder::market(stop, ExitReason::CandleAmbiguousStop),
            )
        };
        let mut ambiguous = false;
        let order = if entry_bar {
            if protect_hit && target_hit {
                ambiguous = true;
                Some(ambiguous_exit)
            } else {
                protect_hit.then_some(protect)
            }
        } else if reaches(side, open, stop) {
            // A gap through the stop fills at the open; an open at or beyond the liquidation
            // price makes that fill a liquidation there (`exit_position`), even when the stop
            // was nearer: the price was never between the two levels.
            Some(ExitOrder::market(open, stop_reason))
        } else if gap_target {
            Some(ExitOrder::limit(open, ExitReason::CandleTakeProfit))
        } else if protect_hit && target_hit {
            ambiguous = true;
            Some(ambiguous_exit)
        } else if protect_hit {
            Some(protect)
        } else if target_hit {
            target.map(|level| ExitOrder::limit(level, ExitReason::CandleTakeProfit))
        } else {
            None
        };
        if ambiguous {
            self.counters.ambiguous_bars += 1;
        }
        if let Some(order) = order {
            return self.execute_exit(order, close_time, events);
        }
        self.update_trailing(candle.close().get(), close_time, events);
        let bars_open = self.position.as_ref().map_or(0, |p| p.state.bars_open);
        if self
            .config
            .max_bars_open
            .is_some_and(|max| bars_open >= max)
        {
            let order = ExitOrder::market(candle.close(), ExitReason::MaxBarsOpen);
            return self.execute_exit(order, close_time, events);
        }
        Ok(())
    }

    fn execute_exit(
        &mut self,
        order: ExitOrder,
        ts: TimestampMs,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), BrokerError> {
        self.exit_position(order.level, order.reason, order.kind, ts, events)
    }

    /// Closes the whole position at `level` and books it, filled per `kind` (see
    /// [`ExitKind`]). A non-liquidation exit whose fill would lie at or beyond the liquidation
    /// price becomes a liquidation at that price (see the module docs).
    pub(crate) fn exit_position(
        &mut self,
        level: Price,
        reason: ExitReason,
        kind: ExitKind,
        ts: TimestampMs,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), BrokerError> {
        let Some(mut position) = self.position.take() else {
            return Ok(());
        };
        if ts < position.state.opened_at {
            let err = BrokerError::InvariantBreach(format!(
                "exit of {} at {ts} before its entry at {}",
                position.state.client_order_id, position.state.opened_at
            ));
            self.position = Some(position);
            return Err(self.halt_on(err));
        }
        let side = position.state.side;
        let isolated = position.isolated;
        let liquidation = isolated.liquidation_price;
        let price = match kind {
            ExitKind::Market => {
                let bps = self.slippage_with_jitter();
                self.adverse_price(side == Side::Short, level.get(), bps)
                    .unwrap_or(level)
            }
            ExitKind::Limit => level,
            ExitKind::Liquidation => liquidation,
        };
        let (price, reason, kind) =
            if kind != ExitKind::Liquidation && reaches(side, price, liquidation) {
                tracing::info!(
                    symbol = %self.config.spec.symbol,
                    client_order_id = %position.state.client_order_id,
                    reason = reason.as_str(),
                    fill = %price,
                    liquidation_price = %liquidation,
                    "exit fill at or beyond the liquidation price: liquidated there instead"
                );
                (liquidation, ExitReason::Liquidation, ExitKind::Liquidation)
            } else {
                (price, reason, kind)
            };
        let rate = match kind {
            ExitKind::Market => self.config.spec.taker_fee,
            ExitKind::Limit => self.config.spec.maker_fee,
            ExitKind::Liquidation => isolated.rates.liquidation_fee_rate(),
        };
        if kind == ExitKind::Liquidation {
            // The isolated-margin promise, checked before anything is booked.
            let loss = loss_at(side, position.totals(), price.get(), rate)?;
            if loss > isolated.margin {
                let err = BrokerError::InvariantBreach(format!(
                    "liquidation of {} at {price} loses {loss}, more than its margin {}",
                    position.state.client_order_id, isolated.margin
                ));
                self.position = Some(position);
                return Err(self.halt_on(err));
            }
        }
        roll_day(&mut self.day, ts, self.balance);
        let qty = position.cache.qty;
        let state = &mut position.state;
        let realized = realize_fifo(&mut state.lots, side, state.initial_stop, price, qty)?;
        let qty = Qty::new(realized.qty)
            .map_err(|e| BrokerError::InvariantBreach(format!("exit qty: {e}")))?;
        let exit_fee = fee_of(price, qty, rate)?;
        let fees = checked(realized.entry_fees.checked_add(exit_fee), "fees")?;
        let pnl_net = checked(realized.gross.checked_sub(fees), "net pnl")?;
        let r_multiple = pnl_net.checked_div(realized.risk).unwrap_or(Decimal::ZERO);
        let entry_price = realized
            .cost
            .checked_div(realized.qty)
            .unwrap_or(Decimal::ZERO);
        self.balance = checked(self.balance.checked_add(pnl_net), "balance")?;
        self.realized_net_total = checked(
            self.realized_net_total.checked_add(pnl_net),
            "realized total",
        )?;
        self.fees_paid = checked(self.fees_paid.checked_add(exit_fee), "fees paid")?;
        record_trade(&mut self.counters, pnl_net);
        record_equity(&mut self.counters, self.balance);
        if reason == ExitReason::Liquidation {
            self.counters.liquidations += 1;
            tracing::warn!(
                symbol = %self.config.spec.symbol,
                client_order_id = %state.client_order_id,
                liquidation_price = %price,
                margin = %isolated.margin,
                leverage = isolated.leverage.get(),
                %pnl_net,
                "position liquidated"
            );
        }
        let exit = Exit {
            client_order_id: state.client_order_id.clone(),
            side,
            reason,
            entry_price,
            exit_price: price,
            qty,
            pnl_net,
            fees,
            r_multiple,
            opened_at: state.opened_at,
            ts,
            leverage: isolated.leverage,
            liquidation_price: liquidation,
            funding: state.funding,
        };
        tracing::info!(
            symbol = %self.config.spec.symbol,
            client_order_id = %exit.client_order_id,
            side = side.as_str(),
            reason = reason.as_str(),
            exit_price = %price,
            %pnl_net,
            %r_multiple,
            "position closed"
        );
        let id = exit.client_order_id.clone();
        self.closed_trades.push(exit.clone());
        events.push(BrokerEvent::Exited(exit));
        // The rest of a partially filled entry has no business outliving its position.
        if self
            .working
            .as_ref()
            .is_some_and(|w| w.client_order_id == id)
        {
            self.cancel_working(ts, events);
        }
        Ok(())
    }
}
