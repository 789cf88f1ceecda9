//! Fault scenarios: the [`Fault`] vocabulary, its text form (`silence:30s`, `gap:3`, ...)
//! for the command line, and the catalogue printed by `laptop-agents sim --help`.
//!
//! Timing convention: `ScheduledFault::at_virtual_offset_ms` is on the simulator's
//! **virtual** timeline (so a scenario lines up with the market data whatever the speed),
//! while every `duration_ms` and `delay_ms` inside a fault is **real** (tokio) time, because
//! faults exist to exercise the client's real-time timers: idle timeouts, backoff and REST
//! rate limiters. At speed 1.0 the two coincide.

use std::fmt;

use crate::error::SimError;

/// A fault placed on the virtual timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledFault {
    /// Virtual milliseconds after the simulator's start time.
    pub at_virtual_offset_ms: u64,
    /// What happens then.
    pub fault: Fault,
}

/// Everything that can go wrong with an exchange feed, on purpose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Data pushes stop for a while; the sockets stay open and ping replies continue.
    Silence {
        /// Real milliseconds.
        duration_ms: u64,
    },
    /// The same as [`Fault::Silence`], named for tests of "only pongs arrive".
    PongOnly {
        /// Real milliseconds.
        duration_ms: u64,
    },
    /// Every open client socket is closed abruptly, without a close frame.
    DropTcp,
    /// Every open client gets a close frame (1001 "going away").
    CloseFrame,
    /// Every open client socket stops being read and written, but stays open; at the end of
    /// the duration it is dropped without a close frame, as a dead NAT path eventually is.
    HalfOpen {
        /// Real milliseconds.
        duration_ms: u64,
    },
    /// One malformed frame to every open client.
    Garbage(GarbageKind),
    /// One invalid kline frame and one invalid ticker frame to subscribers.
    BadValue(BadValueKind),
    /// The last frame of each data channel is sent again `count` times.
    Duplicate {
        /// How many extra copies.
        count: u32,
    },
    /// The next two kline frames go out in swapped order.
    Reorder,
    /// The WebSocket skips the kline pushes of the next `candles` whole candles, starting
    /// with the bucket after the current one; ticker and price pushes continue, and REST
    /// still serves the skipped candles.
    Gap {
        /// Number of whole candles.
        candles: u32,
    },
    /// REST answers with code 10006 (or a bare HTTP 429) for a while.
    RestRateLimit {
        /// Real milliseconds.
        duration_ms: u64,
        /// Answer a bare HTTP 429 instead of the HTTP 200 code-10006 envelope.
        http_429: bool,
    },
    /// Every REST answer is delayed for a while.
    RestSlow {
        /// Real milliseconds added to each answer.
        delay_ms: u64,
        /// Real milliseconds the fault lasts.
        duration_ms: u64,
    },
    /// REST answers HTTP 502/503 with an HTML body for a while.
    Rest5xx {
        /// Real milliseconds.
        duration_ms: u64,
    },
    /// WebSocket upgrades are answered with HTTP 503 for a while.
    RefuseUpgrade {
        /// Real milliseconds.
        duration_ms: u64,
    },
    /// New TCP connections wait before being served, for a while.
    SlowAccept {
        /// Real milliseconds each new connection waits.
        delay_ms: u64,
        /// Real milliseconds the fault lasts.
        duration_ms: u64,
    },
    /// The forming candle is reported the way Bitunix opens a bar at a previous close that
    /// no trade in the bar reaches: one kline push, and the REST row of that bucket, carry
    /// an open above the bar's high. Real data, not an error: a client keeps the bar with
    /// its range widened and counts it.
    OpenOutsideRange,
    /// One ticker push whose last price is off by the factor, right away, and a candle that
    /// closes at its close times the factor: the final kline push of the current bucket
    /// (or of the next one, when the current bucket's final push is already out). REST
    /// keeps serving the true market, as an exchange would after a bad print.
    ImplausiblePrice(PriceFactor),
    /// The virtual clock jumps forward by `virtual_ms` at once, as the exchange's time looks
    /// to a client that was suspended: nothing is pushed for the skipped time, its candles
    /// complete (REST serves them), and data resumes at the new time. Unlike the other
    /// faults' durations this one is **virtual** time.
    ClockJump {
        /// Virtual milliseconds skipped.
        virtual_ms: u64,
    },
}

