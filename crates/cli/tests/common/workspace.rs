//! Reading what a session leaves in its workspace (heartbeat, journal, summary), for the
//! binary's process tests (`#[path]` module).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

/// Closed candles in the workspace's heartbeat (0 before the first one).
pub(crate) fn heartbeat_candles(workspace: &Path) -> u64 {
    std::fs::read_to_string(workspace.join("heartbeat.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["candles_closed"].as_u64())
        .unwrap_or(0)
}

/// Every line of the workspace's journal, parsed (a line that does not parse fails).
pub(crate) fn journal(workspace: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(workspace.join("paper/events.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("journal line {line:?}: {e}"))
        })
        .collect()
}

/// `runs/latest/summary.json`.
pub(crate) fn summary(workspace: &Path) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(workspace.join("runs/latest/summary.json")).expect("summary.json"),
    )
    .expect("summary parses")
}
