//! A fast path for the decimal strings of the hot path (`"63404.6"`, `"0.2413"`).
//!
//! `la_core`'s strict parser scans the text several times (emptiness, NaN/Infinity
//! spellings, signs, digit runs) before `Decimal::from_str_exact` scans it again. For the
//! overwhelmingly common shape — up to 18 ASCII digits with at most one dot and no sign —
//! one pass builds the exact mantissa and scale, giving the identical `Decimal` (same value,
//! same scale) that `from_str_exact` would. Anything else falls back to the strict parser, so
//! acceptance and every rejection reason stay exactly `la_core`'s.

use la_core::{DataError, Decimal, Price, Volume};

/// Most digits whose value always fits a `u64` mantissa.
const MAX_FAST_DIGITS: usize = 18;

/// `Some(decimal)` for plain unsigned digits with at most one dot; `None` otherwise.
fn plain_unsigned(text: &str) -> Option<Decimal> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_FAST_DIGITS + 1 {
        return None;
    }
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    let mut scale: Option<u32> = None;
    for &b in bytes {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                digits += 1;
                if let Some(s) = scale.as_mut() {
                    *s += 1;
                }
            }
            b'.' if scale.is_none() => scale = Some(0),
            _ => return None,
        }
    }
    if digits == 0 || digits > MAX_FAST_DIGITS {
        return None;
    }
    let lo = u32::try_from(mantissa & 0xFFFF_FFFF).ok()?;
    let mid = u32::try_from(mantissa >> 32).ok()?;
    Some(Decimal::from_parts(lo, mid, 0, false, scale.unwrap_or(0)))
}

/// Parses a price like [`Price::parse`], faster for plain strings.
pub(crate) fn price(field: &'static str, text: &str) -> Result<Price, DataError> {
    match plain_unsigned(text) {
        Some(value) => Price::new(value).map_err(|e| DataError { field, ..e }),
        None => Price::parse(field, text),
    }
}

/// Parses a volume like [`Volume::parse`], faster for plain strings.
pub(crate) fn volume(field: &'static str, text: &str) -> Result<Volume, DataError> {
    match plain_unsigned(text) {
        Some(value) => Volume::new(value).map_err(|e| DataError { field, ..e }),
        None => Volume::parse(field, text),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn same_as_strict(text: &str) {
        let fast = price("p", text);
        let strict = Price::parse("p", text);
        assert_eq!(fast, strict, "{text:?}");
        if let (Ok(a), Ok(b)) = (&fast, &strict) {
            assert_eq!(a.to_string(), b.to_string(), "scale differs for {text:?}");
        }
        assert_eq!(volume("v", text), Volume::parse("v", text), "{text:?}");
    }

    #[test]
    fn fast_path_matches_the_strict_parser_on_edge_cases() {
        for text in [
            "63404.6",
            "0.2413",
            "68590",
            "0",
            "0.0",
            "00012.500",
            ".5",
            "5.",
            ".",
            "",
            "1.2.3",
            "-1",
            "+1",
            "1e5",
            "NaN",
            " 1",
            "999999999999999999",
            "9999999999999999999",
            "1000000000000",
            "1000000000000.1",
            "0.0000000000001",
            "123456789012345678",
            "0.000000000001",
            "1,5",
        ] {
            same_as_strict(text);
        }
    }

    proptest! {
        #[test]
        fn fast_path_matches_the_strict_parser(text in "[0-9.]{0,22}") {
            same_as_strict(&text);
        }

        #[test]
        fn fast_path_matches_on_realistic_prices(int in 0u64..10_000_000, frac in 0u64..100_000, width in 0usize..6) {
            let text = if width == 0 { int.to_string() } else { format!("{int}.{frac:0width$}") };
            same_as_strict(&text);
        }
    }
}
