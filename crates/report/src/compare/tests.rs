//! Tests of the comparison: generated run directories side by side.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::{
    Comparison, ReportError,
    tests::{TWO_TRADES, live_summary, write_run},
};

/// Two runs in `root`: `a` with the two fixture trades and `setups.risk_frac` 0.01, `b`
/// with none, a different risk and a lower ending equity.
fn two_runs(root: &Path) -> Vec<PathBuf> {
    let a = root.join("a");
    let b = root.join("b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let mut first = live_summary();
    first["run_id"] = json!("run-a");
    first["config"] = json!({"strategy": "setups", "seed": 7, "setups": {"risk_frac": "0.01"}});
    write_run(&a, &first, TWO_TRADES, 180);
    let mut second = live_summary();
    second["run_id"] = json!("run-b");
    second["trades"] = json!(0);
    second["ending_equity"] = json!("9900");
    second["net_pnl"] = json!("-100");
    second["config"] = json!({"strategy": "setups", "seed": 7, "setups": {"risk_frac": "0.005"}});
    write_run(&b, &second, "", 90);
    vec![a, b]
}

/// The values of `key`'s line in the text table, after the key.
fn text_values(table: &str, key: &str) -> Vec<String> {
    let line = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("no {key} line in\n{table}"));
    line.split_whitespace().skip(1).map(str::to_owned).collect()
}

#[test]
fn the_text_table_puts_each_runs_statistics_in_its_own_column() {
    let root = tempfile::tempdir().unwrap();
    let comparison = Comparison::load(&two_runs(root.path())).unwrap();
    let table = comparison.text_table();
    assert_eq!(text_values(&table, "run_id"), ["run-a", "run-b"]);
    assert_eq!(text_values(&table, "trades"), ["2", "0"]);
    assert_eq!(text_values(&table, "net_pnl"), ["30.5", "-100"]);
    assert_eq!(text_values(&table, "ending_equity"), ["10030.5", "9900"]);
    assert_eq!(text_values(&table, "return_pct"), ["0.30", "-1.00"]);
    // Figures only one run has (from its trades) are n/a for the other.
    assert_eq!(text_values(&table, "best_trade"), ["50.5", "n/a"]);
}

#[test]
fn only_the_configuration_keys_that_differ_are_listed_under_their_toml_names() {
    let root = tempfile::tempdir().unwrap();
    let comparison = Comparison::load(&two_runs(root.path())).unwrap();
    let table = comparison.text_table();
    assert!(
        table.contains("configuration keys that differ: 1"),
        "{table}"
    );
    assert_eq!(text_values(&table, "setups.risk_frac"), ["0.01", "0.005"]);
    assert!(
        !table.lines().any(|l| l.starts_with("seed")),
        "equal keys are not listed:\n{table}"
    );
}

#[test]
fn the_page_overlays_one_curve_per_run_and_loads_nothing() {
    let root = tempfile::tempdir().unwrap();
    let comparison = Comparison::load(&two_runs(root.path())).unwrap();
    let html = comparison.html().unwrap();
    assert_eq!(html.matches("<svg").count(), 2, "returns and drawdown");
    for id in [
        "id=\"compare-runs\"",
        "id=\"compare-table\"",
        "id=\"compare-equity-chart\"",
        "id=\"compare-drawdown-chart\"",
        "id=\"compare-config-diff\"",
        "<tr data-key=\"setups.risk_frac\">",
    ] {
        assert!(html.contains(id), "the page lacks {id}");
    }
    // One line per run in each chart, in the run's own colour.
    let equity = &html[html.find("id=\"compare-equity-chart\"").unwrap()..];
    let equity = &equity[..equity.find("</figure>").unwrap()];
    for colour in ["#1F77B4", "#FF7F0E"] {
        let line = format!("stroke=\"{colour}\" stroke-width=\"2\"");
        assert_eq!(equity.matches(&line).count(), 1, "{colour} in {equity}");
    }
    for banned in ["<script", " src=", "<link", "url(", "href=\"http"] {
        assert!(!html.contains(banned), "the page loads {banned}");
    }
}

#[test]
fn every_missing_or_damaged_run_directory_is_named_at_once() {
    let root = tempfile::tempdir().unwrap();
    let mut dirs = two_runs(root.path());
    std::fs::write(dirs[1].join("summary.json"), "{ torn").unwrap();
    dirs.push(root.path().join("nowhere"));
    let err = Comparison::load(&dirs).unwrap_err();
    let ReportError::Several { errors } = &err else {
        panic!("expected Several, got {err:?}");
    };
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        matches!(&errors[0], ReportError::Malformed { path, .. } if path.ends_with("b/summary.json"))
    );
    assert!(matches!(
        &errors[1],
        ReportError::Missing {
            what: "run directory",
            ..
        }
    ));
    let text = err.to_string();
    assert!(
        text.contains("b/summary.json") && text.contains("nowhere"),
        "{text}"
    );

    let single = Comparison::load(&[dirs[0].clone(), root.path().join("gone")]).unwrap_err();
    assert!(
        matches!(
            single,
            ReportError::Missing {
                what: "run directory",
                ..
            }
        ),
        "{single:?}"
    );
}
