//! The live session's state and its supervisor loop (see `live.rs` for the overview).
//!
//! Every arm of the loop returns `Option<StopReason>`; the first `Some` ends the loop. The
//! handlers count and log failures instead of propagating them, so one bad event never
//! takes the session down — only the error budget, an invariant breach or a stop condition
//! does, and each of those is a named reason.

use std::{path::PathBuf, pin::Pin, sync::Arc, time::Duration};

use la_core::{
    Candle, ConnectionEvent, FundingInfo, MarketEvent, Price, Provenance, Tick, TimestampMs,
};
use la_feed_bitunix::RestClient;
use serde::Serialize;
use tokio::{
    sync::mpsc,
    time::{Instant, MissedTickBehavior, interval, interval_at, sleep},
};

use crate::{
    config::RunConfig,
    engine::Engine,
    funding::FundingSchedule,
    live::{SessionHooks, session_state},
    run_files::{EquityPoint, FileSink},
    sources::LiveFeed,
    state::{SaveOutcome, Snapshot, StateWriter},
    status::rss_bytes,
    stop::StopReason,
    workspace::Workspace,
};

/// Results of spawned helper tasks, reported back to the loop.
#[derive(Debug)]
pub(crate) enum Aux {
    /// Warm-up history arrived (or failed).
    Seed(Result<Vec<Candle>, String>),
    /// A funding-rate lookup for a funding time finished.
    FundingRate {
        funding_time: TimestampMs,
        result: Result<FundingInfo, String>,
    },
    /// A fallback REST price poll finished.
    PolledPrice(Result<Price, String>),
}

/// The stage of the stale-data ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum StaleStage {
    Fresh,
    Warned,
    ReconnectRequested,
    PollingRest,
}

/// Everything the supervisor owns while running.
pub(crate) struct Live {
    pub(crate) config: RunConfig,
    pub(crate) workspace: Workspace,
    pub(crate) run_id: String,
    pub(crate) run_dir: PathBuf,
    pub(crate) started_wall_ms: i64,
    pub(crate) started: Instant,
    pub(crate) engine: Engine,
    pub(crate) sink: FileSink,
    pub(crate) starting_equity: la_core::Decimal,
    pub(crate) session_start_equity: la_core::Decimal,
    pub(crate) aux_tx: mpsc::UnboundedSender<Aux>,
    pub(crate) rest: Option<Arc<RestClient>>,
    pub(crate) seeding: Option<Vec<(Candle, Provenance)>>,
    pub(crate) last_data: Instant,
    pub(crate) stale: StaleStage,
    pub(crate) last_poll: Option<Instant>,
    pub(crate) funding: FundingSchedule,
    pub(crate) errors: u32,
    pub(crate) last_error: Option<String>,
    pub(crate) reconnects: u64,
    pub(crate) save_failures: u64,
    pub(crate) saves_ok: u64,
    pub(crate) heartbeats: u64,
    pub(crate) halted: Option<String>,
    pub(crate) pending_stop: Option<StopReason>,
}

#[derive(Serialize)]
struct Note<'a> {
    detail: &'a str,
}

