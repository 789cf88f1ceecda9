//! One test per liveness and data fault scenario of the simulator.

use std::time::Duration;

use la_bitunix_sim::{BadValueKind, Fault, GarbageKind};
use la_core::{ConnectionEvent, MarketEvent};

use la_core::Clock;

use crate::support::{
    Harness, btc, closed_candles, disconnect_reasons, is_connected, is_disconnected, sim_config,
};

const IDLE: Duration = Duration::from_secs(30);

#[tokio::test(start_paused = true)]
async fn silence_triggers_reconnect_within_idle_timeout_plus_backoff() {
    let mut h = Harness::start(sim_config(600), |_| {}).await;
    h.streaming().await;
    h.sim.inject(Fault::Silence {
        duration_ms: 45_000,
    });
    let (event, waited) = h.wait_for(Duration::from_secs(60), is_disconnected).await;
    let MarketEvent::Connection(ConnectionEvent::Disconnected { reason }) = event else {
        unreachable!()
    };
    assert!(reason.contains("idle timeout"), "{reason}");
    assert!(waited <= IDLE + Duration::from_secs(1), "waited {waited:?}");
    assert!(waited >= IDLE - Duration::from_secs(1), "waited {waited:?}");
    // The first retry is immediate.
    let next = h.next(Duration::from_secs(1)).await;
    assert_eq!(
        next,
        MarketEvent::Connection(ConnectionEvent::Reconnecting {
            attempt: 1,
            delay_ms: 0
        })
    );
    let (_, reconnect_after) = h.wait_for(Duration::from_secs(5), is_connected).await;
    assert!(
        reconnect_after <= Duration::from_secs(1),
        "{reconnect_after:?}"
    );
    // After the silence data flows again on the new connection.
    h.wait_for(Duration::from_secs(60), |e| {
        matches!(e, MarketEvent::CandleClosed { .. })
    })
    .await;
    assert_eq!(h.handle.counters().reconnects, 1);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn pong_only_connection_is_treated_as_dead() {
    let mut h = Harness::start(sim_config(600), |_| {}).await;
    h.streaming().await;
    let pongs_before = h.handle.counters().pongs_received;
    h.sim.inject(Fault::PongOnly {
        duration_ms: 40_000,
    });
    let (event, waited) = h.wait_for(Duration::from_secs(60), is_disconnected).await;
    assert!(matches!(
        event,
        MarketEvent::Connection(ConnectionEvent::Disconnected { ref reason }) if reason.contains("idle")
    ));
    let counters = h.handle.counters();
    // Pings were answered during the fault, yet the connection was declared dead.
    assert!(counters.pongs_received >= pongs_before + 2, "{counters:?}");
    assert!(counters.last_pong_rtt_ms.is_some());
    assert!(waited <= IDLE + Duration::from_secs(1));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn half_open_socket_detected_by_idle_timeout() {
    let mut h = Harness::start(sim_config(600), |_| {}).await;
    h.streaming().await;
    h.sim.inject(Fault::HalfOpen {
        duration_ms: 300_000,
    });
    let (_, waited) = h.wait_for(Duration::from_secs(60), is_disconnected).await;
    assert!(waited <= IDLE + Duration::from_secs(1), "waited {waited:?}");
    // A new connection is opened and streams although the old socket is still "open".
    h.wait_for(Duration::from_secs(5), is_connected).await;
    h.wait_for(Duration::from_secs(10), |e| {
        matches!(e, MarketEvent::Tick(_))
    })
    .await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn garbage_frames_are_counted_and_connection_survives() {
    let mut h = Harness::start(sim_config(600), |_| {}).await;
    h.streaming().await;
    for kind in GarbageKind::ALL {
        if kind != GarbageKind::Oversized {
            h.sim.inject(Fault::Garbage(kind));
            h.run_for(Duration::from_secs(1)).await;
        }
    }
    let events = h.run_for(Duration::from_secs(70)).await;
    let counters = h.handle.counters();
    assert!(counters.rejections("not_json") >= 3, "{counters:?}"); // non-json, truncated, empty
    assert!(counters.rejections("not_text") >= 1, "{counters:?}");
    assert!(counters.rejections("not_an_object") >= 1, "{counters:?}");
    assert_eq!(counters.reconnects, 0);
    assert!(
        disconnect_reasons(&h.seen).is_empty(),
        "{:?}",
        disconnect_reasons(&h.seen)
    );
    assert!(!closed_candles(&events).is_empty(), "data kept flowing");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_frame_over_the_cap_is_refused_from_its_header_and_the_feed_reconnects() {
    let mut h = Harness::start(sim_config(600), |_| {}).await;
    h.streaming().await;
    // A 2 MiB frame against the default 1 MiB cap.
    h.sim.inject(Fault::Garbage(GarbageKind::Oversized));
    let (event, _) = h.wait_for(Duration::from_secs(5), is_disconnected).await;
    let MarketEvent::Connection(ConnectionEvent::Disconnected { reason }) = event else {
        unreachable!()
    };
    assert!(
        reason.contains("over the 1048576-byte cap was refused before its payload was read"),
        "{reason}"
    );
    h.wait_for(Duration::from_secs(5), is_connected).await;
    h.wait_for(Duration::from_secs(70), |e| {
        matches!(e, MarketEvent::CandleClosed { .. })
    })
    .await;
    let counters = h.handle.counters();
    assert_eq!(counters.rejections("too_large"), 1, "{counters:?}");
    assert_eq!(counters.reconnects, 1, "{counters:?}");
    assert_eq!(counters.total_rejections(), 1, "{counters:?}");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn bad_values_are_rejected_with_their_reason_and_the_connection_survives() {
    let mut h = Harness::start(sim_config(600), |_| {}).await;
    h.streaming().await;
    for kind in BadValueKind::ALL {
        h.sim.inject(Fault::BadValue(kind));
        h.run_for(Duration::from_secs(2)).await;
    }
    h.run_for(Duration::from_secs(60)).await;
    let c = h.handle.counters();
    for reason in [
        "not_a_number",
        "infinite",
        "negative",
        "zero",
        "empty",
        "out_of_range",
        "wrong_type",
        "missing_field",
        "ohlc_inconsistent",
        "wrong_symbol",
        "timestamp_jump",
    ] {
        assert!(
            c.rejections(reason) >= 1,
            "{reason} not counted: {:?}",
            c.rejections_by_reason
        );
    }
    assert!(c.out_of_order_dropped >= 1, "backwards timestamp: {c:?}");
    assert_eq!(c.reconnects, 0);
    assert!(disconnect_reasons(&h.seen).is_empty());
    // Closed candles are still exactly the simulator's.
    let completed = h.sim.completed_candles();
    for (candle, _) in closed_candles(&h.seen) {
        assert!(
            completed.contains(&candle),
            "{candle:?} not a simulator candle"
        );
    }
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn duplicate_and_reordered_pushes_are_dropped_and_counted() {
    let mut h = Harness::start(sim_config(600), |_| {}).await;
    h.streaming().await;
    h.sim.inject(Fault::Duplicate { count: 3 });
    h.run_for(Duration::from_secs(2)).await;
    h.sim.inject(Fault::Reorder);
    h.run_for(Duration::from_secs(150)).await;
    let c = h.handle.counters();
    assert!(c.duplicates_dropped >= 3, "{c:?}");
    assert!(c.out_of_order_dropped >= 1, "{c:?}");
    let closed = closed_candles(&h.seen);
    let mut opens: Vec<_> = closed.iter().map(|(c, _)| c.open_time()).collect();
    let n = opens.len();
    opens.dedup();
    assert_eq!(opens.len(), n, "a candle was closed twice");
    assert!(opens.windows(2).all(|w| w[0] < w[1]));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn drop_tcp_and_close_frame_reconnect_immediately() {
    let mut h = Harness::start(sim_config(600), |_| {}).await;
    h.streaming().await;
    for fault in [Fault::DropTcp, Fault::CloseFrame] {
        h.sim.inject(fault.clone());
        let (event, waited) = h.wait_for(Duration::from_secs(5), is_disconnected).await;
        assert!(waited < Duration::from_secs(1), "{fault:?}: {waited:?}");
        if fault == Fault::CloseFrame {
            assert!(
                matches!(event, MarketEvent::Connection(ConnectionEvent::Disconnected { ref reason }) if reason.contains("close frame 1001")),
                "{event:?}"
            );
        }
        let next = h.next(Duration::from_secs(1)).await;
        assert!(
            matches!(
                next,
                MarketEvent::Connection(ConnectionEvent::Reconnecting {
                    attempt: 1,
                    delay_ms: 0
                })
            ),
            "{next:?}"
        );
        h.streaming().await;
    }
    assert_eq!(h.handle.counters().reconnects, 2);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn future_timestamps_are_judged_against_the_local_clock_when_skew_checking_is_on() {
    let mut h = Harness::start(sim_config(600), |c| {
        c.max_clock_skew = Some(Duration::from_secs(300));
    })
    .await;
    h.streaming().await;
    h.sim.inject(Fault::BadValue(BadValueKind::FutureTimestamp));
    h.run_for(Duration::from_secs(70)).await;
    let c = h.handle.counters();
    assert!(
        c.rejections("future_timestamp") >= 1,
        "{:?}",
        c.rejections_by_reason
    );
    assert_eq!(c.rejections("timestamp_jump"), 0);
    // The simulator's clock agrees with ours, so nothing else was rejected.
    assert_eq!(c.rejections("past_timestamp"), 0);
    assert!(!closed_candles(&h.seen).is_empty());
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_open_outside_the_range_is_kept_widened_and_counted_on_websocket_and_rest() {
    let mut h = Harness::start(sim_config(600), |_| {}).await;
    h.streaming().await;
    h.sim.inject(Fault::OpenOutsideRange);
    let (event, _) = h
        .wait_for(Duration::from_secs(5), |e| {
            matches!(e, MarketEvent::CandleUpdate(c) if c.open() == c.high() && c.open() > c.close())
        })
        .await;
    let MarketEvent::CandleUpdate(widened) = event else {
        unreachable!()
    };
    let c = h.handle.counters();
    assert_eq!(
        c.frames_normalized.get("open_outside_range"),
        Some(&1),
        "{c:?}"
    );
    assert_eq!(c.total_rejections(), 0, "{:?}", c.rejections_by_reason);
    // The bucket's REST row carries the same open: kept, widened and counted as well.
    h.run_for(Duration::from_secs(61)).await;
    let rows = h
        .handle
        .rest()
        .klines_range(
            btc(),
            widened.interval(),
            widened.open_time(),
            widened.close_time(),
            h.clock.now(),
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].open(), rows[0].high()),
        (widened.open(), widened.open())
    );
    let c = h.handle.counters();
    assert_eq!(
        c.rest_rows_normalized.get("open_outside_range"),
        Some(&1),
        "{c:?}"
    );
    assert!(
        c.rest_rows_rejected.is_empty(),
        "{:?}",
        c.rest_rows_rejected
    );
    h.stop().await;
}
