//! [`FeedConfig`]: every knob of the client, its documented default, and [`FeedConfig::validate`].
//!
//! Defaults follow the exchange's documented limits: a JSON ping every
//! 12 s (the server drops idle sockets after about 60 s), at most 5 client messages per
//! second, at most 10 REST requests per second, a 1 MiB message cap and a planned rotation
//! before the (uncertain) 24 h connection lifetime.

use std::time::Duration;

use la_core::{Interval, Symbol};

use crate::{
    endpoint::{Endpoint, Kind},
    error::FeedError,
};

/// The public futures WebSocket.
pub const DEFAULT_WS_URL: &str = "wss://fapi.bitunix.com/public/";
/// The REST base.
pub const DEFAULT_REST_URL: &str = "https://fapi.bitunix.com";

/// Configuration of the WebSocket feed and the REST client.
#[derive(Clone, Debug)]
pub struct FeedConfig {
    /// WebSocket URL; `ws://` only for loopback hosts.
    pub ws_url: String,
    /// REST base URL; `http://` only for loopback hosts.
    pub rest_url: String,
    /// The one instrument streamed.
    pub symbol: Symbol,
    /// Candle interval of the kline channel.
    pub interval: Interval,
    /// TCP connect + TLS + WebSocket upgrade must finish within this.
    pub connect_timeout: Duration,
    /// Period of the JSON `{"op":"ping"}`; 10–15 s (the protocol's recommendation).
    pub ping_interval: Duration,
    /// Reconnect when no *data* frame arrived for this long (pongs and control frames do not
    /// count, so a server that only answers pings is treated as dead).
    pub idle_timeout: Duration,
    /// Scale of the reconnect backoff (the first retry is immediate).
    pub backoff_initial: Duration,
    /// Cap of the reconnect backoff.
    pub backoff_max: Duration,
    /// Age after which the connection is replaced make-before-break.
    pub rotate_after: Duration,
    /// How far an exchange timestamp may be from the local clock; `None` switches the check
    /// off (replays and accelerated simulators run on their own clock).
    pub max_clock_skew: Option<Duration>,
    /// Largest forward jump of exchange time between consecutive pushes on one channel,
    /// beyond the local time elapsed between them.
    pub max_ts_jump: Duration,
    /// After a bucket ends, wait this long for a later push before confirming over REST.
    pub close_grace: Duration,
    /// Largest accepted message. A single frame above it is refused from its header, before
    /// its payload is read: counted (`too_large`), logged, and the connection is dropped and
    /// re-opened. A fragmented message that outgrows it is skipped (`too_large`) with the
    /// connection kept: no fragment is larger than this cap.
    pub max_message_size: usize,
    /// Client frames per second per connection, all kinds counted (exchange limit: 5).
    pub max_client_msgs_per_sec: u32,
    /// At most one gap backfill starts per this period; later gaps wait in a queue.
    pub backfill_min_interval: Duration,
    /// REST requests per second, shared by every request of one client (exchange limit: 10).
    pub rest_requests_per_sec: u32,
    /// Per-request REST timeout (connect, headers and body).
    pub rest_timeout: Duration,
    /// Retries per REST request after rate limits, 5xx, timeouts and transport errors.
    pub rest_retry_budget: u32,
    /// Scale of the REST retry backoff (full jitter).
    pub rest_backoff_initial: Duration,
    /// Cap of the REST retry backoff.
    pub rest_backoff_max: Duration,
    /// Extra trusted root certificates (DER), added to the webpki roots; for tests with
    /// self-signed certificates.
    pub tls_roots: Option<Vec<Vec<u8>>>,
    /// Capacity of the event channel to the consumer.
    pub event_buffer: usize,
    /// Seed of the jitter random number generators (deterministic tests).
    pub seed: u64,
}

impl FeedConfig {
    /// The documented defaults for `symbol` and `interval`.
    pub fn new(symbol: Symbol, interval: Interval) -> Self {
        Self {
            ws_url: DEFAULT_WS_URL.to_owned(),
            rest_url: DEFAULT_REST_URL.to_owned(),
            symbol,
            interval,
            connect_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(12),
            idle_timeout: Duration::from_secs(30),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            rotate_after: Duration::from_secs(23 * 3600),
            max_clock_skew: Some(Duration::from_secs(300)),
            max_ts_jump: Duration::from_secs(3600),
            close_grace: Duration::from_secs(5),
            max_message_size: 1 << 20,
            max_client_msgs_per_sec: 5,
            backfill_min_interval: Duration::from_secs(30),
            rest_requests_per_sec: 10,
            rest_timeout: Duration::from_secs(10),
            rest_retry_budget: 4,
            rest_backoff_initial: Duration::from_millis(500),
            rest_backoff_max: Duration::from_secs(8),
            tls_roots: None,
            event_buffer: 4096,
            seed: 0x5eed_b17e,
        }
    }

