//! Downtime in process (`la_session::run`): funding with the rate that settled at the
//! funding time, a restart after a downtime, `max_catch_up`, and an exchange-time jump
//! while running.

use std::{path::Path, time::Duration};

use la_core::{Decimal, TimestampMs};
use la_session::StopReason;
use serde_json::Value;

use crate::support::{
    MINUTE, T1, assert_scenario_caught_up, decimal, enter_long_then_stop, journal, jump_to, kind,
    read_jsonl, run_until, saved_position, scripted_market, session_on, summary,
};

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
async fn a_broker_state_saved_without_the_session_state_still_catches_up_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, scenario) = scripted_market(T1 - 10 * MINUTE, 300.0).await;
    let raw = enter_long_then_stop(dir.path(), &sim).await;
    let stop = decimal(&saved_position(dir.path())["stop"]);
    // A kill between the two writes of the first save leaves the broker's state (with the
    // long) and no session state: the restart does not know the last candle decided.
    for name in ["unified_state.json", "unified_state.json.bak"] {
        let _ = std::fs::remove_file(dir.path().join("paper").join(name));
    }
    jump_to(
        &sim,
        scenario.crossing_candle.checked_add_ms(5 * MINUTE).unwrap(),
    );
    run_until(&raw, |lines| !kind(lines, "catch_up_finished").is_empty()).await;
    let lines = assert_scenario_caught_up(dir.path(), &sim, &scenario, stop);
    assert_eq!(kind(&lines, "catch_up_finished")[0]["cause"], "restart");
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
    // The operator is told why: a critical catch-up alert carrying the bound it exceeded.
    let alerts = read_jsonl(&dir.path().join("logs/alerts.jsonl"));
    let catch_up: Vec<&Value> = alerts.iter().filter(|a| a["kind"] == "catch_up").collect();
    let last = catch_up.last().expect("the catch-up was announced");
    assert_eq!(last["severity"], "critical", "{last}");
    assert_eq!(last["fields"]["outcome"], "too_long", "{last}");
    assert!(
        last["fields"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("max_catch_up (1800s)")),
        "{last}"
    );
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
