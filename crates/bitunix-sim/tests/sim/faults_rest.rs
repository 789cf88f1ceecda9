//! REST faults: rate limiting (10006 and bare 429), slowness and 5xx pages.

use std::time::Duration;

use hyper::StatusCode;
use la_bitunix_sim::{Fault, parse_fault, start};
use tokio::time::Instant;

use crate::client::{config, get, get_json};

const PAIRS: &str = "/api/v1/futures/market/trading_pairs?symbols=BTCUSDT";

#[tokio::test(start_paused = true)]
async fn rest_rate_limit_fault_answers_10006_from_the_first_request() {
    let sim = start(config(20)).await.unwrap();
    sim.inject(parse_fault("rest-10006:5s").unwrap());
    let body = get_json(sim.local_addr(), PAIRS).await;
    assert_eq!(body["code"], 10006);
    assert!(body["data"].is_null());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(get_json(sim.local_addr(), PAIRS).await["code"], 0);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn rest_429_fault_answers_a_bare_http_429_without_retry_after() {
    let sim = start(config(20)).await.unwrap();
    sim.inject(Fault::RestRateLimit {
        duration_ms: 5_000,
        http_429: true,
    });
    let (status, headers, body) = get(sim.local_addr(), PAIRS).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.get("retry-after").is_none());
    assert!(body.is_empty());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(get(sim.local_addr(), PAIRS).await.0, StatusCode::OK);
    assert_eq!(
        sim.stats().rest_requests["/api/v1/futures/market/trading_pairs"]["http_429"],
        1
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn rest_slow_delays_every_answer_for_its_duration() {
    let sim = start(config(20)).await.unwrap();
    sim.inject(Fault::RestSlow {
        delay_ms: 2_000,
        duration_ms: 10_000,
    });
    let started = Instant::now();
    assert_eq!(get_json(sim.local_addr(), PAIRS).await["code"], 0);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_millis(2_100),
        "{took:?}"
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    let started = Instant::now();
    get_json(sim.local_addr(), PAIRS).await;
    assert!(started.elapsed() < Duration::from_millis(100));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn rest_5xx_answers_html_error_pages() {
    let sim = start(config(20)).await.unwrap();
    sim.inject(Fault::Rest5xx {
        duration_ms: 10_000,
    });
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, headers, body) = get(sim.local_addr(), PAIRS).await;
        assert!(
            status == StatusCode::BAD_GATEWAY || status == StatusCode::SERVICE_UNAVAILABLE,
            "{status}"
        );
        assert_eq!(headers["content-type"], "text/html");
        assert!(
            body.contains("<html>") && body.contains(status.as_str()),
            "{body}"
        );
        statuses.push(status);
    }
    assert!(statuses.contains(&StatusCode::BAD_GATEWAY));
    assert!(statuses.contains(&StatusCode::SERVICE_UNAVAILABLE));
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(get(sim.local_addr(), PAIRS).await.0, StatusCode::OK);
    sim.shutdown().await;
}
