//! The REST market endpoints and their quirks, as the real exchange shows them.

use hyper::StatusCode;
use la_bitunix_sim::{FundingShape, SimConfig, start};
use la_core::{Decimal, TimestampMs};
use serde_json::{Value, json};

use crate::client::{MINUTE, T0, advance_to, candles, config, dec, get, get_json};

const KLINE: &str = "/api/v1/futures/market/kline?symbol=BTCUSDT&interval=1m";

/// A sim whose clock starts 300 candles into 400, so there is REST history.
fn with_history() -> SimConfig {
    SimConfig {
        start_time: Some(TimestampMs::new(T0 + 300 * MINUTE + 10_000).unwrap()),
        ..config(400)
    }
}

#[tokio::test(start_paused = true)]
async fn kline_rows_are_newest_first_strings_with_swapped_volumes_capped_at_200() {
    let sim = start(with_history()).await.unwrap();
    let body = get_json(sim.local_addr(), &format!("{KLINE}&limit=1000")).await;
    assert_eq!(body["code"], 0);
    assert_eq!(body["msg"], "Success");
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 200);
    let data = candles(400);
    for (k, row) in rows.iter().enumerate() {
        let row = row.as_object().unwrap();
        assert!(row.values().all(Value::is_string), "{row:?}");
        // Newest first: the bar in progress (index 300) is not included.
        let candle = data[299 - k];
        assert_eq!(row["time"], candle.open_time().as_ms().to_string());
        assert_eq!(dec(&row["open"]), candle.open().get());
        assert_eq!(dec(&row["high"]), candle.high().get());
        assert_eq!(dec(&row["low"]), candle.low().get());
        assert_eq!(dec(&row["close"]), candle.close().get());
        // Swapped labels: quoteVol is the base volume, baseVol the quote turnover.
        assert_eq!(dec(&row["quoteVol"]), candle.volume().get());
        let turnover = dec(&row["baseVol"]);
        assert!(turnover > candle.volume().get() * candle.low().get() - Decimal::ONE);
        assert!(turnover < candle.volume().get() * candle.high().get() + Decimal::ONE);
    }
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn kline_default_limit_is_100_and_completed_bars_appear_as_time_passes() {
    let sim = start(with_history()).await.unwrap();
    let first = get_json(sim.local_addr(), KLINE).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 100);
    assert_eq!(first["data"][0]["time"], (T0 + 299 * MINUTE).to_string());
    advance_to(&sim, T0 + 301 * MINUTE).await;
    let later = get_json(sim.local_addr(), KLINE).await;
    assert_eq!(later["data"][0]["time"], (T0 + 300 * MINUTE).to_string());
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn kline_includes_the_forming_bar_when_configured() {
    let sim = start(SimConfig {
        include_forming_bar: true,
        ..with_history()
    })
    .await
    .unwrap();
    let body = get_json(sim.local_addr(), &format!("{KLINE}&limit=2")).await;
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows[0]["time"], (T0 + 300 * MINUTE).to_string());
    assert_eq!(rows[1]["time"], (T0 + 299 * MINUTE).to_string());
    let forming = candles(400)[300];
    assert_eq!(dec(&rows[0]["open"]), forming.open().get());
    assert!(dec(&rows[0]["quoteVol"]) < forming.volume().get());
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn kline_start_and_end_times_are_inclusive() {
    let sim = start(with_history()).await.unwrap();
    let (start_ms, end_ms) = (T0 + 10 * MINUTE, T0 + 14 * MINUTE);
    let both = get_json(
        sim.local_addr(),
        &format!("{KLINE}&startTime={start_ms}&endTime={end_ms}"),
    )
    .await;
    let times: Vec<&str> = both["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["time"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (10..=14)
        .rev()
        .map(|i| (T0 + i * MINUTE).to_string())
        .collect();
    assert_eq!(times, expected);
    let from_start = get_json(
        sim.local_addr(),
        &format!("{KLINE}&startTime={start_ms}&limit=3"),
    )
    .await;
    let rows = from_start["data"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["time"], (T0 + 12 * MINUTE).to_string());
    assert_eq!(rows[2]["time"], start_ms.to_string());
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn kline_aggregates_coarser_intervals_from_the_data() {
    let sim = start(with_history()).await.unwrap();
    let body = get_json(
        sim.local_addr(),
        "/api/v1/futures/market/kline?symbol=BTCUSDT&interval=5m&limit=2",
    )
    .await;
    let rows = body["data"].as_array().unwrap();
    // Bars 295..300 is the last complete 5m bar before 300:10.
    assert_eq!(rows[0]["time"], (T0 + 295 * MINUTE).to_string());
    let parts = &candles(400)[295..300];
    assert_eq!(dec(&rows[0]["open"]), parts[0].open().get());
    assert_eq!(dec(&rows[0]["close"]), parts[4].close().get());
    let high = parts.iter().map(|c| c.high().get()).max().unwrap();
    let volume: Decimal = parts.iter().map(|c| c.volume().get()).sum();
    assert_eq!(dec(&rows[0]["high"]), high);
    assert_eq!(dec(&rows[0]["quoteVol"]), volume);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn past_10_requests_per_second_rest_answers_10006_on_http_200() {
    let sim = start(with_history()).await.unwrap();
    let path = "/api/v1/futures/market/trading_pairs?symbols=BTCUSDT";
    for _ in 0..10 {
        assert_eq!(get_json(sim.local_addr(), path).await["code"], 0);
    }
    let (status, headers, body) = get(sim.local_addr(), path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("retry-after").is_none());
    assert_eq!(
        body,
        r#"{"code":10006,"data":null,"msg":"Request too frequently"}"#
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    assert_eq!(get_json(sim.local_addr(), path).await["code"], 0);
    let stats = sim.stats();
    assert_eq!(
        stats.rest_requests["/api/v1/futures/market/trading_pairs"]["ok"],
        11
    );
    assert_eq!(
        stats.rest_requests["/api/v1/futures/market/trading_pairs"]["code_10006"],
        1
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn errors_use_the_exchange_envelope_on_http_200() {
    let sim = start(with_history()).await.unwrap();
    let addr = sim.local_addr();
    let cases = [
        (
            "/api/v1/futures/market/depth?symbol=NOPEUSDT&limit=5",
            r#"{"code":20015,"data":null,"msg":"this Futures is not allowed to trade."}"#,
        ),
        (
            "/api/v1/futures/market/funding_rate?symbol=NOPEUSDT",
            r#"{"code":20015,"data":null,"msg":"this Futures is not allowed to trade."}"#,
        ),
        ("/nope", r#"{"code":404,"data":null,"msg":"Not Found"}"#),
        (
            "/api/v1/futures/market/depth?symbol=BTCUSDT&limit=20",
            r#"{"code":10008,"data":null,"msg":"Parameter 20 does not match, alternative value [\"1\",\"5\",\"15\",\"50\",\"max\"]."}"#,
        ),
        (
            "/api/v1/futures/market/depth",
            r#"{"code":1,"data":null,"msg":"Network Error"}"#,
        ),
    ];
    for (path, expected) in cases {
        let (status, _, body) = get(addr, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body, expected, "{path}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn funding_rate_is_percent_with_the_next_8h_boundary_as_object_or_array() {
    for shape in [FundingShape::Object, FundingShape::Array] {
        let sim = start(SimConfig {
            funding_shape: shape,
            ..with_history()
        })
        .await
        .unwrap();
        let body = get_json(
            sim.local_addr(),
            "/api/v1/futures/market/funding_rate?symbol=BTCUSDT",
        )
        .await;
        let row = match shape {
            FundingShape::Object => body["data"].clone(),
            FundingShape::Array => {
                assert_eq!(body["data"].as_array().unwrap().len(), 1);
                body["data"][0].clone()
            }
        };
        assert_eq!(row["symbol"], "BTCUSDT");
        // The upcoming rate: the one that settles at the next funding time, in percent.
        let next = TimestampMs::new(T0 + 8 * 3_600_000).unwrap();
        assert_eq!(
            dec(&row["fundingRate"]),
            sim.settled_funding_rate(next) * Decimal::ONE_HUNDRED
        );
        assert_eq!(row["fundingInterval"], 8);
        assert_eq!(row["nextFundingTime"], (T0 + 8 * 3_600_000).to_string());
        for key in [
            "markPrice",
            "lastPrice",
            "indexPrice",
            "maxFundingRate",
            "minFundingRate",
        ] {
            assert!(row[key].is_string(), "{key}: {row}");
        }
        assert_eq!(dec(&row["lastPrice"]), dec(&row["markPrice"]));
        sim.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn trading_pairs_is_the_documented_btcusdt_row_without_tick_size() {
    let sim = start(with_history()).await.unwrap();
    let body = get_json(
        sim.local_addr(),
        "/api/v1/futures/market/trading_pairs?symbols=BTCUSDT",
    )
    .await;
    let expected = json!([{"symbol":"BTCUSDT","base":"BTC","quote":"USDT","minTradeVolume":"0.0001","minBuyPriceOffset":"-0.95","maxSellPriceOffset":"100","maxLimitOrderVolume":"100000","maxMarketOrderVolume":"50000","basePrecision":4,"quotePrecision":1,"minLeverage":1,"maxLeverage":125,"defaultLeverage":20,"defaultMarginMode":1,"priceProtectScope":"0.02","symbolStatus":"OPEN"}]);
    assert_eq!(body["data"], expected);
    let unknown = get_json(
        sim.local_addr(),
        "/api/v1/futures/market/trading_pairs?symbols=ETHUSDT",
    )
    .await;
    assert_eq!(unknown["code"], 20015);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn tickers_and_depth_return_string_rows() {
    let sim = start(with_history()).await.unwrap();
    let tickers = get_json(
        sim.local_addr(),
        "/api/v1/futures/market/tickers?symbols=BTCUSDT,ETHUSDT",
    )
    .await;
    let row = tickers["data"][0].as_object().unwrap();
    assert_eq!(row["symbol"], "BTCUSDT");
    for key in [
        "markPrice",
        "lastPrice",
        "open",
        "last",
        "quoteVol",
        "baseVol",
        "high",
        "low",
    ] {
        assert!(row[key].is_string(), "{key}");
    }
    let depth = get_json(
        sim.local_addr(),
        "/api/v1/futures/market/depth?symbol=BTCUSDT&limit=15",
    )
    .await;
    let (bids, asks) = (
        depth["data"]["bids"].as_array().unwrap(),
        depth["data"]["asks"].as_array().unwrap(),
    );
    assert_eq!((bids.len(), asks.len()), (15, 15));
    assert!(dec(&bids[0][0]) > dec(&bids[1][0]), "bids descending");
    assert!(dec(&asks[0][0]) < dec(&asks[1][0]), "asks ascending");
    assert!(dec(&bids[0][0]) < dec(&asks[0][0]));
    sim.shutdown().await;
}

const HISTORY: &str = "/api/v1/futures/market/get_funding_rate_history?symbol=BTCUSDT";
const PERIOD: i64 = 8 * 3_600_000;

#[tokio::test(start_paused = true)]
async fn funding_history_lists_settled_fractions_newest_first_with_the_docs_spelling() {
    // 2000 one-minute candles from 2024-01-01 00:00 (33 h); the clock at 30 h has passed the
    // funding times at 0, 8, 16 and 24 h.
    let sim = start(SimConfig {
        start_time: Some(TimestampMs::new(T0 + 30 * 60 * MINUTE).unwrap()),
        ..config(2000)
    })
    .await
    .unwrap();
    let addr = sim.local_addr();
    let body = get_json(addr, HISTORY).await;
    let rows = body["data"].as_array().unwrap();
    let times: Vec<String> = rows
        .iter()
        .map(|r| r["fundingTime"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = [3, 2, 1, 0]
        .iter()
        .map(|k| (T0 + k * PERIOD).to_string())
        .collect();
    assert_eq!(times, expected, "newest first, none in the future");
    let mut previous = None;
    for row in rows {
        let t = TimestampMs::new(row["fundingTime"].as_str().unwrap().parse().unwrap()).unwrap();
        // A fraction, not percent: the rate the price channel shows from `t` on.
        let rate = dec(&row["fundingRate"]);
        assert_eq!(rate, sim.settled_funding_rate(t));
        assert!(rate.abs() < Decimal::new(1, 3), "{rate} is a fraction");
        assert!(dec(&row["markPrice"]) > Decimal::ZERO);
        assert_ne!(Some(rate), previous, "consecutive periods differ");
        previous = Some(rate);
    }
    // `starTime` (the documented spelling) and `endTime` bound the range inclusively.
    let ranged = get_json(
        addr,
        &format!(
            "{HISTORY}&starTime={}&endTime={}",
            T0 + PERIOD,
            T0 + 2 * PERIOD
        ),
    )
    .await;
    let ranged: Vec<&str> = ranged["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fundingTime"].as_str().unwrap())
        .collect();
    assert_eq!(
        ranged,
        [(T0 + 2 * PERIOD).to_string(), (T0 + PERIOD).to_string()]
    );
    let limited = get_json(addr, &format!("{HISTORY}&limit=1")).await;
    assert_eq!(
        limited["data"][0]["fundingTime"],
        (T0 + 3 * PERIOD).to_string()
    );
    assert_eq!(limited["data"].as_array().unwrap().len(), 1);
    // The price channel and the REST upcoming rate read the same series.
    let now = get_json(addr, "/api/v1/futures/market/funding_rate?symbol=BTCUSDT").await;
    assert_eq!(
        dec(&now["data"]["fundingRate"]),
        sim.settled_funding_rate(TimestampMs::new(T0 + 4 * PERIOD).unwrap()) * Decimal::ONE_HUNDRED
    );
    let unknown = get_json(
        addr,
        "/api/v1/futures/market/get_funding_rate_history?symbol=NOPEUSDT",
    )
    .await;
    assert_eq!(unknown["code"], 20015);
    sim.shutdown().await;
}
