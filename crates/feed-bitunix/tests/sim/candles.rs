//! Candle closes, REST confirmation, gaps and backfill, end to end against the simulator.

use std::{collections::BTreeMap, time::Duration};

use la_bitunix_sim::{EndBehaviour, Fault};
use la_core::{MarketEvent, Provenance};

use crate::support::{Harness, closed_candles, disconnect_reasons, sim_config};

#[tokio::test(start_paused = true)]
async fn gap_is_backfilled_with_exactly_the_missing_candles() {
    let mut h = Harness::start(sim_config(600), |_| {}).await;
    h.streaming().await;
    h.run_for(Duration::from_secs(30)).await;
    h.sim.inject(Fault::Gap { candles: 3 });
    let (gap, _) = h
        .wait_for(Duration::from_secs(300), |e| {
            matches!(e, MarketEvent::Gap { .. })
        })
        .await;
    let MarketEvent::Gap {
        first_missing,
        missing,
    } = gap
    else {
        unreachable!()
    };
    let skipped = h.sim.skipped_candles();
    assert_eq!(missing, 3);
    assert_eq!(skipped.len(), 3);
    assert_eq!(first_missing, skipped[0].open_time());
    let mut backfilled = Vec::new();
    while backfilled.len() < 3 {
        let (event, _) = h
            .wait_for(Duration::from_secs(120), |e| {
                matches!(
                    e,
                    MarketEvent::CandleClosed {
                        provenance: Provenance::Backfilled,
                        ..
                    }
                )
            })
            .await;
        if let MarketEvent::CandleClosed { candle, .. } = event {
            backfilled.push(candle);
        }
    }
    // Exactly the skipped candles, values included, in open-time order.
    assert_eq!(backfilled, skipped);
    h.run_for(Duration::from_secs(120)).await;
    let c = h.handle.counters();
    assert_eq!(c.candles_backfilled, 3, "{c:?}");
    assert_eq!(c.gaps_detected, 1);
    assert_eq!(c.candles_unrecoverable, 0);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn candle_without_later_push_is_confirmed_over_rest() {
    let mut h = Harness::start(sim_config(600), |_| {}).await;
    h.streaming().await;
    // Let one candle close live, then silence the stream for longer than the rest of the
    // forming bucket plus the close grace (but shorter than the idle timeout).
    h.wait_for(Duration::from_secs(90), |e| {
        matches!(e, MarketEvent::CandleClosed { .. })
    })
    .await;
    h.run_for(Duration::from_secs(50)).await;
    h.sim.inject(Fault::Silence {
        duration_ms: 25_000,
    });
    let (event, _) = h
        .wait_for(Duration::from_secs(40), |e| {
            matches!(
                e,
                MarketEvent::CandleClosed {
                    provenance: Provenance::RestConfirmed,
                    ..
                }
            )
        })
        .await;
    let MarketEvent::CandleClosed { candle, .. } = event else {
        unreachable!()
    };
    let completed = h.sim.completed_candles();
    assert!(
        completed.contains(&candle),
        "{candle:?} differs from the exchange's"
    );
    assert_eq!(h.handle.counters().candles_rest_confirmed, 1);
    assert!(
        disconnect_reasons(&h.seen).is_empty(),
        "no reconnect was needed"
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn every_candle_the_simulator_completed_is_closed_live_or_backfilled() {
    let mut config = sim_config(30);
    config.end_behaviour = EndBehaviour::Stop;
    let mut h = Harness::start(config, |_| {}).await;
    h.streaming().await;
    // A rough day at the exchange: a gap, a silence, a dropped socket, duplicates.
    h.run_for(Duration::from_secs(150)).await;
    h.sim.inject(Fault::Gap { candles: 2 });
    h.run_for(Duration::from_secs(240)).await;
    h.sim.inject(Fault::Silence {
        duration_ms: 70_000,
    });
    h.run_for(Duration::from_secs(200)).await;
    h.sim.inject(Fault::DropTcp);
    h.run_for(Duration::from_secs(120)).await;
    h.sim.inject(Fault::Duplicate { count: 2 });
    tokio::select! {
        () = h.sim.wait_until_exhausted() => {}
        () = tokio::time::sleep(Duration::from_secs(3600)) => panic!("data never ran out"),
    }
    // The last candle has no later push: it is confirmed over REST after the grace.
    h.run_for(Duration::from_secs(90)).await;

    let mut expected: Vec<_> = h.sim.completed_candles();
    expected.extend(h.sim.skipped_candles());
    expected.sort_by_key(|c| c.open_time());
    let closed = closed_candles(&h.seen);
    let mut by_open = BTreeMap::new();
    for (candle, provenance) in &closed {
        assert!(
            by_open
                .insert(candle.open_time(), (*candle, *provenance))
                .is_none(),
            "{} closed twice",
            candle.open_time()
        );
    }
    assert_eq!(expected.len(), 30, "the simulator completed every candle");
    for candle in &expected {
        let Some((ours, provenance)) = by_open.get(&candle.open_time()) else {
            panic!(
                "candle {} never closed; closed: {:?}",
                candle.open_time(),
                by_open.keys()
            );
        };
        assert_eq!(
            ours,
            candle,
            "values of {} ({provenance:?})",
            candle.open_time()
        );
    }
    assert_eq!(by_open.len(), expected.len());
    let provenances: Vec<_> = by_open.values().map(|(_, p)| *p).collect();
    assert!(provenances.contains(&Provenance::Live));
    assert!(provenances.contains(&Provenance::Backfilled));
    assert!(provenances.contains(&Provenance::RestConfirmed));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn planned_rotation_is_make_before_break() {
    let mut h = Harness::start(sim_config(600), |c| {
        c.rotate_after = Duration::from_secs(90);
    })
    .await;
    h.streaming().await;
    h.run_for(Duration::from_secs(10 * 60)).await;
    let c = h.handle.counters();
    assert!(c.rotations >= 5, "{c:?}");
    assert_eq!(c.reconnects, 0);
    assert!(
        disconnect_reasons(&h.seen).is_empty(),
        "{:?}",
        disconnect_reasons(&h.seen)
    );
    // No candle lost or doubled across the switches.
    let closed = closed_candles(&h.seen);
    assert!(closed.len() >= 9);
    for pair in closed.windows(2) {
        assert_eq!(
            pair[1].0.open_time().ms_since(pair[0].0.open_time()),
            60_000,
            "{pair:?}"
        );
    }
    assert!(
        closed.iter().all(|(_, p)| *p == Provenance::Live),
        "{closed:?}"
    );
    // The simulator saw the old sockets closed; at most two are open at any time.
    assert!(h.sim.stats().open_connections <= 2);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_candle_whose_confirmation_fails_is_backfilled_once_rest_recovers() {
    let mut h = Harness::start(sim_config(600), |c| c.rest_retry_budget = 1).await;
    h.streaming().await;
    h.wait_for(Duration::from_secs(90), |e| {
        matches!(e, MarketEvent::CandleClosed { .. })
    })
    .await;
    h.run_for(Duration::from_secs(50)).await;
    // REST is down for two minutes while the stream goes quiet past the bucket's end.
    h.sim.inject(Fault::Rest5xx {
        duration_ms: 120_000,
    });
    h.sim.inject(Fault::Silence {
        duration_ms: 20_000,
    });
    let (event, waited) = h
        .wait_for(Duration::from_secs(300), |e| {
            matches!(
                e,
                MarketEvent::CandleClosed {
                    provenance: Provenance::Backfilled,
                    ..
                }
            )
        })
        .await;
    assert!(
        waited >= Duration::from_secs(110),
        "closed while REST was down: {waited:?}"
    );
    let MarketEvent::CandleClosed { candle, .. } = event else {
        unreachable!()
    };
    assert!(h.sim.completed_candles().contains(&candle));
    let c = h.handle.counters();
    assert_eq!(c.candles_rest_confirmed, 0, "{c:?}");
    assert!(c.rest_outcome("http_5xx") >= 6, "{c:?}");
    // Nothing was closed twice, and the stream carried on meanwhile.
    let closed = closed_candles(&h.seen);
    let mut opens: Vec<_> = closed.iter().map(|(c, _)| c.open_time()).collect();
    opens.sort();
    let n = opens.len();
    opens.dedup();
    assert_eq!(n, opens.len());
    assert!(
        closed
            .iter()
            .any(|(c, p)| *p == Provenance::Live && c.open_time() > candle.open_time())
    );
    h.stop().await;
}
