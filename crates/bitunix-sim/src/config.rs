//! The simulator's configuration: where the market data comes from, how fast virtual time
//! runs, the push cadences, the protocol limits, and the scripted fault timeline.
//!
//! Virtual-time settings (cadences, the subscribe delay) are scaled by `speed`; protocol
//! timers that exist to test the client's own timers (`idle_drop_ms`, fault durations) are
//! real (tokio) time.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
};

use la_core::{Candle, Decimal, Interval, Symbol, TimestampMs};

use crate::{error::SimError, faults::ScheduledFault};

/// Where candles come from.
#[derive(Clone, Debug)]
pub enum MarketData {
    /// A CSV file `ts_ms,open,high,low,close,volume` with a header row; `.gz` is
    /// decompressed. `ts_ms` is the bar **open** time. Bad rows are counted and skipped.
    Csv(PathBuf),
    /// A deterministic seeded random walk.
    Generated {
        /// RNG seed; the same seed gives the same candles.
        seed: u64,
        /// Open of the first candle (rounded to 0.1).
        start_price: Decimal,
        /// Open time of the first candle (floored to the interval).
        start_time: TimestampMs,
        /// How many candles.
        n_candles: usize,
    },
    /// Candles given in memory (must share the configured interval).
    Candles(Vec<Candle>),
}

/// The shape of the REST `funding_rate` `data` (the real exchange's is UNCERTAIN).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FundingShape {
    /// `data` is an object.
    #[default]
    Object,
    /// `data` is a one-element array.
    Array,
}

/// What happens when the market data runs out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EndBehaviour {
    /// Stop pushing market data; keep the sockets (pings are still answered).
    #[default]
    Stop,
    /// Replay the data again from the start, shifted forward in time.
    Loop,
}

/// A certificate chain and private key (DER) to serve `wss://` and `https://`.
#[derive(Clone, Debug)]
pub struct SimTls {
    /// End-entity certificate first.
    pub cert_chain_der: Vec<Vec<u8>>,
    /// PKCS#8, PKCS#1 or SEC1 private key.
    pub key_der: Vec<u8>,
}

/// Everything [`crate::start`] needs.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Listen address; must be loopback. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// The one instrument served.
    pub symbol: Symbol,
    /// The data's candle interval (the only kline channel that streams).
    pub interval: Interval,
    /// Candle source.
    pub data: MarketData,
    /// Virtual milliseconds per real millisecond (1.0 = real time). Not money; `f64` is fine.
    pub speed: f64,
    /// Virtual clock start; default the first candle's open time plus `history_candles`
    /// intervals. A later start makes the earlier candles REST history.
    pub start_time: Option<TimestampMs>,
    /// When `start_time` is `None`: start this many candles into the data, so they are
    /// already served over REST (a strategy's warm-up) and never pushed.
    pub history_candles: u64,
    /// The virtual clock starts no earlier than this, whatever `start_time` or
    /// `history_candles` say: a client resuming an account that already saw the data up to
    /// here continues from it instead of being served the same market again.
    pub not_before: Option<TimestampMs>,
    /// Virtual milliseconds between kline pushes.
    pub kline_push_ms: u64,
    /// Virtual milliseconds between regular ticker pushes.
    pub ticker_push_ms: u64,
    /// Virtual milliseconds between price-channel pushes.
    pub price_push_ms: u64,
    /// Virtual milliseconds between a subscribe and its first push (live: 100–600 ms).
    pub subscribe_delay_ms: u64,
    /// Scale of the funding-rate series in percent, as on the wire (0.01 = a fraction of
    /// 0.0001): each 8-hour period settles `base × (2j − 5) / 4` for a seeded `j` in
    /// `0..12`, so rates run from −1.25 to 4.25 times the base and change every period.
    /// Zero turns funding off.
    pub funding_rate_percent: Decimal,
    /// Seed of the funding-rate series (the same seed gives the same rates).
    pub funding_seed: u64,
    /// REST `funding_rate` data shape.
    pub funding_shape: FundingShape,
    /// Whether REST kline includes the bar in progress.
    pub include_forming_bar: bool,
    /// Real milliseconds without any client frame before the TCP connection is dropped
    /// without a close frame.
    pub idle_drop_ms: u64,
    /// Client frames per second above which the client is disconnected (`None`: no limit).
    pub max_client_msgs_per_sec: Option<u32>,
    /// REST requests per second (server-wide sliding window) before code 10006.
    pub rest_rate_limit_per_sec: u32,
    /// JSON-lines record of everything sent.
    pub record_path: Option<PathBuf>,
    /// Scripted fault timeline.
    pub faults: Vec<ScheduledFault>,
    /// Serve TLS (`wss://`, `https://`) instead of plain text, on the same port.
    pub tls: Option<SimTls>,
    /// What happens when the data runs out.
    pub end_behaviour: EndBehaviour,
}

