//! The walk-forward page: one stretch of curve per fold, a boundary per test window, a table
//! row per fold, escaped labels, nothing loaded from anywhere.

use la_run_schema::RunResults;
use rust_decimal::Decimal;

use super::{FoldView, StitchedPoint, WalkForwardPage, walk_forward_html};

const HOUR: i64 = 3_600_000;
const START: i64 = 1_618_876_800_000;

fn results(ending: i64) -> RunResults {
    RunResults {
        trades: 2,
        wins: 1,
        losses: 1,
        win_rate: Decimal::new(5, 1),
        starting_equity: Decimal::from(10_000),
        ending_equity: Decimal::from(ending),
        net_pnl: Decimal::from(ending - 10_000),
        trade_pnl: Decimal::from(ending - 10_000),
        fees: Decimal::ONE,
        funding: Decimal::ZERO,
        max_drawdown: Decimal::ZERO,
        max_drawdown_frac: Decimal::ZERO,
        sharpe: Some(1.25),
        sortino: None,
        profit_factor: None,
        exposure: Decimal::ZERO,
        liquidations: 0,
    }
}

#[test]
fn the_page_draws_a_stretch_per_fold_a_boundary_per_test_window_and_a_row_per_fold() {
    let (is, oos) = (results(10_100), results(10_050));
    let folds = [
        FoldView {
            index: 0,
            train: (START, START + 24 * HOUR),
            test: (START + 24 * HOUR, START + 36 * HOUR),
            chosen: Some("sma_cross.fast=5 <b>"),
            in_sample: Some(&is),
            out_of_sample: Some(&oos),
        },
        FoldView {
            index: 1,
            train: (START + 12 * HOUR, START + 36 * HOUR),
            test: (START + 36 * HOUR, START + 48 * HOUR),
            chosen: None,
            in_sample: None,
            out_of_sample: None,
        },
        FoldView {
            index: 2,
            train: (START + 24 * HOUR, START + 48 * HOUR),
            test: (START + 48 * HOUR, START + 60 * HOUR),
            chosen: Some("sma_cross.fast=10"),
            in_sample: Some(&is),
            out_of_sample: Some(&oos),
        },
    ];
    let curve: Vec<StitchedPoint> = [(0, 25), (0, 36), (2, 49), (2, 60)]
        .into_iter()
        .map(|(fold, hours)| StitchedPoint {
            ts_ms: START + hours * HOUR,
            equity: Decimal::from(10_000 + hours),
            fold,
        })
        .collect();
    let html = walk_forward_html(&WalkForwardPage {
        title: "walk-forward-1",
        facts: &["3 folds".to_owned()],
        funding: &la_run_schema::inputs::FundingModel::NotModelled,
        folds: &folds,
        curve: &curve,
        out_of_sample: &oos,
    })
    .expect("page");
    let figure = &html[html
        .find("<figure id=\"walk-forward-equity-chart\"")
        .expect("figure")..];
    let figure = &figure[..figure.find("</figure>").expect("end")];
    // Folds 0 and 2 share a shade but not a line; each test start is a dashed line.
    assert_eq!(
        figure
            .matches("stroke=\"#1F77B4\" stroke-width=\"2\"")
            .count(),
        2
    );
    let boundaries: std::collections::BTreeSet<&str> = figure
        .split("stroke=\"#7F7F7F\"")
        .skip(1)
        .filter_map(|dash| dash.split("points=\"").nth(1)?.split(',').next())
        .collect();
    assert_eq!(
        boundaries.len(),
        3,
        "one dashed line per test start: {boundaries:?}"
    );
    assert_eq!(html.matches("<tr data-fold=").count(), 3);
    assert!(html.contains("sma_cross.fast=5 &lt;b&gt;"), "escaped");
    assert!(html.contains("the fold does not trade"));
    assert!(
        html.contains(
            "<tr data-key=\"funding\"><th>funding</th><td class=\"num\">not modelled</td>"
        )
    );
    for banned in ["<script", " src=", "<link", "url(", "href=\"http"] {
        assert!(!html.contains(banned), "{banned}");
    }
}
