//! Rate-limited warnings: at most one line per key per period, reporting how many were
//! suppressed in between, and a helper that cuts hostile payloads to a printable sample.
//!
//! A feed that receives garbage at 1 000 frames per second must not write 1 000 warning lines
//! per second; the counters keep the exact numbers, the log keeps a sample.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use tokio::time::Instant;

/// Longest payload sample written to a log line.
pub(crate) const SAMPLE_BYTES: usize = 200;

/// Per-key log throttle.
#[derive(Debug)]
pub(crate) struct LogLimiter {
    period: Duration,
    state: Mutex<HashMap<&'static str, (Instant, u64)>>,
}

impl LogLimiter {
    /// One line per key per `period`.
    pub(crate) fn new(period: Duration) -> Self {
        Self {
            period,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(suppressed)` when a line for `key` may be written now (with the number of lines
    /// suppressed since the last one), `None` when it must be skipped.
    pub(crate) fn permit(&self, key: &'static str) -> Option<u64> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match state.get_mut(key) {
            Some((last, suppressed)) if now.saturating_duration_since(*last) < self.period => {
                *suppressed += 1;
                None
            }
            Some((last, suppressed)) => {
                let skipped = *suppressed;
                *last = now;
                *suppressed = 0;
                Some(skipped)
            }
            None => {
                state.insert(key, (now, 0));
                Some(0)
            }
        }
    }
}

/// At most [`SAMPLE_BYTES`] of `bytes`, lossily decoded, with an ellipsis when cut.
pub(crate) fn sample(bytes: &[u8]) -> String {
    let cut = bytes.len().min(SAMPLE_BYTES);
    let mut text = String::from_utf8_lossy(&bytes[..cut]).into_owned();
    if bytes.len() > cut {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_line_per_key_per_period_with_a_suppressed_count() {
        let limiter = LogLimiter::new(Duration::from_secs(10));
        assert_eq!(limiter.permit("not_json"), Some(0));
        assert_eq!(limiter.permit("not_json"), None);
        assert_eq!(limiter.permit("not_json"), None);
        assert_eq!(limiter.permit("too_large"), Some(0));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(limiter.permit("not_json"), Some(2));
        assert_eq!(limiter.permit("not_json"), None);
    }

    #[test]
    fn samples_are_cut_to_200_bytes() {
        let long = vec![b'x'; 5000];
        let s = sample(&long);
        assert!(s.len() <= SAMPLE_BYTES + '…'.len_utf8());
        assert!(s.ends_with('…'));
        assert_eq!(sample(b"short"), "short");
        assert_eq!(sample(&[0xff, b'a']), "\u{fffd}a");
    }
}