impl Live {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        config: RunConfig,
        workspace: Workspace,
        run_id: String,
        run_dir: PathBuf,
        started_wall_ms: i64,
        engine: Engine,
        sink: FileSink,
        starting_equity: la_core::Decimal,
        aux_tx: mpsc::UnboundedSender<Aux>,
        rest: Option<Arc<RestClient>>,
    ) -> Self {
        let session_start_equity = la_core::Broker::equity(engine.broker());
        let mut sink = sink;
        sink.hold_broker_events();
        Self {
            config,
            workspace,
            run_id,
            run_dir,
            started_wall_ms,
            started: Instant::now(),
            engine,
            sink,
            starting_equity,
            session_start_equity,
            aux_tx,
            rest,
            seeding: None,
            last_data: Instant::now(),
            stale: StaleStage::Fresh,
            last_poll: None,
            funding: FundingSchedule::default(),
            errors: 0,
            last_error: None,
            reconnects: 0,
            save_failures: 0,
            saves_ok: 0,
            heartbeats: 0,
            halted: None,
            pending_stop: None,
        }
    }

    /// Writes a session-level event to the journal.
    pub(crate) fn journal_session_event(&mut self, kind: &str, detail: &str) {
        let ts = self.engine.last_event_time().map(TimestampMs::as_ms);
        self.sink.journal().append(kind, ts, &Note { detail });
    }

    pub(crate) fn record_error(&mut self, message: String) {
        self.errors = self.errors.saturating_add(1);
        self.last_error = Some(message);
    }

    /// Feeds warm-up history to the strategy (never trades on it).
    pub(crate) fn apply_history(&mut self, history: Vec<Candle>) {
        let buffered = self.seeding.take().unwrap_or_default();
        let first_live = buffered.first().map(|(c, _)| c.open_time());
        let n_history = history.len();
        for candle in history
            .iter()
            .filter(|c| first_live.is_none_or(|first| c.open_time() < first))
        {
            self.engine
                .on_history_candle(candle, Provenance::Historical, &mut self.sink);
        }
        tracing::info!(symbol = %self.config.symbol, candles = n_history, "warm-up history applied");
        for (candle, provenance) in buffered {
            self.process_closed_candle(&candle, provenance);
        }
    }

    /// Fetches warm-up history over REST off the data path, with a timeout.
    pub(crate) fn spawn_seed(&mut self, rest: Arc<RestClient>, bars: usize, now: TimestampMs) {
        self.seeding = Some(Vec::new());
        let (symbol, interval, tx) = (
            self.config.symbol,
            self.config.interval,
            self.aux_tx.clone(),
        );
        tokio::spawn(async move {
            let fetched = tokio::time::timeout(
                Duration::from_secs(15),
                rest.klines_back(symbol, interval, bars, now),
            )
            .await;
            let result = match fetched {
                Ok(Ok(candles)) => Ok(candles),
                Ok(Err(err)) => Err(error_chain(&err)),
                Err(_) => Err("timed out after 15s".to_owned()),
            };
            let _ = tx.send(Aux::Seed(result));
        });
    }

    pub(crate) async fn run_loop(
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
        let reason = loop {
            let outcome: Option<StopReason> = tokio::select! {
                biased;
                reason = stop.as_mut() => Some(reason),
                () = &mut deadline => Some(StopReason::DurationReached),
                event = feed.next_event() => match event {
                    Some(event) => self.on_market_event(event, &mut feed),
                    None => Some(StopReason::FeedEnded),
                },
                Some(aux) = aux_rx.recv() => self.on_aux(aux),
                Some(outcome) = writer.next_outcome() => { self.on_save_outcome(outcome); None },
                _ = kill_check.tick() => self.stop_files(),
                _ = heartbeat.tick() => self.on_heartbeat(&mut feed, hooks),
                _ = checkpoint.tick() => { self.request_save(writer); None },
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
            if let Some(reason) = outcome.or_else(|| self.pending_stop.take()) {
                break reason;
            }
        };
        (reason, feed)
    }

    fn mark_data(&mut self) {
        self.last_data = Instant::now();
        if self.stale != StaleStage::Fresh {
            tracing::info!(symbol = %self.config.symbol, "market data resumed");
            self.journal_session_event("stale_data_recovered", "market data resumed");
            self.stale = StaleStage::Fresh;
        }
    }

    fn on_market_event(&mut self, event: MarketEvent, feed: &mut LiveFeed) -> Option<StopReason> {
        match event {
            MarketEvent::Tick(tick) => {
                self.mark_data();
                if let Err(err) = self.engine.on_tick(&tick, &mut self.sink) {
                    return self.broker_failure(&err);
                }
                self.maybe_settle_funding();
            }
            MarketEvent::CandleUpdate(_) => self.mark_data(),
            MarketEvent::CandleClosed { candle, provenance } => {
                self.mark_data();
                if let Some(buffer) = self.seeding.as_mut() {
                    buffer.push((candle, provenance));
                } else {
                    self.process_closed_candle(&candle, provenance);
                }
                self.maybe_settle_funding();
            }
            MarketEvent::Funding(info) => {
                self.mark_data();
                self.funding.observe(info);
                self.engine.observe_funding_rate(info.rate);
            }
            MarketEvent::Connection(change) => self.on_connection(&change, feed),
            MarketEvent::Gap {
                first_missing,
                missing,
            } => {
                tracing::warn!(symbol = %self.config.symbol, first_missing = first_missing.as_ms(), missing, "gap in live candles; backfill requested");
                self.journal_session_event(
                    "gap_detected",
                    &format!("{missing} candles from {}", first_missing.as_ms()),
                );
            }
        }
        self.pending_stop.take()
    }

    pub(crate) fn process_closed_candle(&mut self, candle: &Candle, provenance: Provenance) {
        if let Err(err) = self
            .engine
            .on_candle_closed(candle, provenance, &mut self.sink)
            && let Some(reason) = self.broker_failure(&err)
        {
            self.pending_stop = Some(reason);
        }
        let equity = la_core::Broker::equity(self.engine.broker());
        let mark = self.engine.broker().mark_to_market(candle.close());
        self.sink.equity_curve.push(EquityPoint {
            ts_ms: candle.close_time().as_ms(),
            equity,
            mark_equity: mark,
        });
        if let Some(reason) = self.engine.breaker().tripped() {
            let reason = reason.to_owned();
            tracing::error!(symbol = %self.config.symbol, reason = %reason, "circuit breaker tripped; stopping the session");
            self.pending_stop = Some(StopReason::CircuitBreaker);
        }
    }

    fn on_connection(&mut self, change: &ConnectionEvent, _feed: &mut LiveFeed) {
        match change {
            ConnectionEvent::Connected => {
                tracing::info!(symbol = %self.config.symbol, "feed connected");
                self.journal_session_event("feed_connected", "connected");
            }
            ConnectionEvent::Disconnected { reason } => {
                tracing::warn!(symbol = %self.config.symbol, reason = %reason, "feed disconnected");
                self.journal_session_event("feed_disconnected", reason);
            }
            ConnectionEvent::Reconnecting { attempt, delay_ms } => {
                self.reconnects += 1;
                tracing::warn!(symbol = %self.config.symbol, attempt, delay_ms, "feed reconnecting");
                self.journal_session_event(
                    "feed_reconnecting",
                    &format!("attempt {attempt} in {delay_ms} ms"),
                );
            }
        }
    }

    /// A broker error is an invariant breach: halt trading, count it, and stop fatally.
    fn broker_failure(&mut self, err: &la_broker_paper::BrokerError) -> Option<StopReason> {
        let chain = error_chain(err);
        tracing::error!(symbol = %self.config.symbol, error = err as &dyn std::error::Error, "broker failure; trading halted");
        self.record_error(chain.clone());
        self.engine.halt(&chain);
        self.halted = Some(chain.clone());
        self.journal_session_event("trading_halted", &chain);
        Some(StopReason::FatalError)
    }

    fn on_aux(&mut self, aux: Aux) -> Option<StopReason> {
        match aux {
            Aux::Seed(Ok(candles)) => self.apply_history(candles),
            Aux::Seed(Err(message)) => {
                tracing::warn!(symbol = %self.config.symbol, error = %message, "degraded start: warm-up history unavailable; the warm-up gate fills from live candles");
                self.journal_session_event("degraded_start", &message);
                self.apply_history(Vec::new());
            }
            Aux::FundingRate {
                funding_time,
                result,
            } => self.on_funding_lookup(funding_time, result),
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
        }
        self.pending_stop.take()
    }

    fn on_save_outcome(&mut self, outcome: SaveOutcome) {
        match outcome.result {
            Ok(()) => self.saves_ok += 1,
            Err(err) => {
                self.save_failures += 1;
                let chain = error_chain(&err);
                tracing::error!(symbol = %self.config.symbol, error = &err as &dyn std::error::Error, alert = true, "ALERT: state save failed; trading continues on in-memory state, the last good file is intact");
                self.last_error = Some(chain.clone());
                self.journal_session_event("state_save_failed", &chain);
            }
        }
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let mut broker = self.engine.broker().state();
        // Held events go into the same atomic write as the account they changed (see
        // `BrokerState::outbox` and `FileSink::recover_unjournaled`).
        broker.outbox = self.sink.held_events().to_vec();
        Snapshot {
            broker,
            session: session_state(self),
        }
    }

    pub(crate) fn request_save(&mut self, writer: &StateWriter) {
        if !writer.request(self.snapshot()) {
            tracing::debug!(symbol = %self.config.symbol, "state save already queued");
        }
    }

    /// Checks the kill switch and the stop-request file (every 500 ms).
    fn stop_files(&mut self) -> Option<StopReason> {
        if self.kill_switch_engaged() {
            return Some(StopReason::KillSwitch);
        }
        let request = self.workspace.stop_request_file();
        if request.exists() {
            let _ = std::fs::remove_file(&request);
            tracing::info!(symbol = %self.config.symbol, "stop requested");
            return Some(StopReason::StopRequested);
        }
        None
    }

    fn kill_switch_engaged(&mut self) -> bool {
        let env = std::env::var("LA_KILL_SWITCH")
            .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "TRUE" | "yes"));
        let kill_file = self.workspace.kill_file();
        let file = kill_file.exists();
        if file {
            let _ = std::fs::remove_file(&kill_file);
        }
        if env || file {
            tracing::warn!(symbol = %self.config.symbol, from_file = file, "kill switch engaged");
        }
        env || file
    }

    fn on_heartbeat(
        &mut self,
        feed: &mut LiveFeed,
        hooks: &mut SessionHooks,
    ) -> Option<StopReason> {
        self.heartbeats += 1;
        if let Some(reason) = self.stale_ladder(feed) {
            return Some(reason);
        }
        if self.heartbeats.is_multiple_of(5)
            && let Some(rss) = rss_bytes()
            && rss > self.config.max_rss_bytes
        {
            tracing::error!(symbol = %self.config.symbol, rss, limit = self.config.max_rss_bytes, "memory ceiling exceeded");
            return Some(StopReason::MemoryLimit);
        }
        if self.errors > self.config.error_budget {
            tracing::error!(symbol = %self.config.symbol, errors = self.errors, budget = self.config.error_budget, "error budget exhausted");
            return Some(StopReason::ErrorBudget);
        }
        let beat = self.heartbeat(feed, None);
        if let Err(err) = crate::status::write_json_replace(&self.workspace.heartbeat(), &beat) {
            tracing::warn!(symbol = %self.config.symbol, error = &err as &dyn std::error::Error, "cannot write heartbeat");
        }
        if let Some(status) = hooks.on_status.as_mut() {
            status(&beat);
        }
        if self.heartbeats.is_multiple_of(10) {
            self.sink.flush();
        }
        None
    }

    fn stale_ladder(&mut self, feed: &mut LiveFeed) -> Option<StopReason> {
        let timeout = self.config.stale_timeout;
        let age = self.last_data.elapsed();
        let warn_after = Duration::from_secs(15).min(timeout / 4);
        let reconnect_after = Duration::from_secs(30).min(timeout / 2);
        let poll_after = Duration::from_secs(45).min(timeout * 3 / 4);
        if age >= timeout {
            tracing::error!(symbol = %self.config.symbol, age_s = age.as_secs(), "no market data for the stale timeout; stopping");
            self.journal_session_event(
                "stale_data_halt",
                &format!("no data for {}s", age.as_secs()),
            );
            return Some(StopReason::StaleData);
        }
        if age >= warn_after && self.stale < StaleStage::Warned {
            tracing::warn!(symbol = %self.config.symbol, age_s = age.as_secs(), "no market data");
            self.journal_session_event(
                "stale_data_warning",
                &format!("no data for {}s", age.as_secs()),
            );
            self.stale = StaleStage::Warned;
        }
        if age >= reconnect_after && self.stale < StaleStage::ReconnectRequested {
            tracing::warn!(symbol = %self.config.symbol, age_s = age.as_secs(), "stale data: asking the feed to reconnect");
            feed.request_reconnect();
            self.stale = StaleStage::ReconnectRequested;
        }
        if age >= poll_after {
            self.stale = StaleStage::PollingRest;
            let due = self
                .last_poll
                .is_none_or(|at| at.elapsed() >= Duration::from_secs(10));
            if let (true, Some(rest)) = (due, feed.rest()) {
                self.last_poll = Some(Instant::now());
                let (symbol, tx) = (self.config.symbol, self.aux_tx.clone());
                tokio::spawn(async move {
                    let polled =
                        tokio::time::timeout(Duration::from_secs(5), rest.last_price(symbol)).await;
                    let result = match polled {
                        Ok(Ok(price)) => Ok(price),
                        Ok(Err(err)) => Err(error_chain(&err)),
                        Err(_) => Err("timed out".to_owned()),
                    };
                    let _ = tx.send(Aux::PolledPrice(result));
                });
            }
        }
        None
    }

    pub(crate) fn feed_rejections(feed: &LiveFeed) -> std::collections::BTreeMap<String, u64> {
        feed.counters()
            .map(|c| c.rejections_by_reason)
            .unwrap_or_default()
    }
}

/// Formats an error and all its sources as `outer: inner: root`.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
