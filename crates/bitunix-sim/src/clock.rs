//! The virtual exchange clock: `virtual_now = start + elapsed × speed`, where `elapsed` is
//! measured with `tokio::time::Instant`.
//!
//! A [`VirtualClock::jump`] moves virtual time forward at once (the `clock-jump` fault):
//! the offset is added to every reading and subtracted from every conversion back.
//!
//! Using only tokio time makes the simulator deterministic and fast under
//! `#[tokio::test(start_paused = true)]`: the runtime jumps straight to the next push. The
//! conversion in both directions rounds so that `ms_at(instant_at(v)) >= v`, which lets the
//! engine sleep until an event and then stamp it with its exact virtual time.

use std::{
    sync::atomic::{AtomicI64, Ordering},
    time::Duration,
};

use tokio::time::Instant;

/// Maps real tokio instants to virtual epoch milliseconds and back.
#[derive(Debug)]
pub(crate) struct VirtualClock {
    origin: Instant,
    start_ms: i64,
    speed: f64,
    /// Virtual milliseconds jumped so far.
    jumped_ms: AtomicI64,
}

/// Guards the float round trip against landing one millisecond short.
const EPSILON_MS: f64 = 1e-6;

impl VirtualClock {
    /// A clock reading `start_ms` now and running `speed` times faster than real time.
    /// `speed` was validated positive and finite.
    pub(crate) fn new(start_ms: i64, speed: f64) -> Self {
        Self {
            origin: Instant::now(),
            start_ms,
            speed,
            jumped_ms: AtomicI64::new(0),
        }
    }

    /// Moves virtual time `virtual_ms` ahead at once.
    pub(crate) fn jump(&self, virtual_ms: i64) {
        self.jumped_ms.fetch_add(virtual_ms, Ordering::SeqCst);
    }

    fn jumped(&self) -> i64 {
        self.jumped_ms.load(Ordering::SeqCst)
    }

    /// Virtual time at the start.
    pub(crate) fn start_ms(&self) -> i64 {
        self.start_ms
    }

    /// Virtual milliseconds now.
    pub(crate) fn now_ms(&self) -> i64 {
        self.ms_at(Instant::now())
    }

    /// Virtual milliseconds at a real instant.
    pub(crate) fn ms_at(&self, at: Instant) -> i64 {
        let elapsed_ns = at.saturating_duration_since(self.origin).as_nanos() as f64;
        let virtual_ms = (elapsed_ns * self.speed / 1e6 + EPSILON_MS).floor();
        self.start_ms
            .saturating_add(self.jumped())
            .saturating_add(virtual_ms as i64)
    }

    /// The earliest real instant at which the virtual clock reads `virtual_ms`.
    pub(crate) fn instant_at(&self, virtual_ms: i64) -> Instant {
        let ahead = virtual_ms
            .saturating_sub(self.start_ms)
            .saturating_sub(self.jumped());
        if ahead <= 0 {
            return self.origin;
        }
        self.origin + self.real_duration(ahead as u64)
    }

    /// The real duration of `virtual_ms` virtual milliseconds.
    pub(crate) fn real_duration(&self, virtual_ms: u64) -> Duration {
        let ns = (virtual_ms as f64 * 1e6 / self.speed).ceil();
        // Saturate absurd values (years of real time) instead of overflowing.
        let ns = if ns.is_finite() && ns < 1e18 {
            ns as u64
        } else {
            1_000_000_000_000_000_000
        };
        Duration::from_nanos(ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn instant_at_round_trips_to_at_least_the_requested_virtual_time() {
        for speed in [1.0, 3.0, 60.0, 0.7, 1234.5] {
            let clock = VirtualClock::new(1_000_000, speed);
            for v in [
                1_000_000, 1_000_001, 1_000_500, 1_059_500, 1_234_567, 9_999_999,
            ] {
                let at = clock.instant_at(v);
                assert!(clock.ms_at(at) >= v, "speed {speed} v {v}");
                assert!(clock.ms_at(at) <= v + 1, "speed {speed} v {v}");
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_jump_moves_readings_and_conversions_together() {
        let clock = VirtualClock::new(5_000, 60.0);
        clock.jump(3_600_000);
        assert_eq!(clock.now_ms(), 3_605_000);
        let at = clock.instant_at(3_665_000);
        assert_eq!(clock.ms_at(at), 3_665_000);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(clock.now_ms(), 3_665_000);
    }

    #[tokio::test(start_paused = true)]
    async fn virtual_time_runs_at_speed() {
        let clock = VirtualClock::new(5_000, 60.0);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(clock.now_ms(), 65_000);
    }
}
