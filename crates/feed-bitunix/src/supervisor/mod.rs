//! The supervisor: one task that owns the connection(s), every timer, the decoder, the
//! candle tracker and the REST helper tasks, and turns all of it into [`MarketEvent`]s.
//!
//! Connection life cycle:
//! - the first connect starts at once; after a loss, the first retry is immediate and later
//!   ones follow capped exponential backoff with full jitter ([`crate::backoff`]); the
//!   backoff resets when a connection delivers data (a socket that opens and dies at once
//!   cannot cause a tight loop);
//! - every connection subscribes kline + `ticker` + `price` in **one** frame right after the
//!   upgrade (subscriptions are replayed on every reconnect) and sends a JSON ping every
//!   `ping_interval`;
//! - an idle-data timeout (data frames only; pongs and control frames do not count) or any
//!   read/write failure drops the connection;
//! - after `rotate_after`, a second connection is opened and subscribed; when its first data
//!   frame arrives it becomes the active one and the old one is closed (make-before-break,
//!   de-duplicated by the per-channel timeline). If the active connection dies during a
//!   rotation, the standby is promoted at once.
//!
//! REST confirmations and backfills run as tasks in a `JoinSet` owned here, so intake never
//! waits on REST and shutdown leaves nothing behind.

mod intake;
mod tasks;

use std::{collections::VecDeque, sync::Arc, time::Duration};

use la_core::{Clock, ConnectionEvent, MarketEvent};
use tokio::{
    sync::{mpsc, watch},
    task::{JoinHandle, JoinSet},
    time::Instant,
};
use tokio_rustls::TlsConnector;

use crate::{
    backfill::BackfillQueue,
    backoff::Backoff,
    candles::{Action, CandleTracker},
    config::{FeedConfig, ws_channel},
    counters::Counters,
    decode::{FrameDecoder, timeline::Timeline},
    endpoint::{Endpoint, Kind},
    error::FeedError,
    feed::Control,
    logging::LogLimiter,
    rest::RestClient,
    tls,
    ws::{ConnEvent, ConnEventKind, Connection, Connector},
};
use tasks::TaskOutcome;

/// How long a graceful close may wait for the close frame to be written.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// Capacity of the connections → supervisor channel.
const CONN_EVENTS: usize = 1024;

/// Why a connection attempt was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// (Re)establishing the active connection.
    Primary,
    /// The new connection of a make-before-break rotation.
    Rotation,
}

struct PendingConnect {
    purpose: Purpose,
    task: JoinHandle<Result<Connection, FeedError>>,
}

/// A connection with its liveness bookkeeping.
struct Live {
    conn: Connection,
    last_data: Instant,
    next_ping: Instant,
    pending_pings: VecDeque<(i64, Instant)>,
    got_data: bool,
}

/// Which connection an event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Active,
    Standby,
}

pub(crate) struct Supervisor {
    config: FeedConfig,
    clock: Arc<dyn Clock>,
    rest: RestClient,
    counters: Counters,
    events: mpsc::Sender<MarketEvent>,
    control: Arc<Control>,
    shutdown: watch::Receiver<bool>,
    stopping: bool,
    connector: Connector,
    conn_tx: mpsc::Sender<ConnEvent>,
    conn_rx: mpsc::Receiver<ConnEvent>,
    decoder: FrameDecoder,
    timeline: Timeline,
    tracker: CandleTracker,
    backfill: BackfillQueue,
    active: Option<Live>,
    standby: Option<Live>,
    connecting: Option<PendingConnect>,
    reconnect_at: Option<Instant>,
    rotation_at: Option<Instant>,
    backoff: Backoff,
    next_conn_id: u64,
    epoch: u64,
    ever_connected: bool,
    tasks: JoinSet<TaskOutcome>,
    logs: LogLimiter,
    actions: Vec<Action>,
    subscribe_frame: String,
    last_funding: Option<(la_core::Decimal, Option<la_core::TimestampMs>, Instant)>,
}

