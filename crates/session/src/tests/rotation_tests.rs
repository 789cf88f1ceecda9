//! Days-long hygiene: the system log stays under its cap through a day of virtual time,
//! rotates at UTC midnight, keeps its copies private and never writes through a link; old
//! run directories are pruned without touching the current run or anything outside `runs/`.

use std::{
    fs,
    os::unix::fs::{PermissionsExt, symlink},
    path::Path,
    sync::Arc,
};

use la_core::{ManualClock, TimestampMs};
use la_run_schema::rotated_name;
use tracing_subscriber::layer::SubscriberExt;

use crate::{
    logging::JsonLogLayer,
    rotation::{RotatingFile, RotationPolicy},
    workspace::Workspace,
};

const HOUR_MS: i64 = 3_600_000;
/// 2026-12-04T00:00:00Z.
const MIDNIGHT_MS: i64 = 1_796_342_400_000;

fn clock_at(ms: i64) -> Arc<ManualClock> {
    Arc::new(ManualClock::new(TimestampMs::new(ms).expect("sane time")))
}

fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").metadata().expect("meta").len())
        .sum()
}

#[test]
fn twenty_four_virtual_hours_of_logging_keep_logs_under_the_cap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("system.jsonl");
    let policy = RotationPolicy {
        max_bytes: 64 * 1024,
        keep: 3,
        daily: true,
    };
    // Starts mid-morning so the run crosses one UTC midnight as well as the size cap.
    let clock = clock_at(MIDNIGHT_MS + 9 * HOUR_MS);
    let layer = JsonLogLayer::open_rotating(&path, "BTCUSDT", Some(policy), clock.clone())
        .expect("log file");
    let subscriber = tracing_subscriber::registry().with(layer);
    let mut written = 0_u64;
    tracing::subscriber::with_default(subscriber, || {
        // One line every 5 virtual seconds for 24 hours: 17 280 lines, about 2.5 MiB.
        for tick in 0..17_280_u64 {
            clock.advance_ms(5_000);
            tracing::info!(tick, price = "97000.5", "candle closed; no setup, waiting");
            written += 1;
        }
    });
    let longest_line = 200;
    let total = dir_bytes(dir.path());
    assert!(
        total <= policy.cap_bytes() + longest_line,
        "logs/ holds {total} bytes, cap {}",
        policy.cap_bytes()
    );
    let files: Vec<_> = fs::read_dir(dir.path()).expect("list").collect();
    assert_eq!(files.len(), 4, "the live file and 3 rotated copies");
    assert!(
        !rotated_name(&path, 4).exists(),
        "a copy past keep was left"
    );
    // The newest line is in the live file, whole.
    let live = fs::read_to_string(&path).expect("live log");
    let last = live.lines().last().expect("a line");
    assert!(last.contains("\"tick\":17279"), "{last}");
    for n in 0..=3 {
        let file = if n == 0 {
            path.clone()
        } else {
            rotated_name(&path, n)
        };
        let text = fs::read_to_string(&file).expect("read");
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).expect("every line whole JSON");
        }
        let mode = fs::metadata(&file).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", file.display());
    }
    assert!(
        written * 100 > policy.cap_bytes(),
        "the run wrote past the cap"
    );
}

#[test]
fn the_first_line_of_a_new_utc_day_starts_a_new_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("system.jsonl");
    let policy = RotationPolicy {
        max_bytes: 1 << 20,
        keep: 2,
        daily: true,
    };
    let clock = clock_at(MIDNIGHT_MS - 1_000);
    let mut file = RotatingFile::open(&path, Some(policy), clock.clone()).expect("open");
    file.write_line(b"late on the first day\n").expect("write");
    file.write_line(b"still the first day\n").expect("write");
    clock.advance_ms(2_000);
    file.write_line(b"just after midnight\n").expect("write");
    file.flush().expect("flush");
    assert_eq!(
        fs::read_to_string(rotated_name(&path, 1)).expect("rotated"),
        "late on the first day\nstill the first day\n"
    );
    assert_eq!(
        fs::read_to_string(&path).expect("live"),
        "just after midnight\n"
    );
    assert_eq!(file.rotations(), 1);
}

