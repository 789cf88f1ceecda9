//! Reading a run directory: `summary.json` (the typed [`RunSummary`] that live sessions
//! and backtests both write), `trades.csv`, `equity.csv` and `decisions.jsonl` (its
//! outcome counts and, from each line's candle, the close price the price chart draws).
//! A live session left for days rotates `decisions.jsonl` to `decisions.jsonl.1`, `.2`, …
//! (`.1` newest); the report reads every kept copy, oldest first, and when retention has
//! already removed older copies it takes the counts from `summary.json` (which counted
//! every decision) and says so, rather than presenting the kept tail as the whole run.
//!
//! The CSV files are written by the session crate, so they are parsed strictly by header
//! name: a missing column or a bad value is a [`ReportError::Malformed`] naming the file and
//! line, never a silently wrong chart. `decisions.jsonl` can be large (one line per candle),
//! so it is streamed; a line that is not a JSON object is counted, not fatal, because a
//! session killed mid-write leaves a torn last line.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufRead, BufReader},
    path::Path,
    str::FromStr,
};

use la_run_schema::{RunSummary, rotated_name};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::error::ReportError;

/// One closed trade (`trades.csv`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TradeRow {
    pub(crate) trade_id: String,
    pub(crate) side: String,
    pub(crate) entry_time_ms: i64,
    pub(crate) exit_time_ms: i64,
    pub(crate) entry_price: Decimal,
    pub(crate) exit_price: Decimal,
    pub(crate) qty: Decimal,
    pub(crate) pnl: Decimal,
    pub(crate) fees: Decimal,
    /// Funding booked against the position while it was open; `None` when the file
    /// predates the column.
    pub(crate) funding: Option<Decimal>,
    pub(crate) r_multiple: Decimal,
    pub(crate) exit_reason: String,
}

/// One point of the equity curve (`equity.csv`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct EquityRow {
    pub(crate) ts_ms: i64,
    pub(crate) equity: Decimal,
    pub(crate) mark_equity: Decimal,
}

/// Where the decision counts came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DecisionSource {
    /// Counted line by line from `decisions.jsonl` and its `rotated_copies` rotated copies.
    File { rotated_copies: u32 },
    /// `decisions.jsonl` is absent; the counts stored in `summary.json` are shown.
    Summary,
    /// The kept files (`decisions.jsonl` and `rotated_copies` rotated copies) hold only
    /// `lines_kept` of the decisions `summary.json` counted: older copies were removed by
    /// retention, so the counts are the summary's (the price chart comes from `equity.csv`'s
    /// `mark_price` when that column exists, else from the kept lines).
    SummaryOlderCopiesRemoved {
        rotated_copies: u32,
        lines_kept: u64,
    },
}

/// Decision outcomes and blocking gates ("why no trade").
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DecisionCounts {
    pub(crate) source: DecisionSource,
    pub(crate) total: u64,
    pub(crate) outcomes: BTreeMap<String, u64>,
    pub(crate) blocked_by: BTreeMap<String, u64>,
    pub(crate) unparsable_lines: u64,
}

/// A candle's close price at its close time: `equity.csv`'s `mark_price` (the last accepted
/// price at the close), or for a run directory written before that column existed, the
/// close of its `decisions.jsonl` line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PricePoint {
    pub(crate) close_time_ms: i64,
    pub(crate) close: Decimal,
}

/// Everything a report is drawn from.
#[derive(Clone, Debug)]
pub(crate) struct RunInputs {
    pub(crate) summary: RunSummary,
    pub(crate) trades: Vec<TradeRow>,
    pub(crate) equity: Vec<EquityRow>,
    pub(crate) decisions: DecisionCounts,
    /// Candle closes in time order, one per close time (empty for an older run directory
    /// with neither `equity.csv`'s `mark_price` column nor `decisions.jsonl`).
    pub(crate) prices: Vec<PricePoint>,
    /// The file [`RunInputs::prices`] came from.
    pub(crate) prices_from: &'static str,
}

