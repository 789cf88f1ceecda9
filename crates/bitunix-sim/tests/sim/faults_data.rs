//! Data-stream faults: invalid values, duplicates, reordering and gaps.

use std::collections::HashMap;

use la_bitunix_sim::{BadValueKind, Fault, PriceFactor, start};
use la_core::Decimal;
use serde_json::Value;

use crate::client::{
    MINUTE, SUBSCRIBE_ALL, T0, WsClient, advance_to, candles, config, dec, get_json,
};

const KLINE: &str = "market_kline_1min";

/// Whether a kline (`is_kline`) or ticker frame shows the defect of `kind`.
fn shows(kind: BadValueKind, frame: &Value, is_kline: bool, last_ts: i64) -> bool {
    let data = &frame["data"];
    let price = if is_kline { &data["c"] } else { &data["la"] };
    let text = price.as_str().unwrap_or("");
    let ts = frame["ts"].as_i64().unwrap_or(0);
    match kind {
        BadValueKind::NaN => text == "NaN",
        BadValueKind::Infinity => text == "Infinity",
        BadValueKind::Negative => text.starts_with('-'),
        BadValueKind::Zero => text == "0",
        BadValueKind::EmptyString => price.as_str() == Some(""),
        BadValueKind::HugeString => text.len() == 100_000,
        BadValueKind::NumberNotString => price.is_number(),
        BadValueKind::MissingField => price.is_null(),
        BadValueKind::ExtraField => data.get("x").is_some(),
        BadValueKind::HighBelowLow => dec(&data["h"]) < dec(&data["l"]),
        BadValueKind::WrongSymbol => frame["symbol"] == "ETHUSDT",
        BadValueKind::FutureTimestamp => ts >= last_ts + 86_400_000 - 1_000,
        BadValueKind::BackwardsTimestamp => ts < last_ts - 1_000,
    }
}

