//! Parsing REST `data` payloads into core values, with the exchange's quirks handled here and
//! nowhere else:
//! - kline rows arrive **newest-first**, every value a **string** (including `time`), and the
//!   volume labels are **swapped**: `quoteVol` holds the base-coin volume;
//! - a still-forming bar may be included: rows with `time + interval > now` are dropped;
//! - OHLC can be inconsistent on the wire: Bitunix opens a bar at the previous close even
//!   when no trade in the bar reaches it, so `open` may lie outside `[low, high]`. Such rows
//!   are real: they are kept with the range widened to include the open
//!   (`la_core::Ohlc::normalize`, the rule WebSocket pushes and candle files share) and
//!   counted (`rest_rows_normalized`). What no exchange convention explains (`high < low`,
//!   a close outside the range) is rejected and counted (`rest_rows_rejected`);
//! - `funding_rate` `data` may be an object or an array, and its rate is in **percent**;
//! - `get_funding_rate_history` rows are newest-first and their rates are **fractions**
//!   (not percent); a bad row is rejected and counted like a bad kline row;
//! - `trading_pairs` has no tick size: tick = 10^-quotePrecision, step = 10^-basePrecision.

use std::collections::BTreeMap;

use la_core::{
    Candle, CandleNormalization, Decimal, FundingInfo, Interval, Ohlc, Price, Qty, RejectReason,
    Symbol, TimestampMs, Volume,
};
use serde::Serialize;
use serde_json::Value;

use crate::{decode, error::FeedError};

/// Trading status of an instrument (`symbolStatus`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum SymbolStatus {
    /// Trading normally.
    Open,
    /// Only cancellations accepted.
    CancelOnly,
    /// Halted.
    Stop,
    /// Announced, not yet trading.
    Preview,
    /// A status this client does not know.
    Other(String),
}

/// Instrument rules derived from `trading_pairs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstrumentInfo {
    /// The instrument.
    pub symbol: Symbol,
    /// Price tick: 10^-quotePrecision (0.1 for BTCUSDT).
    pub tick_size: Price,
    /// Quantity step: 10^-basePrecision (0.0001 for BTCUSDT).
    pub qty_step: Qty,
    /// Smallest order quantity (`minTradeVolume`).
    pub min_qty: Qty,
    /// Trading status.
    pub status: SymbolStatus,
}

/// Why a kline row was rejected (a counter label).
pub(crate) type RowRejection = &'static str;

/// A parsed kline page.
#[derive(Debug, Default)]
pub(crate) struct KlinePage {
    /// Valid, complete candles by open time.
    pub(crate) candles: BTreeMap<TimestampMs, Candle>,
    /// Rows in the answer (valid or not).
    pub(crate) rows: usize,
    /// The oldest `time` seen in any row, valid or not (for paging backwards).
    pub(crate) oldest: Option<TimestampMs>,
    /// Rejected rows by reason.
    pub(crate) rejected: Vec<RowRejection>,
    /// Rows kept after a documented normalisation.
    pub(crate) normalized: Vec<CandleNormalization>,
    /// Rows dropped because the bar was still forming at `now`.
    pub(crate) forming_dropped: usize,
}

fn field<'v>(row: &'v Value, name: &'static str) -> Result<&'v Value, RowRejection> {
    row.get(name).ok_or("missing_field")
}

fn text<'v>(row: &'v Value, name: &'static str) -> Result<&'v str, RowRejection> {
    field(row, name)?.as_str().ok_or("wrong_type")
}

fn row_time(row: &Value) -> Result<TimestampMs, RowRejection> {
    ms_field(row, "time")
}

/// An epoch-millisecond field, as a string of digits (the wire form) or a JSON integer.
fn ms_field(row: &Value, name: &'static str) -> Result<TimestampMs, RowRejection> {
    let value = field(row, name)?;
    let ms = match value {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse::<i64>()
            .map_err(|_| RejectReason::TimestampOutOfBounds.as_str())?,
        Value::Number(n) => n.as_i64().ok_or("wrong_type")?,
        Value::String(_) => return Err(RejectReason::Malformed.as_str()),
        _ => return Err("wrong_type"),
    };
    TimestampMs::new(ms).map_err(|e| e.reason.as_str())
}

fn row_price(row: &Value, name: &'static str) -> Result<Price, RowRejection> {
    Price::parse(name, text(row, name)?).map_err(|e| e.reason.as_str())
}