/// How far off an implausible print is ([`Fault::ImplausiblePrice`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PriceFactor {
    /// 1/1000 of the market (94.9 for 94 862.7), rounded to 0.1.
    Thousandth,
    /// 1000 times the market.
    Thousandfold,
}

impl PriceFactor {
    /// Every factor, in declaration order.
    pub const ALL: [PriceFactor; 2] = [Self::Thousandth, Self::Thousandfold];

    /// The spec label: `low` (1/1000) or `high` (1000×).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Thousandth => "low",
            Self::Thousandfold => "high",
        }
    }

    /// `price` moved by the factor; 1/1000 is rounded to 0.1 and never below 0.1.
    pub fn apply(self, price: rust_decimal::Decimal) -> rust_decimal::Decimal {
        use rust_decimal::Decimal;
        match self {
            Self::Thousandth => (price / Decimal::ONE_THOUSAND)
                .round_dp(1)
                .max(Decimal::new(1, 1)),
            Self::Thousandfold => price * Decimal::ONE_THOUSAND,
        }
    }
}

/// Kinds of malformed frames for [`Fault::Garbage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GarbageKind {
    /// A text frame that is not JSON.
    NonJson,
    /// A binary frame (Bitunix only sends text).
    Binary,
    /// A kline frame cut off in the middle.
    Truncated,
    /// A text frame larger than 2 MiB (twice a client's usual 1 MiB cap).
    Oversized,
    /// 100 000 nested `[` followed by as many `]`.
    DeeplyNested,
    /// An empty text frame.
    EmptyText,
}

/// Kinds of invalid values for [`Fault::BadValue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BadValueKind {
    /// `"NaN"` as a price.
    NaN,
    /// `"Infinity"` as a price.
    Infinity,
    /// A negative price.
    Negative,
    /// A zero price.
    Zero,
    /// An empty string as a price.
    EmptyString,
    /// A 100 000-digit price string.
    HugeString,
    /// A JSON number instead of a string.
    NumberNotString,
    /// A required field is missing.
    MissingField,
    /// An unknown extra field (the values themselves are valid).
    ExtraField,
    /// `h` below `l`.
    HighBelowLow,
    /// A symbol nobody subscribed to.
    WrongSymbol,
    /// `ts` one day in the future.
    FutureTimestamp,
    /// `ts` one interval before the previous push.
    BackwardsTimestamp,
}

const GARBAGE_NAMES: [(GarbageKind, &str); 6] = [
    (GarbageKind::NonJson, "non-json"),
    (GarbageKind::Binary, "binary"),
    (GarbageKind::Truncated, "truncated"),
    (GarbageKind::Oversized, "oversized"),
    (GarbageKind::DeeplyNested, "deeply-nested"),
    (GarbageKind::EmptyText, "empty-text"),
];

const BAD_VALUE_NAMES: [(BadValueKind, &str); 13] = [
    (BadValueKind::NaN, "nan"),
    (BadValueKind::Infinity, "infinity"),
    (BadValueKind::Negative, "negative"),
    (BadValueKind::Zero, "zero"),
    (BadValueKind::EmptyString, "empty-string"),
    (BadValueKind::HugeString, "huge-string"),
    (BadValueKind::NumberNotString, "number-not-string"),
    (BadValueKind::MissingField, "missing-field"),
    (BadValueKind::ExtraField, "extra-field"),
    (BadValueKind::HighBelowLow, "high-below-low"),
    (BadValueKind::WrongSymbol, "wrong-symbol"),
    (BadValueKind::FutureTimestamp, "future-timestamp"),
    (BadValueKind::BackwardsTimestamp, "backwards-timestamp"),
];

impl GarbageKind {
    /// Every kind, in declaration order.
    pub const ALL: [GarbageKind; 6] = [
        Self::NonJson,
        Self::Binary,
        Self::Truncated,
        Self::Oversized,
        Self::DeeplyNested,
        Self::EmptyText,
    ];

    /// The spec label, e.g. `non-json`.
    pub fn as_str(self) -> &'static str {
        GARBAGE_NAMES
            .iter()
            .find(|(kind, _)| *kind == self)
            .map_or("unknown", |(_, name)| name)
    }
}

