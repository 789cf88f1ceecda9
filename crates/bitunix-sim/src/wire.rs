//! Exact wire text of every frame the simulator sends, built by hand so field order and
//! number formatting match the captures in `bitunix-protocol.md` (every value inside `data`
//! is a JSON string; decimals are printed without trailing zeros, e.g. `"68590"`).
//!
//! Also builds the deliberately broken frames of the `Garbage` and `BadValue` faults.

use la_core::Decimal;

use crate::{
    faults::{BadValueKind, GarbageKind},
    funding::{FundingSeries, funding_times},
    market::{TickerData, iso_utc},
    path::Forming,
};

/// The server's first frame on every socket.
pub(crate) const CONNECT_FRAME: &str = r#"{"op":"connect","data":{"result":true}}"#;

/// The reply to a subscribe frame that would exceed 300 streams.
pub(crate) const REFUSAL_FRAME: &str =
    r#"{"op":"subscribe","data":{"msg":"subscribe channel > 300","nonce":"","result":false}}"#;

/// A decimal as the exchange prints it.
pub(crate) fn dec(value: Decimal) -> String {
    value.normalize().to_string()
}

/// `{"op":"ping","pong":N,"ping":<server unix s>}`; `echo` is the client's value as JSON.
pub(crate) fn pong_frame(echo: &str, server_secs: i64) -> String {
    format!(r#"{{"op":"ping","pong":{echo},"ping":{server_secs}}}"#)
}

/// `{"op":"unsubscribe","ts":<ms>,"data":"success"}`.
pub(crate) fn unsubscribe_frame(ts: i64) -> String {
    format!(r#"{{"op":"unsubscribe","ts":{ts},"data":"success"}}"#)
}

/// A kline push with the forming candle's cumulative values.
pub(crate) fn kline_frame(ch: &str, symbol: &str, ts: i64, f: &Forming) -> String {
    kline_text(
        ch,
        symbol,
        ts,
        &[
            ("o", quoted(f.open)),
            ("c", quoted(f.close)),
            ("h", quoted(f.high)),
            ("l", quoted(f.low)),
            ("b", quoted(f.base_volume)),
            ("q", quoted(f.quote_turnover)),
        ],
    )
}

fn quoted(value: Decimal) -> String {
    format!("\"{}\"", dec(value))
}

fn kline_text(ch: &str, symbol: &str, ts: i64, fields: &[(&str, String)]) -> String {
    let data: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("\"{key}\":{value}"))
        .collect();
    format!(
        r#"{{"ch":"{ch}","symbol":"{symbol}","ts":{ts},"data":{{{}}}}}"#,
        data.join(",")
    )
}

fn ticker_fields(symbol: &str, t: &TickerData) -> Vec<(&'static str, String)> {
    vec![
        ("s", format!("\"{symbol}\"")),
        ("o", quoted(t.open24)),
        ("la", quoted(t.last)),
        ("h", quoted(t.high24)),
        ("l", quoted(t.low24)),
        ("b", quoted(t.base24)),
        ("q", quoted(t.quote24)),
        ("r", quoted(t.change_pct)),
    ]
}

fn ticker_text(symbol: &str, ts: i64, fields: &[(&str, String)]) -> String {
    let data: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("\"{key}\":{value}"))
        .collect();
    format!(
        r#"{{"ch":"ticker","symbol":"{symbol}","ts":{ts},"data":{{{}}}}}"#,
        data.join(",")
    )
}

/// A single-symbol `ticker` push.
pub(crate) fn ticker_frame(symbol: &str, ts: i64, t: &TickerData) -> String {
    ticker_text(symbol, ts, &ticker_fields(symbol, t))
}

/// A `price` push: index, mark, the last settled funding rate (percent) and the last and
/// next funding times.
pub(crate) fn price_frame(
    symbol: &str,
    ts: i64,
    index: Decimal,
    mark: Decimal,
    funding: &FundingSeries,
) -> String {
    let (last, next) = funding_times(ts);
    let rate_percent = funding.last_settled(ts);
    format!(
        r#"{{"ch":"price","symbol":"{symbol}","ts":{ts},"data":{{"ip":"{}","mp":"{}","fr":"{}","ft":"{}","nft":"{}"}}}}"#,
        dec(index),
        dec(mark),
        dec(rate_percent),
        iso_utc(last),
        iso_utc(next)
    )
}

/// One wrong symbol used by `BadValue::WrongSymbol`.
const WRONG_SYMBOL: &str = "ETHUSDT";
const DAY_MS: i64 = 86_400_000;

