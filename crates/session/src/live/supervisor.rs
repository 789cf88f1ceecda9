//! The supervisor loop and its event arms (see `live/mod.rs` for the overview).
//!
//! Every arm of the loop returns `Option<StopReason>`; the first `Some` ends the loop. The
//! handlers count and log failures instead of propagating them, so one bad event never
//! takes the session down — only the error budget, an invariant breach or a stop condition
//! does, and each of those is a named reason.

use std::{pin::Pin, sync::Arc, time::Duration};

use la_core::{
    Candle, ConnectionEvent, FundingInfo, MarketEvent, Price, Provenance, Tick, TimestampMs,
};
use la_feed_bitunix::RestClient;
use la_feed_bitunix::SettledFunding;
use tokio::{
    sync::mpsc,
    time::{Instant, MissedTickBehavior, interval, interval_at, sleep},
};

use super::{Live, SessionHooks, hold::Held, within};
use crate::{
    error::error_chain,
    journal::JournalEvent,
    run_files::EquityPoint,
    sources::LiveFeed,
    state::{SaveOutcome, Snapshot, StateWriter},
    stop::StopReason,
};

/// Results of spawned helper tasks, reported back to the loop.
#[derive(Debug)]
pub(super) enum Aux {
    /// Warm-up history arrived (or failed).
    Seed(Result<Vec<Candle>, String>),
    /// The REST upcoming-rate read made shortly before a funding time finished.
    UpcomingRate {
        funding_time: TimestampMs,
        result: Result<FundingInfo, String>,
    },
    /// A funding-rate history lookup for a pending funding time finished.
    FundingHistory {
        funding_time: TimestampMs,
        result: Result<Vec<SettledFunding>, String>,
    },
    /// A catch-up download finished.
    CatchUp(Result<crate::catch_up::CatchUpData, crate::catch_up::CatchUpError>),
    /// A fallback REST price poll finished.
    PolledPrice(Result<Price, String>),
    /// The REST read of the last price asked for when a price quarantine started.
    ReferencePrice(Result<Price, String>),
}

/// The exchange time a market event shows (a lower bound for a forming candle and a gap:
/// the bucket they were seen in has at least opened).
fn exchange_time_of(event: &MarketEvent, interval: la_core::Interval) -> Option<TimestampMs> {
    match event {
        MarketEvent::Tick(tick) => Some(tick.ts()),
        MarketEvent::CandleUpdate(candle) => Some(candle.open_time()),
        MarketEvent::CandleClosed { candle, .. } => Some(candle.close_time()),
        MarketEvent::Funding(info) => Some(info.ts),
        MarketEvent::Gap {
            first_missing,
            missing,
        } => first_missing.checked_add_ms(i64::from(*missing).saturating_mul(interval.as_ms())),
        MarketEvent::Connection(_) => None,
    }
}

