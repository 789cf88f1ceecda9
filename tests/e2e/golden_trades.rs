//! The trade list of the real month is pinned: `laptop-agents backtest`'s defaults (bars as
//! their four waypoints) and the parity model (the simulator's 1 s ticker cadence) over the
//! recorded 42,915-candle month must give, trade for trade, the `trades.csv` recorded in
//! `golden/` before the engine, broker and strategy were optimised for speed. A change that
//! makes the backtest faster must not change a single time, price, quantity or PnL; a change
//! that is *meant* to change results updates the golden file in the same commit, and says why.
//!
//! Columns are matched by header name, so a column added later (it joins the golden file when
//! that file is next regenerated) does not disturb the comparison; a pinned column that
//! disappears is a failure naming it.

use std::path::{Path, PathBuf};

use la_core::{Interval, Symbol};
use la_session::{
    backtest::{BacktestConfig, run_backtest},
    engine::EngineSettings,
    intrabar::IntrabarTicks,
    run_files::DecisionLog,
};
use la_strategy::StrategyKind;

use crate::support::shared_data;

const MONTH: &str = "candles/binance_spot_btcusdt_1m_2021-04-20_2021-05-20.csv.gz";

/// The golden file for `name`, in the repository.
fn golden_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("e2e/golden")
        .join(format!("{name}.csv"))
}

/// The rows of `csv`, restricted to `columns` (in that order); `Err` names a missing column.
fn select(csv: &str, columns: &[&str]) -> Result<Vec<String>, String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let index: Vec<usize> = columns
        .iter()
        .map(|c| {
            header
                .iter()
                .position(|h| h == c)
                .ok_or_else(|| format!("column {c} is missing from trades.csv ({header:?})"))
        })
        .collect::<Result<_, _>>()?;
    Ok(lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            index
                .iter()
                .map(|&i| cells.get(i).copied().unwrap_or("<missing>"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect())
}

/// Backtests the real month under `intrabar` with the CLI's defaults and compares its
/// `trades.csv` with `golden/<name>.csv`, column by column of the golden header.
fn assert_matches_golden(name: &str, intrabar: IntrabarTicks) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = BacktestConfig {
        engine: EngineSettings::new(
            Symbol::new("BTCUSDT").expect("symbol"),
            StrategyKind::Setups,
        ),
        data: shared_data(MONTH),
        interval: Interval::M1,
        from: None,
        to: None,
        workspace: dir.path().to_path_buf(),
        intrabar,
        funding: la_session::funding_source::Funding::NotModelled,
        decisions: DecisionLog::CountedOnly,
    };
    let summary = run_backtest(&config).expect("backtest runs");
    let actual_csv = std::fs::read_to_string(Path::new(&summary.run_dir).join("trades.csv"))
        .expect("trades.csv");
    let golden_file = golden_path(name);
    let golden_csv = std::fs::read_to_string(&golden_file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", golden_file.display()));
    let columns: Vec<&str> = golden_csv
        .lines()
        .next()
        .expect("golden header")
        .split(',')
        .collect();
    let expected = select(&golden_csv, &columns).expect("golden file selects itself");
    let actual = select(&actual_csv, &columns).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        expected.len() > 100,
        "{name}: the golden file holds a real month"
    );
    if actual != expected {
        let kept = std::env::temp_dir().join(format!("{name}.actual.csv"));
        let _ = std::fs::write(&kept, &actual_csv);
        let first = expected
            .iter()
            .zip(&actual)
            .position(|(e, a)| e != a)
            .unwrap_or(expected.len().min(actual.len()));
        panic!(
            "{name}: the trades differ from {} ({} golden, {} now); first difference at trade {}:\n  golden: {}\n  now:    {}\n\
             The run's trades.csv is kept at {}; if the change is intended, copy it there and say why in the commit.",
            golden_file.display(),
            expected.len(),
            actual.len(),
            first + 1,
            expected.get(first).map_or("<none>", String::as_str),
            actual.get(first).map_or("<none>", String::as_str),
            kept.display(),
        );
    }
}

#[test]
fn the_default_backtest_of_the_real_month_gives_the_golden_trades() {
    assert_matches_golden("real_month_waypoints", IntrabarTicks::Waypoints);
}

#[test]
fn the_parity_model_backtest_of_the_real_month_gives_the_golden_trades() {
    assert_matches_golden(
        "real_month_cadence_1s",
        IntrabarTicks::Cadence { ticker_ms: 1_000 },
    );
}
