//! Noticing that the market went on without the session: after a restart, a suspend of the
//! machine or the process, or an outage of the data. Pure logic on injected clocks; the live
//! session acts on what it finds (see `catch_up` and `live/catch_up.rs`).
//!
//! Two local clocks tell a suspend apart from a slow loop. `CLOCK_MONOTONIC` (tokio's
//! `Instant`) stops while the machine sleeps; the wall clock does not. So on a check made
//! every heartbeat:
//! - the wall clock moved further than the monotonic one by more than
//!   [`SLEEP_THRESHOLD`]: the **machine slept** ([`DowntimeSignal::WallClockJump`]);
//! - the monotonic clock moved more than [`STALL_THRESHOLD`] past the expected period: the
//!   loop did not run, the **process was stopped** (SIGSTOP stops the process but neither
//!   clock: [`DowntimeSignal::LoopStalled`]);
//! - a wall clock stepping backwards (an NTP correction) is logged and ignored.
//!
//! The exchange's own timeline is the third witness: consecutive market events more than
//! [`EXCHANGE_JUMP_INTERVALS`] intervals apart mean candles were missed
//! ([`exchange_jump`]), whatever the local clocks say.

use std::time::Duration;

use la_core::{Interval, TimestampMs};
pub use la_run_schema::downtime::{
    CatchUpExit, CatchUpOutcome, CatchingUp, DowntimeCause, DowntimeRecord, DowntimeSignal,
};

/// Wall-clock advance beyond the monotonic one that counts as the machine having slept.
pub const SLEEP_THRESHOLD: Duration = Duration::from_secs(5);

/// Monotonic time beyond the expected check period that counts as the process having been
/// stopped (a save may legitimately hold the loop for a few seconds).
pub const STALL_THRESHOLD: Duration = Duration::from_secs(5);

/// Consecutive exchange times further apart than this many intervals mean missed candles.
pub const EXCHANGE_JUMP_INTERVALS: i64 = 2;

/// The two local clocks a suspend is judged by.
pub trait LocalClocks {
    /// `CLOCK_MONOTONIC` since an arbitrary origin: stops while the machine sleeps.
    fn monotonic(&self) -> Duration;
    /// The wall clock (`CLOCK_REALTIME`), epoch milliseconds: runs on through a sleep.
    fn wall_ms(&self) -> i64;
}

/// The process's clocks: tokio's monotonic `Instant` (paused in tests) and the system wall
/// clock.
#[derive(Clone, Copy, Debug)]
pub struct SystemClocks {
    origin: tokio::time::Instant,
}

impl Default for SystemClocks {
    fn default() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl LocalClocks for SystemClocks {
    fn monotonic(&self) -> Duration {
        self.origin.elapsed()
    }
    fn wall_ms(&self) -> i64 {
        crate::time_fmt::wall_now_ms()
    }
}

/// `downtime: restart 2024-01-01T07:57:00Z → 2024-01-01T16:35:00Z (518 min), caught_up:
/// 518 candles, 1 exit, 2 funding`.
pub fn summary_line(record: &DowntimeRecord) -> String {
    format!(
        "downtime: {} {} → {} ({} min, {}), {}: {} candles replayed, {} missing, {} exit(s), {} funding, {} funding skipped",
        record.cause.as_str(),
        crate::time_fmt::ms_to_rfc3339(record.start_ms),
        crate::time_fmt::ms_to_rfc3339(record.end_ms),
        record.length_ms / 60_000,
        record.detected_by.as_str(),
        record.outcome.as_str(),
        record.candles_replayed,
        record.candles_missing,
        record.exits.len(),
        record.funding.len(),
        record.funding_skipped
    )
}

/// A suspend found by [`SuspendDetector::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suspension {
    /// How it showed.
    pub signal: DowntimeSignal,
    /// How long the session was away, by the local clocks.
    pub away: Duration,
}

/// Compares the two local clocks between checks (one per heartbeat).
#[derive(Clone, Copy, Debug)]
pub struct SuspendDetector {
    /// The period checks are expected at.
    period: Duration,
    last: Option<(Duration, i64)>,
}

impl SuspendDetector {
    /// A detector checked every `period`.
    pub fn new(period: Duration) -> Self {
        Self { period, last: None }
    }

