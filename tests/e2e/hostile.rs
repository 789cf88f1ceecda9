//! The hostile-input catalogue: WebSocket frames and REST bodies an exchange, a proxy or an
//! attacker could send, each with the counter label the feed must file it under.
//!
//! Frames go through [`FrameDecoder`] with both JSON back ends; the label asserted is
//! `FrameRejection::as_str()` (with the field), which is exactly the key the feed's intake
//! bumps in `rejections_by_reason` (or the channel label in `frames_by_channel` for frames
//! that are accepted). REST bodies are served by a tiny HTTP/1.1 server on 127.0.0.1 to a
//! real [`RestClient`], whose `rest_by_outcome` / `rest_rows_rejected` counters must move
//! under the expected label. Every case runs under `catch_unwind`, so a panic names its
//! case instead of aborting the catalogue. Kinds already covered elsewhere (the decoder's
//! unit tables, the simulator fault tests) are listed in RELIABILITY.md, not repeated here.

use std::{
    collections::BTreeSet,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Arc, Mutex},
    time::Duration,
};

use la_core::{Interval, Symbol};
use la_feed_bitunix::{
    FeedConfig, FeedError, RestClient,
    decode::{Decoded, FrameDecoder, FrameRejection, JsonBackend},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

const KLINE_HEAD: &str =
    r#"{"ch":"market_kline_1min","symbol":"BTCUSDT","ts":1786650732204,"data":"#;
const GOOD_KLINE_DATA: &str = r#"{"o":"100","c":"101","h":"102","l":"99","b":"1.5","q":"150"}"#;
const TICKER: &str =
    r#"{"ch":"ticker","symbol":"BTCUSDT","ts":1790126515684,"data":{"la":"86688.2"}}"#;
const PRICE: &str = r#"{"ch":"price","symbol":"BTCUSDT","ts":1790126515695,"data":{"ip":"86720.6","mp":"86688.3","fr":"-0.00077","nft":"2026-09-23T08:00:00Z"}}"#;

/// A kline frame whose `data` is `data` (raw JSON).
fn kline(data: &str) -> Vec<u8> {
    format!("{KLINE_HEAD}{data}}}").into_bytes()
}

/// The good kline with `from` replaced by `to` anywhere in the frame.
fn kline_edit(from: &str, to: &str) -> Vec<u8> {
    let frame = String::from_utf8(kline(GOOD_KLINE_DATA)).unwrap();
    assert!(frame.contains(from), "{from} not in the kline frame");
    frame.replacen(from, to, 1).into_bytes()
}

fn ticker_edit(from: &str, to: &str) -> Vec<u8> {
    assert!(TICKER.contains(from), "{from} not in the ticker frame");
    TICKER.replacen(from, to, 1).into_bytes()
}

fn price_edit(from: &str, to: &str) -> Vec<u8> {
    assert!(PRICE.contains(from), "{from} not in the price frame");
    PRICE.replacen(from, to, 1).into_bytes()
}

fn raw(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

/// The counter label a decode result is filed under.
fn label(result: &Result<Decoded, FrameRejection>) -> String {
    match result {
        Ok(decoded) => format!("accepted:{}", decoded.channel_label()),
        Err(rejection) => rejection.to_string(),
    }
}

/// `(kind, frame bytes, expected label)`.
#[rustfmt::skip]
fn frame_catalogue() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let wide: String = (0..5_000).map(|i| format!(r#""x{i}":"{i}","#)).collect();
    let long_key = format!(r#""{}":1,"o""#, "k".repeat(200_000));
    vec![
        // Envelope syntax.
        ("byte order mark before the object", [b"\xEF\xBB\xBF".as_slice(), TICKER.as_bytes()].concat(), "not_json"),
        ("raw NUL inside a string", ticker_edit("86688.2", "866\u{0}88.2"), "not_json"),
        ("raw newline inside a string", ticker_edit("BTCUSDT", "BTC\nUSDT"), "not_json"),
        ("invalid escape \\x41", ticker_edit("BTCUSDT", "BTC\\x41USDT"), "not_json"),
        ("lone UTF-16 surrogate escape", ticker_edit("BTCUSDT", "BTC\\ud800USDT"), "not_json"),
        ("trailing comma in the envelope", raw(&TICKER.replacen("}}", "},}", 1)), "not_json"),
        ("single-quoted strings", raw(&TICKER.replace('"', "'")), "not_json"),
        ("a /* comment */ in the envelope", raw(&TICKER.replacen('{', "{/*c*/", 1)), "not_json"),
        ("leading zero in ts", ticker_edit("1790126515684", "01790126515684"), "not_json"),
        ("bare NaN literal as ts", ticker_edit("1790126515684", "NaN"), "not_json"),
        ("two objects in one frame", raw(&format!("{TICKER}{TICKER}")), "not_json"),
        ("whitespace only", raw(" \n\t "), "not_json"),
        ("top-level null", raw("null"), "not_an_object"),
        ("top-level true", raw("true"), "not_an_object"),
        ("empty object", raw("{}"), "missing_field (ch)"),
        // Envelope members.
        ("ch is null", raw(&TICKER.replacen(r#""ticker""#, "null", 1)), "wrong_type (ch)"),
        ("ch is a number", raw(&TICKER.replacen(r#""ticker""#, "7", 1)), "wrong_type (ch)"),
        ("ch is empty", raw(&TICKER.replacen(r#""ticker""#, r#""""#, 1)), "unknown_channel"),
        ("ch with a trailing space", raw(&TICKER.replacen(r#""ticker""#, r#""ticker ""#, 1)), "unknown_channel"),
        ("op is a number", raw(r#"{"op":5,"data":{}}"#), "wrong_type (op)"),
        ("pong is a float", raw(r#"{"op":"ping","pong":1732519687.5}"#), "wrong_type (pong)"),
        ("symbol is null", ticker_edit(r#""BTCUSDT""#, "null"), "wrong_type (symbol)"),
        ("symbol is empty", ticker_edit(r#""BTCUSDT""#, r#""""#), "wrong_symbol"),
        ("symbol with an escaped quote", ticker_edit("BTCUSDT", "BTC\\\"USDT"), "wrong_symbol"),
        ("ts is null", ticker_edit("1790126515684", "null"), "wrong_type (ts)"),
        ("ts is a boolean", ticker_edit("1790126515684", "true"), "wrong_type (ts)"),
        ("ts in exponent notation", ticker_edit("1790126515684", "1.790126515684e12"), "wrong_type (ts)"),
        ("ts is zero", ticker_edit("1790126515684", "0"), "timestamp_out_of_bounds (ts)"),
        ("ts in the year 2200", ticker_edit("1790126515684", "7258118400000"), "timestamp_out_of_bounds (ts)"),
        ("data is null", raw(&format!("{KLINE_HEAD}null}}")), "wrong_type (data)"),
        ("data is a string", raw(&format!("{KLINE_HEAD}\"o=100\"}}")), "wrong_type (data)"),
        ("data is an empty object", kline("{}"), "missing_field (data.o)"),
        // Kline values.
        ("open is null", kline_edit(r#""o":"100""#, r#""o":null"#), "wrong_type (data.o)"),
        ("open is a boolean", kline_edit(r#""o":"100""#, r#""o":true"#), "wrong_type (data.o)"),
        ("open is an array", kline_edit(r#""o":"100""#, r#""o":["100"]"#), "wrong_type (data.o)"),
        ("open is an object", kline_edit(r#""o":"100""#, r#""o":{"v":"100"}"#), "wrong_type (data.o)"),
        ("open with a leading plus", kline_edit(r#""o":"100""#, r#""o":"+100""#), "malformed (data.o)"),
        ("open with surrounding spaces", kline_edit(r#""o":"100""#, r#""o":" 100 ""#), "malformed (data.o)"),
        ("open with a digit separator", kline_edit(r#""o":"100""#, r#""o":"1_00""#), "malformed (data.o)"),
        ("open in Arabic-Indic digits", kline_edit(r#""o":"100""#, r#""o":"١٠٠""#), "malformed (data.o)"),
        ("open with an escaped NUL", kline_edit(r#""o":"100""#, r#""o":"100\u0000""#), "malformed (data.o)"),
        ("open is minus zero", kline_edit(r#""o":"100""#, r#""o":"-0""#), "zero (data.o)"),
        ("open with 29 decimals", kline_edit(r#""o":"100""#, &format!(r#""o":"100.{}""#, "1".repeat(29))), "too_precise (data.o)"),
        ("high in exponent notation", kline_edit(r#""h":"102""#, r#""h":"1.02E2""#), "exponent_notation (data.h)"),
        ("volume is negative", kline_edit(r#""b":"1.5""#, r#""b":"-1.5""#), "negative (data.b)"),
        ("volume is NaN", kline_edit(r#""b":"1.5""#, r#""b":"NaN""#), "not_a_number (data.b)"),
        ("close above high", kline_edit(r#""c":"101""#, r#""c":"103""#), "ohlc_inconsistent (data.c)"),
        ("close below low", kline_edit(r#""c":"101""#, r#""c":"98""#), "ohlc_inconsistent (data.c)"),
        ("high below low", kline_edit(r#""h":"102""#, r#""h":"98.5""#), "ohlc_inconsistent (data.h)"),
        // Real: Bitunix opens a bar at the previous close; kept with the range widened.
        ("open above high", kline_edit(r#""o":"100""#, r#""o":"102.5""#), "accepted:kline"),
        // Ticker and price channel values.
        ("ticker last price is a number", ticker_edit(r#""86688.2""#, "86688.2"), "wrong_type (data.la)"),
        ("ticker last price is NaN", ticker_edit(r#""86688.2""#, r#""NaN""#), "not_a_number (data.la)"),
        ("funding rate is NaN", price_edit(r#""-0.00077""#, r#""NaN""#), "not_a_number (data.fr)"),
        ("funding rate is a number", price_edit(r#""-0.00077""#, "-0.00077"), "wrong_type (data.fr)"),
        ("funding rate beyond -10 %", price_edit(r#""-0.00077""#, r#""-10.5""#), "out_of_range (data.fr)"),
        ("next funding time is a number", price_edit(r#""2026-09-23T08:00:00Z""#, "1790150400000"), "wrong_type (data.nft)"),
        ("next funding time month 13", price_edit("2026-09-23T08", "2026-13-45T99"), "malformed (data.nft)"),
        ("mark price is zero", price_edit(r#""mp":"86688.3""#, r#""mp":"0""#), "zero (data.mp)"),
        ("index price is negative", price_edit(r#""ip":"86720.6""#, r#""ip":"-86720.6""#), "negative (data.ip)"),
        ("mark price missing", price_edit(r#""mp":"86688.3","#, ""), "missing_field (data.mp)"),
        // Accepted, but must not choke the decoder.
        ("5 000 extra members in data", kline(&GOOD_KLINE_DATA.replacen('{', &format!("{{{wide}"), 1)), "accepted:kline"),
        ("a 200 000-byte member name", kline_edit(r#""o""#, &long_key), "accepted:kline"),
    ]
}

#[test]
fn hostile_frames_are_filed_under_their_reason_and_never_panic() {
    let catalogue = frame_catalogue();
    let kinds: BTreeSet<&str> = catalogue.iter().map(|(kind, _, _)| *kind).collect();
    assert_eq!(kinds.len(), catalogue.len(), "duplicate kind names");
    assert!(catalogue.len() >= 40, "only {} kinds", catalogue.len());
    let mut wrong = Vec::new();
    for backend in [JsonBackend::SimdJson, JsonBackend::SerdeJson] {
        // One decoder per back end across all cases: buffers are reused, as in the feed.
        let mut decoder = FrameDecoder::with_backend(Interval::M1, backend);
        for (kind, frame, expected) in &catalogue {
            let mut bytes = frame.clone();
            let outcome = catch_unwind(AssertUnwindSafe(|| decoder.decode(&mut bytes, btc())));
            match outcome {
                Err(_) => wrong.push(format!("{backend:?} {kind}: PANICKED")),
                Ok(result) if label(&result) != *expected => wrong.push(format!(
                    "{backend:?} {kind}: filed under {:?}, expected {expected:?}",
                    label(&result)
                )),
                Ok(_) => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// What an HTTP answer does to the client's counters.
#[derive(Clone, Copy, Debug)]
enum RestExpect {
    /// The request fails with this label, counted in `rest_by_outcome` under it.
    Outcome(&'static str),
    /// The envelope is fine (`ok` counted) but the payload is unusable: the call fails
    /// with this label.
    Payload(&'static str),
    /// A kline row is skipped and counted in `rest_rows_rejected` under this label.
    Row(&'static str),
    /// A kline row is kept after a documented normalisation, counted in
    /// `rest_rows_normalized` under this label.
    Kept(&'static str),
}

/// Which endpoint a case calls.
#[derive(Clone, Copy, Debug)]
enum Call {
    Klines,
    Funding,
    Pair,
    Last,
}

/// One scripted HTTP answer: a raw response, or `None` for "accept, then say nothing".
type Answer = Option<Vec<u8>>;

fn http(status: &str, content_type: &str, body: &[u8]) -> Answer {
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    Some(out)
}

fn ok_json(body: &str) -> Answer {
    http("200 OK", "application/json", body.as_bytes())
}

const ROW: &str = r#"{"open":"100","high":"102","low":"99","close":"101","quoteVol":"1.5","baseVol":"150","time":"1704067200000"}"#;

fn kline_body(row: &str) -> Answer {
    ok_json(&format!(r#"{{"code":0,"msg":"Success","data":[{row}]}}"#))
}

fn row_edit(from: &str, to: &str) -> Answer {
    assert!(ROW.contains(from), "{from} not in the row");
    kline_body(&ROW.replacen(from, to, 1))
}

#[rustfmt::skip]
fn rest_catalogue() -> Vec<(&'static str, Call, Answer, RestExpect)> {
    use Call::{Funding, Klines, Last, Pair};
    use RestExpect::{Kept, Outcome, Payload, Row};
    let html = b"<html><body><h1>502 Bad Gateway</h1></body></html>";
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    vec![
        ("HTML 502 from a CDN", Last, http("502 Bad Gateway", "text/html", html), Outcome("http_5xx")),
        ("JSON 503", Last, http("503 Service Unavailable", "application/json", br#"{"code":0,"data":null}"#), Outcome("http_5xx")),
        ("HTTP 404", Last, http("404 Not Found", "text/plain", b"no"), Outcome("http_status")),
        ("bare HTTP 429", Last, http("429 Too Many Requests", "text/plain", b""), Outcome("rate_limited")),
        ("HTML body with HTTP 200", Last, http("200 OK", "text/html", html), Outcome("decode_error")),
        ("empty body with HTTP 200", Last, ok_json(""), Outcome("decode_error")),
        ("truncated JSON envelope", Last, ok_json(r#"{"code":0,"msg":"Succ"#), Outcome("decode_error")),
        ("non-UTF-8 body", Last, http("200 OK", "application/json", b"{\"code\":0,\"msg\":\"\xff\xfe\"}"), Outcome("decode_error")),
        ("nesting 10 000 deep", Last, ok_json(&nested), Outcome("decode_error")),
        ("envelope is an array", Last, ok_json(r#"[{"code":0}]"#), Outcome("decode_error")),
        ("code is a string", Last, ok_json(r#"{"code":"0","data":[]}"#), Outcome("decode_error")),
        ("code is missing", Last, ok_json(r#"{"msg":"Success","data":[]}"#), Outcome("decode_error")),
        ("code is a float", Last, ok_json(r#"{"code":0.5,"data":[]}"#), Outcome("decode_error")),
        ("code 10006 too frequent", Last, ok_json(r#"{"code":10006,"msg":"Request too frequently","data":null}"#), Outcome("rate_limited")),
        ("code 10005 too many", Last, ok_json(r#"{"code":10005,"msg":"Too many requests","data":null}"#), Outcome("rate_limited")),
        ("code 20015 refused", Last, ok_json(r#"{"code":20015,"msg":"not allowed","data":null}"#), Outcome("api_error")),
        ("connection closed without an answer", Last, Some(Vec::new()), Outcome("transport")),
        ("no answer at all", Last, None, Outcome("timeout")),
        ("kline data is an object", Klines, ok_json(&format!(r#"{{"code":0,"data":{ROW}}}"#)), Payload("decode_error")),
        ("kline data is null", Klines, ok_json(r#"{"code":0,"data":null}"#), Payload("decode_error")),
        ("tickers data is empty", Last, ok_json(r#"{"code":0,"data":[]}"#), Payload("decode_error")),
        ("funding rate is NaN", Funding, ok_json(r#"{"code":0,"data":{"symbol":"BTCUSDT","fundingRate":"NaN","markPrice":"1"}}"#), Payload("decode_error")),
        ("funding data is a string", Funding, ok_json(r#"{"code":0,"data":"0.01"}"#), Payload("decode_error")),
        ("precision is a word", Pair, ok_json(r#"{"code":0,"data":[{"symbol":"BTCUSDT","basePrecision":"four","quotePrecision":1,"minTradeVolume":"0.0001","symbolStatus":"OPEN"}]}"#), Payload("decode_error")),
        ("kline open is NaN", Klines, row_edit(r#""open":"100""#, r#""open":"NaN""#), Row("not_a_number")),
        ("kline high is a huge number", Klines, row_edit(r#""high":"102""#, &format!(r#""high":"{}""#, "9".repeat(1_000))), Row("out_of_range")),
        ("kline close is a JSON number", Klines, row_edit(r#""close":"101""#, r#""close":101"#), Row("wrong_type")),
        ("kline row without quoteVol", Klines, row_edit(r#""quoteVol":"1.5","#, ""), Row("missing_field")),
        ("kline time is empty", Klines, row_edit(r#""time":"1704067200000""#, r#""time":"""#), Row("malformed")),
        ("kline row is an array", Klines, kline_body(r#"["100","102","99","101","1.5","150","1704067200000"]"#), Row("missing_field")),
        ("kline row twice", Klines, kline_body(&format!("{ROW},{ROW}")), Row("duplicate_row")),
        ("kline high below low", Klines, row_edit(r#""high":"102""#, r#""high":"98""#), Row("ohlc_inconsistent")),
        ("kline close above high", Klines, row_edit(r#""close":"101""#, r#""close":"103""#), Row("ohlc_inconsistent")),
        ("kline open above high (Bitunix opens at the previous close)", Klines, row_edit(r#""open":"100""#, r#""open":"102.5""#), Kept("open_outside_range")),
        ("kline open below low", Klines, row_edit(r#""open":"100""#, r#""open":"98.9""#), Kept("open_outside_range")),
    ]
}

/// Serves the scripted answers, one per connection, in order.
async fn serve(listener: TcpListener, answers: Arc<Mutex<Vec<Answer>>>) {
    let mut parked = Vec::new();
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let answer = answers.lock().unwrap().pop().flatten();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        match answer {
            Some(bytes) => {
                let _ = socket.write_all(&bytes).await;
                let _ = socket.shutdown().await;
            }
            // Keep the socket open and silent until the test ends.
            None => parked.push(socket),
        }
    }
}

fn rest_label(error: &FeedError) -> &'static str {
    error.as_str()
}

#[tokio::test]
async fn hostile_rest_bodies_are_counted_under_their_reason_and_never_panic() {
    let catalogue = rest_catalogue();
    let kinds: BTreeSet<&str> = catalogue.iter().map(|(kind, ..)| *kind).collect();
    assert_eq!(kinds.len(), catalogue.len(), "duplicate kind names");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answers = Arc::new(Mutex::new(Vec::new()));
    let server = tokio::spawn(serve(listener, Arc::clone(&answers)));
    let mut config = FeedConfig::new(btc(), Interval::M1);
    config.rest_url = format!("http://{addr}");
    config.ws_url = format!("ws://{addr}/public/");
    config.rest_retry_budget = 0;
    config.rest_timeout = Duration::from_millis(300);
    config.rest_requests_per_sec = 10;
    let client = RestClient::new(&config).unwrap();
    let mut wrong = Vec::new();
    for (kind, call, answer, expected) in catalogue {
        answers.lock().unwrap().push(answer);
        let before = client.counters();
        let client2 = client.clone();
        // A panic inside the client surfaces as a JoinError naming the case.
        let result = tokio::spawn(async move {
            match call {
                Call::Klines => client2
                    .klines(btc(), Interval::M1, 5, None)
                    .await
                    .map(|c| c.len()),
                Call::Funding => client2.funding_rate(btc()).await.map(|_| 1),
                Call::Pair => client2.trading_pair(btc()).await.map(|_| 1),
                Call::Last => client2.last_price(btc()).await.map(|_| 1),
            }
        })
        .await;
        let after = client.counters();
        let delta = |map: fn(
            &la_feed_bitunix::CountersSnapshot,
        ) -> &std::collections::BTreeMap<String, u64>,
                     key: &str| {
            map(&after).get(key).copied().unwrap_or(0) - map(&before).get(key).copied().unwrap_or(0)
        };
        let verdict = match (&result, expected) {
            (Err(_), _) => Err("PANICKED".to_owned()),
            (Ok(Err(e)), RestExpect::Outcome(want))
                if rest_label(e) == want && delta(|c| &c.rest_by_outcome, want) == 1 =>
            {
                Ok(())
            }
            (Ok(Err(e)), RestExpect::Payload(want))
                if rest_label(e) == want && delta(|c| &c.rest_by_outcome, "ok") == 1 =>
            {
                Ok(())
            }
            (Ok(Ok(0)), RestExpect::Row(want)) if delta(|c| &c.rest_rows_rejected, want) == 1 => {
                Ok(())
            }
            (Ok(Ok(1)), RestExpect::Kept(want))
                if delta(|c| &c.rest_rows_normalized, want) == 1
                    && after.rest_rows_rejected == before.rest_rows_rejected =>
            {
                Ok(())
            }
            (Ok(Ok(1)), RestExpect::Row("duplicate_row"))
                if delta(|c| &c.rest_rows_rejected, "duplicate_row") == 1 =>
            {
                Ok(())
            }
            (other, _) => Err(format!(
                "got {other:?}; outcomes {:?} -> {:?}; rows {:?} -> {:?}",
                before.rest_by_outcome,
                after.rest_by_outcome,
                before.rest_rows_rejected,
                after.rest_rows_rejected
            )),
        };
        if let Err(why) = verdict {
            wrong.push(format!("{kind} (expected {expected:?}): {why}"));
        }
    }
    server.abort();
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
