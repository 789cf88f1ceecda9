//! The live captures quoted in the protocol notes (and a few documentation examples,
//! marked), each with its expected verdict and hand-written values; then the shared capture
//! file, line by line, when it exists.

use la_core::{CandleNormalization, Volume};

use super::*;

fn p(text: &str) -> Price {
    text.parse().unwrap()
}

// WebSocket frames captured live.
const KLINE_LIVE: &str = r#"{"ch":"market_kline_1min","symbol":"BTCUSDT","ts":1786650732204,"data":{"o":"63404.6","c":"63404.7","h":"63404.8","l":"63404.5","b":"0.2413","q":"15299.54977"}}"#;
const TICKER_LIVE: &str = r#"{"ch":"ticker","symbol":"BTCUSDT","ts":1790126515684,"data":{"s":"BTCUSDT","o":"85567","la":"86688.2","h":"86815.6","l":"85080","b":"27478.1701","q":"2362759522.50052","r":"1.3103182302"}}"#;
const PRICE_LIVE: &str = r#"{"ch":"price","symbol":"BTCUSDT","ts":1790126515695,"data":{"ip":"86720.6","mp":"86688.3","fr":"-0.00077","ft":"2026-09-23T00:00:00Z","nft":"2026-09-23T08:00:00Z"}}"#;
const DEPTH_LIVE: &str = r#"{"ch":"depth_book15","symbol":"BTCUSDT","ts":1790126515693,"data":{"b":[["86699.6","2.274"],["86699.5","2.7407"],["86699.4","3.093"]],"a":[["86699.7","0.7095"],["86699.8","2.1992"],["86699.9","1.457"]]}}"#;
const CONNECT_LIVE: &str = r#"{"op":"connect","data":{"result":true}}"#;
const PONG_LIVE: &str = r#"{"op":"ping","pong":1790126498,"ping":1790126491}"#;
const UNSUBSCRIBE_LIVE: &str = r#"{"op":"unsubscribe","ts":1790126500916,"data":"success"}"#;
const REFUSAL_LIVE: &str =
    r#"{"op":"subscribe","data":{"msg":"subscribe channel > 300","nonce":"","result":false}}"#;
// WebSocket examples from the documentation (not live evidence, checked all the same).
const KLINE_DOCS: &str = r#"{"ch":"market_kline_1min","symbol":"BTCUSDT","ts":1775541412718,"data":{"o":"68581.4","c":"68583.4","h":"68590","l":"68579.5","b":"5.2395","q":"359348.14078"}}"#;
const TICKERS_DOCS: &str = r#"{"ch":"tickers","ts":1732178884994,"data":[{"s":"BTCUSDT","la":"68650.9","o":"69141.6","h":"70319.9","l":"68241.9","b":"26295.3977","q":"1823374525.0193","r":"-0.7097029863","bd":"68650.9","ak":"68651","bv":"0.9747","av":"2.3606"}]}"#;
const TRADE_DOCS: &str = r#"{"ch":"trade","symbol":"BTCUSDT","ts":1775540872598,"data":[{"t":"2026-04-07T05:47:52Z","p":"68621.4","v":"0.7142","s":"buy"},{"t":"2026-04-07T05:47:52Z","p":"68621.4","v":"0.0018","s":"sell"}]}"#;
const PONG_DOCS: &str = r#"{"op":"ping","pong":1732519687,"ping":1732519690}"#;

// REST bodies captured live.
const KLINE_PAGE_LIVE: &str = r#"{"code":0,"msg":"Success","data":[
 {"open":"64034.3","high":"64045.1","low":"64030.9","close":"64045.1","quoteVol":"16.0341","baseVol":"1026789.19294","time":"1786410660000"},
 {"open":"63978.5","high":"64023","low":"63978.4","close":"64022.9","quoteVol":"7.5528","baseVol":"483424.02372","time":"1786410600000"},
 {"open":"63955.2","high":"63978.5","low":"63950","close":"63978.5","quoteVol":"4.29","baseVol":"274370.23937","time":"1786410540000"}]}"#;
