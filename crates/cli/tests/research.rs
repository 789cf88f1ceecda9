//! The research commands as a user runs them: `backtest` configured like `run` (`--config`,
//! `--set`), with the candles of `../shared/data`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

#[path = "common/candles.rs"]
mod candles;
#[path = "common/chromium.rs"]
mod chromium;
#[path = "common/process.rs"]
mod process;

use candles::real_slice;

const BIN: &str = env!("CARGO_BIN_EXE_laptop-agents");

fn laptop_agents(args: &[&str], workspace: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--workspace")
        .arg(workspace)
        .env_remove("LA_WORKSPACE")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `backtest --json` with `extra` arguments and returns its run directory.
fn backtest_run_dir(data: &Path, workspace: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec!["backtest", "--json", "--data", data.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = laptop_agents(&args, workspace);
    assert!(out.status.success(), "backtest failed: {}", stderr(&out));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    PathBuf::from(stats["run_dir"].as_str().unwrap())
}

fn trades(run_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(run_dir.join("trades.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_setups_key_in_the_config_file_changes_the_backtest_and_a_misspelt_one_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = real_slice(dir.path());
    let default_trades = trades(&backtest_run_dir(&data, &dir.path().join("a"), &[]));
    assert!(
        !default_trades.is_empty(),
        "the slice trades with the defaults"
    );

    let config = dir.path().join("half-risk.toml");
    std::fs::write(&config, "[setups]\nrisk_frac = 0.005\n").unwrap();
    let half_risk = trades(&backtest_run_dir(
        &data,
        &dir.path().join("b"),
        &["--config", config.to_str().unwrap()],
    ));
    assert!(!half_risk.is_empty());
    assert_ne!(
        default_trades, half_risk,
        "half the risk per trade must change the trades (sizes)"
    );
    // `--set` reaches the same key: the same trades as the file.
    let via_set = trades(&backtest_run_dir(
        &data,
        &dir.path().join("c"),
        &["--set", "setups.risk_frac=0.005"],
    ));
    assert_eq!(via_set, half_risk);

    let misspelt = dir.path().join("misspelt.toml");
    std::fs::write(&misspelt, "[setups]\nrisk_fracc = 0.005\n").unwrap();
    let out = laptop_agents(
        &[
            "backtest",
            "--data",
            data.to_str().unwrap(),
            "--config",
            misspelt.to_str().unwrap(),
        ],
        &dir.path().join("d"),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("risk_fracc"), "{}", stderr(&out));
    assert!(
        !dir.path().join("d").join("runs").exists(),
        "nothing is run on a configuration error"
    );
}

/// Runs `walk-forward` over three days of the recorded month, training on `train` and
/// testing on 12 h.
fn walk_forward(dir: &Path, grid: &str, train: &str, extra: &[&str]) -> Output {
    let data = candles::month_slice(dir, "three-days.csv", 2_800, 3 * 1_440);
    let grid_path = dir.join("grid.toml");
    std::fs::write(&grid_path, grid).unwrap();
    let mut args = vec![
        "walk-forward",
        "--data",
        data.to_str().unwrap(),
        "--strategy",
        "sma-cross",
        "--grid",
        grid_path.to_str().unwrap(),
        "--train",
        train,
        "--test",
        "12h",
    ];
    args.extend_from_slice(extra);
    laptop_agents(&args, &dir.join("ws"))
}

const SMA_GRID: &str = "[sma_cross]\nfast = [5, 10]\nslow = { from = 30, to = 60, step = 30 }\n";

fn decimal(value: &serde_json::Value) -> la_core::Decimal {
    value.as_str().unwrap().parse().unwrap()
}

#[test]
fn walk_forward_on_real_candles_chooses_from_training_candles_only_and_stitches_the_test_windows() {
    let dir = tempfile::tempdir().unwrap();
    let json_args = ["--json", "--objective", "net_pnl", "--min-trades", "1"];
    let out = walk_forward(dir.path(), SMA_GRID, "1d", &json_args);
    assert!(
        out.status.success(),
        "walk-forward failed: {}",
        stderr(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["parameter_sets"], 4);
    let folds = report["folds"].as_array().unwrap();
    assert!(folds.len() >= 3, "three days in 1d/12h folds: {folds:?}");
    let (mut net, mut trades, mut chosen) = (la_core::Decimal::ZERO, 0, 0);
    for fold in folds {
        let test_from = fold["test_from"].as_str().unwrap();
        let newest = fold["training_last_candle"].as_str().unwrap();
        assert!(
            newest < test_from,
            "fold {}: a training run read {newest}, inside its test window from {test_from}",
            fold["index"]
        );
        assert_eq!(fold["train_to"], fold["test_from"], "the test follows");
        if let Some(oos) = fold["out_of_sample"].as_object() {
            chosen += 1;
            assert!(
                fold["chosen"]
                    .as_str()
                    .unwrap()
                    .starts_with("sma_cross.fast=")
            );
            net += decimal(&oos["net_pnl"]);
            trades += oos["trades"].as_u64().unwrap();
        }
    }
    assert!(chosen > 0, "at least one fold trades");
    let aggregate = &report["out_of_sample"];
    assert_eq!(decimal(&aggregate["net_pnl"]), net, "the stitched account");
    assert_eq!(aggregate["trades"].as_u64().unwrap(), trades);
    let again = walk_forward(dir.path(), SMA_GRID, "1d", &json_args);
    let without_files = |stdout: &[u8]| {
        let mut value: serde_json::Value = serde_json::from_slice(stdout).unwrap();
        value.as_object_mut().unwrap().remove("files");
        value
    };
    assert_eq!(
        without_files(&again.stdout),
        without_files(&out.stdout),
        "same inputs, same walk-forward (in a new directory)"
    );
    let human = walk_forward(
        dir.path(),
        SMA_GRID,
        "1d",
        &["--objective", "net_pnl", "--min-trades", "1"],
    );
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("out of sample") && text.contains("leaderboard"),
        "{text}"
    );
    assert!(text.contains("funding          not modelled"), "{text}");
}

/// A successful `walk-forward --json` over the fixture: its report and its files' paths.
fn walk_forward_files(dir: &Path) -> (serde_json::Value, [PathBuf; 3]) {
    let json_args = ["--json", "--objective", "net_pnl", "--min-trades", "1"];
    let out = walk_forward(dir, SMA_GRID, "1d", &json_args);
    assert!(
        out.status.success(),
        "walk-forward failed: {}",
        stderr(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = &report["files"];
    let path = |key: &str| PathBuf::from(files[key].as_str().unwrap());
    let paths = [path("oos_equity"), path("folds"), path("html")];
    (report, paths)
}

/// `folds.csv` as maps of column name to cell, one per fold.
fn csv_rows(text: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|line| {
            header
                .iter()
                .map(|h| (*h).to_owned())
                .zip(line.split(',').map(str::to_owned))
                .collect()
        })
        .collect()
}

#[test]
fn the_stitched_out_of_sample_curve_lies_inside_the_test_windows_and_ends_at_the_ledgers_equity() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (report, [oos_equity, folds_csv, _]) = walk_forward_files(dir.path());
    let wf_dir = oos_equity.parent().unwrap();
    assert!(
        wf_dir.starts_with(dir.path().join("ws/walk-forward")),
        "{}",
        wf_dir.display()
    );
    assert_eq!(
        std::fs::metadata(wf_dir).unwrap().permissions().mode() & 0o777,
        0o700,
        "private like a sweep's directory"
    );
    let folds = csv_rows(&std::fs::read_to_string(&folds_csv).unwrap());
    let json_folds = report["folds"].as_array().unwrap();
    assert_eq!(folds.len(), json_folds.len());
    for (row, json) in folds.iter().zip(json_folds) {
        assert_eq!(row["fold"], json["index"].to_string());
        match json["chosen"].as_str() {
            Some(label) => {
                let parameters = format!(
                    "sma_cross.fast={} sma_cross.slow={}",
                    row["sma_cross.fast"], row["sma_cross.slow"]
                );
                assert_eq!(
                    parameters, label,
                    "fold {}: the chosen set's parameters",
                    row["fold"]
                );
                assert_eq!(
                    decimal(&json["out_of_sample"]["net_pnl"]),
                    row["oos_net_pnl"].parse().unwrap()
                );
                assert_eq!(
                    decimal(&json["in_sample"]["net_pnl"]),
                    row["is_net_pnl"].parse().unwrap()
                );
                assert_eq!(row["oos_funding"], "not modelled", "never a silent 0");
            }
            None => assert_eq!(row["oos_net_pnl"], ""),
        }
    }
    let window = |fold: usize, key: &str| -> i64 { folds[fold][key].parse().unwrap() };
    let curve = csv_rows(&std::fs::read_to_string(&oos_equity).unwrap());
    assert!(!curve.is_empty(), "at least one fold trades");
    let mut previous = i64::MIN;
    let mut last_of_fold = std::collections::BTreeMap::new();
    for point in &curve {
        let (ts, fold): (i64, usize) = (
            point["ts_ms"].parse().unwrap(),
            point["fold"].parse().unwrap(),
        );
        // Points are candle closes: after the window's first open, at most its end.
        let (from, to) = (window(fold, "test_from_ms"), window(fold, "test_to_ms"));
        assert!(
            from < ts && ts <= to,
            "a point at {ts} lies outside fold {fold}'s test window {from}..{to}"
        );
        assert!(ts > previous, "in time order");
        previous = ts;
        last_of_fold.insert(fold, point["equity"].clone());
    }
    for (fold, equity) in &last_of_fold {
        assert_eq!(
            *equity, folds[*fold]["oos_ending_equity"],
            "fold {fold} ends where its run ended"
        );
    }
    let last: la_core::Decimal = curve.last().unwrap()["equity"].parse().unwrap();
    assert_eq!(
        last,
        decimal(&report["out_of_sample"]["ending_equity"]),
        "the curve ends at the stitched account's ending equity"
    );
}

#[test]
fn the_walk_forward_page_renders_its_curve_and_fold_table_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (report, [_, _, page]) = walk_forward_files(dir.path());
    let dom = chromium::rendered_dom(&page, "");
    let figure = &dom[dom
        .find("<figure id=\"walk-forward-equity-chart\"")
        .expect("the chart's figure")..];
    let figure = &figure[..figure.find("</figure>").unwrap()];
    assert!(figure.contains("<svg"), "the figure holds a chart");
    let traded = report["folds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["chosen"].is_string())
        .count();
    assert!(
        figure.matches("stroke-width=\"2\"").count() >= traded,
        "a stretch of curve per traded fold ({traded})"
    );
    assert_eq!(
        dom.matches("<tr data-fold=").count(),
        report["folds"].as_array().unwrap().len(),
        "a table row per fold"
    );
    assert!(dom.contains("<table class=\"kv\" id=\"walk-forward-stats\""));
}

#[test]
fn a_misspelt_grid_key_or_overlapping_windows_exit_2_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = walk_forward(dir.path(), "[sma_cross]\nfsat = [5, 10]\n", "1d", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sma_cross.fsat") && stderr(&out).contains("(--grid)"),
        "{}",
        stderr(&out)
    );
    let out = walk_forward(dir.path(), SMA_GRID, "1d", &["--step", "6h"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--step"), "{}", stderr(&out));
    let out = walk_forward(dir.path(), SMA_GRID, "3d", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("longer than the"), "{}", stderr(&out));
    assert!(
        !dir.path().join("ws/runs").exists(),
        "a refused walk-forward writes no run"
    );
    assert!(
        !dir.path().join("ws/walk-forward").exists(),
        "nor a walk-forward directory"
    );
}

#[test]
fn the_human_backtest_output_lists_rejected_rows_by_line_and_the_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let slice = std::fs::read_to_string(real_slice(dir.path())).unwrap();
    let mut lines: Vec<String> = slice.lines().map(str::to_owned).collect();
    // Line 6 gets a high below its low, line 9 a price that is not a number; lines 101..=130
    // are cut out (a 30-minute hole).
    let mut fields: Vec<String> = lines[5].split(',').map(str::to_owned).collect();
    fields.swap(2, 3);
    lines[5] = fields.join(",");
    let mut fields: Vec<String> = lines[8].split(',').map(str::to_owned).collect();
    fields[4] = "12x".into();
    lines[8] = fields.join(",");
    let hole_from: i64 = lines[100].split(',').next().unwrap().parse().unwrap();
    lines.drain(100..130);
    let data = dir.path().join("damaged.csv");
    std::fs::write(&data, lines.join("\n") + "\n").unwrap();

    let out = laptop_agents(
        &["backtest", "--data", data.to_str().unwrap()],
        &dir.path().join("w"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("data: rejected 1 row(s): ohlc_inconsistent (line 6)"),
        "{text}"
    );
    assert!(text.contains("(line 9)"), "{text}");
    let gap_start = time::OffsetDateTime::from_unix_timestamp(hole_from / 1000).unwrap();
    assert!(
        // The two rejected rows leave one-bar holes of their own.
        text.contains("data: gaps: 3 (32 bar(s) missing), longest 30m from"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{:02}:{:02}:00",
            gap_start.hour(),
            gap_start.minute()
        )),
        "the gap's start {gap_start} is named: {text}"
    );
}

#[test]
fn a_five_minute_backtest_on_one_minute_data_resamples_instead_of_skipping_rows() {
    let dir = tempfile::tempdir().unwrap();
    // 2 000 rows starting on a 5-minute boundary: 400 whole 5-minute bars.
    let data = candles::month_slice(dir.path(), "m1.csv", 1_003, 2_000);
    let out = laptop_agents(
        &[
            "backtest",
            "--json",
            "--interval",
            "5m",
            "--data",
            data.to_str().unwrap(),
        ],
        &dir.path().join("w"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["candles_closed"], 400, "{stats}");
    assert_eq!(stats["rejected_rows"], serde_json::json!({}), "{stats}");
    let quality = &stats["candle_file"];
    assert_eq!(quality["rows_used"], 2_000);
    assert_eq!(quality["resampled"]["from"], "1m");
    assert_eq!(quality["resampled"]["to"], "5m");
}

#[test]
fn a_candle_file_with_no_usable_rows_exits_2_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, why) in [
        ("empty.csv", "", "empty"),
        (
            "columns.csv",
            "time,price\n1619000000000,50000\n",
            "wrong columns",
        ),
        (
            "rejected.csv",
            "ts_ms,open,high,low,close,volume\n1619000000000,1,2,3,4\n1619000060000,-1,1,1,1,1\n",
            "all 2 rows were rejected",
        ),
    ] {
        let data = dir.path().join(name);
        std::fs::write(&data, text).unwrap();
        let workspace = dir.path().join(name.replace(".csv", ""));
        let out = laptop_agents(&["backtest", "--data", data.to_str().unwrap()], &workspace);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(why), "{name}: {}", stderr(&out));
        assert!(!workspace.join("runs").exists(), "{name}: no run directory");
    }
}

#[test]
fn a_backtest_without_a_funding_source_says_funding_was_not_modelled_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let data = real_slice(dir.path());
    let args = ["backtest", "--data", data.to_str().unwrap()];
    let human = laptop_agents(&args, &dir.path().join("a"));
    assert!(human.status.success(), "{}", stderr(&human));
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("funding          not modelled"),
        "human output: {text}"
    );
    let json = laptop_agents(&[&args[..], &["--json"]].concat(), &dir.path().join("b"));
    let stats: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(stats["funding_model"]["kind"], "not_modelled", "--json");
    let run_dir = PathBuf::from(stats["run_dir"].as_str().unwrap());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["funding_model"]["kind"], "not_modelled");
    let report = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    assert!(
        report.contains("<th>funding</th><td class=\"num\">not modelled</td>"),
        "report statistics"
    );
    // With a source the figure is shown with where its rates came from.
    let out = laptop_agents(
        &[&args[..], &["--funding-rate", "0.0001"]].concat(),
        &dir.path().join("c"),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("constant 0.0001 per 8 h") && !text.contains("not modelled"),
        "{text}"
    );
}

