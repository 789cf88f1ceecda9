//! Runs side by side: the statistics of several run directories in one table (for the
//! terminal and for a page), their equity curves overlaid as returns on one time axis, and
//! the configuration keys on which they differ ("why are these two runs not the same?").
//!
//! Every figure is the one the run's own report shows: the statistics rows come from
//! [`crate::sections::stats_rows`] and the configuration from [`crate::sections::config_rows`],
//! so a number cannot be computed one way here and another way there. A run is read from its
//! `summary.json`, `trades.csv` and `equity.csv` (the large `decisions.jsonl` is not needed).
//! Loading checks every directory before anything is rendered and names all the bad ones
//! at once.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    path::{Path, PathBuf},
};

use la_run_schema::RunSummary;
use plotters::style::RGBColor;
use rust_decimal::Decimal;

use crate::{
    canonical_run_dir,
    charts::{self, Line},
    config_fingerprint,
    error::ReportError,
    html::{close_document, escape, open_document, utc},
    inputs::{EquityRow, TradeRow, load_equity, load_summary, load_trades},
    sections::{Row, config_rows, config_value, stats_rows},
};

/// Line colours of the overlaid runs (cycled past ten runs).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The statistics compared, in this order (keys of the run report's statistics table).
const COMPARED_STATS: &[&str] = &[
    "candles_closed",
    "trades",
    "wins",
    "losses",
    "win_rate",
    "liquidations",
    "starting_equity",
    "ending_equity",
    "net_pnl",
    "trade_pnl",
    "fees",
    "funding",
    "max_drawdown",
    "max_drawdown_frac",
    "sharpe",
    "sortino",
    "profit_factor",
    "exposure",
    "best_trade",
    "worst_trade",
    "avg_r_multiple",
];

/// One run of a comparison.
#[derive(Clone, Debug)]
struct ComparedRun {
    /// `#1`, `#2`, ... in the order given.
    label: String,
    dir: PathBuf,
    summary: RunSummary,
    trades: Vec<TradeRow>,
    equity: Vec<EquityRow>,
}

impl ComparedRun {
    fn load(label: String, dir: &Path) -> Result<Self, ReportError> {
        let dir = canonical_run_dir(dir)?;
        Ok(Self {
            label,
            summary: load_summary(&dir.join("summary.json"))?,
            trades: load_trades(&dir.join("trades.csv"))?,
            equity: load_equity(&dir.join("equity.csv"))?,
            dir,
        })
    }

    fn color(index: usize) -> RGBColor {
        PALETTE[index % PALETTE.len()]
    }

    /// Mark equity as a return on the starting equity, in percent, at every candle close.
    fn return_curve(&self) -> Vec<(i64, f64)> {
        let start = self.summary.results.starting_equity;
        self.equity
            .iter()
            .map(|p| {
                (
                    p.ts_ms,
                    charts::to_f64(percent_of(p.mark_equity - start, start)),
                )
            })
            .collect()
    }

    /// The time the run's equity curve covers.
    fn span(&self) -> String {
        match (self.equity.first(), self.equity.last()) {
            (Some(first), Some(last)) => format!("{} .. {}", utc(first.ts_ms), utc(last.ts_ms)),
            _ => "n/a".to_owned(),
        }
    }
}

/// `part / whole` in percent (0 for a non-positive whole).
fn percent_of(part: Decimal, whole: Decimal) -> Decimal {
    if whole > Decimal::ZERO {
        part / whole * Decimal::ONE_HUNDRED
    } else {
        Decimal::ZERO
    }
}

/// One compared figure: its key, what it means, and one value per run.
#[derive(Clone, Debug, PartialEq, Eq)]
struct CompareRow {
    key: String,
    note: String,
    values: Vec<String>,
}

/// Several runs, loaded and ready to render.
#[derive(Clone, Debug)]
pub struct Comparison {
    runs: Vec<ComparedRun>,
}

impl Comparison {
    /// Reads every run directory in `dirs` (a `runs/latest` symlink is followed).
    ///
    /// # Errors
    /// The run directories that are missing, unreadable or damaged, all of them: a single
    /// problem as itself, several as [`ReportError::Several`].
    pub fn load(dirs: &[PathBuf]) -> Result<Self, ReportError> {
        let mut runs = Vec::with_capacity(dirs.len());
        let mut errors = Vec::new();
        for (i, dir) in dirs.iter().enumerate() {
            match ComparedRun::load(format!("#{}", i + 1), dir) {
                Ok(run) => runs.push(run),
                Err(err) => errors.push(err),
            }
        }
        match errors.len() {
            0 => Ok(Self { runs }),
            1 => Err(errors.remove(0)),
            _ => Err(ReportError::Several { errors }),
        }
    }

