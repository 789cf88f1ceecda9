//! `laptop-agents report` as a user runs it: a report of a run directory is written and its
//! path printed; a missing run is a diagnostic with exit code 1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_laptop-agents");

#[test]
fn report_of_latest_run_prints_the_report_path() {
    let workspace = tempfile::tempdir().unwrap();
    let run = workspace.path().join("runs").join("run-1");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(
        run.join("summary.json"),
        r#"{"run_id":"run-1","source":"mock","symbol":"BTCUSDT","interval":"1m","strategy":"setups",
            "dry_run":false,"started_at":"2026-01-01T00:00:00Z","ended_at":"2026-01-01T00:01:00Z",
            "duration_s":60.0,"stopped_reason":"duration_reached","candles_closed":1,
            "trades":0,"wins":0,"losses":0,"win_rate":"0","starting_equity":"10000",
            "ending_equity":"10000","net_pnl":"0","trade_pnl":"0","fees":"0","funding":"0",
            "max_drawdown":"0","max_drawdown_frac":"0","sharpe":null,"sortino":null,
            "profit_factor":null,"exposure":"0","liquidations":0,"fills":0,"orders_rejected":0,"ambiguous_bars":0,
            "errors":0,"last_error":null,"reconnects":0,"rejected_frames":{},"rejected_rows":{},
            "backfilled_candles":0,"funding_events":0,"funding_skipped":0,"state_save_failures":0,
            "decisions":{},"run_dir":"run-1","config":null}"#,
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
    assert_eq!(html.matches("<svg").count(), 2);
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