/// The real row whose open (the previous close) lies above its high, as a one-row page.
const OPEN_OUTSIDE_ROW_LIVE: &str = r#"[{"open":"76389","high":"76383.1","low":"76269.8","close":"76345.5","quoteVol":"35.6805","baseVol":"2722986.42104","time":"1789482180000"}]"#;
const UNKNOWN_SYMBOL_LIVE: &str =
    r#"{"code":20015,"data":null,"msg":"this Futures is not allowed to trade."}"#;
const NO_SYMBOL_LIVE: &str = r#"{"code":1,"data":null,"msg":"Network Error"}"#;
const BAD_LIMIT_LIVE: &str = r#"{"code":10008,"data":null,"msg":"Parameter 20 does not match, alternative value [\"1\",\"5\",\"15\",\"50\",\"max\"]."}"#;
const NOT_FOUND_LIVE: &str = r#"{"code":404,"data":null,"msg":"Not Found"}"#;
// REST payloads from the documentation.
const FUNDING_HISTORY_DOCS: &str =
    r#"[{"fundingRate":"-0.00001191","fundingTime":"1772449200000","markPrice":"66286.6"}]"#;
const TRADING_PAIR_DOCS: &str = r#"{"code":0,"msg":"Success","data":[{"symbol":"BTCUSDT","base":"BTC","quote":"USDT","minTradeVolume":"0.0001","minBuyPriceOffset":"-0.95","maxSellPriceOffset":"100","maxLimitOrderVolume":"100000","maxMarketOrderVolume":"50000","basePrecision":4,"quotePrecision":1,"minLeverage":1,"maxLeverage":125,"defaultLeverage":20,"defaultMarginMode":1,"priceProtectScope":"0.02","symbolStatus":"OPEN"}]}"#;
const RATE_LIMITED_DOCS: &str = r#"{"code":10006,"data":null,"msg":"Request too frequently"}"#;
/// No funding-rate body is quoted verbatim; these are built from the documented field list
/// (percent rate, string times), once as an object and once as a one-element array.
const FUNDING_OBJECT_FIELDS: &str = r#"{"code":0,"msg":"Success","data":{"symbol":"BTCUSDT","markPrice":"86688.3","lastPrice":"86688.2","indexPrice":"86720.6","fundingRate":"0.01","nextFundingTime":"1790150400000","fundingInterval":8,"maxFundingRate":"0.3","minFundingRate":"-0.3"}}"#;
const FUNDING_ARRAY_FIELDS: &str = r#"{"code":0,"msg":"Success","data":[{"symbol":"BTCUSDT","markPrice":"86688.3","lastPrice":"86688.2","indexPrice":"86720.6","fundingRate":"-0.00077","nextFundingTime":"1790150400000","fundingInterval":8}]}"#;

#[track_caller]
fn verdict(kind: &str, raw: &str) -> Verdict {
    check_capture(kind, raw).unwrap_or_else(|problem| panic!("{problem}: {raw}"))
}

