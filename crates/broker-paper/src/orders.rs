//! The order pipeline: admission at submit (idempotency, halt, risk rules, rounding), the
//! working order (in flight under latency, or resting), and entry fills with slippage, fees
//! and the optional liquidity cap.
//!
//! Check order at submit: duplicate id → halted → orders per minute → daily loss → position
//! or working order already open → quantity rounding (`BelowMinQty`) → price rounding and,
//! for limits, the protection sides → notional → leverage (notional / equity) → risk cap →
//! the order's isolated leverage (`InvalidLeverage`: above `max_leverage`, or a liquidation
//! price not on the loss side of the expected fill) → initial margin against the available
//! balance (`InsufficientMargin`). Each refusal is an `OrderRejected` event, a `warn!` with
//! the symbol, and a counter; the id becomes processed (except for a duplicate, which is
//! already known).
//!
//! At every entry fill the isolated margin is priced again from the actual fill (and the
//! lots already held): a leverage whose liquidation price would not lie on the loss side is
//! refused as `InvalidLeverage`, and a position margin above the realized equity as
//! `InsufficientMargin`, both before anything is booked.
//!
//! Rounding at submit (never silent, always away from the trader's advantage): quantity down
//! to the step; long stop down / short stop up; long target up / short target down; long
//! limit down / short limit up (never worse than asked). A level that rounds to an invalid
//! price, or rounded levels that no longer bracket the limit, are refused as
//! `ProtectionCrossedAtFill`.

use la_core::{
    BrokerEvent, Candle, ClientOrderId, Fill, OrderIntent, OrderKind, OrderRejectReason, Price,
    PriceBand, Qty, Side, Tick, TimestampMs, Volume,
};
use rust_decimal::Decimal;

use crate::{
    PaperBroker,
    accounting::{OpenPosition, checked},
    config::MarketFillModel,
    error::BrokerError,
    margin::EntryFill,
    risk::{check_exposure, daily_loss_exceeded, rate_allows, roll_day},
    spec::{Grid, PriceRounding},
    state::{LotState, PositionState, WorkingKind, WorkingOrderState},
};

/// One basis point as a fraction.
const BPS: Decimal = Decimal::from_parts(1, 0, 0, false, 4);

