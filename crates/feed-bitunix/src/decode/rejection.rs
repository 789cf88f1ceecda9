//! [`FrameRejection`]: why a frame was skipped, with a stable label per reason.
//!
//! A rejection never ends the connection: the frame is counted under its label, logged at
//! warn (rate-limited) with a truncated sample, and skipped.

use std::fmt;

use la_core::RejectReason;

/// Why an incoming frame was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameRejection {
    /// A binary frame (Bitunix sends text only).
    NotText,
    /// A text frame whose payload is not valid UTF-8.
    InvalidUtf8,
    /// Not JSON (including truncated JSON, trailing garbage and the empty string).
    NotJson,
    /// Larger than the configured maximum message size.
    TooLarge,
    /// Nested deeper than any real frame (protects the parser's stack).
    TooDeep,
    /// Valid JSON whose top level is not an object.
    NotAnObject,
    /// A required member is missing (`"ts"`, `"data.o"`, ...).
    MissingField(&'static str),
    /// A member has the wrong JSON type (a number where a string belongs, ...).
    WrongType(&'static str),
    /// The envelope `symbol` is not the subscribed one.
    WrongSymbol,
    /// A `ch` the client does not know at all.
    UnknownChannel,
    /// A member is present and typed right, but its value is invalid.
    Value {
        /// The member, e.g. `"data.h"`.
        field: &'static str,
        /// What was wrong with it.
        reason: RejectReason,
    },
    /// The exchange timestamp is ahead of the local clock by more than the allowed skew.
    FutureTimestamp,
    /// The exchange timestamp is behind the local clock by more than the allowed skew.
    PastTimestamp,
    /// The exchange timestamp jumped forward too far since the previous push on its channel.
    TimestampJump,
}

impl FrameRejection {
    /// The counter label: a stable snake_case string. Value rejections use the label of
    /// their [`RejectReason`] (`not_a_number`, `ohlc_inconsistent`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotText => "not_text",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::NotJson => "not_json",
            Self::TooLarge => "too_large",
            Self::TooDeep => "too_deep",
            Self::NotAnObject => "not_an_object",
            Self::MissingField(_) => "missing_field",
            Self::WrongType(_) => "wrong_type",
            Self::WrongSymbol => "wrong_symbol",
            Self::UnknownChannel => "unknown_channel",
            Self::Value { reason, .. } => reason.as_str(),
            Self::FutureTimestamp => "future_timestamp",
            Self::PastTimestamp => "past_timestamp",
            Self::TimestampJump => "timestamp_jump",
        }
    }

    /// The member concerned, when there is one.
    pub const fn field(self) -> Option<&'static str> {
        match self {
            Self::MissingField(field) | Self::WrongType(field) | Self::Value { field, .. } => {
                Some(field)
            }
            _ => None,
        }
    }
}

impl fmt::Display for FrameRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field() {
            Some(field) => write!(f, "{} ({field})", self.as_str()),
            None => f.write_str(self.as_str()),
        }
    }
}
