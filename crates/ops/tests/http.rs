//! The HTTP surface over a real loopback socket: `/metrics` parses as Prometheus text and
//! carries the named series, `/healthz` follows the data age, the dashboard page is
//! self-contained, the event stream delivers state, and neither slow nor surplus clients can
//! hold up the publisher.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    time::{Duration, Instant},
};

use la_ops::{
    HttpServer, SessionView,
    view::{FeedView, PositionView},
};
use rust_decimal::Decimal;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// One HTTP/1.1 GET with `Connection: close`: status code and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body.to_owned())
}

fn view() -> SessionView {
    SessionView {
        run_id: "run-1".into(),
        symbol: "BTCUSDT".into(),
        price: Some(Decimal::new(6_512_345, 2)),
        equity: Decimal::from(10_000),
        mark_equity: Decimal::new(1_000_125, 2),
        position: Some(PositionView {
            side: "short".into(),
            qty: Decimal::new(15, 3),
            ..PositionView::default()
        }),
        trades: 3,
        fills: 4,
        decision_counts: BTreeMap::from([
            ("outcome:no_order".to_owned(), 7),
            ("blocked_by:trend_filter".to_owned(), 5),
        ]),
        feed: FeedView {
            reconnects: 2,
            frames_by_channel: BTreeMap::from([
                ("kline".to_owned(), 10),
                ("ticker".to_owned(), 20),
            ]),
            rejected_by_reason: BTreeMap::from([("not_a_number".to_owned(), 1)]),
            ..FeedView::default()
        },
        state_save_failures: 1,
        rss_bytes: Some(12 << 20),
        stale_after_ms: 300,
        ..SessionView::default()
    }
}

