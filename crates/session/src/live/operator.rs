//! The session as its operator sees it: the view published to the operator surface
//! (`la_ops`: dashboard, `/metrics`, `/healthz`) and the HTTP server's lifetime.
//!
//! Publishing is a pointer swap into a single-slot channel. While a dashboard watches, views
//! are published at the publisher's rate (`Publisher::due`: at most five a second while events
//! arrive) and once per heartbeat, so the cost does not grow with the market-data rate. While
//! none watches, a view is built only when a reader asks for one (`/metrics`, `/api/state`,
//! `/healthz`: `Publisher::wanted`), so an HTTP surface nobody reads costs nothing per event or
//! per second, and with `--http off` no view is ever built. The view is built from the engine,
//! the broker's ledger and the feed counters after the event that changed them was fully
//! handled: it never sits between a tick and its exit.

use std::{net::SocketAddr, time::Duration};

use la_broker_paper::PaperBroker;
use la_core::{Broker, Decimal, Price, TimestampMs};
use la_ops::{
    HttpServer, Publisher, SessionView,
    view::{Curve, CurvePoint, DayPnl, DecisionView, FeedView, PositionView, TradeView},
};

use super::Live;
use crate::{sources::LiveFeed, stop::StopReason, time_fmt::ms_to_rfc3339};

/// Closed trades and decisions shown.
const RECENT: usize = 20;
/// Points of the published equity curve.
const CURVE_POINTS: usize = 720;
const DAY_MS: i64 = 86_400_000;

/// The broker's cumulative ledger at one moment, split the way the dashboard and the daily
/// digest report it. `mark_equity - starting balance = price_pnl - fees + funding`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct LedgerTotals {
    /// Price movement on every position, realized and unrealized, before fees.
    pub(super) price_pnl: Decimal,
    /// Fees paid so far (entry fees of an open position included).
    pub(super) fees: Decimal,
    /// Funding received (negative = paid).
    pub(super) funding: Decimal,
    /// Equity with the open position marked at the price.
    pub(super) mark_equity: Decimal,
}

impl LedgerTotals {
    /// Reads the ledger, marking an open position at `price`.
    pub(super) fn read(broker: &PaperBroker, price: Option<Price>) -> Self {
        let stats = broker.stats();
        let balance = broker.equity();
        let mark_equity = price.map_or(balance, |p| broker.mark_to_market(p));
        // realized net + fees paid = realized gross (+ entry fees of the open position, which
        // `mark - balance` subtracts again): the price PnL of closed and open positions.
        Self {
            price_pnl: stats.realized_pnl + stats.fees_paid + (mark_equity - balance),
            fees: stats.fees_paid,
            funding: stats.funding_total,
            mark_equity,
        }
    }

    /// The change from `earlier` to `self`.
    pub(super) fn since(&self, earlier: &Self) -> DayPnl {
        DayPnl {
            day: String::new(),
            price_pnl: self.price_pnl - earlier.price_pnl,
            fees: self.fees - earlier.fees,
            funding: self.funding - earlier.funding,
            net: self.mark_equity - earlier.mark_equity,
        }
    }
}

/// What the operator surface needs beyond the supervisor's own state.
pub(super) struct Operator {
    pub(super) publisher: Publisher,
    server: Option<HttpServer>,
    /// The surface's URL once the server is listening.
    pub(super) url: Option<String>,
    /// Something changed since the last publication.
    changed: bool,
    pub(super) curve: Curve,
    /// The feed's connection state, from connection events.
    pub(super) connection: &'static str,
    /// The UTC day (event time) and the ledger at its first event.
    day: Option<(i64, LedgerTotals)>,
    /// What the newest published view says of the health verdict's flags (`None`: no view
    /// yet).
    published_flags: Option<HealthFlags>,
}

/// The inputs of the health verdict that a view carries, beside the data age (which readers
/// measure themselves): a reader that gets no answer in time falls back to the newest view,
/// so these are kept current in it even while nobody watches.
#[derive(Clone, Debug, PartialEq, Eq)]
struct HealthFlags {
    halted: Option<String>,
    breaker_tripped: Option<String>,
    kill_switch: bool,
}

impl HealthFlags {
    fn of(view: &SessionView) -> Self {
        Self {
            halted: view.halted.clone(),
            breaker_tripped: view.breaker_tripped.clone(),
            kill_switch: view.kill_switch,
        }
    }