/// Reads the four run files from `run_dir`.
pub(crate) fn load(run_dir: &Path) -> Result<RunInputs, ReportError> {
    let summary = load_summary(&run_dir.join("summary.json"))?;
    let trades = load_trades(&run_dir.join("trades.csv"))?;
    let (equity, marked_prices) = load_equity_and_prices(&run_dir.join("equity.csv"))?;
    let decisions_path = run_dir.join("decisions.jsonl");
    let (decisions, decided_prices) = if decisions_path.exists() {
        let (counted, prices) = read_decisions(&decisions_path, interval_ms(&summary.interval))?;
        (prefer_complete_counts(counted, &summary), prices)
    } else {
        (decisions_from_summary(&summary), Vec::new())
    };
    let (prices, prices_from) = match marked_prices {
        Some(prices) => (prices, "equity.csv"),
        None => (decided_prices, "decisions.jsonl"),
    };
    Ok(RunInputs {
        summary,
        trades,
        equity,
        decisions,
        prices,
        prices_from,
    })
}

fn read_text(path: &Path, what: &'static str) -> Result<String, ReportError> {
    std::fs::read_to_string(path).map_err(|e| ReportError::from_read(path, what, e))
}

/// `summary.json` must be a [`RunSummary`]; a missing or mistyped field is an error that
/// names it and its line.
pub(crate) fn load_summary(path: &Path) -> Result<RunSummary, ReportError> {
    let text = read_text(path, "run summary")?;
    serde_json::from_str::<RunSummary>(&text)
        .map_err(|err| ReportError::malformed(path, err.line(), err.to_string()))
}

/// Data rows of a CSV file, their fields stored flat (`width` a row): one allocation for the
/// file instead of one a row (an `equity.csv` has a row per candle).
struct CsvRows<'a> {
    width: usize,
    /// The 1-based line number of each row.
    lines: Vec<usize>,
    fields: Vec<&'a str>,
}

impl<'a> CsvRows<'a> {
    fn len(&self) -> usize {
        self.lines.len()
    }

    /// `(1-based line number, fields)` of every row.
    fn iter(&self) -> impl Iterator<Item = (usize, &[&'a str])> + '_ {
        self.lines
            .iter()
            .copied()
            .zip(self.fields.chunks_exact(self.width))
    }
}

/// A CSV file with a header row, read by column name. Fields never contain commas (the
/// session writes ids, enums and numbers only), so no quoting is supported.
struct Csv<'a> {
    path: &'a Path,
    columns: Vec<&'a str>,
}

impl<'a> Csv<'a> {
    /// Checks the header names every column in `required` and returns the data rows as
    /// `(line number, fields)`.
    fn rows(
        path: &'a Path,
        text: &'a str,
        required: &[&str],
    ) -> Result<(Self, CsvRows<'a>), ReportError> {
        let mut lines = text.lines().enumerate().map(|(i, line)| (i + 1, line));
        let (_, header) = lines
            .next()
            .ok_or_else(|| ReportError::malformed(path, 1, "empty file (no header row)"))?;
        let columns: Vec<&str> = header.split(',').map(str::trim).collect();
        for name in required {
            if !columns.contains(name) {
                return Err(ReportError::malformed(
                    path,
                    1,
                    format!("header lacks the `{name}` column"),
                ));
            }
        }
        // A header always has at least one column (`split` yields one field at least).
        let width = columns.len();
        let mut rows = CsvRows {
            width,
            lines: Vec::new(),
            fields: Vec::new(),
        };
        for (line_no, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let start = rows.fields.len();
            // A character-set pattern: cheaper on short fields than a `char`'s `memchr`.
            rows.fields.extend(line.split([',']).map(str::trim));
            let found = rows.fields.len() - start;
            if found != width {
                return Err(ReportError::malformed(
                    path,
                    line_no,
                    format!("{found} fields, the header has {width}"),
                ));
            }
            rows.lines.push(line_no);
        }
        Ok((Self { path, columns }, rows))
    }

