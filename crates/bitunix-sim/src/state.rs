//! State shared by the engine, the WebSocket connections, REST and the handle: the market,
//! the clock, the broadcast bus of outgoing frames, the fault windows, and the counters.
//!
//! Locks are `std::sync::Mutex`es held only for short, non-async critical sections; a
//! poisoned lock is recovered (the data is plain counters and flags).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use la_core::{Candle, Decimal, Symbol};
use tokio::{
    sync::{broadcast, watch},
    time::Instant,
};

use crate::{
    clock::VirtualClock,
    config::{FundingShape, kline_channel},
    faults::PriceFactor,
    funding::FundingSeries,
    market::Market,
    record::Recorder,
    stats::SimStats,
};

/// Locks a mutex, recovering from poisoning.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A data channel of the one served symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Channel {
    Kline,
    Ticker,
    Price,
}

impl Channel {
    pub(crate) const ALL: [Channel; 3] = [Self::Kline, Self::Ticker, Self::Price];

    pub(crate) fn index(self) -> usize {
        match self {
            Self::Kline => 0,
            Self::Ticker => 1,
            Self::Price => 2,
        }
    }
}

/// A connection-level fault broadcast to every open socket.
#[derive(Clone, Debug)]
pub(crate) enum ConnFault {
    DropTcp,
    CloseFrame,
    HalfOpen { until: Instant },
    Garbage { binary: bool, payload: Arc<[u8]> },
}

/// What the engine broadcasts to connections.
#[derive(Clone, Debug)]
pub(crate) enum Outbound {
    /// A data frame; `seq` orders frames against subscription snapshots.
    Data {
        seq: u64,
        channel: Channel,
        text: Arc<str>,
    },
    Fault(ConnFault),
}

/// Time-boxed faults, in real (tokio) time.
#[derive(Debug, Default)]
pub(crate) struct FaultWindows {
    pub(crate) silence_until: Option<Instant>,
    pub(crate) rest_limit: Option<(Instant, bool)>,
    pub(crate) rest_slow: Option<(Instant, Duration)>,
    pub(crate) rest_5xx_until: Option<Instant>,
    pub(crate) refuse_upgrade_until: Option<Instant>,
    pub(crate) slow_accept: Option<(Instant, Duration)>,
}

fn active(until: Option<Instant>, now: Instant) -> bool {
    until.is_some_and(|until| now < until)
}

impl FaultWindows {
    pub(crate) fn silenced(&self, now: Instant) -> bool {
        active(self.silence_until, now)
    }

    /// `Some(http_429)` while a REST rate-limit fault is active.
    pub(crate) fn rest_limited(&self, now: Instant) -> Option<bool> {
        self.rest_limit
            .filter(|(until, _)| now < *until)
            .map(|(_, http_429)| http_429)
    }

    pub(crate) fn rest_delay(&self, now: Instant) -> Option<Duration> {
        self.rest_slow
            .filter(|(until, _)| now < *until)
            .map(|(_, delay)| delay)
    }

    pub(crate) fn rest_5xx(&self, now: Instant) -> bool {
        active(self.rest_5xx_until, now)
    }

    pub(crate) fn refuse_upgrade(&self, now: Instant) -> bool {
        active(self.refuse_upgrade_until, now)
    }

    pub(crate) fn accept_delay(&self, now: Instant) -> Option<Duration> {
        self.slow_accept
            .filter(|(until, _)| now < *until)
            .map(|(_, delay)| delay)
    }
}

/// The engine's bookkeeping of the data stream.
#[derive(Debug, Default)]
pub(crate) struct StreamState {
    /// The virtual time of the engine's latest event (snapshots are stamped with it).
    pub(crate) engine_now: i64,
    /// Sequence number of the last data frame produced.
    pub(crate) seq: u64,
    /// The last frame produced on each channel (for `Duplicate`).
    pub(crate) last_frames: [Option<Arc<str>>; 3],
    /// The last kline push time (for `BackwardsTimestamp`).
    pub(crate) last_kline_ts: i64,
    /// `Reorder` armed: hold the next kline frame.
    pub(crate) reorder_armed: bool,
    /// A kline frame held back by `Reorder`.
    pub(crate) held_kline: Option<Arc<str>>,
    /// Buckets `[from, until)` whose kline pushes a gap fault suppresses.
    pub(crate) gap: Option<(i64, i64)>,
    /// `OpenOutsideRange`: the bucket whose REST row reports this open (above its high).
    pub(crate) open_outside: Option<(i64, Decimal)>,
    /// `ImplausiblePrice`: the bucket whose final kline push closes off by the factor.
    pub(crate) implausible_close: Option<(i64, PriceFactor)>,
    pub(crate) completed: Vec<Candle>,
    pub(crate) skipped: Vec<Candle>,
}

