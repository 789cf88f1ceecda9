//! REST parsing tests with payloads captured from the real exchange.

use hyper::StatusCode;
use la_core::{CandleNormalization, Interval, Price, Symbol, TimestampMs, Volume};
use rust_decimal::Decimal;
use serde_json::json;

use super::{aggregate, transport::classify, wire};
use crate::error::FeedError;

fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

fn ts(ms: i64) -> TimestampMs {
    TimestampMs::new(ms).unwrap()
}

fn p(text: &str) -> Price {
    text.parse().unwrap()
}

const REAL_PAGE: &str = r#"{"code":0,"msg":"Success","data":[
 {"open":"64034.3","high":"64045.1","low":"64030.9","close":"64045.1","quoteVol":"16.0341","baseVol":"1026789.19294","time":"1786410660000"},
 {"open":"63978.5","high":"64023","low":"63978.4","close":"64022.9","quoteVol":"7.5528","baseVol":"483424.02372","time":"1786410600000"},
 {"open":"63955.2","high":"63978.5","low":"63950","close":"63978.5","quoteVol":"4.29","baseVol":"274370.23937","time":"1786410540000"}]}"#;

#[test]
fn the_real_kline_page_is_reordered_oldest_first_with_base_volume_from_quote_vol() {
    let data = classify(StatusCode::OK, REAL_PAGE.as_bytes(), "BTCUSDT").unwrap();
    let page = wire::kline_page(&data, Interval::M1, ts(1_786_410_720_000)).unwrap();
    let candles: Vec<_> = page.candles.into_values().collect();
    assert_eq!(candles.len(), 3);
    assert_eq!(candles[0].open_time(), ts(1_786_410_540_000));
    assert_eq!(candles[2].open_time(), ts(1_786_410_660_000));
    // quoteVol holds the base-coin volume (16.0341 BTC × ~64 045 ≈ 1 026 789 USDT = baseVol).
    assert_eq!(candles[2].volume().get(), Decimal::new(160_341, 4));
    assert_eq!(candles[2].close(), "64045.1".parse::<Price>().unwrap());
    assert_eq!(page.oldest, Some(ts(1_786_410_540_000)));
}

#[test]
fn a_still_forming_bar_is_dropped_by_the_clock() {
    let data = classify(StatusCode::OK, REAL_PAGE.as_bytes(), "BTCUSDT").unwrap();
    // 30 s into the newest row's minute: that row is still forming.
    let page = wire::kline_page(&data, Interval::M1, ts(1_786_410_690_000)).unwrap();
    assert_eq!(page.candles.len(), 2);
    assert_eq!(page.forming_dropped, 1);
    // Exactly at its close it is complete.
    let page = wire::kline_page(&data, Interval::M1, ts(1_786_410_720_000)).unwrap();
    assert_eq!(page.candles.len(), 3);
}

#[test]
fn the_real_open_outside_range_row_is_kept_widened_and_bad_rows_are_rejected() {
    let data = json!([
        {"open":"76389","high":"76383.1","low":"76269.8","close":"76345.5","quoteVol":"35.6805","baseVol":"2722986.42104","time":"1789482180000"},
        {"open":"76300","high":"76400","low":"76200","close":"76389","quoteVol":"1","baseVol":"76300","time":"1789482120000"},
        {"open":"NaN","high":"1","low":"1","close":"1","quoteVol":"1","baseVol":"1","time":"1789482060000"},
        {"open":"1","high":"1","low":"1","close":"1","quoteVol":"1","baseVol":"1","time":"1789482061234"},
        {"open":"1","high":"1","low":"1","close":"1","baseVol":"1","time":"1789482000000"},
        {"open":1,"high":"1","low":"1","close":"1","quoteVol":"1","baseVol":"1","time":"1789481940000"},
        {"open":"5","high":"4","low":"6","close":"5","quoteVol":"1","baseVol":"1","time":"1789481880000"}
    ]);
    let page = wire::kline_page(&data, Interval::M1, ts(1_789_490_000_000)).unwrap();
    assert_eq!(page.candles.len(), 2);
    let real = page.candles[&ts(1_789_482_180_000)];
    assert_eq!(
        [real.open(), real.high(), real.low(), real.close()],
        [p("76389"), p("76389"), p("76269.8"), p("76345.5")]
    );
    assert_eq!(real.volume(), Volume::parse("v", "35.6805").unwrap());
    assert_eq!(page.normalized, vec![CandleNormalization::OpenOutsideRange]);
    assert_eq!(
        page.rejected,
        vec![
            "not_a_number",
            "misaligned",
            "missing_field",
            "wrong_type",
            "ohlc_inconsistent"
        ]
    );
    assert_eq!(page.rows, 7);
    assert_eq!(page.oldest, Some(ts(1_789_481_880_000)));
}

