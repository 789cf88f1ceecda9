//! Connection life cycle: subscriptions, refused upgrades, slow accepts, message rate,
//! shutdown.

use std::time::Duration;

use la_bitunix_sim::Fault;
use la_core::{ConnectionEvent, MarketEvent};

use crate::support::{Harness, is_connected, sim_config};

#[tokio::test(start_paused = true)]
async fn subscriptions_replayed_after_reconnect() {
    let mut h = Harness::start(sim_config(600), |_| {}).await;
    h.streaming().await;
    for round in 1..=3 {
        h.handle.request_reconnect();
        let (event, _) = h
            .wait_for(Duration::from_secs(5), |e| {
                matches!(
                    e,
                    MarketEvent::Connection(ConnectionEvent::Disconnected { .. })
                )
            })
            .await;
        assert_eq!(
            event,
            MarketEvent::Connection(ConnectionEvent::Disconnected {
                reason: "reconnect requested".to_owned()
            })
        );
        h.wait_for(Duration::from_secs(5), is_connected).await;
        let before = h.handle.counters();
        // Every channel streams again on the new socket: the one subscribe frame was replayed.
        let events = h.run_for(Duration::from_secs(70)).await;
        assert!(
            events.iter().any(|e| matches!(e, MarketEvent::Tick(_))),
            "round {round}"
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, MarketEvent::CandleUpdate(_)))
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, MarketEvent::CandleClosed { .. }))
        );
        let after = h.handle.counters();
        for channel in ["kline", "ticker", "price"] {
            assert!(
                after.frames(channel) > before.frames(channel),
                "{channel} round {round}"
            );
        }
    }
    let stats = h.sim.stats();
    assert_eq!(stats.connections_accepted, 4);
    assert_eq!(h.handle.counters().reconnects, 3);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn refused_upgrade_backs_off_and_recovers() {
    let sim = la_bitunix_sim::start(sim_config(600)).await.unwrap();
    sim.inject(Fault::RefuseUpgrade { duration_ms: 8_000 });
    let mut h = Harness::with_sim(sim, 1.0, |c| {
        c.backoff_initial = Duration::from_millis(500);
        c.backoff_max = Duration::from_secs(30);
    });
    let mut attempts = Vec::new();
    let (_, waited) = h
        .wait_for(Duration::from_secs(60), |e| {
            if let MarketEvent::Connection(ConnectionEvent::Reconnecting { attempt, delay_ms }) = e
            {
                attempts.push((*attempt, *delay_ms));
            }
            is_connected(e)
        })
        .await;
    assert!(
        waited >= Duration::from_secs(8),
        "connected during the refusal: {waited:?}"
    );
    assert!(attempts.len() >= 3, "{attempts:?}");
    assert_eq!(attempts[0], (1, 0), "first retry is immediate");
    for (i, (attempt, delay_ms)) in attempts.iter().enumerate() {
        assert_eq!(*attempt as usize, i + 1);
        // Full jitter under a cap of 500 ms · 2^(attempt-2), at most 30 s.
        let cap = if *attempt == 1 {
            0
        } else {
            (500u64 << (attempt - 2).min(16)).min(30_000)
        };
        assert!(*delay_ms <= cap, "attempt {attempt}: {delay_ms} > {cap}");
    }
    assert!(h.sim.stats().upgrades_refused >= 3);
    h.wait_for(Duration::from_secs(5), |e| {
        matches!(e, MarketEvent::CandleUpdate(_))
    })
    .await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn slow_accept_hits_the_connect_timeout_and_recovers() {
    let sim = la_bitunix_sim::start(sim_config(600)).await.unwrap();
    sim.inject(Fault::SlowAccept {
        delay_ms: 20_000,
        duration_ms: 30_000,
    });
    let mut h = Harness::with_sim(sim, 1.0, |c| c.connect_timeout = Duration::from_secs(5));
    let (event, waited) = h
        .wait_for(Duration::from_secs(10), |e| {
            matches!(
                e,
                MarketEvent::Connection(ConnectionEvent::Reconnecting { .. })
            )
        })
        .await;
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    assert_eq!(
        event,
        MarketEvent::Connection(ConnectionEvent::Reconnecting {
            attempt: 1,
            delay_ms: 0
        })
    );
    h.wait_for(Duration::from_secs(120), is_connected).await;
    h.wait_for(Duration::from_secs(5), |e| {
        matches!(e, MarketEvent::CandleUpdate(_))
    })
    .await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn client_messages_stay_within_the_exchange_rate_limit() {
    // The simulator disconnects clients above 5 frames/s (the default). Pings, subscribes,
    // close frames and rapid reconnects all go through the per-connection window.
    let mut h = Harness::start(sim_config(600), |_| {}).await;
    h.streaming().await;
    for _ in 0..10 {
        h.handle.request_reconnect();
        h.wait_for(Duration::from_secs(5), is_connected).await;
    }
    h.run_for(Duration::from_secs(180)).await;
    let stats = h.sim.stats();
    assert_eq!(stats.disconnects.get("rate_limit"), None, "{stats:?}");
    assert_eq!(stats.disconnects.get("idle"), None, "{stats:?}");
    let c = h.handle.counters();
    assert!(c.pings_sent >= 14, "{c:?}");
    assert!(c.pongs_received >= c.pings_sent - 1, "{c:?}");
    assert_eq!(
        c.messages_sent, stats.client_frames,
        "every frame we wrote arrived"
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_closes_the_socket_and_ends_the_stream() {
    let mut h = Harness::start(sim_config(600), |_| {}).await;
    h.streaming().await;
    assert_eq!(h.sim.stats().open_connections, 1);
    h.handle.shutdown().await;
    // The stream ends (after at most the buffered events and a final Disconnected).
    let mut ended = false;
    for _ in 0..10_000 {
        match tokio::time::timeout(Duration::from_secs(1), h.feed.recv()).await {
            Ok(None) => {
                ended = true;
                break;
            }
            Ok(Some(_)) => {}
            Err(_) => break,
        }
    }
    assert!(ended, "the event stream did not end after shutdown");
    // The simulator's side notices the close frame promptly (bounded wait on paused time).
    let mut open = h.sim.stats().open_connections;
    for _ in 0..100 {
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        open = h.sim.stats().open_connections;
    }
    assert_eq!(open, 0);
    assert!(h.sim.stats().disconnects.contains_key("client_close"));
    h.sim.shutdown().await;
}
