//! Decoding WebSocket frames into validated core values.
//!
//! [`FrameDecoder::decode`] takes the raw text payload (mutable: simd-json unescapes in
//! place) and returns a [`Decoded`] value or a typed [`FrameRejection`]. It checks, in order:
//! size, JSON syntax and depth, the routing rule of every working client ("a frame with `op`
//! is control, a frame with `ch` is data"), the channel, the symbol, `ts`, and every value
//! through `la_core`'s strict parsers. Every number inside `data` must be a JSON *string*
//! (as on the wire); a JSON number there is `wrong_type`, never coerced. Kline prices go
//! through `la_core::Ohlc::normalize`, the rule REST rows and candle files share: an open
//! outside `[low, high]` widens the range and is reported as a normalisation, not rejected.
//!
//! Exchange-time judgements that need history (duplicates, reordering, jumps, skew against
//! the local clock) live in [`timeline`], not here: the decoder is stateless apart from its
//! reusable parse buffers.
//!
//! Two JSON back ends are kept behind one interface and compared by `benches/decode.rs`:
//! simd-json (a tape walk with reused buffers) and serde_json (a borrowing visitor). See
//! [`JsonBackend`] for which one is the default and why.

mod flat;
mod number;
mod rejection;
pub mod timeline;

use la_core::{
    CandleNormalization, Decimal, Interval, Ohlc, Price, RejectReason, Symbol, TimestampMs, Volume,
};
use simd_json::{Buffers, Node, Tape};

use crate::config::ws_channel;
use flat::{Data, FlatFrame, Scalar, Shape, key};
pub use rejection::FrameRejection;

/// Deepest nesting accepted. Real frames nest three levels (`depth` levels arrays inside
/// `data`); anything much deeper is hostile.
pub const MAX_DEPTH: usize = 32;

/// Largest |funding rate| accepted, as a fraction (10 % per period is far beyond any
/// exchange cap; beyond it the value is garbage).
const MAX_FUNDING_FRACTION: Decimal = Decimal::from_parts(1, 0, 0, false, 1);

/// Which JSON parser the decoder runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JsonBackend {
    /// simd-json: stage-1 SIMD structural scan, then a direct walk over its tape (no serde
    /// layer), with buffers and the tape reused between frames. The default: measured about
    /// twice as fast as the serde_json path on real kline and ticker frames (see
    /// `benches/decode.rs` and BENCHMARKS.md). The walk, not simd-json's serde
    /// deserializer, is what makes it win on ~150-byte frames.
    #[default]
    SimdJson,
    /// serde_json with a borrowing visitor: kept as the reference implementation (both
    /// back ends must agree on every frame; the tests check it) and for the benchmark.
    SerdeJson,
}

/// A successfully decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A `market_kline_*` push: the forming candle's cumulative values at push time `ts`.
    Kline {
        /// Push time (not the candle's open time).
        ts: TimestampMs,
        /// Open.
        o: Price,
        /// High.
        h: Price,
        /// Low.
        l: Price,
        /// Close (latest).
        c: Price,
        /// Base-coin volume (`data.b`).
        base_volume: Volume,
        /// The documented repair applied to the values, if any (the range above is already
        /// widened; the caller counts it).
        normalization: Option<CandleNormalization>,
    },
    /// A `ticker` push (24 h statistics; only the last price is used).
    Ticker {
        /// Push time.
        ts: TimestampMs,
        /// Last traded price (`data.la`).
        last: Price,
    },
    /// A `price` push: mark and index price and the funding rate.
    Price {
        /// Push time.
        ts: TimestampMs,
        /// Mark price (`data.mp`).
        mark: Price,
        /// Index price (`data.ip`).
        index: Price,
        /// Funding rate as a fraction (`data.fr` is in percent on the wire).
        funding_rate_fraction: Decimal,
        /// Next funding time (`data.nft`, ISO-8601), when present.
        next_funding_time: Option<TimestampMs>,
    },
    /// The reply to our JSON ping, echoing our value.
    Pong {
        /// The `ping` value we sent (Unix seconds).
        client_ping: i64,
    },
    /// The server's first frame, `{"op":"connect","data":{"result":true}}`.
    Connect,
    /// The server refused a subscription (`{"op":"subscribe","data":{"result":false,..}}`).
    SubscribeRefused,
    /// Any other control frame (unsubscribe replies, unknown `op`s).
    ControlOther,
    /// Data for a channel we know but did not subscribe to (depth, trade, other intervals).
    IgnoredChannel,
}