impl BadValueKind {
    /// Every kind, in declaration order.
    pub const ALL: [BadValueKind; 13] = [
        Self::NaN,
        Self::Infinity,
        Self::Negative,
        Self::Zero,
        Self::EmptyString,
        Self::HugeString,
        Self::NumberNotString,
        Self::MissingField,
        Self::ExtraField,
        Self::HighBelowLow,
        Self::WrongSymbol,
        Self::FutureTimestamp,
        Self::BackwardsTimestamp,
    ];

    /// The spec label, e.g. `nan`.
    pub fn as_str(self) -> &'static str {
        BAD_VALUE_NAMES
            .iter()
            .find(|(kind, _)| *kind == self)
            .map_or("unknown", |(_, name)| name)
    }
}

impl Fault {
    /// The scenario name (the part of the spec before the first `:`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Silence { .. } => "silence",
            Self::PongOnly { .. } => "pong-only",
            Self::DropTcp => "drop-tcp",
            Self::CloseFrame => "close-frame",
            Self::HalfOpen { .. } => "half-open",
            Self::Garbage(_) => "garbage",
            Self::BadValue(_) => "bad-value",
            Self::Duplicate { .. } => "duplicate",
            Self::Reorder => "reorder",
            Self::Gap { .. } => "gap",
            Self::RestRateLimit {
                http_429: false, ..
            } => "rest-10006",
            Self::RestRateLimit { http_429: true, .. } => "rest-429",
            Self::RestSlow { .. } => "rest-slow",
            Self::Rest5xx { .. } => "rest-5xx",
            Self::RefuseUpgrade { .. } => "refuse-upgrade",
            Self::SlowAccept { .. } => "slow-accept",
            Self::OpenOutsideRange => "open-outside-range",
            Self::ImplausiblePrice(_) => "implausible-price",
            Self::ClockJump { .. } => "clock-jump",
        }
    }
}

/// The spec text, which [`parse_fault`] reads back: `silence:30000ms`, `gap:3`, ...
impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        match self {
            Self::Silence { duration_ms }
            | Self::PongOnly { duration_ms }
            | Self::HalfOpen { duration_ms }
            | Self::RestRateLimit { duration_ms, .. }
            | Self::Rest5xx { duration_ms }
            | Self::RefuseUpgrade { duration_ms } => write!(f, "{name}:{duration_ms}ms"),
            Self::RestSlow {
                delay_ms,
                duration_ms,
            }
            | Self::SlowAccept {
                delay_ms,
                duration_ms,
            } => write!(f, "{name}:{delay_ms}ms:{duration_ms}ms"),
            Self::DropTcp | Self::CloseFrame | Self::Reorder | Self::OpenOutsideRange => {
                f.write_str(name)
            }
            Self::ImplausiblePrice(factor) => write!(f, "{name}:{}", factor.as_str()),
            Self::Garbage(kind) => write!(f, "{name}:{}", kind.as_str()),
            Self::BadValue(kind) => write!(f, "{name}:{}", kind.as_str()),
            Self::Duplicate { count } => write!(f, "{name}:{count}"),
            Self::Gap { candles } => write!(f, "{name}:{candles}"),
            Self::ClockJump { virtual_ms } => write!(f, "{name}:{virtual_ms}ms"),
        }
    }
}

