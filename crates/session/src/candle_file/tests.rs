//! The candle-file reader on real-shaped rows: the documented normalisation and the
//! rejections it keeps.

use std::io::Write;

use la_core::{Interval, Price};

use super::load_candles;

fn price(text: &str) -> Price {
    text.parse().expect("test price")
}

#[test]
fn an_open_outside_the_range_is_kept_widened_and_counted_while_bad_rows_are_rejected() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    // The real Bitunix row (open = the previous close, above this bar's high), a row whose
    // close lies outside its range, one with high below low, and a consistent row.
    write!(
        file,
        "ts_ms,open,high,low,close,volume\n\
         1789482180000,76389,76383.1,76269.8,76345.5,35.6805\n\
         1789482240000,76345.5,76400,76300,76500,1\n\
         1789482300000,76345.5,76300,76400,76350,1\n\
         1789482360000,76345.5,76400,76300,76350,1\n"
    )
    .expect("write");
    let loaded = load_candles(file.path(), Interval::M1).expect("readable");
    assert_eq!(loaded.candles.len(), 2);
    let bar = loaded.candles[0];
    assert_eq!(
        [bar.open(), bar.high(), bar.low(), bar.close()],
        [
            price("76389"),
            price("76389"),
            price("76269.8"),
            price("76345.5")
        ]
    );
    assert_eq!(
        loaded.quality.normalized.get("open_outside_range"),
        Some(&1)
    );
    assert_eq!(loaded.quality.rejected["ohlc_inconsistent"].count, 2);
    assert_eq!(
        loaded.quality.rejected["ohlc_inconsistent"].first_lines,
        [3, 4]
    );
}

/// 2023-11-14 22:15 UTC, on every interval's grid up to 15 minutes.
const BASE: i64 = 1_700_000_100_000;

fn file_with(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(text.as_bytes()).expect("write");
    file
}

fn data_error(text: &str, interval: Interval) -> String {
    let file = file_with(text);
    match load_candles(file.path(), interval) {
        Err(crate::error::SessionError::Data { message, .. }) => message,
        other => panic!("expected a data error, got {other:?}"),
    }
}

const MONTH: &str = "candles/binance_spot_btcusdt_1m_2021-04-20_2021-05-20.csv.gz";

/// The first `take` data rows of the recorded month after skipping `skip`, with the header.
fn month_rows(skip: usize, take: usize) -> String {
    let path = la_shared_data::path(MONTH);
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(path).expect("open")),
        &mut text,
    )
    .expect("gunzip");
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().expect("header"));
    for line in lines.skip(skip).take(take) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// An independent 5-minute aggregation of 1-minute rows, straight from the text: buckets by
/// `ts - ts % 300000`, only buckets with all five minutes.
fn five_minute_bars_by_hand(text: &str) -> Vec<[String; 6]> {
    use la_core::Decimal;
    let mut buckets: std::collections::BTreeMap<i64, Vec<Vec<String>>> = Default::default();
    for line in text.lines().skip(1) {
        let fields: Vec<String> = line.split(',').map(str::to_owned).collect();
        let ts: i64 = fields[0].parse().expect("ts");
        buckets.entry(ts - ts % 300_000).or_default().push(fields);
    }
    let dec = |s: &str| -> Decimal { s.parse().expect("decimal") };
    buckets
        .into_iter()
        .filter(|(_, rows)| rows.len() == 5)
        .map(|(start, rows)| {
            let high = rows.iter().map(|r| dec(&r[2])).max().expect("rows");
            let low = rows.iter().map(|r| dec(&r[3])).min().expect("rows");
            let volume: Decimal = rows.iter().map(|r| dec(&r[5])).sum();
            [
                start.to_string(),
                dec(&rows[0][1]).normalize().to_string(),
                high.normalize().to_string(),
                low.normalize().to_string(),
                dec(&rows[4][4]).normalize().to_string(),
                volume.normalize().to_string(),
            ]
        })
        .collect()
}

#[test]
fn five_minute_resampling_equals_an_independent_aggregation_of_the_one_minute_rows() {
    // 2 003 real rows: one in the last minute of a bucket, 400 whole buckets, two rows of
    // the next: the two buckets cut by the file's edges are dropped.
    let text = month_rows(1_002, 2_003);
    let first_ts: i64 = text
        .lines()
        .nth(1)
        .expect("row")
        .split(',')
        .next()
        .expect("ts")
        .parse()
        .expect("ts");
    assert_ne!(
        first_ts % 300_000,
        0,
        "the slice starts inside a 5-minute bucket"
    );
    let file = file_with(&text);
    let loaded = load_candles(file.path(), Interval::M5).expect("readable");
    let ours: Vec<[String; 6]> = loaded
        .candles
        .iter()
        .map(|c| {
            [
                c.open_time().as_ms().to_string(),
                c.open().get().normalize().to_string(),
                c.high().get().normalize().to_string(),
                c.low().get().normalize().to_string(),
                c.close().get().normalize().to_string(),
                c.volume().get().normalize().to_string(),
            ]
        })
        .collect();
    let by_hand = five_minute_bars_by_hand(&text);
    assert!(by_hand.len() > 390, "{} complete buckets", by_hand.len());
    assert_eq!(ours, by_hand);
    assert!(loaded.candles.iter().all(|c| c.interval() == Interval::M5));
    let resampled = loaded.quality.resampled.expect("resampled");
    assert_eq!(
        (resampled.from.as_str(), resampled.to.as_str()),
        ("1m", "5m")
    );
    assert_eq!(resampled.dropped_edge_buckets, 2);
    assert_eq!(loaded.quality.rows_used, 2_003);
    assert!(
        loaded.quality.rejected.is_empty(),
        "{:?}",
        loaded.quality.rejected
    );
}

