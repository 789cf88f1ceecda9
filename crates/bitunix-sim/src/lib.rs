//! A protocol-faithful local simulator of the Bitunix public futures API.
//!
//! # Brief overview
//! - [`start`] binds a loopback port and serves, on the same port, the public WebSocket
//!   (`/public/`) and the REST market endpoints exactly as `bitunix-protocol.md` describes
//!   the real exchange: connect frame, no subscribe ack, JSON ping replies, 300-stream cap,
//!   idle and message-rate drops, newest-first string klines with swapped volume labels,
//!   error envelopes on HTTP 200, code 10006 past 10 requests per second.
//! - Market data ([`MarketData`]) comes from a candle CSV (optionally `.gz`), a seeded
//!   generator, or memory, and unfolds on a **virtual clock** running `speed` times real
//!   time. Each candle follows the path open → nearer extreme → farther extreme → close;
//!   the last kline push of every bucket carries the data candle exactly, and ticker pushes
//!   visit all four waypoints, so live sessions see what a backtest on the same data sees.
//! - [`Fault`]s, scheduled on the virtual timeline ([`ScheduledFault`]) or injected through
//!   [`SimHandle::inject`], break things on purpose: silence, drops, close frames,
//!   half-open sockets, garbage and invalid values, duplicates, reordering, gaps, REST rate
//!   limits, slowness and 5xx, refused upgrades, slow accepts.
//! - Everything sent can be recorded as JSON lines ([`SimConfig::record_path`]), and
//!   [`SimHandle::stats`], [`SimHandle::completed_candles`] and
//!   [`SimHandle::skipped_candles`] let tests prove nothing was silently lost.
//!
//! Timing uses only `tokio::time`, so tests under `#[tokio::test(start_paused = true)]`
//! run fast and deterministically.
//!
//! # Layout
//! `scenario` (scripted markets for tests), `config` (settings), `data` (loading), `market`, `path` and `funding` (the market and
//! its funding-rate series as functions of time), `engine` (the push timeline and faults), `ws` and `rest` (the protocol),
//! `server` (listener, TLS, hyper), `wire` (exact frame text), `record`, `stats`,
//! `faults` (the fault vocabulary and its text form), `clock`, `state`, `error`.

mod clock;
mod config;
mod data;
mod engine;
mod error;
mod faults;
mod funding;
mod market;
mod path;
mod record;
mod rest;
pub mod scenario;
mod server;
mod state;
mod stats;
mod wire;
mod ws;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use la_core::{Candle, Clock, TimestampMs};
use tokio::{
    net::TcpListener,
    sync::{mpsc, watch},
    task::JoinHandle,
};

pub use config::{EndBehaviour, FundingShape, MarketData, SimConfig, SimTls, kline_channel};
pub use error::SimError;
pub use faults::{
    BadValueKind, Fault, GarbageKind, PriceFactor, ScheduledFault, parse_fault,
    parse_scheduled_fault, scenario_catalogue,
};
pub use stats::SimStats;

use crate::{
    clock::VirtualClock,
    engine::Engine,
    funding::FundingSeries,
    market::Market,
    record::Recorder,
    server::ConnCtx,
    state::{Shared, SharedParts, lock},
};

