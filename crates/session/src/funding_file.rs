//! A backtest's funding-rate file (`--funding FILE`): `ts_ms,rate` rows, the rate that
//! settled at each funding time, read as loudly as a candle file.
//!
//! Every row is validated; a bad one is rejected and counted by reason with its first line
//! numbers, never silently skipped: `wrong_field_count`, `bad_timestamp` (not an integer, or
//! outside 2010..2100), `not_a_funding_time` (not on the 00/08/16 UTC grid the replay settles
//! at, so it could never be charged), `bad_rate` (not a decimal: `NaN` and `inf` included),
//! `absurd_rate` (beyond the broker's sanity bound, 5 % per period: a percent written as a
//! fraction), `duplicate_timestamp` (the same time again with the same rate) and
//! `conflicting_duplicate` (the same time with another rate; the first row is kept). Rows
//! out of time order are kept and sorted (counted under `normalized`). A file with no usable
//! row is an error that says why.

use std::{collections::BTreeMap, path::Path};

use la_broker_paper::MAX_ABS_FUNDING_RATE;
use la_core::{Decimal, Price, TimestampMs};
use la_run_schema::inputs::RejectedRows;

use crate::{
    backtest::ReplayFunding,
    error::SessionError,
    funding::{FUNDING_PERIOD_MS, FundingRateSource},
};

/// The usable rates of a funding file and what became of its rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FundingRates {
    /// Rate (fraction per period) by funding time.
    pub rates: BTreeMap<TimestampMs, Decimal>,
    /// Data rows read (header and blank lines excluded).
    pub rows: u64,
    /// Rejected rows by reason, with their first line numbers.
    pub rejected: BTreeMap<String, RejectedRows>,
    /// Rows kept after a normalisation (`out_of_order`: sorted into place).
    pub normalized: BTreeMap<String, u64>,
}

impl FundingRates {
    fn reject(&mut self, reason: &str, line: u64) {
        self.rejected
            .entry(reason.to_owned())
            .or_default()
            .add(line);
    }
}

/// Reads and validates `path`.
///
/// # Errors
/// [`SessionError::FundingFile`]: unreadable, or no usable row (saying why).
pub fn load_funding_rates(path: &Path) -> Result<FundingRates, SessionError> {
    let fail = |message: String| SessionError::FundingFile {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("unreadable: {e}")))?;
    let mut out = FundingRates::default();
    let mut newest: Option<TimestampMs> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index as u64 + 1;
        let row = raw.trim();
        if row.is_empty() || (line == 1 && row.eq_ignore_ascii_case("ts_ms,rate")) {
            continue;
        }
        out.rows += 1;
        let fields: Vec<&str> = row.split(',').map(str::trim).collect();
        let [ts, rate] = fields.as_slice() else {
            out.reject("wrong_field_count", line);
            continue;
        };
        let Some(ts) = ts
            .parse::<i64>()
            .ok()
            .and_then(|ms| TimestampMs::new(ms).ok())
        else {
            out.reject("bad_timestamp", line);
            continue;
        };
        if ts.as_ms().rem_euclid(FUNDING_PERIOD_MS) != 0 {
            out.reject("not_a_funding_time", line);
            continue;
        }
        let Ok(rate) = rate.parse::<Decimal>() else {
            out.reject("bad_rate", line);
            continue;
        };
        if rate.abs() > MAX_ABS_FUNDING_RATE {
            out.reject("absurd_rate", line);
            continue;
        }
        match out.rates.get(&ts) {
            Some(kept) if *kept == rate => out.reject("duplicate_timestamp", line),
            Some(_) => out.reject("conflicting_duplicate", line),
            None => {
                if newest.is_some_and(|newest| ts < newest) {
                    *out.normalized.entry("out_of_order".to_owned()).or_default() += 1;
                }
                newest = Some(newest.map_or(ts, |newest| newest.max(ts)));
                out.rates.insert(ts, rate);
            }
        }
    }
    if out.rates.is_empty() {
        let why = if out.rows == 0 {
            "the file has no rows (expected `ts_ms,rate`)".to_owned()
        } else {
            format!(
                "none of its {} rows is usable: {}",
                out.rows,
                describe_rejected(&out.rejected)
            )
        };
        return Err(fail(why));
    }
    Ok(out)
}

/// `reason ×count (lines a, b, …)` per reason, joined with `; `.
pub fn describe_rejected(rejected: &BTreeMap<String, RejectedRows>) -> String {
    rejected
        .iter()
        .map(|(reason, rows)| {
            let lines: Vec<String> = rows.first_lines.iter().map(u64::to_string).collect();
            format!("{reason} ×{} (lines {})", rows.count, lines.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The replay's funding from a rate file: the rate the file holds for exactly that funding
/// time, marked at the bar's price; a funding time the file has no rate for settles nothing
/// and is counted.
#[derive(Debug)]
pub struct FileFunding<'a> {
    rates: &'a BTreeMap<TimestampMs, Decimal>,
    /// What each settlement records as its rate's source.
    source: FundingRateSource,
    /// Funding times passed that the file held no rate for.
    pub missing: u64,
}

impl<'a> FileFunding<'a> {
    /// Funding from the rates of a user's file (`--funding FILE`).
    pub fn new(rates: &'a FundingRates) -> Self {
        Self::with_source(rates, FundingRateSource::File)
    }

    /// Funding from `rates`, each settlement recorded as from `source` (the exchange's
    /// history is read from a file too, but it is the exchange's rate).
    pub fn with_source(rates: &'a FundingRates, source: FundingRateSource) -> Self {
        Self {
            rates: &rates.rates,
            source,
            missing: 0,
        }
    }
}

impl ReplayFunding for FileFunding<'_> {
    fn rate_at(
        &mut self,
        funding_time: TimestampMs,
        fallback_mark: Price,
    ) -> Option<(Decimal, Price, FundingRateSource)> {
        let rate = self.rates.get(&funding_time).copied();
        if rate.is_none() {
            self.missing += 1;
            // The first, then every power of two: a sweep replays the same file once per
            // parameter set, and the count is in every run's record anyway.
            if self.missing.is_power_of_two() {
                tracing::warn!(%funding_time, missing = self.missing, "the funding file has no rate for this funding time; nothing settled");
            }
        }
        rate.map(|rate| (rate, fallback_mark, self.source))
    }
}

#[cfg(test)]
mod tests;
