//! The crate's one error type, [`FeedError`].
//!
//! Every failure of a REST call, a connection attempt or a configuration check is a typed
//! variant, so callers can tell a rate limit from a dead host from an exchange-side refusal
//! without parsing strings. Bad *frames* are not errors: they are counted rejections
//! ([`crate::decode::FrameRejection`]) and never end a connection.

use thiserror::Error;

/// Everything that can go wrong in the Bitunix client.
#[derive(Debug, Error)]
pub enum FeedError {
    /// A configuration value is out of range or inconsistent.
    #[error("invalid feed configuration: {0}")]
    Config(String),
    /// A URL could not be parsed or is not allowed (for example `ws://` to a public host).
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The offending URL, redacted (`la_core::redact_url`).
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The server answered with an unexpected HTTP status (5xx after the retry budget, or a
    /// non-retryable 4xx).
    #[error("HTTP status {status}")]
    Http {
        /// The status code.
        status: u16,
    },
    /// The exchange answered with a non-zero envelope `code` (on HTTP 200, as Bitunix does).
    #[error("exchange error code {code}: {msg}")]
    Api {
        /// The envelope code, e.g. 20015 for an unknown symbol.
        code: i64,
        /// The envelope message.
        msg: String,
    },
    /// Rate limited (codes 10005/10006 or HTTP 429) and the retry budget is spent.
    #[error("rate limited by the exchange (codes 10005/10006 or HTTP 429)")]
    RateLimited,
    /// An operation did not finish in time.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The TLS layer failed (handshake, certificate, configuration).
    #[error("TLS error: {0}")]
    Tls(String),
    /// A socket-level failure.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The WebSocket handshake or framing failed (including a refused upgrade).
    #[error("WebSocket error: {0}")]
    WebSocket(String),
    /// An HTTP client failure that is not a status code (connection refused, reset, ...).
    #[error("HTTP transport error: {0}")]
    Transport(String),
    /// A response could not be decoded into the expected shape.
    #[error("undecodable response: {0}")]
    Decode(String),
    /// The request cannot be expressed against this exchange (e.g. 3m klines over REST).
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The feed was shut down.
    #[error("the feed is shut down")]
    Closed,
}

impl FeedError {
    /// A stable snake_case label for counters and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::InvalidUrl { .. } => "invalid_url",
            Self::Http { status } if *status >= 500 => "http_5xx",
            Self::Http { .. } => "http_status",
            Self::Api { .. } => "api_error",
            Self::RateLimited => "rate_limited",
            Self::Timeout(_) => "timeout",
            Self::Tls(_) => "tls",
            Self::Io(_) => "io",
            Self::WebSocket(_) => "websocket",
            Self::Transport(_) => "transport",
            Self::Decode(_) => "decode_error",
            Self::Unsupported(_) => "unsupported",
            Self::Closed => "closed",
        }
    }

    /// Whether retrying the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Http { status } => *status >= 500,
            Self::RateLimited
            | Self::Timeout(_)
            | Self::Io(_)
            | Self::Transport(_)
            | Self::WebSocket(_) => true,
            _ => false,
        }
    }
}