impl Decoded {
    /// The counter label of the frame's channel.
    pub const fn channel_label(&self) -> &'static str {
        match self {
            Self::Kline { .. } => "kline",
            Self::Ticker { .. } => "ticker",
            Self::Price { .. } => "price",
            Self::Pong { .. } => "pong",
            Self::Connect => "connect",
            Self::SubscribeRefused | Self::ControlOther => "control",
            Self::IgnoredChannel => "ignored",
        }
    }
}

/// A reusable frame decoder for one kline interval.
pub struct FrameDecoder {
    backend: JsonBackend,
    kline_channel: &'static str,
    max_message_size: usize,
    buffers: Buffers,
    tape: Vec<Node<'static>>,
}

impl std::fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("backend", &self.backend)
            .field("kline_channel", &self.kline_channel)
            .field("max_message_size", &self.max_message_size)
            .finish_non_exhaustive()
    }
}

impl FrameDecoder {
    /// A decoder for the kline channel of `interval`, with the default back end and a
    /// 1 MiB message cap.
    pub fn new(interval: Interval) -> Self {
        Self::with_backend(interval, JsonBackend::default())
    }

    /// A decoder using `backend`.
    pub fn with_backend(interval: Interval, backend: JsonBackend) -> Self {
        Self {
            backend,
            kline_channel: ws_channel(interval).unwrap_or("market_kline_1min"),
            max_message_size: 1 << 20,
            buffers: Buffers::with_max_depth(512, MAX_DEPTH),
            tape: Vec::with_capacity(64),
        }
    }

    /// Sets the largest accepted message (bytes).
    #[must_use]
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// The back end in use.
    pub fn backend(&self) -> JsonBackend {
        self.backend
    }

    /// Decodes one text payload for `symbol`. `bytes` may be modified (in-place unescaping).
    ///
    /// # Errors
    /// A [`FrameRejection`] naming the first problem found.
    pub fn decode(&mut self, bytes: &mut [u8], symbol: Symbol) -> Result<Decoded, FrameRejection> {
        if bytes.len() > self.max_message_size {
            return Err(FrameRejection::TooLarge);
        }
        // A top-level array can never be a frame; deciding before parsing also keeps both
        // back ends' verdicts identical for deeply nested arrays.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(FrameRejection::NotAnObject);
        }
        match self.backend {
            JsonBackend::SerdeJson => {
                let frame = parse_serde_json(bytes)?;
                interpret(&frame, symbol, self.kline_channel)
            }
            JsonBackend::SimdJson => {
                let mut tape: Tape<'_> = Tape(std::mem::take(&mut self.tape)).reset();
                let result = match simd_json::fill_tape(bytes, &mut self.buffers, &mut tape) {
                    Ok(()) => {
                        let mut frame = FlatFrame::default();
                        match flat::from_tape(&tape.0, &mut frame) {
                            Ok(()) => interpret(&frame, symbol, self.kline_channel),
                            Err(Shape::NotAnObject) => Err(FrameRejection::NotAnObject),
                            Err(Shape::Malformed) => Err(FrameRejection::NotJson),
                        }
                    }
                    Err(e) => Err(simd_error(&e)),
                };
                self.tape = tape.reset().0;
                result
            }
        }
    }
}

fn simd_error(e: &simd_json::Error) -> FrameRejection {
    match e.error() {
        simd_json::ErrorType::DepthLimitExceeded => FrameRejection::TooDeep,
        simd_json::ErrorType::InvalidUtf8 => FrameRejection::InvalidUtf8,
        simd_json::ErrorType::InputTooLarge => FrameRejection::TooLarge,
        _ => FrameRejection::NotJson,
    }
}

