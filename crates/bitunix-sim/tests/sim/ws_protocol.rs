//! The WebSocket protocol as the real exchange speaks it: connect frame, subscriptions,
//! pings, the stream cap and the push formats.

use std::{collections::BTreeMap, time::Duration};

use la_bitunix_sim::{SimConfig, start};
use serde_json::Value;
use tokio::time::Instant;

use crate::client::{MINUTE, Msg, SUBSCRIBE_ALL, T0, WsClient, advance_to, candles, config, dec};

const KLINE: &str = "market_kline_1min";

#[tokio::test(start_paused = true)]
async fn connect_frame_comes_first_and_subscribe_gets_no_ack() {
    let sim = start(config(10)).await.unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    let sent_at = Instant::now();
    client.send_text(SUBSCRIBE_ALL).await;
    let first = client.next_json().await;
    assert!(first.get("op").is_none(), "an ack arrived: {first}");
    assert!(first.get("ch").is_some(), "{first}");
    let waited = sent_at.elapsed();
    assert!(
        waited >= Duration::from_millis(100) && waited <= Duration::from_millis(600),
        "first push after {waited:?}"
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn first_kline_push_is_a_snapshot_of_the_forming_candle() {
    let sim = start(config(10)).await.unwrap();
    advance_to(&sim, T0 + 20_250).await;
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client
        .send_text(r#"{"op":"subscribe","args":[{"symbol":"BTCUSDT","ch":"market_kline_1min"}]}"#)
        .await;
    let (first, _) = client.next_on(KLINE).await;
    let candle = candles(10)[0];
    let ts = first["ts"].as_i64().unwrap();
    assert!((T0 + 20_000..T0 + 21_000).contains(&ts), "{first}");
    let data = &first["data"];
    assert_eq!(dec(&data["o"]), candle.open().get());
    assert!(dec(&data["h"]) <= candle.high().get() && dec(&data["l"]) >= candle.low().get());
    let volume = dec(&data["b"]);
    assert!(
        volume > la_core::Decimal::ZERO && volume < candle.volume().get(),
        "{first}"
    );
    let (second, _) = client.next_on(KLINE).await;
    assert_eq!(second["ts"].as_i64().unwrap() % 500, 0);
    assert!(second["ts"].as_i64().unwrap() > ts);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn kline_pushes_every_500ms_with_string_values_in_wire_order() {
    let sim = start(config(10)).await.unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client.send_text(SUBSCRIBE_ALL).await;
    let _snapshot = client.next_on(KLINE).await;
    let mut previous: Option<i64> = None;
    for _ in 0..30 {
        let (frame, text) = client.next_on(KLINE).await;
        assert!(
            text.starts_with(r#"{"ch":"market_kline_1min","symbol":"BTCUSDT","ts":"#),
            "{text}"
        );
        let positions: Vec<usize> = ["\"o\":", "\"c\":", "\"h\":", "\"l\":", "\"b\":", "\"q\":"]
            .iter()
            .map(|key| text.find(key).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        let data = frame["data"].as_object().unwrap();
        assert_eq!(data.len(), 6);
        assert!(data.values().all(Value::is_string), "{text}");
        assert!(frame.get("closed").is_none() && data.get("closed").is_none());
        let ts = frame["ts"].as_i64().unwrap();
        assert_eq!(ts % 500, 0);
        if let Some(prev) = previous {
            assert_eq!(ts - prev, 500, "cadence");
        }
        previous = Some(ts);
    }
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn last_push_of_each_bucket_equals_the_data_candle_exactly() {
    let sim = start(config(10)).await.unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client.send_text(SUBSCRIBE_ALL).await;
    let mut last_by_bucket: BTreeMap<i64, Value> = BTreeMap::new();
    loop {
        let (frame, _) = client.next_on(KLINE).await;
        let ts = frame["ts"].as_i64().unwrap();
        if ts >= T0 + 4 * MINUTE {
            break;
        }
        last_by_bucket.insert(ts - ts % MINUTE, frame);
    }
    let data = candles(10);
    for (idx, candle) in data.iter().take(4).enumerate() {
        let bucket = T0 + i64::try_from(idx).unwrap() * MINUTE;
        let frame = &last_by_bucket[&bucket];
        assert_eq!(frame["ts"].as_i64().unwrap(), bucket + 59_500);
        let d = &frame["data"];
        assert_eq!(dec(&d["o"]), candle.open().get());
        assert_eq!(dec(&d["h"]), candle.high().get());
        assert_eq!(dec(&d["l"]), candle.low().get());
        assert_eq!(dec(&d["c"]), candle.close().get());
        assert_eq!(dec(&d["b"]), candle.volume().get());
    }
    assert_eq!(&sim.completed_candles()[..4], &data[..4]);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn ticker_pushes_visit_the_four_waypoints_and_the_exact_extremes() {
    let sim = start(config(10)).await.unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client
        .send_text(r#"{"op":"subscribe","args":[{"symbol":"BTCUSDT","ch":"ticker"}]}"#)
        .await;
    let mut by_offset: BTreeMap<i64, la_core::Decimal> = BTreeMap::new();
    loop {
        let (frame, _) = client.next_on("ticker").await;
        let ts = frame["ts"].as_i64().unwrap();
        if ts >= T0 + 2 * MINUTE {
            break;
        }
        let data = frame["data"].as_object().unwrap();
        assert!(data.values().all(Value::is_string), "{frame}");
        assert_eq!(data["s"], "BTCUSDT");
        if ts >= T0 + MINUTE {
            by_offset.insert(ts - T0 - MINUTE, dec(&frame["data"]["la"]));
        }
    }
    // Candle 1: open 60001.0, high 60008.0, low 59998.0 (the nearer extreme), close 60001.5.
    let candle = candles(10)[1];
    assert_eq!(by_offset[&0], candle.open().get());
    assert_eq!(by_offset[&19_833], candle.low().get());
    assert_eq!(by_offset[&39_666], candle.high().get());
    assert_eq!(by_offset[&59_500], candle.close().get());
    assert!(
        by_offset
            .values()
            .all(|p| *p <= candle.high().get() && *p >= candle.low().get())
    );
    // The regular cadence is there as well.
    assert!(by_offset.contains_key(&1_000) && by_offset.contains_key(&30_000));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn ticker_change_is_in_percent_of_the_price_24h_ago() {
    let sim = start(config(10)).await.unwrap();
    advance_to(&sim, T0 + 3 * MINUTE).await;
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client
        .send_text(r#"{"op":"subscribe","args":[{"symbol":"BTCUSDT","ch":"ticker"}]}"#)
        .await;
    let (frame, _) = client.next_on("ticker").await;
    let d = &frame["data"];
    let (open, last, change) = (dec(&d["o"]), dec(&d["la"]), dec(&d["r"]));
    assert_eq!(open, candles(10)[0].open().get());
    let expected = ((last - open) / open * la_core::Decimal::ONE_HUNDRED).round_dp(10);
    assert_eq!(change, expected);
    assert!(dec(&d["h"]) >= dec(&d["l"]));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn price_channel_carries_index_mark_and_percent_funding_at_8h_boundaries() {
    let sim = start(config(10)).await.unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client.send_text(SUBSCRIBE_ALL).await;
    let (frame, text) = client.next_on("price").await;
    assert!(
        text.starts_with(r#"{"ch":"price","symbol":"BTCUSDT","ts":"#),
        "{text}"
    );
    let d = &frame["data"];
    assert!(dec(&d["ip"]) > la_core::Decimal::ZERO);
    assert!(dec(&d["mp"]) > la_core::Decimal::ZERO);
    // The rate settled at the last funding time (`ft`), in percent.
    let settled = sim.settled_funding_rate(la_core::TimestampMs::new(T0).unwrap());
    assert_eq!(dec(&d["fr"]), settled * la_core::Decimal::ONE_HUNDRED);
    assert_eq!(d["ft"], "2024-01-01T00:00:00Z");
    assert_eq!(d["nft"], "2024-01-01T08:00:00Z");
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn json_ping_is_answered_with_the_echo_and_server_seconds() {
    let sim = start(config(10)).await.unwrap();
    advance_to(&sim, T0 + 5_000).await;
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client.send_text(r#"{"op":"ping","ping":1732519687}"#).await;
    let text = client.next_text().await;
    assert!(
        text.starts_with(r#"{"op":"ping","pong":1732519687,"ping":"#),
        "{text}"
    );
    let reply: Value = serde_json::from_str(&text).unwrap();
    let server_secs = reply["ping"].as_i64().unwrap();
    assert!(
        (T0 / 1000 + 5..=T0 / 1000 + 6).contains(&server_secs),
        "{text}"
    );
    assert_eq!(sim.stats().pings_answered, 1);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn unsubscribe_is_acknowledged_and_stops_that_stream() {
    let sim = start(config(10)).await.unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client.send_text(SUBSCRIBE_ALL).await;
    client.next_on(KLINE).await;
    client
        .send_text(r#"{"op":"unsubscribe","args":[{"symbol":"BTCUSDT","ch":"market_kline_1min"}]}"#)
        .await;
    let reply = loop {
        let value = client.next_json().await;
        if value["op"] == "unsubscribe" {
            break value;
        }
    };
    assert_eq!(reply["data"], "success");
    assert!(reply["ts"].as_i64().unwrap() >= T0);
    for _ in 0..20 {
        let value = client.next_json().await;
        assert_ne!(value["ch"], KLINE, "kline after unsubscribe: {value}");
    }
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn more_than_300_streams_are_refused_and_the_first_300_keep_flowing() {
    let sim = start(config(10)).await.unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    let mut args = vec![r#"{"symbol":"BTCUSDT","ch":"market_kline_1min"}"#.to_owned()];
    args.extend((0..300).map(|i| format!(r#"{{"symbol":"COIN{i}USDT","ch":"ticker"}}"#)));
    client
        .send_text(&format!(
            r#"{{"op":"subscribe","args":[{}]}}"#,
            args.join(",")
        ))
        .await;
    assert_eq!(
        client.next_text().await,
        r#"{"op":"subscribe","data":{"msg":"subscribe channel > 300","nonce":"","result":false}}"#
    );
    let (frame, _) = client.next_on(KLINE).await;
    assert_eq!(frame["symbol"], "BTCUSDT");
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn unknown_ops_channels_and_non_json_are_ignored_and_the_socket_stays() {
    let sim = start(config(10)).await.unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client.send_text("definitely not json").await;
    client.send_text(r#"{"op":"nope","args":[]}"#).await;
    client
        .send_text(r#"{"op":"subscribe","args":[{"symbol":"BTCUSDT","ch":"market_kline_1m"}]}"#)
        .await;
    assert_eq!(client.next_within(Duration::from_secs(2)).await, None);
    client.send_text(r#"{"op":"ping","ping":1}"#).await;
    let reply = client.next_json().await;
    assert_eq!(reply["pong"], 1);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn lowercase_symbol_is_accepted_and_pushed_upper_case() {
    let sim = start(config(10)).await.unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client
        .send_text(r#"{"op":"subscribe","args":[{"symbol":"btcusdt","ch":"ticker"}]}"#)
        .await;
    let (frame, _) = client.next_on("ticker").await;
    assert_eq!(frame["symbol"], "BTCUSDT");
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_is_dropped_after_idle_drop_ms_without_a_close_frame() {
    let sim = start(SimConfig {
        idle_drop_ms: 60_000,
        ..config(10)
    })
    .await
    .unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    let opened = Instant::now();
    client.send_text(SUBSCRIBE_ALL).await;
    loop {
        match client.next().await {
            Msg::Text(_) => {}
            Msg::Eof(_) => break,
            other => panic!("expected a silent drop, got {other:?}"),
        }
    }
    let lived = opened.elapsed();
    assert!(
        lived >= Duration::from_secs(60) && lived < Duration::from_secs(61),
        "{lived:?}"
    );
    assert_eq!(sim.stats().disconnects.get("idle"), Some(&1));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_pinging_client_is_not_dropped_for_idleness() {
    let sim = start(SimConfig {
        idle_drop_ms: 20_000,
        ..config(10)
    })
    .await
    .unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    for i in 0..6 {
        tokio::time::sleep(Duration::from_secs(15)).await;
        client
            .send_text(&format!(r#"{{"op":"ping","ping":{i}}}"#))
            .await;
        assert_eq!(client.next_json().await["pong"], i);
    }
    assert!(sim.stats().disconnects.is_empty());
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_protocol_ping_as_first_frame_gets_no_pong_and_a_drop_about_1_5s_later() {
    let sim = start(config(10)).await.unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    let sent = Instant::now();
    client.send_ping_frame().await;
    match client.next().await {
        Msg::Eof(_) => {}
        other => panic!("expected a silent drop, got {other:?}"),
    }
    let after = sent.elapsed();
    assert!(
        after >= Duration::from_millis(1_400) && after <= Duration::from_millis(1_600),
        "{after:?}"
    );
    assert_eq!(sim.stats().protocol_pings_answered, 0);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_protocol_ping_after_a_json_frame_is_answered() {
    let sim = start(config(10)).await.unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client.send_text(r#"{"op":"ping","ping":5}"#).await;
    assert_eq!(client.next_json().await["pong"], 5);
    client.send_ping_frame().await;
    assert_eq!(client.next().await, Msg::Pong(b"hi".to_vec()));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn more_than_5_client_messages_per_second_disconnect() {
    let sim = start(config(10)).await.unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    for i in 0..6 {
        client
            .send_text(&format!(r#"{{"op":"ping","ping":{i}}}"#))
            .await;
    }
    let mut pongs = 0;
    loop {
        match client.next().await {
            Msg::Text(text) if text.contains("pong") => pongs += 1,
            Msg::Eof(_) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(pongs, 5);
    assert_eq!(sim.stats().disconnects.get("rate_limit"), Some(&1));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn five_messages_per_second_are_allowed() {
    let sim = start(config(10)).await.unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    for round in 0..3 {
        for i in 0..5 {
            client
                .send_text(&format!(r#"{{"op":"ping","ping":{}}}"#, round * 10 + i))
                .await;
            client.next_json().await;
        }
        tokio::time::sleep(Duration::from_millis(1_001)).await;
    }
    assert!(sim.stats().disconnects.is_empty());
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_server_never_pings_and_frames_are_counted_by_channel() {
    let sim = start(config(10)).await.unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client.send_text(SUBSCRIBE_ALL).await;
    let until = Instant::now() + Duration::from_secs(120);
    while Instant::now() < until {
        // `next` panics on a ping frame.
        match client.next().await {
            Msg::Text(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let stats = sim.stats();
    assert!(stats.frames_sent["market_kline_1min"] >= 239, "{stats:?}");
    assert!(stats.frames_sent["ticker"] >= 120);
    assert!(stats.frames_sent["price"] >= 119);
    assert_eq!(stats.frames_sent["control"], 1);
    assert_eq!(stats.connections_accepted, 1);
    assert_eq!(stats.open_connections, 1);
    sim.shutdown().await;
}
