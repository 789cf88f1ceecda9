//! Frames and REST bodies captured from the live exchange, replayed through the decoder and
//! the REST parsers: each must decode to the values written in it, or be ignored because
//! this client neither subscribes to its channel nor calls its endpoint.
//!
//! Two sources feed one checker ([`check_capture`]): the live captures quoted in the
//! protocol notes, inline below with hand-written expected values; and, when it exists,
//! the shared capture file `../shared/data/bitunix/captured-frames.jsonl` (one JSON object a
//! line: `id`, `kind` = `ws` | `rest`, `channel`, `status`, `source`, `raw`), whose `live`
//! lines are all checked. The checker reads each capture a second way (serde_json values,
//! field by field) and compares what the client decoded with what the capture says. When the
//! file is missing the file test says so loudly and reports that it checked 0 lines; it
//! fails instead when `LA_REQUIRE_CAPTURED_FRAMES` is set.

use std::path::PathBuf;

use hyper::StatusCode;
use la_core::{Decimal, Interval, Price, Symbol, TimestampMs};
use serde_json::Value;

use crate::{
    config::ws_channel,
    decode::{Decoded, FrameDecoder, JsonBackend},
    error::FeedError,
    rest::{transport::classify, wire},
};

/// What checking one capture established.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    /// Decoded, and every value the client reads equals the capture's (channel label).
    Decoded(&'static str),
    /// Decoded after the documented normalisation (an open outside `[low, high]` widened
    /// the range); every other value equals the capture's.
    Normalized(&'static str),
    /// An error envelope, typed with the capture's code and message.
    ApiError(i64),
    /// Not read by this client (a channel it does not subscribe to, an endpoint it never
    /// calls), with the reason.
    Ignored(&'static str),
}

fn decimal(value: &Value, what: &str) -> Result<Decimal, String> {
    value
        .as_str()
        .ok_or_else(|| format!("{what} is not a string: {value}"))?
        .parse::<Decimal>()
        .map_err(|e| format!("{what}: {e}"))
}

fn field<'v>(value: &'v Value, path: &[&str]) -> Result<&'v Value, String> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .ok_or_else(|| format!("capture has no {}", path.join(".")))
}

fn same(label: &str, decoded: Decimal, written: Decimal) -> Result<(), String> {
    if decoded == written {
        Ok(())
    } else {
        Err(format!(
            "{label}: decoded {decoded}, the capture says {written}"
        ))
    }
}

/// Decodes `raw` with both JSON back ends for a client subscribed to the frame's own
/// symbol (and kline interval); they must agree.
fn decode_ws(raw: &str, symbol: Symbol, interval: Interval) -> Result<Decoded, String> {
    let mut verdicts = [JsonBackend::SimdJson, JsonBackend::SerdeJson].map(|backend| {
        let mut bytes = raw.as_bytes().to_vec();
        FrameDecoder::with_backend(interval, backend).decode(&mut bytes, symbol)
    });
    if verdicts[0] != verdicts[1] {
        return Err(format!("back ends disagree: {verdicts:?}"));
    }
    std::mem::replace(&mut verdicts[0], Ok(Decoded::Connect))
        .map_err(|rejection| format!("rejected: {rejection}"))
}

/// The kline interval of a `market_kline_*` channel name.
fn kline_interval(ch: &str) -> Option<Interval> {
    Interval::ALL
        .into_iter()
        .find(|interval| ws_channel(*interval) == Some(ch))
}