/// A funding file for the recorded month: every 8 h from 2021-04-20 00:00 UTC, rates
/// cycling through 0.0001, -0.0002 and 0.0003 (so each settlement shows which row it used).
fn month_funding_file(dir: &Path) -> (PathBuf, std::collections::BTreeMap<i64, la_core::Decimal>) {
    let mut rates = std::collections::BTreeMap::new();
    let mut text = String::from("ts_ms,rate\n");
    for i in 0..100_i64 {
        let ts = 1_618_876_800_000 + i * 8 * 3_600_000;
        let rate = ["0.0001", "-0.0002", "0.0003"][(i % 3) as usize];
        text.push_str(&format!("{ts},{rate}\n"));
        rates.insert(ts, rate.parse().unwrap());
    }
    let path = dir.join("funding.csv");
    std::fs::write(&path, text).unwrap();
    (path, rates)
}

#[test]
fn a_backtest_with_a_funding_file_settles_each_funding_time_with_that_times_rate() {
    let dir = tempfile::tempdir().unwrap();
    let data = candles::shared_candles(candles::MONTH);
    let (funding, rates) = month_funding_file(dir.path());
    let run_dir = backtest_run_dir(
        &data,
        &dir.path().join("ws"),
        &["--funding", funding.to_str().unwrap()],
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["funding_model"]["kind"], "file");
    assert_eq!(summary["funding_model"]["rates"], 100);
    assert_eq!(summary["funding_skipped"], 0, "the file covers the month");
    let settlements = summary["funding_settlements"].as_array().unwrap();
    assert!(
        settlements.len() >= 2,
        "positions held across funding times: {settlements:?}"
    );
    let mut booked = la_core::Decimal::ZERO;
    for settlement in settlements {
        let time = settlement["funding_time_ms"].as_i64().unwrap();
        assert_eq!(
            decimal(&settlement["rate"]),
            rates[&time],
            "the file's rate for {time}"
        );
        assert_eq!(settlement["source"], "file");
        booked += decimal(&settlement["amount"]);
    }
    assert_eq!(
        decimal(&summary["funding"]),
        booked,
        "the ledger is the settlements"
    );
    // trades.csv's funding column adds up to the ledger (every position closes by the end).
    let text = std::fs::read_to_string(run_dir.join("trades.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let column = header.iter().position(|c| *c == "funding").unwrap();
    let per_trade: la_core::Decimal = text
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .nth(column)
                .unwrap()
                .parse::<la_core::Decimal>()
                .unwrap()
        })
        .sum();
    assert_eq!(per_trade, booked);
}

