//! The crate's one error type, [`DataError`], and the closed set of reasons it carries.
//!
//! Every rejection of untrusted data names *what* was wrong ([`RejectReason`]) and *where*
//! (`field`). The reason is a small `Copy` enum so the feed can keep one counter per reason
//! without allocating, and so reports can print stable, documented labels.
//! [`error_chain`] renders any error with its causes on one line, for every crate's logs.

use std::fmt;

/// Why a value or a composite record was rejected. Stable labels via [`RejectReason::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The string was empty or only whitespace.
    Empty,
    /// `NaN` in any spelling.
    NotANumber,
    /// `Infinity`, `inf` and friends.
    Infinite,
    /// Exponent notation such as `1e999`; the exchange never sends it.
    ExponentNotation,
    /// Not a plain decimal number: thousands separators, letters, several dots, ...
    Malformed,
    /// Too many digits to be represented, or beyond the sanity bound of the type.
    OutOfRange,
    /// More fractional digits than the type allows.
    TooPrecise,
    /// A negative value where only non-negative values make sense.
    Negative,
    /// Zero where only strictly positive values make sense.
    Zero,
    /// `high` below `low`, or open/close outside `[low, high]`.
    OhlcInconsistent,
    /// A candle open time that is not a multiple of its interval.
    Misaligned,
    /// A timestamp outside the sanity window (2010-01-01 ..= 2100-01-01 UTC).
    TimestampOutOfBounds,
    /// Best bid above best ask.
    CrossedBook,
    /// A symbol that is not 2..=20 upper-case ASCII letters or digits.
    InvalidSymbol,
    /// An interval label we do not know.
    UnknownInterval,
    /// A client order id that is empty, too long or has forbidden characters.
    InvalidClientOrderId,
    /// A stop-loss on the wrong side of the entry for the order's side.
    StopOnWrongSide,
    /// A take-profit on the wrong side of the entry for the order's side.
    TakeProfitOnWrongSide,
}

impl RejectReason {
    /// Every reason, in declaration order (for counters and docs).
    pub const ALL: [RejectReason; 18] = [
        Self::Empty,
        Self::NotANumber,
        Self::Infinite,
        Self::ExponentNotation,
        Self::Malformed,
        Self::OutOfRange,
        Self::TooPrecise,
        Self::Negative,
        Self::Zero,
        Self::OhlcInconsistent,
        Self::Misaligned,
        Self::TimestampOutOfBounds,
        Self::CrossedBook,
        Self::InvalidSymbol,
        Self::UnknownInterval,
        Self::InvalidClientOrderId,
        Self::StopOnWrongSide,
        Self::TakeProfitOnWrongSide,
    ];

    /// A stable snake_case label, used as a counter key in logs, status and reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::NotANumber => "not_a_number",
            Self::Infinite => "infinite",
            Self::ExponentNotation => "exponent_notation",
            Self::Malformed => "malformed",
            Self::OutOfRange => "out_of_range",
            Self::TooPrecise => "too_precise",
            Self::Negative => "negative",
            Self::Zero => "zero",
            Self::OhlcInconsistent => "ohlc_inconsistent",
            Self::Misaligned => "misaligned",
            Self::TimestampOutOfBounds => "timestamp_out_of_bounds",
            Self::CrossedBook => "crossed_book",
            Self::InvalidSymbol => "invalid_symbol",
            Self::UnknownInterval => "unknown_interval",
            Self::InvalidClientOrderId => "invalid_client_order_id",
            Self::StopOnWrongSide => "stop_on_wrong_side",
            Self::TakeProfitOnWrongSide => "take_profit_on_wrong_side",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest input sample kept inside a [`DataError`], so a hostile 1 MiB string never gets
/// copied into logs.
pub const MAX_SAMPLE_LEN: usize = 48;

/// A rejected value: which field, why, and a truncated sample of what was seen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason} (got {sample:?})")]
pub struct DataError {
    /// The field or parameter name, e.g. `"high"` or `"client_order_id"`.
    pub field: &'static str,
    /// The typed reason; what the feed counts.
    pub reason: RejectReason,
    /// At most [`MAX_SAMPLE_LEN`] characters of the offending input.
    pub sample: String,
}

impl DataError {
    /// Builds an error, truncating `sample` on a character boundary.
    pub fn new(field: &'static str, reason: RejectReason, sample: impl fmt::Display) -> Self {
        let mut text = sample.to_string();
        if text.len() > MAX_SAMPLE_LEN {
            let mut cut = MAX_SAMPLE_LEN;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        Self {
            field,
            reason,
            sample: text,
        }
    }
}

/// Formats an error and all its sources as `outer: inner: root`: the one-line form every log
/// line, journal entry and CLI message uses, so a failure reads without a backtrace.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
