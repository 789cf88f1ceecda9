//! The market engine: walks virtual time event by event, producing kline, ticker and price
//! frames on the broadcast bus, and applies faults (scheduled on the virtual timeline or
//! injected through the handle).
//!
//! Events per bucket of length `I` with last-push offset `L`: kline pushes at every
//! multiple of `kline_push_ms` up to `L`, tickers at the four path waypoints plus every
//! multiple of `ticker_push_ms` (absolute time), price pushes at every multiple of
//! `price_push_ms`. The kline push at `L` carries the final candle and marks it completed
//! (or skipped, inside a gap fault). Each frame's `ts` is its exact virtual event time.

use std::sync::Arc;

use tokio::{
    sync::{mpsc, watch},
    time::Instant,
};

use crate::{
    faults::{Fault, PriceFactor, ScheduledFault},
    market::TickerData,
    path,
    state::{Channel, ConnFault, Outbound, Shared, StreamState, lock, stopped},
    wire,
};

/// The engine task's configuration and position.
pub(crate) struct Engine {
    pub(crate) shared: Arc<Shared>,
    pub(crate) schedule: Vec<ScheduledFault>,
    pub(crate) kline_push_ms: i64,
    pub(crate) ticker_push_ms: i64,
    pub(crate) price_push_ms: i64,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Dropped when the engine ends, telling shutdown it has stopped.
    pub(crate) _done: mpsc::Sender<()>,
}

/// Ceiling of `t` to a multiple of `step` (`t` and `step` positive).
fn ceil_to(t: i64, step: i64) -> i64 {
    let rem = t.rem_euclid(step);
    if rem == 0 { t } else { t - rem + step }
}

impl Engine {
    pub(crate) async fn run(mut self) {
        self.schedule.sort_by_key(|f| f.at_virtual_offset_ms);
        let start = self.shared.clock.start_ms();
        let market = &self.shared.market;
        let pass_end = market.first_open().saturating_add(market.span());
        let mut next_fault = 0usize;
        let mut cursor = start;
        let mut exhausted = false;
        let mut data_done = false;
        loop {
            let fault_at = self.schedule.get(next_fault).map(|f| {
                start.saturating_add(i64::try_from(f.at_virtual_offset_ms).unwrap_or(i64::MAX))
            });
            let mut data_at = (!data_done).then(|| self.next_data_time(cursor));
            if !exhausted {
                data_at = Some(data_at.map_or(pass_end, |t| t.min(pass_end)));
            }
            let next = match (data_at, fault_at) {
                (Some(d), Some(f)) => d.min(f),
                (Some(d), None) => d,
                (None, Some(f)) => f,
                (None, None) => {
                    stopped(&mut self.shutdown).await;
                    return;
                }
            };
            let wake = self.shared.clock.instant_at(next);
            tokio::select! {
                biased;
                () = stopped(&mut self.shutdown) => return,
                () = self.shared.clock_jumped.notified() => {
                    cursor = self.skip_jumped(cursor);
                    continue;
                }
                () = tokio::time::sleep_until(wake) => {}
            }
            while let Some(scheduled) = self.schedule.get(next_fault) {
                let at = start.saturating_add(
                    i64::try_from(scheduled.at_virtual_offset_ms).unwrap_or(i64::MAX),
                );
                if at > next {
                    break;
                }
                apply_fault(&self.shared, &scheduled.fault, at);
                next_fault += 1;
            }
            if !exhausted && next >= pass_end {
                exhausted = true;
                self.mark_exhausted(next);
                data_done = self.shared.market.data_end().is_some();
            }
            if !data_done && data_at == Some(next) {
                self.process_data(next);
            }
            cursor = next + 1;
        }
    }

    /// After a clock jump: the candles whose final push fell in the skipped time completed on
    /// the exchange (REST serves them) without a push. Returns the new cursor.
    fn skip_jumped(&self, cursor: i64) -> i64 {
        let shared = &self.shared;
        let now = shared.clock.now_ms();
        if now <= cursor {
            return cursor;
        }
        let market = &shared.market;
        let (interval, last) = (market.interval_ms(), market.last_offset());
        let mut st = lock(&shared.stream);
        let mut bucket = market.bucket_of(cursor.max(market.first_open()));
        let mut completed = 0_u64;
        while bucket + last < now {
            if bucket + last >= cursor
                && let Some(candle) = market.candle_at(bucket)
            {
                st.completed.push(candle);
                shared
                    .recorder
                    .candle(bucket + last, "candle_completed", bucket);
                completed += 1;
            }
            bucket += interval;
        }
        st.engine_now = now;
        drop(st);
        shared.stat(|s| s.candles_completed += completed);
        tracing::info!(symbol = %shared.symbol, from = cursor, to = now, completed, "virtual clock jumped; the skipped candles completed unpushed");
        now
    }