fn check_ws(raw: &str) -> Result<Verdict, String> {
    let frame: Value = serde_json::from_str(raw).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(op) = frame.get("op").and_then(Value::as_str) {
        let decoded = decode_ws(raw, btc(), Interval::M1)?;
        return match (op, decoded) {
            ("connect", Decoded::Connect) => Ok(Verdict::Decoded("connect")),
            ("ping", Decoded::Pong { client_ping }) => {
                let written = field(&frame, &["pong"])?.as_i64();
                if written == Some(client_ping) {
                    Ok(Verdict::Decoded("pong"))
                } else {
                    Err(format!("pong {client_ping}, the capture says {written:?}"))
                }
            }
            ("subscribe", Decoded::SubscribeRefused) => {
                let result = field(&frame, &["data", "result"])?;
                if result == &Value::Bool(false) {
                    Ok(Verdict::Decoded("subscribe_refused"))
                } else {
                    Err(format!("refusal decoded from result {result}"))
                }
            }
            (_, Decoded::ControlOther) => Ok(Verdict::Ignored("control frame")),
            (op, other) => Err(format!("op {op:?} decoded as {other:?}")),
        };
    }
    let ch = field(&frame, &["ch"])?
        .as_str()
        .ok_or("ch is not a string")?;
    let symbol = match frame.get("symbol").and_then(Value::as_str) {
        Some(text) => Symbol::new(text).map_err(|e| e.to_string())?,
        None => btc(),
    };
    let interval = kline_interval(ch).unwrap_or(Interval::M1);
    let decoded = decode_ws(raw, symbol, interval)?;
    let ts = field(&frame, &["ts"])?
        .as_i64()
        .ok_or("ts is not an integer")?;
    let same_ts = |decoded: TimestampMs| {
        if decoded.as_ms() == ts {
            Ok(())
        } else {
            Err(format!("ts {decoded}, the capture says {ts}"))
        }
    };
    let data = |key: &str| field(&frame, &["data", key]).and_then(|v| decimal(v, key));
    match decoded {
        Decoded::Kline {
            ts: decoded_ts,
            o,
            h,
            l,
            c,
            base_volume,
            normalization,
        } => {
            same_ts(decoded_ts)?;
            let (open, high, low) = (data("o")?, data("h")?, data("l")?);
            same("o", o.get(), open)?;
            same("h", h.get(), high.max(open))?;
            same("l", l.get(), low.min(open))?;
            same("c", c.get(), data("c")?)?;
            same("b", base_volume.get(), data("b")?)?;
            let outside = open > high || open < low;
            match (outside, normalization) {
                (false, None) => Ok(Verdict::Decoded("kline")),
                (true, Some(_)) => Ok(Verdict::Normalized("kline")),
                _ => Err(format!("open {open} in [{low}, {high}]: {normalization:?}")),
            }
        }
        Decoded::Ticker {
            ts: decoded_ts,
            last,
        } => {
            same_ts(decoded_ts)?;
            same("la", last.get(), data("la")?)?;
            Ok(Verdict::Decoded("ticker"))
        }
        Decoded::Price {
            ts: decoded_ts,
            mark,
            index,
            funding_rate_fraction,
            next_funding_time,
        } => {
            same_ts(decoded_ts)?;
            same("mp", mark.get(), data("mp")?)?;
            same("ip", index.get(), data("ip")?)?;
            same(
                "fr",
                funding_rate_fraction,
                data("fr")? / Decimal::ONE_HUNDRED,
            )?;
            if frame.pointer("/data/nft").is_some() != next_funding_time.is_some() {
                return Err(format!("nft decoded as {next_funding_time:?}"));
            }
            Ok(Verdict::Decoded("price"))
        }
        Decoded::IgnoredChannel if ch.starts_with("market_kline_") => {
            Err(format!("{ch} ignored by a client subscribed to it"))
        }
        Decoded::IgnoredChannel => Ok(Verdict::Ignored("channel not subscribed")),
        other => Err(format!("data frame on {ch} decoded as {other:?}")),
    }
}

