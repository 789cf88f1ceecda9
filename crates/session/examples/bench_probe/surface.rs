//! The operator surface inside `bench_probe loopback --http loopback`: the session's HTTP
//! server (`la_ops::HttpServer`: dashboard, event streams, `/metrics`, `/healthz`) on the
//! probe's runtime, fed by a publisher at the live session's rate (`Publisher::due`: five views
//! a second while a dashboard stream is open, none otherwise), with `--sse-clients N` dashboard
//! event streams held open and read to their end (`process::open_event_streams`, the P4
//! footprint's clients). So the P2 loopback figures can be compared with and without ten
//! dashboards watching.
//!
//! The view is built after each event has been handled and recorded, as the live supervisor
//! does, from the same sources: the engine and its broker (price, equity, the open position,
//! counters), the run files' recent decisions, decision counts and trades, the feed's counters,
//! and the equity curve of closed candles. It leaves out what the probe has no equivalent for
//! (today's ledger split, downtimes, the stale ladder's stage), so its encoding is a little
//! smaller than a live session's.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use la_core::{Broker, TimestampMs};
use la_feed_bitunix::CountersSnapshot;
use la_ops::{
    HttpServer, Publisher, SessionView,
    view::{Curve, CurvePoint, DecisionView, FeedView, PositionView, TradeView},
};
use la_session::{engine::Engine, run_files::FileSink};

use crate::process::open_event_streams;

/// Closed trades and decisions shown (as the live session).
const RECENT: usize = 20;
/// Points of the published equity curve (as the live session).
const CURVE_POINTS: usize = 720;

/// The HTTP surface, its publisher and its dashboard clients.
pub(crate) struct ProbeSurface {
    publisher: Publisher,
    server: HttpServer,
    curve: Curve,
    sse_bytes: Arc<AtomicU64>,
    started: Instant,
}

impl ProbeSurface {
    /// Serves on an ephemeral loopback port and opens `sse_clients` event streams; returns
    /// once every stream is counted as a watcher.
    pub(crate) async fn start(sse_clients: usize) -> Result<Self, String> {
        let (mut publisher, _) = la_ops::channel();
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = HttpServer::start(addr, publisher.surface())
            .await
            .map_err(|e| format!("HTTP surface: {e}"))?;
        publisher.publish(SessionView::default());
        let url = format!("http://{}/", server.local_addr());
        let sse_bytes = open_event_streams(&url, sse_clients)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while publisher.watchers() < sse_clients {
            if Instant::now() > deadline {
                return Err(format!(
                    "{} of {sse_clients} dashboard streams open after 10 s",
                    publisher.watchers()
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(Self {
            publisher,
            server,
            curve: Curve::new(CURVE_POINTS),
            sse_bytes,
            started: Instant::now(),
        })
    }

    /// Market data arrived now (for `/healthz` and the view's data age).
    pub(crate) fn mark_data(&self) {
        self.publisher.mark_data();
    }

    /// Adds a closed candle's equity to the curve.
    pub(crate) fn add_curve_point(&mut self, engine: &Engine, ts: TimestampMs) {
        let broker = engine.broker();
        let equity = engine
            .last_price()
            .map_or(broker.equity(), |p| broker.mark_to_market(p));
        self.curve.push(CurvePoint {
            ts_ms: ts.as_ms(),
            equity,
        });
    }

    /// Publishes a view of the session when the rate allows one (the feed's counters are
    /// read only then, as the live session reads them).
    pub(crate) fn publish_if_due(
        &mut self,
        engine: &Engine,
        files: &FileSink,
        counters: impl FnOnce() -> CountersSnapshot,
    ) {
        if self.publisher.due() {
            let view = self.view(engine, files, counters());
            self.publisher.publish(view);
        }
    }

    fn view(&self, engine: &Engine, files: &FileSink, counters: CountersSnapshot) -> SessionView {
        let broker = engine.broker();
        let price = engine.last_price();
        let mark_equity = price.map_or(broker.equity(), |p| broker.mark_to_market(p));
        let position = broker
            .position()
            .map(|p| PositionView::of(&p, mark_equity - broker.equity()));
        let trades = &files.trades;
        let counts = engine.counters();
        SessionView {
            seq: 0,
            run_id: "bench-probe".to_owned(),
            symbol: "BTCUSDT".to_owned(),
            source: "bitunix".to_owned(),
            pid: std::process::id(),
            uptime_s: self.started.elapsed().as_secs(),
            event_ts_ms: engine.last_event_time().map(TimestampMs::as_ms),
            price: price.map(|p| p.get()),
            equity: broker.equity(),
            mark_equity,
            position,
            trades: counts.exits,
            fills: counts.fills,
            candles_closed: counts.candles_closed,
            recent_decisions: files
                .recent_decisions()
                .map(|d| DecisionView::new(d.open_time_ms, d.close, d.outcome, d.blocked_by))
                .collect(),
            recent_trades: trades[trades.len().saturating_sub(RECENT)..]
                .iter()
                .map(TradeView::of)
                .collect(),
            decision_counts: files.decision_counts().clone(),
            feed: FeedView {
                connection: "connected".to_owned(),
                reconnects: counters.reconnects,
                frames_by_channel: counters.frames_by_channel,
                rejected_by_reason: counters.rejections_by_reason,
                last_frame_age_ms: self.publisher.data_age_ms(),
            },
            stale_stage: "fresh".to_owned(),
            breaker_tripped: engine.breaker().tripped().map(str::to_owned),
            halted: broker.halt_reason().map(str::to_owned),
            rss_bytes: la_session::status::rss_bytes(),
            stale_after_ms: 5_000,
            curve: self.curve.shared(),
            ..SessionView::default()
        }
    }

    /// Stops the server; the bytes the dashboard streams received.
    pub(crate) async fn shutdown(self) -> u64 {
        self.server.shutdown(Duration::from_secs(1)).await;
        self.sse_bytes.load(Ordering::Relaxed)
    }
}
