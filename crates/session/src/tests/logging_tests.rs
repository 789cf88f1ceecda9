//! The JSON log format: every line carries the required fields, and error events carry the
//! symbol and the full cause chain.

use std::{error::Error, fmt};

use tracing_subscriber::layer::SubscriberExt;

use crate::logging::{JsonLogLayer, WarningsOnly};

#[derive(Debug)]
struct Outer(Inner);
#[derive(Debug)]
struct Inner;

impl fmt::Display for Outer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot save broker state")
    }
}
impl fmt::Display for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("No space left on device (os error 28)")
    }
}
impl Error for Outer {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}
impl Error for Inner {}

#[test]
fn error_log_lines_carry_symbol_and_cause_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("system.jsonl");
    let layer = JsonLogLayer::open(&path, "BTCUSDT").expect("log file");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(candles = 3_u64, "warm-up history applied");
        let err = Outer(Inner);
        tracing::error!(
            symbol = "ETHUSDT",
            error = &err as &dyn Error,
            "state save failed"
        );
        tracing::error!("an error without an error value");
    });
    let text = std::fs::read_to_string(&path).expect("log written");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    assert_eq!(lines.len(), 3);
    for line in &lines {
        for field in ["timestamp", "level", "target", "message", "symbol"] {
            assert!(line.get(field).is_some(), "{field} missing in {line}");
        }
    }
    assert_eq!(lines[0]["symbol"], "BTCUSDT", "the default symbol fills in");
    assert_eq!(lines[0]["candles"], 3);
    assert!(lines[0].get("error").is_none());
    assert_eq!(lines[1]["symbol"], "ETHUSDT", "an explicit symbol wins");
    assert_eq!(lines[1]["error"], "cannot save broker state");
    assert_eq!(
        lines[1]["error_chain"],
        serde_json::json!([
            "cannot save broker state",
            "No space left on device (os error 28)"
        ])
    );
    assert_eq!(
        lines[2]["error_chain"],
        serde_json::json!(["an error without an error value"])
    );
    assert!(
        lines[0]["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "RFC 3339 UTC"
    );
}

#[test]
fn warnings_only_drops_information_lines_and_keeps_warnings_and_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("system.jsonl");
    let layer = JsonLogLayer::open(&path, "BTCUSDT").expect("log file");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let quiet = WarningsOnly::of_current();
        tracing::dispatcher::with_default(&quiet, || {
            tracing::info!("entry filled inside a sweep set");
            tracing::debug!("a debug line inside a sweep set");
            tracing::warn!("circuit breaker tripped inside a sweep set");
            tracing::error!("an error inside a sweep set");
        });
        tracing::info!("information after the sweep");
    });
    let text = std::fs::read_to_string(&path).expect("log written");
    let messages: Vec<String> = text
        .lines()
        .map(|l| {
            let line: serde_json::Value = serde_json::from_str(l).expect("every line is JSON");
            line["message"].as_str().expect("a message").to_owned()
        })
        .collect();
    assert_eq!(
        messages,
        [
            "circuit breaker tripped inside a sweep set",
            "an error inside a sweep set",
            "information after the sweep",
        ]
    );
}