    /// Checks every range and the URLs; collects all problems into one message.
    ///
    /// # Errors
    /// [`FeedError::InvalidUrl`] for a bad URL, otherwise [`FeedError::Config`] listing every
    /// violated rule.
    pub fn validate(&self) -> Result<(), FeedError> {
        Endpoint::parse(&self.ws_url, Kind::WebSocket)?;
        Endpoint::parse(&self.rest_url, Kind::Http)?;
        let mut problems = Vec::new();
        let mut need = |ok: bool, what: &str| {
            if !ok {
                problems.push(what.to_owned());
            }
        };
        let secs = Duration::from_secs;
        need(
            self.connect_timeout >= Duration::from_millis(100),
            "connect_timeout must be at least 100 ms",
        );
        need(
            (secs(10)..=secs(15)).contains(&self.ping_interval),
            "ping_interval must be 10–15 s (bitunix-protocol.md §8)",
        );
        need(
            self.idle_timeout >= secs(1),
            "idle_timeout must be at least 1 s",
        );
        need(
            self.idle_timeout < secs(60),
            "idle_timeout must be below the server's 60 s idle drop",
        );
        need(
            !self.backoff_initial.is_zero(),
            "backoff_initial must be > 0",
        );
        need(
            self.backoff_max >= self.backoff_initial,
            "backoff_max must be >= backoff_initial",
        );
        need(
            self.rotate_after > self.idle_timeout && self.rotate_after < secs(24 * 3600),
            "rotate_after must be above idle_timeout and below 24 h",
        );
        need(
            self.max_clock_skew.is_none_or(|s| s >= secs(1)),
            "max_clock_skew must be at least 1 s (or off)",
        );
        need(
            self.max_ts_jump >= secs(1),
            "max_ts_jump must be at least 1 s",
        );
        need(
            self.close_grace <= secs(3600),
            "close_grace must be at most 1 h",
        );
        need(
            (1024..=(64 << 20)).contains(&self.max_message_size),
            "max_message_size must be 1 KiB ..= 64 MiB",
        );
        need(
            (1..=5).contains(&self.max_client_msgs_per_sec),
            "max_client_msgs_per_sec must be 1..=5 (exchange limit)",
        );
        need(
            (1..=10).contains(&self.rest_requests_per_sec),
            "rest_requests_per_sec must be 1..=10 (exchange limit)",
        );
        need(
            self.rest_timeout >= Duration::from_millis(100),
            "rest_timeout must be at least 100 ms",
        );
        need(
            self.rest_retry_budget <= 20,
            "rest_retry_budget must be at most 20",
        );
        need(
            !self.rest_backoff_initial.is_zero()
                && self.rest_backoff_max >= self.rest_backoff_initial,
            "rest_backoff_initial must be > 0 and <= rest_backoff_max",
        );
        need(
            (16..=1 << 20).contains(&self.event_buffer),
            "event_buffer must be 16 ..= 1048576",
        );
        if let Some(roots) = &self.tls_roots {
            need(
                roots.iter().all(|r| !r.is_empty()),
                "tls_roots must not contain empty certificates",
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(FeedError::Config(problems.join("; ")))
        }
    }
}

/// The WebSocket kline channel for an interval (1m → `market_kline_1min`, 1h →
/// `market_kline_60min`, 1d → `market_kline_1day`).
pub fn ws_channel(interval: Interval) -> Option<&'static str> {
    Some(match interval {
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
    })
}

/// The REST `interval` parameter; `None` for 3m, which REST does not serve.
pub fn rest_interval(interval: Interval) -> Option<&'static str> {
    match interval {
        Interval::M3 => None,
        other => Some(other.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> FeedConfig {
        FeedConfig::new(Symbol::new("BTCUSDT").unwrap(), Interval::M1)
    }

    #[test]
    fn defaults_are_valid() {
        config().validate().unwrap();
    }

    #[test]
    fn ping_interval_outside_10_to_15_s_is_refused() {
        let mut c = config();
        c.ping_interval = Duration::from_secs(20);
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("ping_interval"), "{err}");
        c.ping_interval = Duration::from_secs(3);
        assert!(c.validate().is_err());
    }

    #[test]
    fn every_violation_is_listed_at_once() {
        let mut c = config();
        c.max_client_msgs_per_sec = 6;
        c.rest_requests_per_sec = 11;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("max_client_msgs_per_sec"), "{err}");
        assert!(err.contains("rest_requests_per_sec"), "{err}");
    }

    #[test]
    fn clear_text_urls_to_public_hosts_are_refused() {
        let mut c = config();
        c.ws_url = "ws://fapi.bitunix.com/public/".to_owned();
        assert!(matches!(c.validate(), Err(FeedError::InvalidUrl { .. })));
    }

    #[test]
    fn channel_names_follow_the_protocol_table() {
        assert_eq!(ws_channel(Interval::M1), Some("market_kline_1min"));
        assert_eq!(ws_channel(Interval::H1), Some("market_kline_60min"));
        assert_eq!(ws_channel(Interval::H4), Some("market_kline_4h"));
        assert_eq!(ws_channel(Interval::D1), Some("market_kline_1day"));
        assert_eq!(rest_interval(Interval::M3), None);
        assert_eq!(rest_interval(Interval::H1), Some("1h"));
        assert_eq!(rest_interval(Interval::D1), Some("1d"));
    }
}
