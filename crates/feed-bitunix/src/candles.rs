//! Candle-close detection on exchange time, REST confirmation of quiet candles, and gap
//! detection. Pure logic: it returns [`Action`]s and the supervisor performs them.
//!
//! Kline pushes carry no open time and no "closed" flag (`ts` is push time), so:
//! 1. each push is bucketed by `interval.open_time_of(ts)`; pushes in the same bucket replace
//!    the forming candle (values are cumulative);
//! 2. the first push in a later bucket closes the previous candle with the last values seen
//!    (provenance `Live`) — unless the connection was lost since that candle's last push, in
//!    which case its final trades may be missing and it is confirmed over REST instead;
//! 3. if a bucket has ended (+ `close_grace`) and no later push arrived, it is confirmed over
//!    REST (`RestConfirmed`). "Ended" is measured on exchange time, extrapolated from the last
//!    push with the local monotonic clock ([`CandleTracker::deadline`]);
//! 4. a forming bucket more than one interval after the last closed (or claimed) bucket
//!    reveals a gap: `Gap{first_missing, missing}` and a backfill of exactly those buckets.
//!
//! Every open time is closed at most once, whatever the provenance.

use std::{collections::BTreeSet, time::Duration};

use la_core::{Candle, DataError, Interval, Price, Provenance, TimestampMs, Volume};
use tokio::time::Instant;

/// How many closed open times are remembered for de-duplication.
const CLOSED_MEMORY: usize = 4096;

/// What the supervisor must do after feeding the tracker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Emit `CandleUpdate`.
    Update(Candle),
    /// Emit `CandleClosed` with this provenance.
    Closed(Candle, Provenance),
    /// The closed values did not form a valid candle (counted, not emitted).
    Invalid(TimestampMs, DataError),
    /// Emit `Gap` and backfill these buckets.
    Gap {
        first_missing: TimestampMs,
        missing: u32,
    },
    /// Confirm the candle opening at this time over REST.
    Confirm(TimestampMs),
    /// A push for a bucket that is already closed or being confirmed (counted, dropped).
    Late,
}

#[derive(Clone, Copy, Debug)]
struct Forming {
    open_time: TimestampMs,
    open: Price,
    high: Price,
    low: Price,
    close: Price,
    volume: Volume,
    last_ts: TimestampMs,
    last_at: Instant,
    epoch: u64,
}

/// One kline push, validated by the decoder.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KlinePush {
    pub(crate) ts: TimestampMs,
    pub(crate) open: Price,
    pub(crate) high: Price,
    pub(crate) low: Price,
    pub(crate) close: Price,
    pub(crate) volume: Volume,
}

/// The candle state machine of one symbol and interval.
#[derive(Debug)]
pub(crate) struct CandleTracker {
    interval: Interval,
    close_grace: Duration,
    forming: Option<Forming>,
    next_expected: Option<TimestampMs>,
    closed: BTreeSet<TimestampMs>,
}

impl CandleTracker {
    pub(crate) fn new(interval: Interval, close_grace: Duration) -> Self {
        Self {
            interval,
            close_grace,
            forming: None,
            next_expected: None,
            closed: BTreeSet::new(),
        }
    }

    fn candle_of(&self, f: &Forming) -> Result<Candle, DataError> {
        Candle::new(
            self.interval,
            f.open_time,
            f.open,
            f.high,
            f.low,
            f.close,
            f.volume,
        )
    }

    fn after(&self, open_time: TimestampMs) -> TimestampMs {
        open_time
            .checked_add_ms(self.interval.as_ms())
            .unwrap_or(TimestampMs::MAX)
    }

    /// Marks `open_time` as finished (closed, or handed to REST) and advances the expected
    /// next bucket.
    fn finish(&mut self, open_time: TimestampMs) {
        let next = self.after(open_time);
        if self.next_expected.is_none_or(|e| next > e) {
            self.next_expected = Some(next);
        }
    }

