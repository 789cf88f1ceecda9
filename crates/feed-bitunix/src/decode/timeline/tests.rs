//! Exchange-time judgement tests on tokio's paused clock.

use std::time::Duration;

use la_core::TimestampMs;
use tokio::time::Instant;

use super::{Channel, Timeline, Verdict};
use crate::decode::FrameRejection;

fn ts(ms: i64) -> TimestampMs {
    TimestampMs::new(ms).unwrap()
}

fn timeline(skew: Option<Duration>) -> Timeline {
    Timeline::new(Duration::from_secs(3600), skew)
}

#[tokio::test(start_paused = true)]
async fn backwards_and_repeated_timestamps_are_out_of_order_and_duplicates() {
    let mut t = timeline(None);
    let now = Instant::now();
    let local = ts(1_786_650_732_204);
    assert_eq!(
        t.judge(Channel::Kline, ts(1_786_650_732_204), now, local),
        Verdict::Accept
    );
    assert_eq!(
        t.judge(Channel::Kline, ts(1_786_650_732_204), now, local),
        Verdict::Duplicate
    );
    assert_eq!(
        t.judge(Channel::Kline, ts(1_786_650_672_204), now, local),
        Verdict::OutOfOrder
    );
    // Channels are judged separately.
    assert_eq!(
        t.judge(Channel::Ticker, ts(1_786_650_672_204), now, local),
        Verdict::Accept
    );
    assert_eq!(t.last(Channel::Kline), Some(ts(1_786_650_732_204)));
}

#[tokio::test(start_paused = true)]
async fn a_push_a_day_ahead_is_a_jump_but_an_outage_is_not() {
    let mut t = timeline(None);
    let start = Instant::now();
    let t0 = 1_786_650_732_204;
    assert_eq!(
        t.judge(Channel::Kline, ts(t0), start, ts(t0)),
        Verdict::Accept
    );
    let day = 86_400_000;
    assert_eq!(
        t.judge(Channel::Kline, ts(t0 + day), start, ts(t0)),
        Verdict::Reject(FrameRejection::TimestampJump)
    );
    // The normal stream continues unharmed.
    assert_eq!(
        t.judge(Channel::Kline, ts(t0 + 500), start, ts(t0)),
        Verdict::Accept
    );
    // Two hours of local silence make a push two hours later perfectly plausible.
    tokio::time::advance(Duration::from_secs(7200)).await;
    assert_eq!(
        t.judge(Channel::Kline, ts(t0 + 7_200_500), Instant::now(), ts(t0)),
        Verdict::Accept
    );
}

#[tokio::test(start_paused = true)]
async fn a_consistent_new_timeline_is_adopted_after_a_few_pushes() {
    let mut t = timeline(None);
    let now = Instant::now();
    let t0 = 1_786_650_732_204;
    let later = t0 + 5 * 3_600_000;
    assert_eq!(
        t.judge(Channel::Price, ts(t0), now, ts(t0)),
        Verdict::Accept
    );
    assert_eq!(
        t.judge(Channel::Price, ts(later), now, ts(t0)),
        Verdict::Reject(FrameRejection::TimestampJump)
    );
    assert_eq!(
        t.judge(Channel::Price, ts(later + 300), now, ts(t0)),
        Verdict::Reject(FrameRejection::TimestampJump)
    );
    assert_eq!(
        t.judge(Channel::Price, ts(later + 600), now, ts(t0)),
        Verdict::Reanchored
    );
    assert_eq!(
        t.judge(Channel::Price, ts(later + 900), now, ts(t0)),
        Verdict::Accept
    );
}

#[tokio::test(start_paused = true)]
async fn skew_against_the_local_clock_is_checked_only_when_enabled() {
    let local = ts(1_786_650_732_204);
    let future = ts(1_786_650_732_204 + 86_400_000);
    let past = ts(1_786_650_732_204 - 600_000);
    let mut strict = timeline(Some(Duration::from_secs(300)));
    assert_eq!(
        strict.judge(Channel::Ticker, future, Instant::now(), local),
        Verdict::Reject(FrameRejection::FutureTimestamp)
    );
    assert_eq!(
        strict.judge(Channel::Ticker, past, Instant::now(), local),
        Verdict::Reject(FrameRejection::PastTimestamp)
    );
    let mut off = timeline(None);
    assert_eq!(
        off.judge(Channel::Ticker, past, Instant::now(), local),
        Verdict::Accept
    );
}
