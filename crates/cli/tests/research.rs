//! The research commands as a user runs them: `backtest` configured like `run` (`--config`,
//! `--set`), with the candles of `../shared/data`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

#[path = "common/candles.rs"]
mod candles;

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
