//! Shared helpers: a fast session configuration and readers for the files a run leaves.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use la_session::{RawRunConfig, RunConfig, RunSummary, SessionHooks, StopReason};
use serde_json::Value;

/// A session on the simulator at 60× (one 1m candle per second), generated data.
pub(crate) fn sim_config(workspace: &Path, duration: &str) -> RawRunConfig {
    RawRunConfig {
        source: "sim".into(),
        workspace: workspace.to_path_buf(),
        duration: duration.into(),
        speed: 60.0,
        stale_timeout: "5s".into(),
        max_clock_skew: "off".into(),
        http: "off".into(),
        ..RawRunConfig::default()
    }
}

/// Validates a raw configuration.
pub(crate) fn validated(raw: &RawRunConfig) -> RunConfig {
    match raw.validate() {
        Ok(config) => config,
        Err(issues) => panic!("invalid test configuration: {issues:?}"),
    }
}

/// Runs a session to completion (it stops by itself: duration, stale data, ...), with an
/// outer guard so a hang fails the test instead of blocking CI.
pub(crate) async fn run_session(config: RunConfig, guard: Duration) -> RunSummary {
    let stop = std::future::pending::<StopReason>();
    match tokio::time::timeout(
        guard,
        la_session::run(config, stop, SessionHooks::default()),
    )
    .await
    {
        Ok(Ok(report)) => report,
        Ok(Err(err)) => panic!("session failed: {}", la_session::error_chain(&err)),
        Err(_) => panic!("session did not stop within {guard:?}"),
    }
}

/// Every JSON object of a JSON-lines file.
pub(crate) fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("invalid JSON line in {}: {e}: {line}", path.display()))
        })
        .collect()
}

/// The run directory of a report.
pub(crate) fn run_dir(report: &RunSummary) -> PathBuf {
    PathBuf::from(&report.run_dir)
}

/// A file of the shared real-data folder ([`la_shared_data::path`]: panics loudly when it
/// is missing).
pub(crate) fn shared_data(relative: &str) -> PathBuf {
    la_shared_data::path(relative)
}
