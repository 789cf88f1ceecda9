//! Test harness: a simulator and a feed in the same paused-time runtime, talking over real
//! loopback sockets, plus helpers to wait for events on exchange/virtual time.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::{sync::Arc, time::Duration};

use la_bitunix_sim::{MarketData, SimConfig, SimHandle};
use la_core::{
    Candle, Clock, ConnectionEvent, Decimal, Interval, MarketEvent, Provenance, Symbol, TimestampMs,
};
use la_feed_bitunix::{BitunixFeed, FeedConfig, FeedHandle};
use tokio::time::Instant;

/// 2024-01-01T00:00:00Z.
pub(crate) const T0: i64 = 1_704_067_200_000;
pub(crate) const MIN: i64 = 60_000;

pub(crate) fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

pub(crate) fn ts(ms: i64) -> TimestampMs {
    TimestampMs::new(ms).unwrap()
}

/// The simulator's virtual clock, replicated on tokio time (same origin, same speed).
#[derive(Debug)]
pub(crate) struct SimClock {
    origin: Instant,
    start_ms: i64,
    speed: f64,
}

impl SimClock {
    pub(crate) fn of(sim: &SimHandle, speed: f64) -> Self {
        Self {
            origin: Instant::now(),
            start_ms: sim.virtual_now().as_ms(),
            speed,
        }
    }
}

impl Clock for SimClock {
    fn now(&self) -> TimestampMs {
        let elapsed = Instant::now().saturating_duration_since(self.origin);
        let ms = self.start_ms + (elapsed.as_secs_f64() * 1000.0 * self.speed) as i64;
        TimestampMs::new(ms).unwrap()
    }
}

/// A generated market of `n_candles` one-minute candles from [`T0`].
pub(crate) fn sim_config(n_candles: usize) -> SimConfig {
    SimConfig {
        data: MarketData::Generated {
            seed: 11,
            start_price: Decimal::new(60_000, 0),
            start_time: ts(T0),
            n_candles,
        },
        ..SimConfig::default()
    }
}

/// The feed configuration for a simulator: its URLs, skew check off (virtual clock).
pub(crate) fn feed_config(sim: &SimHandle) -> FeedConfig {
    let mut config = FeedConfig::new(btc(), Interval::M1);
    config.ws_url = sim.ws_url();
    config.rest_url = sim.rest_url();
    config.max_clock_skew = None;
    config.seed = 7;
    config
}

pub(crate) struct Harness {
    pub(crate) sim: SimHandle,
    pub(crate) feed: BitunixFeed,
    pub(crate) handle: FeedHandle,
    pub(crate) clock: Arc<SimClock>,
    /// Every event received so far, in order.
    pub(crate) seen: Vec<MarketEvent>,
}

impl Harness {
    /// Starts a simulator with `sim_config`, then a feed configured by `tweak`.
    pub(crate) async fn start(sim_config: SimConfig, tweak: impl FnOnce(&mut FeedConfig)) -> Self {
        let speed = sim_config.speed;
        let sim = la_bitunix_sim::start(sim_config).await.unwrap();
        Self::with_sim(sim, speed, tweak)
    }

    pub(crate) fn with_sim(
        sim: SimHandle,
        speed: f64,
        tweak: impl FnOnce(&mut FeedConfig),
    ) -> Self {
        let clock = Arc::new(SimClock::of(&sim, speed));
        let mut config = feed_config(&sim);
        tweak(&mut config);
        let (feed, handle) = BitunixFeed::spawn(config, clock.clone()).unwrap();
        Self {
            sim,
            feed,
            handle,
            clock,
            seen: Vec::new(),
        }
    }

    /// The next event, failing the test if none comes within `within` (paused time).
    pub(crate) async fn next(&mut self, within: Duration) -> MarketEvent {
        let event = tokio::time::timeout(within, self.feed.recv())
            .await
            .expect("no event in time")
            .expect("feed stopped");
        if std::env::var_os("FEED_TEST_DEBUG").is_some() {
            eprintln!("{:?} {event:?}", self.clock.now());
        }
        self.seen.push(event.clone());
        event
    }

    /// Waits for the first event matching `pred`; returns it and the time waited.
    pub(crate) async fn wait_for(
        &mut self,
        within: Duration,
        mut pred: impl FnMut(&MarketEvent) -> bool,
    ) -> (MarketEvent, Duration) {
        let start = Instant::now();
        let deadline = start + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no matching event within {within:?}; seen tail: {:?}",
                tail(&self.seen)
            );
            let event = self.next(left).await;
            if pred(&event) {
                return (event, start.elapsed());
            }
        }
    }

    /// Collects events for `duration` of (paused) time.
    pub(crate) async fn run_for(&mut self, duration: Duration) -> Vec<MarketEvent> {
        let deadline = Instant::now() + duration;
        let mut events = Vec::new();
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.feed.recv()).await {
            self.seen.push(event.clone());
            events.push(event);
        }
        events
    }

    pub(crate) async fn connected(&mut self) {
        self.wait_for(Duration::from_secs(15), is_connected).await;
    }

    /// Waits until the feed is connected and the first candle update arrived.
    pub(crate) async fn streaming(&mut self) {
        self.connected().await;
        self.wait_for(Duration::from_secs(15), |e| {
            matches!(e, MarketEvent::CandleUpdate(_))
        })
        .await;
    }

    /// Asserts the supervisor loop did not spin: its iterations stay within a small multiple
    /// of the frames and timers it had to handle.
    pub(crate) fn assert_no_busy_loop(&self) {
        let c = self.handle.counters();
        let frames: u64 = c.frames_by_channel.values().sum::<u64>() + c.total_rejections();
        let budget = 3 * frames + 10 * (c.pings_sent + c.reconnects + c.rotations) + 1000;
        assert!(
            c.supervisor_wakeups <= budget,
            "supervisor woke {} times for {frames} frames: {c:?}",
            c.supervisor_wakeups
        );
    }

    pub(crate) async fn stop(self) {
        self.assert_no_busy_loop();
        self.handle.shutdown().await;
        drop(self.feed);
        self.sim.shutdown().await;
    }
}

fn tail(events: &[MarketEvent]) -> Vec<&MarketEvent> {
    events
        .iter()
        .rev()
        .filter(|e| !matches!(e, MarketEvent::Tick(_) | MarketEvent::CandleUpdate(_)))
        .take(6)
        .collect()
}

pub(crate) fn is_connected(e: &MarketEvent) -> bool {
    matches!(e, MarketEvent::Connection(ConnectionEvent::Connected))
}

pub(crate) fn is_disconnected(e: &MarketEvent) -> bool {
    matches!(
        e,
        MarketEvent::Connection(ConnectionEvent::Disconnected { .. })
    )
}

pub(crate) fn closed_candles(events: &[MarketEvent]) -> Vec<(Candle, Provenance)> {
    events
        .iter()
        .filter_map(|e| match e {
            MarketEvent::CandleClosed { candle, provenance } => Some((*candle, *provenance)),
            _ => None,
        })
        .collect()
}

pub(crate) fn disconnect_reasons(events: &[MarketEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            MarketEvent::Connection(ConnectionEvent::Disconnected { reason }) => {
                Some(reason.clone())
            }
            _ => None,
        })
        .collect()
}