/// Whether brackets nest deeper than [`MAX_DEPTH`] outside strings. serde_json skips unknown
/// members iteratively, without a depth limit, so this keeps its verdicts equal to
/// simd-json's (which enforces [`MAX_DEPTH`]). The exact scan runs only when the frame has
/// enough brackets to possibly exceed the limit, which real frames never do.
fn nests_too_deep(bytes: &[u8]) -> bool {
    let openers = bytes.iter().filter(|&&b| b == b'{' || b == b'[').count();
    if openers <= MAX_DEPTH {
        return false;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

fn parse_serde_json(bytes: &[u8]) -> Result<FlatFrame<'_>, FrameRejection> {
    if nests_too_deep(bytes) {
        return Err(FrameRejection::TooDeep);
    }
    // Validate the whole payload up front: serde_json does not check the UTF-8 of strings
    // it skips, and this keeps both back ends' verdicts identical.
    let text = std::str::from_utf8(bytes).map_err(|_| FrameRejection::InvalidUtf8)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = serde::Deserialize::deserialize(&mut de).and_then(|frame| {
        de.end()?;
        Ok(frame)
    });
    parsed.map_err(|e| {
        let text = e.to_string();
        if text.starts_with("recursion limit exceeded") {
            FrameRejection::TooDeep
        } else if e.is_data() {
            FrameRejection::NotAnObject
        } else {
            FrameRejection::NotJson
        }
    })
}

/// Turns a flattened frame into a validated value.
fn interpret(
    frame: &FlatFrame<'_>,
    symbol: Symbol,
    kline_channel: &str,
) -> Result<Decoded, FrameRejection> {
    if let Some(op) = &frame.op {
        return interpret_control(frame, op);
    }
    let ch = string(frame.ch.as_ref(), "ch")?;
    enum Kind {
        Kline,
        Ticker,
        Price,
    }
    let kind = if ch == kline_channel {
        Kind::Kline
    } else if ch == "ticker" {
        Kind::Ticker
    } else if ch == "price" {
        Kind::Price
    } else if is_known_unsubscribed(ch) {
        return Ok(Decoded::IgnoredChannel);
    } else {
        return Err(FrameRejection::UnknownChannel);
    };
    let sym = string(frame.symbol.as_ref(), "symbol")?;
    if sym != symbol.as_str() {
        return Err(FrameRejection::WrongSymbol);
    }
    let ts = timestamp(frame.ts.as_ref())?;
    match &frame.data {
        Data::Object => {}
        Data::Absent => return Err(FrameRejection::MissingField("data")),
        Data::Other(_) => return Err(FrameRejection::WrongType("data")),
    }
    match kind {
        Kind::Kline => kline(frame, ts),
        Kind::Ticker => Ok(Decoded::Ticker {
            ts,
            last: price(frame, key::LA, "data.la")?,
        }),
        Kind::Price => price_channel(frame, ts),
    }
}

fn interpret_control(frame: &FlatFrame<'_>, op: &Scalar<'_>) -> Result<Decoded, FrameRejection> {
    let Scalar::Str(op) = op else {
        return Err(FrameRejection::WrongType("op"));
    };
    match op.as_ref() {
        "connect" => Ok(Decoded::Connect),
        "ping" => match &frame.pong {
            Some(Scalar::Int(value)) => Ok(Decoded::Pong {
                client_ping: *value,
            }),
            Some(_) => Err(FrameRejection::WrongType("pong")),
            None => Ok(Decoded::ControlOther),
        },
        "subscribe" => match frame.data_field(key::RESULT) {
            Some(Scalar::Bool(false)) => Ok(Decoded::SubscribeRefused),
            _ => Ok(Decoded::ControlOther),
        },
        _ => Ok(Decoded::ControlOther),
    }
}

/// Channels that exist on Bitunix but that this client never subscribes to.
fn is_known_unsubscribed(ch: &str) -> bool {
    ch.starts_with("market_kline_")
        || ch.starts_with("mark_kline_")
        || ch.starts_with("depth_book")
        || matches!(ch, "trade" | "tickers")
}

fn string<'s>(
    value: Option<&'s Scalar<'_>>,
    field: &'static str,
) -> Result<&'s str, FrameRejection> {
    match value {
        Some(Scalar::Str(s)) => Ok(s.as_ref()),
        Some(_) => Err(FrameRejection::WrongType(field)),
        None => Err(FrameRejection::MissingField(field)),
    }
}

fn timestamp(value: Option<&Scalar<'_>>) -> Result<TimestampMs, FrameRejection> {
    match value {
        Some(Scalar::Int(ms)) => TimestampMs::new(*ms).map_err(|e| FrameRejection::Value {
            field: "ts",
            reason: e.reason,
        }),
        Some(Scalar::BigInt) => Err(FrameRejection::Value {
            field: "ts",
            reason: RejectReason::TimestampOutOfBounds,
        }),
        Some(_) => Err(FrameRejection::WrongType("ts")),
        None => Err(FrameRejection::MissingField("ts")),
    }
}

fn data_str<'s>(
    frame: &'s FlatFrame<'_>,
    slot: usize,
    field: &'static str,
) -> Result<&'s str, FrameRejection> {
    string(frame.data_field(slot), field)
}

