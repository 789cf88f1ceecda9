//! Strict parsing of exchange decimal strings into [`Decimal`].
//!
//! Exchanges send numbers as JSON strings (`"63404.6"`). Accepting whatever
//! `Decimal::from_str` or a float parser would take is how `NaN`, `1e999` and `63,404.6`
//! leak into a trading system, so the grammar here is deliberately narrow:
//! an optional `-`, ASCII digits, at most one `.`, and at least one digit. Everything else
//! is rejected with a [`RejectReason`] that says which kind of garbage it was.

use rust_decimal::Decimal;

use crate::error::{DataError, RejectReason};

/// 10^0 ..= 10^28 (a `Decimal` scale never exceeds 28): the factors between a `Decimal` and
/// a fixed-point integer with a given number of decimals.
pub const POW10: [i128; 29] = {
    let mut table = [1i128; 29];
    let mut i = 1;
    while i < 29 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// The scale `value.normalize().scale()` gives (its decimals without trailing zeros),
/// without building the normalized value: a mantissa that fits a `u64` (every price and
/// quantity of a real market) loses its trailing zeros by 64-bit division by a constant,
/// a few instructions each, where `normalize` divides the 96-bit mantissa. Wider mantissas
/// take `normalize`.
pub fn normalized_scale(value: Decimal) -> u32 {
    let scale = value.scale();
    let Ok(mut mantissa) = u64::try_from(value.mantissa().unsigned_abs()) else {
        return value.normalize().scale();
    };
    if mantissa == 0 {
        return 0;
    }
    let mut trimmed = scale;
    while trimmed > 0 && mantissa % 10 == 0 {
        mantissa /= 10;
        trimmed -= 1;
    }
    trimmed
}

/// The most significant digits a [`Decimal`] can hold without rounding.
const MAX_DIGITS: usize = 28;

/// Parses a plain decimal string (`-12.5`, `0.0001`, `63404`) exactly.
///
/// Sign checks are left to the value types; this only guarantees a finite, exactly
/// representable number written in plain notation.
///
/// # Errors
/// [`DataError`] with one of `Empty`, `NotANumber`, `Infinite`, `ExponentNotation`,
/// `Malformed`, `OutOfRange` or `TooPrecise`.
pub fn parse_decimal(field: &'static str, text: &str) -> Result<Decimal, DataError> {
    let reject = |reason| DataError::new(field, reason, text);
    if text.trim().is_empty() {
        return Err(reject(RejectReason::Empty));
    }
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let bare = unsigned.strip_prefix('+').unwrap_or(unsigned);
    if bare.eq_ignore_ascii_case("nan") {
        return Err(reject(RejectReason::NotANumber));
    }
    if bare.eq_ignore_ascii_case("inf") || bare.eq_ignore_ascii_case("infinity") {
        return Err(reject(RejectReason::Infinite));
    }
    if unsigned.len() != bare.len() {
        // A leading '+' (or "-+") is not something an exchange sends.
        return Err(reject(RejectReason::Malformed));
    }
    let (int_part, frac_part) = match bare.split_once('.') {
        Some((int_part, frac_part)) => (int_part, frac_part),
        None => (bare, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part)
        || !all_digits(frac_part)
        || (int_part.is_empty() && frac_part.is_empty())
    {
        let looks_scientific = bare.bytes().any(|b| b == b'e' || b == b'E')
            && bare
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'e' | b'E' | b'.' | b'-' | b'+'));
        let reason = if looks_scientific {
            RejectReason::ExponentNotation
        } else {
            RejectReason::Malformed
        };
        return Err(reject(reason));
    }
    let significant_int = int_part.trim_start_matches('0').len();
    if significant_int > MAX_DIGITS {
        return Err(reject(RejectReason::OutOfRange));
    }
    if frac_part.len() > MAX_DIGITS {
        return Err(reject(RejectReason::TooPrecise));
    }
    Decimal::from_str_exact(text).map_err(|_| {
        let reason = if significant_int + frac_part.len() > MAX_DIGITS {
            RejectReason::TooPrecise
        } else {
            RejectReason::OutOfRange
        };
        reject(reason)
    })
}
