//! `laptop-agents report` as a user runs it: a report of a run directory is written and its
//! path printed; a missing run is a diagnostic with exit code 1; `compare` puts runs side by
//! side; a backtest's report counts the decisions whether or not `decisions.jsonl` was
//! written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

#[path = "common/candles.rs"]
mod candles;

const BIN: &str = env!("CARGO_BIN_EXE_laptop-agents");

/// Writes a finished run with one closed candle and no trades into `run`.
fn write_run(run: &std::path::Path, run_id: &str, ending_equity: &str) {
    std::fs::create_dir_all(run).unwrap();
    let summary = r#"{"run_id":"RUN_ID","source":"mock","symbol":"BTCUSDT","interval":"1m","strategy":"setups",
            "dry_run":false,"started_at":"2026-01-01T00:00:00Z","ended_at":"2026-01-01T00:01:00Z",
            "duration_s":60.0,"stopped_reason":"duration_reached","candles_closed":1,
            "trades":0,"wins":0,"losses":0,"win_rate":"0","starting_equity":"10000",
            "ending_equity":"ENDING","net_pnl":"0","trade_pnl":"0","fees":"0","funding":"0",
            "max_drawdown":"0","max_drawdown_frac":"0","sharpe":null,"sortino":null,
            "profit_factor":null,"exposure":"0","liquidations":0,"fills":0,"orders_rejected":0,"ambiguous_bars":0,
            "errors":0,"last_error":null,"reconnects":0,"rejected_frames":{},"rejected_rows":{},
            "backfilled_candles":0,"funding_events":0,"funding_skipped":0,"state_save_failures":0,
            "decisions":{},"run_dir":"RUN_ID","config":null}"#;
    std::fs::write(
        run.join("summary.json"),
        summary
            .replace("RUN_ID", run_id)
            .replace("ENDING", ending_equity),
    )
    .unwrap();
    std::fs::write(
        run.join("trades.csv"),
        "trade_id,side,entry_time_ms,exit_time_ms,entry_price,exit_price,qty,pnl,fees,r_multiple,exit_reason\n",
    )
    .unwrap();
    std::fs::write(
        run.join("equity.csv"),
        "ts_ms,equity,mark_equity\n1767225600000,10000,10000\n1767225660000,10001,10002\n",
    )
    .unwrap();
    std::fs::write(run.join("decisions.jsonl"), "{\"outcome\":\"no_order\"}\n").unwrap();
}

#[test]
fn report_of_latest_run_prints_the_report_path() {
    let workspace = tempfile::tempdir().unwrap();
    let run = workspace.path().join("runs").join("run-1");
    write_run(&run, "run-1", "10000");
    std::os::unix::fs::symlink("run-1", workspace.path().join("runs").join("latest")).unwrap();

    let output = Command::new(BIN)
        .arg("report")
        .arg("--workspace")
        .arg(workspace.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap();
    let path = std::path::PathBuf::from(printed.trim());
    assert_eq!(path, run.canonicalize().unwrap().join("report.html"));
    let html = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        3,
        "price, equity and drawdown"
    );
}

