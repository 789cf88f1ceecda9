//! Tests of the tiny JSON reader: real log and state lines parse, non-JSON is refused.

use super::{Json, normalize_decimal, quote};

#[test]
fn a_log_line_parses_with_nested_members_and_exact_numbers() {
    let line = r#"{"timestamp":"2026-01-01T00:00:00Z","level":"ERROR","n":-12.50e+3,"ok":true,"x":null,"a":[1,{"b":"c\"\u00e9\ud83d\ude00"}]}"#;
    let value = Json::parse(line).unwrap();
    assert_eq!(value.get("level").and_then(Json::as_str), Some("ERROR"));
    assert_eq!(value.get("n"), Some(&Json::Number("-12.50e+3".into())));
    assert_eq!(value.get("ok"), Some(&Json::Bool(true)));
    assert_eq!(value.get("x"), Some(&Json::Null));
    let array = value.get("a").and_then(Json::as_array).unwrap();
    assert_eq!(array[0].as_i64(), Some(1));
    assert_eq!(array[1].get("b").and_then(Json::as_str), Some("c\"é😀"));
}

#[test]
fn text_that_is_not_json_is_refused() {
    for bad in [
        "",
        "{",
        "{\"a\":1,}",
        "[1,]",
        "{\"a\" 1}",
        "01",
        "1.",
        "1e",
        "-",
        "nul",
        "\"abc",
        "\"\\x\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"a\tb\"",
        "{} {}",
        "NaN",
        "{'a':1}",
    ] {
        assert!(Json::parse(bad).is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(Json::parse(&deep).is_err());
    let fine = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert!(Json::parse(&fine).is_ok());
}

#[test]
fn decimals_are_normalised_for_exact_comparison() {
    assert_eq!(normalize_decimal("10000.00"), "10000");
    assert_eq!(normalize_decimal("010.500"), "10.5");
    assert_eq!(normalize_decimal("-0.50"), "-0.5");
    assert_eq!(normalize_decimal("-0.000"), "0");
    assert_eq!(normalize_decimal("0.0001"), "0.0001");
}

#[test]
fn quoting_round_trips_through_the_parser() {
    let text = "a \"quoted\" \\ line\nwith\ttabs and \u{1} control";
    assert_eq!(
        Json::parse(&quote(text)).unwrap(),
        Json::String(text.to_owned())
    );
}