    fn mark_exhausted(&self, t: i64) {
        tracing::info!(symbol = %self.shared.symbol, t, "market data exhausted");
        let held = lock(&self.shared.stream).held_kline.take();
        if let Some(text) = held {
            let mut st = lock(&self.shared.stream);
            broadcast(&self.shared, &mut st, Channel::Kline, text, true);
        }
        self.shared.stat(|s| s.data_exhausted = true);
        self.shared.exhausted.send_replace(true);
    }

    /// The earliest data event at or after `cursor`.
    fn next_data_time(&self, cursor: i64) -> i64 {
        let market = &self.shared.market;
        let c = cursor.max(market.first_open());
        let interval = market.interval_ms();
        let last = market.last_offset();
        let bucket = market.bucket_of(c);
        let offset = c - bucket;
        let kline = {
            let k = ceil_to(offset, self.kline_push_ms);
            if k <= last {
                bucket + k
            } else {
                bucket + interval
            }
        };
        let waypoint = path::waypoint_offsets(last)
            .into_iter()
            .find(|w| *w >= offset)
            .map_or(bucket + interval, |w| bucket + w);
        let ticker = ceil_to(c, self.ticker_push_ms);
        let price = ceil_to(c, self.price_push_ms);
        kline.min(waypoint).min(ticker).min(price)
    }

    fn process_data(&self, v: i64) {
        let shared = &self.shared;
        let market = &shared.market;
        let bucket = market.bucket_of(v);
        let offset = v - bucket;
        let last = market.last_offset();
        let Some(mut candle) = market.candle_at(bucket) else {
            return;
        };
        let mut forming = path::forming_at(&candle, offset, last);
        let is_kline = offset % self.kline_push_ms == 0 && offset <= last;
        let is_ticker =
            v % self.ticker_push_ms == 0 || path::waypoint_offsets(last).contains(&offset);
        let is_price = v % self.price_push_ms == 0;
        let symbol = shared.symbol.as_str();
        let ticker = if is_ticker { market.ticker_at(v) } else { None };
        let price = if is_price {
            market.index_and_mark(v)
        } else {
            None
        };
        let mut st = lock(&shared.stream);
        st.engine_now = v;
        if is_kline && offset == last {
            close_implausibly(shared, &mut st, &mut candle, &mut forming);
        }
        if is_kline {
            let in_gap = st
                .gap
                .is_some_and(|(from, until)| (from..until).contains(&bucket));
            if !in_gap {
                let text = wire::kline_frame(shared.kline_ch, symbol, v, &forming);
                st.last_kline_ts = v;
                emit_kline(shared, &mut st, text.into());
            }
            if offset == last {
                let open_time = candle.open_time().as_ms();
                if in_gap {
                    st.skipped.push(candle);
                    shared.recorder.candle(v, "candle_skipped", open_time);
                    shared.stat(|s| s.candles_skipped += 1);
                } else {
                    st.completed.push(candle);
                    shared.recorder.candle(v, "candle_completed", open_time);
                    shared.stat(|s| s.candles_completed += 1);
                }
            }
        }
        if let Some(ticker) = ticker {
            let text = wire::ticker_frame(symbol, v, &ticker);
            broadcast(shared, &mut st, Channel::Ticker, text.into(), true);
        }
        if let Some((index, mark)) = price {
            let text = wire::price_frame(symbol, v, index, mark, &shared.funding);
            broadcast(shared, &mut st, Channel::Price, text.into(), true);
        }
    }
}

/// An armed `ImplausiblePrice` for this bucket: its final push (and the candle recorded as
/// sent) closes at the close times the factor, the range widened to include it.
fn close_implausibly(
    shared: &Shared,
    st: &mut StreamState,
    candle: &mut la_core::Candle,
    forming: &mut path::Forming,
) {
    let open_time = candle.open_time().as_ms();
    let Some((bucket, factor)) = st.implausible_close else {
        return;
    };
    if bucket != open_time {
        return;
    }
    st.implausible_close = None;
    let close = factor.apply(forming.close);
    forming.close = close;
    forming.high = forming.high.max(close);
    forming.low = forming.low.min(close);
    let bad = la_core::Price::new(close).and_then(|close| {
        la_core::Candle::new(
            candle.interval(),
            candle.open_time(),
            candle.open(),
            candle.high().max(close),
            candle.low().min(close),
            close,
            candle.volume(),
        )
    });
    match bad {
        Ok(bad) => *candle = bad,
        Err(error) => {
            tracing::warn!(symbol = %shared.symbol, %error, "implausible close not representable")
        }
    }
    shared
        .recorder
        .candle(st.engine_now, "candle_implausible_close", open_time);
}