/// The body of a REST answer: the `data` of a success envelope, or the raw payload when
/// the capture holds `data` alone.
fn check_rest(raw: &str) -> Result<Verdict, String> {
    let body: Value = serde_json::from_str(raw).map_err(|e| format!("not JSON: {e}"))?;
    let data = if let Some(code) = body.get("code") {
        match classify(StatusCode::OK, raw.as_bytes(), "BTCUSDT") {
            Ok(data) => data,
            Err(FeedError::Api { code: typed, msg }) => {
                let written = body.get("msg").and_then(Value::as_str).unwrap_or("");
                return if Some(typed) == code.as_i64() && msg == written {
                    Ok(Verdict::ApiError(typed))
                } else {
                    Err(format!(
                        "typed as {typed} {msg:?}, the capture says {code} {written:?}"
                    ))
                };
            }
            Err(FeedError::RateLimited) if matches!(code.as_i64(), Some(10005 | 10006)) => {
                return Ok(Verdict::ApiError(code.as_i64().unwrap_or(0)));
            }
            Err(other) => return Err(format!("envelope refused: {other}")),
        }
    } else {
        body
    };
    let first = match &data {
        Value::Array(rows) => rows.first().cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    let has = |key: &str| first.get(key).is_some();
    if has("open") && has("high") && has("time") {
        check_kline_rows(&data)
    } else if has("fundingRate") && has("fundingTime") {
        Ok(Verdict::Ignored(
            "funding history is not read by this client",
        ))
    } else if has("fundingRate") {
        let symbol = first
            .get("symbol")
            .and_then(Value::as_str)
            .map_or_else(|| Ok(btc()), Symbol::new)
            .map_err(|e| e.to_string())?;
        let info =
            wire::funding(&data, symbol, ts(1_790_000_000_000)).map_err(|e| e.to_string())?;
        same(
            "fundingRate",
            info.rate,
            decimal(&first["fundingRate"], "fundingRate")? / Decimal::ONE_HUNDRED,
        )?;
        if let Some(mark) = first.get("markPrice") {
            same(
                "markPrice",
                info.mark_price.map_or(Decimal::ZERO, Price::get),
                decimal(mark, "markPrice")?,
            )?;
        }
        Ok(Verdict::Decoded("funding_rate"))
    } else if has("quotePrecision") {
        let symbol =
            Symbol::new(first["symbol"].as_str().unwrap_or("")).map_err(|e| e.to_string())?;
        let info = wire::trading_pair(&data, symbol).map_err(|e| e.to_string())?;
        let precision = first["quotePrecision"].as_u64().ok_or("quotePrecision")?;
        same(
            "tick",
            info.tick_size.get(),
            Decimal::new(1, u32::try_from(precision).unwrap_or(0)),
        )?;
        same(
            "minTradeVolume",
            info.min_qty.get(),
            decimal(&first["minTradeVolume"], "minTradeVolume")?,
        )?;
        Ok(Verdict::Decoded("trading_pairs"))
    } else if has("lastPrice") || has("last") {
        let symbol = Symbol::new(first["symbol"].as_str().unwrap_or("BTCUSDT"))
            .map_err(|e| e.to_string())?;
        let last = wire::last_price(&data, symbol).map_err(|e| e.to_string())?;
        let written = first
            .get("lastPrice")
            .or_else(|| first.get("last"))
            .unwrap_or(&Value::Null);
        same("lastPrice", last.get(), decimal(written, "lastPrice")?)?;
        Ok(Verdict::Decoded("tickers"))
    } else if data.get("asks").is_some() || data.get("bids").is_some() {
        Ok(Verdict::Ignored("depth is not read by this client"))
    } else {
        Err(format!(
            "an answer this client cannot place: {}",
            &raw[..raw.len().min(120)]
        ))
    }
}

fn check_kline_rows(data: &Value) -> Result<Verdict, String> {
    let rows = data.as_array().ok_or("kline data is not an array")?;
    let interval = Interval::M1;
    // "Now" far ahead, so no row counts as still forming.
    let page =
        wire::kline_page(data, interval, ts(4_000_000_000_000)).map_err(|e| e.to_string())?;
    if !page.rejected.is_empty() {
        return Err(format!("rows rejected: {:?}", page.rejected));
    }
    if page.candles.len() != rows.len() {
        return Err(format!(
            "{} rows, {} candles",
            rows.len(),
            page.candles.len()
        ));
    }
    let mut normalized = false;
    for row in rows {
        let time: i64 = row["time"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .or_else(|| row["time"].as_i64())
            .ok_or("row time")?;
        let candle = page
            .candles
            .get(&ts(time))
            .ok_or(format!("row {time} missing"))?;
        let (open, high, low) = (
            decimal(&row["open"], "open")?,
            decimal(&row["high"], "high")?,
            decimal(&row["low"], "low")?,
        );
        same("open", candle.open().get(), open)?;
        same("high", candle.high().get(), high.max(open))?;
        same("low", candle.low().get(), low.min(open))?;
        same(
            "close",
            candle.close().get(),
            decimal(&row["close"], "close")?,
        )?;
        // Swapped labels on the wire: `quoteVol` is the base-coin volume.
        same(
            "quoteVol",
            candle.volume().get(),
            decimal(&row["quoteVol"], "quoteVol")?,
        )?;
        normalized |= open > high || open < low;
    }
    if normalized == page.normalized.is_empty() {
        return Err(format!("normalisations reported: {:?}", page.normalized));
    }
    Ok(if normalized {
        Verdict::Normalized("kline")
    } else {
        Verdict::Decoded("kline")
    })
}

/// Checks one capture of `kind` (`ws` or `rest`).
fn check_capture(kind: &str, raw: &str) -> Result<Verdict, String> {
    match kind {
        "ws" => check_ws(raw),
        "rest" => check_rest(raw),
        other => Err(format!("unknown kind {other:?}")),
    }
}

fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap_or_else(|_| unreachable!("a valid literal symbol"))
}

fn ts(ms: i64) -> TimestampMs {
    TimestampMs::new(ms).unwrap_or(TimestampMs::MIN)
}

/// Where the shared capture file lives: `bitunix/` in the shared data folder.
fn capture_file() -> PathBuf {
    la_shared_data::root().join("bitunix/captured-frames.jsonl")
}

mod tests;
