//! `laptop-agents sweep` as a user runs it, over three days of the recorded month: the
//! leaderboard is ranked, byte-identical whatever the thread count, sharded and merged into
//! the same file, sampled deterministically, and a bad grid or shard is refused with exit 2
//! and nothing written; the sets' own fills stay out of the log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output},
};

#[path = "common/candles.rs"]
mod candles;
#[path = "common/chromium.rs"]
mod chromium;

use chromium::rendered_dom;

const BIN: &str = env!("CARGO_BIN_EXE_laptop-agents");

/// Nine sets: the fast and slow averages of the crossover.
const GRID: &str = "[sma_cross]\nfast = [5, 10, 20]\nslow = { from = 30, to = 90, step = 30 }\n";

struct Fixture {
    dir: tempfile::TempDir,
    data: PathBuf,
    grid: PathBuf,
}

fn fixture(grid: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = candles::month_slice(dir.path(), "three-days.csv", 2_800, 3 * 1_440);
    let grid_path = dir.path().join("grid.toml");
    std::fs::write(&grid_path, grid).unwrap();
    Fixture {
        dir,
        data,
        grid: grid_path,
    }
}

/// Runs `sweep` (with the fixture's data and grid, the crossover strategy) in `workspace`
/// on `threads` rayon threads.
fn sweep(f: &Fixture, workspace: &str, threads: usize, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["sweep", "--json", "--strategy", "sma-cross", "--data"])
        .arg(&f.data)
        .arg("--grid")
        .arg(&f.grid)
        .args(extra)
        .arg("--workspace")
        .arg(f.dir.path().join(workspace))
        .env_remove("LA_WORKSPACE")
        .env("RAYON_NUM_THREADS", threads.to_string())
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The sweep directory a successful `--json` run names.
fn sweep_dir(out: &Output) -> PathBuf {
    assert!(out.status.success(), "sweep failed: {}", stderr(out));
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    PathBuf::from(record["dir"].as_str().unwrap())
}

fn csv(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("leaderboard.csv")).unwrap()
}

fn column(header: &str, name: &str) -> usize {
    header.split(',').position(|c| c == name).unwrap()
}

