//! The real binary against the scripted simulator, which runs in this test process so that
//! it keeps going while the session does not: a long is opened, then the session process is
//! SIGSTOPped (or SIGKILLed) while the exchange's clock moves nine hours on — through both
//! funding times and the candle that crosses the long's stop — and resumed (or restarted).
//! Waits poll files with a deadline.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use la_bitunix_sim::{Fault, SimHandle, scenario::StopAfterFundings};
use la_core::Decimal;
use serde_json::Value;

use crate::common::{signal, wait_exit, wait_for};
use crate::support::{
    MINUTE, T1, assert_scenario_caught_up, decimal, journal, jump_to, kind, read_jsonl,
    saved_position, scripted_market,
};

const BIN: &str = env!("CARGO_BIN_EXE_laptop-agents");

/// How long the session stays stopped while the simulator runs on after its clock jump (the
/// exchange keeps pushing; the stopped process reads it all on resume).
const STOPPED_FOR: Duration = Duration::from_millis(500);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The session's configuration file: the simulator as the exchange, `sma-cross` 2/3 (long on
/// the scenario's rising candle), exits without slippage (at the stop price exactly).
fn config_file(dir: &Path, sim: &SimHandle) -> PathBuf {
    let path = dir.join("session.toml");
    let text = format!(
        "source = \"bitunix\"\nws_url = \"{}\"\nrest_url = \"{}\"\nmax_clock_skew = \"off\"\n\
         duration = \"off\"\nstale_timeout = \"20s\"\nstrategy = \"sma-cross\"\nwarmup_bars = 3\n\
         slippage_bps = \"0\"\n\n[sma_cross]\nfast = 2\nslow = 3\n",
        sim.ws_url(),
        sim.rest_url()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn spawn_session(workspace: &Path, config: &Path) -> Child {
    Command::new(BIN)
        .args(["run", "--http", "off", "--config"])
        .arg(config)
        .arg("--workspace")
        .arg(workspace.join("ws"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts")
}

/// Waits until the session holds the scenario's long; returns its stop.
fn wait_for_the_long(workspace: &Path) -> Decimal {
    wait_for("the long's fill", Duration::from_secs(60), || {
        !kind(&journal(workspace), "fill").is_empty()
    });
    let position = saved_position(workspace);
    assert!(
        !position.is_null(),
        "the fill is saved before it is journaled"
    );
    decimal(&position["stop"])
}

/// While the session is away, the exchange's clock moves on past both funding times and the
/// candle that crosses the long's stop.
fn jump_past_the_crossing(sim: &SimHandle, scenario: &StopAfterFundings) {
    jump_to(
        sim,
        scenario.crossing_candle.checked_add_ms(5 * MINUTE).unwrap(),
    );
}

/// Waits for the catch-up to finish, then stops the session with SIGTERM (exit 0).
fn stop_after_the_catch_up(child: &mut Child, workspace: &Path) {
    wait_for("the catch-up", Duration::from_secs(60), || {
        !kind(&journal(workspace), "catch_up_finished").is_empty()
    });
    signal(child, "TERM");
    assert_eq!(wait_exit(child, Duration::from_secs(30)).code(), Some(0));
}

/// The scenario was booked exactly once, the downtime has `cause`, and the last run's
/// summary adds up; returns the `catch_up_finished` line.
fn assert_caught_up_once(
    workspace: &Path,
    sim: &SimHandle,
    scenario: &StopAfterFundings,
    stop: Decimal,
    cause: &str,
) -> Value {
    let lines = assert_scenario_caught_up(workspace, sim, scenario, stop);
    let finished = kind(&lines, "catch_up_finished")[0].clone();
    assert_eq!(finished["cause"], cause, "{finished}");
    assert_identity(workspace, &latest_summary(workspace));
    finished
}

/// The summary of the newest run in the workspace.
fn latest_summary(workspace: &Path) -> Value {
    let text = std::fs::read_to_string(workspace.join("runs/latest/summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `ending = starting + Σ net pnl (incl. funding)` in the run's own summary and journal.
fn assert_identity(workspace: &Path, summary: &Value) {
    let pnl: Decimal = summary["downtime"][0]["exits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| decimal(&e["pnl_net"]))
        .sum();
    let funding: Decimal = summary["funding_settlements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| decimal(&f["amount"]))
        .sum();
    assert_eq!(funding, decimal(&summary["funding"]));
    assert_eq!(
        decimal(&summary["ending_equity"]),
        decimal(&summary["starting_equity"]) + pnl + funding,
        "ending = starting + Σ net pnl + funding"
    );
    let decisions = read_jsonl(&workspace.join("runs/latest/decisions.jsonl"));
    assert!(
        decisions
            .iter()
            .filter(|d| d["catch_up"] == true)
            .all(|d| d["outcome"] != "submitted"),
        "no entry while catching up"
    );
}

/// A session of the binary holding the scenario's long, and what the test needs around it.
struct LongOpen {
    dir: tempfile::TempDir,
    workspace: PathBuf,
    rt: tokio::runtime::Runtime,
    sim: SimHandle,
    scenario: StopAfterFundings,
    config: PathBuf,
    child: Child,
    stop: Decimal,
}

/// Starts the simulator and the binary, and waits until the long is open (07:56).
fn start_with_a_long() -> LongOpen {
    let dir = tempfile::tempdir().unwrap();
    let workspace = dir.path().join("ws");
    let rt = runtime();
    let (sim, scenario) = rt.block_on(scripted_market(T1 - 10 * MINUTE, 120.0));
    let config = config_file(dir.path(), &sim);
    let child = spawn_session(dir.path(), &config);
    let stop = wait_for_the_long(&workspace);
    LongOpen {
        dir,
        workspace,
        rt,
        sim,
        scenario,
        config,
        child,
        stop,
    }
}

#[test]
fn a_sigstopped_session_resumed_after_the_stop_and_two_fundings_books_them_once() {
    let mut run = start_with_a_long();

    signal(&run.child, "STOP");
    jump_past_the_crossing(&run.sim, &run.scenario);
    std::thread::sleep(STOPPED_FOR);
    signal(&run.child, "CONT");
    stop_after_the_catch_up(&mut run.child, &run.workspace);

    let finished =
        assert_caught_up_once(&run.workspace, &run.sim, &run.scenario, run.stop, "suspend");
    assert!(
        ["sigcont", "loop_stalled"].contains(&finished["detected_by"].as_str().unwrap()),
        "{finished}"
    );
    let summary = latest_summary(&run.workspace);
    assert_eq!(summary["stopped_reason"], "signal");
    assert_eq!(summary["downtime"][0]["cause"], "suspend");
    // `status` lists the downtime.
    let status = Command::new(BIN)
        .args(["status", "--workspace"])
        .arg(&run.workspace)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("downtime: suspend"), "{text}");
    run.rt.block_on(run.sim.shutdown());
}

#[test]
fn a_session_killed_during_the_downtime_and_restarted_books_the_stop_and_fundings_once() {
    let mut run = start_with_a_long();

    run.child.kill().expect("SIGKILL");
    let _ = run.child.wait();
    jump_past_the_crossing(&run.sim, &run.scenario);
    let mut restarted = spawn_session(run.dir.path(), &run.config);
    stop_after_the_catch_up(&mut restarted, &run.workspace);

    assert_caught_up_once(&run.workspace, &run.sim, &run.scenario, run.stop, "restart");
    assert!(
        kind(&journal(&run.workspace), "session_started")
            .iter()
            .any(|l| l["detail"]
                .as_str()
                .unwrap_or("")
                .starts_with("took_over_stale_lock")),
        "the killed session's lock was taken over"
    );
    run.rt.block_on(run.sim.shutdown());
}

#[test]
fn a_catch_up_that_cannot_download_is_retried_then_alerted_never_an_unhandled_error() {
    let mut run = start_with_a_long();

    // While the session is stopped the exchange's REST starts failing, for longer than
    // every attempt of the catch-up; the WebSocket keeps pushing.
    signal(&run.child, "STOP");
    run.sim.inject(Fault::Rest5xx {
        duration_ms: 120_000,
    });
    jump_past_the_crossing(&run.sim, &run.scenario);
    std::thread::sleep(STOPPED_FOR);
    signal(&run.child, "CONT");
    stop_after_the_catch_up(&mut run.child, &run.workspace);

    let lines = journal(&run.workspace);
    let finished = kind(&lines, "catch_up_finished")[0];
    assert_eq!(finished["outcome"], "failed", "{finished}");
    assert!(
        kind(&lines, "exit").iter().all(|e| e["catch_up"] != true),
        "nothing replayed (a live tick below the stop may close the long)"
    );
    let log = read_jsonl(&run.workspace.join("logs/system.jsonl"));
    let at = |level: &str, message: &str| -> Vec<&Value> {
        log.iter()
            .filter(|l| {
                l["level"] == level && l["message"].as_str().unwrap_or("").contains(message)
            })
            .collect()
    };
    // Retried, bounded: two retries, then one alerted ERROR naming the attempts and the cause.
    assert_eq!(at("WARN", "catch-up download failed; retrying").len(), 2);
    let failed = at("ERROR", "catch-up failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["alert"], true, "{}", failed[0]);
    assert_eq!(failed[0]["attempts"], 3, "{}", failed[0]);
    assert!(
        failed[0]["error"].as_str().unwrap_or("").contains("HTTP"),
        "{}",
        failed[0]
    );
    // What the soak accepts: every ERROR line is a documented alert.
    let unhandled: Vec<&Value> = log
        .iter()
        .filter(|l| l["level"] == "ERROR" && l["alert"] != true)
        .collect();
    assert!(unhandled.is_empty(), "unhandled ERROR lines: {unhandled:?}");
    // The alert channel announced the start and the failure.
    let alerts = read_jsonl(&run.workspace.join("logs/alerts.jsonl"));
    let catch_up: Vec<&Value> = alerts.iter().filter(|a| a["kind"] == "catch_up").collect();
    assert_eq!(catch_up.len(), 2, "{catch_up:?}");
    assert_eq!(catch_up[1]["severity"], "critical");
    assert_eq!(catch_up[1]["fields"]["outcome"], "failed");
    assert!(
        catch_up[1]["fields"]["error"].is_string(),
        "{}",
        catch_up[1]
    );
    run.rt.block_on(run.sim.shutdown());
}