    /// Records an emitted close; `false` if that open time was already closed.
    fn remember_closed(&mut self, open_time: TimestampMs) -> bool {
        if !self.closed.insert(open_time) {
            return false;
        }
        while self.closed.len() > CLOSED_MEMORY {
            self.closed.pop_first();
        }
        true
    }

    /// Closes the forming candle: live when the stream was continuous, else via REST.
    fn close_forming(&mut self, f: Forming, epoch: u64, out: &mut Vec<Action>) {
        self.finish(f.open_time);
        if f.epoch != epoch {
            out.push(Action::Confirm(f.open_time));
            return;
        }
        match self.candle_of(&f) {
            Ok(candle) => {
                if self.remember_closed(f.open_time) {
                    out.push(Action::Closed(candle, Provenance::Live));
                }
            }
            Err(error) => out.push(Action::Invalid(f.open_time, error)),
        }
    }

    /// Feeds one accepted kline push, received at local `now` on connection epoch `epoch`
    /// (the epoch changes whenever the stream was interrupted).
    pub(crate) fn on_kline(
        &mut self,
        push: KlinePush,
        now: Instant,
        epoch: u64,
        out: &mut Vec<Action>,
    ) {
        let bucket = self.interval.open_time_of(push.ts);
        if let Some(f) = self.forming {
            if bucket < f.open_time {
                out.push(Action::Late);
                return;
            }
            if bucket > f.open_time {
                self.forming = None;
                self.close_forming(f, epoch, out);
            }
        }
        if self.forming.is_none() {
            if self.next_expected.is_some_and(|e| bucket < e) || self.closed.contains(&bucket) {
                out.push(Action::Late);
                return;
            }
            if let Some(expected) = self.next_expected
                && bucket > expected
            {
                let missing = bucket.ms_since(expected) / self.interval.as_ms();
                out.push(Action::Gap {
                    first_missing: expected,
                    missing: u32::try_from(missing).unwrap_or(u32::MAX),
                });
            }
        }
        let forming = Forming {
            open_time: bucket,
            open: push.open,
            high: push.high,
            low: push.low,
            close: push.close,
            volume: push.volume,
            last_ts: push.ts,
            last_at: now,
            epoch,
        };
        self.forming = Some(forming);
        match self.candle_of(&forming) {
            Ok(candle) => out.push(Action::Update(candle)),
            Err(error) => out.push(Action::Invalid(bucket, error)),
        }
    }

    /// When the forming candle's bucket has ended plus the grace, on the local monotonic
    /// clock (exchange time extrapolated from its last push).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let f = self.forming?;
        let end = self.after(f.open_time);
        let remaining = u64::try_from(end.ms_since(f.last_ts)).unwrap_or(0);
        Some(f.last_at + Duration::from_millis(remaining) + self.close_grace)
    }

    /// The deadline passed with no later push: hand the candle to REST.
    pub(crate) fn on_deadline(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.deadline().is_some_and(|d| d <= now)
            && let Some(f) = self.forming.take()
        {
            self.finish(f.open_time);
            out.push(Action::Confirm(f.open_time));
        }
    }

    /// A REST answer for a confirmation or a backfill: emits candles not closed yet, in
    /// open-time order.
    pub(crate) fn on_rest_candles(
        &mut self,
        candles: &[Candle],
        provenance: Provenance,
        out: &mut Vec<Action>,
    ) {
        let mut sorted: Vec<&Candle> = candles.iter().collect();
        sorted.sort_by_key(|c| c.open_time());
        for candle in sorted {
            if self
                .forming
                .is_some_and(|f| f.open_time <= candle.open_time())
            {
                continue;
            }
            if self.remember_closed(candle.open_time()) {
                self.finish(candle.open_time());
                out.push(Action::Closed(*candle, provenance));
            }
        }
    }

    /// Whether `open_time` was already closed.
    pub(crate) fn is_closed(&self, open_time: TimestampMs) -> bool {
        self.closed.contains(&open_time)
    }
}

#[cfg(test)]
mod tests;
