//! Exchange time: [`TimestampMs`], candle [`Interval`]s with their bucket math, and the
//! [`Clock`] trait through which the rest of the system reads "now".
//!
//! `core` never reads the system clock itself; time is always passed in. Candle logic
//! (buckets, closes, gaps, funding times) uses exchange time; local timers (idle, stale,
//! duration) use the runtime's monotonic clock, which lives outside this crate.

use std::{
    fmt,
    str::FromStr,
    sync::atomic::{AtomicI64, Ordering},
};

use serde::{Deserialize, Serialize};

use crate::error::{DataError, RejectReason};

/// A UTC instant in epoch milliseconds, inside a sanity window.
///
/// Invariant: `MIN <= value <= MAX` (2010-01-01 ..= 2100-01-01 UTC). Anything outside is a
/// unit mistake (seconds vs milliseconds vs nanoseconds) or garbage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct TimestampMs(i64);

impl TimestampMs {
    /// 2010-01-01T00:00:00Z.
    pub const MIN: TimestampMs = TimestampMs(1_262_304_000_000);
    /// 2100-01-01T00:00:00Z.
    pub const MAX: TimestampMs = TimestampMs(4_102_444_800_000);

    /// Validates an epoch-millisecond value.
    ///
    /// # Errors
    /// `TimestampOutOfBounds` outside [`Self::MIN`]..=[`Self::MAX`].
    pub fn new(ms: i64) -> Result<Self, DataError> {
        if (Self::MIN.0..=Self::MAX.0).contains(&ms) {
            Ok(Self(ms))
        } else {
            Err(DataError::new(
                "timestamp",
                RejectReason::TimestampOutOfBounds,
                ms,
            ))
        }
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_ms(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (floor).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// `self + delta_ms`, or `None` if that leaves the sanity window.
    #[inline]
    pub const fn checked_add_ms(self, delta_ms: i64) -> Option<Self> {
        // The window's bounds checked here, without building the error `new` would return:
        // a replay calls this for every tick it makes.
        match self.0.checked_add(delta_ms) {
            Some(ms) if Self::MIN.0 <= ms && ms <= Self::MAX.0 => Some(Self(ms)),
            _ => None,
        }
    }

    /// Milliseconds from `earlier` to `self` (negative if `earlier` is later).
    pub const fn ms_since(self, earlier: TimestampMs) -> i64 {
        self.0 - earlier.0
    }
}

impl TryFrom<i64> for TimestampMs {
    type Error = DataError;
    fn try_from(ms: i64) -> Result<Self, DataError> {
        Self::new(ms)
    }
}

impl From<TimestampMs> for i64 {
    fn from(ts: TimestampMs) -> i64 {
        ts.0
    }
}

impl fmt::Display for TimestampMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A candle interval. Bucket math is exact because every interval divides a UTC day and
/// the epoch starts at a day boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Interval {
    /// One minute.
    M1,
    /// Three minutes.
    M3,
    /// Five minutes.
    M5,
    /// Fifteen minutes.
    M15,
    /// Thirty minutes.
    M30,
    /// One hour.
    H1,
    /// Two hours.
    H2,
    /// Four hours.
    H4,
    /// Six hours.
    H6,
    /// Eight hours.
    H8,
    /// Twelve hours.
    H12,
    /// One day.
    D1,
}

impl Interval {
    /// Every supported interval, shortest first.
    pub const ALL: [Interval; 12] = [
        Self::M1,
        Self::M3,
        Self::M5,
        Self::M15,
        Self::M30,
        Self::H1,
        Self::H2,
        Self::H4,
        Self::H6,
        Self::H8,
        Self::H12,
        Self::D1,
    ];

    /// Length in milliseconds.
    pub const fn as_ms(self) -> i64 {
        const MIN: i64 = 60_000;
        match self {
            Self::M1 => MIN,
            Self::M3 => 3 * MIN,
            Self::M5 => 5 * MIN,
            Self::M15 => 15 * MIN,
            Self::M30 => 30 * MIN,
            Self::H1 => 60 * MIN,
            Self::H2 => 120 * MIN,
            Self::H4 => 240 * MIN,
            Self::H6 => 360 * MIN,
            Self::H8 => 480 * MIN,
            Self::H12 => 720 * MIN,
            Self::D1 => 1440 * MIN,
        }
    }

    /// The project's label: `1m`, `3m`, ..., `1h`, ..., `1d`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::M1 => "1m",
            Self::M3 => "3m",
            Self::M5 => "5m",
            Self::M15 => "15m",
            Self::M30 => "30m",
            Self::H1 => "1h",
            Self::H2 => "2h",
            Self::H4 => "4h",
            Self::H6 => "6h",
            Self::H8 => "8h",
            Self::H12 => "12h",
            Self::D1 => "1d",
        }
    }

    /// The open time of the bucket containing `ts` (floor to the interval).
    pub fn open_time_of(self, ts: TimestampMs) -> TimestampMs {
        let ms = ts.as_ms();
        // MIN is itself aligned to every interval (a day boundary), so the floor stays inside
        // the sanity window.
        TimestampMs(ms - ms.rem_euclid(self.as_ms()))
    }

    /// The open time of the bucket after the one containing `ts`, or `None` past
    /// [`TimestampMs::MAX`].
    pub fn next_open(self, ts: TimestampMs) -> Option<TimestampMs> {
        self.open_time_of(ts).checked_add_ms(self.as_ms())
    }

    /// Whether `ts` is the first millisecond of a bucket.
    pub fn is_aligned(self, ts: TimestampMs) -> bool {
        ts.as_ms().rem_euclid(self.as_ms()) == 0
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Interval {
    type Err = DataError;
    fn from_str(text: &str) -> Result<Self, DataError> {
        Self::ALL
            .into_iter()
            .find(|interval| interval.as_str() == text)
            .ok_or_else(|| DataError::new("interval", RejectReason::UnknownInterval, text))
    }
}

impl TryFrom<String> for Interval {
    type Error = DataError;
    fn try_from(text: String) -> Result<Self, DataError> {
        text.parse()
    }
}

impl From<Interval> for String {
    fn from(interval: Interval) -> String {
        interval.as_str().to_owned()
    }
}

/// The source of "now" in exchange-time terms (UTC epoch ms).
///
/// Production code uses a system clock (in `session`); tests and replays inject
/// [`ManualClock`] or a virtual clock so time-dependent logic is deterministic.
pub trait Clock: Send + Sync {
    /// The current UTC time.
    fn now(&self) -> TimestampMs;
}

/// A clock that only moves when told to. Thread-safe, for tests and simulations.
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: TimestampMs) -> Self {
        Self {
            now_ms: AtomicI64::new(start.as_ms()),
        }
    }

    /// Moves the clock to `ts` (it may go backwards: tests of skew need that).
    pub fn set(&self, ts: TimestampMs) {
        self.now_ms.store(ts.as_ms(), Ordering::SeqCst);
    }

    /// Advances the clock by `delta_ms`, saturating at the sanity window.
    pub fn advance_ms(&self, delta_ms: i64) {
        let next = self.now_ms.load(Ordering::SeqCst).saturating_add(delta_ms);
        let clamped = next.clamp(TimestampMs::MIN.as_ms(), TimestampMs::MAX.as_ms());
        self.now_ms.store(clamped, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> TimestampMs {
        // Only in-window values are ever stored.
        TimestampMs(self.now_ms.load(Ordering::SeqCst))
    }
}