#[test]
fn a_funding_file_with_a_funding_rate_or_without_a_usable_row_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = real_slice(dir.path());
    let (funding, _) = month_funding_file(dir.path());
    let out = laptop_agents(
        &[
            "backtest",
            "--data",
            data.to_str().unwrap(),
            "--funding",
            funding.to_str().unwrap(),
            "--funding-rate",
            "0.0001",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--funding-rate"), "{}", stderr(&out));
    let bad = dir.path().join("percent.csv");
    std::fs::write(&bad, "ts_ms,rate\n1618876800000,1\n1618905600000,x\n").unwrap();
    let out = laptop_agents(
        &[
            "backtest",
            "--data",
            data.to_str().unwrap(),
            "--funding",
            bad.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("percent.csv")
            && err.contains("absurd_rate ×1 (lines 2)")
            && err.contains("bad_rate ×1 (lines 3)"),
        "{err}"
    );
}

/// The funding figure of a leaderboard row or statistics block, as a decimal.
fn funding_of(value: &serde_json::Value) -> la_core::Decimal {
    decimal(&value["funding"])
}

#[test]
fn sweep_and_walk_forward_settle_funding_from_a_funding_file_as_backtest_does() {
    let dir = tempfile::tempdir().unwrap();
    let (funding, _) = month_funding_file(dir.path());
    let funding_args = ["--funding", funding.to_str().unwrap()];
    // The sweep: every set settles with the file; the best set's full backtest agrees.
    let data = candles::month_slice(dir.path(), "three-days.csv", 2_800, 3 * 1_440);
    let grid = dir.path().join("sweep-grid.toml");
    std::fs::write(&grid, SMA_GRID).unwrap();
    let out = laptop_agents(
        &[
            &[
                "sweep",
                "--json",
                "--strategy",
                "sma-cross",
                "--data",
                data.to_str().unwrap(),
                "--grid",
                grid.to_str().unwrap(),
            ][..],
            &funding_args,
        ]
        .concat(),
        &dir.path().join("sweep-ws"),
    );
    assert!(out.status.success(), "sweep failed: {}", stderr(&out));
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["funding_modelled"], true);
    assert_eq!(record["funding_model"]["kind"], "file");
    assert_eq!(record["funding_missing"], 0, "the file covers the days");
    let rows = record["rows"].as_array().unwrap();
    assert!(
        rows.iter().any(|r| funding_of(r) != la_core::Decimal::ZERO),
        "positions held across funding times pay or earn funding: {rows:?}"
    );
    let best = PathBuf::from(record["best_run"].as_str().unwrap());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(best.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["funding_model"]["kind"], "file");
    assert_eq!(
        funding_of(&summary),
        funding_of(&rows[0]),
        "the best set's backtest settles the same funding as its row"
    );
    // The walk-forward: the test windows settle with the file too.
    let out = walk_forward(
        dir.path(),
        SMA_GRID,
        "1d",
        &[
            &["--json", "--objective", "net_pnl", "--min-trades", "1"][..],
            &funding_args,
        ]
        .concat(),
    );
    assert!(
        out.status.success(),
        "walk-forward failed: {}",
        stderr(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["funding_model"]["kind"], "file");
    let folds_funding: la_core::Decimal = report["folds"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["out_of_sample"].as_object())
        .map(|oos| decimal(&oos["funding"]))
        .sum();
    assert_ne!(
        folds_funding,
        la_core::Decimal::ZERO,
        "the test windows hold positions across funding times"
    );
    assert_eq!(funding_of(&report["out_of_sample"]), folds_funding);
    let folds_csv = std::fs::read_to_string(report["files"]["folds"].as_str().unwrap()).unwrap();
    let csv_funding: la_core::Decimal = csv_rows(&folds_csv)
        .iter()
        .filter(|row| !row["oos_funding"].is_empty())
        .map(|row| row["oos_funding"].parse::<la_core::Decimal>().unwrap())
        .sum();
    assert_eq!(csv_funding, folds_funding, "folds.csv's funding column");
    let human = walk_forward(
        dir.path(),
        SMA_GRID,
        "1d",
        &[&["--min-trades", "1"][..], &funding_args].concat(),
    );
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("rates from") && !text.contains("not modelled"),
        "{text}"
    );
}

/// `laptop-agents sim` in its own process, serving a day and a bit of history over REST;
/// stopped with SIGINT when dropped.
struct Simulator {
    child: std::process::Child,
    rest_url: String,
}

impl Simulator {
    fn start() -> Self {
        use std::io::BufRead;
        let mut child = process::command()
            .args(["sim", "--history-candles", "2000", "--seconds", "300"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let rest_url = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix("rest_url="))
                    .map(str::to_owned)
            })
            .expect("the simulator prints its URLs");
        Self { child, rest_url }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        process::signal(&self.child, "INT");
        process::wait_exit(&mut self.child, std::time::Duration::from_secs(30));
    }
}

