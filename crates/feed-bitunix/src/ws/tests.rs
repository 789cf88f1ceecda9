//! One real connection against the simulator (which disconnects clients above 5 frames/s):
//! a burst of queued frames is spread by the sliding window and nothing is dropped.

use std::time::Duration;

use la_bitunix_sim::{MarketData, SimConfig};
use la_core::{Decimal, Interval, Symbol, TimestampMs};
use tokio::{sync::mpsc, time::Instant};

use super::{ConnEventKind, Connector, writer::WINDOW};
use crate::{
    config::FeedConfig,
    counters::Counters,
    decode::{Decoded, FrameDecoder},
    endpoint::{Endpoint, Kind},
    tls,
};

#[tokio::test(start_paused = true)]
async fn client_never_sends_more_than_5_messages_per_second() {
    let sim = la_bitunix_sim::start(SimConfig {
        data: MarketData::Generated {
            seed: 3,
            start_price: Decimal::new(60_000, 0),
            start_time: TimestampMs::new(1_704_067_200_000).unwrap(),
            n_candles: 100,
        },
        max_client_msgs_per_sec: Some(5),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let symbol = Symbol::new("BTCUSDT").unwrap();
    let config = FeedConfig::new(symbol, Interval::M1);
    let counters = Counters::default();
    let connector = Connector {
        target: Endpoint::parse(&sim.ws_url(), Kind::WebSocket).unwrap(),
        tls: tokio_rustls::TlsConnector::from(tls::client_config(None).unwrap()),
        connect_timeout: config.connect_timeout,
        max_message_size: config.max_message_size,
        max_msgs_per_window: config.max_client_msgs_per_sec,
        counters: counters.clone(),
    };
    let (tx, mut rx) = mpsc::channel(64);
    let conn = connector.open(1, tx).await.unwrap();
    // 16 frames queued at once (the queue's capacity): far above 5 per second.
    let start = Instant::now();
    for i in 0..16 {
        assert!(conn.send(format!(r#"{{"op":"ping","ping":{}}}"#, 1_700_000_000 + i)));
    }
    let mut decoder = FrameDecoder::new(Interval::M1);
    let mut pongs = Vec::new();
    while pongs.len() < 16 {
        let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("pong in time")
            .expect("connection alive");
        match event.kind {
            ConnEventKind::Text(mut bytes) => {
                if let Ok(Decoded::Pong { client_ping }) = decoder.decode(&mut bytes, symbol) {
                    pongs.push((client_ping, start.elapsed()));
                }
            }
            ConnEventKind::Closed(reason) => panic!("disconnected: {reason}"),
            ConnEventKind::Rejected(..) => {}
        }
    }
    // Every ping answered, in order, at no more than 5 per window.
    let values: Vec<_> = pongs.iter().map(|(v, _)| *v).collect();
    assert_eq!(
        values,
        (0..16).map(|i| 1_700_000_000 + i).collect::<Vec<_>>()
    );
    for (i, (_, at)) in pongs.iter().enumerate() {
        let within = pongs
            .iter()
            .filter(|(_, t)| *t >= *at && *t < *at + Duration::from_secs(1))
            .count();
        assert!(within <= 5, "{within} answers within 1 s of answer {i}");
    }
    assert!(pongs[15].1 >= WINDOW * 3, "{:?}", pongs[15].1);
    assert_eq!(counters.snapshot().messages_sent, 16);
    let stats = sim.stats();
    assert_eq!(stats.disconnects.get("rate_limit"), None, "{stats:?}");
    assert_eq!(stats.pings_answered, 16);
    conn.close(true, Duration::from_millis(500)).await;
    sim.shutdown().await;
}