/// Where a market order is being priced.
#[derive(Clone, Copy, Debug)]
pub(crate) enum MarketContext<'a> {
    /// At submit (latency 0).
    Submit,
    /// Released by this tick.
    Tick(&'a Tick),
    /// Released by this closed candle (priced at its close).
    Candle(&'a Candle),
}

/// Whether `stop` and `target` bracket `entry` correctly for `side` (strictly).
pub(crate) fn protection_ok(side: Side, entry: Price, stop: Price, target: Option<Price>) -> bool {
    match side {
        Side::Long => stop < entry && target.is_none_or(|t| t > entry),
        Side::Short => stop > entry && target.is_none_or(|t| t < entry),
    }
}

/// SplitMix64's n-th output for `seed`: a pure function, so the jitter sequence is
/// reproducible and survives restarts through the persisted draw count.
fn splitmix64(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl PaperBroker {
    pub(crate) fn submit_order(
        &mut self,
        order: OrderIntent,
        now: TimestampMs,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), BrokerError> {
        let id = order.client_order_id().clone();
        if self.is_known_order(&id) {
            self.reject(
                id,
                OrderRejectReason::DuplicateClientOrderId,
                now,
                events,
                false,
            );
            return Ok(());
        }
        let working = match self.admit(&order, now) {
            Ok(working) => working,
            Err(reason) => {
                self.reject(id, reason, now, events, true);
                return Ok(());
            }
        };
        let immediate =
            matches!(working.kind, WorkingKind::InFlightMarket { due, .. } if due <= now);
        self.working = Some(working);
        if immediate {
            self.execute_market(MarketContext::Submit, now, events)
        } else {
            tracing::info!(symbol = %self.config.spec.symbol, client_order_id = %id, "order accepted");
            events.push(BrokerEvent::OrderAccepted {
                client_order_id: id,
                ts: now,
            });
            Ok(())
        }
    }

    /// Runs every submit-time rule; on success returns the working order to hold.
    fn admit(
        &mut self,
        order: &OrderIntent,
        now: TimestampMs,
    ) -> Result<WorkingOrderState, OrderRejectReason> {
        use OrderRejectReason as R;
        if self.halted.is_some() {
            return Err(R::TradingHalted);
        }
        if !rate_allows(
            &mut self.order_times,
            now,
            self.config.max_orders_per_minute,
        ) {
            return Err(R::OrdersPerMinute);
        }
        self.order_times.push_back(now);
        roll_day(&mut self.day, now, self.balance);
        if let Some(day) = &self.day
            && daily_loss_exceeded(day, self.balance, self.config.daily_loss_limit_frac)
        {
            return Err(R::DailyLossLimit);
        }
        if self.position.is_some() || self.working.is_some() {
            return Err(R::PositionAlreadyOpen);
        }
        let qty = self
            .config
            .spec
            .round_qty_down(order.qty().get())
            .ok_or(R::BelowMinQty)?;
        let side = order.side();
        let (stop_dir, target_dir) = match side {
            Side::Long => (PriceRounding::Down, PriceRounding::Up),
            Side::Short => (PriceRounding::Up, PriceRounding::Down),
        };
        let grid = self.price_grid;
        let stop = grid
            .round_price(order.stop_loss().get(), stop_dir)
            .ok_or(R::ProtectionCrossedAtFill)?;
        let take_profit = match order.take_profit() {
            Some(t) => Some(
                grid.round_price(t.get(), target_dir)
                    .ok_or(R::ProtectionCrossedAtFill)?,
            ),
            None => None,
        };
        let (kind, expected) = match order.kind() {
            OrderKind::Market => {
                let base = self
                    .market_base_price(side, order.entry_reference(), MarketContext::Submit)
                    .ok_or(R::NoMarketPrice)?;
                let expected = self
                    .adverse_price(side == Side::Long, base, self.config.slippage_bps)
                    .ok_or(R::NoMarketPrice)?;
                let due = now
                    .checked_add_ms(self.config.latency_ms)
                    .ok_or(R::NoMarketPrice)?;
                let kind = WorkingKind::InFlightMarket {
                    due,
                    entry_reference: order.entry_reference(),
                };
                (kind, expected)
            }
            OrderKind::Limit { price } => {
                let limit_dir = match side {
                    Side::Long => PriceRounding::Down,
                    Side::Short => PriceRounding::Up,
                };
                let limit = grid
                    .round_price(price.get(), limit_dir)
                    .ok_or(R::ProtectionCrossedAtFill)?;
                if !protection_ok(side, limit, stop, take_profit) {
                    return Err(R::ProtectionCrossedAtFill);
                }
                let kind = WorkingKind::RestingLimit {
                    price: limit,
                    remainder: false,
                };
                (kind, limit)
            }
        };
        if matches!(kind, WorkingKind::InFlightMarket { .. })
            && !self.fill_plausible(order.entry_reference(), expected)
        {
            return Err(R::ImplausiblePrice);
        }
        check_exposure(&self.config, expected, qty, stop, self.balance)?;
        let entry_fee_rate = match kind {
            WorkingKind::InFlightMarket { .. } => self.config.spec.taker_fee,
            WorkingKind::RestingLimit { .. } => self.config.spec.maker_fee,
        };
        self.check_order_margin(side, expected, qty, entry_fee_rate, order.leverage())?;
        Ok(WorkingOrderState {
            client_order_id: order.client_order_id().clone(),
            side,
            remaining: qty,
            stop,
            take_profit,
            submitted_at: now,
            kind,
            leverage: Some(order.leverage()),
        })
    }

    /// Whether a market fill at `fill` lies inside the coarse plausibility band around the
    /// order's decision price `reference` ([`crate::BrokerConfig::price_band`]).
    fn fill_plausible(&self, reference: Price, fill: Price) -> bool {
        PriceBand::new(self.config.price_band).contains(reference, fill)
    }

    /// The market base price before slippage, per [`MarketFillModel`].
    fn market_base_price(
        &self,
        side: Side,
        reference: Price,
        context: MarketContext<'_>,
    ) -> Option<Decimal> {
        let touch = |tick: &Tick| match side {
            Side::Long => tick.buy_price().get(),
            Side::Short => tick.sell_price().get(),
        };
        let spread = |price: Price| {
            let offset = self.config.half_spread_bps.checked_mul(BPS)?;
            let factor = match side {
                Side::Long => Decimal::ONE + offset,
                Side::Short => Decimal::ONE - offset,
            };
            price.get().checked_mul(factor)
        };
        match (self.config.market_fill, context) {
            (MarketFillModel::LatestTick, MarketContext::Tick(tick)) => Some(touch(tick)),
            (MarketFillModel::LatestTick, MarketContext::Submit) => match &self.latest_tick {
                Some(tick) => Some(touch(tick)),
                None => spread(reference),
            },
            (MarketFillModel::LatestTick, MarketContext::Candle(candle)) => spread(candle.close()),
            (MarketFillModel::DecisionPrice, _) => spread(reference),
        }
    }

    /// `base` moved against the trader by `bps` and rounded to the tick against the trader:
    /// up when buying, down when selling.
    pub(crate) fn adverse_price(&self, buying: bool, base: Decimal, bps: Decimal) -> Option<Price> {
        let offset = bps.checked_mul(BPS)?;
        let factor = if buying {
            Decimal::ONE + offset
        } else {
            Decimal::ONE - offset
        };
        let raw = base.checked_mul(factor)?;
        let dir = if buying {
            PriceRounding::Up
        } else {
            PriceRounding::Down
        };
        self.price_grid.round_price(raw, dir)
    }

    /// Total adverse slippage for one market execution: the fixed part plus a seeded draw.
    pub(crate) fn slippage_with_jitter(&mut self) -> Decimal {
        let jitter = self.config.slippage_jitter_bps;
        if jitter.is_zero() {
            return self.config.slippage_bps;
        }
        let draw = splitmix64(self.config.seed, self.jitter_draws) % 1_000_001;
        self.jitter_draws = self.jitter_draws.wrapping_add(1);
        // draw / 10^6 ∈ [0, 1] with six exact decimals.
        let unit = Decimal::new(i64::try_from(draw).unwrap_or(0), 6);
        self.config.slippage_bps + jitter.checked_mul(unit).unwrap_or(jitter)
    }

    /// The largest fill allowed by the liquidity cap against `volume` (None: nothing fills).
    fn capped_qty(&self, remaining: Qty, volume: Option<Volume>) -> Option<Qty> {
        let (Some(frac), Some(volume)) = (self.config.liquidity_cap_frac, volume) else {
            return Some(remaining);
        };
        if volume.get().is_zero() {
            // No traded volume to measure against: the cap does not apply (as in Python).
            return Some(remaining);
        }
        let allowed =
            Grid::new(self.config.spec.qty_step).floor(frac.checked_mul(volume.get())?)?;
        Qty::new(remaining.get().min(allowed)).ok()
    }

    /// Fills (or re-rests) the in-flight market order.
    pub(crate) fn execute_market(
        &mut self,
        context: MarketContext<'_>,
        ts: TimestampMs,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), BrokerError> {
        let Some(mut working) = self.working.take() else {
            return Ok(());
        };
        let WorkingKind::InFlightMarket {
            entry_reference, ..
        } = working.kind
        else {
            self.working = Some(working);
            return Ok(());
        };
        let side = working.side;
        let bps = self.slippage_with_jitter();
        let price = self
            .market_base_price(side, entry_reference, context)
            .and_then(|base| self.adverse_price(side == Side::Long, base, bps));
        let Some(price) = price else {
            self.reject(
                working.client_order_id,
                OrderRejectReason::NoMarketPrice,
                ts,
                events,
                true,
            );
            return Ok(());
        };
        if !self.fill_plausible(entry_reference, price) {
            tracing::warn!(
                symbol = %self.config.spec.symbol,
                client_order_id = %working.client_order_id,
                fill = %price,
                decision_price = %entry_reference,
                "fill price outside the plausibility band around the decision price"
            );
            self.reject(
                working.client_order_id,
                OrderRejectReason::ImplausiblePrice,
                ts,
                events,
                true,
            );
            return Ok(());
        }
        if !protection_ok(side, price, working.stop, working.take_profit) {
            tracing::warn!(
                symbol = %self.config.spec.symbol,
                client_order_id = %working.client_order_id,
                fill = %price,
                stop = %working.stop,
                "stop or target on the wrong side of the actual fill"
            );
            self.reject(
                working.client_order_id,
                OrderRejectReason::ProtectionCrossedAtFill,
                ts,
                events,
                true,
            );
            return Ok(());
        }
        let volume = match context {
            MarketContext::Candle(candle) => Some(candle.volume()),
            _ => self.last_candle.map(|c| c.volume),
        };
        match self.capped_qty(working.remaining, volume) {
            Some(qty) => {
                let Some(fill) = self.prepare_fill(&working, price, qty, false, ts, events)? else {
                    return Ok(());
                };
                self.apply_entry_fill(&working, fill, ts, events)?;
                self.finish_or_rest(working, qty, price, ts, events)
            }
            None => {
                // Not even one step of liquidity: the whole order rests at the market price.
                working.kind = WorkingKind::RestingLimit {
                    price,
                    remainder: true,
                };
                events.push(BrokerEvent::OrderAccepted {
                    client_order_id: working.client_order_id.clone(),
                    ts,
                });
                self.working = Some(working);
                Ok(())
            }
        }
    }

    /// Fills the resting limit order at its price (maker), up to the liquidity cap.
    pub(crate) fn fill_limit(
        &mut self,
        volume: Option<Volume>,
        ts: TimestampMs,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<bool, BrokerError> {
        let Some(working) = self.working.take() else {
            return Ok(false);
        };
        let WorkingKind::RestingLimit { price, .. } = working.kind else {
            self.working = Some(working);
            return Ok(false);
        };
        if !protection_ok(working.side, price, working.stop, working.take_profit) {
            self.reject(
                working.client_order_id,
                OrderRejectReason::ProtectionCrossedAtFill,
                ts,
                events,
                true,
            );
            return Ok(false);
        }
        let Some(qty) = self.capped_qty(working.remaining, volume) else {
            self.working = Some(working);
            return Ok(false);
        };
        let Some(fill) = self.prepare_fill(&working, price, qty, true, ts, events)? else {
            return Ok(false);
        };
        self.apply_entry_fill(&working, fill, ts, events)?;
        self.finish_or_rest(working, qty, price, ts, events)?;
        Ok(true)
    }

    /// After a fill of `filled`: done (processed) or the rest keeps resting at `price`.
    fn finish_or_rest(
        &mut self,
        mut working: WorkingOrderState,
        filled: Qty,
        price: Price,
        ts: TimestampMs,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), BrokerError> {
        let rest = working.remaining.get() - filled.get();
        if rest <= Decimal::ZERO {
            self.processed.insert(working.client_order_id);
            return Ok(());
        }
        working.remaining = Qty::new(rest)
            .map_err(|e| BrokerError::InvariantBreach(format!("remainder qty: {e}")))?;
        let was_resting = matches!(working.kind, WorkingKind::RestingLimit { .. });
        working.kind = WorkingKind::RestingLimit {
            price,
            remainder: true,
        };
        if !was_resting {
            events.push(BrokerEvent::OrderAccepted {
                client_order_id: working.client_order_id.clone(),
                ts,
            });
        }
        tracing::info!(
            symbol = %self.config.spec.symbol,
            client_order_id = %working.client_order_id,
            remaining = %working.remaining,
            %price,
            "partial fill; the rest rests as a limit"
        );
        self.working = Some(working);
        Ok(())
    }

    /// Books one entry fill: fee, lot, position with its isolated margin, event.
    fn apply_entry_fill(
        &mut self,
        working: &WorkingOrderState,
        fill: EntryFill,
        ts: TimestampMs,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), BrokerError> {
        let EntryFill {
            price,
            qty,
            maker,
            fee,
            isolated,
        } = fill;
        let lot = LotState {
            price,
            qty,
            fee,
            ts,
        };
        let trailing = self.config.trailing;
        match &mut self.position {
            Some(position) => position.add_lot(lot, isolated, trailing)?,
            None => {
                let state = PositionState {
                    client_order_id: working.client_order_id.clone(),
                    side: working.side,
                    lots: vec![lot],
                    initial_stop: working.stop,
                    stop: working.stop,
                    take_profit: working.take_profit,
                    opened_at: ts,
                    bars_open: 0,
                    trailing_active: false,
                    best_price: price.get(),
                    funding: Decimal::ZERO,
                    isolated: Some(isolated),
                };
                self.position = Some(OpenPosition::from_state(state, trailing)?);
            }
        }
        self.fees_paid = checked(self.fees_paid.checked_add(fee), "fees paid")?;
        tracing::info!(
            symbol = %self.config.spec.symbol,
            client_order_id = %working.client_order_id,
            side = working.side.as_str(),
            %price,
            %qty,
            %fee,
            maker,
            leverage = isolated.leverage.get(),
            margin = %isolated.margin,
            liquidation_price = %isolated.liquidation_price,
            "entry filled"
        );
        let stop_beyond_liquidation = match working.side {
            Side::Long => working.stop <= isolated.liquidation_price,
            Side::Short => working.stop >= isolated.liquidation_price,
        };
        if stop_beyond_liquidation {
            tracing::warn!(
                symbol = %self.config.spec.symbol,
                client_order_id = %working.client_order_id,
                stop = %working.stop,
                liquidation_price = %isolated.liquidation_price,
                "the stop lies at or beyond the liquidation price: the position is liquidated first"
            );
        }
        events.push(BrokerEvent::Filled(Fill {
            client_order_id: working.client_order_id.clone(),
            side: working.side,
            price,
            qty,
            fee,
            maker,
            ts,
        }));
        Ok(())
    }

    /// Emits and counts a rejection; `record` marks the id processed.
    pub(crate) fn reject(
        &mut self,
        id: ClientOrderId,
        reason: OrderRejectReason,
        ts: TimestampMs,
        events: &mut Vec<BrokerEvent>,
        record: bool,
    ) {
        tracing::warn!(
            symbol = %self.config.spec.symbol,
            client_order_id = %id,
            reason = reason.as_str(),
            "order rejected"
        );
        *self
            .counters
            .rejected_orders
            .entry(reason.as_str().to_owned())
            .or_insert(0) += 1;
        if record {
            self.processed.insert(id.clone());
        }
        events.push(BrokerEvent::OrderRejected {
            client_order_id: id,
            reason,
            ts,
        });
    }

    /// Cancels the working order, if any (its id becomes processed).
    pub(crate) fn cancel_working(&mut self, now: TimestampMs, events: &mut Vec<BrokerEvent>) {
        if let Some(working) = self.working.take() {
            tracing::info!(
                symbol = %self.config.spec.symbol,
                client_order_id = %working.client_order_id,
                "working order cancelled"
            );
            self.processed.insert(working.client_order_id.clone());
            events.push(BrokerEvent::OrderCancelled {
                client_order_id: working.client_order_id,
                ts: now,
            });
        }
    }
}
