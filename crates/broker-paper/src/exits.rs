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
//! **Trailing**: R = |average entry − initial stop|. Once the best price reaches
//! `activation_r × R` in the trader's favour the trail activates (one `TrailingActivated`
//! event) and the stop becomes `best ∓ distance_r × R`, rounded to the tick against the trader
//! (long down, short up), and only ever moves in the trader's favour.

use la_core::{BrokerEvent, Candle, Exit, ExitReason, Price, Qty, Side, Tick, TimestampMs};
use rust_decimal::Decimal;

use crate::{
    PaperBroker,
    accounting::{checked, fee_of, realize_fifo, record_equity, record_trade},
    error::BrokerError,
    orders::MarketContext,
    risk::roll_day,
    state::WorkingKind,
};

/// How a decided exit is executed.
#[derive(Clone, Copy, Debug)]
struct ExitOrder {
    level: Price,
    reason: ExitReason,
    /// Stop-like (market) exit: adverse slippage and taker fee; else limit-like: maker fee.
    market: bool,
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
        let (price, stop_hit, target_hit) = match state.side {
            Side::Long => {
                let px = tick.sell_price();
                (
                    px,
                    px <= state.stop,
                    state.take_profit.is_some_and(|t| px >= t),
                )
            }
            Side::Short => {
                let px = tick.buy_price();
                (
                    px,
                    px >= state.stop,
                    state.take_profit.is_some_and(|t| px <= t),
                )
            }
        };
        let order = if stop_hit {
            Some(ExitOrder {
                level: state.stop,
                reason: if state.trailing_active {
                    ExitReason::TrailingStop
                } else {
                    ExitReason::StopLoss
                },
                market: true,
            })
        } else if target_hit {
            state.take_profit.map(|level| ExitOrder {
                level,
                reason: ExitReason::TakeProfit,
                market: false,
            })
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
            .is_none_or(|c| candle.close_time() >= c.close_time())
        {
            self.last_candle = Some(*candle);
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
        let (stop, target, open) = (state.stop, state.take_profit, candle.open());
        let (stop_hit, target_hit, gap_stop, gap_target) = match state.side {
            Side::Long => (
                candle.low() <= stop,
                target.is_some_and(|t| candle.high() >= t),
                open <= stop,
                target.is_some_and(|t| open >= t),
            ),
            Side::Short => (
                candle.high() >= stop,
                target.is_some_and(|t| candle.low() <= t),
                open >= stop,
                target.is_some_and(|t| open <= t),
            ),
        };
        let stop_reason = if state.trailing_active {
            ExitReason::TrailingStop
        } else {
            ExitReason::CandleStopLoss
        };
        let stop_exit = |level, reason| ExitOrder {
            level,
            reason,
            market: true,
        };
        let mut ambiguous = false;
        let order = if entry_bar {
            if stop_hit && target_hit {
                ambiguous = true;
                Some(stop_exit(stop, ExitReason::CandleAmbiguousStop))
            } else {
                stop_hit.then(|| stop_exit(stop, stop_reason))
            }
        } else if gap_stop {
            Some(stop_exit(open, stop_reason))
        } else if gap_target {
            Some(ExitOrder {
                level: open,
                reason: ExitReason::CandleTakeProfit,
                market: false,
            })
        } else if stop_hit && target_hit {
            ambiguous = true;
            Some(stop_exit(stop, ExitReason::CandleAmbiguousStop))
        } else if stop_hit {
            Some(stop_exit(stop, stop_reason))
        } else if target_hit {
            target.map(|level| ExitOrder {
                level,
                reason: ExitReason::CandleTakeProfit,
                market: false,
            })
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
            let order = ExitOrder {
                level: candle.close(),
                reason: ExitReason::MaxBarsOpen,
                market: true,
            };
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
        self.exit_position(
            order.level,
            order.reason,
            order.market,
            !order.market,
            ts,
            events,
        )
    }

    /// Closes the whole position at `level` and books it. `slipped`: apply the adverse
    /// slippage (market-like exits); `maker`: charge the maker fee instead of the taker fee.
    pub(crate) fn exit_position(
        &mut self,
        level: Price,
        reason: ExitReason,
        slipped: bool,
        maker: bool,
        ts: TimestampMs,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), BrokerError> {
        let Some(mut position) = self.position.take() else {
            return Ok(());
        };
        let side = position.state.side;
        let price = if slipped {
            let bps = self.slippage_with_jitter();
            self.adverse_price(side == Side::Short, level.get(), bps)
                .unwrap_or(level)
        } else {
            level
        };
        roll_day(&mut self.day, ts, self.balance);
        let qty = position.cache.qty;
        let state = &mut position.state;
        let realized = realize_fifo(&mut state.lots, side, state.initial_stop, price, qty)?;
        let qty = Qty::new(realized.qty)
            .map_err(|e| BrokerError::InvariantBreach(format!("exit qty: {e}")))?;
        let rate = if maker {
            self.config.spec.maker_fee
        } else {
            self.config.spec.taker_fee
        };
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