fn parse_row(
    row: &Value,
    interval: Interval,
) -> Result<(Candle, Option<CandleNormalization>), RowRejection> {
    let open_time = row_time(row)?;
    let ohlc = Ohlc {
        open: row_price(row, "open")?,
        high: row_price(row, "high")?,
        low: row_price(row, "low")?,
        close: row_price(row, "close")?,
    };
    // Swapped on the wire: `quoteVol` is the base-coin volume (on a real row, 16.0341 ×
    // the price ≈ 1 026 789, the `baseVol` turnover).
    let volume =
        Volume::parse("quoteVol", text(row, "quoteVol")?).map_err(|e| e.reason.as_str())?;
    Candle::normalized(interval, open_time, ohlc, volume).map_err(|e| e.reason.as_str())
}

/// Parses a kline `data` array; keeps complete bars only (`open_time + interval <= now`).
pub(crate) fn kline_page(
    data: &Value,
    interval: Interval,
    now: TimestampMs,
) -> Result<KlinePage, FeedError> {
    let rows = data
        .as_array()
        .ok_or_else(|| FeedError::Decode("kline data is not an array".to_owned()))?;
    let mut page = KlinePage {
        rows: rows.len(),
        ..KlinePage::default()
    };
    for row in rows {
        if let Ok(time) = row_time(row) {
            page.oldest = Some(page.oldest.map_or(time, |o| o.min(time)));
        }
        match parse_row(row, interval) {
            Ok((candle, _)) if candle.close_time() > now => page.forming_dropped += 1,
            Ok((candle, normalization)) => {
                if page.candles.insert(candle.open_time(), candle).is_some() {
                    page.rejected.push("duplicate_row");
                } else if let Some(normalization) = normalization {
                    page.normalized.push(normalization);
                }
            }
            Err(reason) => page.rejected.push(reason),
        }
    }
    Ok(page)
}

/// One settled funding rate from the funding-rate history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SettledFunding {
    /// The funding time it settled at.
    pub funding_time: TimestampMs,
    /// The rate, as a fraction per period (positive: longs pay shorts).
    pub rate: Decimal,
    /// The mark price at the funding time, when the row carries one.
    pub mark_price: Option<Price>,
}

/// A parsed funding-history page.
#[derive(Debug, Default)]
pub(crate) struct FundingHistoryPage {
    /// Valid rows by funding time.
    pub(crate) settled: BTreeMap<TimestampMs, SettledFunding>,
    /// Rows in the answer (valid or not).
    pub(crate) rows: usize,
    /// The oldest `fundingTime` of any row, valid or not (for paging backwards).
    pub(crate) oldest: Option<TimestampMs>,
    /// Rejected rows by reason.
    pub(crate) rejected: Vec<RowRejection>,
}

fn parse_settled(row: &Value) -> Result<SettledFunding, RowRejection> {
    let funding_time = ms_field(row, "fundingTime")?;
    let rate = decode::settled_funding_fraction("fundingRate", text(row, "fundingRate")?)
        .map_err(|r| r.as_str())?;
    let mark_price = match row.get("markPrice") {
        None | Some(Value::Null) => None,
        Some(_) => Some(row_price(row, "markPrice")?),
    };
    Ok(SettledFunding {
        funding_time,
        rate,
        mark_price,
    })
}

/// Parses a `get_funding_rate_history` `data` array.
pub(crate) fn funding_history_page(data: &Value) -> Result<FundingHistoryPage, FeedError> {
    let rows = data
        .as_array()
        .ok_or_else(|| FeedError::Decode("funding history data is not an array".to_owned()))?;
    let mut page = FundingHistoryPage {
        rows: rows.len(),
        ..FundingHistoryPage::default()
    };
    for row in rows {
        if let Ok(time) = ms_field(row, "fundingTime") {
            page.oldest = Some(page.oldest.map_or(time, |o| o.min(time)));
        }
        match parse_settled(row) {
            Ok(settled) => {
                if page.settled.insert(settled.funding_time, settled).is_some() {
                    page.rejected.push("duplicate_row");
                }
            }
            Err(reason) => page.rejected.push(reason),
        }
    }
    Ok(page)
}

fn object_or_first(data: &Value, symbol: Symbol) -> Option<&Value> {
    match data {
        Value::Object(_) => Some(data),
        Value::Array(rows) => rows
            .iter()
            .find(|r| r.get("symbol").and_then(Value::as_str) == Some(symbol.as_str()))
            .or_else(|| rows.first().filter(|r| r.get("symbol").is_none())),
        _ => None,
    }
}

fn decode_err(what: impl std::fmt::Display) -> FeedError {
    FeedError::Decode(what.to_string())
}

