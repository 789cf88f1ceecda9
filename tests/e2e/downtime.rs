//! Funding and downtime against a scripted market: the rate that settled at a funding time,
//! and what the account books when the session comes back after missing part of the
//! market. The simulator runs in this process and the session reaches it as it would the
//! exchange (`source bitunix` with loopback URLs), so the simulator's clock can be moved
//! while the session is away.

use std::{path::Path, time::Duration};

use la_bitunix_sim::{MarketData, SimConfig, SimHandle, scenario::StopAfterFundings};
use la_core::{Decimal, TimestampMs};
use la_session::{RawRunConfig, RunSummary, SessionHooks, StopReason};
use serde_json::Value;

use crate::support::{read_jsonl, validated};

/// 2024-01-01 08:00 UTC.
const T1: i64 = 1_704_096_000_000;
const MINUTE: i64 = 60_000;
const GUARD: Duration = Duration::from_secs(60);

/// The downtime scenario served by a simulator whose clock starts at `start`.
pub(crate) async fn scripted_market(start: i64, speed: f64) -> (SimHandle, StopAfterFundings) {
    let scenario =
        la_bitunix_sim::scenario::stop_after_two_fundings(TimestampMs::new(T1).unwrap()).unwrap();
    let sim = la_bitunix_sim::start(SimConfig {
        data: MarketData::Candles(scenario.candles.clone()),
        start_time: Some(TimestampMs::new(start).unwrap()),
        speed,
        idle_drop_ms: 3_600_000,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    (sim, scenario)
}

/// A session on `sim` as on the exchange, trading `sma-cross` with periods 2 and 3 (it goes
/// long on the scenario's rising candle).
pub(crate) fn session_on(workspace: &Path, sim: &SimHandle) -> RawRunConfig {
    let mut raw = RawRunConfig {
        source: "bitunix".into(),
        ws_url: sim.ws_url(),
        rest_url: sim.rest_url(),
        max_clock_skew: "off".into(),
        workspace: workspace.to_path_buf(),
        duration: "off".into(),
        stale_timeout: "20s".into(),
        strategy: "sma-cross".into(),
        warmup_bars: 3,
        ..RawRunConfig::default()
    };
    raw.sma_cross.fast = 2;
    raw.sma_cross.slow = 3;
    raw
}

/// The workspace journal's lines.
pub(crate) fn journal(workspace: &Path) -> Vec<Value> {
    let path = workspace.join("paper/events.jsonl");
    if path.exists() {
        read_jsonl(&path)
    } else {
        Vec::new()
    }
}

/// Runs a session until `done` holds for the journal (polled), then stops it.
pub(crate) async fn run_until(
    raw: &RawRunConfig,
    done: impl Fn(&[Value]) -> bool + Send + 'static,
) -> RunSummary {
    let workspace = raw.workspace.clone();
    let stop = async move {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if done(&journal(&workspace)) {
                return StopReason::StopRequested;
            }
        }
    };
    match tokio::time::timeout(
        GUARD,
        la_session::run(validated(raw), stop, SessionHooks::default()),
    )
    .await
    {
        Ok(Ok(report)) => report,
        Ok(Err(err)) => panic!("session failed: {}", la_session::error_chain(&err)),
        Err(_) => panic!("session did not finish within {GUARD:?}"),
    }
}

/// A decimal field written as a JSON string (exact) or number.
pub(crate) fn decimal(value: &Value) -> Decimal {
    match value {
        Value::String(text) => text.parse().unwrap(),
        other => other.to_string().parse().unwrap(),
    }
}

pub(crate) fn kind<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["kind"] == kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn funding_is_settled_with_the_rate_that_settled_at_the_funding_time() {
    let dir = tempfile::tempdir().unwrap();
    // The long opens at 07:56 and is held across 08:00.
    let (sim, _) = scripted_market(T1 - 10 * MINUTE, 300.0).await;
    let raw = session_on(dir.path(), &sim);
    let report = run_until(&raw, |lines| !kind(lines, "funding_applied").is_empty()).await;
    assert_eq!(report.stopped_reason, Some(StopReason::StopRequested));
    let lines = journal(dir.path());
    let fills = kind(&lines, "fill");
    assert_eq!(fills.len(), 1, "one long entry: {fills:?}");
    assert_eq!(fills[0]["side"], "long");
    let funding = kind(&lines, "funding_applied");
    assert_eq!(funding.len(), 1, "{funding:?}");
    let event = funding[0];
    assert_eq!(event["ts_ms"], T1);
    let t1 = TimestampMs::new(T1).unwrap();
    let settled_then = sim.settled_funding_rate(t1);
    let previous = sim.settled_funding_rate(TimestampMs::new(T1 - 1).unwrap());
    assert_ne!(settled_then, previous, "the scenario's periods differ");
    let rate = decimal(&event["rate"]);
    assert_eq!(
        rate, settled_then,
        "the rate that settled at 08:00, not the one before"
    );
    assert_eq!(event["rate_source"], "price_channel");
    // A long pays a positive rate and receives a negative one.
    let amount = decimal(&event["amount"]);
    let qty = decimal(&fills[0]["qty"]);
    let mark = decimal(&event["mark_price"]);
    assert_eq!(amount, -(rate * qty * mark));
    assert!(amount.is_sign_negative() == rate.is_sign_positive());
    sim.shutdown().await;
}