    /// The identifying rows (source, strategy, data, span, fingerprint), then the
    /// statistics, then the return on the starting equity.
    fn rows(&self) -> Vec<CompareRow> {
        let per_run = |key: &str, note: &str, value: &dyn Fn(&ComparedRun) -> String| CompareRow {
            key: key.to_owned(),
            note: note.to_owned(),
            values: self.runs.iter().map(value).collect(),
        };
        let mut rows = vec![
            per_run("run_id", "run directory name", &|r| {
                r.summary.run_id.clone()
            }),
            per_run("source", "backtest or the live source", &|r| {
                r.summary.source.clone()
            }),
            per_run("strategy", "", &|r| r.summary.strategy.clone()),
            per_run("interval", "", &|r| r.summary.interval.clone()),
            per_run(
                "first_close",
                "first candle close of equity.csv (UTC)",
                &|r| {
                    r.equity
                        .first()
                        .map_or_else(|| "n/a".to_owned(), |p| utc(p.ts_ms))
                },
            ),
            per_run(
                "last_close",
                "last candle close of equity.csv (UTC)",
                &|r| {
                    r.equity
                        .last()
                        .map_or_else(|| "n/a".to_owned(), |p| utc(p.ts_ms))
                },
            ),
            per_run(
                "config_fingerprint",
                "equal settings, equal fingerprint",
                &|r| config_fingerprint(&config_value(&r.summary)),
            ),
        ];
        let stats: Vec<BTreeMap<String, Row>> = self
            .runs
            .iter()
            .map(|run| {
                stats_rows(&run.summary, &run.trades)
                    .into_iter()
                    .map(|row| (row.key.clone(), row))
                    .collect()
            })
            .collect();
        for key in COMPARED_STATS {
            let note = stats
                .iter()
                .find_map(|rows| rows.get(*key))
                .map(|row| row.note.clone())
                .unwrap_or_default();
            rows.push(CompareRow {
                key: (*key).to_owned(),
                note,
                values: stats
                    .iter()
                    .map(|rows| {
                        rows.get(*key)
                            .map_or_else(|| "n/a".to_owned(), |r| r.value.clone())
                    })
                    .collect(),
            });
        }
        rows.push(per_run(
            "return_pct",
            "net_pnl / starting_equity, percent",
            &|r| {
                let results = &r.summary.results;
                percent_of(results.net_pnl, results.starting_equity)
                    .round_dp(2)
                    .to_string()
            },
        ));
        rows
    }

    /// The configuration keys (TOML names, dotted for tables) whose values are not the same
    /// in every run; a key a run does not have shows as `-`.
    fn config_differences(&self) -> Vec<CompareRow> {
        let configs: Vec<BTreeMap<String, String>> = self
            .runs
            .iter()
            .map(|run| {
                config_rows(&config_value(&run.summary))
                    .into_iter()
                    .map(|row| (row.key, row.value))
                    .collect()
            })
            .collect();
        let keys: BTreeSet<&String> = configs.iter().flat_map(BTreeMap::keys).collect();
        keys.into_iter()
            .filter_map(|key| {
                let values: Vec<String> = configs
                    .iter()
                    .map(|c| c.get(key).cloned().unwrap_or_else(|| "-".to_owned()))
                    .collect();
                let differ = values.iter().any(|v| *v != values[0]);
                differ.then(|| CompareRow {
                    key: key.clone(),
                    note: String::new(),
                    values,
                })
            })
            .collect()
    }

