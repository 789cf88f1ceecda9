//! The operator surface of a live session on the simulator, as its users reach it: the
//! dashboard in a real headless Chromium (its DOM read over the DevTools protocol while the
//! page runs), and `/healthz` through a silence fault. The browser test fails loudly without
//! Chromium.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use la_session::{RawRunConfig, RunSummary, SessionHooks, StopReason};
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    task::JoinHandle,
};

use crate::{
    browser::{Browser, http_get},
    support::{sim_config, validated},
};

/// A session running in a task, and its HTTP address once it listens.
pub(crate) async fn start_session(raw: RawRunConfig) -> (JoinHandle<RunSummary>, SocketAddr) {
    let heartbeat = raw.workspace.join("heartbeat.json");
    let config = validated(&raw);
    let session = tokio::spawn(async move {
        la_session::run(
            config,
            std::future::pending::<StopReason>(),
            SessionHooks::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("session failed: {}", la_session::error_chain(&e)))
    });
    let started = Instant::now();
    loop {
        let url = std::fs::read_to_string(&heartbeat)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|beat| beat["http_url"].as_str().map(str::to_owned));
        if let Some(url) = url {
            let addr = url.trim_start_matches("http://").trim_end_matches('/');
            return (session, addr.parse().unwrap());
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no http_url in the heartbeat"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A state the session published, and when this test received it.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) event_ts_ms: i64,
    price: String,
    equity_change: String,
    pub(crate) at: Instant,
}

/// Records every `state` event of the session's stream until the task is aborted.
pub(crate) fn record_states(
    addr: SocketAddr,
) -> (JoinHandle<()>, std::sync::Arc<std::sync::Mutex<Vec<Seen>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&seen);
    let task = tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET /events HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut pending = String::new();
        let mut buf = vec![0_u8; 64 * 1024];
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            let at = Instant::now();
            pending.push_str(&String::from_utf8_lossy(&buf[..n]));
            while let Some(end) = pending.find("\n\n") {
                let block: String = pending.drain(..end + 2).collect();
                let is_state = block.lines().any(|l| l == "event: state");
                let data = block.lines().find_map(|l| l.strip_prefix("data: "));
                if let (true, Some(data)) = (is_state, data)
                    && let Ok(state) = serde_json::from_str::<Value>(data)
                    && let Some(ts) = state["event_ts_ms"].as_i64()
                {
                    sink.lock().unwrap().push(Seen {
                        event_ts_ms: ts,
                        price: state["price"].as_str().unwrap_or_default().to_owned(),
                        equity_change: state["equity_change"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        at,
                    });
                }
            }
        }
    });
    (task, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_browser_shows_the_newest_price_and_equity_change_within_two_seconds() {
    tokio::time::timeout(Duration::from_secs(90), dashboard_check())
        .await
        .expect("the dashboard test did not finish within 90 s");
}

async fn dashboard_check() {
    let dir = tempfile::tempdir().unwrap();
    let raw = RawRunConfig {
        http: "127.0.0.1:0".into(),
        ..sim_config(dir.path(), "60s")
    };
    let (session, addr) = start_session(raw).await;
    let (recorder, seen) = record_states(addr);
    let mut browser = Browser::open(&format!("http://{addr}/")).await;
    let read_dom = "JSON.stringify({ts: document.getElementById('price').dataset.ts, \
        price: document.getElementById('price').dataset.price, \
        change: document.getElementById('equity-change').dataset.value})";
    let mut shown_ticks = std::collections::BTreeSet::new();
    let mut checks = 0;
    let polling = Instant::now();
    while polling.elapsed() < Duration::from_secs(8) {
        let dom: Value =
            serde_json::from_str(browser.eval(read_dom).await.as_str().unwrap_or("{}")).unwrap();
        let read_at = Instant::now();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Some(ts) = dom["ts"].as_str().and_then(|t| t.parse::<i64>().ok()) else {
            continue;
        };
        let seen = seen.lock().unwrap().clone();
        let published = seen
            .iter()
            .find(|s| s.event_ts_ms == ts)
            .unwrap_or_else(|| panic!("the page shows event time {ts}, which was never published"));
        assert_eq!(
            dom["price"],
            published.price.as_str(),
            "price of the tick at {ts}"
        );
        assert_eq!(
            dom["change"],
            published.equity_change.as_str(),
            "equity change at {ts}"
        );
        // Every tick published 2 s or more before the DOM was read must be shown (or a newer one).
        if let Some(due) = seen
            .iter()
            .filter(|s| read_at.saturating_duration_since(s.at) >= Duration::from_secs(2))
            .map(|s| s.event_ts_ms)
            .max()
        {
            assert!(
                ts >= due,
                "the DOM shows the tick at {ts}; the one at {due} was published over 2 s earlier"
            );
            checks += 1;
        }
        shown_ticks.insert(ts);
    }
    drop(browser);
    recorder.abort();
    session.abort();
    assert!(checks >= 20, "only {checks} DOM reads were checked");
    assert!(
        shown_ticks.len() >= 10,
        "the page showed only {} ticks",
        shown_ticks.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_turns_503_within_a_quarter_of_the_stale_timeout_of_a_silence_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    // 60x: data for 3 real seconds, then 5 real seconds of silence (300 virtual seconds),
    // under an 8 s stale timeout: unhealthy after 2 s, back before the halt.
    let raw = RawRunConfig {
        http: "127.0.0.1:0".into(),
        stale_timeout: "8s".into(),
        faults: vec!["180s@silence:300s".into()],
        ..sim_config(dir.path(), "60s")
    };
    let stale_timeout = Duration::from_secs(8);
    let (session, addr) = start_session(raw).await;
    let (recorder, seen) = record_states(addr);
    let started = Instant::now();
    let mut was_healthy = false;
    let mut turned_unhealthy: Option<Instant> = None;
    let mut recovered = false;
    while started.elapsed() < Duration::from_secs(30) && !recovered {
        let (code, body) = http_get(addr, "/healthz").await;
        match (code, turned_unhealthy) {
            (200, None) => was_healthy = true,
            (503, None) if was_healthy => {
                assert!(body.contains("\"state\":\"stale\""), "{body}");
                turned_unhealthy = Some(Instant::now());
            }
            (200, Some(_)) => recovered = true,
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    recorder.abort();
    session.abort();
    let unhealthy_at = turned_unhealthy.expect("/healthz never turned 503 during the silence");
    assert!(
        recovered,
        "/healthz did not return to 200 when data came back"
    );
    // The last market data before the silence, as the session published it.
    let seen = seen.lock().unwrap().clone();
    let last_data = seen
        .iter()
        .filter(|s| s.at < unhealthy_at)
        .max_by_key(|s| s.event_ts_ms)
        .map(|newest| {
            seen.iter()
                .find(|s| s.event_ts_ms == newest.event_ts_ms)
                .map_or(newest.at, |s| s.at)
        })
        .expect("states before the silence");
    let took = unhealthy_at.saturating_duration_since(last_data);
    // Allowance: the 25 ms poll and the 200 ms publication throttle of the recorder's view.
    assert!(
        took <= stale_timeout / 4 + Duration::from_millis(300),
        "503 came {took:?} after the last data (stale timeout {stale_timeout:?})"
    );
}

/// `/api/state` as JSON.
async fn api_state(addr: SocketAddr) -> Value {
    let (code, body) = http_get(addr, "/api/state").await;
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwatched_surface_builds_a_view_only_when_asked_and_it_is_current() {
    let dir = tempfile::tempdir().unwrap();
    let raw = RawRunConfig {
        http: "127.0.0.1:0".into(),
        ..sim_config(dir.path(), "60s")
    };
    let (session, addr) = start_session(raw).await;
    // Three heartbeats and ~180 virtual seconds of market data with nobody reading.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // One view at the first heartbeat (it carries the health flags a reader falls back to),
    // then only the ones asked for here.
    let first = api_state(addr).await;
    assert_eq!(
        first["seq"], 2,
        "views were built with nobody asking: {first}"
    );
    assert_eq!(
        api_state(addr).await["seq"],
        2,
        "a view this young is served again"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second = api_state(addr).await;
    session.abort();
    assert_eq!(second["seq"], 3, "{second}");
    let event_ms = |v: &Value| v["event_ts_ms"].as_i64().unwrap_or_default();
    assert!(
        event_ms(&second) >= event_ms(&first) + 30_000,
        "the view asked for a real second later is ~60 virtual seconds newer: {} then {}",
        event_ms(&first),
        event_ms(&second)
    );
}
