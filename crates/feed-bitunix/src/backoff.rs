//! Reconnect and retry delays: an immediate first retry, then capped exponential backoff
//! with **full jitter** (a uniform draw in `[0, min(cap, base · 2^k)]`).
//!
//! Full jitter spreads a crowd of clients that lost the same server at the same moment, and
//! the immediate first retry makes a single dropped socket cost nothing. The random number
//! generator is seeded from the configuration, so tests are deterministic.

use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::StdRng};

/// Backoff state for one retry sequence.
#[derive(Debug)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    immediate_first: bool,
    attempt: u32,
    rng: StdRng,
}

impl Backoff {
    /// A sequence whose first delay is zero when `immediate_first`.
    pub(crate) fn new(initial: Duration, max: Duration, immediate_first: bool, seed: u64) -> Self {
        Self {
            initial,
            max: max.max(initial),
            immediate_first,
            attempt: 0,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Attempts made since the last [`Backoff::reset`] (1-based after the first `next_delay`).
    pub(crate) fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The upper bound of the delay before attempt `attempt` (1-based).
    pub(crate) fn cap_for(&self, attempt: u32) -> Duration {
        let exponent = if self.immediate_first {
            attempt.saturating_sub(2)
        } else {
            attempt.saturating_sub(1)
        };
        let factor = 1u32.checked_shl(exponent.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// Counts an attempt and returns how long to wait before making it.
    pub(crate) fn next_delay(&mut self) -> Duration {
        self.attempt = self.attempt.saturating_add(1);
        if self.immediate_first && self.attempt == 1 {
            return Duration::ZERO;
        }
        let cap_ms = u64::try_from(self.cap_for(self.attempt).as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(self.rng.random_range(0..=cap_ms))
    }

    /// Starts a new sequence (after a connection proved healthy).
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff() -> Backoff {
        Backoff::new(
            Duration::from_millis(500),
            Duration::from_secs(30),
            true,
            42,
        )
    }

    #[test]
    fn first_retry_is_immediate_then_jittered_under_a_growing_cap() {
        let mut b = backoff();
        assert_eq!(b.next_delay(), Duration::ZERO);
        for attempt in 2..=20 {
            let delay = b.next_delay();
            assert_eq!(b.attempt(), attempt);
            assert!(delay <= b.cap_for(attempt), "attempt {attempt}: {delay:?}");
        }
        assert_eq!(b.cap_for(2), Duration::from_millis(500));
        assert_eq!(b.cap_for(3), Duration::from_secs(1));
        assert_eq!(b.cap_for(20), Duration::from_secs(30));
    }

    #[test]
    fn jitter_is_deterministic_per_seed_and_spreads_delays() {
        let draw = |seed| {
            let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60), true, seed);
            (0..12).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let delays = draw(7);
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(distinct.len() > 6, "{delays:?}");
    }

    #[test]
    fn reset_restarts_with_an_immediate_retry() {
        let mut b = backoff();
        for _ in 0..5 {
            b.next_delay();
        }
        b.reset();
        assert_eq!(b.next_delay(), Duration::ZERO);
        assert_eq!(b.attempt(), 1);
    }

    #[test]
    fn without_immediate_first_the_first_cap_is_the_initial_delay() {
        let mut b = Backoff::new(Duration::from_millis(200), Duration::from_secs(5), false, 1);
        assert!(b.next_delay() <= Duration::from_millis(200));
        assert_eq!(b.cap_for(1), Duration::from_millis(200));
        assert_eq!(b.cap_for(2), Duration::from_millis(400));
    }
}
