//! Reading historical candles from `ts_ms,open,high,low,close,volume` CSV files (`.gz`
//! allowed), as recorded in `../shared/data/candles`, at the interval a run trades.
//!
//! Every row goes through the validated constructors; a bad row is counted by reason with the
//! first few line numbers, never a panic and never silently "fixed". The one documented
//! normalisation of exchange bars applies here as on the live feed (`la_core::Ohlc::normalize`):
//! an open outside `[low, high]` widens the range, and the row is counted in `normalized`.
//! The file's own interval
//! is detected (the smallest step between rows); a coarser trading interval **resamples** it
//! (see [`resample`]), a finer one is an error, and a file with no usable rows is an error
//! that says why. The gaps of the file (missing bars) are measured and reported.

use std::{
    fs::File,
    io::{BufRead, BufReader, Read},
    path::Path,
};

use la_core::{Candle, CandleNormalization, Interval, Ohlc, Price, TimestampMs, Volume};
use la_run_schema::inputs::{CandleFileQuality, Gaps, Resampling};

use crate::error::SessionError;

/// The header a candle file has (or, without a header, the order of its columns).
pub const EXPECTED_HEADER: &str = "ts_ms,open,high,low,close,volume";

/// Candles read from a file, with what was wrong with it.
#[derive(Debug, Default)]
pub struct CandleFile {
    /// Valid candles at the requested interval, ascending.
    pub candles: Vec<Candle>,
    /// What the file contained and what was rejected, normalised, resampled or missing.
    pub quality: CandleFileQuality,
}

/// Human lines describing a candle file's rejections, gaps and resampling (none when it was
/// clean).
pub fn describe_quality(quality: &CandleFileQuality) -> Vec<String> {
    let mut lines = Vec::new();
    for (reason, rows) in &quality.rejected {
        let shown: Vec<String> = rows.first_lines.iter().map(u64::to_string).collect();
        let more = if rows.count > rows.first_lines.len() as u64 {
            ", …"
        } else {
            ""
        };
        lines.push(format!(
            "rejected {} row(s): {reason} (line {}{more})",
            rows.count,
            shown.join(", ")
        ));
    }
    for (label, count) in &quality.normalized {
        lines.push(format!("normalised {count} row(s): {label}"));
    }
    if quality.gaps.count > 0 {
        lines.push(format!(
            "gaps: {} ({} bar(s) missing), longest {} from {}",
            quality.gaps.count,
            quality.gaps.missing_bars,
            crate::time_fmt::span_text(quality.gaps.longest_ms),
            quality
                .gaps
                .longest_from_ms
                .map_or_else(|| "-".to_owned(), crate::time_fmt::ms_to_rfc3339)
        ));
    }
    if let Some(resampled) = &quality.resampled {
        let mut line = format!(
            "resampled {} → {}: {} incomplete bucket(s) kept",
            resampled.from, resampled.to, resampled.incomplete_buckets
        );
        if let Some(first) = resampled.first_incomplete_ms {
            line.push_str(&format!(
                " (first {})",
                crate::time_fmt::ms_to_rfc3339(first)
            ));
        }
        line.push_str(&format!(
            ", {} edge bucket(s) dropped",
            resampled.dropped_edge_buckets
        ));
        lines.push(line);
    }
    lines
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

/// One validated, normalised row before it becomes a candle of some interval.
#[derive(Clone, Copy, Debug)]
struct Bar {
    line_no: u64,
    open_time: TimestampMs,
    ohlc: Ohlc,
    volume: Volume,
}

/// Splits a row at its commas. A character-set pattern: for short ASCII fields a scan of
/// the characters is cheaper than the `memchr` search a single `char` pattern starts for
/// each field.
fn fields(row: &str) -> std::str::Split<'_, [char; 1]> {
    row.split([','])
}

fn parse_row(line: &str, line_no: u64) -> Result<(Bar, Option<CandleNormalization>), String> {
    let mut fields = fields(line);
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
    if fields.next().is_some() {
        return Err("extra_fields".to_owned());
    }
    // The consistency checks and the normalisation of `Candle::normalized`; alignment is
    // checked later, against the file's own interval.
    let (ohlc, normalization) = ohlc.normalize().map_err(reason)?;
    Ok((
        Bar {
            line_no,
            open_time,
            ohlc,
            volume,
        },
        normalization,
    ))
}

fn is_header(line: &str) -> bool {
    line.starts_with(|c: char| c.is_ascii_alphabetic())
}

fn header_matches(line: &str) -> bool {
    let columns: Vec<String> = line
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    columns == EXPECTED_HEADER.split(',').collect::<Vec<_>>()
}

fn no_usable_rows(path: &Path, message: String) -> SessionError {
    SessionError::Data {
        path: path.to_path_buf(),
        message,
    }
}