    fn same_as(
        &self,
        halted: Option<&str>,
        breaker_tripped: Option<&str>,
        kill_switch: bool,
    ) -> bool {
        self.halted.as_deref() == halted
            && self.breaker_tripped.as_deref() == breaker_tripped
            && self.kill_switch == kill_switch
    }
}

impl Operator {
    pub(super) fn new() -> Self {
        let (publisher, _surface) = la_ops::channel();
        Self {
            publisher,
            server: None,
            url: None,
            changed: true,
            curve: Curve::new(CURVE_POINTS),
            connection: "connecting",
            day: None,
            published_flags: None,
        }
    }

    /// Starts the HTTP surface on `addr`. A failure to bind is logged and the session runs on
    /// without it: trading never depends on the operator surface.
    pub(super) async fn start_http(&mut self, addr: Option<SocketAddr>, symbol: &str) {
        let Some(addr) = addr else { return };
        if !addr.ip().is_loopback() {
            tracing::warn!(symbol, %addr, "the HTTP surface listens on a non-loopback address; it has no authentication");
        }
        match HttpServer::start(addr, self.publisher.surface()).await {
            Ok(server) => {
                let url = format!("http://{}/", server.local_addr());
                tracing::info!(symbol, url = %url, "dashboard, /metrics and /healthz are served");
                self.url = Some(url);
                self.server = Some(server);
            }
            Err(err) => {
                tracing::error!(
                    symbol,
                    error = &err as &dyn std::error::Error,
                    alert = true,
                    "cannot start the HTTP surface; the session runs without dashboard, /metrics and /healthz"
                );
            }
        }
    }

    /// Market data arrived now.
    pub(super) fn mark_data(&mut self) {
        self.publisher.mark_data();
        self.changed = true;
    }

    /// Something the view shows changed (a trade, a connection change, ...).
    pub(super) fn mark_changed(&mut self) {
        self.changed = true;
    }

    /// Resolves when a reader of the HTTP surface asks for a view of the session as of now;
    /// never without a server.
    pub(super) async fn view_wanted(&self) {
        if self.server.is_some() {
            self.publisher.wanted().await;
        } else {
            std::future::pending::<()>().await;
        }
    }

    /// Whether the heartbeat publishes a view: while a dashboard watches, and whenever the
    /// health flags differ from the newest view's (the first heartbeat included), so that a
    /// reader's fallback to the newest view never carries an outdated halt, breaker or kill
    /// switch. Never without a server.
    fn heartbeat_view_wanted(
        &self,
        halted: Option<&str>,
        breaker_tripped: Option<&str>,
        kill_switch: bool,
    ) -> bool {
        self.server.is_some()
            && (self.publisher.watched()
                || !self
                    .published_flags
                    .as_ref()
                    .is_some_and(|f| f.same_as(halted, breaker_tripped, kill_switch)))
    }

    /// Stops the HTTP server (after the final view was published).
    pub(super) async fn stop_http(&mut self, grace: Duration) {
        if let Some(server) = self.server.take() {
            server.shutdown(grace).await;
        }
    }

    /// Starts a new day (the ledger as `ledger` reads it now) when `event_ms` lies in a UTC day
    /// after the current one; returns the day and its starting ledger. Called on every
    /// heartbeat and view, so a day starts within a second of its first event whether or not
    /// views are built; the ledger is read only when a day starts.
    fn roll_day(
        &mut self,
        event_ms: i64,
        ledger: impl FnOnce() -> LedgerTotals,
    ) -> (i64, LedgerTotals) {
        let day = event_ms.div_euclid(DAY_MS);
        match self.day {
            Some((current, baseline)) if current >= day => (current, baseline),
            _ => {
                let started = (day, ledger());
                self.day = Some(started);
                started
            }
        }
    }

    /// Today's ledger change.
    fn today(&mut self, event_ms: Option<i64>, now: LedgerTotals) -> DayPnl {
        let Some(event_ms) = event_ms else {
            return DayPnl::default();
        };
        let (day, baseline) = self.roll_day(event_ms, || now);
        DayPnl {
            day: ms_to_rfc3339(day * DAY_MS).chars().take(10).collect(),
            ..now.since(&baseline)
        }
    }
}

impl Live {
    /// Starts a new day of the dashboard's "today" when the newest event lies in one (see
    /// `Operator::roll_day`).
    pub(super) fn roll_operator_day(&mut self) {
        if let Some(event_ms) = self.engine.last_event_time().map(TimestampMs::as_ms) {
            let engine = &self.engine;
            self.operator.roll_day(event_ms, || {
                LedgerTotals::read(engine.broker(), engine.last_price())
            });
        }
    }

