//! Unit tests for data loading: CSV parsing with bad rows, gzip, hole filling, and the
//! generator's determinism and validity.

use std::io::Write;

use la_core::{Decimal, Interval, TimestampMs};

use super::*;

const T0: i64 = 1_704_067_200_000;

fn write_csv(dir: &tempfile::TempDir, name: &str, text: &str, gz: bool) -> std::path::PathBuf {
    let path = dir.path().join(name);
    let file = std::fs::File::create(&path).unwrap();
    if gz {
        let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
    } else {
        let mut file = file;
        file.write_all(text.as_bytes()).unwrap();
    }
    path
}

#[test]
fn gzip_csv_loads_and_bad_rows_are_counted_by_reason() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "ts_ms,open,high,low,close,volume\n\
         {t0},100.5,101,100,100.8,1.5\n\
         {t1},NaN,101,100,100.8,1.5\n\
         {t1},100.8,100,101,100.9,1.5\n\
         {t1},100.8,101.2,100.1,101,2\n\
         {t1},100.8,101.2,100.1,101,2\n\
         {bad_align},100,101,99,100,1\n\
         only,three,fields\n\
         {t2},101,101.5,100.9,101.4,0.25\n",
        t0 = T0,
        t1 = T0 + 60_000,
        t2 = T0 + 120_000,
        bad_align = T0 + 150_001,
    );
    let path = write_csv(&dir, "c.csv.gz", &text, true);
    let loaded = load(&MarketData::Csv(path), Interval::M1).unwrap();
    assert_eq!(loaded.candles.len(), 3);
    assert_eq!(loaded.rows_skipped, 5);
    assert_eq!(loaded.skip_reasons.get("open:not_a_number"), Some(&1));
    assert_eq!(loaded.skip_reasons.get("high:ohlc_inconsistent"), Some(&1));
    assert_eq!(loaded.skip_reasons.get("not_increasing"), Some(&1));
    assert_eq!(loaded.skip_reasons.get("open_time:misaligned"), Some(&1));
    assert_eq!(loaded.skip_reasons.get("wrong_column_count"), Some(&1));
    assert_eq!(loaded.candles[1].close().get(), Decimal::new(101, 0));
    assert_eq!(loaded.holes_filled, 0);
}

#[test]
fn a_row_with_its_open_outside_the_range_is_kept_widened_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    // The real Bitunix row (open = the previous close, above this bar's high), then a row
    // whose close lies outside its range, which no convention explains.
    let text = format!(
        "ts_ms,open,high,low,close,volume\n\
         {t0},76389,76383.1,76269.8,76345.5,35.6805\n\
         {t1},76345.5,76400,76300,76500,1\n",
        t0 = T0,
        t1 = T0 + 60_000,
    );
    let path = write_csv(&dir, "bitunix.csv", &text, false);
    let loaded = load(&MarketData::Csv(path), Interval::M1).unwrap();
    assert_eq!(loaded.candles.len(), 1);
    let bar = loaded.candles[0];
    assert_eq!(
        (bar.open(), bar.high()),
        (bar.open(), "76389".parse().unwrap())
    );
    assert_eq!(bar.low().get(), Decimal::new(762_698, 1));
    assert_eq!(loaded.rows_normalized.get("open_outside_range"), Some(&1));
    assert_eq!(loaded.skip_reasons.get("close:ohlc_inconsistent"), Some(&1));
}

#[test]
fn holes_are_filled_with_flat_zero_volume_candles() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "ts_ms,open,high,low,close,volume\n{},10,12,9,11,1\n{},11,11.5,10.5,11.2,1\n",
        T0,
        T0 + 180_000
    );
    let path = write_csv(&dir, "holes.csv", &text, false);
    let loaded = load(&MarketData::Csv(path), Interval::M1).unwrap();
    assert_eq!(loaded.candles.len(), 4);
    assert_eq!(loaded.holes_filled, 2);
    let flat = loaded.candles[1];
    assert_eq!(flat.open_time().as_ms(), T0 + 60_000);
    assert_eq!(flat.open().get(), Decimal::new(11, 0));
    assert_eq!(flat.high(), flat.low());
    assert!(flat.volume().get().is_zero());
}

#[test]
fn a_file_with_no_valid_rows_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_csv(
        &dir,
        "bad.csv",
        "ts_ms,open,high,low,close,volume\nx,y\n",
        false,
    );
    let error = load(&MarketData::Csv(path), Interval::M1).unwrap_err();
    assert!(matches!(error, SimError::Data(_)), "{error}");
}

#[test]
fn a_missing_file_is_an_io_error_naming_the_path() {
    let error = load(&MarketData::Csv("/nonexistent/x.csv".into()), Interval::M1).unwrap_err();
    assert!(error.to_string().contains("/nonexistent/x.csv"), "{error}");
}

#[test]
fn generated_data_is_deterministic_valid_and_on_the_tick_grid() {
    let spec = MarketData::Generated {
        seed: 7,
        start_price: Decimal::new(60_000, 0),
        start_time: TimestampMs::new(T0 + 17).unwrap(),
        n_candles: 2_000,
    };
    let a = load(&spec, Interval::M1).unwrap().candles;
    let b = load(&spec, Interval::M1).unwrap().candles;
    assert_eq!(a, b);
    assert_eq!(a.len(), 2_000);
    assert_eq!(a[0].open_time().as_ms(), T0);
    assert_eq!(a[0].open().get(), Decimal::new(60_000, 0));
    for pair in a.windows(2) {
        assert_eq!(
            pair[1].open_time().as_ms() - pair[0].open_time().as_ms(),
            60_000
        );
        assert_eq!(pair[1].open(), pair[0].close());
    }
    for candle in &a {
        assert!(candle.volume().get() > Decimal::ZERO);
        for price in [candle.open(), candle.high(), candle.low(), candle.close()] {
            assert!(price.get().normalize().scale() <= 1, "{price}");
        }
    }
    let other = MarketData::Generated {
        seed: 8,
        start_price: Decimal::new(60_000, 0),
        start_time: TimestampMs::new(T0).unwrap(),
        n_candles: 50,
    };
    assert_ne!(load(&other, Interval::M1).unwrap().candles[..50], a[..50]);
}

#[test]
fn given_candles_of_another_interval_are_rejected() {
    let spec = MarketData::Generated {
        seed: 1,
        start_price: Decimal::new(100, 0),
        start_time: TimestampMs::new(T0).unwrap(),
        n_candles: 3,
    };
    let candles = load(&spec, Interval::M1).unwrap().candles;
    let error = load(&MarketData::Candles(candles), Interval::M5).unwrap_err();
    assert!(matches!(error, SimError::Data(_)));
}
