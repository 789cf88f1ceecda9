//! The live session end to end: the simulator over real loopback sockets, accelerated, with
//! fault scenarios. Each test stops by itself (duration, stale data, ...) — none sleeps its
//! way to green; an outer guard turns a hang into a failure.

use std::{collections::BTreeSet, process::Command, time::Duration};

use la_session::{RawRunConfig, StopReason, state::SessionState};

use crate::support::{read_jsonl, run_dir, run_session, sim_config, validated};

const GUARD: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_session_closes_candles_and_stops_on_duration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = run_session(validated(&sim_config(dir.path(), "6s")), GUARD).await;
    assert_eq!(report.stopped_reason, Some(StopReason::DurationReached));
    assert!(
        report.candles_closed >= 3,
        "only {} candles closed",
        report.candles_closed
    );
    assert_eq!(report.errors, 0, "{report:?}");
    // The configuration is recorded under its configuration keys: it reads back as one.
    let recorded: la_session::RawRunConfig = serde_json::from_value(report.config.clone())
        .unwrap_or_else(|err| panic!("summary.json's config is not configuration keys: {err}"));
    assert_eq!(
        (recorded.source.as_str(), recorded.duration.as_str()),
        ("sim", "6s")
    );
    let run = run_dir(&report);
    for file in [
        "summary.json",
        "trades.csv",
        "equity.csv",
        "decisions.jsonl",
    ] {
        assert!(run.join(file).exists(), "{file} missing");
    }
    let decisions = read_jsonl(&run.join("decisions.jsonl"));
    assert!(
        decisions
            .iter()
            .all(|d| d.get("open_time").is_some() && d.get("outcome").is_some())
    );
    assert!(!dir.path().join("session.lock").exists(), "lock released");
    // Through the session's own loader: it checks the file's checksum as a restart would.
    let state: SessionState =
        la_broker_paper::persist::load_json(&dir.path().join("paper/unified_state.json"))
            .expect("session state reads")
            .value
            .expect("session state parses");
    assert!(state.last_candle_open_ms.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_socket_never_hangs_past_stale_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = RawRunConfig {
        faults: vec!["30s@silence:600s".into()],
        ..sim_config(dir.path(), "5m")
    };
    let started = std::time::Instant::now();
    let report = run_session(validated(&raw), GUARD).await;
    assert_eq!(report.stopped_reason, Some(StopReason::StaleData));
    // 0.5 s of data, then 5 s stale timeout, checked every second.
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nan_and_infinite_prices_are_rejected_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = RawRunConfig {
        faults: vec![
            "60s@bad-value:nan".into(),
            "90s@bad-value:infinity".into(),
            "120s@bad-value:negative".into(),
        ],
        ..sim_config(dir.path(), "5s")
    };
    let report = run_session(validated(&raw), GUARD).await;
    assert_eq!(report.stopped_reason, Some(StopReason::DurationReached));
    let rejected = &report.rejected_frames;
    let count = |needle: &str| {
        rejected
            .iter()
            .filter(|(k, _)| k.contains(needle))
            .map(|(_, v)| *v)
            .sum::<u64>()
    };
    assert!(count("not_a_number") >= 1, "{rejected:?}");
    assert!(count("infinite") >= 1, "{rejected:?}");
    assert!(count("negative") >= 1, "{rejected:?}");
    assert_eq!(report.errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_push_is_skipped_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = RawRunConfig {
        faults: vec![
            "60s@garbage:non-json".into(),
            "70s@garbage:truncated".into(),
            "80s@garbage:binary".into(),
        ],
        ..sim_config(dir.path(), "5s")
    };
    let report = run_session(validated(&raw), GUARD).await;
    assert_eq!(
        report.stopped_reason,
        Some(StopReason::DurationReached),
        "the connection survives garbage"
    );
    assert!(
        report.rejected_frames.values().sum::<u64>() >= 3,
        "{:?}",
        report.rejected_frames
    );
    assert!(report.candles_closed >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_failures_produce_one_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path()).expect("workspace");
    let kill_file = dir.path().join("kill.txt");
    let request_file = dir.path().join("stop.request");
    std::fs::write(&kill_file, "stop").expect("kill file");
    std::fs::write(&request_file, "stop").expect("stop request");
    // The kill switch and the stop request are both present at start, and the duration
    // (30 s) is still far: the first stop-file check must decide alone. No external stop
    // future competes (it never resolves).
    let config = validated(&sim_config(dir.path(), "30s"));
    let report = tokio::time::timeout(
        GUARD,
        la_session::run(
            config,
            std::future::pending::<StopReason>(),
            la_session::SessionHooks::default(),
        ),
    )
    .await
    .expect("no hang")
    .expect("session ran");
    assert_eq!(
        report.stopped_reason,
        Some(StopReason::KillSwitch),
        "the kill switch outranks the stop request"
    );
    assert!(
        report.duration_s < 10.0,
        "stopped by the files, not the duration"
    );
    assert!(!kill_file.exists(), "kill.txt was read and consumed");
    assert!(
        !request_file.exists(),
        "stop.request was read and consumed too (a leftover would stop the next run at once)"
    );
    let journal = read_jsonl(&dir.path().join("paper/events.jsonl"));
    let stops: Vec<_> = journal
        .iter()
        .filter(|e| e["kind"] == "session_stopped")
        .collect();
    assert_eq!(stops.len(), 1, "exactly one shutdown: {stops:?}");
    assert_eq!(stops[0]["stopped_reason"], "kill_switch");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir(&report).join("summary.json")).expect("summary"),
    )
    .expect("json");
    assert_eq!(summary["stopped_reason"], "kill_switch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn funding_window_without_rate_source_does_not_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Mock source without funding announcements, starting one minute before 08:00 UTC, at
    // 600× so the funding time passes within the first second.
    let raw = RawRunConfig {
        source: "mock".into(),
        workspace: dir.path().to_path_buf(),
        duration: "4s".into(),
        speed: 600.0,
        mock_funding: false,
        mock_start_ms: Some(1_786_608_000_000 - 60_000),
        ..RawRunConfig::default()
    };
    let report = run_session(validated(&raw), GUARD).await;
    assert_eq!(report.stopped_reason, Some(StopReason::DurationReached));
    assert!(report.funding_skipped >= 1, "{report:?}");
    assert_eq!(report.funding_events, 0);
    assert_eq!(report.errors, 0);
    let journal = read_jsonl(&dir.path().join("paper/events.jsonl"));
    assert!(journal.iter().any(|e| e["kind"] == "funding_skipped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gap_in_live_candles_is_backfilled_and_tagged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = RawRunConfig {
        faults: vec!["60s@gap:3".into()],
        ..sim_config(dir.path(), "8s")
    };
    let report = run_session(validated(&raw), GUARD).await;
    assert_eq!(report.stopped_reason, Some(StopReason::DurationReached));
    assert!(report.backfilled_candles >= 3, "{report:?}");
    let decisions = read_jsonl(&run_dir(&report).join("decisions.jsonl"));
    let backfilled = decisions
        .iter()
        .filter(|d| d["provenance"] == "backfilled")
        .count();
    assert!(backfilled >= 3, "backfilled candles are tagged");
    let opens: Vec<i64> = decisions
        .iter()
        .filter_map(|d| d["open_time"].as_i64())
        .collect();
    let unique: BTreeSet<i64> = opens.iter().copied().collect();
    assert_eq!(unique.len(), opens.len(), "no candle decided twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_save_failure_keeps_session_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A first run leaves good state files behind.
    let first = run_session(validated(&sim_config(dir.path(), "2s")), GUARD).await;
    assert_eq!(first.stopped_reason, Some(StopReason::DurationReached));
    let paper = dir.path().join("paper");
    let before = std::fs::read(paper.join("broker_state.json")).expect("good state");
    // Make the state directory refuse new files (a real OS-level refusal; root ignores
    // permission bits, but not the immutable attribute).
    let status = Command::new("chattr")
        .arg("+i")
        .arg(&paper)
        .status()
        .expect("chattr runs");
    assert!(
        status.success(),
        "chattr +i failed: this test needs an ext2/3/4 temp directory"
    );
    let second = run_session(validated(&sim_config(dir.path(), "3s")), GUARD).await;
    let _ = Command::new("chattr").arg("-i").arg(&paper).status();
    assert_eq!(
        second.stopped_reason,
        Some(StopReason::DurationReached),
        "the session kept running"
    );
    assert!(
        second.state_save_failures >= 1,
        "the failed save was reported: {second:?}"
    );
    let after = std::fs::read(paper.join("broker_state.json")).expect("state still there");
    assert_eq!(before, after, "the last good state file is intact");
    let journal = read_jsonl(&paper.join("events.jsonl"));
    assert!(journal.iter().any(|e| e["kind"] == "state_save_failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_file_engages_the_kill_switch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let workspace = dir.path().to_path_buf();
    let config = validated(&sim_config(&workspace, "5m"));
    let session = tokio::spawn(run_session(config, GUARD));
    // Wait for the session to be up (its heartbeat), then drop the kill file.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !workspace.join("heartbeat.json").exists() {
        assert!(std::time::Instant::now() < deadline, "no heartbeat");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::fs::write(workspace.join("kill.txt"), "stop").expect("kill file");
    let report = session.await.expect("session task");
    assert_eq!(report.stopped_reason, Some(StopReason::KillSwitch));
    assert!(
        !workspace.join("kill.txt").exists(),
        "the kill file is consumed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_ceiling_stops_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 16 MiB is below what any test process occupies, so the first check (after 5 s) trips.
    let raw = RawRunConfig {
        max_rss_mb: 16,
        ..sim_config(dir.path(), "5m")
    };
    let report = run_session(validated(&raw), GUARD).await;
    assert_eq!(report.stopped_reason, Some(StopReason::MemoryLimit));
    assert!(!report.stopped_reason.is_some_and(StopReason::is_clean));
}