#[test]
fn every_quoted_live_websocket_frame_decodes_to_its_values_or_is_ignored() {
    let table = [
        (KLINE_LIVE, Verdict::Decoded("kline")),
        (TICKER_LIVE, Verdict::Decoded("ticker")),
        (PRICE_LIVE, Verdict::Decoded("price")),
        (DEPTH_LIVE, Verdict::Ignored("channel not subscribed")),
        (CONNECT_LIVE, Verdict::Decoded("connect")),
        (PONG_LIVE, Verdict::Decoded("pong")),
        (UNSUBSCRIBE_LIVE, Verdict::Ignored("control frame")),
        (REFUSAL_LIVE, Verdict::Decoded("subscribe_refused")),
        (KLINE_DOCS, Verdict::Decoded("kline")),
        (TICKERS_DOCS, Verdict::Ignored("channel not subscribed")),
        (TRADE_DOCS, Verdict::Ignored("channel not subscribed")),
        (PONG_DOCS, Verdict::Decoded("pong")),
    ];
    for (raw, expected) in table {
        assert_eq!(verdict("ws", raw), expected, "{raw}");
    }
    // The values, written out by hand.
    assert_eq!(
        decode_ws(KLINE_LIVE, btc(), Interval::M1),
        Ok(Decoded::Kline {
            ts: ts(1_786_650_732_204),
            o: p("63404.6"),
            h: p("63404.8"),
            l: p("63404.5"),
            c: p("63404.7"),
            base_volume: Volume::parse("b", "0.2413").unwrap(),
            normalization: None,
        })
    );
    assert_eq!(
        decode_ws(TICKER_LIVE, btc(), Interval::M1),
        Ok(Decoded::Ticker {
            ts: ts(1_790_126_515_684),
            last: p("86688.2")
        })
    );
    assert_eq!(
        decode_ws(PRICE_LIVE, btc(), Interval::M1),
        Ok(Decoded::Price {
            ts: ts(1_790_126_515_695),
            mark: p("86688.3"),
            index: p("86720.6"),
            funding_rate_fraction: Decimal::new(-77, 7),
            next_funding_time: Some(ts(1_790_150_400_000)),
        })
    );
    assert_eq!(
        decode_ws(PONG_LIVE, btc(), Interval::M1),
        Ok(Decoded::Pong {
            client_ping: 1_790_126_498
        })
    );
}

#[test]
fn every_quoted_live_rest_body_decodes_to_its_values_or_is_typed() {
    let table = [
        (KLINE_PAGE_LIVE, Verdict::Decoded("kline")),
        (OPEN_OUTSIDE_ROW_LIVE, Verdict::Normalized("kline")),
        (UNKNOWN_SYMBOL_LIVE, Verdict::ApiError(20015)),
        (NO_SYMBOL_LIVE, Verdict::ApiError(1)),
        (BAD_LIMIT_LIVE, Verdict::ApiError(10008)),
        (NOT_FOUND_LIVE, Verdict::ApiError(404)),
        (RATE_LIMITED_DOCS, Verdict::ApiError(10006)),
        (
            FUNDING_HISTORY_DOCS,
            Verdict::Ignored("funding history is not read by this client"),
        ),
        (TRADING_PAIR_DOCS, Verdict::Decoded("trading_pairs")),
        (FUNDING_OBJECT_FIELDS, Verdict::Decoded("funding_rate")),
        (FUNDING_ARRAY_FIELDS, Verdict::Decoded("funding_rate")),
    ];
    for (raw, expected) in table {
        assert_eq!(verdict("rest", raw), expected, "{raw}");
    }
    // The values, written out by hand.
    let data: Value = serde_json::from_str(OPEN_OUTSIDE_ROW_LIVE).unwrap();
    let page = wire::kline_page(&data, Interval::M1, ts(1_789_490_000_000)).unwrap();
    let row = page.candles[&ts(1_789_482_180_000)];
    assert_eq!(
        [row.open(), row.high(), row.low(), row.close()],
        [p("76389"), p("76389"), p("76269.8"), p("76345.5")]
    );
    assert_eq!(page.normalized, vec![CandleNormalization::OpenOutsideRange]);
    let data = classify(StatusCode::OK, FUNDING_ARRAY_FIELDS.as_bytes(), "BTCUSDT").unwrap();
    let funding = wire::funding(&data, btc(), ts(1_790_126_515_695)).unwrap();
    assert_eq!(funding.rate, Decimal::new(-77, 7));
    assert_eq!(funding.mark_price, Some(p("86688.3")));
    assert_eq!(funding.next_funding_time, Some(ts(1_790_150_400_000)));
    let data = classify(StatusCode::OK, TRADING_PAIR_DOCS.as_bytes(), "BTCUSDT").unwrap();
    let pair = wire::trading_pair(&data, btc()).unwrap();
    assert_eq!(
        (pair.tick_size, pair.qty_step.get()),
        (p("0.1"), Decimal::new(1, 4))
    );
}