    /// Reads `clocks` and says whether the session was suspended since the last check. The
    /// first check only records the readings.
    pub fn check(&mut self, clocks: &dyn LocalClocks) -> Option<Suspension> {
        let now = (clocks.monotonic(), clocks.wall_ms());
        let (last_mono, last_wall) = self.last.replace(now)?;
        let mono = now.0.saturating_sub(last_mono);
        let wall_ms = now.1.saturating_sub(last_wall);
        let wall = Duration::from_millis(u64::try_from(wall_ms).unwrap_or(0));
        if wall_ms < 0 {
            tracing::warn!(
                stepped_back_ms = -wall_ms,
                "the wall clock stepped backwards; not a suspend"
            );
        }
        if wall.saturating_sub(mono) > SLEEP_THRESHOLD {
            return Some(Suspension {
                signal: DowntimeSignal::WallClockJump,
                away: wall.saturating_sub(mono),
            });
        }
        if mono > self.period + STALL_THRESHOLD {
            return Some(Suspension {
                signal: DowntimeSignal::LoopStalled,
                away: mono.saturating_sub(self.period),
            });
        }
        None
    }
}

/// How far `now` jumped past `previous` on the exchange's timeline, when consecutive market
/// events are more than [`EXCHANGE_JUMP_INTERVALS`] intervals apart (candles were missed).
pub fn exchange_jump(
    previous: Option<TimestampMs>,
    now: TimestampMs,
    interval: Interval,
) -> Option<i64> {
    let gap = now.ms_since(previous?);
    (gap > EXCHANGE_JUMP_INTERVALS.saturating_mul(interval.as_ms())).then_some(gap)
}

/// The candles catch-ups replayed, as open-time ranges `(after, through]`: each replay
/// decides the candles newer than the last one the engine had decided (`after`) up to the
/// newest complete one (`through`).
///
/// A candle that arrives later inside one of them (the feed's own backfill of the same gap)
/// is already booked and is dropped. One outside them is not: a hole the catch-up never
/// filled, such as a gap whose backfill failed just before the downtime and succeeds after
/// it, lies *before* the replay's first candle although its open time is older than the
/// newest candle replayed; it goes to the engine, which decides it or records it as late.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayedCandles(Vec<(Option<TimestampMs>, TimestampMs)>);

impl ReplayedCandles {
    /// Records a replay that decided the candles after `after` (none decided before: from
    /// the start) through `through`, both open times.
    pub fn add(&mut self, after: Option<TimestampMs>, through: TimestampMs) {
        if after.is_none_or(|after| through > after) {
            self.0.push((after, through));
        }
    }