/// How long [`SimHandle::shutdown`] waits for connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Starts the simulator: loads the data, binds the listener, and spawns the engine and the
/// accept loop on the current tokio runtime.
///
/// # Errors
/// [`SimError`] if the configuration is invalid, the data unusable, the address not
/// loopback or not bindable, the TLS material rejected, or the record file not creatable.
pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
    config.validate()?;
    let loaded = {
        // Load-time warnings (bad rows, holes) carry the symbol through this span.
        let _span = tracing::info_span!("load_market_data", symbol = %config.symbol).entered();
        data::load(&config.data, config.interval)?
    };
    let mut stats = SimStats {
        data_rows_skipped: loaded.rows_skipped,
        data_skip_reasons: loaded.skip_reasons,
        data_rows_normalized: loaded.rows_normalized,
        data_holes_filled: loaded.holes_filled,
        ..SimStats::default()
    };
    stats.data_exhausted = false;
    let looping = config.end_behaviour == EndBehaviour::Loop;
    let market = Market::new(
        loaded.candles,
        config.interval,
        config.kline_push_ms,
        looping,
    );
    let history_ms = i64::try_from(config.history_candles)
        .unwrap_or(i64::MAX)
        .saturating_mul(market.interval_ms());
    let start_ms = config
        .start_time
        .map_or_else(
            || market.first_open().saturating_add(history_ms),
            TimestampMs::as_ms,
        )
        .max(config.not_before.map_or(i64::MIN, TimestampMs::as_ms));
    let tls = config.tls.as_ref().map(server::tls_acceptor).transpose()?;
    let (recorder, recorder_task) = match &config.record_path {
        Some(path) => {
            let (recorder, task) = Recorder::start(path, config.symbol)?;
            (recorder, Some(task))
        }
        None => (Recorder::default(), None),
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: config.listen,
        source,
    })?;
    let shared = Arc::new(Shared::new(SharedParts {
        symbol: config.symbol,
        market,
        clock: VirtualClock::new(start_ms, config.speed),
        subscribe_delay_ms: config.subscribe_delay_ms,
        funding: FundingSeries::new(config.funding_rate_percent, config.funding_seed),
        funding_shape: config.funding_shape,
        include_forming_bar: config.include_forming_bar,
        idle_drop: Duration::from_millis(config.idle_drop_ms),
        max_client_msgs_per_sec: config.max_client_msgs_per_sec,
        rest_rate_limit_per_sec: config.rest_rate_limit_per_sec,
        stats,
        recorder,
    }));
    lock(&shared.stream).engine_now = start_ms;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (done_tx, done_rx) = mpsc::channel(1);
    let engine = Engine {
        shared: Arc::clone(&shared),
        schedule: config.faults,
        kline_push_ms: to_i64(config.kline_push_ms),
        ticker_push_ms: to_i64(config.ticker_push_ms),
        price_push_ms: to_i64(config.price_push_ms),
        shutdown: shutdown_rx.clone(),
        _done: done_tx.clone(),
    };
    tokio::spawn(engine.run());
    let ctx = ConnCtx {
        shared: Arc::clone(&shared),
        tls,
        shutdown: shutdown_rx,
        done: done_tx,
    };
    tokio::spawn(server::accept_loop(listener, ctx));
    tracing::info!(
        symbol = %shared.symbol,
        %local_addr,
        start_ms,
        speed = config.speed,
        tls = config.tls.is_some(),
        "bitunix simulator listening"
    );
    Ok(SimHandle {
        shared,
        local_addr,
        tls: config.tls.is_some(),
        shutdown_tx,
        done_rx: tokio::sync::Mutex::new(Some(done_rx)),
        recorder_task: std::sync::Mutex::new(recorder_task),
    })
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A running simulator. Dropping it stops the server (without waiting); prefer
/// [`SimHandle::shutdown`] (or [`SimHandle::close`] when shared behind an `Arc`), which
/// also flushes the record file. It is a [`Clock`] reading the virtual exchange time.
#[derive(Debug)]
pub struct SimHandle {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    tls: bool,
    shutdown_tx: watch::Sender<bool>,
    done_rx: tokio::sync::Mutex<Option<mpsc::Receiver<()>>>,
    recorder_task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

/// The simulator's virtual exchange clock as a cloneable [`Clock`], for components that
/// must read the same "now" as the simulator (e.g. a feed's candle-close timers).
#[derive(Clone, Debug)]
pub struct SimVirtualClock {
    shared: Arc<Shared>,
}

impl Clock for SimVirtualClock {
    fn now(&self) -> TimestampMs {
        clamp_ts(self.shared.clock.now_ms())
    }
}

impl Clock for SimHandle {
    fn now(&self) -> TimestampMs {
        self.virtual_now()
    }
}

fn clamp_ts(ms: i64) -> TimestampMs {
    let ms = ms.clamp(TimestampMs::MIN.as_ms(), TimestampMs::MAX.as_ms());
    TimestampMs::new(ms).unwrap_or(TimestampMs::MAX)
}

impl SimHandle {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `ws://127.0.0.1:PORT/public/` (`wss://` with TLS).
    pub fn ws_url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}/public/", self.local_addr)
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS).
    pub fn rest_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// Applies a fault now; its durations count from now.
    pub fn inject(&self, fault: Fault) {
        engine::apply_fault(&self.shared, &fault, self.shared.clock.now_ms());
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SimStats {
        lock(&self.shared.stats).clone()
    }

    /// The virtual exchange time now.
    pub fn virtual_now(&self) -> TimestampMs {
        clamp_ts(self.shared.clock.now_ms())
    }

    /// A cloneable handle on the virtual clock.
    pub fn clock(&self) -> SimVirtualClock {
        SimVirtualClock {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The funding rate, as a **fraction** per period, that settles at the funding time at
    /// or before `t`: what the `price` channel shows as `fr` from that time on and what the
    /// funding-rate history lists for it.
    pub fn settled_funding_rate(&self, t: TimestampMs) -> la_core::Decimal {
        self.shared.funding.settling_at(t.as_ms()) / la_core::Decimal::ONE_HUNDRED
    }

    /// The open time of the first candle in the data.
    pub fn data_start(&self) -> TimestampMs {
        clamp_ts(self.shared.market.first_open())
    }

    /// The first millisecond after the data, when the data ends
    /// ([`EndBehaviour::Stop`]); `None` when it loops.
    pub fn data_end(&self) -> Option<TimestampMs> {
        self.shared.market.data_end().map(clamp_ts)
    }

    /// Every candle whose bucket reached its final push, in order, excluding those a gap
    /// fault skipped (see [`Self::skipped_candles`]). A final push suppressed by a silence,
    /// half-open or reorder fault still counts: the candle is complete on the exchange
    /// and REST serves it. Together the two lists are every candle the client should end
    /// up with.
    pub fn completed_candles(&self) -> Vec<Candle> {
        lock(&self.shared.stream).completed.clone()
    }

    /// Candles whose kline pushes a [`Fault::Gap`] skipped (REST still serves them).
    pub fn skipped_candles(&self) -> Vec<Candle> {
        lock(&self.shared.stream).skipped.clone()
    }

    /// Resolves when the market data has run out (with [`EndBehaviour::Loop`]: when the
    /// first pass ended).
    pub async fn wait_until_exhausted(&self) {
        let mut exhausted = self.shared.exhausted.subscribe();
        let _ = exhausted.wait_for(|done| *done).await;
    }

    /// Stops the server: open sockets get a close frame (1001), tasks end, and the record
    /// file is flushed.
    pub async fn shutdown(self) {
        self.close().await;
    }

    /// [`Self::shutdown`] through a shared reference (for a handle behind an `Arc`).
    /// Calling it again is harmless.
    pub async fn close(&self) {
        self.shutdown_tx.send_replace(true);
        {
            let mut done = self.done_rx.lock().await;
            if let Some(mut done_rx) = done.take() {
                let all_done = async { while done_rx.recv().await.is_some() {} };
                if tokio::time::timeout(SHUTDOWN_GRACE, all_done)
                    .await
                    .is_err()
                {
                    tracing::warn!(
                        symbol = %self.shared.symbol,
                        "simulator tasks still running after the shutdown grace period"
                    );
                }
            }
        }
        self.shared.recorder.close().await;
        let task = lock(&self.recorder_task).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        tracing::info!(symbol = %self.shared.symbol, "bitunix simulator stopped");
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown_tx.send_replace(true);
    }
}
