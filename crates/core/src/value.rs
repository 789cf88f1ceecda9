//! Scalar value types that cannot hold an invalid number: [`Price`], [`Qty`], [`Volume`],
//! [`Symbol`].
//!
//! Fields are private and every way in — `new`, `FromStr`, `TryFrom<Decimal>` and serde —
//! goes through the same check, so a `Price` in hand is always finite, strictly positive and
//! of bounded scale. There are no setters and no panicking constructors.

use std::{fmt, str::FromStr};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{
    error::{DataError, RejectReason},
    number::{POW10, parse_decimal},
};

/// Most fractional digits any price, quantity or volume may carry (after trailing zeros are
/// dropped). Exchanges use at most 8; 12 leaves room for computed averages.
pub const MAX_SCALE: u32 = 12;

/// Upper sanity bound for prices and quantities: 10^12.
pub const MAX_MAGNITUDE: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0);

/// [`MAX_MAGNITUDE`]'s mantissa (its scale is 0, so this is the bound itself).
const MAX_MAGNITUDE_MANTISSA: i128 = MAX_MAGNITUDE.mantissa();

fn check_scale(field: &'static str, value: Decimal) -> Result<Decimal, DataError> {
    // Normalizing only strips trailing zeros, so it can only lower the scale: a scale
    // already within bounds never fails, and the hot path skips the normalize.
    if value.scale() <= MAX_SCALE {
        return Ok(value);
    }
    let normalized = value.normalize();
    if normalized.scale() > MAX_SCALE {
        return Err(DataError::new(field, RejectReason::TooPrecise, value));
    }
    Ok(value)
}

fn check_positive(field: &'static str, value: Decimal) -> Result<Decimal, DataError> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(DataError::new(field, RejectReason::Negative, value));
    }
    if value.is_zero() {
        return Err(DataError::new(field, RejectReason::Zero, value));
    }
    // With scale >= 0, `value <= mantissa`: a mantissa within the bound proves the value
    // is, without the cross-scale `Decimal` compare (every real price takes this branch).
    if value.mantissa() > MAX_MAGNITUDE_MANTISSA && value > MAX_MAGNITUDE {
        return Err(DataError::new(field, RejectReason::OutOfRange, value));
    }
    check_scale(field, value)
}

fn check_non_negative(field: &'static str, value: Decimal) -> Result<Decimal, DataError> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(DataError::new(field, RejectReason::Negative, value));
    }
    check_scale(field, value.abs())
}

macro_rules! decimal_newtype {
    ($(#[$doc:meta])* $name:ident, $field:literal, $check:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "Decimal", into = "Decimal")]
        pub struct $name(Decimal);

        impl $name {
            /// Validates `value`.
            ///
            /// # Errors
            /// A [`DataError`] naming the violated rule.
            pub fn new(value: Decimal) -> Result<Self, DataError> {
                $check($field, value).map(Self)
            }

            /// Parses an exchange string strictly (see [`crate::number::parse_decimal`]).
            ///
            /// # Errors
            /// A [`DataError`] naming the violated rule.
            pub fn parse(field: &'static str, text: &str) -> Result<Self, DataError> {
                let value = parse_decimal(field, text)?;
                $check(field, value).map(Self)
            }

            /// The validated value.
            pub const fn get(self) -> Decimal {
                self.0
            }
        }

        impl TryFrom<Decimal> for $name {
            type Error = DataError;
            fn try_from(value: Decimal) -> Result<Self, DataError> {
                Self::new(value)
            }
        }

        impl From<$name> for Decimal {
            fn from(value: $name) -> Decimal {
                value.0
            }
        }

        impl FromStr for $name {
            type Err = DataError;
            fn from_str(text: &str) -> Result<Self, DataError> {
                Self::parse($field, text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

decimal_newtype!(
    /// A strictly positive price in quote currency (USDT). Invariant: `0 < value <= 10^12`,
    /// scale <= [`MAX_SCALE`].
    Price,
    "price",
    check_positive
);

decimal_newtype!(
    /// A strictly positive quantity in base currency (BTC). Invariant: `0 < value <= 10^12`,
    /// scale <= [`MAX_SCALE`].
    Qty,
    "qty",
    check_positive
);

decimal_newtype!(
    /// A non-negative traded volume. Invariant: `value >= 0`, scale <= [`MAX_SCALE`].
    Volume,
    "volume",
    check_non_negative
);

impl Price {
    /// The price as an exact integer count of 10^-[`MAX_SCALE`] (63404.6 is
    /// 63,404,600,000,000,000), for integer comparisons on hot paths.
    ///
    /// Exact for every `Price`: it has at most [`MAX_SCALE`] decimals once trailing zeros are
    /// dropped (a finer representation only adds zeros, divided away exactly) and is at most
    /// 10^12, so the result is at most 10^24 and never overflows.
    #[inline]
    pub fn to_fixed(self) -> i128 {
        let (mantissa, scale) = (self.0.mantissa(), self.0.scale());
        if scale <= MAX_SCALE {
            mantissa * POW10[(MAX_SCALE - scale) as usize]
        } else {
            mantissa / POW10[(scale - MAX_SCALE) as usize]
        }
    }
}

impl Volume {
    /// No volume.
    pub const ZERO: Volume = Volume(Decimal::ZERO);
}

/// Longest accepted symbol.
pub const MAX_SYMBOL_LEN: usize = 20;

/// An instrument symbol such as `BTCUSDT`: 2..=20 upper-case ASCII letters or digits.
///
/// Stored inline, so it is `Copy` and never allocates on the hot path.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Symbol {
    bytes: [u8; MAX_SYMBOL_LEN],
    len: u8,
}

impl Symbol {
    /// Validates a symbol. Lower case is rejected rather than silently upper-cased: use
    /// [`Symbol::normalize`] for user input.
    ///
    /// # Errors
    /// `InvalidSymbol` unless `text` is 2..=20 of `A-Z0-9`.
    pub fn new(text: &str) -> Result<Self, DataError> {
        let ok = (2..=MAX_SYMBOL_LEN).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !ok {
            return Err(DataError::new("symbol", RejectReason::InvalidSymbol, text));
        }
        let mut bytes = [0u8; MAX_SYMBOL_LEN];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        // The length check above bounds this at 20.
        Ok(Self {
            bytes,
            len: text.len() as u8,
        })
    }

    /// Normalises user input (`btc-usdt`, `BTC/USDT`) the way the CLI accepts it: upper case,
    /// `/`, `-` and `_` removed, then validated.
    ///
    /// # Errors
    /// `InvalidSymbol` if what remains is not a valid symbol.
    pub fn normalize(text: &str) -> Result<Self, DataError> {
        let cleaned: String = text
            .chars()
            .filter(|c| !matches!(c, '/' | '-' | '_'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        Self::new(&cleaned).map_err(|_| DataError::new("symbol", RejectReason::InvalidSymbol, text))
    }

    /// The symbol text.
    pub fn as_str(&self) -> &str {
        // Only ASCII bytes are ever stored, so this cannot fail; fall back to "" to stay
        // panic-free regardless.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Symbol({})", self.as_str())
    }
}

impl FromStr for Symbol {
    type Err = DataError;
    fn from_str(text: &str) -> Result<Self, DataError> {
        Self::new(text)
    }
}

impl Serialize for Symbol {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::new(&text).map_err(serde::de::Error::custom)
    }
}