    /// Whether the candle opening at `open` was decided by a replay.
    pub fn covers(&self, open: TimestampMs) -> bool {
        self.0
            .iter()
            .any(|(after, through)| after.is_none_or(|after| open > after) && open <= *through)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// Clocks moved by hand.
    #[derive(Default)]
    struct ManualClocks {
        mono: Cell<Duration>,
        wall: Cell<i64>,
    }

    /// 2024-01-01 plus `ms`.
    fn ts(ms: i64) -> TimestampMs {
        TimestampMs::new(1_704_067_200_000 + ms).unwrap()
    }

    #[test]
    fn a_hole_before_the_replayed_candles_is_not_covered_by_them() {
        let mut replayed = ReplayedCandles::default();
        // Decided through 10 min, then a catch-up replayed 11..=20 min.
        replayed.add(Some(ts(10 * 60_000)), ts(20 * 60_000));
        assert!(replayed.covers(ts(11 * 60_000)));
        assert!(replayed.covers(ts(20 * 60_000)));
        // The candle at 10 min was decided live; 8 min is an older hole (a backfill that had
        // failed): neither was replayed.
        assert!(!replayed.covers(ts(10 * 60_000)));
        assert!(!replayed.covers(ts(8 * 60_000)));
        assert!(!replayed.covers(ts(21 * 60_000)));
        // A second catch-up adds its own range; the gap between the two is not covered.
        replayed.add(Some(ts(25 * 60_000)), ts(30 * 60_000));
        assert!(replayed.covers(ts(26 * 60_000)));
        assert!(!replayed.covers(ts(23 * 60_000)));
        // A replay that decided nothing covers nothing; one from the start covers all before.
        let mut empty = ReplayedCandles::default();
        empty.add(Some(ts(5 * 60_000)), ts(5 * 60_000));
        assert!(!empty.covers(ts(5 * 60_000)));
        empty.add(None, ts(2 * 60_000));
        assert!(empty.covers(ts(0)) && !empty.covers(ts(3 * 60_000)));
    }

    impl ManualClocks {
        fn advance(&self, mono: Duration, wall: Duration) {
            self.mono.set(self.mono.get() + mono);
            let wall_ms = i64::try_from(wall.as_millis()).unwrap_or(i64::MAX);
            self.wall.set(self.wall.get() + wall_ms);
        }
    }

    impl LocalClocks for ManualClocks {
        fn monotonic(&self) -> Duration {
            self.mono.get()
        }
        fn wall_ms(&self) -> i64 {
            self.wall.get()
        }
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_wall_clock_jump_against_the_monotonic_clock_is_a_machine_sleep() {
        let clocks = ManualClocks::default();
        clocks.wall.set(1_786_579_200_000);
        let mut detector = SuspendDetector::new(SECOND);
        assert_eq!(
            detector.check(&clocks),
            None,
            "the first check only records"
        );
        for _ in 0..5 {
            clocks.advance(SECOND, SECOND);
            assert_eq!(detector.check(&clocks), None, "an ordinary heartbeat");
        }
        // Two hours asleep: CLOCK_MONOTONIC stood still, the wall clock ran on.
        clocks.advance(SECOND, 2 * 3600 * SECOND + SECOND);
        assert_eq!(
            detector.check(&clocks),
            Some(Suspension {
                signal: DowntimeSignal::WallClockJump,
                away: 2 * 3600 * SECOND,
            })
        );
        clocks.advance(SECOND, SECOND);
        assert_eq!(detector.check(&clocks), None, "once");
    }

    #[test]
    fn both_clocks_running_on_while_the_loop_did_not_is_a_stopped_process() {
        let clocks = ManualClocks::default();
        let mut detector = SuspendDetector::new(SECOND);
        detector.check(&clocks);
        // A save holding the loop for 4 s is not a suspend.
        clocks.advance(5 * SECOND, 5 * SECOND);
        assert_eq!(detector.check(&clocks), None);
        // SIGSTOP for 30 s: neither clock stops, the heartbeats are 31 s apart.
        clocks.advance(31 * SECOND, 31 * SECOND);
        assert_eq!(
            detector.check(&clocks),
            Some(Suspension {
                signal: DowntimeSignal::LoopStalled,
                away: 30 * SECOND,
            })
        );
        assert_eq!(DowntimeSignal::LoopStalled.cause(), DowntimeCause::Suspend);
    }

    #[test]
    fn a_wall_clock_stepping_back_is_not_a_suspend() {
        let clocks = ManualClocks::default();
        clocks.wall.set(1_786_579_200_000);
        let mut detector = SuspendDetector::new(SECOND);
        detector.check(&clocks);
        clocks.advance(SECOND, SECOND);
        clocks.wall.set(clocks.wall.get() - 3_600_000);
        assert_eq!(detector.check(&clocks), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_system_clocks_see_a_monotonic_gap_as_a_stalled_loop() {
        // Paused tokio time moves the monotonic clock by hand; the wall clock barely moves,
        // as when a process is stopped and resumed within the same instant of wall time.
        let clocks = SystemClocks::default();
        let mut detector = SuspendDetector::new(SECOND);
        detector.check(&clocks);
        tokio::time::advance(SECOND).await;
        assert_eq!(detector.check(&clocks), None);
        tokio::time::advance(20 * SECOND).await;
        let found = detector.check(&clocks).expect("a stall");
        assert_eq!(found.signal, DowntimeSignal::LoopStalled);
        assert_eq!(found.away, 19 * SECOND);
    }

    #[test]
    fn exchange_events_more_than_two_intervals_apart_are_a_jump() {
        let t = |ms: i64| TimestampMs::new(1_786_579_200_000 + ms).expect("ts");
        let m1 = Interval::M1;
        assert_eq!(exchange_jump(None, t(0), m1), None);
        assert_eq!(exchange_jump(Some(t(0)), t(120_000), m1), None);
        assert_eq!(exchange_jump(Some(t(0)), t(120_001), m1), Some(120_001));
        assert_eq!(
            exchange_jump(Some(t(0)), t(7_200_000), m1),
            Some(7_200_000),
            "two hours on the exchange's clock"
        );
        assert_eq!(
            exchange_jump(Some(t(5_000)), t(0), m1),
            None,
            "older is no jump"
        );
    }
}
