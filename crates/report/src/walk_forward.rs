//! The walk-forward page: the out-of-sample test windows stitched into one equity curve (each
//! fold's stretch in its own shade, a dashed line where each test window starts), the
//! stitched account's statistics, and a table of every fold — its windows, the parameter set
//! its training window chose, and how that set did in sample and out of sample.
//!
//! The curve is drawn with the run report's chart code ([`crate::charts::line_chart`]) and the
//! page uses the run report's document frame, so it is self-contained in the same way: no
//! script, no stylesheet or font from anywhere, no URL. The figures are the caller's (the
//! walk-forward's ledger); nothing here recomputes them.

use std::fmt::Write as _;

use la_run_schema::{RunResults, inputs::FundingModel};
use plotters::{
    prelude::{DashedLineSeries, RGBColor},
    style::Color as _,
};
use rust_decimal::Decimal;

use crate::{
    charts::{self, Line},
    error::ReportError,
    html::{close_document, escape, kv_table, open_document, utc},
    sections::Row,
};

/// The two shades the folds' stretches of the curve alternate between.
const FOLD_SHADES: [RGBColor; 2] = [RGBColor(31, 119, 180), RGBColor(23, 190, 207)];
/// The dashed line where a test window starts.
const BOUNDARY: RGBColor = RGBColor(127, 127, 127);

/// One point of the stitched out-of-sample curve: realized equity at a candle close of a
/// test window, and the fold it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StitchedPoint {
    /// Candle close, epoch ms.
    pub ts_ms: i64,
    /// Realized equity of the carried account.
    pub equity: Decimal,
    /// The fold's index.
    pub fold: usize,
}

/// One fold as the page shows it.
#[derive(Clone, Debug)]
pub struct FoldView<'a> {
    /// 0-based.
    pub index: usize,
    /// Training window, `[start, end)` on candle open times (epoch ms).
    pub train: (i64, i64),
    /// Test window, `[start, end)` on candle open times (epoch ms).
    pub test: (i64, i64),
    /// The chosen set's parameters (`None`: no set qualified, the fold did not trade).
    pub chosen: Option<&'a str>,
    /// The choice on its training window.
    pub in_sample: Option<&'a RunResults>,
    /// The choice on the test window, with the carried account.
    pub out_of_sample: Option<&'a RunResults>,
}

/// Everything the walk-forward page shows.
#[derive(Clone, Debug)]
pub struct WalkForwardPage<'a> {
    /// Page title and heading, e.g. the walk-forward's id.
    pub title: &'a str,
    /// One-line facts under the heading (data, windows, objective), shown escaped.
    pub facts: &'a [String],
    /// Where the funding rates came from ([`FundingModel::NotModelled`]: the funding figure
    /// says "not modelled", never 0).
    pub funding: &'a FundingModel,
    /// The folds, in time order.
    pub folds: &'a [FoldView<'a>],
    /// The stitched curve, in time order.
    pub curve: &'a [StitchedPoint],
    /// The stitched account's statistics.
    pub out_of_sample: &'a RunResults,
}

fn ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2}"))
}

/// The stitched account's statistics rows.
fn stats_rows(s: &RunResults, funding: &FundingModel) -> Vec<Row> {
    let row = |key: &str, value: String, note: &str| Row {
        key: key.to_owned(),
        value,
        note: note.to_owned(),
    };
    vec![
        row(
            "starting_equity",
            s.starting_equity.round_dp(2).to_string(),
            "",
        ),
        row(
            "ending_equity",
            s.ending_equity.round_dp(2).to_string(),
            "the last point of the curve",
        ),
        row(
            "net_pnl",
            s.net_pnl.round_dp(2).to_string(),
            "ending − starting (trades and funding)",
        ),
        row("trades", s.trades.to_string(), ""),
        row("wins", s.wins.to_string(), ""),
        row("fees", s.fees.round_dp(2).to_string(), ""),
        row(
            "funding",
            if funding.is_modelled() {
                s.funding.round_dp(2).to_string()
            } else {
                "not modelled".to_owned()
            },
            &funding.describe(),
        ),
        row(
            "max_drawdown",
            format!(
                "{} ({})",
                s.max_drawdown.round_dp(2),
                s.max_drawdown_frac.round_dp(4)
            ),
            "of realized equity",
        ),
        row("sharpe", ratio(s.sharpe), "annualised, daily returns"),
        row("sortino", ratio(s.sortino), "annualised, daily returns"),
        row(
            "profit_factor",
            s.profit_factor
                .map_or_else(|| "n/a".to_owned(), |p| p.round_dp(2).to_string()),
            "",
        ),
        row("exposure", s.exposure.round_dp(4).to_string(), ""),
    ]
}

