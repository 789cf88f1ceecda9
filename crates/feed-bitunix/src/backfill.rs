//! The gap backfill queue: which missing buckets still need fetching, and when the next
//! fetch may start.
//!
//! At most one backfill runs at a time and at most one starts per `backfill_min_interval`
//! (REST is shared with confirmations and the session's own calls). A gap that arrives during
//! the cooldown is queued, never forgotten; a failed or incomplete fetch puts the buckets back
//! for another attempt, up to [`MAX_ATTEMPTS`], after which they are reported unrecoverable.
//! The fetch itself runs in a spawned task, off the data path.

use std::{collections::BTreeMap, time::Duration};

use la_core::{Interval, TimestampMs};
use tokio::time::Instant;

/// Attempts per missing bucket before it is given up.
pub(crate) const MAX_ATTEMPTS: u32 = 5;

/// Buckets fetched by one backfill at most (one REST page).
const MAX_BATCH: i64 = 200;

/// One fetch to perform: `[from, to)`, and the buckets it must deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Batch {
    pub(crate) from: TimestampMs,
    pub(crate) to: TimestampMs,
    pub(crate) wanted: Vec<TimestampMs>,
}

/// The queue of missing buckets.
#[derive(Debug)]
pub(crate) struct BackfillQueue {
    interval: Interval,
    min_interval: Duration,
    /// Missing open time → attempts made so far.
    pending: BTreeMap<TimestampMs, u32>,
    in_flight: bool,
    last_start: Option<Instant>,
}

impl BackfillQueue {
    pub(crate) fn new(interval: Interval, min_interval: Duration) -> Self {
        Self {
            interval,
            min_interval,
            pending: BTreeMap::new(),
            in_flight: false,
            last_start: None,
        }
    }

    /// Queues `count` buckets starting at `first` (bounded to a day of buckets per gap so a
    /// hostile timestamp cannot queue millions).
    pub(crate) fn push_gap(&mut self, first: TimestampMs, count: u32) {
        let cap = (86_400_000 / self.interval.as_ms()).max(1);
        let count = i64::from(count).min(cap);
        for i in 0..count {
            if let Some(open) = first.checked_add_ms(i * self.interval.as_ms()) {
                self.pending.entry(open).or_insert(0);
            }
        }
    }

    /// Queues one bucket (e.g. a confirmation that failed).
    pub(crate) fn push_one(&mut self, open_time: TimestampMs) {
        self.pending.entry(open_time).or_insert(0);
    }

    /// Number of buckets waiting.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// When the next batch may start (`None`: nothing to do, or one is running). "Now" when
    /// no batch ever ran; [`BackfillQueue::start`] does not re-read the clock for that case,
    /// so a timer on this instant can never spin.
    pub(crate) fn ready_at(&self) -> Option<Instant> {
        if self.in_flight || self.pending.is_empty() {
            return None;
        }
        Some(match self.last_start {
            Some(last) => last + self.min_interval,
            None => Instant::now(),
        })
    }

    /// Takes the next batch: the oldest pending bucket and those after it within one page.
    pub(crate) fn start(&mut self, now: Instant) -> Option<Batch> {
        if self.in_flight || self.pending.is_empty() {
            return None;
        }
        if self
            .last_start
            .is_some_and(|last| now < last + self.min_interval)
        {
            return None;
        }
        let (&from, _) = self.pending.first_key_value()?;
        let limit = from
            .checked_add_ms(MAX_BATCH * self.interval.as_ms())
            .unwrap_or(TimestampMs::MAX);
        let wanted: Vec<TimestampMs> = self.pending.range(from..limit).map(|(k, _)| *k).collect();
        let last = *wanted.last()?;
        let to = last
            .checked_add_ms(self.interval.as_ms())
            .unwrap_or(TimestampMs::MAX);
        self.in_flight = true;
        self.last_start = Some(now);
        Some(Batch { from, to, wanted })
    }

    /// Records a finished batch: `delivered` buckets leave the queue, the rest of `batch`
    /// stays for another attempt. Returns the buckets given up after [`MAX_ATTEMPTS`].
    pub(crate) fn finish(&mut self, batch: &Batch, delivered: &[TimestampMs]) -> Vec<TimestampMs> {
        self.in_flight = false;
        let mut given_up = Vec::new();
        for open in &batch.wanted {
            if delivered.contains(open) {
                self.pending.remove(open);
                continue;
            }
            if let Some(attempts) = self.pending.get_mut(open) {
                *attempts += 1;
                if *attempts >= MAX_ATTEMPTS {
                    self.pending.remove(open);
                    given_up.push(*open);
                }
            }
        }
        given_up
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_704_067_200_000;

    fn ts(ms: i64) -> TimestampMs {
        TimestampMs::new(ms).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn backfill_is_rate_limited_and_a_gap_during_the_cooldown_is_not_forgotten() {
        let mut q = BackfillQueue::new(Interval::M1, Duration::from_secs(30));
        q.push_gap(ts(T0), 3);
        let now = Instant::now();
        let first = q.start(now).unwrap();
        assert_eq!(first.wanted.len(), 3);
        assert_eq!(first.to, ts(T0 + 3 * 60_000));
        // A second gap arrives while the first is in flight and during the cooldown.
        q.push_gap(ts(T0 + 10 * 60_000), 2);
        assert_eq!(q.ready_at(), None);
        assert!(q.finish(&first, &first.wanted).is_empty());
        assert_eq!(q.ready_at(), Some(now + Duration::from_secs(30)));
        assert!(q.start(now + Duration::from_secs(29)).is_none());
        let second = q.start(now + Duration::from_secs(30)).unwrap();
        assert_eq!(second.wanted, vec![ts(T0 + 600_000), ts(T0 + 660_000)]);
    }

    #[tokio::test(start_paused = true)]
    async fn undelivered_buckets_are_retried_then_given_up() {
        let mut q = BackfillQueue::new(Interval::M1, Duration::from_secs(1));
        q.push_gap(ts(T0), 2);
        let mut now = Instant::now();
        let mut given_up = Vec::new();
        for _ in 0..MAX_ATTEMPTS {
            let batch = q.start(now).unwrap();
            given_up = q.finish(&batch, &[ts(T0)]);
            now += Duration::from_secs(1);
        }
        assert_eq!(given_up, vec![ts(T0 + 60_000)]);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_hostile_gap_is_bounded_to_a_day_of_buckets() {
        let mut q = BackfillQueue::new(Interval::M1, Duration::from_secs(1));
        q.push_gap(ts(T0), u32::MAX);
        assert_eq!(q.len(), 1440);
    }
}
