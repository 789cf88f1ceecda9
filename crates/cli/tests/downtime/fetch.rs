//! The catch-up's download against the simulator as the exchange: an exchange with no
//! complete candle yet means nothing was missed, not a failed download, and an answer that
//! arrives bars after the question still finds the newest candle complete when it was asked.

use std::{sync::Arc, time::Duration};

use la_bitunix_sim::{Fault, MarketData, SimConfig, SimHandle};
use la_core::{Decimal, Interval, Symbol, TimestampMs};
use la_feed_bitunix::{FeedConfig, RestClient};
use la_session::catch_up;

const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

/// A generated market of one-minute candles from T1, its clock started `start_ms` after
/// the first open, at `speed`.
async fn market(start_ms: i64, speed: f64) -> SimHandle {
    let first = TimestampMs::new(crate::support::T1).unwrap();
    la_bitunix_sim::start(SimConfig {
        data: MarketData::Generated {
            seed: 3,
            start_price: Decimal::new(40_000, 0),
            start_time: first,
            n_candles: 2_000,
        },
        start_time: Some(first.checked_add_ms(start_ms).unwrap()),
        speed,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn btc() -> Symbol {
    Symbol::normalize("BTCUSDT").unwrap()
}

/// The session's REST client for `sim`, on the simulator's clock.
fn rest_on(sim: &SimHandle) -> RestClient {
    let mut config = FeedConfig::new(btc(), Interval::M1);
    config.rest_url = sim.rest_url();
    config.ws_url = sim.ws_url();
    config.max_clock_skew = None;
    RestClient::with_clock(&config, Arc::new(sim.clock())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exchange_without_a_complete_candle_yet_has_nothing_missed_not_a_failed_download() {
    // Thirty seconds into the first candle: none has completed.
    let sim = market(30_000, 1.0).await;
    let rest = rest_on(&sim);
    let from = TimestampMs::new(crate::support::T1).unwrap();
    let data = catch_up::fetch(&rest, btc(), Interval::M1, from, WEEK)
        .await
        .unwrap_or_else(|e| panic!("an empty window is not a failure: {e}"));
    assert!(data.candles.is_empty(), "{:?}", data.candles);
    assert_eq!(data.missing, 0);
    assert_eq!(data.exchange_now, None);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_answered_bars_after_its_question_still_downloads_the_missed_candles() {
    // At 1200x a slow answer (700 ms) arrives fourteen bars after the question.
    let sim = market(600 * 60_000 + 30_000, 1200.0).await;
    let rest = rest_on(&sim);
    sim.inject(Fault::RestSlow {
        delay_ms: 700,
        duration_ms: 60_000,
    });
    let asked = sim.virtual_now();
    let from = Interval::M1.open_time_of(asked.checked_add_ms(-20 * 60_000).unwrap());
    let data = catch_up::fetch(&rest, btc(), Interval::M1, from, WEEK)
        .await
        .unwrap_or_else(|e| panic!("the download failed: {e}"));
    let answered = sim.virtual_now();
    assert!(
        answered.ms_since(asked) >= 10 * 60_000,
        "the answers came bars later"
    );
    let now = data
        .exchange_now
        .expect("the exchange's newest complete candle");
    assert!(
        now >= Interval::M1.open_time_of(asked) && now.ms_since(asked) < 5 * 60_000,
        "the newest candle complete when asked: {now:?}, asked at {asked:?}"
    );
    let expected = usize::try_from(now.ms_since(from) / 60_000).unwrap();
    assert_eq!(data.candles.len(), expected, "every missed candle");
    assert_eq!(data.candles.first().map(|c| c.open_time()), Some(from));
    assert_eq!(data.candles.last().map(|c| c.close_time()), Some(now));
    assert_eq!(data.missing, 0);
    sim.shutdown().await;
}