/// The stitched curve, one line per fold (alternating shades), a dashed vertical line at
/// the start of every test window.
fn curve_svg(page: &WalkForwardPage<'_>) -> Result<String, ReportError> {
    let mut lines: Vec<Line> = Vec::new();
    let mut line_fold = None;
    for point in page.curve {
        let value = (point.ts_ms, charts::to_f64(point.equity));
        match lines.last_mut() {
            Some(line) if line_fold == Some(point.fold) => line.points.push(value),
            _ => {
                line_fold = Some(point.fold);
                lines.push(Line {
                    color: FOLD_SHADES[point.fold % 2],
                    width: 2,
                    points: vec![value],
                });
            }
        }
    }
    let boundaries: Vec<i64> = page.folds.iter().map(|f| f.test.0).collect();
    let extent: Vec<(i64, f64)> = page
        .folds
        .iter()
        .flat_map(|f| [f.test.0, f.test.1])
        .map(|t| (t, charts::to_f64(page.out_of_sample.starting_equity)))
        .collect();
    charts::line_chart(
        "walk-forward equity",
        360,
        &lines,
        &extent,
        "",
        "no fold traded: no out-of-sample curve",
        |chart| {
            let y = chart.y_range();
            for at in &boundaries {
                chart
                    .draw_series(DashedLineSeries::new(
                        [(*at, y.start), (*at, y.end)],
                        6,
                        4,
                        BOUNDARY.stroke_width(1),
                    ))
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        },
    )
}

fn fold_table(out: &mut String, folds: &[FoldView<'_>]) {
    out.push_str("<div class=\"scroll-x\"><table id=\"walk-forward-folds\"><tr><th>fold</th><th>train (UTC)</th><th>test (UTC)</th><th>chosen</th><th class=\"num\">IS net</th><th class=\"num\">IS sharpe</th><th class=\"num\">IS trades</th><th class=\"num\">OOS net</th><th class=\"num\">OOS sharpe</th><th class=\"num\">OOS trades</th><th class=\"num\">OOS ending</th></tr>\n");
    for fold in folds {
        let _ = write!(
            out,
            "<tr data-fold=\"{}\"><td class=\"num\">{}</td><td>{} .. {}</td><td>{} .. {}</td>",
            fold.index,
            fold.index,
            utc(fold.train.0),
            utc(fold.train.1),
            utc(fold.test.0),
            utc(fold.test.1),
        );
        match (fold.chosen, fold.in_sample, fold.out_of_sample) {
            (Some(chosen), Some(is), Some(oos)) => {
                let _ = writeln!(
                    out,
                    "<td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    escape(chosen),
                    is.net_pnl.round_dp(2),
                    ratio(is.sharpe),
                    is.trades,
                    oos.net_pnl.round_dp(2),
                    ratio(oos.sharpe),
                    oos.trades,
                    oos.ending_equity.round_dp(2),
                );
            }
            _ => out.push_str(
                "<td colspan=\"8\" class=\"note\">no parameter set qualified: the fold does not trade</td></tr>\n",
            ),
        }
    }
    out.push_str("</table></div>\n");
}

/// Renders the walk-forward page.
///
/// # Errors
/// [`ReportError::Chart`] if plotters fails.
pub fn walk_forward_html(page: &WalkForwardPage<'_>) -> Result<String, ReportError> {
    let svg = curve_svg(page)?;
    let mut out = String::with_capacity(32 * 1024 + page.folds.len() * 600);
    let facts: Vec<String> = page.facts.iter().map(|f| escape(f)).collect();
    open_document(&mut out, page.title, page.title, &facts.join(" &middot; "));
    out.push_str("<nav><a href=\"#out-of-sample\">Out of sample</a><a href=\"#folds\">Folds</a></nav>\n<main>\n");
    let (shade_a, shade_b) = (FOLD_SHADES[0], FOLD_SHADES[1]);
    let _ = writeln!(
        out,
        "<section id=\"out-of-sample\"><h2>Out of sample: the test windows stitched into one account</h2><figure id=\"walk-forward-equity-chart\"><figcaption><span class=\"swatch\" style=\"background:#{:02x}{:02x}{:02x}\"></span><span class=\"swatch\" style=\"background:#{:02x}{:02x}{:02x}\"></span>realized equity at every candle close of a test window, USDT, folds in alternating shades; dashed: where a test window starts; {} points; horizontal axis UTC.</figcaption>\n{svg}\n</figure>",
        shade_a.0,
        shade_a.1,
        shade_a.2,
        shade_b.0,
        shade_b.1,
        shade_b.2,
        page.curve.len(),
    );
    kv_table(
        &mut out,
        "walk-forward-stats",
        &stats_rows(page.out_of_sample, page.funding),
    );
    out.push_str("</section>\n");
    let _ = writeln!(
        out,
        "<section id=\"folds\"><h2>Folds ({})</h2><p class=\"note\">Each fold chooses on its training window only (IS: in sample) and trades the choice on the test window right after it (OOS: out of sample) with the account carried over from the previous test window. Windows are half-open on candle open times.</p>",
        page.folds.len()
    );
    fold_table(&mut out, page.folds);
    out.push_str("</section>\n</main>\n");
    close_document(&mut out, "from a walk-forward");
    Ok(out)
}

#[cfg(test)]
mod tests;