    /// Publishes a view when something changed and the publisher's rate allows one
    /// (`Publisher::due`: only while a dashboard watches), or at once when `force` is set (a
    /// reader asked, a watched heartbeat, shutdown).
    pub(super) fn publish_view(
        &mut self,
        feed: &LiveFeed,
        stopping: Option<StopReason>,
        force: bool,
    ) {
        if !(force || (self.operator.changed && self.operator.publisher.due())) {
            return;
        }
        let view = self.view(feed, stopping);
        self.operator.published_flags = Some(HealthFlags::of(&view));
        self.operator.publisher.publish(view);
        self.operator.changed = false;
    }

    /// The heartbeat's view (see `Operator::heartbeat_view_wanted`).
    pub(super) fn publish_heartbeat_view(&mut self, feed: &LiveFeed) {
        let wanted = self.operator.heartbeat_view_wanted(
            self.engine.broker().halt_reason(),
            self.engine.breaker().tripped(),
            self.kill_switch_engaged,
        );
        self.publish_view(feed, None, wanted);
    }

    fn view(&mut self, feed: &LiveFeed, stopping: Option<StopReason>) -> SessionView {
        let broker = self.engine.broker();
        let price = self.engine.last_price();
        let ledger = LedgerTotals::read(broker, price);
        let event_ts_ms = self.engine.last_event_time().map(TimestampMs::as_ms);
        let position = broker
            .position()
            .map(|p| PositionView::of(&p, ledger.mark_equity - broker.equity()));
        let counters = feed.counters();
        let reconnects = counters.as_ref().map_or(self.counters.reconnects, |c| {
            c.reconnects.max(self.counters.reconnects)
        });
        let trades = &self.sink.trades;
        let recent_trades = trades[trades.len().saturating_sub(RECENT)..]
            .iter()
            .map(TradeView::of)
            .collect();
        let recent_decisions = self
            .sink
            .recent_decisions()
            .map(|d| DecisionView::new(d.open_time_ms, d.close, d.outcome, d.blocked_by))
            .collect();
        let data_age_ms = self.operator.publisher.data_age_ms();
        let engine_counters = self.engine.counters();
        let uptime = self.started.elapsed();
        SessionView {
            seq: 0,
            run_id: self.run.run_id.clone(),
            symbol: self.config.symbol.to_string(),
            source: self.config.source.as_str().to_owned(),
            pid: std::process::id(),
            started_at: ms_to_rfc3339(self.run.started_wall_ms),
            uptime_s: uptime.as_secs(),
            event_ts_ms,
            price: price.map(|p| p.get()),
            equity: broker.equity(),
            mark_equity: ledger.mark_equity,
            session_start_equity: self.session_start_equity,
            equity_change: ledger.mark_equity - self.session_start_equity,
            position,
            today: self.operator.today(event_ts_ms, ledger),
            trades: engine_counters.exits,
            fills: engine_counters.fills,
            candles_closed: engine_counters.candles_closed,
            recent_decisions,
            recent_trades,
            decision_counts: self.sink.decision_counts().clone(),
            feed: FeedView {
                connection: self.operator.connection.to_owned(),
                reconnects,
                frames_by_channel: counters
                    .as_ref()
                    .map(|c| c.frames_by_channel.clone())
                    .unwrap_or_default(),
                rejected_by_reason: counters.map(|c| c.rejections_by_reason).unwrap_or_default(),
                last_frame_age_ms: data_age_ms,
            },
            stale_stage: self.stale.as_str().to_owned(),
            catching_up: self.catching_up(),
            downtime: self.downtimes.clone(),
            breaker_tripped: self.engine.breaker().tripped().map(str::to_owned),
            halted: broker.halt_reason().map(str::to_owned),
            kill_switch: self.kill_switch_engaged,
            stopping: stopping.map(|r| r.as_str().to_owned()),
            state_save_failures: self.counters.save_failures,
            errors: self.counters.errors,
            rss_bytes: crate::status::rss_bytes(),
            stale_after_ms: u64::try_from(
                super::stale::stale_after(self.config.stale_timeout).as_millis(),
            )
            .unwrap_or(u64::MAX),
            curve: self.operator.curve.shared(),
        }
    }

    /// Adds the equity after a closed candle to the published curve.
    pub(super) fn add_curve_point(&mut self, ts_ms: i64, mark_equity: Decimal) {
        self.operator.curve.push(CurvePoint {
            ts_ms,
            equity: mark_equity,
        });
        self.operator.mark_changed();
    }
}

