//! What a walk-forward leaves behind, in `<workspace>/walk-forward/<id>/` (private, like a
//! sweep's directory):
//!
//! - `oos_equity.csv` — `ts_ms,equity,fold`: the stitched out-of-sample curve, the realized
//!   equity of the carried account at every candle close of every traded test window (and of
//!   nothing else), in time order, with the fold each point belongs to.
//! - `folds.csv` — one line per fold: its training and test windows (epoch ms, half-open on
//!   candle open times), how many sets were evaluated and qualified, the chosen set's value
//!   for each grid key, and the choice's in-sample and out-of-sample figures (empty when no
//!   set qualified and the fold did not trade; `oos_funding` says "not modelled" without a
//!   funding source).
//! - `walk_forward.html` — the stitched curve with the fold boundaries and the fold table
//!   (rendered by `la-report`, self-contained).
//!
//! Every figure is the walk-forward's own (the ledger of each window run); nothing here is
//! recomputed.

use std::path::{Path, PathBuf};

use la_report::{FoldView, StitchedPoint, WalkForwardPage, walk_forward_html};
use la_session::{FundingModel, RunResults, walk_forward::WalkForward};
use serde::Serialize;

use crate::{
    Failure,
    output_dir::{create_private_dir, csv_line, write_private},
};

/// Where the files were written (printed, and in `--json`).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct WalkForwardFiles {
    pub(crate) dir: PathBuf,
    pub(crate) oos_equity: PathBuf,
    pub(crate) folds: PathBuf,
    pub(crate) html: PathBuf,
}

/// What the files describe besides the outcome itself.
pub(crate) struct Described<'a> {
    /// The directory's name.
    pub(crate) id: &'a str,
    /// The grid's keys, in order.
    pub(crate) keys: &'a [String],
    /// Each candidate's value for each key (in the candidates' order).
    pub(crate) values: &'a [Vec<String>],
    /// Each candidate's label.
    pub(crate) labels: &'a [&'a str],
    /// One-line facts for the page (data, windows, objective).
    pub(crate) facts: &'a [String],
    /// Where the funding rates came from (not modelled: the funding column says so, never 0).
    pub(crate) funding: &'a FundingModel,
}

/// The stitched out-of-sample curve: each traded fold's test-window points, in fold order.
pub(crate) fn stitched(outcome: &WalkForward) -> Vec<StitchedPoint> {
    outcome
        .folds
        .iter()
        .filter_map(|f| f.choice.as_ref().map(|c| (f.fold.index, c)))
        .flat_map(|(fold, choice)| {
            choice
                .out_of_sample
                .curve
                .iter()
                .map(move |p| StitchedPoint {
                    ts_ms: p.ts_ms,
                    equity: p.equity,
                    fold,
                })
        })
        .collect()
}

fn oos_equity_csv(points: &[StitchedPoint]) -> String {
    let mut out = String::from("ts_ms,equity,fold\n");
    for point in points {
        out.push_str(&format!(
            "{},{},{}\n",
            point.ts_ms, point.equity, point.fold
        ));
    }
    out
}

const FIGURES: [&str; 5] = [
    "net_pnl",
    "sharpe",
    "sortino",
    "max_drawdown_frac",
    "trades",
];
const OOS_ONLY: [&str; 4] = ["starting_equity", "ending_equity", "fees", "funding"];

fn figures(results: Option<&RunResults>) -> Vec<String> {
    let optional = |v: Option<f64>| v.map_or_else(String::new, |v| v.to_string());
    results.map_or_else(
        || vec![String::new(); FIGURES.len()],
        |r| {
            vec![
                r.net_pnl.to_string(),
                optional(r.sharpe),
                optional(r.sortino),
                r.max_drawdown_frac.to_string(),
                r.trades.to_string(),
            ]
        },
    )
}

fn folds_csv(outcome: &WalkForward, described: &Described<'_>) -> String {
    let header = [
        "fold",
        "train_from_ms",
        "train_to_ms",
        "test_from_ms",
        "test_to_ms",
        "evaluated",
        "qualified",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(described.keys.iter().cloned())
    .chain(FIGURES.iter().map(|f| format!("is_{f}")))
    .chain(FIGURES.iter().chain(&OOS_ONLY).map(|f| format!("oos_{f}")));
    let mut out = csv_line(header);
    for fold in &outcome.folds {
        let window = &fold.fold;
        let choice = fold.choice.as_ref();
        let values = choice.map_or_else(
            || vec![String::new(); described.keys.len()],
            |c| described.values[c.candidate].clone(),
        );
        let oos = choice.map(|c| &c.out_of_sample.results);
        let oos_only = oos.map_or_else(
            || vec![String::new(); OOS_ONLY.len()],
            |r| {
                let funding = if described.funding.is_modelled() {
                    r.funding.to_string()
                } else {
                    "not modelled".to_owned()
                };
                [r.starting_equity, r.ending_equity, r.fees]
                    .map(|d| d.to_string())
                    .into_iter()
                    .chain([funding])
                    .collect()
            },
        );
        let line = [
            window.index.to_string(),
            window.train.start_ms.to_string(),
            window.train.end_ms.to_string(),
            window.test.start_ms.to_string(),
            window.test.end_ms.to_string(),
            fold.evaluated.to_string(),
            fold.qualified.to_string(),
        ]
        .into_iter()
        .chain(values)
        .chain(figures(choice.map(|c| &c.in_sample.results)))
        .chain(figures(oos))
        .chain(oos_only);
        out.push_str(&csv_line(line));
    }
    out
}

fn page(
    outcome: &WalkForward,
    described: &Described<'_>,
    curve: &[StitchedPoint],
) -> Result<String, Failure> {
    let folds: Vec<FoldView<'_>> = outcome
        .folds
        .iter()
        .map(|f| FoldView {
            index: f.fold.index,
            train: (f.fold.train.start_ms, f.fold.train.end_ms),
            test: (f.fold.test.start_ms, f.fold.test.end_ms),
            chosen: f.choice.as_ref().map(|c| described.labels[c.candidate]),
            in_sample: f.choice.as_ref().map(|c| &c.in_sample.results),
            out_of_sample: f.choice.as_ref().map(|c| &c.out_of_sample.results),
        })
        .collect();
    walk_forward_html(&WalkForwardPage {
        title: described.id,
        facts: described.facts,
        funding: described.funding,
        folds: &folds,
        curve,
        out_of_sample: &outcome.out_of_sample.results,
    })
    .map_err(|e| Failure::runtime(format!("cannot render the walk-forward page: {e}")))
}

/// Writes the three files into a new `<workspace>/walk-forward/<id>/`.
///
/// # Errors
/// A directory or file that cannot be written, or a page that cannot be rendered.
pub(crate) fn write(
    workspace: &Path,
    outcome: &WalkForward,
    described: &Described<'_>,
) -> Result<WalkForwardFiles, Failure> {
    let curve = stitched(outcome);
    // Rendered before anything is created: a failure leaves no half-written directory.
    let html = page(outcome, described, &curve)?;
    let dir = create_private_dir(workspace, "walk-forward", described.id)?;
    let files = WalkForwardFiles {
        oos_equity: dir.join("oos_equity.csv"),
        folds: dir.join("folds.csv"),
        html: dir.join("walk_forward.html"),
        dir,
    };
    write_private(&files.oos_equity, oos_equity_csv(&curve).as_bytes())?;
    write_private(&files.folds, folds_csv(outcome, described).as_bytes())?;
    write_private(&files.html, html.as_bytes())?;
    Ok(files)
}