#[test]
fn numeric_time_from_the_docs_example_is_accepted() {
    let data = json!([{"open":"1","high":"2","low":"1","close":"2","quoteVol":"3","baseVol":"6","time":1789482120000_i64}]);
    let page = wire::kline_page(&data, Interval::M1, ts(1_789_490_000_000)).unwrap();
    assert_eq!(page.candles.len(), 1);
}

#[test]
fn envelope_codes_and_statuses_are_typed() {
    let ok = classify(
        StatusCode::OK,
        br#"{"code":0,"data":[1],"msg":"Success"}"#,
        "X",
    )
    .unwrap();
    assert_eq!(ok, json!([1]));
    for body in [
        r#"{"code":10006,"data":null,"msg":"Request too frequently"}"#,
        r#"{"code":10005,"data":null,"msg":"Too many requests, please try again later"}"#,
    ] {
        assert!(matches!(
            classify(StatusCode::OK, body.as_bytes(), "X"),
            Err(FeedError::RateLimited)
        ));
    }
    assert!(matches!(
        classify(StatusCode::TOO_MANY_REQUESTS, b"", "X"),
        Err(FeedError::RateLimited)
    ));
    match classify(
        StatusCode::OK,
        br#"{"code":20015,"data":null,"msg":"this Futures is not allowed to trade."}"#,
        "X",
    ) {
        Err(FeedError::Api { code, msg }) => {
            assert_eq!(code, 20015);
            assert!(msg.contains("not allowed"));
        }
        other => panic!("{other:?}"),
    }
    let html = b"<html><body><h1>502 Bad Gateway</h1></body></html>";
    let err = classify(StatusCode::BAD_GATEWAY, html, "X").unwrap_err();
    assert!(matches!(err, FeedError::Http { status: 502 }));
    assert!(err.is_retryable());
    assert!(matches!(
        classify(StatusCode::OK, html, "X"),
        Err(FeedError::Decode(_))
    ));
    assert!(matches!(
        classify(StatusCode::OK, br#"{"code":"0","data":[]}"#, "X"),
        Err(FeedError::Decode(_))
    ));
    assert!(matches!(
        classify(StatusCode::NOT_FOUND, b"", "X"),
        Err(FeedError::Http { status: 404 })
    ));
    assert!(!FeedError::Http { status: 404 }.is_retryable());
    assert!(
        !FeedError::Api {
            code: 1,
            msg: String::new()
        }
        .is_retryable()
    );
}

#[test]
fn funding_rate_is_percent_on_the_wire_and_may_be_an_object_or_an_array() {
    let row = json!({"symbol":"BTCUSDT","markPrice":"86688.3","lastPrice":"86690","indexPrice":"86720.6",
        "fundingRate":"0.01","nextFundingTime":"1790150400000","fundingInterval":8});
    let now = ts(1_790_126_515_695);
    let from_object = wire::funding(&row, btc(), now).unwrap();
    assert_eq!(from_object.rate, Decimal::new(1, 4));
    assert_eq!(from_object.next_funding_time, Some(ts(1_790_150_400_000)));
    assert_eq!(from_object.mark_price, Some("86688.3".parse().unwrap()));
    let from_array = wire::funding(&json!([row]), btc(), now).unwrap();
    assert_eq!(from_array, from_object);
    let bad = json!({"fundingRate":"NaN"});
    assert!(matches!(
        wire::funding(&bad, btc(), now),
        Err(FeedError::Decode(_))
    ));
}

#[test]
fn tick_and_step_come_from_the_precisions() {
    let data = json!([{"symbol":"BTCUSDT","base":"BTC","quote":"USDT","minTradeVolume":"0.0001",
        "minBuyPriceOffset":"-0.95","maxSellPriceOffset":"100","maxLimitOrderVolume":"100000",
        "maxMarketOrderVolume":"50000","basePrecision":4,"quotePrecision":1,"minLeverage":1,
        "maxLeverage":125,"defaultLeverage":20,"defaultMarginMode":1,"priceProtectScope":"0.02",
        "symbolStatus":"OPEN"}]);
    let info = wire::trading_pair(&data, btc()).unwrap();
    assert_eq!(info.tick_size.get(), Decimal::new(1, 1));
    assert_eq!(info.qty_step.get(), Decimal::new(1, 4));
    assert_eq!(info.min_qty.get(), Decimal::new(1, 4));
    assert_eq!(info.status, wire::SymbolStatus::Open);
    let eth_only = json!([{"symbol":"ETHUSDT","basePrecision":2,"quotePrecision":2,"minTradeVolume":"0.01","symbolStatus":"OPEN"}]);
    assert!(matches!(
        wire::trading_pair(&eth_only, btc()),
        Err(FeedError::Decode(_))
    ));
    let absurd = json!([{"symbol":"BTCUSDT","basePrecision":40,"quotePrecision":1,"minTradeVolume":"1","symbolStatus":"OPEN"}]);
    assert!(wire::trading_pair(&absurd, btc()).is_err());
}

#[test]
fn last_price_prefers_last_price_over_last() {
    let data = json!([{"symbol":"BTCUSDT","markPrice":"1","lastPrice":"86688.2","last":"6.31","open":"1"}]);
    assert_eq!(
        wire::last_price(&data, btc()).unwrap(),
        "86688.2".parse().unwrap()
    );
    let data = json!([{"symbol":"BTCUSDT","last":"86000"}]);
    assert_eq!(
        wire::last_price(&data, btc()).unwrap(),
        "86000".parse().unwrap()
    );
    let data = json!([{"symbol":"ETHUSDT","lastPrice":"3000"}]);
    assert!(wire::last_price(&data, btc()).is_err());
}

#[test]
fn three_minute_candles_are_aggregated_from_complete_minute_triples() {
    let minute = |open_min: i64, o: &str, h: &str, l: &str, c: &str| {
        la_core::Candle::new(
            Interval::M1,
            ts(1_789_481_880_000 + open_min * 60_000),
            o.parse().unwrap(),
            h.parse().unwrap(),
            l.parse().unwrap(),
            c.parse().unwrap(),
            "1.5".parse().unwrap(),
        )
        .unwrap()
    };
    // 1_789_481_880_000 is a multiple of 3 minutes.
    let minutes = vec![
        minute(0, "10", "12", "9", "11"),
        minute(1, "11", "15", "10", "14"),
        minute(2, "14", "14", "8", "9"),
        minute(3, "9", "9", "9", "9"),
        minute(4, "9", "9", "9", "9"),
    ];
    let out = aggregate(&minutes, Interval::M3);
    assert_eq!(out.len(), 1, "the incomplete second triple is not produced");
    let c = out[0];
    assert_eq!(c.open(), "10".parse().unwrap());
    assert_eq!(c.high(), "15".parse().unwrap());
    assert_eq!(c.low(), "8".parse().unwrap());
    assert_eq!(c.close(), "9".parse().unwrap());
    assert_eq!(c.volume().get(), Decimal::new(45, 1));
}

#[test]
fn funding_history_rows_are_fractions_and_bad_rows_are_rejected_not_repaired() {
    // The documented row, then: a percent value passed off as a fraction (50 %), a missing
    // time, a non-number rate, a row without a mark price, and a repeat.
    let data = json!([
        {"fundingRate":"-0.00001191","fundingTime":"1772449200000","markPrice":"66286.6"},
        {"fundingRate":"0.5","fundingTime":"1772420400000","markPrice":"66000"},
        {"fundingRate":"0.0001","markPrice":"66000"},
        {"fundingRate":"NaN","fundingTime":"1772391600000"},
        {"fundingRate":"0.0001","fundingTime":"1772362800000"},
        {"fundingRate":"0.0002","fundingTime":"1772362800000"}
    ]);
    let page = wire::funding_history_page(&data).unwrap();
    assert_eq!(page.rows, 6);
    assert_eq!(
        page.rejected,
        vec![
            "out_of_range",
            "missing_field",
            "not_a_number",
            "duplicate_row"
        ]
    );
    let documented = page.settled[&ts(1_772_449_200_000)];
    assert_eq!(documented.rate, Decimal::new(-1191, 8));
    assert_eq!(documented.mark_price, Some("66286.6".parse().unwrap()));
    assert_eq!(page.settled[&ts(1_772_362_800_000)].mark_price, None);
    assert_eq!(page.oldest, Some(ts(1_772_362_800_000)));
    assert!(wire::funding_history_page(&json!({"fundingRate": "0.1"})).is_err());
}
