//! A catch-up as the operator sees it: a live session on the simulator whose exchange clock
//! jumps two hours (an outage) while its REST answers are slowed, so the catch-up's download
//! takes seconds. The dashboard, in a real headless Chromium, shows the catch-up in progress
//! with its interval and then lists the downtime as `summary.json` records it; the alert log
//! holds the catch-up's start and its end.

use std::time::{Duration, Instant};

use la_session::{RawRunConfig, time_fmt::ms_to_rfc3339};
use serde_json::Value;

use crate::{
    browser::Browser,
    dashboard::start_session,
    support::{read_jsonl, sim_config},
};

/// The page's time format (`YYYY-MM-DD HH:MM:SS`, UTC) of an epoch-ms instant.
fn page_time(ms: i64) -> String {
    ms_to_rfc3339(ms)
        .get(..19)
        .unwrap_or_default()
        .replace('T', " ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_catch_up_with_its_interval_and_the_alerts_announce_it() {
    tokio::time::timeout(Duration::from_secs(90), catch_up_shown())
        .await
        .expect("the catch-up view test did not finish within 90 s");
}

async fn catch_up_shown() {
    let dir = tempfile::tempdir().unwrap();
    // 60x: REST is slowed by 2 s an answer from 2:30 virtual for 12 real seconds, and at 3:00
    // virtual the exchange's clock jumps two hours: the session catches up while every page
    // of the download takes 2 s.
    let raw = RawRunConfig {
        http: "127.0.0.1:0".into(),
        stale_timeout: "60s".into(),
        faults: vec!["150s@rest-slow:2s:12s".into(), "180s@clock-jump:2h".into()],
        ..sim_config(dir.path(), "14s")
    };
    let (session, addr) = start_session(raw).await;
    let mut browser = Browser::open(&format!("http://{addr}/")).await;
    let read_banner = "document.getElementById('catchup').textContent";
    let read_rows = "JSON.stringify(Array.from(document.querySelectorAll('#downtime tr')).map(\
        (tr) => Array.from(tr.cells).map((td) => td.textContent)))";
    let mut banner = String::new();
    let mut listed: Vec<Vec<String>> = Vec::new();
    let polling = Instant::now();
    while polling.elapsed() < Duration::from_secs(40) {
        let shown = browser.eval(read_banner).await;
        if banner.is_empty()
            && let Some(text) = shown.as_str()
        {
            banner = text.to_owned();
        }
        let rows = browser.eval(read_rows).await;
        listed = serde_json::from_str(rows.as_str().unwrap_or("[]")).unwrap_or_default();
        if listed.first().is_some_and(|row| row.len() == 8) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(browser);
    let summary = tokio::time::timeout(Duration::from_secs(40), session)
        .await
        .expect("the session stops by itself")
        .unwrap();
    assert_eq!(summary.downtime.len(), 1, "{:?}", summary.downtime);
    let record = &summary.downtime[0];
    assert_eq!(record.cause.as_str(), "outage");
    assert_eq!(record.outcome.as_str(), "caught_up", "{record:?}");
    assert!(record.length_ms >= 7_000_000, "a two-hour jump: {record:?}");
    // In progress: the cause and where the interval starts.
    assert!(
        banner.starts_with("catching up after outage (exchange_time_jump): replaying ")
            && banner.contains(&page_time(record.start_ms)),
        "the banner during the catch-up: {banner:?}"
    );
    // Done: the interval and what it booked, as summary.json has it.
    let row = listed
        .first()
        .unwrap_or_else(|| panic!("no downtime row on the page: {listed:?}"));
    assert_eq!(row[0], "outage (exchange_time_jump)", "{row:?}");
    assert_eq!(row[1], page_time(record.start_ms), "start: {row:?}");
    assert_eq!(row[2], page_time(record.end_ms), "end: {row:?}");
    assert_eq!(row[4], "caught_up", "{row:?}");
    assert_eq!(row[5], record.candles_replayed.to_string(), "{row:?}");
    // The alert log: the start (with the interval's start) and the end.
    let alerts: Vec<Value> = read_jsonl(&dir.path().join("logs/alerts.jsonl"))
        .into_iter()
        .filter(|a| a["kind"] == "catch_up")
        .collect();
    assert_eq!(alerts.len(), 2, "start and end: {alerts:?}");
    assert_eq!(alerts[0]["severity"], "warning");
    assert_eq!(alerts[0]["fields"]["cause"], "outage");
    assert_eq!(alerts[0]["fields"]["since_ms"], record.start_ms);
    assert_eq!(alerts[1]["fields"]["outcome"], "caught_up");
    assert_eq!(
        alerts[1]["fields"]["candles_replayed"],
        record.candles_replayed
    );
}
