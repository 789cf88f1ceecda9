//! Alerts from a live session on the simulator to a real webhook receiver (a hyper server on
//! loopback): the stale-data alert within 5 s, the daily digest at the simulator's virtual
//! hour, every alert in `logs/alerts.jsonl`, and a webhook that never answers leaving the
//! session's pace and its stop untouched.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use la_session::{RawRunConfig, config::RawAlerts};
use serde_json::Value;
use tokio::{net::TcpListener, task::JoinHandle};

use crate::{
    dashboard::{record_states, start_session},
    support::{read_jsonl, sim_config},
};

type Received = Arc<Mutex<Vec<(Instant, Value)>>>;

/// A webhook receiver answering 200 to every POST and recording its JSON body.
async fn receiver() -> (SocketAddr, Received, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received: Received = Arc::default();
    let sink = Arc::clone(&received);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let sink = Arc::clone(&sink);
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let sink = Arc::clone(&sink);
                    async move {
                        let body = request.into_body().collect().await?.to_bytes();
                        if let Ok(json) = serde_json::from_slice::<Value>(&body) {
                            sink.lock().unwrap().push((Instant::now(), json));
                        }
                        Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, received, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_gets_the_stale_alert_within_5_s_and_the_digest_at_the_virtual_hour() {
    let dir = tempfile::tempdir().unwrap();
    let (hook, received, server) = receiver().await;
    // 600x: a virtual hour every 6 s. Generated data starts at 00:00 UTC and the simulator
    // streams from 01:10 (after the warm-up history): the digest is due at 02:00 on the event
    // clock (5 s), the silence starts at 02:10 virtual (6 s) and lasts 6 real seconds.
    let raw = RawRunConfig {
        http: "127.0.0.1:0".into(),
        speed: 600.0,
        stale_timeout: "8s".into(),
        duration: "14s".into(),
        faults: vec!["60m@silence:60m".into()],
        alerts: RawAlerts {
            webhook: Some(format!("http://{hook}/hook/secret-token")),
            format: None,
            digest_hour_utc: Some(2),
        },
        ..sim_config(dir.path(), "14s")
    };
    let (session, addr) = start_session(raw).await;
    let (recorder, seen) = record_states(addr);
    let summary = tokio::time::timeout(Duration::from_secs(60), session)
        .await
        .expect("the session stops by itself")
        .unwrap();
    recorder.abort();
    server.abort();
    let received = received.lock().unwrap().clone();
    let kinds: Vec<&str> = received
        .iter()
        .filter_map(|(_, a)| a["kind"].as_str())
        .collect();
    let (stale_at, stale) = received
        .iter()
        .find(|(_, a)| a["kind"] == "stale_data")
        .unwrap_or_else(|| panic!("no stale_data alert; got {kinds:?}"));
    assert_eq!(stale["fields"]["stage"], "warned");
    let seen = seen.lock().unwrap().clone();
    let last_data = seen
        .iter()
        .filter(|s| s.at < *stale_at)
        .max_by_key(|s| s.event_ts_ms)
        .map(|newest| {
            seen.iter()
                .find(|s| s.event_ts_ms == newest.event_ts_ms)
                .map_or(newest.at, |s| s.at)
        })
        .expect("data before the silence");
    let took = stale_at.saturating_duration_since(last_data);
    assert!(
        took <= Duration::from_secs(5),
        "the stale alert came {took:?} after the last data"
    );
    let (_, digest) = received
        .iter()
        .find(|(_, a)| a["kind"] == "daily_digest")
        .unwrap_or_else(|| panic!("no daily digest; got {kinds:?}"));
    let digest_at = digest["fields"]["digest_at_ms"].as_i64().unwrap();
    assert_eq!(
        digest_at.rem_euclid(86_400_000),
        2 * 3_600_000,
        "02:00 UTC on the event clock"
    );
    for key in [
        "equity_change",
        "price_pnl",
        "fees",
        "funding",
        "trades",
        "uptime_pct",
        "data_gaps",
        "reconnects",
    ] {
        assert!(
            !digest["fields"][key].is_null(),
            "digest lacks {key}: {digest}"
        );
    }
    assert_eq!(
        digest["fields"]["data_gaps"], 0,
        "the silence comes after 02:00"
    );
    assert!(
        digest["fields"]["uptime_pct"].as_f64().unwrap() > 75.0,
        "{digest}"
    );
    assert!(kinds.contains(&"session_stopped"), "{kinds:?}");
    let logged = read_jsonl(&dir.path().join("logs/alerts.jsonl"));
    for kind in [
        "stale_data",
        "data_resumed",
        "daily_digest",
        "session_stopped",
    ] {
        assert!(
            logged.iter().any(|a| a["kind"] == kind),
            "{kind} missing from alerts.jsonl"
        );
    }
    let log = std::fs::read_to_string(dir.path().join("logs/alerts.jsonl")).unwrap();
    assert!(!log.contains("secret-token"));
    let summary_text = serde_json::to_string(&summary).unwrap();
    assert!(
        !summary_text.contains("secret-token"),
        "the webhook URL leaked into the summary"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_never_answers_changes_neither_the_pace_nor_the_stop() {
    let hanging = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = hanging.local_addr().unwrap();
    // Accepts connections and never reads or answers them.
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = hanging.accept().await {
            held.push(stream);
        }
    });
    let mut candles = Vec::new();
    let mut stop_took = Vec::new();
    for webhook in [None, Some(format!("http://{hook}/hook"))] {
        let dir = tempfile::tempdir().unwrap();
        let raw = RawRunConfig {
            http: "127.0.0.1:0".into(),
            // A silence raises stale-data alerts the hanging webhook is asked to take.
            faults: vec!["3m@silence:10m".into()],
            alerts: RawAlerts {
                webhook,
                format: Some("slack".into()),
                digest_hour_utc: None,
            },
            ..sim_config(dir.path(), "8s")
        };
        let started = Instant::now();
        let (session, _) = start_session(raw).await;
        let summary = tokio::time::timeout(Duration::from_secs(60), session)
            .await
            .expect("the session stops by itself")
            .unwrap();
        stop_took.push(started.elapsed());
        candles.push(summary.candles_closed);
        let logged = read_jsonl(&dir.path().join("logs/alerts.jsonl"));
        assert!(
            logged.iter().any(|a| a["kind"] == "stale_data"),
            "alerts still reach the file"
        );
    }
    holder.abort();
    assert!(
        stop_took[1] <= stop_took[0] + Duration::from_millis(1_500),
        "with a hanging webhook the session took {:?} to stop, {:?} without",
        stop_took[1],
        stop_took[0]
    );
    assert!(
        candles[1] + 2 >= candles[0],
        "candles closed with a hanging webhook: {}, without: {}",
        candles[1],
        candles[0]
    );
}