/// 2024-01-01T00:00:00Z.
const DEFAULT_START_MS: i64 = 1_704_067_200_000;

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            symbol: default_symbol(),
            interval: Interval::M1,
            data: MarketData::Generated {
                seed: 7,
                start_price: Decimal::new(60_000, 0),
                start_time: default_start(),
                n_candles: 10_000,
            },
            speed: 1.0,
            start_time: None,
            history_candles: 0,
            not_before: None,
            kline_push_ms: 500,
            ticker_push_ms: 1_000,
            price_push_ms: 1_000,
            subscribe_delay_ms: 150,
            funding_rate_percent: Decimal::new(1, 2),
            funding_seed: 7,
            funding_shape: FundingShape::Object,
            include_forming_bar: false,
            idle_drop_ms: 60_000,
            max_client_msgs_per_sec: Some(5),
            rest_rate_limit_per_sec: 10,
            record_path: None,
            faults: Vec::new(),
            tls: None,
            end_behaviour: EndBehaviour::Stop,
        }
    }
}

#[allow(clippy::expect_used)] // A literal that is valid by construction.
fn default_symbol() -> Symbol {
    Symbol::new("BTCUSDT").expect("BTCUSDT is a valid symbol")
}

#[allow(clippy::expect_used)] // A literal inside the sanity window by construction.
fn default_start() -> TimestampMs {
    TimestampMs::new(DEFAULT_START_MS).expect("2024-01-01 is inside the sanity window")
}

impl SimConfig {
    /// Checks ranges that would make the simulator meaningless or divide by zero.
    pub(crate) fn validate(&self) -> Result<(), SimError> {
        if !self.listen.ip().is_loopback() {
            return Err(SimError::NonLoopback(self.listen));
        }
        if !self.speed.is_finite() || self.speed <= 0.0 {
            return Err(SimError::Config(format!(
                "speed must be a positive finite number, got {}",
                self.speed
            )));
        }
        for (name, value) in [
            ("kline_push_ms", self.kline_push_ms),
            ("ticker_push_ms", self.ticker_push_ms),
            ("price_push_ms", self.price_push_ms),
            ("idle_drop_ms", self.idle_drop_ms),
        ] {
            if value == 0 {
                return Err(SimError::Config(format!("{name} must be > 0")));
            }
        }
        if self.rest_rate_limit_per_sec == 0 {
            return Err(SimError::Config(
                "rest_rate_limit_per_sec must be > 0".to_owned(),
            ));
        }
        if self.max_client_msgs_per_sec == Some(0) {
            return Err(SimError::Config(
                "max_client_msgs_per_sec must be > 0 (use None for no limit)".to_owned(),
            ));
        }
        Ok(())
    }
}

/// The WebSocket kline channel for an interval: 1m → `market_kline_1min`, 1h →
/// `market_kline_60min`, 4h → `market_kline_4h`, 1d → `market_kline_1day`.
///
/// Deliberately written independently of the client's `ws_channel` (la-feed-bitunix): the
/// simulator stands in for the exchange, so sharing the table would let one mapping bug
/// pass both sides unnoticed.
pub fn kline_channel(interval: Interval) -> &'static str {
    match interval {
        Interval::M1 => "market_kline_1min",
        Interval::M3 => "market_kline_3min",
        Interval::M5 => "market_kline_5min",
        Interval::M15 => "market_kline_15min",
        Interval::M30 => "market_kline_30min",
        Interval::H1 => "market_kline_60min",
        Interval::H2 => "market_kline_2h",
        Interval::H4 => "market_kline_4h",
        Interval::H6 => "market_kline_6h",
        Interval::H8 => "market_kline_8h",
        Interval::H12 => "market_kline_12h",
        Interval::D1 => "market_kline_1day",
    }
}

/// The REST `interval` parameter values Bitunix accepts that map to a project interval
/// (REST has no `3m`).
pub(crate) fn rest_interval(text: &str) -> Option<Interval> {
    match text {
        "3m" => None,
        other => other.parse().ok(),
    }
}
