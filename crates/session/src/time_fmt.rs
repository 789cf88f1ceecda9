//! Wall-clock formatting helpers for file timestamps (never for trading logic, which runs on
//! exchange time).

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// The current UTC time as RFC 3339 with milliseconds.
pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

/// Formats an epoch-millisecond instant as RFC 3339 UTC.
pub fn ms_to_rfc3339(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .map(rfc3339)
        .unwrap_or_else(|_| ms.to_string())
}

fn rfc3339(at: OffsetDateTime) -> String {
    let truncated = at.replace_millisecond(at.millisecond()).unwrap_or(at);
    truncated
        .format(&Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// Wall-clock epoch milliseconds.
pub fn wall_now_ms() -> i64 {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// A compact UTC stamp for run ids: `20261128T014633Z`.
pub fn run_stamp() -> String {
    let now = OffsetDateTime::now_utc();
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    now.format(&format)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// A duration in ms as a short human text: `45s`, `17m`, `3h 05m`, `2d 04h`.
pub fn span_text(ms: i64) -> String {
    let seconds = ms / 1_000;
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    if days > 0 {
        format!("{days}d {hours:02}h")
    } else if hours > 0 {
        format!("{hours}h {minutes:02}m")
    } else if minutes > 0 {
        format!("{minutes}m")
    } else {
        format!("{seconds}s")
    }
}
