//! Starting, configuration checks, the virtual clock, data exhaustion, looping,
//! determinism and shutdown.

use std::{net::SocketAddr, time::Duration};

use la_bitunix_sim::{EndBehaviour, SimConfig, SimError, start};
use la_core::TimestampMs;

use crate::client::{MINUTE, Msg, SUBSCRIBE_ALL, T0, WsClient, candles, config, dec, get_json};

#[tokio::test(start_paused = true)]
async fn non_loopback_listen_addresses_are_refused() {
    let error = start(SimConfig {
        listen: SocketAddr::from(([0, 0, 0, 0], 0)),
        ..config(5)
    })
    .await
    .unwrap_err();
    assert!(matches!(error, SimError::NonLoopback(_)), "{error}");
}

#[tokio::test(start_paused = true)]
async fn nonsense_speeds_and_cadences_are_configuration_errors() {
    for bad in [
        SimConfig {
            speed: 0.0,
            ..config(5)
        },
        SimConfig {
            speed: f64::NAN,
            ..config(5)
        },
        SimConfig {
            kline_push_ms: 0,
            ..config(5)
        },
        SimConfig {
            rest_rate_limit_per_sec: 0,
            ..config(5)
        },
    ] {
        let error = start(bad).await.unwrap_err();
        assert!(matches!(error, SimError::Config(_)), "{error}");
    }
}