const CATALOGUE: [(&str, &str); 19] = [
    (
        "silence",
        "silence:<dur> — data pushes stop for <dur>; sockets stay open and pings are still answered",
    ),
    (
        "pong-only",
        "pong-only:<dur> — like silence: only ping replies arrive for <dur>",
    ),
    (
        "drop-tcp",
        "drop-tcp — every client socket is closed abruptly, no close frame (1006)",
    ),
    (
        "close-frame",
        "close-frame — every client gets a WebSocket close frame 1001 (going away)",
    ),
    (
        "half-open",
        "half-open:<dur> — sockets are neither read nor written for <dur>, then dropped",
    ),
    (
        "garbage",
        "garbage:<non-json|binary|truncated|oversized|deeply-nested|empty-text> — one malformed frame",
    ),
    (
        "bad-value",
        "bad-value:<nan|infinity|negative|zero|empty-string|huge-string|number-not-string|missing-field|extra-field|high-below-low|wrong-symbol|future-timestamp|backwards-timestamp> — one invalid kline and ticker frame",
    ),
    (
        "duplicate",
        "duplicate[:<n>] — the last kline, ticker and price frames are sent n more times (default 1)",
    ),
    (
        "reorder",
        "reorder — the next two kline frames arrive swapped",
    ),
    (
        "gap",
        "gap:<n> — the WebSocket skips the next n whole candles; REST still serves them",
    ),
    (
        "rest-10006",
        "rest-10006:<dur> — REST answers HTTP 200 code 10006 \"Request too frequently\" for <dur>",
    ),
    (
        "rest-429",
        "rest-429:<dur> — REST answers a bare HTTP 429 (no Retry-After) for <dur>",
    ),
    (
        "rest-slow",
        "rest-slow:<delay>:<dur> — every REST answer is delayed by <delay> for <dur>",
    ),
    (
        "rest-5xx",
        "rest-5xx:<dur> — REST answers HTTP 502/503 with an HTML body for <dur>",
    ),
    (
        "refuse-upgrade",
        "refuse-upgrade:<dur> — WebSocket upgrades are answered with HTTP 503 for <dur>",
    ),
    (
        "slow-accept",
        "slow-accept:<delay>:<dur> — new connections wait <delay> before being served, for <dur>",
    ),
    (
        "open-outside-range",
        "open-outside-range — one kline push and the REST row of the forming candle carry an open above its high, as Bitunix reports a bar opened at a previous close no trade reached (real data: kept widened and counted)",
    ),
    (
        "implausible-price",
        "implausible-price[:<low|high>] — one ticker at 1/1000 (low, the default) or 1000× (high) of the market, and the current candle closes at its close times that factor; REST keeps the true market",
    ),
    (
        "clock-jump",
        "clock-jump:<dur> — the virtual clock jumps <dur> (virtual time) ahead at once, as a suspended client sees it: nothing is pushed for the skipped time, REST serves its candles",
    ),
];

/// Every fault scenario: `(name, one-line description with its spec syntax)`.
///
/// Durations are written like `500ms`, `30s`, `2m` or `1h` (a bare number is minutes, as
/// everywhere in laptop-agents) and are real time; see the module docs.
pub fn scenario_catalogue() -> &'static [(&'static str, &'static str)] {
    &CATALOGUE
}