#[cfg(test)]
mod tests {
    use la_broker_paper::BrokerConfig;
    use la_core::{
        BrokerEvent, ClientOrderId, OrderIntent, OrderKind, OrderSpec, Qty, Side, Symbol, Tick,
    };

    use super::*;

    fn price(text: &str) -> Price {
        Price::new(text.parse().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn the_heartbeat_publishes_when_the_health_flags_differ_from_the_newest_view() {
        let mut operator = Operator::new();
        assert!(
            !operator.heartbeat_view_wanted(None, None, false),
            "no server: no reader, no view"
        );
        operator
            .start_http(
                Some("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}"))),
                "BTCUSDT",
            )
            .await;
        assert!(
            operator.heartbeat_view_wanted(None, None, false),
            "no view yet: the first heartbeat publishes one"
        );
        operator.published_flags = Some(HealthFlags {
            halted: None,
            breaker_tripped: None,
            kill_switch: false,
        });
        assert!(!operator.heartbeat_view_wanted(None, None, false));
        assert!(operator.heartbeat_view_wanted(Some("equity below zero"), None, false));
        assert!(operator.heartbeat_view_wanted(None, Some("daily drawdown"), false));
        assert!(operator.heartbeat_view_wanted(None, None, true));
        operator.stop_http(Duration::from_secs(1)).await;
    }

    #[test]
    fn a_day_starts_with_the_ledger_at_its_first_event_and_never_goes_back() {
        let mut operator = Operator::new();
        let ledger = |equity: i64| LedgerTotals {
            mark_equity: Decimal::from(equity),
            ..LedgerTotals::default()
        };
        let day_one = 20_000 * DAY_MS;
        assert_eq!(
            operator.roll_day(day_one + 5, || ledger(100)).1,
            ledger(100)
        );
        let kept = operator.roll_day(day_one + DAY_MS - 1, || panic!("read within the day"));
        assert_eq!(kept, (20_000, ledger(100)));
        assert_eq!(
            operator.roll_day(day_one + DAY_MS, || ledger(90)),
            (20_001, ledger(90))
        );
        let late = operator.roll_day(day_one + 10, || panic!("an older event started a day"));
        assert_eq!(late, (20_001, ledger(90)));
    }

    #[test]
    fn the_ledger_split_adds_up_to_the_equity_change_with_a_position_open_and_closed() {
        let mut broker =
            PaperBroker::new(BrokerConfig::default()).unwrap_or_else(|e| panic!("{e}"));
        let start = LedgerTotals::read(&broker, None);
        let symbol = Symbol::normalize("BTCUSDT").unwrap_or_else(|e| panic!("{e}"));
        let ts =
            |ms: i64| TimestampMs::new(1_700_000_000_000 + ms).unwrap_or_else(|e| panic!("{e}"));
        let mut events: Vec<BrokerEvent> = Vec::new();
        let tick = |ms, p: &str| {
            Tick::new(symbol, ts(ms), price(p), None, None).unwrap_or_else(|e| panic!("{e}"))
        };
        broker
            .on_tick(&tick(0, "100"), &mut events)
            .unwrap_or_else(|e| panic!("{e}"));
        let order = OrderIntent::new(OrderSpec {
            client_order_id: ClientOrderId::new("t-1").unwrap_or_else(|e| panic!("{e}")),
            side: Side::Long,
            kind: OrderKind::Market,
            qty: Qty::new(Decimal::ONE).unwrap_or_else(|e| panic!("{e}")),
            entry_reference: price("100"),
            stop_loss: price("90"),
            take_profit: Some(price("120")),
            leverage: la_core::Leverage::ONE,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        broker
            .submit(order, ts(1), &mut events)
            .unwrap_or_else(|e| panic!("{e}"));
        let open = LedgerTotals::read(&broker, Some(price("105")));
        let change = open.since(&start);
        assert!(
            change.fees > Decimal::ZERO,
            "the entry fee is counted: {change:?}"
        );
        assert!(change.price_pnl > Decimal::ZERO, "{change:?}");
        assert_eq!(
            change.net,
            change.price_pnl - change.fees + change.funding,
            "{change:?}"
        );
        broker
            .on_tick(&tick(2, "121"), &mut events)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(broker.position().is_none(), "the target closed it");
        let closed = LedgerTotals::read(&broker, Some(price("121")));
        let change = closed.since(&start);
        assert_eq!(
            change.net,
            change.price_pnl - change.fees + change.funding,
            "{change:?}"
        );
        assert_eq!(change.net, broker.equity() - start.mark_equity);
    }
}
