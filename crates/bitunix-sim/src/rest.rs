//! The REST market endpoints, with the real exchange's quirks.
//!
//! Envelope `{"code":0,"data":..,"msg":"Success"}`; errors are HTTP 200 with `data:null`
//! (unknown symbol 20015, unknown path 404, bad depth limit 10008, bad parameter 10002); a
//! server-wide sliding window of `rest_rate_limit_per_sec` requests per second answers
//! code 10006 beyond it (rejected requests do not count toward the window).
//!
//! `funding_rate` gives the upcoming rate in percent; `get_funding_rate_history` the
//! settled ones as fractions (see `funding`).
//!
//! Kline: rows newest-first, every value a string including `time`, `quoteVol` = BASE
//! volume and `baseVol` = QUOTE turnover (swapped, as on the wire), `limit` default 100
//! and silently capped at 200, only candles with `time + interval <= virtual now` (plus
//! the forming bar if configured). Range semantics (UNCERTAIN on the real exchange, chosen
//! here): `startTime` and `endTime` are both **inclusive** bounds on `time`; with
//! `endTime` (or neither) the newest `limit` rows at or before it are returned; with only
//! `startTime` the oldest `limit` rows from it. Intervals coarser than the data's are
//! aggregated from it; finer ones answer 10002.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode, header};
use la_core::Decimal;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{
    config::{FundingShape, rest_interval},
    funding::{FUNDING_PERIOD_MS, funding_times},
    path::{self, Forming},
    state::{Shared, lock},
    wire::dec,
};

/// The response body type of every route.
pub(crate) type Body = Full<Bytes>;

const PREFIX: &str = "/api/v1/futures/market/";
const MAX_KLINE_LIMIT: u64 = 200;
const DEFAULT_KLINE_LIMIT: u64 = 100;
/// The funding-rate history's page size (the exchange documents none; chosen here).
const DEFAULT_FUNDING_HISTORY_LIMIT: u64 = 100;
const MAX_FUNDING_HISTORY_LIMIT: u64 = 100;
const DEPTH_LIMITS: [&str; 5] = ["1", "5", "15", "50", "max"];
const MAX_DEPTH_LEVELS: usize = 200;