#[test]
fn report_of_a_missing_run_fails_with_a_diagnostic() {
    let workspace = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .arg("report")
        .arg(workspace.path().join("runs").join("nope"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("run directory not found"), "{stderr}");
    assert!(stderr.contains("laptop-agents run"), "help shown: {stderr}");
}

#[test]
fn compare_prints_the_runs_side_by_side_and_writes_the_page() {
    let workspace = tempfile::tempdir().unwrap();
    let runs = workspace.path().join("runs");
    write_run(&runs.join("run-1"), "run-1", "10000");
    write_run(&runs.join("run-2"), "run-2", "10250.5");
    let output = Command::new(BIN)
        .args(["compare", "--workspace"])
        .arg(workspace.path())
        .arg(runs.join("run-1"))
        .arg(runs.join("run-2"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap();
    let ending = printed
        .lines()
        .find(|l| l.starts_with("ending_equity"))
        .unwrap_or_else(|| panic!("no ending_equity row:\n{printed}"));
    assert_eq!(
        ending.split_whitespace().skip(1).collect::<Vec<_>>(),
        ["10000", "10250.5"]
    );
    let page = workspace.path().join("compare.html");
    assert!(printed.contains(&page.display().to_string()), "{printed}");
    let html = std::fs::read_to_string(page).unwrap();
    assert!(html.contains("id=\"compare-equity-chart\"") && html.contains("run-2"));
}

#[test]
fn compare_with_a_missing_run_directory_exits_2_naming_it_and_writes_nothing() {
    let workspace = tempfile::tempdir().unwrap();
    let runs = workspace.path().join("runs");
    write_run(&runs.join("run-1"), "run-1", "10000");
    let output = Command::new(BIN)
        .args(["compare", "--workspace"])
        .arg(workspace.path())
        .arg(runs.join("run-1"))
        .arg(runs.join("no-such-run"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("run directory not found") && stderr.contains("no-such-run"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "no table printed");
    assert!(!workspace.path().join("compare.html").exists());
}

/// Runs `backtest --json` on `data` (plus `extra`) and returns the run directory and the
/// summary's decision counts.
fn backtest(data: &Path, workspace: &Path, extra: &[&str]) -> (PathBuf, BTreeMap<String, u64>) {
    let output = Command::new(BIN)
        .args(["backtest", "--json", "--data"])
        .arg(data)
        .args(extra)
        .arg("--workspace")
        .arg(workspace)
        .env_remove("LA_WORKSPACE")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let counts = serde_json::from_value(summary["decisions"].clone()).unwrap();
    (PathBuf::from(summary["run_dir"].as_str().unwrap()), counts)
}

#[test]
fn a_backtest_writes_decisions_jsonl_only_on_request_and_its_report_counts_decisions_either_way() {
    let dir = tempfile::tempdir().unwrap();
    let data = candles::real_slice(dir.path());
    let (plain, plain_counts) = backtest(&data, &dir.path().join("plain"), &[]);
    let (full, full_counts) = backtest(&data, &dir.path().join("full"), &["--decisions"]);

    assert!(!plain.join("decisions.jsonl").exists());
    let lines = std::fs::read_to_string(full.join("decisions.jsonl")).unwrap();
    let outcomes: u64 = full_counts
        .iter()
        .filter(|(key, _)| key.starts_with("outcome:"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        lines.lines().count() as u64,
        outcomes,
        "one line per decision"
    );
    assert!(lines.contains("\"ema_fast\""), "indicators are recorded");
    // The file changes nothing but the output: same counts, same trades.
    assert_eq!(plain_counts, full_counts);
    assert!(
        plain_counts
            .get("outcome:submitted")
            .is_some_and(|n| *n > 0)
    );
    let trades = |run: &Path| std::fs::read_to_string(run.join("trades.csv")).unwrap();
    assert_eq!(trades(&plain), trades(&full));

    let plain_report = std::fs::read_to_string(plain.join("report.html")).unwrap();
    let full_report = std::fs::read_to_string(full.join("report.html")).unwrap();
    assert!(
        plain_report.contains("counts from summary.json"),
        "{plain_report}"
    );
    assert!(full_report.contains("counted from decisions.jsonl"));
    let submitted = format!(
        "<code>submitted</code></td><td class=\"num\">{}</td>",
        plain_counts["outcome:submitted"]
    );
    assert!(
        plain_report.contains(&submitted),
        "{submitted} in {plain_report}"
    );
    assert!(full_report.contains(&submitted));
    // The price chart with its trade markers needs no decisions.jsonl (equity.csv's
    // mark_price): the same figure either way.
    let price_chart = |html: &str| {
        let start = html.find("<figure id=\"price-chart\"").unwrap();
        let end = start + html[start..].find("</figure>").unwrap();
        html[start..end].to_owned()
    };
    let chart = price_chart(&plain_report);
    assert!(
        chart.contains("400 from equity.csv") && chart.contains("<circle"),
        "{chart}"
    );
    assert_eq!(chart, price_chart(&full_report));
}