    fn field<'r>(&self, fields: &[&'r str], name: &str) -> &'r str {
        self.columns
            .iter()
            .position(|c| *c == name)
            .and_then(|i| fields.get(i).copied())
            .unwrap_or("")
    }

    /// Parses column `name` when the header has it (an optional column of older files).
    fn parse_optional<T: FromStr>(
        &self,
        line: usize,
        fields: &[&str],
        name: &str,
    ) -> Result<Option<T>, ReportError>
    where
        T::Err: std::fmt::Display,
    {
        if self.columns.contains(&name) {
            self.parse(line, fields, name).map(Some)
        } else {
            Ok(None)
        }
    }

    fn parse<T: FromStr>(&self, line: usize, fields: &[&str], name: &str) -> Result<T, ReportError>
    where
        T::Err: std::fmt::Display,
    {
        let raw = self.field(fields, name);
        raw.parse::<T>().map_err(|e| {
            ReportError::malformed(self.path, line, format!("`{name}` = {raw:?}: {e}"))
        })
    }
}

const TRADE_COLUMNS: &[&str] = &[
    "trade_id",
    "side",
    "entry_time_ms",
    "exit_time_ms",
    "entry_price",
    "exit_price",
    "qty",
    "pnl",
    "fees",
    "r_multiple",
    "exit_reason",
];

pub(crate) fn load_trades(path: &Path) -> Result<Vec<TradeRow>, ReportError> {
    let text = read_text(path, "trades file")?;
    let (csv, rows) = Csv::rows(path, &text, TRADE_COLUMNS)?;
    rows.iter()
        .map(|(line, f)| {
            Ok(TradeRow {
                trade_id: csv.field(f, "trade_id").to_owned(),
                side: csv.field(f, "side").to_owned(),
                entry_time_ms: csv.parse(line, f, "entry_time_ms")?,
                exit_time_ms: csv.parse(line, f, "exit_time_ms")?,
                entry_price: csv.parse(line, f, "entry_price")?,
                exit_price: csv.parse(line, f, "exit_price")?,
                qty: csv.parse(line, f, "qty")?,
                pnl: csv.parse(line, f, "pnl")?,
                fees: csv.parse(line, f, "fees")?,
                funding: csv.parse_optional(line, f, "funding")?,
                r_multiple: csv.parse(line, f, "r_multiple")?,
                exit_reason: csv.field(f, "exit_reason").to_owned(),
            })
        })
        .collect()
}

pub(crate) fn load_equity(path: &Path) -> Result<Vec<EquityRow>, ReportError> {
    load_equity_and_prices(path).map(|(equity, _)| equity)
}

/// The equity curve and, when `equity.csv` has its `mark_price` column (runs written since
/// it was added), the price the account was marked at on every candle close: the price
/// chart's line, with no need for `decisions.jsonl`.
pub(crate) fn load_equity_and_prices(
    path: &Path,
) -> Result<(Vec<EquityRow>, Option<Vec<PricePoint>>), ReportError> {
    let text = read_text(path, "equity file")?;
    let (csv, rows) = Csv::rows(path, &text, &["ts_ms", "equity", "mark_equity"])?;
    let has_prices = csv.columns.contains(&"mark_price");
    let mut equity = Vec::with_capacity(rows.len());
    let mut prices = Vec::with_capacity(if has_prices { rows.len() } else { 0 });
    for (line, f) in rows.iter() {
        let ts_ms = csv.parse(line, f, "ts_ms")?;
        equity.push(EquityRow {
            ts_ms,
            equity: csv.parse(line, f, "equity")?,
            mark_equity: csv.parse(line, f, "mark_equity")?,
        });
        if has_prices {
            prices.push(PricePoint {
                close_time_ms: ts_ms,
                close: csv.parse(line, f, "mark_price")?,
            });
        }
    }
    Ok((equity, has_prices.then_some(prices)))
}

/// The fields of a decision line the report needs; the rest is ignored.
#[derive(Deserialize)]
struct DecisionLine {
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    blocked_by: Option<String>,
    #[serde(default)]
    open_time: Option<i64>,
    /// An exact decimal, written as a JSON string.
    #[serde(default)]
    close: Option<String>,
}

/// The length of a candle interval label (`1m`, `15m`, `1h`, `1d`, `1w`) in ms.
pub(crate) fn interval_ms(label: &str) -> Option<i64> {
    let split = label.find(|c: char| !c.is_ascii_digit())?;
    let (count, unit) = label.split_at(split);
    let unit_ms = match unit {
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return None,
    };
    count.parse::<i64>().ok()?.checked_mul(unit_ms)
}