/// Sends a kline frame, honouring an armed `Reorder`.
fn emit_kline(shared: &Shared, st: &mut StreamState, text: Arc<str>) {
    if st.reorder_armed
        && st.held_kline.is_none()
        && !lock(&shared.windows).silenced(Instant::now())
    {
        st.reorder_armed = false;
        st.held_kline = Some(text);
        return;
    }
    broadcast(shared, st, Channel::Kline, text, true);
    if let Some(held) = st.held_kline.take() {
        broadcast(shared, st, Channel::Kline, held, true);
    }
}

/// Puts a data frame on the bus unless a silence fault is active. `remember` keeps it as
/// the channel's last frame (the source for `Duplicate`).
fn broadcast(
    shared: &Shared,
    st: &mut StreamState,
    channel: Channel,
    text: Arc<str>,
    remember: bool,
) {
    if lock(&shared.windows).silenced(Instant::now()) {
        shared.stat(|s| s.frames_suppressed += 1);
        return;
    }
    st.seq += 1;
    if remember {
        st.last_frames[channel.index()] = Some(Arc::clone(&text));
    }
    // No receivers (no clients) is fine: the market moves on regardless.
    let _ = shared.bus.send(Outbound::Data {
        seq: st.seq,
        channel,
        text,
    });
}

/// Applies a fault now; `t` is the virtual time it is recorded at.
pub(crate) fn apply_fault(shared: &Shared, fault: &Fault, t: i64) {
    let now = Instant::now();
    let millis = |ms: u64| now + std::time::Duration::from_millis(ms);
    tracing::info!(symbol = %shared.symbol, fault = %fault, t, "applying fault");
    shared.recorder.fault(t, &fault.to_string());
    shared.stat(|s| {
        *s.faults_applied.entry(fault.name().to_owned()).or_default() += 1;
    });
    match fault {
        Fault::Silence { duration_ms } | Fault::PongOnly { duration_ms } => {
            let mut w = lock(&shared.windows);
            let until = millis(*duration_ms);
            w.silence_until = Some(w.silence_until.map_or(until, |u| u.max(until)));
        }
        Fault::RestRateLimit {
            duration_ms,
            http_429,
        } => lock(&shared.windows).rest_limit = Some((millis(*duration_ms), *http_429)),
        Fault::RestSlow {
            delay_ms,
            duration_ms,
        } => {
            lock(&shared.windows).rest_slow = Some((
                millis(*duration_ms),
                std::time::Duration::from_millis(*delay_ms),
            ));
        }
        Fault::Rest5xx { duration_ms } => {
            lock(&shared.windows).rest_5xx_until = Some(millis(*duration_ms));
        }
        Fault::RefuseUpgrade { duration_ms } => {
            lock(&shared.windows).refuse_upgrade_until = Some(millis(*duration_ms));
        }
        Fault::SlowAccept {
            delay_ms,
            duration_ms,
        } => {
            lock(&shared.windows).slow_accept = Some((
                millis(*duration_ms),
                std::time::Duration::from_millis(*delay_ms),
            ));
        }
        Fault::DropTcp => send_conn_fault(shared, ConnFault::DropTcp),
        Fault::CloseFrame => send_conn_fault(shared, ConnFault::CloseFrame),
        Fault::HalfOpen { duration_ms } => send_conn_fault(
            shared,
            ConnFault::HalfOpen {
                until: millis(*duration_ms),
            },
        ),
        Fault::Garbage(kind) => {
            let sample = lock(&shared.stream).last_frames[Channel::Kline.index()]
                .clone()
                .map_or_else(
                    || wire::sample_kline(shared.kline_ch, shared.symbol.as_str(), t),
                    |text| text.to_string(),
                );
            let (binary, payload) = wire::garbage_payload(*kind, &sample);
            send_conn_fault(
                shared,
                ConnFault::Garbage {
                    binary,
                    payload: payload.into(),
                },
            );
        }
        Fault::BadValue(kind) => apply_bad_value(shared, *kind),
        Fault::OpenOutsideRange => apply_open_outside_range(shared),
        Fault::ImplausiblePrice(factor) => apply_implausible_price(shared, *factor),
        Fault::Duplicate { count } => {
            let mut st = lock(&shared.stream);
            for channel in Channel::ALL {
                if let Some(text) = st.last_frames[channel.index()].clone() {
                    for _ in 0..*count {
                        broadcast(shared, &mut st, channel, Arc::clone(&text), false);
                    }
                }
            }
        }
        Fault::Reorder => lock(&shared.stream).reorder_armed = true,
        Fault::ClockJump { virtual_ms } => {
            shared
                .clock
                .jump(i64::try_from(*virtual_ms).unwrap_or(i64::MAX));
            shared.clock_jumped.notify_one();
        }
        Fault::Gap { candles } => {
            let market = &shared.market;
            let interval = market.interval_ms();
            let mut st = lock(&shared.stream);
            let current = market.bucket_of(st.engine_now.max(t));
            let extra = i64::from(*candles) * interval;
            st.gap = Some(match st.gap {
                Some((from, until)) if until > current => (from, until + extra),
                _ => (current + interval, current + interval + extra),
            });
        }
    }
}