/// Reads every candle of `path` and returns it at `interval`: as is when the file has that
/// interval, aggregated ([`resample`]) when the file is finer.
///
/// # Errors
/// The file cannot be opened or read; it is empty, has the wrong columns, or every row was
/// rejected ([`SessionError::Data`] saying which); it is coarser than `interval` or its
/// step is not a supported interval.
pub fn load_candles(path: &Path, interval: Interval) -> Result<CandleFile, SessionError> {
    let mut reader = open_reader(path)?;
    let mut quality = CandleFileQuality::default();
    let mut bars: Vec<Bar> = Vec::new();
    // The file's step is measured on every row with a readable time, rejected or not: rows
    // rejected for their prices leave holes that would make the file look coarser.
    let mut steps = StepMeter::default();
    let reject = |quality: &mut CandleFileQuality, reason: String, line_no: u64| {
        quality.rejected.entry(reason).or_default().add(line_no);
    };
    let mut first_line = true;
    // One line buffer for the whole file (streamed: a file's size does not decide the
    // memory), rather than a `String` per line.
    let mut line = String::new();
    let mut line_no = 0_u64;
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .map_err(|e| SessionError::io("cannot read", path, e))?;
        if read == 0 {
            break;
        }
        line_no += 1;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if std::mem::take(&mut first_line) && is_header(trimmed) {
            if !header_matches(trimmed) {
                return Err(no_usable_rows(
                    path,
                    format!(
                        "wrong columns: the header is {trimmed:?}, expected {EXPECTED_HEADER:?}"
                    ),
                ));
            }
            continue;
        }
        quality.rows += 1;
        steps.observe(trimmed);
        match parse_row(trimmed, line_no) {
            Ok((bar, normalization)) => {
                if bars
                    .last()
                    .is_some_and(|last| bar.open_time <= last.open_time)
                {
                    reject(&mut quality, "out_of_order".into(), line_no);
                } else {
                    if let Some(normalization) = normalization {
                        *quality
                            .normalized
                            .entry(normalization.as_str().to_owned())
                            .or_default() += 1;
                    }
                    bars.push(bar);
                }
            }
            Err(reason) => reject(&mut quality, reason, line_no),
        }
    }
    if quality.rows == 0 {
        return Err(no_usable_rows(
            path,
            format!("the file is empty (no data rows; expected the columns {EXPECTED_HEADER})"),
        ));
    }
    if bars.is_empty() {
        let reasons: Vec<String> = quality
            .rejected
            .iter()
            .map(|(reason, rows)| format!("{reason} ×{}", rows.count))
            .collect();
        return Err(no_usable_rows(
            path,
            format!(
                "all {} rows were rejected ({}); expected {EXPECTED_HEADER} with epoch-ms times and positive prices",
                quality.rows,
                reasons.join(", ")
            ),
        ));
    }
    let file_interval = steps
        .interval(interval)
        .map_err(|message| no_usable_rows(path, message))?;
    quality.file_interval = Some(file_interval.as_str().to_owned());
    // Rows off the file's own grid (a 1m file with a row at :30 s) are rejected, not moved.
    let mut aligned = Vec::with_capacity(bars.len());
    for bar in &bars {
        if file_interval.is_aligned(bar.open_time) {
            aligned.push(*bar);
        } else {
            reject(&mut quality, "misaligned".into(), bar.line_no);
        }
    }
    quality.gaps = measure_gaps(&aligned, file_interval);
    let candles = if file_interval == interval {
        // Sized up front: a growing vector of candles would briefly hold two copies.
        let mut candles = Vec::with_capacity(aligned.len());
        candles.extend(aligned.iter().filter_map(|bar| to_candle(bar, interval)));
        candles
    } else {
        let (candles, resampling) = resample(&aligned, file_interval, interval);
        quality.resampled = Some(resampling);
        candles
    };
    quality.rows_used = aligned.len() as u64;
    if candles.is_empty() {
        return Err(no_usable_rows(
            path,
            format!(
                "no complete {interval} candle in the file ({} usable {file_interval} rows)",
                aligned.len()
            ),
        ));
    }
    Ok(CandleFile { candles, quality })
}

/// The smallest step between consecutive ascending row times of a file.
#[derive(Debug, Default)]
struct StepMeter {
    last: Option<i64>,
    smallest: Option<i64>,
}

impl StepMeter {
    fn observe(&mut self, row: &str) {
        let Some(ts) = fields(row)
            .next()
            .and_then(|field| field.trim().parse::<i64>().ok())
        else {
            return;
        };
        match self.last {
            Some(last) if ts <= last => {}
            Some(last) => {
                self.smallest = Some(self.smallest.map_or(ts - last, |s| s.min(ts - last)));
                self.last = Some(ts);
            }
            None => self.last = Some(ts),
        }
    }