/// Answers one REST request (faults, rate limit, then routing).
pub(crate) async fn handle(
    shared: Arc<Shared>,
    path: String,
    query: Option<String>,
) -> Response<Body> {
    let route = path.strip_prefix(PREFIX).filter(|r| {
        [
            "kline",
            "funding_rate",
            "get_funding_rate_history",
            "trading_pairs",
            "tickers",
            "depth",
        ]
        .contains(r)
    });
    let stat_path = route.map_or("other", |_| path.as_str()).to_owned();
    let (delay, http_5xx, limited) = {
        let now = Instant::now();
        let w = lock(&shared.windows);
        (w.rest_delay(now), w.rest_5xx(now), w.rest_limited(now))
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let outcome = |o: &str| shared.stat(|s| s.rest(&stat_path, o));
    if http_5xx {
        let served = shared
            .rest_5xx_served
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let status = if served.is_multiple_of(2) {
            StatusCode::BAD_GATEWAY
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        outcome(&format!("http_{}", status.as_u16()));
        return html_error(status);
    }
    match limited {
        Some(true) => {
            outcome("http_429");
            return plain(StatusCode::TOO_MANY_REQUESTS, Bytes::new(), "text/plain");
        }
        Some(false) => {
            outcome("code_10006");
            return envelope_error(10006, "Request too frequently");
        }
        None => {}
    }
    if !admit(&shared) {
        outcome("code_10006");
        return envelope_error(10006, "Request too frequently");
    }
    let params = query_pairs(query.as_deref().unwrap_or(""));
    let result = match route {
        Some("kline") => kline(&shared, &params),
        Some("funding_rate") => funding_rate(&shared, &params),
        Some("get_funding_rate_history") => funding_rate_history(&shared, &params),
        Some("trading_pairs") => trading_pairs(&shared, &params),
        Some("tickers") => tickers(&shared, &params),
        Some("depth") => depth(&shared, &params),
        _ => Err((404, "Not Found".to_owned())),
    };
    match result {
        Ok(data) => {
            outcome("ok");
            let body = format!(r#"{{"code":0,"data":{data},"msg":"Success"}}"#);
            plain(StatusCode::OK, Bytes::from(body), "application/json")
        }
        Err((code, msg)) => {
            outcome(&format!("code_{code}"));
            envelope_error(code, &msg)
        }
    }
}

/// The sliding one-second window shared by the whole server.
fn admit(shared: &Shared) -> bool {
    let now = Instant::now();
    let mut window = lock(&shared.rest_window);
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
    {
        window.pop_front();
    }
    if window.len() >= usize::try_from(shared.rest_rate_limit_per_sec).unwrap_or(usize::MAX) {
        return false;
    }
    window.push_back(now);
    true
}

type RouteResult = Result<Value, (i64, String)>;

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn unknown_symbol() -> (i64, String) {
    (20015, "this Futures is not allowed to trade.".to_owned())
}

fn parameter_error() -> (i64, String) {
    (10002, "Parameter Error".to_owned())
}

/// Checks a required `symbol` parameter against the served symbol.
fn require_symbol(shared: &Shared, params: &[(String, String)]) -> Result<(), (i64, String)> {
    match param(params, "symbol") {
        None | Some("") => Err(parameter_error()),
        Some(s) if s.eq_ignore_ascii_case(shared.symbol.as_str()) => Ok(()),
        Some(_) => Err(unknown_symbol()),
    }
}

/// Whether an optional `symbols` list includes the served symbol (absent = all).
fn symbols_include(shared: &Shared, params: &[(String, String)]) -> Result<(), (i64, String)> {
    match param(params, "symbols") {
        None | Some("") => Ok(()),
        Some(list) => list
            .split(',')
            .any(|s| s.trim().eq_ignore_ascii_case(shared.symbol.as_str()))
            .then_some(())
            .ok_or_else(unknown_symbol),
    }
}

struct Row {
    time: i64,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    base: Decimal,
    quote: Decimal,
}

impl Row {
    fn from_forming(time: i64, f: &Forming) -> Self {
        Self {
            time,
            open: f.open,
            high: f.high,
            low: f.low,
            close: f.close,
            base: f.base_volume,
            quote: f.quote_turnover,
        }
    }

    fn merge(self, next: Row) -> Row {
        Row {
            time: self.time,
            open: self.open,
            high: self.high.max(next.high),
            low: self.low.min(next.low),
            close: next.close,
            base: self.base + next.base,
            quote: self.quote + next.quote,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "open": dec(self.open),
            "high": dec(self.high),
            "low": dec(self.low),
            "close": dec(self.close),
            // Swapped on the real wire: quoteVol is the base volume, baseVol the turnover.
            "quoteVol": dec(self.base),
            "baseVol": dec(self.quote),
            "time": self.time.to_string(),
        })
    }
}

/// The bar of `width` ms opening at `open`, aggregated from the data, as of `now`;
/// `None` if any part is missing or (unless `forming_ok`) not yet complete.
fn bar(shared: &Shared, open: i64, width: i64, now: i64, forming_ok: bool) -> Option<Row> {
    let market = &shared.market;
    let step = market.interval_ms();
    let mut row: Option<Row> = None;
    let mut t = open;
    while t < open + width {
        let part = if t + step <= now {
            let candle = market.candle_at(t)?;
            let f = path::forming_at(&candle, market.last_offset(), market.last_offset());
            Row::from_forming(t, &f)
        } else if forming_ok && t <= now {
            let (_, f) = market.forming_at(now)?;
            Row::from_forming(t, &f)
        } else {
            break;
        };
        row = Some(match row {
            None => Row { time: open, ..part },
            Some(acc) => acc.merge(part),
        });
        t += step;
    }
    if !forming_ok && t < open + width {
        return None;
    }
    // An `OpenOutsideRange` fault: the bucket's row opens where its push did.
    if let Some((bucket, outside)) = lock(&shared.stream).open_outside
        && bucket == open
        && let Some(row) = row.as_mut()
    {
        row.open = outside;
    }
    row
}

fn kline(shared: &Shared, params: &[(String, String)]) -> RouteResult {
    require_symbol(shared, params)?;
    let interval_text = param(params, "interval").unwrap_or("");
    let interval = rest_interval(interval_text).ok_or_else(|| {
        (
            10008,
            format!(
                "Parameter {interval_text} does not match, alternative value [\"1m\",\"5m\",\"15m\",\"30m\",\"1h\",\"2h\",\"4h\",\"6h\",\"8h\",\"12h\",\"1d\"]."
            ),
        )
    })?;
    let width = interval.as_ms();
    let step = shared.market.interval_ms();
    if width < step || width % step != 0 {
        return Err(parameter_error());
    }
    let limit = limit_param(params, DEFAULT_KLINE_LIMIT, MAX_KLINE_LIMIT)?;
    let (start, end) = (
        number_param(params, "startTime")?,
        number_param(params, "endTime")?,
    );
    let now = shared.clock.now_ms();
    let floor = |t: i64| t - t.rem_euclid(width);
    let forming_open = floor(now);
    let first = floor(shared.market.first_open());
    let lower = start.map_or(first, |s| floor(s + width - 1).max(first));
    let upper = end.map_or(forming_open, |e| floor(e).min(forming_open));
    let mut rows: Vec<Row> = Vec::new();
    let include_forming = shared.include_forming_bar;
    if start.is_some() && end.is_none() {
        let mut t = lower;
        while t <= upper && rows.len() < limit {
            let is_forming = t == forming_open;
            if let Some(row) = bar(shared, t, width, now, is_forming && include_forming) {
                rows.push(row);
            }
            t += width;
        }
        rows.reverse();
    } else {
        let mut t = upper;
        while t >= lower && rows.len() < limit {
            let is_forming = t == forming_open;
            if let Some(row) = bar(shared, t, width, now, is_forming && include_forming) {
                rows.push(row);
            }
            t -= width;
        }
    }
    Ok(Value::Array(rows.iter().map(Row::to_json).collect()))
}

/// The current last price, or the final close once the data has run out.
fn last_price(shared: &Shared, now: i64) -> Option<(Decimal, Decimal, Decimal)> {
    let market = &shared.market;
    let t = match market.data_end() {
        Some(end) if now >= end => end - 1,
        _ => now,
    };
    let (_, forming) = market.forming_at(t)?;
    let (index, mark) = market.index_and_mark(t)?;
    Some((forming.close, index, mark))
}

/// An optional integer parameter; present but not an integer is a parameter error.
fn number_param(params: &[(String, String)], name: &str) -> Result<Option<i64>, (i64, String)> {
    param(params, name)
        .filter(|v| !v.is_empty())
        .map(|v| v.parse::<i64>().map_err(|_| parameter_error()))
        .transpose()
}

/// `limit`: absent or non-positive gives `default`, anything above `max` is capped.
fn limit_param(
    params: &[(String, String)],
    default: u64,
    max: u64,
) -> Result<usize, (i64, String)> {
    let limit = match number_param(params, "limit")? {
        None => default,
        Some(n) if n <= 0 => default,
        Some(n) => u64::try_from(n).unwrap_or(max).min(max),
    };
    Ok(usize::try_from(limit).unwrap_or(usize::MAX))
}

/// `get_funding_rate_history`: settled rates as **fractions** (unlike `funding_rate`, which
/// is in percent), newest first, each with its `fundingTime` and the mark price then. The
/// start parameter is spelled `starTime`, as in the exchange's documentation. Range
/// semantics follow `kline` (both bounds inclusive; with `endTime` or neither the newest
/// `limit` rows, with only `starTime` the oldest). Only funding times the data covers and
/// the virtual clock has reached are listed.
fn funding_rate_history(shared: &Shared, params: &[(String, String)]) -> RouteResult {
    require_symbol(shared, params)?;
    let limit = limit_param(
        params,
        DEFAULT_FUNDING_HISTORY_LIMIT,
        MAX_FUNDING_HISTORY_LIMIT,
    )?;
    let (start, end) = (
        number_param(params, "starTime")?,
        number_param(params, "endTime")?,
    );
    let now = shared.clock.now_ms();
    let market = &shared.market;
    let first = funding_times(market.first_open() - 1).1;
    let (latest, _) = funding_times(now);
    let lower = start.map_or(first, |s| funding_times(s - 1).1.max(first));
    let upper = end.map_or(latest, |e| funding_times(e).0.min(latest));
    let row = |t: i64| {
        let (_, mark) = market.index_and_mark(t)?;
        Some(json!({
            "fundingRate": dec(shared.funding.settling_at(t) / Decimal::ONE_HUNDRED),
            "fundingTime": t.to_string(),
            "markPrice": dec(mark),
        }))
    };
    let mut rows = Vec::new();
    if start.is_some() && end.is_none() {
        let mut t = lower;
        while t <= upper && rows.len() < limit {
            rows.extend(row(t));
            t += FUNDING_PERIOD_MS;
        }
        rows.reverse();
    } else {
        let mut t = upper;
        while t >= lower && rows.len() < limit {
            rows.extend(row(t));
            t -= FUNDING_PERIOD_MS;
        }
    }
    Ok(Value::Array(rows))
}

fn funding_rate(shared: &Shared, params: &[(String, String)]) -> RouteResult {
    require_symbol(shared, params)?;
    let now = shared.clock.now_ms();
    let (last, index, mark) =
        last_price(shared, now).ok_or_else(|| (1, "Network Error".to_owned()))?;
    let (_, next) = funding_times(now);
    let row = json!({
        "symbol": shared.symbol.as_str(),
        "markPrice": dec(mark),
        "lastPrice": dec(last),
        "indexPrice": dec(index),
        "fundingRate": dec(shared.funding.upcoming(now)),
        "nextFundingTime": next.to_string(),
        "fundingInterval": 8,
        "maxFundingRate": "0.75",
        "minFundingRate": "-0.75",
    });
    Ok(match shared.funding_shape {
        FundingShape::Object => row,
        FundingShape::Array => Value::Array(vec![row]),
    })
}

fn trading_pairs(shared: &Shared, params: &[(String, String)]) -> RouteResult {
    symbols_include(shared, params)?;
    let symbol = shared.symbol.as_str();
    let base = symbol.strip_suffix("USDT").unwrap_or(symbol);
    Ok(json!([{
        "symbol": symbol,
        "base": base,
        "quote": "USDT",
        "minTradeVolume": "0.0001",
        "minBuyPriceOffset": "-0.95",
        "maxSellPriceOffset": "100",
        "maxLimitOrderVolume": "100000",
        "maxMarketOrderVolume": "50000",
        "basePrecision": 4,
        "quotePrecision": 1,
        "minLeverage": 1,
        "maxLeverage": 125,
        "defaultLeverage": 20,
        "defaultMarginMode": 1,
        "priceProtectScope": "0.02",
        "symbolStatus": "OPEN",
    }]))
}

fn tickers(shared: &Shared, params: &[(String, String)]) -> RouteResult {
    symbols_include(shared, params)?;
    let now = shared.clock.now_ms();
    let market = &shared.market;
    let t = match market.data_end() {
        Some(end) if now >= end => end - 1,
        _ => now,
    };
    let (Some(ticker), Some((_, mark))) = (market.ticker_at(t), market.index_and_mark(t)) else {
        return Ok(json!([]));
    };
    Ok(json!([{
        "symbol": shared.symbol.as_str(),
        "markPrice": dec(mark),
        "lastPrice": dec(ticker.last),
        "open": dec(ticker.open24),
        "last": dec(ticker.last),
        "quoteVol": dec(ticker.quote24),
        "baseVol": dec(ticker.base24),
        "high": dec(ticker.high24),
        "low": dec(ticker.low24),
    }]))
}

fn depth(shared: &Shared, params: &[(String, String)]) -> RouteResult {
    match param(params, "symbol") {
        None | Some("") => return Err((1, "Network Error".to_owned())),
        Some(s) if !s.eq_ignore_ascii_case(shared.symbol.as_str()) => return Err(unknown_symbol()),
        Some(_) => {}
    }
    let levels = match param(params, "limit") {
        None | Some("max") => MAX_DEPTH_LEVELS,
        Some(text) if DEPTH_LIMITS.contains(&text) => text.parse().unwrap_or(MAX_DEPTH_LEVELS),
        Some(text) => {
            return Err((
                10008,
                format!(
                    "Parameter {text} does not match, alternative value [\"1\",\"5\",\"15\",\"50\",\"max\"]."
                ),
            ));
        }
    };
    let now = shared.clock.now_ms();
    let (last, _, _) = last_price(shared, now).ok_or_else(|| (1, "Network Error".to_owned()))?;
    let tick = Decimal::new(1, 1);
    let best_bid = last.round_dp_with_strategy(1, rust_decimal::RoundingStrategy::ToZero);
    let size = |k: usize| dec(Decimal::new(i64::try_from(k * 37 % 97 + 3).unwrap_or(3), 3));
    let mut bids = Vec::with_capacity(levels);
    let mut asks = Vec::with_capacity(levels);
    for k in 0..levels {
        let offset = tick * Decimal::from(k);
        bids.push(json!([dec(best_bid - offset), size(k)]));
        asks.push(json!([dec(best_bid + tick + offset), size(k + 1)]));
    }
    Ok(json!({ "asks": asks, "bids": bids }))
}

/// `{"code":N,"data":null,"msg":"..."}` with HTTP 200, as the exchange answers errors.
pub(crate) fn envelope_error(code: i64, msg: &str) -> Response<Body> {
    let msg = serde_json::to_string(msg).unwrap_or_else(|_| "\"\"".to_owned());
    let text = format!(r#"{{"code":{code},"data":null,"msg":{msg}}}"#);
    plain(StatusCode::OK, Bytes::from(text), "application/json")
}

/// An HTML error page like the one a CDN in front of the exchange serves.
pub(crate) fn html_error(status: StatusCode) -> Response<Body> {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let body = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
    );
    plain(status, Bytes::from(body), "text/html")
}

pub(crate) fn plain(status: StatusCode, body: Bytes, content_type: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    if let Ok(value) = header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// Decoded `key=value` pairs of a query string.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(byte) = decoded {
            out.push(byte);
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