#[test]
fn bitunix_history_funding_is_recorded_as_the_exchanges_by_backtest_sweep_and_walk_forward() {
    let sim = Simulator::start();
    let dir = tempfile::tempdir().unwrap();
    let rest = format!("rest_url={}", sim.rest_url);
    let source = [
        "--source",
        "bitunix",
        "--days",
        "1",
        "--strategy",
        "sma-cross",
        "--set",
        rest.as_str(),
    ];
    let ws = dir.path().join("ws");
    let run = |args: &[&str]| -> serde_json::Value {
        let out = laptop_agents(&[args, &source[..], &["--json"]].concat(), &ws);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let stats = run(&["backtest"]);
    assert_eq!(
        stats["funding_model"]["kind"], "exchange_history",
        "{}",
        stats["funding_model"]
    );
    assert!(
        stats["funding_model"]["rates"].as_u64().unwrap() >= 2,
        "a day holds three funding times"
    );
    let settlements = stats["funding_settlements"].as_array().unwrap();
    assert!(
        !settlements.is_empty(),
        "the crossover holds positions across funding times"
    );
    assert!(
        settlements.iter().all(|s| s["source"] == "history"),
        "each settlement is the exchange's rate: {settlements:?}"
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(stats["run_dir"].as_str().unwrap()).join("summary.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["funding_model"]["kind"], "exchange_history");
    let cache = PathBuf::from(stats["funding_model"]["path"].as_str().unwrap());
    assert!(
        cache.is_file() && cache.to_string_lossy().ends_with("_funding.csv"),
        "the run names the cached history it read: {}",
        stats["funding_model"]
    );
    assert_eq!(
        stats["funding_model"]["rows"], stats["funding_model"]["rates"],
        "a clean download: every row usable"
    );

    // A cached history edited after the download: the lie is rejected, counted and named.
    let mut text = std::fs::read_to_string(&cache).unwrap();
    text.push_str("1621497600000,0.9\n");
    std::fs::write(&cache, text).unwrap();
    let tampered = run(&["backtest"]);
    let model = &tampered["funding_model"];
    assert_eq!(model["kind"], "exchange_history");
    assert_eq!(model["rejected"]["absurd_rate"]["count"], 1, "{model}");
    assert_eq!(
        model["rows"].as_u64().unwrap(),
        model["rates"].as_u64().unwrap() + 1
    );

    let grid = dir.path().join("grid.toml");
    std::fs::write(&grid, SMA_GRID).unwrap();
    let grid = grid.to_str().unwrap();
    let record = run(&["sweep", "--grid", grid]);
    assert_eq!(record["funding_model"]["kind"], "exchange_history");
    let report = run(&[
        "walk-forward",
        "--grid",
        grid,
        "--train",
        "12h",
        "--test",
        "6h",
        "--objective",
        "net_pnl",
        "--min-trades",
        "1",
    ]);
    assert_eq!(report["funding_model"]["kind"], "exchange_history");

    // A user's file wins over the exchange's history, which is then not even downloaded.
    let (file, _) = month_funding_file(dir.path());
    let own = dir.path().join("own-file");
    let out = laptop_agents(
        &[
            &["backtest", "--json", "--funding", file.to_str().unwrap()][..],
            &source[..],
        ]
        .concat(),
        &own,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["funding_model"]["kind"], "file");
    let downloaded: Vec<String> = std::fs::read_dir(own.join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        downloaded
            .iter()
            .all(|name| !name.ends_with("_funding.csv")),
        "{downloaded:?}"
    );
}