/// Resolves once shutdown was requested (or every sender is gone).
async fn wait_shutdown(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn wait_connect(
    slot: &mut Option<PendingConnect>,
) -> (Purpose, Result<Connection, FeedError>) {
    let Some(pending) = slot.as_mut() else {
        return std::future::pending().await;
    };
    let joined = (&mut pending.task).await;
    let purpose = pending.purpose;
    *slot = None;
    let result = joined
        .map_err(|e| FeedError::WebSocket(format!("connect task failed: {e}")))
        .and_then(|r| r);
    (purpose, result)
}

fn earliest(times: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    times.into_iter().flatten().min()
}

impl Supervisor {
    pub(crate) fn new(
        config: FeedConfig,
        clock: Arc<dyn Clock>,
        rest: RestClient,
        counters: Counters,
        events: mpsc::Sender<MarketEvent>,
        control: Arc<Control>,
    ) -> Result<Self, FeedError> {
        let target = Endpoint::parse(&config.ws_url, Kind::WebSocket)?;
        let tls = TlsConnector::from(tls::client_config(config.tls_roots.as_deref())?);
        let connector = Connector {
            target,
            tls,
            connect_timeout: config.connect_timeout,
            max_message_size: config.max_message_size,
            max_msgs_per_window: config.max_client_msgs_per_sec,
            counters: counters.clone(),
        };
        let (conn_tx, conn_rx) = mpsc::channel(CONN_EVENTS);
        let symbol = config.symbol;
        let kline = ws_channel(config.interval).unwrap_or("market_kline_1min");
        let subscribe_frame = format!(
            r#"{{"op":"subscribe","args":[{{"symbol":"{symbol}","ch":"{kline}"}},{{"symbol":"{symbol}","ch":"ticker"}},{{"symbol":"{symbol}","ch":"price"}}]}}"#
        );
        Ok(Self {
            decoder: FrameDecoder::new(config.interval)
                .with_max_message_size(config.max_message_size),
            timeline: Timeline::new(config.max_ts_jump, config.max_clock_skew),
            tracker: CandleTracker::new(config.interval, config.close_grace),
            backfill: BackfillQueue::new(config.interval, config.backfill_min_interval),
            backoff: Backoff::new(
                config.backoff_initial,
                config.backoff_max,
                true,
                config.seed,
            ),
            shutdown: control.shutdown.subscribe(),
            config,
            clock,
            rest,
            counters,
            events,
            control,
            stopping: false,
            connector,
            conn_tx,
            conn_rx,
            active: None,
            standby: None,
            connecting: None,
            reconnect_at: Some(Instant::now()),
            rotation_at: None,
            next_conn_id: 0,
            epoch: 0,
            ever_connected: false,
            tasks: JoinSet::new(),
            logs: LogLimiter::new(Duration::from_secs(10)),
            actions: Vec::with_capacity(8),
            subscribe_frame,
            last_funding: None,
        })
    }

    /// The supervisor loop; returns after shutdown (or when the consumer is gone).
    pub(crate) async fn run(mut self) {
        tracing::info!(symbol = %self.config.symbol, url = %la_core::redact_url(&self.config.ws_url), "feed starting");
        while !self.stopping {
            self.counters.lock().supervisor_wakeups += 1;
            let now = Instant::now();
            if self.active.is_none()
                && self.connecting.is_none()
                && self.reconnect_at.is_some_and(|at| at <= now)
            {
                self.reconnect_at = None;
                self.start_connect(Purpose::Primary);
            }
            if let Some(batch) = self.backfill.start(now) {
                self.spawn_backfill(batch);
            }
            let timer = self.next_timer();
            tokio::select! {
                biased;
                () = wait_shutdown(&mut self.shutdown) => self.stopping = true,
                () = self.events.closed() => self.stopping = true,
                () = self.control.reconnect.notified() => {
                    self.backoff.reset();
                    self.drop_active("reconnect requested".to_owned(), true).await;
                }
                Some(event) = self.conn_rx.recv() => self.on_conn_event(event).await,
                (purpose, result) = wait_connect(&mut self.connecting) => {
                    self.on_connect_result(purpose, result).await;
                }
                Some(joined) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    match joined {
                        Ok(outcome) => self.on_task(outcome).await,
                        Err(error) => tracing::warn!(
                            symbol = %self.config.symbol, %error, "feed helper task failed"
                        ),
                    }
                }
                () = sleep_until_opt(timer) => self.on_timers().await,
            }
        }
        self.teardown().await;
        tracing::info!(symbol = %self.config.symbol, "feed stopped");
    }

    fn next_timer(&self) -> Option<Instant> {
        let idle = self.config.idle_timeout;
        let reconnect = if self.active.is_none() && self.connecting.is_none() {
            self.reconnect_at
        } else {
            None
        };
        let rotation =
            if self.active.is_some() && self.standby.is_none() && self.connecting.is_none() {
                self.rotation_at
            } else {
                None
            };
        earliest([
            reconnect,
            self.active.as_ref().map(|l| l.last_data + idle),
            self.active.as_ref().map(|l| l.next_ping),
            self.standby.as_ref().map(|l| l.next_ping),
            self.standby.as_ref().map(|l| l.conn.opened_at + idle),
            self.tracker.deadline(),
            rotation,
            self.backfill.ready_at(),
        ])
    }

    fn start_connect(&mut self, purpose: Purpose) {
        self.next_conn_id += 1;
        let id = self.next_conn_id;
        let connector = self.connector.clone();
        let events = self.conn_tx.clone();
        self.connecting = Some(PendingConnect {
            purpose,
            task: tokio::spawn(async move { connector.open(id, events).await }),
        });
    }

    /// Sends an event that must not be lost (waits for room; gives up only on shutdown).
    async fn emit(&mut self, event: MarketEvent) {
        tokio::select! {
            biased;
            sent = self.events.send(event) => {
                if sent.is_err() {
                    self.stopping = true;
                }
            }
            () = wait_shutdown(&mut self.shutdown) => self.stopping = true,
        }
    }

    /// Sends an event that may be dropped (and counted) when the consumer is behind.
    fn emit_lossy(&mut self, event: MarketEvent, kind: &'static str) {
        match self.events.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.counters.bump(|c| &mut c.events_dropped, kind);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.stopping = true,
        }
    }

    fn new_live(&self, conn: Connection) -> Live {
        let now = Instant::now();
        Live {
            conn,
            last_data: now,
            next_ping: now + self.config.ping_interval,
            pending_pings: VecDeque::new(),
            got_data: false,
        }
    }

    fn schedule_reconnect(&mut self) -> (u32, Duration) {
        let delay = self.backoff.next_delay();
        self.reconnect_at = Some(Instant::now() + delay);
        (self.backoff.attempt(), delay)
    }

    async fn on_connect_result(&mut self, purpose: Purpose, result: Result<Connection, FeedError>) {
        let symbol = self.config.symbol;
        // A rotation connect that finishes after the active connection died is the new
        // primary connection.
        let purpose = if self.active.is_none() {
            Purpose::Primary
        } else {
            purpose
        };
        match (purpose, result) {
            (Purpose::Primary, Ok(conn)) => {
                if !conn.send(self.subscribe_frame.clone()) {
                    tracing::warn!(%symbol, "could not queue the subscribe frame");
                }
                self.epoch += 1;
                if self.ever_connected {
                    self.counters.lock().reconnects += 1;
                }
                self.ever_connected = true;
                tracing::info!(%symbol, conn = conn.id, "connected and subscribed");
                self.active = Some(self.new_live(conn));
                self.rotation_at = Some(Instant::now() + self.config.rotate_after);
                self.emit(MarketEvent::Connection(ConnectionEvent::Connected))
                    .await;
            }
            (Purpose::Primary, Err(error)) => {
                let (attempt, delay) = self.schedule_reconnect();
                let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                if let Some(suppressed) = self.logs.permit("connect_failed") {
                    tracing::warn!(%symbol, %error, attempt, delay_ms, suppressed, "connect failed");
                }
                self.emit(MarketEvent::Connection(ConnectionEvent::Reconnecting {
                    attempt,
                    delay_ms,
                }))
                .await;
            }
            (Purpose::Rotation, Ok(conn)) => {
                if !conn.send(self.subscribe_frame.clone()) {
                    tracing::warn!(%symbol, "could not queue the subscribe frame (rotation)");
                }
                tracing::info!(%symbol, conn = conn.id, "rotation: standby connection subscribed");
                self.standby = Some(self.new_live(conn));
            }
            (Purpose::Rotation, Err(error)) => {
                tracing::warn!(%symbol, %error, "rotation connect failed; retrying later");
                self.rotation_at = Some(Instant::now() + self.config.backoff_max);
            }
        }
    }

    /// Drops the active connection. A standby (mid-rotation) is promoted at once; otherwise
    /// a reconnect is scheduled.
    async fn drop_active(&mut self, reason: String, graceful: bool) {
        let Some(live) = self.active.take() else {
            return;
        };
        tracing::warn!(symbol = %self.config.symbol, conn = live.conn.id, %reason, "disconnected");
        live.conn.close(graceful, CLOSE_GRACE).await;
        self.emit(MarketEvent::Connection(ConnectionEvent::Disconnected {
            reason,
        }))
        .await;
        if let Some(standby) = self.standby.take() {
            tracing::info!(symbol = %self.config.symbol, conn = standby.conn.id, "promoting the standby connection");
            self.epoch += 1;
            self.counters.lock().reconnects += 1;
            self.rotation_at = Some(standby.conn.opened_at + self.config.rotate_after);
            self.active = Some(standby);
            self.emit(MarketEvent::Connection(ConnectionEvent::Connected))
                .await;
            return;
        }
        self.rotation_at = None;
        let (attempt, delay) = self.schedule_reconnect();
        self.emit(MarketEvent::Connection(ConnectionEvent::Reconnecting {
            attempt,
            delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        }))
        .await;
    }

    async fn drop_standby(&mut self, reason: &str) {
        if let Some(standby) = self.standby.take() {
            tracing::warn!(symbol = %self.config.symbol, conn = standby.conn.id, reason, "rotation abandoned");
            standby.conn.close(false, CLOSE_GRACE).await;
            self.rotation_at = Some(Instant::now() + self.config.backoff_max);
        }
    }

    fn slot_of(&self, conn_id: u64) -> Option<Slot> {
        if self.active.as_ref().is_some_and(|l| l.conn.id == conn_id) {
            Some(Slot::Active)
        } else if self.standby.as_ref().is_some_and(|l| l.conn.id == conn_id) {
            Some(Slot::Standby)
        } else {
            None
        }
    }

    async fn on_conn_event(&mut self, event: ConnEvent) {
        let Some(slot) = self.slot_of(event.conn_id) else {
            return; // A connection already replaced; its last words do not matter.
        };
        match event.kind {
            ConnEventKind::Text(mut bytes) => self.on_text(slot, &mut bytes).await,
            ConnEventKind::Rejected(rejection, bytes) => self.reject(rejection, &bytes),
            ConnEventKind::Closed(reason) => match slot {
                Slot::Active => self.drop_active(reason, false).await,
                Slot::Standby => self.drop_standby(&reason).await,
            },
        }
    }

    async fn on_timers(&mut self) {
        let now = Instant::now();
        let idle = self.config.idle_timeout;
        if self
            .active
            .as_ref()
            .is_some_and(|l| now >= l.last_data + idle)
        {
            let reason = format!("idle timeout: no data for {} ms", idle.as_millis());
            self.drop_active(reason, false).await;
        }
        if self
            .standby
            .as_ref()
            .is_some_and(|l| !l.got_data && now >= l.conn.opened_at + idle)
        {
            self.drop_standby("no data on the standby connection").await;
        }
        let ping_value = self.clock.now().as_secs();
        let interval = self.config.ping_interval;
        let mut sent = 0;
        for live in [self.active.as_mut(), self.standby.as_mut()]
            .into_iter()
            .flatten()
        {
            if now >= live.next_ping {
                live.next_ping = now + interval;
                if live
                    .conn
                    .send(format!(r#"{{"op":"ping","ping":{ping_value}}}"#))
                {
                    live.pending_pings.push_back((ping_value, now));
                    if live.pending_pings.len() > 8 {
                        live.pending_pings.pop_front();
                    }
                    sent += 1;
                }
            }
        }
        if sent > 0 {
            self.counters.lock().pings_sent += sent;
        }
        self.tracker.on_deadline(now, &mut self.actions);
        self.perform_actions().await;
        if self.rotation_at.is_some_and(|at| now >= at)
            && self.active.is_some()
            && self.standby.is_none()
            && self.connecting.is_none()
        {
            self.rotation_at = None;
            tracing::info!(symbol = %self.config.symbol, "planned rotation: opening a new connection");
            self.start_connect(Purpose::Rotation);
        }
    }

    async fn teardown(&mut self) {
        if let Some(pending) = self.connecting.take() {
            pending.task.abort();
            let _ = pending.task.await;
        }
        for live in [self.active.take(), self.standby.take()]
            .into_iter()
            .flatten()
        {
            live.conn.close(true, CLOSE_GRACE).await;
        }
        self.tasks.shutdown().await;
        let _ = self
            .events
            .try_send(MarketEvent::Connection(ConnectionEvent::Disconnected {
                reason: "shutdown".to_owned(),
            }));
    }
}
