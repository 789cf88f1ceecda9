//! The one duration syntax of laptop-agents, for configuration (`duration`, `stale_timeout`,
//! `max_clock_skew`) and simulator fault specs (`120s@silence:30s`) alike.
//!
//! A duration is a whole number with a unit: `ms`, `s`, `m` (or `min`), `h` or `d`. A bare
//! number means **minutes** everywhere (`--duration 10` runs ten minutes): one meaning, so
//! the same text can never be read as seconds in one place and minutes in another.

use std::time::Duration;

use crate::error::{DataError, RejectReason};

/// Parses `500ms`, `90s`, `10m`, `10min`, `2h`, `1d` or a bare number of minutes.
///
/// # Errors
/// [`RejectReason::Empty`] for blank text, [`RejectReason::Malformed`] for anything but
/// digits and a known unit (no sign, no fraction, no space inside), and
/// [`RejectReason::OutOfRange`] when the milliseconds overflow `u64`.
pub fn parse_duration(text: &str) -> Result<Duration, DataError> {
    let reject = |reason| DataError::new("duration", reason, text);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(reject(RejectReason::Empty));
    }
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    if digits.is_empty() {
        return Err(reject(RejectReason::Malformed));
    }
    let value: u64 = digits
        .parse()
        .map_err(|_| reject(RejectReason::OutOfRange))?;
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "" | "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(reject(RejectReason::Malformed)),
    };
    value
        .checked_mul(unit_ms)
        .map(Duration::from_millis)
        .ok_or_else(|| reject(RejectReason::OutOfRange))
}
