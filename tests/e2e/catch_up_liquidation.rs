//! A liquidation that happened while the session was away: a 20× long opened on the real
//! 2021-05-18 evening (its stop beyond the liquidation price, as the backtest's liquidation
//! test forces it), then a downtime from 23:30 over the 2021-05-19 slide, caught up with the live
//! session's own catch-up replay (`la_session::catch_up::replay`). The position is liquidated
//! once, during the catch-up, at the liquidation price it was given at entry, along a bar's
//! intrabar path; the 00:00 funding is settled from the funding history first; and the
//! account's identity holds exactly.

use la_core::{Broker, Candle, Decimal, ExitReason, Interval, Symbol, TimestampMs};
use la_feed_bitunix::SettledFunding;
use la_session::{
    backtest::{ReplayOptions, replay_candles},
    candle_file::load_candles,
    catch_up::{CatchUpData, replay},
    intrabar::IntrabarTicks,
    run_files::FileSink,
};
use serde_json::Value;

use crate::{
    backtest::over_leveraged_engine,
    support::{read_jsonl, shared_data},
};

/// 2021-05-18 22:00 UTC: the long is opened on the first candle at or after it.
const OPENED: i64 = 1_621_375_200_000;
/// 2021-05-18 23:30 UTC: the session goes away.
const AWAY: i64 = 1_621_380_600_000;
/// 2021-05-19 00:00 UTC: a funding time passes while it is away.
const FUNDING: i64 = 1_621_382_400_000;
/// 2021-05-19 06:00 UTC: it comes back.
const BACK: i64 = 1_621_404_000_000;
const STARTING_BALANCE: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

fn decimal(value: &Value) -> Decimal {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a decimal string: {value}"))
}

#[test]
fn a_position_whose_liquidation_price_was_crossed_while_away_is_liquidated_once_at_that_price() {
    let data = shared_data("candles/binance_spot_btcusdt_1m_2021-04-20_2021-05-20.csv.gz");
    let dir = tempfile::tempdir().expect("tempdir");
    let candles = load_candles(&data, Interval::M1)
        .expect("real data")
        .candles;
    let before: Vec<Candle> = candles
        .iter()
        .filter(|c| c.open_time().as_ms() < AWAY)
        .copied()
        .collect();
    let missed: Vec<Candle> = candles
        .iter()
        .filter(|c| (AWAY..BACK).contains(&c.open_time().as_ms()))
        .copied()
        .collect();
    let symbol = Symbol::new("BTCUSDT").expect("symbol");
    let mut engine = over_leveraged_engine(TimestampMs::new(OPENED).expect("time"));
    let journal = dir.path().join("events.jsonl");
    let mut sink = FileSink::open(&journal, false, dir.path(), "BTCUSDT", None).expect("sink");
    let mut curve = Vec::new();
    // Live until 23:30: the long is opened and still open.
    let options = ReplayOptions {
        intrabar: IntrabarTicks::Waypoints,
        funding_rate: Some(Decimal::ZERO),
    };
    replay_candles(&mut engine, symbol, &before, options, &mut sink, &mut curve)
        .expect("replay before the downtime");
    let position = engine
        .broker()
        .position()
        .expect("the long is open when the session goes away");
    assert!(
        position.liquidation_price > position.stop_loss,
        "the stop lies beyond the liquidation price"
    );
    // The downtime, caught up as the live session does it: the missed candles and the
    // funding rates that settled, from the exchange's history.
    let rate = Decimal::new(1, 4);
    let caught_up = CatchUpData {
        candles: missed.clone(),
        // As the live session asks for it: from one period before the interval.
        funding: [FUNDING - 8 * 3_600_000, FUNDING]
            .into_iter()
            .map(|at| SettledFunding {
                funding_time: TimestampMs::new(at).expect("time"),
                rate,
                mark_price: None,
            })
            .collect(),
        funding_error: None,
        exchange_now: missed.last().map(Candle::close_time),
        missing: 0,
    };
    let away = TimestampMs::new(AWAY).expect("time");
    let replayed =
        replay(&mut engine, symbol, &caught_up, away, &mut sink, &mut curve).expect("catch-up");
    assert_eq!(replayed.candles, missed.len() as u64);
    assert!(replayed.funding_missing.is_empty());
    // Caught up again (a restart would find the same interval): nothing is booked twice.
    let again = replay(&mut engine, symbol, &caught_up, away, &mut sink, &mut curve)
        .expect("second catch-up");
    assert_eq!(again.candles, 0);
    sink.flush();

    let [trade] = sink.trades.as_slice() else {
        panic!("one trade expected: {:#?}", sink.trades);
    };
    assert_eq!(trade.reason, ExitReason::Liquidation);
    assert_eq!(
        trade.exit_price, position.liquidation_price,
        "liquidated at the price computed at entry"
    );
    assert!(
        (AWAY..BACK).contains(&trade.ts.as_ms()),
        "inside the downtime: {}",
        trade.ts
    );
    assert_ne!(
        trade.ts.as_ms() % 60_000,
        0,
        "taken by a tick along a bar's path, not at a close"
    );
    let lines = read_jsonl(&journal);
    let of_kind =
        |kind: &str| -> Vec<&Value> { lines.iter().filter(|l| l["kind"] == kind).collect() };
    let liquidations = of_kind("liquidation");
    assert_eq!(liquidations.len(), 1, "{lines:#?}");
    assert!(of_kind("exit").is_empty());
    assert_eq!(liquidations[0]["catch_up"], true);
    assert_eq!(
        decimal(&liquidations[0]["exit_price"]),
        position.liquidation_price.get()
    );
    // The 00:00 funding, settled before the slide with the history's rate, and once.
    let funding = of_kind("funding_applied");
    assert_eq!(funding.len(), 1, "{funding:#?}");
    assert_eq!(funding[0]["ts_ms"], FUNDING);
    assert_eq!(funding[0]["catch_up"], true);
    assert_eq!(funding[0]["rate_source"], "history");
    assert_eq!(decimal(&funding[0]["rate"]), rate);
    let paid = decimal(&funding[0]["amount"]);
    assert!(paid.is_sign_negative(), "a long pays a positive rate");
    // The account: starting balance + the trade's net PnL + funding, exactly.
    assert_eq!(
        engine.broker().equity(),
        STARTING_BALANCE + trade.pnl_net + paid
    );
    assert!(engine.broker().position().is_none());
}