    /// The comparison as plain text for a terminal: the runs, the statistics side by side,
    /// and the configuration keys that differ.
    pub fn text_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "compare: {} runs", self.runs.len());
        for run in &self.runs {
            let _ = writeln!(out, "  {:<4} {}", run.label, run.dir.display());
        }
        out.push('\n');
        let labels: Vec<String> = self.runs.iter().map(|r| r.label.clone()).collect();
        text_rows(&mut out, &labels, &self.rows());
        let differences = self.config_differences();
        let _ = writeln!(
            out,
            "\nconfiguration keys that differ: {}",
            differences.len()
        );
        if !differences.is_empty() {
            text_rows(&mut out, &labels, &differences);
        }
        out
    }

    /// The comparison page: the runs with their colours, the statistics side by side, the
    /// equity curves overlaid as returns, their drawdowns, and the configuration keys that
    /// differ.
    ///
    /// # Errors
    /// [`ReportError::Chart`] if plotters fails.
    pub fn html(&self) -> Result<String, ReportError> {
        let returns_svg = self.overlay("compared equity", 360, ComparedRun::return_curve)?;
        let drawdown_svg = self.overlay("compared drawdown", 240, |run| {
            charts::drawdown_percent(&run.equity)
        })?;

        let mut out = String::with_capacity(64 * 1024);
        let ids: Vec<String> = self
            .runs
            .iter()
            .map(|r| escape(&r.summary.run_id))
            .collect();
        open_document(
            &mut out,
            "Run comparison",
            &format!("Comparing {} runs", self.runs.len()),
            &ids.join(" &middot; "),
        );
        out.push_str("<nav><a href=\"#runs\">Runs</a><a href=\"#statistics\">Statistics</a><a href=\"#curves\">Equity</a><a href=\"#differences\">Configuration differences</a></nav>\n<main>\n");
        out.push_str("<section id=\"runs\"><h2>Runs</h2><table id=\"compare-runs\"><tr><th></th><th>run</th><th>source</th><th>strategy</th><th>span (UTC)</th><th>directory</th></tr>\n");
        for (i, run) in self.runs.iter().enumerate() {
            let RGBColor(r, g, b) = ComparedRun::color(i);
            let _ = writeln!(
                out,
                "<tr><td><span class=\"swatch\" style=\"background:#{r:02x}{g:02x}{b:02x}\"></span>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                escape(&run.label),
                escape(&run.summary.run_id),
                escape(&run.summary.source),
                escape(&run.summary.strategy),
                escape(&run.span()),
                escape(&run.dir.display().to_string()),
            );
        }
        out.push_str("</table></section>\n");
        out.push_str("<section id=\"statistics\"><h2>Statistics</h2>\n");
        html_rows(&mut out, "compare-table", &self.runs, &self.rows());
        out.push_str("</section>\n");
        let _ = writeln!(
            out,
            "<section id=\"curves\"><h2>Equity</h2><figure id=\"compare-equity-chart\"><figcaption>Mark equity of each run as a return on its starting equity, in percent, at every candle close; horizontal axis UTC (runs over different periods sit side by side).</figcaption>\n{returns_svg}\n</figure>\n<h2>Drawdown</h2><figure id=\"compare-drawdown-chart\"><figcaption>Realized equity below its running peak, in percent of the peak.</figcaption>\n{drawdown_svg}\n</figure></section>"
        );
        let differences = self.config_differences();
        let _ = writeln!(
            out,
            "<section id=\"differences\"><h2>Configuration differences ({})</h2><p class=\"note\">Keys as a <code>--config</code> file or <code>--set</code> names them; only keys whose values are not the same in every run are listed (<code>-</code>: the run does not have the key).</p>",
            differences.len()
        );
        html_rows(&mut out, "compare-config-diff", &self.runs, &differences);
        out.push_str("</section>\n</main>\n");
        close_document(&mut out, "from the run directories above");
        Ok(out)
    }
}

impl Comparison {
    /// One line per run, in the run's colour, of the percent series `curve` gives.
    fn overlay(
        &self,
        chart: &'static str,
        height: u32,
        curve: impl Fn(&ComparedRun) -> Vec<(i64, f64)>,
    ) -> Result<String, ReportError> {
        let lines: Vec<Line> = self
            .runs
            .iter()
            .enumerate()
            .map(|(i, run)| Line {
                color: ComparedRun::color(i),
                width: 2,
                points: curve(run),
            })
            .collect();
        charts::line_chart(
            chart,
            height,
            &lines,
            &[],
            " %",
            "no equity points in these runs",
            |_| Ok(()),
        )
    }
}

fn text_rows(out: &mut String, labels: &[String], rows: &[CompareRow]) {
    let key_width = rows.iter().map(|r| r.key.len()).max().unwrap_or(0).max(3);
    let widths: Vec<usize> = labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            rows.iter()
                .filter_map(|r| r.values.get(i))
                .map(|v| v.chars().count())
                .chain(std::iter::once(label.len()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let _ = write!(out, "{:<key_width$}", "key");
    for (label, width) in labels.iter().zip(&widths) {
        let _ = write!(out, "  {label:>width$}");
    }
    out.push('\n');
    for row in rows {
        let _ = write!(out, "{:<key_width$}", row.key);
        for (value, width) in row.values.iter().zip(&widths) {
            let _ = write!(out, "  {value:>width$}");
        }
        out.push('\n');
    }
}

fn html_rows(out: &mut String, id: &str, runs: &[ComparedRun], rows: &[CompareRow]) {
    let _ = write!(
        out,
        "<div class=\"scroll-x\"><table id=\"{id}\"><tr><th>key</th>"
    );
    for run in runs {
        let _ = write!(out, "<th class=\"num\">{}</th>", escape(&run.label));
    }
    out.push_str("<th></th></tr>\n");
    if rows.is_empty() {
        let _ = writeln!(out, "<tr><td colspan=\"{}\">none</td></tr>", runs.len() + 2);
    }
    for row in rows {
        let _ = write!(
            out,
            "<tr data-key=\"{k}\"><th><code>{k}</code></th>",
            k = escape(&row.key)
        );
        for value in &row.values {
            let _ = write!(out, "<td class=\"num\">{}</td>", escape(value));
        }
        let _ = writeln!(out, "<td class=\"note\">{}</td></tr>", escape(&row.note));
    }
    out.push_str("</table></div>\n");
}

#[cfg(test)]
mod tests;
