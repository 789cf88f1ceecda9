//! Shared by the downtime tests: the scripted market served by a simulator in this test
//! process (its clock can be moved while the session is away), a session configured to
//! enter long on it, readers for the files a run leaves, and the check of what a catch-up of
//! the scenario must have booked.

use std::{path::Path, time::Duration};

use la_bitunix_sim::{MarketData, SimConfig, SimHandle, scenario::StopAfterFundings};
use la_core::{Decimal, TimestampMs};
use la_session::{RawRunConfig, RunSummary, SessionHooks, StopReason};
use serde_json::Value;

/// 2024-01-01 08:00 UTC.
pub(crate) const T1: i64 = 1_704_096_000_000;
pub(crate) const MINUTE: i64 = 60_000;
pub(crate) const GUARD: Duration = Duration::from_secs(60);

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

/// The saved broker state's open position (`paper/broker_state.json`).
pub(crate) fn saved_position(workspace: &Path) -> Value {
    let text = std::fs::read_to_string(workspace.join("paper/broker_state.json")).unwrap();
    let state: Value = serde_json::from_str(&text).unwrap();
    state["position"].clone()
}

/// The summary of the run a report names.
pub(crate) fn summary(report: &RunSummary) -> Value {
    let text = std::fs::read_to_string(Path::new(&report.run_dir).join("summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Runs the scenario's first part: the session enters long at 07:56 and is stopped.
pub(crate) async fn enter_long_then_stop(workspace: &Path, sim: &SimHandle) -> RawRunConfig {
    let mut raw = session_on(workspace, sim);
    // Exits at the level itself, so "at the stop price" is exact.
    raw.slippage_bps = Decimal::ZERO;
    let report = run_until(&raw, |lines| !kind(lines, "fill").is_empty()).await;
    assert_eq!(report.stopped_reason, Some(StopReason::StopRequested));
    assert!(
        kind(&journal(workspace), "funding_applied").is_empty(),
        "before 08:00"
    );
    raw
}

/// Moves the simulator's clock to `to` at once.
pub(crate) fn jump_to(sim: &SimHandle, to: TimestampMs) {
    let ahead = to.ms_since(sim.virtual_now());
    assert!(ahead > 0);
    sim.inject(la_bitunix_sim::Fault::ClockJump {
        virtual_ms: u64::try_from(ahead).unwrap(),
    });
}

/// What the catch-up of the scenario must have booked: one exit at the stop inside the
/// crossing candle, both funding times settled with the rate that settled then, and the
/// account moved by exactly those.
pub(crate) fn assert_scenario_caught_up(
    workspace: &Path,
    sim: &SimHandle,
    scenario: &StopAfterFundings,
    stop: Decimal,
) -> Vec<Value> {
    let lines = journal(workspace);
    let exits = kind(&lines, "exit");
    assert_eq!(exits.len(), 1, "one exit, journaled once: {exits:?}");
    let exit = exits[0];
    assert_eq!(exit["catch_up"], true);
    assert_eq!(decimal(&exit["exit_price"]), stop, "at the stop price");
    let ts = exit["ts"].as_i64().unwrap();
    let open = scenario.crossing_candle.as_ms();
    assert!(
        (open..open + MINUTE).contains(&ts),
        "the crossing candle's time: {ts} not in [{open}, {})",
        open + MINUTE
    );
    let fill = kind(&lines, "fill")[0];
    let qty = decimal(&fill["qty"]);
    let funding = kind(&lines, "funding_applied");
    assert_eq!(funding.len(), 2, "{funding:?}");
    for (event, time) in funding.iter().zip(scenario.funding_times) {
        assert_eq!(event["ts_ms"], time.as_ms());
        assert_eq!(event["catch_up"], true);
        assert_eq!(event["rate_source"], "history");
        let rate = decimal(&event["rate"]);
        assert_eq!(rate, sim.settled_funding_rate(time), "that period's rate");
        let amount = decimal(&event["amount"]);
        assert_eq!(
            amount,
            -(rate * qty * decimal(&event["mark_price"])),
            "a long pays"
        );
    }
    assert_ne!(
        decimal(&funding[0]["rate"]),
        decimal(&funding[1]["rate"]),
        "two periods, two rates"
    );
    assert_eq!(kind(&lines, "fill").len(), 1, "no entry while catching up");
    // The downtime's record follows the bookings it lists.
    let finished = kind(&lines, "catch_up_finished");
    let after =
        |line: &Value| line["seq"].as_u64() < finished.last().and_then(|f| f["seq"].as_u64());
    assert!(
        after(exit) && funding.iter().all(|f| after(f)),
        "record before its events"
    );
    // The account: the fresh balance plus every exit's net PnL and every funding amount.
    let pnl: Decimal = exits.iter().map(|e| decimal(&e["pnl_net"])).sum();
    let paid: Decimal = funding.iter().map(|e| decimal(&e["amount"])).sum();
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace.join("paper/broker_state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        decimal(&state["balance"]),
        Decimal::from(10_000) + pnl + paid
    );
    assert!(state["position"].is_null());
    lines
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

fn validated(raw: &RawRunConfig) -> la_session::RunConfig {
    match raw.validate() {
        Ok(config) => config,
        Err(issues) => panic!("invalid test configuration: {issues:?}"),
    }
}
