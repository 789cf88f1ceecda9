//! Reading historical candles from `ts_ms,open,high,low,close,volume` CSV files (`.gz`
//! allowed), as recorded in `../shared/data/candles`.
//!
//! Every row goes through the validated constructors; a bad row is counted by reason and
//! skipped, never a panic and never silently "fixed". The one documented normalisation of
//! exchange bars applies here as on the live feed (`la_core::Ohlc::normalize`): an open
//! outside `[low, high]` widens the range, and the row is counted in `normalized`.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufRead, BufReader, Read},
    path::Path,
};

use la_core::{Candle, CandleNormalization, Interval, Ohlc, Price, TimestampMs, Volume};

use crate::error::SessionError;

/// Candles read from a file, with the rows that were rejected.
#[derive(Debug, Default)]
pub struct CandleFile {
    /// Valid candles, in file order.
    pub candles: Vec<Candle>,
    /// Rejected rows by reason label.
    pub rejected: BTreeMap<String, u64>,
    /// Rows kept after a documented normalisation, by label (`open_outside_range`).
    pub normalized: BTreeMap<String, u64>,
}

fn open_reader(path: &Path) -> Result<Box<dyn BufRead>, SessionError> {
    let file = File::open(path).map_err(|e| SessionError::io("cannot open", path, e))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|ext| ext == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::new(reader)))
}

fn parse_row(
    line: &str,
    interval: Interval,
) -> Result<(Candle, Option<CandleNormalization>), String> {
    let mut fields = line.split(',');
    let mut next = |name: &'static str| {
        fields
            .next()
            .map(str::trim)
            .ok_or_else(|| format!("missing_{name}"))
    };
    let reason = |e: la_core::DataError| e.reason.as_str().to_owned();
    let ts_text = next("ts_ms")?;
    let ts_ms: i64 = ts_text.parse().map_err(|_| "malformed_ts_ms".to_owned())?;
    let open_time = TimestampMs::new(ts_ms).map_err(reason)?;
    let ohlc = Ohlc {
        open: Price::parse("open", next("open")?).map_err(reason)?,
        high: Price::parse("high", next("high")?).map_err(reason)?,
        low: Price::parse("low", next("low")?).map_err(reason)?,
        close: Price::parse("close", next("close")?).map_err(reason)?,
    };
    let volume = Volume::parse("volume", next("volume")?).map_err(reason)?;
    Candle::normalized(interval, open_time, ohlc, volume).map_err(reason)
}

/// Reads every candle of `path` at `interval`. A header line is skipped; rows out of
/// time order are rejected as `out_of_order`.
///
/// # Errors
/// The file cannot be opened or read.
pub fn load_candles(path: &Path, interval: Interval) -> Result<CandleFile, SessionError> {
    let reader = open_reader(path)?;
    let mut out = CandleFile::default();
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| SessionError::io("cannot read", path, e))?;
        let trimmed = line.trim();
        if trimmed.is_empty()
            || (index == 0 && trimmed.starts_with(|c: char| c.is_ascii_alphabetic()))
        {
            continue;
        }
        match parse_row(trimmed, interval) {
            Ok((candle, normalization)) => {
                if out
                    .candles
                    .last()
                    .is_some_and(|last| candle.open_time() <= last.open_time())
                {
                    *out.rejected.entry("out_of_order".into()).or_default() += 1;
                } else {
                    if let Some(normalization) = normalization {
                        *out.normalized
                            .entry(normalization.as_str().to_owned())
                            .or_default() += 1;
                    }
                    out.candles.push(candle);
                }
            }
            Err(reason) => *out.rejected.entry(reason).or_default() += 1,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