#[tokio::test(start_paused = true)]
async fn every_bad_value_kind_yields_one_bad_kline_and_one_bad_ticker_frame() {
    let sim = start(config(60)).await.unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client.send_text(SUBSCRIBE_ALL).await;
    let (first, _) = client.next_on(KLINE).await;
    let mut last_ts = first["ts"].as_i64().unwrap();
    for kind in BadValueKind::ALL {
        sim.inject(Fault::BadValue(kind));
        let (mut bad_kline, mut bad_ticker) = (0, 0);
        for _ in 0..12 {
            let value = client.next_json().await;
            let ch = value["ch"].as_str().unwrap_or("").to_owned();
            let is_kline = ch == KLINE;
            if (is_kline || ch == "ticker") && shows(kind, &value, is_kline, last_ts) {
                if is_kline {
                    bad_kline += 1;
                } else {
                    bad_ticker += 1;
                }
            } else if is_kline {
                last_ts = value["ts"].as_i64().unwrap();
            }
        }
        assert_eq!((bad_kline, bad_ticker), (1, 1), "{kind:?}");
    }
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn duplicate_resends_the_last_frames() {
    let sim = start(config(20)).await.unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client.send_text(SUBSCRIBE_ALL).await;
    let mut seen: HashMap<String, u32> = HashMap::new();
    for _ in 0..5 {
        let (_, text) = client.next_on(KLINE).await;
        *seen.entry(text).or_default() += 1;
    }
    sim.inject(Fault::Duplicate { count: 2 });
    for _ in 0..20 {
        let (_, text) = client.next_on(KLINE).await;
        *seen.entry(text).or_default() += 1;
    }
    let repeated: Vec<u32> = seen.values().copied().filter(|n| *n > 1).collect();
    assert_eq!(
        repeated,
        vec![3],
        "one kline frame, sent once plus twice more"
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn reorder_swaps_the_next_two_kline_frames() {
    let sim = start(config(20)).await.unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client.send_text(SUBSCRIBE_ALL).await;
    client.next_on(KLINE).await;
    sim.inject(Fault::Reorder);
    let mut stamps = Vec::new();
    for _ in 0..10 {
        let (frame, _) = client.next_on(KLINE).await;
        stamps.push(frame["ts"].as_i64().unwrap());
    }
    let inversions: Vec<(i64, i64)> = stamps
        .windows(2)
        .filter(|w| w[1] < w[0])
        .map(|w| (w[0], w[1]))
        .collect();
    assert_eq!(inversions.len(), 1, "{stamps:?}");
    assert_eq!(inversions[0].0 - inversions[0].1, 500);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn gap_skips_whole_candles_on_the_websocket_but_rest_still_has_them() {
    let sim = start(config(20)).await.unwrap();
    advance_to(&sim, T0 + 2 * MINUTE + 10_000).await;
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client.send_text(SUBSCRIBE_ALL).await;
    client.next_on(KLINE).await;
    sim.inject(Fault::Gap { candles: 2 });
    let mut buckets = Vec::new();
    loop {
        let (frame, _) = client.next_on(KLINE).await;
        let ts = frame["ts"].as_i64().unwrap();
        let bucket = (ts - T0) / MINUTE;
        if buckets.last() != Some(&bucket) {
            buckets.push(bucket);
        }
        if bucket >= 6 {
            break;
        }
    }
    assert_eq!(buckets, vec![2, 5, 6]);
    let data = candles(20);
    assert_eq!(sim.skipped_candles(), data[3..5].to_vec());
    let completed: Vec<_> = sim.completed_candles();
    assert!(completed.contains(&data[2]) && completed.contains(&data[5]));
    assert!(!completed.contains(&data[3]) && !completed.contains(&data[4]));
    let body = get_json(
        sim.local_addr(),
        &format!(
            "/api/v1/futures/market/kline?symbol=BTCUSDT&interval=1m&startTime={}&endTime={}",
            T0 + 3 * MINUTE,
            T0 + 4 * MINUTE
        ),
    )
    .await;
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(dec(&rows[1]["close"]), data[3].close().get());
    assert_eq!(dec(&rows[0]["quoteVol"]), data[4].volume().get());
    assert_eq!(sim.stats().candles_skipped, 2);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn implausible_price_sends_one_bad_ticker_and_closes_the_candle_at_the_bad_price() {
    for factor in PriceFactor::ALL {
        let sim = start(config(20)).await.unwrap();
        let mut client = WsClient::connect_ready(sim.local_addr()).await;
        client.send_text(SUBSCRIBE_ALL).await;
        let (first, _) = client.next_on(KLINE).await;
        let bucket = first["ts"].as_i64().unwrap() / MINUTE * MINUTE;
        let true_close = candles(20)
            .into_iter()
            .find(|c| c.open_time().as_ms() == bucket)
            .unwrap()
            .close()
            .get();
        sim.inject(Fault::ImplausiblePrice(factor));
        let (mut bad_tickers, mut good_tickers, mut final_close) = (0, 0, None);
        while final_close.is_none() {
            let frame = client.next_json().await;
            let ts = frame["ts"].as_i64().unwrap_or(0);
            match frame["ch"].as_str() {
                Some("ticker") => {
                    let last = dec(&frame["data"]["la"]);
                    if last < Decimal::ONE_THOUSAND || last > Decimal::new(1_000_000, 0) {
                        bad_tickers += 1;
                    } else {
                        good_tickers += 1;
                    }
                }
                Some(KLINE) if ts - bucket == 59_500 => {
                    final_close = Some(dec(&frame["data"]["c"]));
                    assert!(dec(&frame["data"]["l"]) <= dec(&frame["data"]["c"]));
                    assert!(dec(&frame["data"]["h"]) >= dec(&frame["data"]["c"]));
                }
                _ => {}
            }
        }
        assert_eq!(bad_tickers, 1, "{factor:?}");
        assert!(good_tickers >= 1, "the market goes on after the bad print");
        assert_eq!(final_close, Some(factor.apply(true_close)), "{factor:?}");
        // The completed candle is the one that was sent; REST keeps the true market.
        let sent = sim.completed_candles();
        let bad = sent
            .iter()
            .find(|c| c.open_time().as_ms() == bucket)
            .unwrap();
        assert_eq!(bad.close().get(), factor.apply(true_close));
        advance_to(&sim, bucket + MINUTE).await;
        let rows = get_json(
            sim.local_addr(),
            &format!(
                "/api/v1/futures/market/kline?symbol=BTCUSDT&interval=1m&startTime={bucket}&endTime={bucket}"
            ),
        )
        .await;
        assert_eq!(dec(&rows["data"][0]["close"]), true_close, "{rows}");
        sim.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_clock_jump_skips_pushes_completes_the_skipped_candles_and_rest_serves_them() {
    let sim = start(config(600)).await.unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client.send_text(SUBSCRIBE_ALL).await;
    advance_to(&sim, T0 + 5 * MINUTE + 10_000).await;
    let (before, _) = client.next_on(KLINE).await;
    let before_ts = before["ts"].as_i64().unwrap();
    let completed_before = sim.completed_candles().len();
    sim.inject(Fault::ClockJump {
        virtual_ms: u64::try_from(120 * MINUTE).unwrap(),
    });
    assert!(
        sim.virtual_now().as_ms() >= T0 + 125 * MINUTE,
        "the clock jumped"
    );
    // After the socket's backlog from before the jump, the next kline push is on the new
    // timeline.
    let mut after_ts = before_ts;
    for _ in 0..5_000 {
        let (frame, _) = client.next_on(KLINE).await;
        after_ts = frame["ts"].as_i64().unwrap();
        if after_ts >= T0 + 125 * MINUTE {
            break;
        }
        assert!(
            after_ts < T0 + 7 * MINUTE,
            "nothing pushed for the skipped time: {after_ts}"
        );
    }
    assert!(
        after_ts >= T0 + 125 * MINUTE,
        "pushes resume at the new time"
    );
    // Every skipped candle completed on the exchange, without a push.
    let completed = sim.completed_candles();
    let data = candles(600);
    assert!(
        completed.len() - completed_before >= 118,
        "{}",
        completed.len()
    );
    for candle in &data[6..124] {
        assert!(
            completed.contains(candle),
            "{:?} not completed",
            candle.open_time()
        );
    }
    // REST serves them.
    let rows = get_json(
        sim.local_addr(),
        &format!(
            "/api/v1/futures/market/kline?symbol=BTCUSDT&interval=1m&startTime={}&endTime={}&limit=200",
            T0 + 10 * MINUTE,
            T0 + 19 * MINUTE
        ),
    )
    .await;
    assert_eq!(rows["data"].as_array().unwrap().len(), 10);
    assert_eq!(
        dec(&rows["data"][0]["close"]),
        data[19].close().get(),
        "the skipped market is the data's"
    );
    sim.shutdown().await;
}