/// What checking the lines of a capture file found.
#[derive(Debug, Default)]
struct FileReport {
    checked: usize,
    ignored: usize,
    skipped: usize,
    problems: Vec<String>,
}

/// Checks every `live` line of a capture file's text (one JSON object a line:
/// `id`, `kind`, `channel`, `status`, `source`, `raw`); other statuses are skipped.
fn check_lines(text: &str) -> FileReport {
    let mut report = FileReport::default();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry: Value = match serde_json::from_str(line) {
            Ok(entry) => entry,
            Err(error) => {
                report
                    .problems
                    .push(format!("line {}: not JSON: {error}", index + 1));
                continue;
            }
        };
        if entry["status"].as_str() != Some("live") {
            report.skipped += 1;
            continue;
        }
        let id = entry["id"].as_str().unwrap_or("?");
        let kind = entry["kind"].as_str().unwrap_or("");
        let Some(raw) = entry["raw"].as_str() else {
            report.problems.push(format!("{id}: `raw` is not a string"));
            continue;
        };
        report.checked += 1;
        match check_capture(kind, raw) {
            Ok(Verdict::Ignored(why)) => {
                report.ignored += 1;
                eprintln!("{id} ({kind}, {}): ignored, {why}", entry["channel"]);
            }
            Ok(verdict) => eprintln!("{id} ({kind}, {}): {verdict:?}", entry["channel"]),
            Err(problem) => report.problems.push(format!("{id} ({kind}): {problem}")),
        }
    }
    report
}

fn line(id: &str, kind: &str, status: &str, raw: &str) -> String {
    serde_json::json!({"id": id, "kind": kind, "channel": "x", "status": status, "source": "test", "raw": raw})
        .to_string()
}

#[test]
fn the_file_check_reads_live_lines_skips_the_others_and_reports_a_mismatch() {
    let text = [
        line("k", "ws", "live", KLINE_LIVE),
        line("d", "ws", "live", DEPTH_LIVE),
        line("r", "rest", "live", OPEN_OUTSIDE_ROW_LIVE),
        line("docs", "ws", "doc", "not even json"),
        line(
            "bad",
            "ws",
            "live",
            &KLINE_LIVE.replace(r#""c":"63404.7""#, r#""c":"NaN""#),
        ),
    ]
    .join("\n");
    let report = check_lines(&text);
    assert_eq!(
        (report.checked, report.ignored, report.skipped),
        (4, 1, 1),
        "{report:?}"
    );
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert!(
        report.problems[0].starts_with("bad (ws): rejected: not_a_number"),
        "{report:?}"
    );
}

/// Every `live` line of the shared capture file, when the file exists. Missing, the test
/// says so on stderr (nextest shows this test's output even when it passes) and reports 0
/// lines checked; with `LA_REQUIRE_CAPTURED_FRAMES` set it fails instead.
#[test]
fn every_live_line_of_the_shared_capture_file_decodes_or_is_ignored() {
    let path = capture_file();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => {
            eprintln!(
                "\n!!! CAPTURED FRAMES NOT CHECKED: {} is missing ({error}).\n\
                 !!! checked 0 lines: nothing is proven about the live captures in that file.\n",
                path.display()
            );
            assert!(
                std::env::var_os("LA_REQUIRE_CAPTURED_FRAMES").is_none(),
                "LA_REQUIRE_CAPTURED_FRAMES is set and {} is missing",
                path.display()
            );
            return;
        }
    };
    let report = check_lines(&text);
    eprintln!(
        "captured frames: checked {} live lines ({} ignored as not subscribed or not called), \
         {} non-live lines skipped, {} problems",
        report.checked,
        report.ignored,
        report.skipped,
        report.problems.len()
    );
    assert!(report.problems.is_empty(), "{}", report.problems.join("\n"));
    assert!(report.checked > 0, "{} holds no live line", path.display());
}