#[tokio::test(start_paused = true)]
async fn urls_point_at_the_bound_loopback_port() {
    let sim = start(config(5)).await.unwrap();
    let port = sim.local_addr().port();
    assert_ne!(port, 0);
    assert_eq!(sim.ws_url(), format!("ws://127.0.0.1:{port}/public/"));
    assert_eq!(sim.rest_url(), format!("http://127.0.0.1:{port}"));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_virtual_clock_runs_at_the_configured_speed_from_the_start_time() {
    let sim = start(SimConfig {
        speed: 60.0,
        start_time: Some(TimestampMs::new(T0 + 5 * MINUTE).unwrap()),
        ..config(100)
    })
    .await
    .unwrap();
    assert_eq!(sim.virtual_now().as_ms(), T0 + 5 * MINUTE);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sim.virtual_now().as_ms(), T0 + 7 * MINUTE);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn when_data_runs_out_pushes_stop_but_the_socket_keeps_answering() {
    let sim = start(SimConfig {
        speed: 60.0,
        ..config(3)
    })
    .await
    .unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client.send_text(SUBSCRIBE_ALL).await;
    sim.wait_until_exhausted().await;
    assert_eq!(sim.completed_candles(), candles(3));
    assert!(sim.stats().data_exhausted);
    while client
        .next_within(Duration::from_millis(200))
        .await
        .is_some()
    {}
    assert_eq!(client.next_within(Duration::from_secs(30)).await, None);
    client.send_text(r#"{"op":"ping","ping":9}"#).await;
    assert_eq!(client.next_json().await["pong"], 9);
    // A late subscriber gets no snapshot either.
    let mut late = WsClient::connect_ready(sim.local_addr()).await;
    late.send_text(SUBSCRIBE_ALL).await;
    assert_eq!(late.next_within(Duration::from_secs(10)).await, None);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn looping_replays_the_data_shifted_forward_in_time() {
    let sim = start(SimConfig {
        speed: 60.0,
        end_behaviour: EndBehaviour::Loop,
        ..config(3)
    })
    .await
    .unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client.send_text(SUBSCRIBE_ALL).await;
    sim.wait_until_exhausted().await;
    let mut last_ts = 0;
    let mut opens_after_wrap = Vec::new();
    while last_ts < T0 + 4 * MINUTE {
        let (frame, _) = client.next_on("market_kline_1min").await;
        let ts = frame["ts"].as_i64().unwrap();
        assert!(ts > last_ts, "time keeps increasing across the wrap");
        if ts >= T0 + 3 * MINUTE {
            opens_after_wrap.push(dec(&frame["data"]["o"]));
        }
        last_ts = ts;
    }
    // The fourth minute replays the first candle.
    assert_eq!(opens_after_wrap[0], candles(3)[0].open().get());
    let completed = sim.completed_candles();
    assert!(completed.len() > 3);
    let data = candles(3);
    assert_eq!(completed[3].open(), data[0].open());
    assert_eq!(completed[3].open_time().as_ms(), T0 + 3 * MINUTE);
    let body = get_json(
        sim.local_addr(),
        "/api/v1/futures/market/kline?symbol=BTCUSDT&interval=1m&limit=1",
    )
    .await;
    assert!(
        body["data"][0]["time"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            >= T0 + 3 * MINUTE
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_frames() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let sim = start(SimConfig {
            idle_drop_ms: 86_400_000,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let mut client = WsClient::connect_ready(sim.local_addr()).await;
        client.send_text(SUBSCRIBE_ALL).await;
        let mut frames = Vec::new();
        for _ in 0..50 {
            frames.push(client.next_on("market_kline_1min").await.1);
        }
        runs.push(frames);
        sim.shutdown().await;
    }
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_sends_going_away_and_stops_serving() {
    let sim = start(config(5)).await.unwrap();
    let addr = sim.local_addr();
    let mut client = WsClient::connect_ready(addr).await;
    sim.shutdown().await;
    match client.next().await {
        Msg::Close(code) => assert_eq!(code, 1001),
        other => panic!("expected close 1001, got {other:?}"),
    }
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn history_candles_start_the_clock_later_so_rest_serves_them() {
    let sim = start(SimConfig {
        history_candles: 50,
        ..config(100)
    })
    .await
    .unwrap();
    assert_eq!(sim.virtual_now().as_ms(), T0 + 50 * MINUTE);
    assert_eq!(sim.data_start().as_ms(), T0);
    let body = get_json(
        sim.local_addr(),
        "/api/v1/futures/market/kline?symbol=BTCUSDT&interval=1m&limit=200",
    )
    .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 50);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn not_before_moves_a_start_forward_never_back() {
    let ts = |ms| Some(TimestampMs::new(ms).unwrap());
    // A resumed client that saw the data up to candle 70: the clock starts there, and the
    // 70 candles before it are REST history.
    let sim = start(SimConfig {
        history_candles: 50,
        not_before: ts(T0 + 70 * MINUTE),
        ..config(100)
    })
    .await
    .unwrap();
    assert_eq!(sim.virtual_now().as_ms(), T0 + 70 * MINUTE);
    assert_eq!(
        sim.data_end().map(TimestampMs::as_ms),
        Some(T0 + 100 * MINUTE)
    );
    let body = get_json(
        sim.local_addr(),
        "/api/v1/futures/market/kline?symbol=BTCUSDT&interval=1m&limit=200",
    )
    .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 70);
    sim.shutdown().await;
    // Earlier than the configured start: no effect.
    let sim = start(SimConfig {
        history_candles: 50,
        not_before: ts(T0 + 10 * MINUTE),
        ..config(100)
    })
    .await
    .unwrap();
    assert_eq!(sim.virtual_now().as_ms(), T0 + 50 * MINUTE);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_handle_and_its_clock_read_virtual_time() {
    use la_core::Clock;
    let sim = start(SimConfig {
        speed: 10.0,
        ..config(100)
    })
    .await
    .unwrap();
    let clock = sim.clock();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(clock.now().as_ms(), T0 + 30_000);
    assert_eq!(Clock::now(&sim), clock.now());
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn close_works_through_a_shared_handle_and_flushes_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.jsonl");
    let sim = std::sync::Arc::new(
        start(SimConfig {
            record_path: Some(path.clone()),
            ..config(10)
        })
        .await
        .unwrap(),
    );
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    sim.close().await;
    sim.close().await;
    assert!(matches!(client.next().await, Msg::Close(1001)));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.lines().next().unwrap().contains(r#""kind":"frame""#),
        "{text}"
    );
}

/// The one real-time test: the simulator on a multi-threaded runtime, as the CLI runs it.
/// It asserts ordering, not timing, so a slow machine only makes it slower.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_serves_in_real_time_on_a_multi_threaded_runtime() {
    let sim = start(SimConfig {
        speed: 100.0,
        ..config(100)
    })
    .await
    .unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client.send_text(SUBSCRIBE_ALL).await;
    let mut last_ts = 0;
    for _ in 0..50 {
        let (frame, _) = client.next_on("market_kline_1min").await;
        let ts = frame["ts"].as_i64().unwrap();
        assert!(ts > last_ts);
        last_ts = ts;
    }
    sim.shutdown().await;
}
