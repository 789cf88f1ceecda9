//! Counters of everything the feed saw, rejected, sent and retried, for the session's status
//! file and for tests that prove nothing was lost silently.
//!
//! One shared, mutex-protected record: the data path touches it a few times per frame, far
//! below contention levels, and a snapshot is a plain clone. Keys are stable snake_case
//! labels (`kline`, `not_json`, `rate_limited`, ...).

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
};

use serde::Serialize;

/// A point-in-time copy of the counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CountersSnapshot {
    /// Data and control frames received, by channel (`kline`, `ticker`, `price`, `pong`,
    /// `connect`, `control`, `ignored`).
    pub frames_by_channel: BTreeMap<String, u64>,
    /// Frames rejected, by reason label ([`crate::decode::FrameRejection::as_str`]).
    pub rejections_by_reason: BTreeMap<String, u64>,
    /// Kline pushes accepted after a documented normalisation, by label
    /// (`open_outside_range`: the range was widened to include the open).
    pub frames_normalized: BTreeMap<String, u64>,
    /// Pushes dropped because their timestamp equalled the previous one on the channel.
    pub duplicates_dropped: u64,
    /// Pushes dropped because their timestamp went backwards (or their bucket was already
    /// closed).
    pub out_of_order_dropped: u64,
    /// Connections re-established after the first one (unplanned or requested).
    pub reconnects: u64,
    /// Planned make-before-break rotations completed.
    pub rotations: u64,
    /// JSON pings sent.
    pub pings_sent: u64,
    /// Pong replies received.
    pub pongs_received: u64,
    /// Round trip of the last answered ping, in milliseconds (local monotonic clock).
    pub last_pong_rtt_ms: Option<u64>,
    /// REST requests by outcome (`ok`, `rate_limited`, `http_5xx`, `timeout`, ...).
    pub rest_by_outcome: BTreeMap<String, u64>,
    /// REST kline rows rejected, by reason (e.g. `ohlc_inconsistent`).
    pub rest_rows_rejected: BTreeMap<String, u64>,
    /// REST kline rows accepted after a documented normalisation, by label
    /// (`open_outside_range`).
    pub rest_rows_normalized: BTreeMap<String, u64>,
    /// Candles closed by a push in a later bucket.
    pub candles_closed_live: u64,
    /// Candles whose close was confirmed over REST (no later push in time).
    pub candles_rest_confirmed: u64,
    /// Candles fetched over REST to fill gaps.
    pub candles_backfilled: u64,
    /// Closed candles whose values failed validation (never emitted).
    pub candles_invalid: u64,
    /// Gaps detected in the stream.
    pub gaps_detected: u64,
    /// Missing candles the REST backfill could not supply.
    pub candles_unrecoverable: u64,
    /// Client messages written to sockets (subscribe, ping, close replies).
    pub messages_sent: u64,
    /// Events not delivered because the consumer was behind (only ticks and candle updates
    /// are ever dropped), by kind.
    pub events_dropped: BTreeMap<String, u64>,
    /// Iterations of the supervisor loop: a few per received frame or timer. A runaway
    /// count relative to the frames received would reveal a busy loop.
    pub supervisor_wakeups: u64,
}

/// The shared, live counters.
#[derive(Clone, Debug, Default)]
pub(crate) struct Counters {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub(crate) frames_by_channel: BTreeMap<&'static str, u64>,
    pub(crate) rejections_by_reason: BTreeMap<&'static str, u64>,
    pub(crate) frames_normalized: BTreeMap<&'static str, u64>,
    pub(crate) rest_rows_normalized: BTreeMap<&'static str, u64>,
    pub(crate) rest_by_outcome: BTreeMap<&'static str, u64>,
    pub(crate) rest_rows_rejected: BTreeMap<&'static str, u64>,
    pub(crate) events_dropped: BTreeMap<&'static str, u64>,
    pub(crate) duplicates_dropped: u64,
    pub(crate) out_of_order_dropped: u64,
    pub(crate) reconnects: u64,
    pub(crate) rotations: u64,
    pub(crate) pings_sent: u64,
    pub(crate) pongs_received: u64,
    pub(crate) last_pong_rtt_ms: Option<u64>,
    pub(crate) candles_closed_live: u64,
    pub(crate) candles_rest_confirmed: u64,
    pub(crate) candles_backfilled: u64,
    pub(crate) candles_invalid: u64,
    pub(crate) gaps_detected: u64,
    pub(crate) candles_unrecoverable: u64,
    pub(crate) messages_sent: u64,
    pub(crate) supervisor_wakeups: u64,
}

