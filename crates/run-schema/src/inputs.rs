//! What a run was fed, as recorded in `summary.json`: the quality of a backtest's candle
//! file (rejected rows with their first line numbers, gaps, resampling) and where its
//! funding rates came from.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How many line numbers are kept per rejection reason.
pub const LINES_KEPT_PER_REASON: usize = 5;

/// Rows rejected for one reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRows {
    /// How many.
    pub count: u64,
    /// The first few 1-based line numbers (at most [`LINES_KEPT_PER_REASON`]).
    pub first_lines: Vec<u64>,
}

impl RejectedRows {
    /// Counts one more row at `line`.
    pub fn add(&mut self, line: u64) {
        self.count += 1;
        if self.first_lines.len() < LINES_KEPT_PER_REASON {
            self.first_lines.push(line);
        }
    }
}

/// Missing bars of a candle file, in the file's own interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gaps {
    /// Places where one or more bars are missing.
    pub count: u64,
    /// Bars missing in total.
    pub missing_bars: u64,
    /// The longest gap in ms (the time with no bar).
    pub longest_ms: i64,
    /// Open time of the first missing bar of the longest gap.
    pub longest_from_ms: Option<i64>,
}

/// How a finer candle file was aggregated to the traded interval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resampling {
    /// The file's interval label (`1m`).
    pub from: String,
    /// The traded interval label (`5m`).
    pub to: String,
    /// Buckets inside the data kept although some source bars are missing (their high,
    /// low and volume cover only the bars present).
    pub incomplete_buckets: u64,
    /// Open time of the first incomplete bucket.
    pub first_incomplete_ms: Option<i64>,
    /// Buckets cut by the start or the end of the file, never emitted as bars.
    pub dropped_edge_buckets: u64,
}

/// What a backtest's candle file held and what became of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandleFileQuality {
    /// Data rows read (header and blank lines excluded).
    pub rows: u64,
    /// Rows used.
    pub rows_used: u64,
    /// Rejected rows by reason, with their first line numbers.
    pub rejected: BTreeMap<String, RejectedRows>,
    /// Rows kept after a documented normalisation, by label.
    pub normalized: BTreeMap<String, u64>,
    /// The file's own interval label (the smallest step between its rows).
    pub file_interval: Option<String>,
    /// Missing bars.
    pub gaps: Gaps,
    /// Set when the file was aggregated to a coarser interval.
    pub resampled: Option<Resampling>,
}

impl CandleFileQuality {
    /// Rejected rows by reason, counts only.
    pub fn rejected_counts(&self) -> BTreeMap<String, u64> {
        self.rejected
            .iter()
            .map(|(reason, rows)| (reason.clone(), rows.count))
            .collect()
    }
}

/// Where a run's funding rates came from. Without a source funding is **not modelled**:
/// nothing was settled, which is not the same as a funding of zero.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FundingModel {
    /// No rate was known: no funding was settled (a backtest without a funding source).
    NotModelled,
    /// One assumed rate for every funding time (`--funding-rate`).
    Constant {
        /// The rate per 8 h, as a fraction.
        rate: Decimal,
    },
    /// A rate file (`--funding FILE`, `ts_ms,rate`).
    File {
        /// The file.
        path: String,
        /// Usable rates it held.
        rates: u64,
        /// Data rows read.
        #[serde(default)]
        rows: u64,
        /// Rejected rows by reason, with their first line numbers.
        #[serde(default)]
        rejected: BTreeMap<String, RejectedRows>,
    },
    /// The exchange's funding-rate history, downloaded with the candles.
    ExchangeHistory {
        /// The downloaded history's cache file (`ts_ms,rate`) the rates were read from.
        #[serde(default)]
        path: String,
        /// Usable rates it held.
        rates: u64,
        /// Data rows read.
        #[serde(default)]
        rows: u64,
        /// Rejected rows by reason, with their first line numbers.
        #[serde(default)]
        rejected: BTreeMap<String, RejectedRows>,
    },
    /// A live session: the rates the exchange published.
    Exchange,
    /// The summary was written by a version that did not record it.
    #[default]
    Unrecorded,
}

/// ` (k of n rows rejected)` when a rate file had rejected rows, else nothing.
fn rejected_note(rates: u64, rows: u64, rejected: &BTreeMap<String, RejectedRows>) -> String {
    if rejected.is_empty() {
        String::new()
    } else {
        format!(" ({} of {rows} rows rejected)", rows.saturating_sub(rates))
    }
}

impl FundingModel {
    /// Whether funding was settled from some rate source.
    pub const fn is_modelled(&self) -> bool {
        !matches!(self, Self::NotModelled | Self::Unrecorded)
    }

    /// A short human label: `not modelled`, `constant 0.0001 per 8 h`, ….
    pub fn describe(&self) -> String {
        match self {
            Self::NotModelled => "funding not modelled".to_owned(),
            Self::Constant { rate } => format!("constant {rate} per 8 h"),
            Self::File {
                path,
                rates,
                rows,
                rejected,
            } => format!(
                "{rates} rates from {path}{}",
                rejected_note(*rates, *rows, rejected)
            ),
            Self::ExchangeHistory {
                path,
                rates,
                rows,
                rejected,
            } if !path.is_empty() => format!(
                "{rates} rates from the exchange's funding-rate history, cached in {path}{}",
                rejected_note(*rates, *rows, rejected)
            ),
            Self::ExchangeHistory { rates, .. } => {
                format!("{rates} rates from the exchange's funding-rate history")
            }
            Self::Exchange => "the exchange's published rates".to_owned(),
            Self::Unrecorded => "not recorded".to_owned(),
        }
    }
}