    /// The file's interval: the smallest step, which must be a supported interval that
    /// divides the `traded` one. A file of one row is taken to be at the traded interval.
    fn interval(&self, traded: Interval) -> Result<Interval, String> {
        let Some(step) = self.smallest else {
            return Ok(traded);
        };
        let file = Interval::ALL
            .into_iter()
            .find(|interval| interval.as_ms() == step)
            .ok_or_else(|| {
                format!(
                    "rows are {step} ms apart at the closest, which is no supported interval (1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d)"
                )
            })?;
        if file > traded {
            return Err(format!(
                "the file's candles are {file}, coarser than the interval {traded}: coarser data cannot be split; use --interval {file} or a finer file"
            ));
        }
        if traded.as_ms() % file.as_ms() != 0 {
            return Err(format!(
                "the file's candles are {file}, which do not divide the interval {traded}: use --interval {file} or a multiple of it"
            ));
        }
        Ok(file)
    }
}

fn measure_gaps(bars: &[Bar], interval: Interval) -> Gaps {
    let step = interval.as_ms();
    let mut gaps = Gaps::default();
    for pair in bars.windows(2) {
        let missing = pair[1].open_time.ms_since(pair[0].open_time) / step - 1;
        if missing > 0 {
            gaps.count += 1;
            gaps.missing_bars += missing as u64;
            let length = missing * step;
            if length > gaps.longest_ms {
                gaps.longest_ms = length;
                gaps.longest_from_ms = Some(pair[0].open_time.as_ms() + step);
            }
        }
    }
    gaps
}

fn to_candle(bar: &Bar, interval: Interval) -> Option<Candle> {
    let Ohlc {
        open,
        high,
        low,
        close,
    } = bar.ohlc;
    Candle::new(interval, bar.open_time, open, high, low, close, bar.volume).ok()
}

/// Aggregates ascending `bars` of interval `from` into candles of the coarser `to`: each
/// bucket's open is its first bar's open, its high the highest high, its low the lowest
/// low, its close the last bar's close and its volume the sum.
///
/// Missing source bars: a bucket **inside** the data with some bars missing is kept (its
/// extremes and volume cover the bars present) and counted as incomplete, because dropping
/// it would hide the time from the strategy altogether; a bucket cut by the **start or end**
/// of the data (the file begins or stops inside it) is dropped and counted, because the
/// rest of that bar exists on the exchange and a partial bar presented as complete would be
/// wrong about its open or its close.
fn resample(bars: &[Bar], from: Interval, to: Interval) -> (Vec<Candle>, Resampling) {
    let per_bucket = to.as_ms() / from.as_ms();
    let mut resampling = Resampling {
        from: from.as_str().to_owned(),
        to: to.as_str().to_owned(),
        incomplete_buckets: 0,
        first_incomplete_ms: None,
        dropped_edge_buckets: 0,
    };
    let mut out = Vec::with_capacity(bars.len() / per_bucket.max(1) as usize + 1);
    let mut start = 0;
    while start < bars.len() {
        let bucket = to.open_time_of(bars[start].open_time);
        let end = bars[start..]
            .iter()
            .position(|bar| to.open_time_of(bar.open_time) != bucket)
            .map_or(bars.len(), |offset| start + offset);
        let members = &bars[start..end];
        let first_bucket = start == 0;
        let last_bucket = end == bars.len();
        start = end;
        let starts_late = members[0].open_time != bucket;
        let ends_early =
            members[members.len() - 1].open_time.ms_since(bucket) != to.as_ms() - from.as_ms();
        if (first_bucket && starts_late) || (last_bucket && ends_early) {
            resampling.dropped_edge_buckets += 1;
            continue;
        }
        if members.len() as i64 != per_bucket {
            resampling.incomplete_buckets += 1;
            resampling.first_incomplete_ms.get_or_insert(bucket.as_ms());
        }
        let high = members
            .iter()
            .map(|b| b.ohlc.high)
            .max()
            .unwrap_or(members[0].ohlc.high);
        let low = members
            .iter()
            .map(|b| b.ohlc.low)
            .min()
            .unwrap_or(members[0].ohlc.low);
        let volume = members
            .iter()
            .try_fold(la_core::Decimal::ZERO, |sum, b| {
                sum.checked_add(b.volume.get())
            })
            .and_then(|sum| Volume::new(sum).ok());
        let candle = volume.and_then(|volume| {
            Candle::new(
                to,
                bucket,
                members[0].ohlc.open,
                high,
                low,
                members[members.len() - 1].ohlc.close,
                volume,
            )
            .ok()
        });
        if let Some(candle) = candle {
            out.push(candle);
        }
    }
    (out, resampling)
}

#[cfg(test)]
mod tests;