/// Everything the simulator's tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) symbol: Symbol,
    pub(crate) kline_ch: &'static str,
    pub(crate) market: Market,
    pub(crate) clock: VirtualClock,
    pub(crate) subscribe_delay_ms: u64,
    pub(crate) funding: FundingSeries,
    pub(crate) funding_shape: FundingShape,
    pub(crate) include_forming_bar: bool,
    pub(crate) idle_drop: Duration,
    pub(crate) max_client_msgs_per_sec: Option<u32>,
    pub(crate) rest_rate_limit_per_sec: u32,
    pub(crate) bus: broadcast::Sender<Outbound>,
    pub(crate) windows: Mutex<FaultWindows>,
    pub(crate) stream: Mutex<StreamState>,
    pub(crate) stats: Mutex<SimStats>,
    pub(crate) rest_window: Mutex<VecDeque<Instant>>,
    pub(crate) next_conn_id: Mutex<u64>,
    /// 5xx answers served so far (alternates 502 and 503).
    pub(crate) rest_5xx_served: std::sync::atomic::AtomicU64,
    pub(crate) recorder: Recorder,
    pub(crate) exhausted: watch::Sender<bool>,
    /// Wakes the engine when the virtual clock jumped (the `clock-jump` fault).
    pub(crate) clock_jumped: tokio::sync::Notify,
}

/// Frames buffered per connection before a slow reader starts missing some.
pub(crate) const BUS_CAPACITY: usize = 4096;

impl Shared {
    pub(crate) fn new(parts: SharedParts) -> Self {
        let (bus, _) = broadcast::channel(BUS_CAPACITY);
        let (exhausted, _) = watch::channel(false);
        Self {
            symbol: parts.symbol,
            kline_ch: kline_channel(parts.market.interval()),
            market: parts.market,
            clock: parts.clock,
            subscribe_delay_ms: parts.subscribe_delay_ms,
            funding: parts.funding,
            funding_shape: parts.funding_shape,
            include_forming_bar: parts.include_forming_bar,
            idle_drop: parts.idle_drop,
            max_client_msgs_per_sec: parts.max_client_msgs_per_sec,
            rest_rate_limit_per_sec: parts.rest_rate_limit_per_sec,
            bus,
            windows: Mutex::new(FaultWindows::default()),
            stream: Mutex::new(StreamState::default()),
            stats: Mutex::new(parts.stats),
            rest_window: Mutex::new(VecDeque::new()),
            next_conn_id: Mutex::new(0),
            rest_5xx_served: std::sync::atomic::AtomicU64::new(0),
            recorder: parts.recorder,
            exhausted,
            clock_jumped: tokio::sync::Notify::new(),
        }
    }

    /// Runs `update` on the counters.
    pub(crate) fn stat(&self, update: impl FnOnce(&mut SimStats)) {
        update(&mut lock(&self.stats));
    }

    /// A fresh connection id (1, 2, ...).
    pub(crate) fn conn_id(&self) -> u64 {
        let mut next = lock(&self.next_conn_id);
        *next += 1;
        *next
    }

    /// The channel label of a data channel, as used in `ch` and counters.
    pub(crate) fn channel_name(&self, channel: Channel) -> &'static str {
        match channel {
            Channel::Kline => self.kline_ch,
            Channel::Ticker => "ticker",
            Channel::Price => "price",
        }
    }
}

/// Constructor arguments for [`Shared`].
#[derive(Debug)]
pub(crate) struct SharedParts {
    pub(crate) symbol: Symbol,
    pub(crate) market: Market,
    pub(crate) clock: VirtualClock,
    pub(crate) subscribe_delay_ms: u64,
    pub(crate) funding: FundingSeries,
    pub(crate) funding_shape: FundingShape,
    pub(crate) include_forming_bar: bool,
    pub(crate) idle_drop: Duration,
    pub(crate) max_client_msgs_per_sec: Option<u32>,
    pub(crate) rest_rate_limit_per_sec: u32,
    pub(crate) stats: SimStats,
    pub(crate) recorder: Recorder,
}

/// Resolves once shutdown was requested (or the signal's sender is gone). Never holds the
/// watch guard across an await, so futures using it stay `Send`.
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