/// SIGCONT, which a stopped process receives when it is resumed (never resolves when the
/// handler cannot be installed).
async fn next_sigcont(sigcont: &mut Option<tokio::signal::unix::Signal>) {
    match sigcont {
        Some(signal) => {
            if signal.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Live {
    pub(super) async fn run_loop(
        &mut self,
        mut feed: LiveFeed,
        writer: &mut StateWriter,
        mut aux_rx: mpsc::UnboundedReceiver<Aux>,
        stop: &mut Pin<&mut impl std::future::Future<Output = StopReason>>,
        hooks: &mut SessionHooks,
    ) -> (StopReason, LiveFeed) {
        let mut heartbeat = interval(Duration::from_secs(1));
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut kill_check = interval(Duration::from_millis(500));
        kill_check.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let checkpoint_every = Duration::from_secs(60);
        let mut checkpoint = interval_at(Instant::now() + checkpoint_every, checkpoint_every);
        checkpoint.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let duration = self
            .config
            .duration
            .unwrap_or(Duration::from_secs(100 * 365 * 86_400));
        let deadline = sleep(duration);
        tokio::pin!(deadline);
        let mut sigcont = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::from_raw(libc::SIGCONT),
        ) {
            Ok(signal) => Some(signal),
            Err(err) => {
                tracing::warn!(symbol = %self.config.symbol, error = &err as &dyn std::error::Error, "cannot watch SIGCONT; a stopped-and-resumed process is still noticed by its heartbeat");
                None
            }
        };
        let reason = loop {
            let outcome: Option<StopReason> = tokio::select! {
                biased;
                reason = stop.as_mut() => Some(reason),
                () = &mut deadline => Some(StopReason::DurationReached),
                () = next_sigcont(&mut sigcont) => { self.on_sigcont(); None },
                event = feed.next_event() => match event {
                    Some(event) => self.on_market_event(event, &mut feed),
                    None => Some(StopReason::FeedEnded),
                },
                Some(aux) = aux_rx.recv() => self.on_aux(aux),
                () = sleep_until_opt(self.pending_funding.wait_until) => { self.on_funding_wait_over(); None },
                Some(outcome) = writer.next_outcome() => { self.on_save_outcome(outcome); None },
                _ = kill_check.tick() => self.stop_files(),
                _ = heartbeat.tick() => self.on_heartbeat(&mut feed, hooks),
                _ = checkpoint.tick() => { self.request_save(writer); None },
                () = self.operator.view_wanted() => { self.publish_view(&feed, None, true); None },
            };
            if self.sink.holds_state_changes() {
                // Write-ahead order: the state containing a fill, exit or funding is on disk before the
                // journal records it (see `FileSink::hold_broker_events`).
                let saved = writer
                    .save_now(self.snapshot(), Duration::from_secs(5))
                    .await;
                if !saved {
                    tracing::warn!(symbol = %self.config.symbol, "journaling a money event whose state save failed");
                }
            }
            self.sink.release_held();
            self.journal_finished_catch_ups();
            if let Some(reason) = outcome.or_else(|| self.pending_stop.take()) {
                break reason;
            }
            self.publish_view(&feed, None, false);
        };
        (reason, feed)
    }

    fn mark_data(&mut self) {
        self.last_data = Instant::now();
        self.data_seen = true;
        self.operator.mark_data();
        self.stale_recovered();
    }

    fn on_market_event(&mut self, event: MarketEvent, feed: &mut LiveFeed) -> Option<StopReason> {
        if let Some(ts) = exchange_time_of(&event, self.config.interval) {
            self.observe_exchange_time(ts);
        }
        match event {
            MarketEvent::Tick(tick) => {
                self.mark_data();
                self.tick_or_candle(Held::Tick(tick));
            }
            MarketEvent::CandleUpdate(_) => self.mark_data(),
            MarketEvent::CandleClosed { candle, provenance } => {
                self.mark_data();
                self.tick_or_candle(Held::Candle(candle, provenance));
            }
            MarketEvent::Funding(info) => {
                self.mark_data();
                self.on_funding_observed(info);
            }
            MarketEvent::Connection(change) => self.on_connection(&change, feed),
            MarketEvent::Gap {
                first_missing,
                missing,
            } => {
                tracing::warn!(symbol = %self.config.symbol, first_missing = first_missing.as_ms(), missing, "gap in live candles; backfill requested");
                self.digest.data_gaps += 1;
                self.journal(JournalEvent::GapDetected {
                    detail: &format!("{missing} candles from {}", first_missing.as_ms()),
                });
            }
        }
        self.read_reference_price_if_wanted();
        self.pending_stop.take()
    }

    /// Applies a tick: the broker's exits, then any funding time it reached.
    pub(super) fn apply_tick(&mut self, tick: &Tick) {
        if let Err(err) = self.engine.on_tick(tick, &mut self.sink)
            && let Some(reason) = self.broker_failure(&err)
        {
            self.pending_stop = Some(reason);
        }
        self.maybe_settle_funding();
    }

    /// A price quarantine started: read the last price over REST off the data path; the
    /// answer confirms or refutes the quarantined level (`Aux::ReferencePrice`). Without a
    /// REST client (the mock source) only following prints can confirm it.
    pub(super) fn read_reference_price_if_wanted(&mut self) {
        if !self.engine.take_reference_read_request() {
            return;
        }
        if let Some(rest) = self.rest.clone() {
            self.spawn_last_price_read(rest, Aux::ReferencePrice);
        }
    }

    /// Reads the last price over REST in a spawned task (5 s limit); the answer comes back
    /// to the loop as `report(result)`.
    pub(super) fn spawn_last_price_read(
        &self,
        rest: Arc<RestClient>,
        report: fn(Result<Price, String>) -> Aux,
    ) {
        let (symbol, tx) = (self.config.symbol, self.aux_tx.clone());
        tokio::spawn(async move {
            let result = within(Duration::from_secs(5), rest.last_price(symbol)).await;
            let _ = tx.send(report(result));
        });
    }

    pub(super) fn process_closed_candle(&mut self, candle: &Candle, provenance: Provenance) {
        // Judged against the newest exchange time the account has applied: a candle held
        // back for a moment (seeding, catching up) keeps its place in time, while one that
        // arrives behind newer live data (a late backfill) is history.
        let decided_at = self
            .engine
            .last_event_time()
            .map_or(candle.close_time(), |now| now.max(candle.close_time()));
        if let Err(err) =
            self.engine
                .on_candle_closed(candle, provenance, decided_at, &mut self.sink)
            && let Some(reason) = self.broker_failure(&err)
        {
            self.pending_stop = Some(reason);
        }
        let equity = la_core::Broker::equity(self.engine.broker());
        // Marked at the last accepted price: a quarantined close never values the account.
        let mark_price = self.engine.last_price().unwrap_or(candle.close());
        let mark = self.engine.broker().mark_to_market(mark_price);
        if la_core::Broker::position(self.engine.broker()).is_some() {
            self.counters.exposure_bars += 1;
        }
        self.sink.equity_curve.push(EquityPoint {
            ts_ms: candle.close_time().as_ms(),
            equity,
            mark_equity: mark,
            mark_price: mark_price.get(),
        });
        self.add_curve_point(candle.close_time().as_ms(), mark);
        if let Some(reason) = self.engine.breaker().tripped() {
            let reason = reason.to_owned();
            tracing::error!(symbol = %self.config.symbol, reason = %reason, "circuit breaker tripped; stopping the session");
            self.alert(
                la_ops::alerts::AlertKind::CircuitBreaker,
                la_ops::alerts::Severity::Critical,
                "circuit breaker tripped",
                reason.clone(),
                super::alerting::fields(&[("reason", reason.clone().into())]),
            );
            self.pending_stop = Some(StopReason::CircuitBreaker);
        }
    }

    fn on_connection(&mut self, change: &ConnectionEvent, _feed: &mut LiveFeed) {
        self.operator.mark_changed();
        match change {
            ConnectionEvent::Connected => {
                self.operator.connection = "connected";
                tracing::info!(symbol = %self.config.symbol, "feed connected");
                self.journal(JournalEvent::FeedConnected {
                    detail: "connected",
                });
            }
            ConnectionEvent::Disconnected { reason } => {
                self.operator.connection = "disconnected";
                tracing::warn!(symbol = %self.config.symbol, reason = %reason, "feed disconnected");
                self.journal(JournalEvent::FeedDisconnected { detail: reason });
            }
            ConnectionEvent::Reconnecting { attempt, delay_ms } => {
                self.operator.connection = "reconnecting";
                self.counters.reconnects += 1;
                tracing::warn!(symbol = %self.config.symbol, attempt, delay_ms, "feed reconnecting");
                self.journal(JournalEvent::FeedReconnecting {
                    detail: &format!("attempt {attempt} in {delay_ms} ms"),
                });
            }
        }
    }

    /// A broker error is an invariant breach: halt trading, count it, and stop fatally.
    pub(super) fn broker_failure(
        &mut self,
        err: &la_broker_paper::BrokerError,
    ) -> Option<StopReason> {
        let chain = error_chain(err);
        tracing::error!(symbol = %self.config.symbol, error = err as &dyn std::error::Error, "broker failure; trading halted");
        self.record_error(chain.clone());
        self.engine.halt(&chain);
        self.journal(JournalEvent::TradingHalted { detail: &chain });
        Some(StopReason::FatalError)
    }

    fn on_aux(&mut self, aux: Aux) -> Option<StopReason> {
        match aux {
            Aux::Seed(result) => self.on_seed(result),
            Aux::CatchUp(result) => self.on_catch_up(result),
            Aux::UpcomingRate {
                funding_time,
                result,
            } => self.on_upcoming_rate(funding_time, result),
            Aux::FundingHistory {
                funding_time,
                result,
            } => self.on_funding_history(funding_time, result),
            Aux::PolledPrice(Ok(price)) => {
                let now = self.engine.last_event_time().unwrap_or(TimestampMs::MIN);
                if let Ok(tick) = Tick::new(self.config.symbol, now, price, None, None)
                    && let Err(err) = self.engine.on_tick(&tick, &mut self.sink)
                {
                    return self.broker_failure(&err);
                }
            }
            Aux::PolledPrice(Err(message)) => {
                tracing::warn!(symbol = %self.config.symbol, error = %message, "REST fallback poll failed");
            }
            Aux::ReferencePrice(Ok(price)) => {
                self.engine.on_reference_read(price);
            }
            Aux::ReferencePrice(Err(message)) => {
                tracing::warn!(symbol = %self.config.symbol, error = %message, "REST read of the last price failed; the quarantine waits for following prints");
            }
        }
        self.read_reference_price_if_wanted();
        self.pending_stop.take()
    }

    fn on_save_outcome(&mut self, outcome: SaveOutcome) {
        self.operator
            .publisher
            .observe_save_seconds(outcome.duration.as_secs_f64());
        self.operator.mark_changed();
        match outcome.result {
            Ok(()) => {
                self.counters.saves_ok += 1;
                if std::mem::take(&mut self.digest.save_failing) {
                    self.alert(
                        la_ops::alerts::AlertKind::StateSaveRecovered,
                        la_ops::alerts::Severity::Info,
                        "state saves recovered",
                        "the state files are written again".into(),
                        serde_json::Map::new(),
                    );
                }
            }
            Err(err) => {
                self.counters.save_failures += 1;
                let chain = error_chain(&err);
                if !std::mem::replace(&mut self.digest.save_failing, true) {
                    self.alert(
                        la_ops::alerts::AlertKind::StateSaveFailed,
                        la_ops::alerts::Severity::Critical,
                        "state save failed",
                        format!("{chain}; trading continues on in-memory state"),
                        serde_json::Map::new(),
                    );
                }
                tracing::error!(symbol = %self.config.symbol, error = &err as &dyn std::error::Error, alert = true, "ALERT: state save failed; trading continues on in-memory state, the last good file is intact");
                self.counters.last_error = Some(chain.clone());
                self.journal(JournalEvent::StateSaveFailed { detail: &chain });
            }
        }
    }

    pub(super) fn snapshot(&self) -> Snapshot {
        let mut broker = self.engine.broker().state();
        // Held events go into the same atomic write as the account they changed (see
        // `BrokerState::outbox` and `FileSink::recover_unjournaled`).
        broker.outbox = self.sink.held_events();
        Snapshot {
            broker,
            session: self.session_state(),
        }
    }

    fn request_save(&mut self, writer: &StateWriter) {
        if !writer.request(self.snapshot()) {
            tracing::debug!(symbol = %self.config.symbol, "state save already queued");
        }
    }
}