/// Counts the decisions of `decisions.jsonl` and collects each candle's close at its close
/// time (`open_time + interval`; with an unknown interval, at its open time). A candle
/// recorded twice (an `out_of_order` line behind a later one) keeps its first close.
/// Counts the decisions and collects the candle closes of `path` and its rotated copies
/// (`path.1` is the newest; they are read oldest first, so a line's place is its time).
pub(crate) fn read_decisions(
    path: &Path,
    interval_ms: Option<i64>,
) -> Result<(DecisionCounts, Vec<PricePoint>), ReportError> {
    let rotated_copies = (1..)
        .take_while(|&n| rotated_name(path, n).is_file())
        .last()
        .unwrap_or(0);
    let mut counts = DecisionCounts {
        source: DecisionSource::File { rotated_copies },
        total: 0,
        outcomes: BTreeMap::new(),
        blocked_by: BTreeMap::new(),
        unparsable_lines: 0,
    };
    let mut prices = Vec::new();
    for n in (1..=rotated_copies).rev() {
        read_decision_file(
            &rotated_name(path, n),
            interval_ms,
            &mut counts,
            &mut prices,
        )?;
    }
    read_decision_file(path, interval_ms, &mut counts, &mut prices)?;
    prices.sort_by_key(|p| p.close_time_ms);
    prices.dedup_by_key(|p| p.close_time_ms);
    Ok((counts, prices))
}

fn read_decision_file(
    path: &Path,
    interval_ms: Option<i64>,
    counts: &mut DecisionCounts,
    prices: &mut Vec<PricePoint>,
) -> Result<(), ReportError> {
    let file = File::open(path).map_err(|e| ReportError::from_read(path, "decisions file", e))?;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|source| ReportError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let Ok(decision) = serde_json::from_str::<DecisionLine>(&line) else {
            counts.unparsable_lines += 1;
            continue;
        };
        counts.total += 1;
        if let (Some(open_time), Some(close)) = (decision.open_time, &decision.close)
            && let Ok(close) = close.parse::<Decimal>()
        {
            prices.push(PricePoint {
                close_time_ms: open_time.saturating_add(interval_ms.unwrap_or(0)),
                close,
            });
        }
        let outcome = decision.outcome.unwrap_or_else(|| "unknown".to_owned());
        *counts.outcomes.entry(outcome).or_default() += 1;
        if let Some(gate) = decision.blocked_by {
            *counts.blocked_by.entry(gate).or_default() += 1;
        }
    }
    Ok(())
}

/// The session counts every decision into `summary.json`; when the kept files hold fewer
/// (retention removed the oldest rotated copies) the summary's counts are the whole run's.
/// A summary with fewer (written before a kill, or an older format) leaves the file counts.
fn prefer_complete_counts(counted: DecisionCounts, summary: &RunSummary) -> DecisionCounts {
    let from_summary = decisions_from_summary(summary);
    match counted.source {
        DecisionSource::File { rotated_copies } if from_summary.total > counted.total => {
            DecisionCounts {
                source: DecisionSource::SummaryOlderCopiesRemoved {
                    rotated_copies,
                    lines_kept: counted.total,
                },
                unparsable_lines: counted.unparsable_lines,
                ..from_summary
            }
        }
        _ => counted,
    }
}

/// The `decisions` map of `summary.json` (`outcome:X` / `blocked_by:Y` keys).
fn decisions_from_summary(summary: &RunSummary) -> DecisionCounts {
    let mut counts = DecisionCounts {
        source: DecisionSource::Summary,
        total: 0,
        outcomes: BTreeMap::new(),
        blocked_by: BTreeMap::new(),
        unparsable_lines: 0,
    };
    for (key, &n) in &summary.decisions {
        if let Some(outcome) = key.strip_prefix("outcome:") {
            counts.total += n;
            counts.outcomes.insert(outcome.to_owned(), n);
        } else if let Some(gate) = key.strip_prefix("blocked_by:") {
            counts.blocked_by.insert(gate.to_owned(), n);
        }
    }
    counts
}