/// The context a bad-value frame is built from.
pub(crate) struct BadValueInput<'a> {
    pub(crate) kline_ch: &'a str,
    pub(crate) symbol: &'a str,
    /// The virtual push time.
    pub(crate) ts: i64,
    /// The previous kline push time (for `BackwardsTimestamp`).
    pub(crate) previous_ts: i64,
    pub(crate) interval_ms: i64,
    pub(crate) forming: Forming,
    pub(crate) ticker: TickerData,
}

/// One invalid kline frame and one invalid ticker frame for `kind`.
pub(crate) fn bad_value_frames(kind: BadValueKind, input: &BadValueInput<'_>) -> (String, String) {
    let mut kline = vec![
        ("o", quoted(input.forming.open)),
        ("c", quoted(input.forming.close)),
        ("h", quoted(input.forming.high)),
        ("l", quoted(input.forming.low)),
        ("b", quoted(input.forming.base_volume)),
        ("q", quoted(input.forming.quote_turnover)),
    ];
    let mut ticker = ticker_fields(input.symbol, &input.ticker);
    let mut symbol = input.symbol;
    let mut ts = input.ts;
    // Field positions: kline o=0 c=1 h=2 l=3; ticker la=2 h=3 l=4.
    let mut set = |kline_idx: usize, ticker_idx: usize, value: String| {
        kline[kline_idx].1 = value.clone();
        ticker[ticker_idx].1 = value;
    };
    match kind {
        BadValueKind::NaN => set(1, 2, "\"NaN\"".to_owned()),
        BadValueKind::Infinity => set(1, 2, "\"Infinity\"".to_owned()),
        BadValueKind::Negative => set(1, 2, format!("\"-{}\"", dec(input.forming.close))),
        BadValueKind::Zero => set(1, 2, "\"0\"".to_owned()),
        BadValueKind::EmptyString => set(1, 2, "\"\"".to_owned()),
        BadValueKind::HugeString => set(1, 2, format!("\"{}\"", "9".repeat(100_000))),
        BadValueKind::NumberNotString => set(1, 2, dec(input.forming.close)),
        BadValueKind::MissingField => {
            kline.remove(1);
            ticker.remove(2);
        }
        BadValueKind::ExtraField => {
            kline.push(("x", "\"1\"".to_owned()));
            ticker.push(("x", "\"1\"".to_owned()));
        }
        BadValueKind::HighBelowLow => {
            let high = input.forming.low - Decimal::ONE;
            let low = input.forming.high + Decimal::ONE;
            kline[2].1 = quoted(high);
            kline[3].1 = quoted(low);
            ticker[3].1 = quoted(input.ticker.low24 - Decimal::ONE);
            ticker[4].1 = quoted(input.ticker.high24 + Decimal::ONE);
        }
        BadValueKind::WrongSymbol => {
            symbol = WRONG_SYMBOL;
            ticker[0].1 = format!("\"{WRONG_SYMBOL}\"");
        }
        BadValueKind::FutureTimestamp => ts = input.ts + DAY_MS,
        BadValueKind::BackwardsTimestamp => ts = input.previous_ts - input.interval_ms,
    }
    (
        kline_text(input.kline_ch, symbol, ts, &kline),
        ticker_text(symbol, ts, &ticker),
    )
}

/// A malformed frame: `(is_binary, payload)`. `kline_sample` is a current kline frame,
/// used for `Truncated`.
pub(crate) fn garbage_payload(kind: GarbageKind, kline_sample: &str) -> (bool, Vec<u8>) {
    match kind {
        GarbageKind::NonJson => (false, b"hello, this is not json {".to_vec()),
        GarbageKind::Binary => (true, vec![0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef]),
        GarbageKind::Truncated => {
            let cut = kline_sample.len() / 2;
            let mut cut = cut.max(1).min(kline_sample.len());
            while !kline_sample.is_char_boundary(cut) {
                cut -= 1;
            }
            (false, kline_sample.as_bytes()[..cut].to_vec())
        }
        GarbageKind::Oversized => {
            let mut text = String::from(r#"{"ch":"ticker","symbol":"BTCUSDT","pad":""#);
            text.push_str(&"x".repeat((2 << 20) + 1024));
            text.push_str("\"}");
            (false, text.into_bytes())
        }
        GarbageKind::DeeplyNested => {
            let mut text = "[".repeat(100_000);
            text.push_str(&"]".repeat(100_000));
            (false, text.into_bytes())
        }
        GarbageKind::EmptyText => (false, Vec::new()),
    }
}

/// A generic kline-looking frame for `Truncated` when no data is flowing.
pub(crate) fn sample_kline(ch: &str, symbol: &str, ts: i64) -> String {
    format!(
        r#"{{"ch":"{ch}","symbol":"{symbol}","ts":{ts},"data":{{"o":"1","c":"1","h":"1","l":"1","b":"1","q":"1"}}}}"#
    )
}
