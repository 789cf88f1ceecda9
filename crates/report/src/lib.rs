//! `la-report`: renders one self-contained HTML report of a run directory.
//!
//! A run directory (live session or backtest, see `la-session`'s `run_files`) holds
//! `summary.json`, `trades.csv`, `equity.csv` and `decisions.jsonl`. [`render_run_report`]
//! reads them and writes `report.html` next to them: the statistics, the price chart with
//! every trade's entry and exit, the equity and drawdown charts (inline SVG drawn with
//! plotters), the monthly returns, the trades by side and by exit reason, the decision
//! counts ("why no trade"), the trades table, the downtime intervals with what catching up booked and every funding settlement
//! with its rate's source, the configuration with its fingerprint, and the data-quality
//! counters.
//!
//! **Invariants.** The page loads nothing: no scripts, no stylesheets, fonts or images from
//! anywhere, no URLs at all, so it renders offline. Every string read from a run file is
//! HTML-escaped. Missing or damaged input files are a typed [`ReportError`] naming the file,
//! never a panic. The crate does no async and no network I/O.
//!
//! # Layout
//! - `inputs`: reading and strictly parsing the run files.
//! - `sections`: statistics, configuration and data-quality rows from the summary.
//! - `fingerprint`: FNV-1a over canonical JSON.
//! - `charts`: plotters SVG charts.
//! - `analysis`: monthly returns and the breakdowns by side and exit reason.
//! - `downtime`: the downtime and funding section.
//! - `html`: the document.
//! - `compare`: several runs side by side ([`Comparison`]: a terminal table and a page with
//!   the equity curves overlaid).
//! - `walk_forward`: the walk-forward page ([`walk_forward_html`]: the stitched out-of-sample
//!   curve with its fold boundaries, and the fold table).

mod analysis;
mod charts;
mod compare;
mod downtime;
mod error;
mod fingerprint;
mod html;
mod inputs;
mod sections;
mod walk_forward;

use std::path::{Path, PathBuf};

pub use compare::Comparison;
pub use error::ReportError;
pub use fingerprint::config_fingerprint;
pub use html::escape;
pub use walk_forward::{FoldView, StitchedPoint, WalkForwardPage, walk_forward_html};

/// The file name of the report inside a run directory.
pub const REPORT_FILE: &str = "report.html";

/// Renders `report.html` from the files of `run_dir` and returns its path (inside the
/// canonical run directory, so a `runs/latest` symlink resolves to the real run).
///
/// `summary.json`, `trades.csv` and `equity.csv` are required; when `decisions.jsonl` is
/// missing the decision counts stored in `summary.json` are shown instead. The file is
/// written atomically (temporary file, then rename).
///
/// # Errors
/// [`ReportError::Missing`] for a missing run directory or required file,
/// [`ReportError::Read`] / [`ReportError::Malformed`] for unreadable or damaged files,
/// [`ReportError::Chart`] if plotters fails, [`ReportError::Write`] if the report cannot be
/// written.
pub fn render_run_report(run_dir: &Path) -> Result<PathBuf, ReportError> {
    let html = render_run_report_html(run_dir)?;
    let target = canonical_run_dir(run_dir)?.join(REPORT_FILE);
    write_page(&target, &html)?;
    Ok(target)
}

/// Writes a rendered page to `path` atomically: a temporary file beside it, then a rename,
/// so a reader never sees half a page and a failed write leaves the old page in place.
///
/// # Errors
/// [`ReportError::Write`] naming the file that could not be written.
pub fn write_page(path: &Path, html: &str) -> Result<(), ReportError> {
    la_private_fs::write_replace(path, html.as_bytes(), la_private_fs::Durability::Synced).map_err(
        |source| ReportError::Write {
            path: path.to_path_buf(),
            source,
        },
    )
}

/// The report of `run_dir` as an HTML string, without writing it.
///
/// # Errors
/// As [`render_run_report`], except for writing.
pub fn render_run_report_html(run_dir: &Path) -> Result<String, ReportError> {
    let dir = canonical_run_dir(run_dir)?;
    let inputs = inputs::load(&dir)?;
    let config = sections::config_value(&inputs.summary);
    let stats = sections::stats_rows(&inputs.summary, &inputs.trades);
    let config_rows = sections::config_rows(&config);
    let quality = sections::quality_rows(
        &inputs.summary,
        &inputs.decisions,
        &inputs.equity,
        &inputs.trades,
    );
    let price_svg = charts::price_svg(&inputs.prices, &inputs.trades)?;
    let months = analysis::monthly_returns(inputs.summary.results.starting_equity, &inputs.equity);
    let equity_svg = charts::equity_svg(&inputs.equity)?;
    let drawdown_svg = charts::drawdown_svg(&inputs.equity)?;
    let fingerprint = config_fingerprint(&config);
    let run_dir_text = dir.display().to_string();
    Ok(html::render(&html::Page {
        summary: &inputs.summary,
        run_dir: &run_dir_text,
        stats: &stats,
        config: &config_rows,
        fingerprint: &fingerprint,
        quality: &quality,
        decisions: &inputs.decisions,
        trades: &inputs.trades,
        price_svg: &price_svg,
        price_points: inputs.prices.len(),
        prices_from: inputs.prices_from,
        months: &months,
        equity_svg: &equity_svg,
        drawdown_svg: &drawdown_svg,
        equity_points: inputs.equity.len(),
    }))
}

fn canonical_run_dir(run_dir: &Path) -> Result<PathBuf, ReportError> {
    match std::fs::canonicalize(run_dir) {
        Ok(dir) if dir.is_dir() => Ok(dir),
        Ok(dir) => Err(ReportError::Missing {
            path: dir,
            what: "run directory",
        }),
        Err(err) => Err(ReportError::from_read(run_dir, "run directory", err)),
    }
}

#[cfg(test)]
mod tests;