fn owned(map: &BTreeMap<&'static str, u64>) -> BTreeMap<String, u64> {
    map.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

impl Counters {
    /// Locks the counters; a poisoned lock is recovered (counters stay usable after a
    /// panic elsewhere).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds one to `key` of the map chosen by `pick`.
    pub(crate) fn bump(
        &self,
        pick: impl FnOnce(&mut Inner) -> &mut BTreeMap<&'static str, u64>,
        key: &'static str,
    ) {
        let mut inner = self.lock();
        *pick(&mut inner).entry(key).or_insert(0) += 1;
    }

    /// A copy of every counter.
    pub(crate) fn snapshot(&self) -> CountersSnapshot {
        let inner = self.lock();
        CountersSnapshot {
            frames_by_channel: owned(&inner.frames_by_channel),
            rejections_by_reason: owned(&inner.rejections_by_reason),
            frames_normalized: owned(&inner.frames_normalized),
            duplicates_dropped: inner.duplicates_dropped,
            out_of_order_dropped: inner.out_of_order_dropped,
            reconnects: inner.reconnects,
            rotations: inner.rotations,
            pings_sent: inner.pings_sent,
            pongs_received: inner.pongs_received,
            last_pong_rtt_ms: inner.last_pong_rtt_ms,
            rest_by_outcome: owned(&inner.rest_by_outcome),
            rest_rows_rejected: owned(&inner.rest_rows_rejected),
            rest_rows_normalized: owned(&inner.rest_rows_normalized),
            candles_closed_live: inner.candles_closed_live,
            candles_rest_confirmed: inner.candles_rest_confirmed,
            candles_backfilled: inner.candles_backfilled,
            candles_invalid: inner.candles_invalid,
            gaps_detected: inner.gaps_detected,
            candles_unrecoverable: inner.candles_unrecoverable,
            messages_sent: inner.messages_sent,
            events_dropped: owned(&inner.events_dropped),
            supervisor_wakeups: inner.supervisor_wakeups,
        }
    }
}

impl CountersSnapshot {
    /// Total rejected frames over all reasons.
    pub fn total_rejections(&self) -> u64 {
        self.rejections_by_reason.values().sum()
    }

    /// REST requests with outcome `label` (0 when never seen).
    pub fn rest_outcome(&self, label: &str) -> u64 {
        self.rest_by_outcome.get(label).copied().unwrap_or(0)
    }

    /// Frames rejected for `reason` (0 when never seen).
    pub fn rejections(&self, reason: &str) -> u64 {
        self.rejections_by_reason.get(reason).copied().unwrap_or(0)
    }

    /// Frames received on `channel` (0 when never seen).
    pub fn frames(&self, channel: &str) -> u64 {
        self.frames_by_channel.get(channel).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_copies_maps_and_scalars() {
        let counters = Counters::default();
        counters.bump(|c| &mut c.rejections_by_reason, "not_json");
        counters.bump(|c| &mut c.rejections_by_reason, "not_json");
        counters.lock().reconnects = 3;
        let snap = counters.snapshot();
        assert_eq!(snap.rejections("not_json"), 2);
        assert_eq!(snap.total_rejections(), 2);
        assert_eq!(snap.reconnects, 3);
        let json = serde_json::to_string(&snap).unwrap();
        assert!(json.contains("\"not_json\":2"), "{json}");
    }
}