#[test]
fn a_bucket_with_a_missing_minute_inside_the_data_is_kept_and_counted_incomplete() {
    // Three 5-minute buckets; the middle one has no bar at +6 min.
    let rows = [
        (0, "10,11,9,10,1"),
        (1, "10,12,9,11,1"),
        (2, "11,11,8,9,1"),
        (3, "9,10,9,10,1"),
        (4, "10,10,10,10,1"),
        (5, "10,13,10,12,2"),
        (7, "12,12,7,8,2"),
        (8, "8,9,8,9,2"),
        (9, "9,9,9,9,2"),
        (10, "9,9,9,9,1"),
        (11, "9,9,9,9,1"),
        (12, "9,9,9,9,1"),
        (13, "9,9,9,9,1"),
        (14, "9,9,9,9,1"),
    ];
    let mut text = String::from("ts_ms,open,high,low,close,volume\n");
    for (minute, values) in rows {
        text.push_str(&format!("{},{values}\n", BASE + minute * 60_000));
    }
    let file = file_with(&text);
    let loaded = load_candles(file.path(), Interval::M5).expect("readable");
    assert_eq!(loaded.candles.len(), 3);
    let middle = loaded.candles[1];
    assert_eq!(
        [middle.open(), middle.high(), middle.low(), middle.close()],
        [price("10"), price("13"), price("7"), price("9")]
    );
    assert_eq!(middle.volume().get(), la_core::Decimal::from(8));
    let resampled = loaded.quality.resampled.expect("resampled");
    assert_eq!(resampled.incomplete_buckets, 1);
    assert_eq!(resampled.first_incomplete_ms, Some(BASE + 300_000));
    assert_eq!(resampled.dropped_edge_buckets, 0);
    assert_eq!(loaded.quality.gaps.count, 1);
}

#[test]
fn the_gaps_of_the_real_month_are_counted_with_the_longest_and_where_it_starts() {
    let file = file_with(&month_rows(0, usize::MAX));
    let loaded = load_candles(file.path(), Interval::M1).expect("readable");
    let gaps = loaded.quality.gaps;
    assert!(gaps.count >= 1, "{gaps:?}");
    // The month's longest hole: no bar for several hours (the exchange's maintenance).
    assert!(gaps.longest_ms >= 3 * 3_600_000, "{gaps:?}");
    let from = gaps.longest_from_ms.expect("where");
    let times: Vec<i64> = loaded
        .candles
        .iter()
        .map(|c| c.open_time().as_ms())
        .collect();
    let before = times
        .iter()
        .rposition(|&t| t < from)
        .expect("a bar before the gap");
    assert_eq!(
        times[before] + 60_000,
        from,
        "the gap starts right after a bar"
    );
    assert_eq!(
        times[before + 1],
        from + gaps.longest_ms,
        "and ends at the next bar"
    );
    let lines = super::describe_quality(&loaded.quality);
    assert!(lines.iter().any(|l| l.starts_with("gaps: ")), "{lines:?}");
}

#[test]
fn rejected_rows_keep_their_count_and_the_first_five_line_numbers() {
    let mut text = format!("ts_ms,open,high,low,close,volume\n{BASE},10,11,9,10,1\n");
    for minute in 1..=7 {
        text.push_str(&format!("{},10,9,11,10,1\n", BASE + minute * 60_000));
    }
    text.push_str(&format!("{},10,11,9,10,1\n", BASE + 8 * 60_000));
    text.push_str(&format!("{},10,11,9,10,1\n", BASE + 60_000));
    let file = file_with(&text);
    let loaded = load_candles(file.path(), Interval::M1).expect("readable");
    let inconsistent = &loaded.quality.rejected["ohlc_inconsistent"];
    assert_eq!(inconsistent.count, 7);
    assert_eq!(inconsistent.first_lines, [3, 4, 5, 6, 7]);
    assert_eq!(loaded.quality.rejected["out_of_order"].first_lines, [11]);
    let lines = super::describe_quality(&loaded.quality);
    assert!(
        lines.contains(&"rejected 7 row(s): ohlc_inconsistent (line 3, 4, 5, 6, 7, …)".to_owned()),
        "{lines:?}"
    );
}

#[test]
fn a_file_without_usable_rows_is_an_error_that_says_why() {
    let empty = data_error("", Interval::M1);
    assert!(empty.contains("empty"), "{empty}");
    let header_only = data_error("ts_ms,open,high,low,close,volume\n", Interval::M1);
    assert!(header_only.contains("empty"), "{header_only}");
    let wrong = data_error("time,price,size\n1,2,3\n", Interval::M1);
    assert!(wrong.contains("wrong columns"), "{wrong}");
    assert!(wrong.contains("time,price,size"), "{wrong}");
    let rejected = data_error(
        &format!("ts_ms,open,high,low,close,volume\nyesterday,1,1,1,1,1\n{BASE},1,1,1,1\n"),
        Interval::M1,
    );
    assert!(rejected.contains("all 2 rows were rejected"), "{rejected}");
    let not_dividing = data_error(
        &format!(
            "ts_ms,open,high,low,close,volume\n{BASE},1,1,1,1,1\n{},1,1,1,1,1\n",
            BASE + 180_000
        ),
        Interval::M5,
    );
    assert!(not_dividing.contains("do not divide"), "{not_dividing}");
    let coarser = data_error(
        &format!(
            "ts_ms,open,high,low,close,volume\n{BASE},1,1,1,1,1\n{},1,1,1,1,1\n",
            BASE + 300_000
        ),
        Interval::M1,
    );
    assert!(coarser.contains("coarser"), "{coarser}");
}
