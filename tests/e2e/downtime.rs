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

/// The saved broker state's open position (`paper/broker_state.json`).
fn saved_position(workspace: &Path) -> Value {
    let text = std::fs::read_to_string(workspace.join("paper/broker_state.json")).unwrap();
    let state: Value = serde_json::from_str(&text).unwrap();
    state["position"].clone()
}

/// The summary of the run a report names.
fn summary(report: &RunSummary) -> Value {
    let text = std::fs::read_to_string(Path::new(&report.run_dir).join("summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Runs the scenario's first part: the session enters long at 07:56 and is stopped.
async fn enter_long_then_stop(workspace: &Path, sim: &SimHandle) -> RawRunConfig {
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
fn jump_to(sim: &SimHandle, to: TimestampMs) {
    let ahead = to.ms_since(sim.virtual_now());
    assert!(ahead > 0);
    sim.inject(la_bitunix_sim::Fault::ClockJump {
        virtual_ms: u64::try_from(ahead).unwrap(),
    });
}

/// What the catch-up of the scenario must have booked: one exit at the stop inside the
/// crossing candle, both funding times settled with the rate that settled then, and the
/// account moved by exactly those.
fn assert_scenario_caught_up(
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_a_downtime_replays_the_stop_and_both_fundings_before_trading_on() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, scenario) = scripted_market(T1 - 10 * MINUTE, 300.0).await;
    let raw = enter_long_then_stop(dir.path(), &sim).await;
    let stop = decimal(&saved_position(dir.path())["stop"]);
    // While the session is down the market crosses both funding times and the stop.
    jump_to(
        &sim,
        scenario.crossing_candle.checked_add_ms(5 * MINUTE).unwrap(),
    );
    let report = run_until(&raw, |lines| !kind(lines, "catch_up_finished").is_empty()).await;
    let lines = assert_scenario_caught_up(dir.path(), &sim, &scenario, stop);
    let finished = kind(&lines, "catch_up_finished")[0];
    assert_eq!(finished["cause"], "restart");
    assert_eq!(finished["detected_by"], "startup");
    assert_eq!(finished["outcome"], "caught_up");
    // The summary lists the downtime with its exit and funding; its identity holds exactly.
    let summary = summary(&report);
    let downtime = &summary["downtime"][0];
    assert_eq!(downtime["cause"], "restart");
    assert_eq!(downtime["exits"].as_array().unwrap().len(), 1);
    assert_eq!(downtime["funding"].as_array().unwrap().len(), 2);
    assert!(downtime["end_ms"].as_i64().unwrap() > scenario.crossing_candle.as_ms());
    let settlements = summary["funding_settlements"].as_array().unwrap();
    assert_eq!(settlements.len(), 2);
    assert!(
        settlements
            .iter()
            .all(|s| s["source"] == "history" && s["catch_up"] == true)
    );
    let trades_pnl = decimal(&downtime["exits"][0]["pnl_net"]);
    assert_eq!(
        report.results.ending_equity,
        report.results.starting_equity + trades_pnl + report.results.funding,
        "ending = starting + Σ net pnl + funding"
    );
    // decisions.jsonl marks the replayed candles; none of them entered.
    let decisions = read_jsonl(&Path::new(&report.run_dir).join("decisions.jsonl"));
    let replayed: Vec<&Value> = decisions.iter().filter(|d| d["catch_up"] == true).collect();
    assert!(replayed.len() > 500, "{} replayed candles", replayed.len());
    assert!(replayed.iter().all(|d| d["outcome"] != "submitted"));
    assert!(
        replayed.iter().any(|d| d["outcome"] == "catch_up"),
        "the cross down was refused"
    );
    // The catch-up was announced (start and finish) on the alert channel.
    let alerts = read_jsonl(&dir.path().join("logs/alerts.jsonl"));
    let catch_up: Vec<&Value> = alerts.iter().filter(|a| a["kind"] == "catch_up").collect();
    assert_eq!(catch_up.len(), 2, "{catch_up:?}");
    assert_eq!(catch_up[1]["fields"]["outcome"], "caught_up");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downtime_longer_than_max_catch_up_stops_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, scenario) = scripted_market(T1 - 10 * MINUTE, 300.0).await;
    let mut raw = enter_long_then_stop(dir.path(), &sim).await;
    jump_to(
        &sim,
        scenario.funding_times[0]
            .checked_add_ms(2 * 60 * MINUTE)
            .unwrap(),
    );
    raw.max_catch_up = "30m".into();
    let report = run_until(&raw, |_| false).await;
    assert_eq!(report.stopped_reason, Some(StopReason::CatchUpTooLong));
    assert!(!StopReason::CatchUpTooLong.is_clean());
    let summary = summary(&report);
    assert_eq!(summary["stopped_reason"], "catch_up_too_long");
    assert_eq!(summary["downtime"][0]["outcome"], "too_long");
    assert!(
        summary["downtime"][0]["error"]
            .as_str()
            .unwrap()
            .contains("max_catch_up")
    );
    let lines = journal(dir.path());
    assert!(kind(&lines, "exit").is_empty(), "nothing replayed");
    assert!(kind(&lines, "funding_applied").is_empty());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exchange_time_jump_while_running_is_caught_up_before_trading_on() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, scenario) = scripted_market(T1 - 10 * MINUTE, 300.0).await;
    let mut raw = session_on(dir.path(), &sim);
    raw.slippage_bps = Decimal::ZERO;
    let workspace = dir.path().to_path_buf();
    let sim = std::sync::Arc::new(sim);
    let jumper = std::sync::Arc::clone(&sim);
    let target = scenario.crossing_candle.checked_add_ms(5 * MINUTE).unwrap();
    // Once the long is open, the exchange's time moves on by nine hours at once.
    let jumped = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if !kind(&journal(&workspace), "fill").is_empty() {
                let position = saved_position(&workspace);
                if !position.is_null() {
                    jump_to(&jumper, target);
                    return decimal(&position["stop"]);
                }
            }
        }
    });
    let report = run_until(&raw, |lines| !kind(lines, "catch_up_finished").is_empty()).await;
    let stop = jumped.await.unwrap();
    let lines = assert_scenario_caught_up(dir.path(), &sim, &scenario, stop);
    let finished = kind(&lines, "catch_up_finished")[0];
    assert_eq!(finished["cause"], "outage");
    assert_eq!(finished["detected_by"], "exchange_time_jump");
    assert_eq!(report.downtime.len(), 1);
    sim.close().await;
}
