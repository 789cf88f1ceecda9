//! Connection-level faults: silence, drops, close frames, half-open sockets, garbage,
//! refused upgrades and slow accepts.

use std::time::Duration;

use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use la_bitunix_sim::{Fault, GarbageKind, ScheduledFault, SimConfig, parse_fault, start};
use tokio::time::Instant;

use crate::client::{Msg, SUBSCRIBE_ALL, WsClient, config, connect_tcp, upgrade_request};

/// Subscribes and waits until data flows.
async fn subscribed(addr: std::net::SocketAddr) -> WsClient {
    let mut client = WsClient::connect_ready(addr).await;
    client.send_text(SUBSCRIBE_ALL).await;
    client.next_on("market_kline_1min").await;
    client
}

/// Reads frames until the next data frame, answering nothing; returns when it arrived.
async fn next_data_at(client: &mut WsClient) -> Instant {
    loop {
        let value = client.next_json().await;
        if value.get("ch").is_some() {
            return Instant::now();
        }
    }
}

#[tokio::test(start_paused = true)]
async fn silence_stops_data_but_pings_are_still_answered() {
    let sim = start(config(20)).await.unwrap();
    let mut client = subscribed(sim.local_addr()).await;
    sim.inject(Fault::Silence { duration_ms: 5_000 });
    let injected = Instant::now();
    // Drain what was already in flight, then ping inside the silence.
    while client
        .next_within(Duration::from_millis(100))
        .await
        .is_some()
    {}
    tokio::time::sleep(Duration::from_secs(2)).await;
    client.send_text(r#"{"op":"ping","ping":7}"#).await;
    assert_eq!(client.next_json().await["pong"], 7);
    let resumed = next_data_at(&mut client).await;
    assert!(
        resumed - injected >= Duration::from_secs(5),
        "{:?}",
        resumed - injected
    );
    assert!(resumed - injected <= Duration::from_millis(5_600));
    assert!(sim.stats().frames_suppressed > 0);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn pong_only_delivers_nothing_but_pongs_for_its_duration() {
    let sim = start(config(20)).await.unwrap();
    let mut client = subscribed(sim.local_addr()).await;
    sim.inject(parse_fault("pong-only:3s").unwrap());
    let injected = Instant::now();
    while client
        .next_within(Duration::from_millis(100))
        .await
        .is_some()
    {}
    client.send_text(r#"{"op":"ping","ping":1}"#).await;
    assert_eq!(client.next_json().await["pong"], 1);
    let resumed = next_data_at(&mut client).await;
    assert!(resumed - injected >= Duration::from_secs(3));
    assert_eq!(sim.stats().faults_applied["pong-only"], 1);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn drop_tcp_closes_every_socket_without_a_close_frame() {
    let sim = start(config(20)).await.unwrap();
    let mut a = subscribed(sim.local_addr()).await;
    let mut b = WsClient::connect_ready(sim.local_addr()).await;
    sim.inject(Fault::DropTcp);
    for client in [&mut a, &mut b] {
        loop {
            match client.next().await {
                Msg::Text(_) => {}
                Msg::Eof(_) => break,
                other => panic!("expected an abrupt drop, got {other:?}"),
            }
        }
    }
    assert_eq!(sim.stats().disconnects["drop_tcp"], 2);
    // New connections work.
    WsClient::connect_ready(sim.local_addr()).await;
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn close_frame_sends_1001_to_every_client() {
    let sim = start(config(20)).await.unwrap();
    let mut client = subscribed(sim.local_addr()).await;
    sim.inject(Fault::CloseFrame);
    loop {
        match client.next().await {
            Msg::Text(_) => {}
            Msg::Close(code) => {
                assert_eq!(code, 1001);
                break;
            }
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    // The client's automatic close reply ends the session on the server.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(sim.stats().open_connections, 0);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn half_open_neither_reads_nor_writes_then_drops() {
    let sim = start(config(20)).await.unwrap();
    let mut client = subscribed(sim.local_addr()).await;
    sim.inject(Fault::HalfOpen {
        duration_ms: 30_000,
    });
    let injected = Instant::now();
    while client
        .next_within(Duration::from_millis(100))
        .await
        .is_some()
    {}
    client.send_text(r#"{"op":"ping","ping":3}"#).await;
    // No pong, no data: the next thing is the drop at the end of the fault.
    match client.next().await {
        Msg::Eof(_) => {}
        other => panic!("expected silence then a drop, got {other:?}"),
    }
    let lasted = injected.elapsed();
    assert!(
        lasted >= Duration::from_secs(30) && lasted < Duration::from_secs(31),
        "{lasted:?}"
    );
    assert_eq!(sim.stats().pings_answered, 0);
    sim.shutdown().await;
}

/// A regular data frame (not one of the garbage payloads).
fn is_normal_data(text: &str) -> bool {
    text.len() < 4096
        && serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v.get("ch").is_some())
}

#[tokio::test(start_paused = true)]
async fn every_garbage_kind_arrives_as_its_malformed_frame_and_the_socket_survives() {
    let sim = start(config(20)).await.unwrap();
    let mut client = subscribed(sim.local_addr()).await;
    for kind in GarbageKind::ALL {
        sim.inject(Fault::Garbage(kind));
        let garbage = loop {
            match client.next().await {
                Msg::Text(text) if is_normal_data(&text) => {}
                other => break other,
            }
        };
        match (kind, garbage) {
            (GarbageKind::NonJson, Msg::Text(text)) => {
                assert!(serde_json::from_str::<serde_json::Value>(&text).is_err());
            }
            (GarbageKind::Binary, Msg::Binary(bytes)) => assert!(!bytes.is_empty()),
            (GarbageKind::Truncated, Msg::Text(text)) => {
                assert!(text.starts_with(r#"{"ch":"market_kline_1min""#), "{text}");
                assert!(serde_json::from_str::<serde_json::Value>(&text).is_err());
            }
            (GarbageKind::Oversized, Msg::Text(text)) => assert!(text.len() > 1 << 20),
            (GarbageKind::DeeplyNested, Msg::Text(text)) => {
                assert_eq!(text.len(), 200_000);
                assert!(text.starts_with("[[[[") && text.ends_with("]]]]"));
            }
            (GarbageKind::EmptyText, Msg::Text(text)) => assert!(text.is_empty()),
            (kind, other) => panic!("{kind:?}: unexpected {other:?}"),
        }
    }
    // The connection is still serving.
    client.next_on("ticker").await;
    assert_eq!(sim.stats().frames_sent["garbage"], 6);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn refused_upgrades_get_http_503_for_the_duration() {
    let sim = start(config(20)).await.unwrap();
    sim.inject(Fault::RefuseUpgrade {
        duration_ms: 10_000,
    });
    let addr = sim.local_addr();
    let stream = connect_tcp(addr).await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let response = sender.send_request(upgrade_request(addr)).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    tokio::time::sleep(Duration::from_secs(10)).await;
    WsClient::connect_ready(addr).await;
    assert_eq!(sim.stats().upgrades_refused, 1);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn slow_accept_delays_new_connections() {
    let sim = start(config(20)).await.unwrap();
    sim.inject(Fault::SlowAccept {
        delay_ms: 3_000,
        duration_ms: 10_000,
    });
    let started = Instant::now();
    WsClient::connect_ready(sim.local_addr()).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_millis(3_100),
        "{took:?}"
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    let started = Instant::now();
    WsClient::connect_ready(sim.local_addr()).await;
    assert!(started.elapsed() < Duration::from_millis(100));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn scheduled_faults_fire_at_their_virtual_offset() {
    let sim = start(SimConfig {
        speed: 60.0,
        faults: vec![ScheduledFault {
            at_virtual_offset_ms: 30 * 60_000,
            fault: Fault::DropTcp,
        }],
        ..config(100)
    })
    .await
    .unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    let opened = Instant::now();
    // At speed 60, 30 virtual minutes are 30 real seconds. Keep pinging meanwhile.
    let mut i = 0;
    loop {
        match client.next_within(Duration::from_secs(10)).await {
            None => {
                i += 1;
                client
                    .send_text(&format!(r#"{{"op":"ping","ping":{i}}}"#))
                    .await;
            }
            Some(Msg::Text(_)) => {}
            Some(Msg::Eof(_)) => break,
            Some(other) => panic!("unexpected {other:?}"),
        }
    }
    let lived = opened.elapsed();
    assert!(
        lived >= Duration::from_secs(30) && lived < Duration::from_millis(30_100),
        "{lived:?}"
    );
    assert_eq!(sim.stats().faults_applied["drop-tcp"], 1);
    sim.shutdown().await;
}
