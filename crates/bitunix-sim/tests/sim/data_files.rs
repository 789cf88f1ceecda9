//! Serving CSV data files: a generated `.gz` with bad rows, and the real recorded candles
//! in `../shared/data` (which must exist: this test fails loudly if the folder is missing).

use std::{io::Write, path::PathBuf};

use la_bitunix_sim::{MarketData, SimConfig, start};
use la_core::TimestampMs;

use crate::client::{SUBSCRIBE_ALL, WsClient, dec, get_json};

const REAL_FILE: &str = "candles/binance_spot_btcusdt_1m_2024-09-21.csv";

fn shared_data_dir() -> PathBuf {
    la_shared_data::dir()
}

#[tokio::test(start_paused = true)]
async fn a_gzipped_csv_with_bad_rows_is_served_and_the_rows_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("candles.csv.gz");
    let t0: i64 = 1_726_876_800_000;
    let mut text = String::from("ts_ms,open,high,low,close,volume\n");
    for i in 0..30 {
        let t = t0 + i * 60_000;
        let o = 63_000 + i;
        text.push_str(&format!(
            "{t},{o}.5,{}.25,{}.75,{o}.5,1.{i:02}\n",
            o + 3,
            o - 3
        ));
        if i == 7 {
            text.push_str(&format!("{t},Infinity,1,1,1,1\n"));
            text.push_str("garbage line\n");
        }
    }
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap();
    let sim = start(SimConfig {
        data: MarketData::Csv(path),
        start_time: Some(TimestampMs::new(t0 + 10 * 60_000).unwrap()),
        idle_drop_ms: 86_400_000,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let stats = sim.stats();
    assert_eq!(stats.data_rows_skipped, 2);
    assert_eq!(stats.data_skip_reasons["open:infinite"], 1);
    assert_eq!(stats.data_skip_reasons["wrong_column_count"], 1);
    let body = get_json(
        sim.local_addr(),
        "/api/v1/futures/market/kline?symbol=BTCUSDT&interval=1m&limit=3",
    )
    .await;
    assert_eq!(body["data"][0]["time"], (t0 + 9 * 60_000).to_string());
    assert_eq!(body["data"][0]["high"], "63012.25");
    assert_eq!(body["data"][0]["quoteVol"], "1.09");
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_real_recorded_day_of_candles_is_served_exactly() {
    let dir = shared_data_dir();
    assert!(
        dir.is_dir(),
        "the shared data folder {} is missing: this test needs the real recorded candles",
        dir.display()
    );
    let path = dir.join(REAL_FILE);
    assert!(path.is_file(), "{} is missing", path.display());
    let sim = start(SimConfig {
        data: MarketData::Csv(path.clone()),
        speed: 60.0,
        idle_drop_ms: 86_400_000,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(sim.stats().data_rows_skipped, 0);
    assert_eq!(sim.stats().data_holes_filled, 0);
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client.send_text(SUBSCRIBE_ALL).await;
    loop {
        let (frame, _) = client.next_on("market_kline_1min").await;
        if frame["ts"].as_i64().unwrap() >= 1_726_876_800_000 + 3 * 60_000 {
            break;
        }
    }
    let file = std::fs::read_to_string(&path).unwrap();
    let rows: Vec<Vec<&str>> = file
        .lines()
        .skip(1)
        .take(3)
        .map(|l| l.split(',').collect())
        .collect();
    let completed = sim.completed_candles();
    assert_eq!(completed.len(), 3);
    for (row, candle) in rows.iter().zip(&completed) {
        assert_eq!(candle.open_time().as_ms().to_string(), row[0]);
        assert_eq!(candle.high().get(), row[2].parse().unwrap());
        assert_eq!(candle.volume().get(), row[5].parse().unwrap());
    }
    let body = get_json(
        sim.local_addr(),
        "/api/v1/futures/market/kline?symbol=BTCUSDT&interval=1m&limit=3",
    )
    .await;
    assert_eq!(body["data"][2]["time"], rows[0][0]);
    assert_eq!(dec(&body["data"][2]["low"]), rows[0][3].parse().unwrap());
    sim.shutdown().await;
}