#[test]
fn a_sweep_ranks_every_set_and_writes_the_same_leaderboard_on_one_thread_or_three() {
    let f = fixture(GRID);
    let one = sweep_dir(&sweep(&f, "one", 1, &[]));
    let three = sweep_dir(&sweep(&f, "three", 3, &[]));
    assert_eq!(
        csv(&one),
        csv(&three),
        "the thread count changed the leaderboard"
    );

    let text = csv(&one);
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 9, "every set has a row");
    let (score, set, net) = (
        column(header, "score"),
        column(header, "set"),
        column(header, "net_pnl"),
    );
    let mut sets: Vec<usize> = rows.iter().map(|r| r[set].parse().unwrap()).collect();
    // Ranked: scores never rise down the table (undefined last), ties in grid order.
    let keys: Vec<(Option<f64>, usize)> = rows
        .iter()
        .map(|r| (r[score].parse::<f64>().ok(), r[set].parse().unwrap()))
        .collect();
    assert!(
        keys.iter().any(|(s, _)| s.is_some()),
        "three days define a Sharpe"
    );
    for pair in keys.windows(2) {
        let ordered = match (pair[0].0, pair[1].0) {
            (Some(a), Some(b)) => a > b || (a == b && pair[0].1 < pair[1].1),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => pair[0].1 < pair[1].1,
        };
        assert!(ordered, "out of order: {pair:?}");
    }
    sets.sort_unstable();
    assert_eq!(sets, (0..9).collect::<Vec<_>>(), "each set once");
    let distinct: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[net]).collect();
    assert!(distinct.len() > 1, "the parameters change the results");

    // The best set's full backtest agrees with its row, and the files are private.
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(one.join("best").join("summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["net_pnl"].as_str(), Some(rows[0][net]));
    for name in ["leaderboard.csv", "leaderboard.html", "sweep.json"] {
        let mode = std::fs::metadata(one.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    {
        let mode = std::fs::metadata(&one).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "the sweep directory");
    }
    let html = std::fs::read_to_string(one.join("leaderboard.html")).unwrap();
    assert_eq!(html.matches("<tr>").count(), 10, "a heading and nine rows");
    assert!(
        !html.contains("http") && !html.contains(" src="),
        "the page loads nothing"
    );
}

#[test]
fn a_sweep_logs_the_best_sets_trades_and_none_of_the_other_sets() {
    let f = fixture(GRID);
    let dir = sweep_dir(&sweep(&f, "logged", 2, &[]));
    let trades = std::fs::read_to_string(dir.join("best").join("trades.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert!(trades > 0, "the best set trades over three days");
    let log = std::fs::read_to_string(f.dir.path().join("logged/logs/system.jsonl")).unwrap();
    let fills = log
        .lines()
        .filter(|line| {
            let line: serde_json::Value = serde_json::from_str(line).unwrap();
            line["message"] == "entry filled"
        })
        .count();
    assert_eq!(
        fills, trades,
        "one fill line per trade of the best set's backtest, none from the nine sets"
    );
}

#[test]
fn three_shards_merged_write_the_unsharded_leaderboard_and_a_missing_or_doubled_shard_exits_2() {
    let f = fixture(GRID);
    let whole = csv(&sweep_dir(&sweep(&f, "whole", 2, &[])));
    let shards: Vec<PathBuf> = (0..3)
        .map(|k| {
            sweep_dir(&sweep(
                &f,
                &format!("shard{k}"),
                1,
                &["--shard", &format!("{k}/3")],
            ))
        })
        .collect();
    for shard in &shards {
        assert_eq!(csv(shard).lines().count(), 1 + 3, "each shard runs a third");
    }
    let merge = |dirs: &[&PathBuf]| {
        Command::new(BIN)
            .args(["sweep", "merge", "--json"])
            .args(dirs)
            .arg("--workspace")
            .arg(f.dir.path().join("merged"))
            .env_remove("LA_WORKSPACE")
            .output()
            .unwrap()
    };
    let merged = sweep_dir(&merge(&[&shards[2], &shards[0], &shards[1]]));
    assert_eq!(csv(&merged), whole);

    let missing = merge(&[&shards[0], &shards[2]]);
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("shard 1/3 is missing"),
        "{}",
        stderr(&missing)
    );
    let doubled = merge(&[&shards[0], &shards[1], &shards[1]]);
    assert_eq!(doubled.status.code(), Some(2), "{}", stderr(&doubled));
    assert!(
        stderr(&doubled).contains("shard 1/3 is given twice"),
        "{}",
        stderr(&doubled)
    );
}

#[test]
fn random_sampling_draws_the_same_distinct_sets_for_a_seed() {
    let f = fixture(GRID);
    let sets = |workspace: &str, seed: &str| {
        let dir = sweep_dir(&sweep(&f, workspace, 2, &["--random", "4", "--seed", seed]));
        let text = csv(&dir);
        let set = column(text.lines().next().unwrap(), "set");
        let mut sets: Vec<usize> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(set).unwrap().parse().unwrap())
            .collect();
        sets.sort_unstable();
        (sets, text)
    };
    let (a, text_a) = sets("a", "11");
    let (b, text_b) = sets("b", "11");
    assert_eq!(a, b);
    let (c, _) = sets("c", "12");
    assert_eq!(text_a, text_b);
    assert_eq!(a.len(), 4);
    assert!(a.windows(2).all(|w| w[0] < w[1]), "distinct sets: {a:?}");
    assert!(a.iter().all(|s| *s < 9));
    assert_ne!(a, c, "another seed draws other sets");
}

#[test]
fn a_bad_grid_shard_or_sample_exits_2_naming_it_and_writes_nothing() {
    let f = fixture("[sma_cross]\nfastt = [5, 10]\n");
    let out = sweep(&f, "bad-key", 1, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("fastt"), "{}", stderr(&out));

    let f = fixture(GRID);
    for (extra, named) in [
        (["--shard", "3/3"], "\"3/3\""),
        (["--shard", "one/3"], "\"one/3\""),
        (["--random", "10"], "`--random`: 10"),
    ] {
        let out = sweep(&f, "bad", 1, &extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(named), "{extra:?}: {}", stderr(&out));
    }
    for workspace in ["bad-key", "bad"] {
        assert!(!f.dir.path().join(workspace).join("sweeps").exists());
    }
}

/// The text of column `name` in each body row of the dumped leaderboard, top to bottom.
fn dom_column(dom: &str, name: &str) -> Vec<String> {
    let cells = |row: &str| -> Vec<String> {
        row.split("<t")
            .skip(1)
            .filter_map(|c| c.split_once('>').map(|(_, rest)| rest))
            .map(|c| c.split("</").next().unwrap_or_default().to_owned())
            .collect()
    };
    let (head, body) = dom.split_once("<tbody>").unwrap();
    let header = cells(head.rsplit("<tr>").next().unwrap());
    let col = header.iter().position(|h| h == name).unwrap();
    body.split("</tbody>")
        .next()
        .unwrap()
        .split("<tr>")
        .skip(1)
        .map(|row| cells(row)[col].clone())
        .collect()
}

#[test]
fn the_leaderboard_page_sorts_by_any_column_in_headless_chromium() {
    let f = fixture(GRID);
    let page = sweep_dir(&sweep(&f, "page", 2, &[])).join("leaderboard.html");
    let numbers = |fragment: &str, column: &str| -> Vec<f64> {
        dom_column(&rendered_dom(&page, fragment), column)
            .iter()
            .map(|v| v.parse().unwrap())
            .collect()
    };
    let net = numbers("#sort=net_pnl", "net_pnl");
    assert_eq!(net.len(), 9);
    assert!(net.windows(2).all(|w| w[0] <= w[1]), "ascending: {net:?}");
    let trades = numbers("#sort=-trades", "trades");
    assert!(
        trades.windows(2).all(|w| w[0] >= w[1]),
        "descending: {trades:?}"
    );
    // Unsorted, the page shows the leaderboard's own order (rank 1 first).
    let ranks = numbers("", "rank");
    assert_eq!(ranks, (1..=9).map(f64::from).collect::<Vec<_>>());
    let net_unsorted = numbers("", "net_pnl");
    assert_ne!(net_unsorted, net, "the sort changed the order");
}

#[test]
fn a_grid_key_the_strategy_never_reads_is_named_in_a_warning() {
    let f = fixture("[setups]\nrisk_frac = [0.005, 0.01]\n[sma_cross]\nfast = [5, 10]\n");
    let out = Command::new(BIN)
        .args(["sweep", "--strategy", "sma-cross", "--data"])
        .arg(&f.data)
        .arg("--grid")
        .arg(&f.grid)
        .arg("--workspace")
        .arg(f.dir.path().join("ws"))
        .env_remove("LA_WORKSPACE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("warning: `setups.risk_frac` changed no set's results"),
        "{text}"
    );
    assert!(!text.contains("`sma_cross.fast` changed"), "{text}");
}
