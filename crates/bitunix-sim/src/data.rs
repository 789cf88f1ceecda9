//! Loading market data: a candle CSV (optionally gzip-compressed), a seeded random walk, or
//! candles given in memory, into one contiguous, validated candle series.
//!
//! Bad CSV rows never abort the load: each is counted by reason, the first few are logged at
//! warn, and the row is skipped. A row whose open lies outside `[low, high]` is real data
//! (the convention of exchanges that open a bar at the previous close): it is kept with the
//! range widened, by the same rule every reader of exchange bars uses
//! (`la_core::Ohlc::normalize`), and counted. Holes in the series (missing buckets) are filled with flat,
//! zero-volume candles at the previous close, because a real exchange prints a candle for
//! every bucket and a hole would otherwise look like a feed gap to the client.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufRead, BufReader, Read},
    path::Path,
};

use la_core::{Candle, CandleNormalization, Decimal, Interval, Ohlc, Price, TimestampMs, Volume};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::{config::MarketData, error::SimError};

/// A loaded, contiguous candle series with its load report.
#[derive(Debug)]
pub(crate) struct LoadedData {
    /// Ascending, one per bucket, no holes.
    pub(crate) candles: Vec<Candle>,
    /// Rows (or given candles) skipped as invalid.
    pub(crate) rows_skipped: u64,
    /// Skipped rows by reason label.
    pub(crate) skip_reasons: BTreeMap<String, u64>,
    /// Rows kept after a documented normalisation, by label (`open_outside_range`).
    pub(crate) rows_normalized: BTreeMap<String, u64>,
    /// Flat candles inserted into holes.
    pub(crate) holes_filled: u64,
}

/// How many bad rows are logged individually before only counting.
const LOGGED_BAD_ROWS: u64 = 10;

/// Loads `data` for `interval`.
pub(crate) fn load(data: &MarketData, interval: Interval) -> Result<LoadedData, SimError> {
    let mut report = SkipReport::default();
    let candles = match data {
        MarketData::Csv(path) => load_csv(path, interval, &mut report)?,
        MarketData::Generated {
            seed,
            start_price,
            start_time,
            n_candles,
        } => generate(*seed, *start_price, *start_time, *n_candles, interval)?,
        MarketData::Candles(given) => from_given(given, interval, &mut report)?,
    };
    if candles.is_empty() {
        return Err(SimError::Data(format!(
            "no valid candles ({} rows skipped: {:?})",
            report.skipped, report.reasons
        )));
    }
    let (candles, holes_filled) = fill_holes(candles, interval);
    Ok(LoadedData {
        candles,
        rows_skipped: report.skipped,
        skip_reasons: report.reasons,
        rows_normalized: report.normalized,
        holes_filled,
    })
}

#[derive(Default)]
struct SkipReport {
    skipped: u64,
    reasons: BTreeMap<String, u64>,
    normalized: BTreeMap<String, u64>,
}

impl SkipReport {
    fn skip(&mut self, line_no: usize, reason: &str, detail: &str) {
        self.skipped += 1;
        *self.reasons.entry(reason.to_owned()).or_default() += 1;
        if self.skipped <= LOGGED_BAD_ROWS {
            tracing::warn!(line = line_no, reason, detail, "skipping bad candle row");
        }
    }
}

fn load_csv(
    path: &Path,
    interval: Interval,
    report: &mut SkipReport,
) -> Result<Vec<Candle>, SimError> {
    let io_err = |source| SimError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let is_gz = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("gz"));
    let reader: Box<dyn Read> = if is_gz {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut reader = BufReader::new(reader);
    let mut candles: Vec<Candle> = Vec::new();
    let mut line = Vec::new();
    let mut line_no = 0usize;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) => {
                // A truncated or corrupt file: keep what was read, count and report it.
                report.skip(line_no + 1, "read_error", &error.to_string());
                break;
            }
        }
        line_no += 1;
        let Ok(text) = std::str::from_utf8(&line) else {
            report.skip(line_no, "not_utf8", "");
            continue;
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if line_no == 1 && text.starts_with(|c: char| c.is_ascii_alphabetic()) {
            if !text.eq_ignore_ascii_case("ts_ms,open,high,low,close,volume") {
                tracing::warn!(header = text, "unexpected candle CSV header; reading on");
            }
            continue;
        }
        match parse_row(text, interval) {
            Ok((candle, normalization)) => {
                if let Some(normalization) = normalization {
                    *report
                        .normalized
                        .entry(normalization.as_str().to_owned())
                        .or_default() += 1;
                }
                if let Some(last) = candles.last()
                    && candle.open_time() <= last.open_time()
                {
                    report.skip(line_no, "not_increasing", text);
                    continue;
                }
                candles.push(candle);
            }
            Err(reason) => report.skip(line_no, &reason, text),
        }
    }
    Ok(candles)
}

