//! The REST client against the simulator: paging, quirks, rate limits, 5xx, typed errors.

use std::{sync::Arc, time::Duration};

use la_bitunix_sim::{Fault, FundingShape};
use la_core::{Decimal, Interval, Symbol};
use la_feed_bitunix::{FeedError, RestClient, SymbolStatus};
use tokio::time::Instant;

use crate::support::{MIN, SimClock, T0, btc, feed_config, sim_config, ts};

async fn client(
    sim_tweak: impl FnOnce(&mut la_bitunix_sim::SimConfig),
    tweak: impl FnOnce(&mut la_feed_bitunix::FeedConfig),
) -> (la_bitunix_sim::SimHandle, RestClient) {
    let mut config = sim_config(2000);
    // Start the virtual clock late so there is history to page through.
    config.start_time = Some(ts(T0 + 1000 * MIN + 30_000));
    sim_tweak(&mut config);
    let sim = la_bitunix_sim::start(config).await.unwrap();
    let mut feed = feed_config(&sim);
    feed.rest_retry_budget = 10;
    tweak(&mut feed);
    let rest = RestClient::with_clock(&feed, Arc::new(SimClock::of(&sim, 1.0))).unwrap();
    (sim, rest)
}

#[tokio::test(start_paused = true)]
async fn klines_back_pages_backwards_without_gaps_or_the_forming_bar() {
    let (sim, rest) = client(|c| c.include_forming_bar = true, |_| {}).await;
    let now = sim.virtual_now();
    let candles = rest
        .klines_back(btc(), Interval::M1, 450, now)
        .await
        .unwrap();
    assert_eq!(candles.len(), 450);
    // Oldest first, contiguous, ending with the last complete minute.
    for pair in candles.windows(2) {
        assert_eq!(pair[1].open_time().ms_since(pair[0].open_time()), MIN);
    }
    let last = candles.last().unwrap();
    assert!(last.close_time() <= now, "forming bar leaked: {last:?}");
    assert_eq!(last.open_time(), ts(T0 + 999 * MIN));
    // 450 candles need three pages of at most 200.
    let stats = sim.stats();
    let ok = stats.rest_requests["/api/v1/futures/market/kline"]["ok"];
    assert_eq!(ok, 3, "{stats:?}");
    let page = rest.klines(btc(), Interval::M1, 5, None).await.unwrap();
    assert_eq!(page.len(), 5);
    assert_eq!(page.last(), candles.last());
    let range = rest
        .klines_range(
            btc(),
            Interval::M1,
            ts(T0 + 10 * MIN),
            ts(T0 + 20 * MIN),
            now,
        )
        .await
        .unwrap();
    assert_eq!(range.len(), 10);
    assert_eq!(range[0].open_time(), ts(T0 + 10 * MIN));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn three_minute_klines_are_built_from_minutes() {
    let (sim, rest) = client(|_| {}, |_| {}).await;
    let now = sim.virtual_now();
    let candles = rest
        .klines_back(btc(), Interval::M3, 10, now)
        .await
        .unwrap();
    assert_eq!(candles.len(), 10);
    let direct = rest
        .klines_range(
            btc(),
            Interval::M1,
            candles[0].open_time(),
            candles[0].close_time(),
            now,
        )
        .await
        .unwrap();
    assert_eq!(direct.len(), 3);
    assert_eq!(candles[0].open(), direct[0].open());
    assert_eq!(candles[0].close(), direct[2].close());
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn funding_trading_pair_and_last_price_are_typed() {
    for shape in [FundingShape::Object, FundingShape::Array] {
        let (sim, rest) = client(|c| c.funding_shape = shape, |_| {}).await;
        let funding = rest.funding_rate(btc()).await.unwrap();
        // The upcoming rate, percent on the wire → a fraction.
        let next = funding.next_funding_time.unwrap();
        assert_eq!(funding.rate, sim.settled_funding_rate(next), "{shape:?}");
        assert!(
            funding.rate.abs() < Decimal::new(1, 3),
            "a fraction: {shape:?}"
        );
        let info = rest.trading_pair(btc()).await.unwrap();
        assert_eq!(info.tick_size.get(), Decimal::new(1, 1));
        assert_eq!(info.qty_step.get(), Decimal::new(1, 4));
        assert_eq!(info.min_qty.get(), Decimal::new(1, 4));
        assert_eq!(info.status, SymbolStatus::Open);
        let last = rest.last_price(btc()).await.unwrap();
        assert!(last.get() > Decimal::ZERO);
        let eth = Symbol::new("ETHUSDT").unwrap();
        match rest.funding_rate(eth).await {
            Err(FeedError::Api { code: 20015, .. }) => {}
            other => panic!("{other:?}"),
        }
        sim.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn rest_rate_limit_10006_backs_off_and_never_exceeds_10_per_second() {
    let (sim, rest) = client(|_| {}, |_| {}).await;
    // Part 1: the exchange answers 10006 for 3 s; the request backs off and succeeds after.
    sim.inject(Fault::RestRateLimit {
        duration_ms: 3_000,
        http_429: false,
    });
    let start = Instant::now();
    rest.last_price(btc()).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    let limited = rest.counters().rest_outcome("rate_limited");
    assert!(limited >= 2, "{:?}", rest.counters());
    let refused_by_fault =
        sim.stats().rest_requests["/api/v1/futures/market/tickers"]["code_10006"];
    assert_eq!(refused_by_fault, limited);
    // Part 2: 60 concurrent requests. The simulator answers 10006 past 10 requests in any
    // sliding second; it never has to.
    let start = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..60 {
        let rest = rest.clone();
        calls.spawn(async move { rest.last_price(btc()).await });
    }
    while let Some(result) = calls.join_next().await {
        result.unwrap().unwrap();
    }
    assert!(
        start.elapsed() >= Duration::from_millis(5_900),
        "{:?}",
        start.elapsed()
    );
    let stats = sim.stats();
    assert_eq!(
        stats.rest_requests["/api/v1/futures/market/tickers"]["code_10006"], refused_by_fault,
        "the client exceeded 10 requests/s: {stats:?}"
    );
    assert_eq!(rest.counters().rest_outcome("ok"), 61);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn http_429_is_treated_as_rate_limit() {
    let (sim, rest) = client(|_| {}, |_| {}).await;
    sim.inject(Fault::RestRateLimit {
        duration_ms: 2_000,
        http_429: true,
    });
    let candles = rest.klines(btc(), Interval::M1, 10, None).await.unwrap();
    assert_eq!(candles.len(), 10);
    let counters = rest.counters();
    assert!(counters.rest_outcome("rate_limited") >= 1, "{counters:?}");
    assert_eq!(
        sim.stats().rest_requests["/api/v1/futures/market/kline"]["http_429"],
        counters.rest_outcome("rate_limited")
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn rest_5xx_html_body_is_retried_then_typed_error() {
    // A short outage is ridden out by the retries.
    let (sim, rest) = client(|_| {}, |_| {}).await;
    sim.inject(Fault::Rest5xx { duration_ms: 1_500 });
    rest.trading_pair(btc()).await.unwrap();
    assert!(rest.counters().rest_outcome("http_5xx") >= 1);
    sim.shutdown().await;
    // A long one exhausts the budget and ends in a typed error.
    let (sim, rest) = client(|_| {}, |c| c.rest_retry_budget = 2).await;
    sim.inject(Fault::Rest5xx {
        duration_ms: 600_000,
    });
    match rest.trading_pair(btc()).await {
        Err(FeedError::Http { status }) => assert!(status == 502 || status == 503, "{status}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        rest.counters().rest_outcome("http_5xx"),
        3,
        "one try and two retries"
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn slow_rest_answers_time_out_with_a_typed_error() {
    let (sim, rest) = client(
        |_| {},
        |c| {
            c.rest_retry_budget = 1;
            c.rest_timeout = Duration::from_secs(2);
        },
    )
    .await;
    sim.inject(Fault::RestSlow {
        delay_ms: 5_000,
        duration_ms: 600_000,
    });
    match rest.last_price(btc()).await {
        Err(FeedError::Timeout(_)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(rest.counters().rest_outcome("timeout"), 2);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_feeds_rest_client_shares_its_limiter_and_counters() {
    let mut h = crate::support::Harness::start(sim_config(600), |_| {}).await;
    h.streaming().await;
    let rest = h.handle.rest();
    let start = Instant::now();
    for _ in 0..11 {
        rest.trading_pair(btc()).await.unwrap();
    }
    // 11 sequential requests through the shared 10/s limiter take at least a second.
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(h.handle.counters().rest_outcome("ok"), 11);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn funding_history_is_paged_backwards_and_matches_the_simulators_series() {
    // 40 days of one-minute candles: 120 funding times, more than one 100-row page.
    let period = 8 * 60 * MIN;
    let (sim, rest) = client(
        |c| {
            c.data = la_bitunix_sim::MarketData::Generated {
                seed: 11,
                start_price: Decimal::new(60_000, 0),
                start_time: ts(T0),
                n_candles: 40 * 1440,
            };
            c.start_time = Some(ts(T0 + 39 * 1440 * MIN + 30_000));
        },
        |_| {},
    )
    .await;
    let from = ts(T0 + period);
    let to = ts(T0 + 116 * period);
    let settled = rest.funding_rate_history(btc(), from, to).await.unwrap();
    let times: Vec<_> = settled.iter().map(|s| s.funding_time).collect();
    let expected: Vec<_> = (1..=116).map(|k| ts(T0 + k * period)).collect();
    assert_eq!(
        times, expected,
        "oldest first, inclusive bounds, no gap between pages"
    );
    for row in &settled {
        assert_eq!(row.rate, sim.settled_funding_rate(row.funding_time));
        assert!(row.mark_price.is_some());
    }
    let ok = sim.stats().rest_requests["/api/v1/futures/market/get_funding_rate_history"]["ok"];
    assert_eq!(ok, 2, "116 rows take two pages of 100");
    // An empty or reversed range asks nothing.
    assert!(
        rest.funding_rate_history(btc(), to, from)
            .await
            .unwrap()
            .is_empty()
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_newest_klines_are_those_complete_when_asked_though_the_answer_comes_bars_later() {
    // At 600x a one-second answer arrives ten bars after the question: the bars the exchange
    // holds by then are all newer than the moment asked, and would all be dropped as forming.
    let speed = 600.0;
    let mut config = sim_config(2000);
    config.start_time = Some(ts(T0 + 1000 * MIN + 30_000));
    config.speed = speed;
    let sim = la_bitunix_sim::start(config).await.unwrap();
    let rest =
        RestClient::with_clock(&feed_config(&sim), Arc::new(SimClock::of(&sim, speed))).unwrap();
    sim.inject(Fault::RestSlow {
        delay_ms: 1_000,
        duration_ms: 600_000,
    });
    let asked = sim.virtual_now();
    let newest = rest.klines(btc(), Interval::M1, 5, None).await.unwrap();
    assert!(
        sim.virtual_now().ms_since(asked) >= 9 * MIN,
        "the answer came bars later"
    );
    assert_eq!(newest.len(), 5, "{newest:?}");
    let last = newest.last().unwrap();
    assert_eq!(
        last.open_time(),
        ts(T0 + 999 * MIN),
        "the last bar complete when asked"
    );
    assert!(last.close_time() <= asked);
    sim.shutdown().await;
}
