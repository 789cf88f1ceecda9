//! Judging exchange timestamps on the exchange's own timeline.
//!
//! Each data channel keeps its last accepted push time. A new push is:
//! - a **duplicate** if its `ts` equals the last one, **out of order** if it is earlier
//!   (both dropped and counted; this is also what de-duplicates the overlap of a
//!   make-before-break rotation);
//! - a **jump** if it is further ahead than `max_ts_jump` beyond the last push *plus the
//!   local monotonic time elapsed since it* (so an outage does not make the next push look
//!   like a jump). A lone bogus push a day ahead is rejected; if several consecutive pushes
//!   agree on the new timeline (the exchange really moved, e.g. an accelerated replay), the
//!   timeline is re-anchored after [`REANCHOR_AFTER`] of them instead of rejecting forever;
//! - outside the **skew** tolerance against the local clock, only when that check is on
//!   (`max_clock_skew: None` switches it off for replays and accelerated simulators).

use std::time::Duration;

use la_core::TimestampMs;
use tokio::time::Instant;

use super::FrameRejection;

/// Consecutive, mutually consistent "jumped" pushes after which the new timeline is adopted.
pub const REANCHOR_AFTER: u32 = 3;

/// The data channels judged separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// `market_kline_*`.
    Kline,
    /// `ticker`.
    Ticker,
    /// `price`.
    Price,
}

impl Channel {
    const fn index(self) -> usize {
        match self {
            Self::Kline => 0,
            Self::Ticker => 1,
            Self::Price => 2,
        }
    }
}

/// What to do with a push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Use it.
    Accept,
    /// Use it: the channel's timeline was re-anchored after several consistent jumps (the
    /// caller should log this).
    Reanchored,
    /// Same `ts` as the previous push: drop and count as a duplicate.
    Duplicate,
    /// Earlier than the previous push: drop and count as out of order.
    OutOfOrder,
    /// Reject with this reason (counted with the other rejections).
    Reject(FrameRejection),
}

#[derive(Clone, Copy, Debug, Default)]
struct ChannelClock {
    last: Option<(TimestampMs, Instant)>,
    /// A rejected jump target and how many consistent pushes have backed it.
    pending_jump: Option<(TimestampMs, Instant, u32)>,
}

/// Per-channel exchange-time bookkeeping.
#[derive(Clone, Debug)]
pub struct Timeline {
    max_ts_jump: Duration,
    max_clock_skew: Option<Duration>,
    channels: [ChannelClock; 3],
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Timeline {
    /// A timeline with the given bounds.
    pub fn new(max_ts_jump: Duration, max_clock_skew: Option<Duration>) -> Self {
        Self {
            max_ts_jump,
            max_clock_skew,
            channels: [ChannelClock::default(); 3],
        }
    }

    /// The last accepted push time on `channel`.
    pub fn last(&self, channel: Channel) -> Option<TimestampMs> {
        self.channels[channel.index()].last.map(|(ts, _)| ts)
    }

    /// Judges a push at exchange time `ts`, received at local monotonic `now`, with the local
    /// wall clock reading `local_now`. Updates the channel on [`Verdict::Accept`] and [`Verdict::Reanchored`].
    pub fn judge(
        &mut self,
        channel: Channel,
        ts: TimestampMs,
        now: Instant,
        local_now: TimestampMs,
    ) -> Verdict {
        if let Some(skew) = self.max_clock_skew {
            let ahead = ts.ms_since(local_now);
            if ahead > ms(skew) {
                return Verdict::Reject(FrameRejection::FutureTimestamp);
            }
            if -ahead > ms(skew) {
                return Verdict::Reject(FrameRejection::PastTimestamp);
            }
        }
        let max_jump = ms(self.max_ts_jump);
        let clock = &mut self.channels[channel.index()];
        if let Some((last_ts, last_at)) = clock.last {
            if ts == last_ts {
                return Verdict::Duplicate;
            }
            if ts < last_ts {
                return Verdict::OutOfOrder;
            }
            let elapsed = ms(now.saturating_duration_since(last_at));
            let expected = last_ts.as_ms().saturating_add(elapsed);
            if ts.as_ms().saturating_sub(expected) > max_jump {
                let consistent = clock.pending_jump.and_then(|(pending_ts, at, n)| {
                    let drift = ms(now.saturating_duration_since(at));
                    let gap = ts.ms_since(pending_ts);
                    (gap >= 0 && gap.saturating_sub(drift) <= max_jump).then_some(n)
                });
                let backed = consistent.map_or(1, |n| n + 1);
                if backed < REANCHOR_AFTER {
                    clock.pending_jump = Some((ts, now, backed));
                    return Verdict::Reject(FrameRejection::TimestampJump);
                }
                clock.last = Some((ts, now));
                clock.pending_jump = None;
                return Verdict::Reanchored;
            }
        }
        clock.last = Some((ts, now));
        clock.pending_jump = None;
        Verdict::Accept
    }
}

#[cfg(test)]
mod tests;