/// One CSV row into a candle (and the normalisation applied, if any), or the skip reason
/// label.
fn parse_row(
    text: &str,
    interval: Interval,
) -> Result<(Candle, Option<CandleNormalization>), String> {
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    let [ts, open, high, low, close, volume] = fields.as_slice() else {
        return Err("wrong_column_count".to_owned());
    };
    let label = |e: la_core::DataError| format!("{}:{}", e.field, e.reason);
    let ts: i64 = ts.parse().map_err(|_| "bad_timestamp".to_owned())?;
    let open_time = TimestampMs::new(ts).map_err(label)?;
    let ohlc = Ohlc {
        open: Price::parse("open", open).map_err(label)?,
        high: Price::parse("high", high).map_err(label)?,
        low: Price::parse("low", low).map_err(label)?,
        close: Price::parse("close", close).map_err(label)?,
    };
    let volume = Volume::parse("volume", volume).map_err(label)?;
    Candle::normalized(interval, open_time, ohlc, volume).map_err(label)
}

fn from_given(
    given: &[Candle],
    interval: Interval,
    report: &mut SkipReport,
) -> Result<Vec<Candle>, SimError> {
    if let Some(other) = given.iter().find(|c| c.interval() != interval) {
        return Err(SimError::Data(format!(
            "candle interval {} differs from the configured {interval}",
            other.interval()
        )));
    }
    let mut sorted = given.to_vec();
    sorted.sort_by_key(Candle::open_time);
    let mut out: Vec<Candle> = Vec::with_capacity(sorted.len());
    for (idx, candle) in sorted.into_iter().enumerate() {
        if out
            .last()
            .is_some_and(|last| last.open_time() == candle.open_time())
        {
            report.skip(
                idx + 1,
                "duplicate_open_time",
                &candle.open_time().to_string(),
            );
            continue;
        }
        out.push(candle);
    }
    Ok(out)
}

/// Inserts flat zero-volume candles at the previous close into missing buckets.
fn fill_holes(candles: Vec<Candle>, interval: Interval) -> (Vec<Candle>, u64) {
    let step = interval.as_ms();
    let mut out: Vec<Candle> = Vec::with_capacity(candles.len());
    let mut filled = 0u64;
    for candle in candles {
        if let Some(prev) = out.last().copied() {
            let mut t = prev.open_time().as_ms() + step;
            while t < candle.open_time().as_ms() {
                let Some(flat) = TimestampMs::new(t).ok().and_then(|open_time| {
                    let p = prev.close();
                    Candle::new(interval, open_time, p, p, p, p, Volume::ZERO).ok()
                }) else {
                    break;
                };
                out.push(flat);
                filled += 1;
                t += step;
            }
        }
        out.push(candle);
    }
    if filled > 0 {
        tracing::warn!(
            filled,
            "filled holes in the candle data with flat zero-volume candles"
        );
    }
    (out, filled)
}

/// A deterministic random walk in 0.1 ticks; volumes in 0.0001 steps, always > 0.
fn generate(
    seed: u64,
    start_price: Decimal,
    start_time: TimestampMs,
    n_candles: usize,
    interval: Interval,
) -> Result<Vec<Candle>, SimError> {
    use rust_decimal::prelude::ToPrimitive;
    let start_tenths = (start_price * Decimal::TEN)
        .round()
        .to_i64()
        .filter(|t| (10..=1_000_000_000_000).contains(t))
        .ok_or_else(|| {
            SimError::Config(format!(
                "generated start_price {start_price} must be in 1..=1e11"
            ))
        })?;
    let mut rng = StdRng::seed_from_u64(seed);
    let minutes = interval.as_ms() / 60_000;
    // Roughly 0.05 % per minute, growing with the square root of the interval.
    let sqrt_minutes = (1..=minutes)
        .take_while(|k| k * k <= minutes)
        .last()
        .unwrap_or(1);
    let mut candles = Vec::with_capacity(n_candles);
    let mut price = start_tenths;
    let first = interval.open_time_of(start_time).as_ms();
    for idx in 0..n_candles {
        let Some(open_time) = i64::try_from(idx)
            .ok()
            .and_then(|i| i.checked_mul(interval.as_ms()))
            .and_then(|offset| TimestampMs::new(first.saturating_add(offset)).ok())
        else {
            break;
        };
        let sigma = (price * 5 / 10_000 * sqrt_minutes).max(2);
        let open = price;
        let step = rng.random_range(-sigma..=sigma) + rng.random_range(-sigma..=sigma) / 2;
        let close = (open + step).max(10);
        let high = open.max(close) + rng.random_range(0..=sigma / 2);
        let low = (open.min(close) - rng.random_range(0..=sigma / 2)).max(5);
        let volume = rng.random_range(1..=200_000i64) * minutes;
        let tenths = |t: i64| Price::new(Decimal::new(t, 1));
        let candle = (|| {
            Candle::new(
                interval,
                open_time,
                tenths(open)?,
                tenths(high)?,
                tenths(low)?,
                tenths(close)?,
                Volume::new(Decimal::new(volume, 4))?,
            )
        })()
        .map_err(|e| SimError::Data(format!("generator produced an invalid candle: {e}")))?;
        candles.push(candle);
        price = close;
    }
    Ok(candles)
}

#[cfg(test)]
mod tests;
