//! The [`MarketFeed`] trait: an asynchronous source of [`MarketEvent`]s.
//!
//! Runtime-agnostic on purpose (plain `Future`s, no tokio types), so `core` stays free of
//! I/O. The Bitunix client, the simulator-backed client and the in-process mock all
//! implement it; only `session` composes them.

use std::future::Future;

use crate::market::MarketEvent;

/// A stream of market events for one symbol and interval.
pub trait MarketFeed: Send {
    /// The next event, or `None` once the feed has shut down for good.
    fn next_event(&mut self) -> impl Future<Output = Option<MarketEvent>> + Send;

    /// Asks the feed to drop its connection and reconnect (used by the stale-data ladder).
    /// Feeds without a connection ignore it.
    fn request_reconnect(&mut self) {}
}
