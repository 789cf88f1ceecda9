//! Implausible prices end to end: the simulator sends a ticker at 1/1000 (then 1000×) of the
//! market and closes a candle at that price, over real loopback sockets, to a session that
//! trades on every crossing. The session must journal no fill or exit at those prices,
//! record the candles as `implausible_price`, count them, and go on trading.

use std::time::Duration;

use la_session::{RawRunConfig, StopReason};
use serde_json::Value;

use crate::support::{read_jsonl, run_dir, run_session, sim_config, validated};

const GUARD: Duration = Duration::from_secs(90);

/// Prices of a generated market that starts at 60 000: anything below 1 000 or above
/// 1 000 000 is one of the injected prints.
fn implausible(price: f64) -> bool {
    !(1_000.0..=1_000_000.0).contains(&price)
}

fn number(line: &Value, key: &str) -> Option<f64> {
    match line.get(key)? {
        Value::String(text) => text.parse().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousandth_and_thousandfold_prints_are_never_traded_and_trading_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut raw = RawRunConfig {
        // One candle per wall second: a 1/1000 print at minute 12, a 1000× one at minute 18.
        faults: vec![
            "12m@implausible-price:low".into(),
            "18m@implausible-price:high".into(),
        ],
        strategy: "sma-cross".into(),
        warmup_bars: 3,
        ..sim_config(dir.path(), "30s")
    };
    raw.sma_cross.fast = 2;
    raw.sma_cross.slow = 3;
    let report = run_session(validated(&raw), GUARD).await;
    assert_eq!(
        report.stopped_reason,
        Some(StopReason::DurationReached),
        "{report:?}"
    );
    assert_eq!(report.errors, 0, "{report:?}");
    // Each fault: one ticker and one candle close, both quarantined by the session's guard,
    // so the broker's own band never had to refuse anything.
    assert_eq!(report.implausible_price, 4, "{report:?}");
    assert_eq!(report.implausible_refused, 0, "{report:?}");

    let journal = read_jsonl(&dir.path().join("paper/events.jsonl"));
    let money: Vec<&Value> = journal
        .iter()
        .filter(|l| matches!(l["kind"].as_str(), Some("fill" | "exit" | "liquidation")))
        .collect();
    for line in &money {
        for key in ["price", "entry_price", "exit_price"] {
            if let Some(price) = number(line, key) {
                assert!(
                    !implausible(price),
                    "traded at an implausible price: {line}"
                );
            }
        }
    }
    let decisions = read_jsonl(&run_dir(&report).join("decisions.jsonl"));
    let quarantined: Vec<&Value> = decisions
        .iter()
        .filter(|d| d["outcome"] == "implausible_price")
        .collect();
    assert_eq!(
        quarantined.len(),
        2,
        "one candle per fault: {quarantined:?}"
    );
    for candle in &quarantined {
        assert_eq!(candle["blocked_by"], "implausible_price", "{candle}");
        let close = number(&candle["candle"], "close").or_else(|| number(candle, "close"));
        assert!(close.is_some_and(implausible), "{candle}");
    }
    // A position was open when a print came (so a stop or a target at it was possible),
    // and the session kept deciding candles after the last print.
    let ts = |line: &Value| line["ts"].as_i64().unwrap_or(0);
    let open_at = |t: i64| {
        let fills = money
            .iter()
            .filter(|l| l["kind"] == "fill" && ts(l) <= t)
            .count();
        let exits = money
            .iter()
            .filter(|l| l["kind"] != "fill" && ts(l) <= t)
            .count();
        fills > exits
    };
    let print_times: Vec<i64> = quarantined
        .iter()
        .filter_map(|d| d["open_time"].as_i64())
        .collect();
    assert!(
        print_times.iter().any(|t| open_at(*t)),
        "no position was open at any implausible print: {money:?}"
    );
    // Exits fill at their own levels (a stop, a target), so an exit a bad print triggered
    // would not show a bad price: no exit may happen in a minute that held a bad print.
    for t in &print_times {
        let in_minute = money
            .iter()
            .filter(|l| l["kind"] != "fill" && (*t..*t + 60_000).contains(&ts(l)))
            .count();
        assert_eq!(
            in_minute, 0,
            "an exit in the minute of the print at {t}: {money:?}"
        );
    }
    let last_print = print_times.iter().copied().max().unwrap_or(0);
    let decided_after = decisions
        .iter()
        .filter(|d| d["open_time"].as_i64().is_some_and(|t| t > last_print))
        .filter(|d| d["outcome"] != "implausible_price")
        .count();
    assert!(
        decided_after >= 5,
        "only {decided_after} candles decided after the last print"
    );
}