fn price(frame: &FlatFrame<'_>, slot: usize, field: &'static str) -> Result<Price, FrameRejection> {
    let text = data_str(frame, slot, field)?;
    number::price(field, text).map_err(|e| FrameRejection::Value {
        field,
        reason: e.reason,
    })
}

fn kline(frame: &FlatFrame<'_>, ts: TimestampMs) -> Result<Decoded, FrameRejection> {
    let ohlc = Ohlc {
        open: price(frame, key::O, "data.o")?,
        high: price(frame, key::H, "data.h")?,
        low: price(frame, key::L, "data.l")?,
        close: price(frame, key::C, "data.c")?,
    };
    let text = data_str(frame, key::B, "data.b")?;
    let base_volume = number::volume("data.b", text).map_err(|e| FrameRejection::Value {
        field: "data.b",
        reason: e.reason,
    })?;
    // The same rule as REST rows and candle files: an open outside [low, high] widens the
    // range (counted by the caller); high < low or a close outside the range is rejected.
    let (ohlc, normalization) = ohlc.normalize().map_err(|e| FrameRejection::Value {
        field: if e.field == "close" {
            "data.c"
        } else {
            "data.h"
        },
        reason: e.reason,
    })?;
    Ok(Decoded::Kline {
        ts,
        o: ohlc.open,
        h: ohlc.high,
        l: ohlc.low,
        c: ohlc.close,
        base_volume,
        normalization,
    })
}

fn price_channel(frame: &FlatFrame<'_>, ts: TimestampMs) -> Result<Decoded, FrameRejection> {
    let mark = price(frame, key::MP, "data.mp")?;
    let index = price(frame, key::IP, "data.ip")?;
    let text = data_str(frame, key::FR, "data.fr")?;
    let funding_rate_fraction = funding_fraction("data.fr", text)?;
    let next_funding_time = match frame.data_field(key::NFT) {
        None | Some(Scalar::Null) => None,
        Some(Scalar::Str(text)) => Some(iso_timestamp("data.nft", text)?),
        Some(_) => return Err(FrameRejection::WrongType("data.nft")),
    };
    Ok(Decoded::Price {
        ts,
        mark,
        index,
        funding_rate_fraction,
        next_funding_time,
    })
}

/// Converts a percent funding rate string (`"0.01"` = 0.01 %) into a fraction (0.0001).
pub(crate) fn funding_fraction(field: &'static str, text: &str) -> Result<Decimal, FrameRejection> {
    let percent =
        la_core::number::parse_decimal(field, text).map_err(|e| FrameRejection::Value {
            field,
            reason: e.reason,
        })?;
    let fraction = percent
        .checked_div(Decimal::ONE_HUNDRED)
        .ok_or(FrameRejection::Value {
            field,
            reason: RejectReason::OutOfRange,
        })?;
    bounded_funding(field, fraction)
}

/// Parses a funding rate that is already a **fraction** (the funding-rate history's unit),
/// with the same bound as [`funding_fraction`].
pub(crate) fn settled_funding_fraction(
    field: &'static str,
    text: &str,
) -> Result<Decimal, FrameRejection> {
    let fraction =
        la_core::number::parse_decimal(field, text).map_err(|e| FrameRejection::Value {
            field,
            reason: e.reason,
        })?;
    bounded_funding(field, fraction)
}

/// A funding fraction within ±[`MAX_FUNDING_FRACTION`], normalized.
fn bounded_funding(field: &'static str, fraction: Decimal) -> Result<Decimal, FrameRejection> {
    if fraction.abs() > MAX_FUNDING_FRACTION {
        return Err(FrameRejection::Value {
            field,
            reason: RejectReason::OutOfRange,
        });
    }
    Ok(fraction.normalize())
}

/// Parses an RFC 3339 time (`2026-09-23T08:00:00Z`) into exchange milliseconds.
pub(crate) fn iso_timestamp(
    field: &'static str,
    text: &str,
) -> Result<TimestampMs, FrameRejection> {
    let malformed = FrameRejection::Value {
        field,
        reason: RejectReason::Malformed,
    };
    if text.len() > 64 {
        return Err(malformed);
    }
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| malformed)?;
    let ms = i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).map_err(|_| malformed)?;
    TimestampMs::new(ms).map_err(|e| FrameRejection::Value {
        field,
        reason: e.reason,
    })
}

#[cfg(test)]
mod tests;
