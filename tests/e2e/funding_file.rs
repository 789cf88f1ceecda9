//! A backtest funded from a rate file (`--funding FILE`): a position held across funding
//! times pays or receives exactly the file's rate at each of them, a funding time the file
//! lacks settles nothing and is counted, and the trade carries what was booked.

use la_core::{Candle, Decimal, Interval, Price, Provenance, Symbol, TimestampMs, Volume};
use la_session::{
    backtest::{Bars, replay_to_end_funded},
    funding_file::{FileFunding, load_funding_rates},
    intrabar::IntrabarTicks,
    run_files::{FileSink, write_trades_csv},
};

use crate::{backtest::over_leveraged_engine, support::read_jsonl};

/// 2024-01-01T00:00:00Z.
const DAY0: i64 = 1_704_067_200_000;
const HOUR: i64 = 3_600_000;

/// `count` hourly candles from `DAY0`, every price 60 000.
fn flat_hours(count: i64) -> Vec<Candle> {
    let price = Price::new(Decimal::from(60_000)).unwrap();
    (0..count)
        .map(|i| {
            Candle::new(
                Interval::H1,
                TimestampMs::new(DAY0 + i * HOUR).unwrap(),
                price,
                price,
                price,
                price,
                Volume::new(Decimal::TEN).unwrap(),
            )
            .unwrap()
        })
        .collect()
}

#[test]
fn a_held_long_books_exactly_the_files_rate_at_each_funding_time() {
    let dir = tempfile::tempdir().unwrap();
    // Out of time order on purpose (sorted on reading); no row for 2024-01-02 00:00.
    let rates = dir.path().join("rates.csv");
    std::fs::write(
        &rates,
        format!(
            "ts_ms,rate\n{},-0.0003\n{},0.0001\n{},0.001\n{},0.0002\n{},0.00005\n",
            DAY0 + 16 * HOUR,
            DAY0 + 8 * HOUR,
            DAY0,
            DAY0 + 32 * HOUR,
            DAY0 + 40 * HOUR,
        ),
    )
    .unwrap();
    let rates = load_funding_rates(&rates).unwrap();
    assert_eq!(rates.rates.len(), 5);
    assert_eq!(rates.normalized.get("out_of_order"), Some(&2));

    // A 0.01 BTC long opened at 05:00 on day 0 and held to the end of the data (day 1,
    // 16:00), every mark at 60 000: the notional is 600.
    let candles = flat_hours(40);
    let mut engine = over_leveraged_engine(TimestampMs::new(DAY0 + 4 * HOUR).unwrap());
    let journal = dir.path().join("events.jsonl");
    let mut sink = FileSink::open(&journal, false, dir.path(), "BTCUSDT", None).unwrap();
    let mut funding = FileFunding::new(&rates);
    let bars = Bars {
        symbol: Symbol::new("BTCUSDT").unwrap(),
        candles: &candles,
        provenance: Provenance::Historical,
        intrabar: IntrabarTicks::Waypoints,
    };
    let mut curve = Vec::new();
    replay_to_end_funded(&mut engine, &bars, &mut funding, &mut sink, &mut curve).unwrap();
    sink.flush();

    // Hand-computed, amount = −rate × 0.01 × 60 000: day 0 08:00 0.0001 → −0.06; 16:00
    // −0.0003 → +0.18; day 1 00:00 no rate → nothing; 08:00 0.0002 → −0.12; 16:00 0.00005 →
    // −0.03. Day 0 00:00 is before the position (and the data's first funding time).
    let booked: Vec<(i64, Decimal)> = read_jsonl(&journal)
        .iter()
        .filter(|e| e["kind"] == "funding_applied")
        .map(|e| {
            (
                e["funding_time"].as_i64().unwrap(),
                e["amount"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    let d = |text: &str| text.parse::<Decimal>().unwrap();
    assert_eq!(
        booked,
        vec![
            (DAY0 + 8 * HOUR, d("-0.06")),
            (DAY0 + 16 * HOUR, d("0.18")),
            (DAY0 + 32 * HOUR, d("-0.12")),
            (DAY0 + 40 * HOUR, d("-0.03")),
        ]
    );
    assert_eq!(funding.missing, 1, "day 1 00:00 had no rate");
    assert_eq!(engine.broker().stats().funding_total, d("-0.03"));

    // The trade carries what was booked while it was open, in trades.csv too.
    let [trade] = sink.trades.as_slice() else {
        panic!("one trade expected: {:#?}", sink.trades);
    };
    assert_eq!(trade.funding, d("-0.03"));
    write_trades_csv(&dir.path().join("trades.csv"), &sink.trades).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("trades.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let column = header.iter().position(|c| *c == "funding").unwrap();
    assert_eq!(row[column].parse::<Decimal>().unwrap(), d("-0.03"));
}
