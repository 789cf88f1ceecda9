//! The local wall clock, [`SystemClock`]: the one place the production code reads UTC wall
//! time as a [`Clock`]. `la-core` never reads the system clock (its types take time as an
//! argument), so the clock lives here, with the client that needs it to judge exchange
//! timestamps; the session reuses it. Tests inject `la_core::ManualClock` or the
//! simulator's virtual clock instead.

use std::time::{SystemTime, UNIX_EPOCH};

use la_core::{Clock, TimestampMs};

/// UTC wall time in epoch milliseconds. A clock before 1970 reads as the earliest valid
/// timestamp, one beyond `i64` milliseconds as the latest.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> TimestampMs {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        TimestampMs::new(ms).unwrap_or(if ms > 0 {
            TimestampMs::MAX
        } else {
            TimestampMs::MIN
        })
    }
}