/// Parses a fault spec such as `silence:30s`, `gap:3`, `rest-429:10s`,
/// `garbage:non-json` or `bad-value:nan` (see [`scenario_catalogue`]).
///
/// # Errors
/// [`SimError::FaultSpec`] naming what is wrong.
pub fn parse_fault(spec: &str) -> Result<Fault, SimError> {
    let err = |reason: String| SimError::FaultSpec {
        spec: spec.to_owned(),
        reason,
    };
    let mut parts = spec.trim().split(':');
    let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let args: Vec<&str> = parts.map(str::trim).collect();
    let want = |n: usize| -> Result<(), SimError> {
        if args.len() == n {
            Ok(())
        } else {
            Err(err(format!(
                "`{name}` takes {n} argument(s), got {}",
                args.len()
            )))
        }
    };
    let duration = |i: usize| -> Result<u64, SimError> {
        let text = args.get(i).copied().unwrap_or("");
        parse_duration_ms(text).ok_or_else(|| err(format!("bad duration {text:?}")))
    };
    let count = |text: &str| -> Result<u32, SimError> {
        text.parse::<u32>()
            .map_err(|_| err(format!("bad count {text:?}")))
    };
    let fault = match name.as_str() {
        "silence" | "pong-only" | "half-open" | "rest-10006" | "rest-429" | "rest-5xx"
        | "refuse-upgrade" => {
            want(1)?;
            let duration_ms = duration(0)?;
            match name.as_str() {
                "silence" => Fault::Silence { duration_ms },
                "pong-only" => Fault::PongOnly { duration_ms },
                "half-open" => Fault::HalfOpen { duration_ms },
                "rest-10006" => Fault::RestRateLimit {
                    duration_ms,
                    http_429: false,
                },
                "rest-429" => Fault::RestRateLimit {
                    duration_ms,
                    http_429: true,
                },
                "rest-5xx" => Fault::Rest5xx { duration_ms },
                _ => Fault::RefuseUpgrade { duration_ms },
            }
        }
        "rest-slow" | "slow-accept" => {
            want(2)?;
            let (delay_ms, duration_ms) = (duration(0)?, duration(1)?);
            if name == "rest-slow" {
                Fault::RestSlow {
                    delay_ms,
                    duration_ms,
                }
            } else {
                Fault::SlowAccept {
                    delay_ms,
                    duration_ms,
                }
            }
        }
        "drop-tcp" | "close-frame" | "reorder" | "open-outside-range" => {
            want(0)?;
            match name.as_str() {
                "drop-tcp" => Fault::DropTcp,
                "close-frame" => Fault::CloseFrame,
                "reorder" => Fault::Reorder,
                _ => Fault::OpenOutsideRange,
            }
        }
        "implausible-price" => match args.as_slice() {
            [] => Fault::ImplausiblePrice(PriceFactor::Thousandth),
            [label] => Fault::ImplausiblePrice(
                PriceFactor::ALL
                    .into_iter()
                    .find(|f| f.as_str().eq_ignore_ascii_case(label))
                    .ok_or_else(|| err(format!("unknown price factor {label:?} (low or high)")))?,
            ),
            _ => {
                return Err(err(
                    "`implausible-price` takes at most 1 argument".to_owned()
                ));
            }
        },
        "garbage" => {
            want(1)?;
            let kind = GARBAGE_NAMES
                .iter()
                .find(|(_, label)| label.eq_ignore_ascii_case(args[0]))
                .map(|(kind, _)| *kind)
                .ok_or_else(|| err(format!("unknown garbage kind {:?}", args[0])))?;
            Fault::Garbage(kind)
        }
        "bad-value" => {
            want(1)?;
            let kind = BAD_VALUE_NAMES
                .iter()
                .find(|(_, label)| label.eq_ignore_ascii_case(args[0]))
                .map(|(kind, _)| *kind)
                .ok_or_else(|| err(format!("unknown bad-value kind {:?}", args[0])))?;
            Fault::BadValue(kind)
        }
        "duplicate" => match args.as_slice() {
            [] => Fault::Duplicate { count: 1 },
            [n] => Fault::Duplicate { count: count(n)? },
            _ => return Err(err("`duplicate` takes at most 1 argument".to_owned())),
        },
        "gap" => {
            want(1)?;
            Fault::Gap {
                candles: count(args[0])?,
            }
        }
        "clock-jump" => {
            want(1)?;
            Fault::ClockJump {
                virtual_ms: duration(0)?,
            }
        }
        _ => return Err(err(format!("unknown scenario {name:?}"))),
    };
    Ok(fault)
}

/// Parses `<virtual offset>@<fault spec>`, e.g. `120s@gap:3` or `2m@silence:30s`: the
/// offset is virtual time after the simulator's start (a bare number is minutes); without
/// `@` the offset is 0.
///
/// # Errors
/// [`SimError::FaultSpec`] naming what is wrong.
pub fn parse_scheduled_fault(spec: &str) -> Result<ScheduledFault, SimError> {
    let (offset_text, fault_text) = match spec.split_once('@') {
        Some((offset, fault)) => (Some(offset), fault),
        None => (None, spec),
    };
    let at_virtual_offset_ms = match offset_text {
        Some(text) => parse_duration_ms(text).ok_or_else(|| SimError::FaultSpec {
            spec: spec.to_owned(),
            reason: format!("bad offset {text:?} (e.g. 90s or 2m; a bare number is minutes)"),
        })?,
        None => 0,
    };
    Ok(ScheduledFault {
        at_virtual_offset_ms,
        fault: parse_fault(fault_text)?,
    })
}

/// A duration in milliseconds, in the one syntax of [`la_core::parse_duration`] (`500ms`,
/// `30s`, `2m`, `1h`; a bare number is minutes).
pub(crate) fn parse_duration_ms(text: &str) -> Option<u64> {
    la_core::parse_duration(text)
        .ok()
        .and_then(|d| u64::try_from(d.as_millis()).ok())
}

#[cfg(test)]
mod tests;
