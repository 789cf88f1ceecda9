//! Candle state-machine tests on exchange time with tokio's paused clock.

use std::time::Duration;

use la_core::{Candle, Interval, Provenance, TimestampMs};
use tokio::time::Instant;

use super::{Action, CandleTracker, KlinePush};

const T0: i64 = 1_704_067_200_000; // 2024-01-01T00:00:00Z, aligned to every interval.
const MIN: i64 = 60_000;

fn push(ts_ms: i64, close: &str) -> KlinePush {
    KlinePush {
        ts: TimestampMs::new(ts_ms).unwrap(),
        open: "100".parse().unwrap(),
        high: "110".parse().unwrap(),
        low: "90".parse().unwrap(),
        close: close.parse().unwrap(),
        volume: "1.5".parse().unwrap(),
    }
}

fn ts(ms: i64) -> TimestampMs {
    TimestampMs::new(ms).unwrap()
}

fn tracker() -> CandleTracker {
    CandleTracker::new(Interval::M1, Duration::from_secs(5))
}

fn closed(actions: &[Action]) -> Vec<(i64, Provenance)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Closed(c, p) => Some((c.open_time().as_ms(), *p)),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_push_in_a_later_bucket_closes_the_previous_candle_with_its_last_values() {
    let mut t = tracker();
    let mut out = Vec::new();
    t.on_kline(push(T0 + 1_000, "101"), Instant::now(), 0, &mut out);
    t.on_kline(push(T0 + 59_500, "105"), Instant::now(), 0, &mut out);
    assert!(closed(&out).is_empty());
    out.clear();
    t.on_kline(push(T0 + MIN + 200, "106"), Instant::now(), 0, &mut out);
    let Some(Action::Closed(candle, Provenance::Live)) = out.first() else {
        panic!("{out:?}");
    };
    assert_eq!(candle.open_time(), ts(T0));
    assert_eq!(candle.close(), "105".parse().unwrap());
    assert!(matches!(out.get(1), Some(Action::Update(c)) if c.open_time() == ts(T0 + MIN)));
}

#[tokio::test(start_paused = true)]
async fn a_quiet_bucket_is_confirmed_over_rest_after_its_end_plus_grace() {
    let mut t = tracker();
    let mut out = Vec::new();
    let start = Instant::now();
    t.on_kline(push(T0 + 50_000, "101"), start, 0, &mut out);
    // Bucket ends 10 s after the push; + 5 s grace.
    assert_eq!(t.deadline(), Some(start + Duration::from_secs(15)));
    out.clear();
    t.on_deadline(start + Duration::from_secs(14), &mut out);
    assert!(out.is_empty());
    t.on_deadline(start + Duration::from_secs(15), &mut out);
    assert_eq!(out, vec![Action::Confirm(ts(T0))]);
    assert_eq!(t.deadline(), None);
    // A late push for the confirmed bucket is dropped; the next bucket forms without a gap.
    out.clear();
    t.on_kline(push(T0 + 59_900, "102"), start, 0, &mut out);
    assert_eq!(out, vec![Action::Late]);
    out.clear();
    t.on_kline(push(T0 + MIN + 100, "103"), start, 0, &mut out);
    assert!(matches!(out.as_slice(), [Action::Update(_)]), "{out:?}");
}

#[tokio::test(start_paused = true)]
async fn skipped_buckets_are_reported_as_one_gap_with_the_exact_count() {
    let mut t = tracker();
    let mut out = Vec::new();
    t.on_kline(push(T0 + 30_000, "101"), Instant::now(), 0, &mut out);
    out.clear();
    t.on_kline(push(T0 + 4 * MIN + 10, "101"), Instant::now(), 0, &mut out);
    assert_eq!(closed(&out), vec![(T0, Provenance::Live)]);
    assert!(out.contains(&Action::Gap {
        first_missing: ts(T0 + MIN),
        missing: 3
    }));
}

#[tokio::test(start_paused = true)]
async fn a_candle_interrupted_by_a_reconnect_is_confirmed_not_closed_live() {
    let mut t = tracker();
    let mut out = Vec::new();
    t.on_kline(push(T0 + 30_000, "101"), Instant::now(), 1, &mut out);
    out.clear();
    // Epoch 2: the stream was interrupted since the last push of bucket T0.
    t.on_kline(push(T0 + MIN + 500, "101"), Instant::now(), 2, &mut out);
    assert_eq!(out.first(), Some(&Action::Confirm(ts(T0))));
    // A snapshot after a reconnect within the same bucket simply continues it.
    out.clear();
    t.on_kline(push(T0 + MIN + 900, "104"), Instant::now(), 3, &mut out);
    t.on_kline(push(T0 + 2 * MIN + 1, "104"), Instant::now(), 3, &mut out);
    assert_eq!(closed(&out), vec![(T0 + MIN, Provenance::Live)]);
}

fn rest_candle(open_ms: i64) -> Candle {
    Candle::new(
        Interval::M1,
        ts(open_ms),
        "100".parse().unwrap(),
        "101".parse().unwrap(),
        "99".parse().unwrap(),
        "100.5".parse().unwrap(),
        "2".parse().unwrap(),
    )
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn rest_candles_are_emitted_once_in_open_time_order_and_never_for_the_forming_bucket() {
    let mut t = tracker();
    let mut out = Vec::new();
    t.on_kline(push(T0 + 100, "101"), Instant::now(), 0, &mut out);
    t.on_kline(push(T0 + 5 * MIN + 100, "101"), Instant::now(), 0, &mut out);
    out.clear();
    let fetched = [
        rest_candle(T0 + 3 * MIN),
        rest_candle(T0 + MIN),
        rest_candle(T0), // already closed live
        rest_candle(T0 + 2 * MIN),
        rest_candle(T0 + 4 * MIN),
        rest_candle(T0 + 5 * MIN), // forming
    ];
    t.on_rest_candles(&fetched, Provenance::Backfilled, &mut out);
    assert_eq!(
        closed(&out),
        (1..=4)
            .map(|i| (T0 + i * MIN, Provenance::Backfilled))
            .collect::<Vec<_>>()
    );
    out.clear();
    t.on_rest_candles(&fetched, Provenance::Backfilled, &mut out);
    assert!(out.is_empty(), "emitted twice: {out:?}");
    assert!(t.is_closed(ts(T0 + 2 * MIN)));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_follows_the_latest_push() {
    let mut t = tracker();
    let mut out = Vec::new();
    let start = Instant::now();
    t.on_kline(push(T0 + 10_000, "101"), start, 0, &mut out);
    let later = start + Duration::from_secs(30);
    t.on_kline(push(T0 + 40_000, "101"), later, 0, &mut out);
    assert_eq!(t.deadline(), Some(later + Duration::from_secs(25)));
}