async fn start() -> (la_ops::Publisher, HttpServer) {
    let (publisher, surface) = la_ops::channel();
    let server = HttpServer::start("127.0.0.1:0".parse().unwrap(), surface)
        .await
        .unwrap();
    (publisher, server)
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_carry_the_named_series() {
    let (mut publisher, server) = start().await;
    publisher.publish(view());
    publisher.mark_data();
    publisher.observe_save_seconds(0.003);
    let (code, body) = get(server.local_addr(), "/metrics").await;
    assert_eq!(code, 200);
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    let value = |name: &str, label: Option<(&str, &str)>| -> f64 {
        let sample = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .unwrap_or_else(|| panic!("{name} {label:?} missing from:\n{body}"));
        match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(ref buckets) => {
                buckets.last().map_or(0.0, |b| b.count)
            }
            prometheus_parse::Value::Summary(_) => f64::NAN,
        }
    };
    assert!((value("laptop_agents_equity", None) - 10_001.25).abs() < 1e-6);
    assert!(
        (value("laptop_agents_position", None) + 0.015).abs() < 1e-9,
        "short is negative"
    );
    assert_eq!(value("laptop_agents_trades_total", None), 3.0);
    assert_eq!(value("laptop_agents_fills_total", None), 4.0);
    assert_eq!(value("laptop_agents_feed_reconnects_total", None), 2.0);
    assert_eq!(
        value(
            "laptop_agents_feed_frames_total",
            Some(("channel", "ticker"))
        ),
        20.0
    );
    assert_eq!(
        value(
            "laptop_agents_feed_rejected_frames_total",
            Some(("reason", "not_a_number"))
        ),
        1.0
    );
    assert!(value("laptop_agents_last_frame_age_seconds", None) < 5.0);
    assert_eq!(
        value(
            "laptop_agents_decisions_blocked_total",
            Some(("gate", "trend_filter"))
        ),
        5.0
    );
    assert_eq!(
        value(
            "laptop_agents_decisions_total",
            Some(("outcome", "no_order"))
        ),
        7.0
    );
    assert_eq!(value("laptop_agents_state_save_failures_total", None), 1.0);
    assert_eq!(
        value("laptop_agents_state_save_duration_seconds", None),
        1.0,
        "one observation"
    );
    assert_eq!(
        value("laptop_agents_resident_memory_bytes", None),
        f64::from(12 << 20)
    );
    assert_eq!(value("laptop_agents_healthy", None), 1.0);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn healthz_turns_503_with_a_json_reason_when_data_goes_stale_and_200_when_it_returns() {
    let (mut publisher, server) = start().await;
    let addr = server.local_addr();
    publisher.publish(view());
    let (code, body) = get(addr, "/healthz").await;
    assert_eq!((code, body.as_str()), (503, r#"{"state":"starting"}"#));
    publisher.mark_data();
    assert_eq!(get(addr, "/healthz").await.0, 200);
    // No publication in between: the age is measured when the request arrives.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (code, body) = get(addr, "/healthz").await;
    assert_eq!(code, 503, "{body}");
    let reason: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reason["state"], "stale");
    assert!(reason["data_age_ms"].as_u64().unwrap() >= 300);
    publisher.mark_data();
    assert_eq!(get(addr, "/healthz").await.0, 200);
    publisher.publish(SessionView {
        breaker_tripped: Some("daily drawdown".into()),
        ..view()
    });
    let (code, body) = get(addr, "/healthz").await;
    assert_eq!(code, 503);
    assert!(
        body.contains("breaker_tripped") && body.contains("daily drawdown"),
        "{body}"
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn the_dashboard_is_one_page_without_remote_assets() {
    let (mut publisher, server) = start().await;
    publisher.publish(view());
    let (code, page) = get(server.local_addr(), "/").await;
    assert_eq!(code, 200);
    assert!(
        page.contains("new EventSource(\"events\")"),
        "the page streams events"
    );
    for remote in ["http://", "https://", "//cdn", "src=\"/", "href=\"http"] {
        assert!(
            !page.contains(remote),
            "remote reference {remote:?} in the page"
        );
    }
    server.shutdown(Duration::from_secs(1)).await;
}

/// Reads from an SSE response until `needle` appears (or fails after `deadline`).
async fn read_until(stream: &mut TcpStream, needle: &str, deadline: Duration) -> String {
    let started = Instant::now();
    let mut seen = String::new();
    let mut buf = [0_u8; 8192];
    while !seen.contains(needle) {
        let left = deadline.checked_sub(started.elapsed()).unwrap_or_default();
        let n = tokio::time::timeout(left, stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} within {deadline:?}: {seen}"))
            .unwrap();
        assert!(n > 0, "stream closed before {needle:?}: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    seen
}

async fn open_events(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /events HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn the_event_stream_sends_the_current_state_then_each_new_one() {
    let (mut publisher, server) = start().await;
    publisher.publish(view());
    let mut stream = open_events(server.local_addr()).await;
    let first = read_until(&mut stream, "\"run_id\":\"run-1\"", Duration::from_secs(5)).await;
    assert!(first.contains("event: state"), "{first}");
    publisher.publish(SessionView {
        run_id: "run-2".into(),
        ..view()
    });
    read_until(&mut stream, "\"run_id\":\"run-2\"", Duration::from_secs(5)).await;
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_and_surplus_clients_never_hold_up_the_publisher() {
    let (mut publisher, server) = start().await;
    let addr = server.local_addr();
    publisher.publish(view());
    // Clients that open the stream and never read it.
    let mut stalled = Vec::new();
    for _ in 0..la_ops::http::MAX_SSE_CLIENTS {
        let mut stream = open_events(addr).await;
        read_until(&mut stream, "event: state", Duration::from_secs(5)).await;
        stalled.push(stream);
    }
    let (code, _) = get(addr, "/events").await;
    assert_eq!(code, 503, "a client over the limit is refused");
    let big = SessionView {
        run_id: "x".repeat(64 * 1024),
        ..view()
    };
    let mut slowest = Duration::ZERO;
    for _ in 0..500 {
        let next = big.clone();
        let started = Instant::now();
        publisher.publish(next);
        slowest = slowest.max(started.elapsed());
        tokio::task::yield_now().await;
    }
    assert!(
        slowest < Duration::from_millis(20),
        "a publication with {} stalled clients took {slowest:?}",
        stalled.len()
    );
    assert_eq!(get(addr, "/healthz").await.0, 503, "still serving");
    drop(stalled);
    server.shutdown(Duration::from_secs(1)).await;
}

/// The first `data:` line after the first `event: state` of an SSE response.
fn first_state_data(seen: &str) -> &str {
    let after = &seen[seen.find("event: state").expect("a state event")..];
    after
        .lines()
        .find(|line| line.starts_with("data:"))
        .expect("a data line")
}

#[tokio::test]
async fn a_client_joining_an_unwatched_surface_first_gets_the_newest_view() {
    let (mut publisher, server) = start().await;
    // Published while nobody watches: nothing is encoded for streams.
    publisher.publish(view());
    publisher.publish(SessionView {
        run_id: "run-2".into(),
        ..view()
    });
    assert!(!publisher.watched());
    let mut stream = open_events(server.local_addr()).await;
    let seen = read_until(&mut stream, "\"run_id\":\"run-2\"", Duration::from_secs(5)).await;
    assert!(
        first_state_data(&seen).contains("\"run_id\":\"run-2\""),
        "the first state event is the newest view, not an old or empty one: {seen}"
    );
    assert!(publisher.watched(), "an open stream is a watcher");
    let (code, body) = get(server.local_addr(), "/api/state").await;
    assert_eq!(code, 200);
    assert!(body.contains("\"run_id\":\"run-2\""), "{body}");
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn silent_connections_hold_at_most_the_cap_and_are_closed_after_the_header_timeout() {
    use la_ops::serve::{HEADER_READ_TIMEOUT, MAX_CONNECTIONS};
    let (mut publisher, server) = start().await;
    let addr = server.local_addr();
    publisher.publish(view());
    let opened = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    // Every slot is held: the next client waits (in the accept queue) until they time out.
    let (code, _) = tokio::time::timeout(HEADER_READ_TIMEOUT * 2, get(addr, "/healthz"))
        .await
        .expect("served once the silent connections were closed");
    let waited = opened.elapsed();
    assert!(code == 200 || code == 503, "{code}");
    assert!(
        waited >= HEADER_READ_TIMEOUT - Duration::from_millis(500),
        "served after {waited:?}: more than {MAX_CONNECTIONS} connections were open at once"
    );
    let mut byte = [0_u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(1), silent[0].read(&mut byte))
        .await
        .expect("closed by the server");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_connection_closes_after_its_response_so_no_idle_one_holds_a_slot() {
    let (mut publisher, server) = start().await;
    let addr = server.local_addr();
    publisher.publish(view());
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // HTTP/1.1 without `Connection: close`: keep-alive unless the server closes.
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .expect("the server closed the connection after the response")
        .unwrap();
    assert!(String::from_utf8_lossy(&response).starts_with("HTTP/1.1 "));
    server.shutdown(Duration::from_secs(1)).await;
}