#[test]
fn a_link_planted_at_a_rotated_name_is_removed_and_its_target_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = tempfile::tempdir().expect("outside");
    let target = outside.path().join("precious.txt");
    fs::write(&target, "not a log\n").expect("target");
    let path = dir.path().join("system.jsonl");
    symlink(&target, rotated_name(&path, 1)).expect("plant link at .1");
    symlink(&target, rotated_name(&path, 2)).expect("plant link at .2 (the last kept)");
    let policy = RotationPolicy {
        max_bytes: 10,
        keep: 2,
        daily: false,
    };
    let mut file = RotatingFile::open(&path, Some(policy), clock_at(MIDNIGHT_MS)).expect("open");
    for line in [b"first line\n", b"again line\n", b"third line\n"] {
        file.write_line(line).expect("write");
        file.flush().expect("flush");
    }
    assert_eq!(fs::read_to_string(&target).expect("target"), "not a log\n");
    for n in 1..=2 {
        let meta = fs::symlink_metadata(rotated_name(&path, n)).expect("rotated copy");
        assert!(meta.file_type().is_file(), ".{n} is a regular file now");
    }
    assert_eq!(
        fs::read_to_string(rotated_name(&path, 1)).expect(".1"),
        "again line\n"
    );
}

#[test]
fn a_link_at_the_live_log_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("elsewhere");
    fs::write(&target, "").expect("target");
    let path = dir.path().join("system.jsonl");
    symlink(&target, &path).expect("link");
    let err = RotatingFile::open(&path, None, clock_at(MIDNIGHT_MS)).expect_err("refused");
    assert!(err.to_string().contains("symbolic link"), "{err}");
}

fn make_run(workspace: &Workspace, name: &str) {
    let dir = workspace.runs_dir().join(name);
    fs::create_dir_all(&dir).expect("run dir");
    fs::write(dir.join("summary.json"), "{}").expect("file");
}

#[test]
fn pruning_keeps_the_newest_runs_the_current_one_and_everything_not_a_run() {
    let root = tempfile::tempdir().expect("workspace");
    let outside = tempfile::tempdir().expect("outside");
    fs::write(outside.path().join("keep.me"), "x").expect("outside file");
    let workspace = Workspace::new(root.path());
    workspace.create_dirs().expect("dirs");
    let runs = [
        "20261201T000000Z-11",
        "backtest-20261202T000000Z-12",
        "20261203T000000Z-13",
        "20261204T000000Z-14",
        "20261205T000000Z-15",
    ];
    for name in runs {
        make_run(&workspace, name);
    }
    // `latest` points at the newest; the current run is the oldest by name (a clock that
    // was set back), so age alone would delete it.
    symlink(runs[4], workspace.latest_run()).expect("latest");
    let current = runs[0];
    // Not runs: a link named like a run pointing outside, a hand-made directory, a file.
    symlink(
        outside.path(),
        workspace.runs_dir().join("20201231T000000Z-1"),
    )
    .expect("link");
    fs::create_dir(workspace.runs_dir().join("notes")).expect("notes");
    fs::write(workspace.runs_dir().join("20201230T000000Z-2"), "file").expect("file");

    let outcome = workspace.prune_runs(2, &[current]).expect("prune");

    assert_eq!(
        outcome.removed,
        vec!["backtest-20261202T000000Z-12", "20261203T000000Z-13"]
    );
    for kept in [runs[0], runs[3], runs[4]] {
        assert!(
            workspace
                .runs_dir()
                .join(kept)
                .join("summary.json")
                .exists(),
            "{kept}"
        );
    }
    assert!(
        outside.path().join("keep.me").exists(),
        "outside the workspace untouched"
    );
    assert!(workspace.runs_dir().join("20201231T000000Z-1").exists());
    assert!(workspace.runs_dir().join("notes").is_dir());
    assert!(workspace.runs_dir().join("20201230T000000Z-2").is_file());
    assert!(fs::symlink_metadata(workspace.latest_run()).is_ok());
    assert_eq!(
        workspace
            .prune_runs(0, &[])
            .expect("keep all")
            .removed
            .len(),
        0
    );
}