fn send_conn_fault(shared: &Shared, fault: ConnFault) {
    let _ = shared.bus.send(Outbound::Fault(fault));
}

fn apply_bad_value(shared: &Shared, kind: crate::faults::BadValueKind) {
    let market = &shared.market;
    let mut st = lock(&shared.stream);
    let ts = st.engine_now;
    let (Some((_, forming)), Some(ticker)) = (market.forming_at(ts), market.ticker_at(ts)) else {
        tracing::warn!(symbol = %shared.symbol, "bad-value fault ignored: no market data at this time");
        return;
    };
    let input = wire::BadValueInput {
        kline_ch: shared.kline_ch,
        symbol: shared.symbol.as_str(),
        ts,
        previous_ts: if st.last_kline_ts > 0 {
            st.last_kline_ts
        } else {
            ts
        },
        interval_ms: market.interval_ms(),
        forming,
        ticker,
    };
    let (kline, ticker) = wire::bad_value_frames(kind, &input);
    broadcast(shared, &mut st, Channel::Kline, kline.into(), false);
    broadcast(shared, &mut st, Channel::Ticker, ticker.into(), false);
}

/// One kline push of the forming candle with its open above its high (stamped 1 ms after
/// the latest event, so it is neither a duplicate nor out of order), and the same open on
/// the bucket's REST row.
fn apply_open_outside_range(shared: &Shared) {
    let market = &shared.market;
    let mut st = lock(&shared.stream);
    let ts = st.engine_now + 1;
    let Some((candle, mut forming)) = market.forming_at(ts) else {
        tracing::warn!(symbol = %shared.symbol, "open-outside-range fault ignored: no market data at this time");
        return;
    };
    // Above the bar's final high, so the REST row (the whole bar) is outside too.
    forming.open = candle.high().get() + la_core::Decimal::new(1, 1);
    st.open_outside = Some((candle.open_time().as_ms(), forming.open));
    let text = wire::kline_frame(shared.kline_ch, shared.symbol.as_str(), ts, &forming);
    st.last_kline_ts = ts;
    broadcast(shared, &mut st, Channel::Kline, text.into(), false);
}

/// One ticker push off by `factor` now (1 ms after the latest event), and the current
/// bucket's final kline push off by `factor` (the next bucket's, when the current one's is
/// already out).
fn apply_implausible_price(shared: &Shared, factor: PriceFactor) {
    let market = &shared.market;
    let mut st = lock(&shared.stream);
    let ts = st.engine_now + 1;
    let Some(ticker) = market.ticker_at(ts) else {
        tracing::warn!(symbol = %shared.symbol, "implausible-price fault ignored: no market data at this time");
        return;
    };
    let bucket = market.bucket_of(ts);
    let target = if ts - bucket > market.last_offset() {
        bucket + market.interval_ms()
    } else {
        bucket
    };
    st.implausible_close = Some((target, factor));
    let bad = TickerData {
        last: factor.apply(ticker.last),
        ..ticker
    };
    let text = wire::ticker_frame(shared.symbol.as_str(), ts, &bad);
    broadcast(shared, &mut st, Channel::Ticker, text.into(), false);
}

/// The first frame of a new subscription: the current state of `channel` at the engine's
/// latest event time, and the sequence number after which bus frames are newer.
pub(crate) fn snapshot(shared: &Shared, channel: Channel) -> (u64, Option<String>) {
    let market = &shared.market;
    let st = lock(&shared.stream);
    let v = st.engine_now;
    let stopped = market.data_end().is_some() && *shared.exhausted.borrow();
    if stopped || lock(&shared.windows).silenced(Instant::now()) {
        return (st.seq, None);
    }
    let symbol = shared.symbol.as_str();
    let text = match channel {
        Channel::Kline => {
            let bucket = market.bucket_of(v);
            let in_gap = st
                .gap
                .is_some_and(|(from, until)| (from..until).contains(&bucket));
            market
                .forming_at(v)
                .filter(|_| !in_gap)
                .map(|(_, f)| wire::kline_frame(shared.kline_ch, symbol, v, &f))
        }
        Channel::Ticker => market
            .ticker_at(v)
            .map(|t| wire::ticker_frame(symbol, v, &t)),
        Channel::Price => market
            .index_and_mark(v)
            .map(|(index, mark)| wire::price_frame(symbol, v, index, mark, &shared.funding)),
    };
    (st.seq, text)
}
