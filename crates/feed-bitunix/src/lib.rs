//! The Bitunix public futures market-data client.
//!
//! # Brief overview
//! - [`BitunixFeed`] (spawned with [`BitunixFeed::spawn`]) implements [`la_core::MarketFeed`]:
//!   one managed WebSocket (fastwebsockets over tokio-rustls) subscribed to the kline,
//!   `ticker` and `price` channels of one symbol, with JSON heartbeats, an idle-data timeout,
//!   reconnects with jittered backoff, make-before-break rotation, candle-close detection,
//!   REST confirmation of quiet candles and gap backfill. [`FeedHandle`] reads the
//!   [`CountersSnapshot`], asks for a reconnect and shuts everything down.
//! - [`RestClient`]: the public REST endpoints (kline, funding rate and its history,
//!   trading pairs, tickers)
//!   behind one shared rate limiter, with the envelope `code`, the swapped kline volume
//!   labels and the percent funding rate handled.
//! - [`decode`]: the frame decoder and the exchange-time judge, usable on their own.
//!
//! # Layout
//! `config` (settings and validation), `endpoint` (URL policy), `tls`, `ws` (one socket:
//! reader, rate-limited writer), `supervisor` (the connection life cycle, heartbeat, intake,
//! REST helper tasks), `candles` (bucketing, closes, gaps), `backfill` (gap queue),
//! `backoff`, `rest` (REST transport and parsing), `counters`, `logging`.
//!
//! **Architecture invariant:** this is the only crate that knows Bitunix JSON; wire shapes
//! never leave it. Every bad frame is a counted, logged, typed rejection; nothing here panics
//! on input.

mod backfill;
mod backoff;
mod candles;
#[cfg(test)]
mod captured_frames;
mod clock;
mod config;
mod counters;
pub mod decode;
mod endpoint;
mod error;
mod feed;
mod logging;
pub mod rest;
mod supervisor;
mod tls;
mod ws;

pub use clock::SystemClock;
pub use config::{DEFAULT_REST_URL, DEFAULT_WS_URL, FeedConfig, rest_interval, ws_channel};
pub use counters::CountersSnapshot;
pub use error::FeedError;
pub use feed::{BitunixFeed, FeedHandle};
pub use rest::{InstrumentInfo, RestClient, ServerDate, SettledFunding, SymbolStatus};