fn str_field<'v>(row: &'v Value, name: &str) -> Result<&'v str, FeedError> {
    row.get(name)
        .ok_or_else(|| decode_err(format!("missing `{name}`")))?
        .as_str()
        .ok_or_else(|| decode_err(format!("`{name}` is not a string")))
}

/// Parses `funding_rate` `data` (object or array); the wire rate is in percent.
pub(crate) fn funding(
    data: &Value,
    symbol: Symbol,
    now: TimestampMs,
) -> Result<FundingInfo, FeedError> {
    let row = object_or_first(data, symbol)
        .ok_or_else(|| decode_err(format!("no funding row for {symbol}")))?;
    let rate = decode::funding_fraction("fundingRate", str_field(row, "fundingRate")?)
        .map_err(|r| decode_err(format!("fundingRate: {r}")))?;
    let mark_price = match row.get("markPrice").and_then(Value::as_str) {
        Some(text) => Some(Price::parse("markPrice", text).map_err(decode_err)?),
        None => None,
    };
    let next_funding_time = match row.get("nextFundingTime") {
        None | Some(Value::Null) => None,
        Some(value) => {
            let ms = match value {
                Value::String(s) => s
                    .parse::<i64>()
                    .map_err(|_| decode_err("nextFundingTime"))?,
                Value::Number(n) => n.as_i64().ok_or_else(|| decode_err("nextFundingTime"))?,
                _ => return Err(decode_err("nextFundingTime has the wrong type")),
            };
            Some(TimestampMs::new(ms).map_err(decode_err)?)
        }
    };
    Ok(FundingInfo {
        rate,
        mark_price,
        next_funding_time,
        ts: now,
    })
}

/// 10^-precision as a decimal, for precisions 0..=12.
fn ten_to_minus(precision: &Value, name: &str) -> Result<Decimal, FeedError> {
    let p = precision
        .as_u64()
        .filter(|p| *p <= u64::from(la_core::value::MAX_SCALE))
        .ok_or_else(|| decode_err(format!("`{name}` is not an integer in 0..=12")))?;
    let scale = u32::try_from(p).map_err(|_| decode_err(name))?;
    Ok(Decimal::new(1, scale))
}

/// Parses `trading_pairs` `data` for `symbol`.
pub(crate) fn trading_pair(data: &Value, symbol: Symbol) -> Result<InstrumentInfo, FeedError> {
    let row = data
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r.get("symbol").and_then(Value::as_str) == Some(symbol.as_str()))
        })
        .ok_or_else(|| decode_err(format!("{symbol} not in trading_pairs")))?;
    let quote_precision = row
        .get("quotePrecision")
        .ok_or_else(|| decode_err("missing `quotePrecision`"))?;
    let base_precision = row
        .get("basePrecision")
        .ok_or_else(|| decode_err("missing `basePrecision`"))?;
    let tick_size =
        Price::new(ten_to_minus(quote_precision, "quotePrecision")?).map_err(decode_err)?;
    let qty_step = Qty::new(ten_to_minus(base_precision, "basePrecision")?).map_err(decode_err)?;
    let min_qty =
        Qty::parse("minTradeVolume", str_field(row, "minTradeVolume")?).map_err(decode_err)?;
    let status = match row.get("symbolStatus").and_then(Value::as_str) {
        Some("OPEN") => SymbolStatus::Open,
        Some("CANCEL_ONLY") => SymbolStatus::CancelOnly,
        Some("STOP") => SymbolStatus::Stop,
        Some("PREVIEW") => SymbolStatus::Preview,
        Some(other) => SymbolStatus::Other(other.to_owned()),
        None => return Err(decode_err("missing `symbolStatus`")),
    };
    Ok(InstrumentInfo {
        symbol,
        tick_size,
        qty_step,
        min_qty,
        status,
    })
}

/// Parses `tickers` `data` for `symbol`: `lastPrice`, else `last`.
pub(crate) fn last_price(data: &Value, symbol: Symbol) -> Result<Price, FeedError> {
    let row = object_or_first(data, symbol)
        .filter(|r| {
            r.get("symbol")
                .and_then(Value::as_str)
                .is_none_or(|s| s == symbol.as_str())
        })
        .ok_or_else(|| decode_err(format!("{symbol} not in tickers")))?;
    let text = row
        .get("lastPrice")
        .or_else(|| row.get("last"))
        .and_then(Value::as_str)
        .ok_or_else(|| decode_err("no `lastPrice`/`last` string"))?;
    Price::parse("lastPrice", text).map_err(decode_err)
}
