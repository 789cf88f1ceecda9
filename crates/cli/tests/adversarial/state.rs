//! The saved account: a corrupt newest copy whose backup misses journaled trades, every copy
//! corrupt, a digit edited after the save, and an invalid session state — each a refused
//! start with exit 5 and a message naming the file, never a fresh account or a lost
//! position; `--reset-account` as the deliberate way out.

use std::path::{Path, PathBuf};

use crate::{
    process::{output_text, run, sim_run_args},
    workspace::journal,
};

/// Exit code of a start refused because the saved account cannot be trusted (README).
const STATE_REFUSED: i32 = 5;

/// A configuration that trades every few simulated minutes.
const FAST_TRADING: &str = r#"strategy = "sma-cross"
max_consecutive_losses = 1000000
max_daily_drawdown = "0.9"
warmup_bars = 3

[sma_cross]
fast = 2
slow = 3
stop_bps = "10"
tp_r = "1"
min_stop_cost_multiple = "0"
"#;

fn session(workspace: &Path, speed: &str, duration: &str, extra: &[&str]) -> std::process::Output {
    let config = workspace.with_extension("toml");
    std::fs::write(&config, FAST_TRADING).unwrap();
    let mut flags = vec!["--config", config.to_str().unwrap()];
    flags.extend_from_slice(extra);
    let args = sim_run_args(workspace, speed, duration, &flags);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args)
}

fn paper(workspace: &Path, name: &str) -> PathBuf {
    workspace.join("paper").join(name)
}

/// The names in `paper/`, sorted.
fn paper_files(workspace: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace.join("paper"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn closed_trades(workspace: &Path) -> usize {
    journal(workspace)
        .iter()
        .filter(|l| matches!(l["kind"].as_str(), Some("exit" | "liquidation")))
        .count()
}

/// A workspace whose account has traded, plus the state file saved before it traded.
fn traded_workspace() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    // One real second at 1×: no candle closes, the account is saved untouched.
    let out = session(&ws, "1", "1s", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let untraded = std::fs::read(paper(&ws, "broker_state.json")).unwrap();
    let out = session(&ws, "600", "4s", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(
        closed_trades(&ws) > 0,
        "precondition: the session closed a trade"
    );
    (dir, ws, untraded)
}

fn assert_refused(out: &std::process::Output, file: &str, why: &str) {
    let text = output_text(out);
    assert_eq!(out.status.code(), Some(STATE_REFUSED), "{text}");
    assert!(text.contains(file), "the message names {file}: {text}");
    assert!(text.contains(why), "the message says {why:?}: {text}");
    assert!(text.contains("--reset-account"), "the way out: {text}");
}

#[test]
fn a_corrupt_state_whose_backup_misses_journaled_trades_refuses_to_start_until_reset() {
    let (_dir, ws, untraded) = traded_workspace();
    let main = paper(&ws, "broker_state.json");
    let bytes = std::fs::read(&main).unwrap();
    std::fs::write(&main, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(paper(&ws, "broker_state.json.bak"), &untraded).unwrap();
    let journal_before = std::fs::read(paper(&ws, "events.jsonl")).unwrap();

    // `doctor` sees the refusal coming, and changes nothing to tell.
    let files_before = paper_files(&ws);
    let doctor = run(&[
        "doctor",
        "--json",
        "--workspace",
        ws.to_str().unwrap(),
        "--rest-url",
        "http://127.0.0.1:1",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&doctor.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", output_text(&doctor)));
    let account = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "saved account")
        .unwrap_or_else(|| panic!("no saved-account check: {report}"));
    assert_eq!(account["status"], "FAIL", "{account}");
    assert!(
        account["detail"]
            .as_str()
            .unwrap()
            .contains("behind the journal"),
        "{account}"
    );
    assert_eq!(
        paper_files(&ws),
        files_before,
        "doctor moved or wrote a file"
    );

    let out = session(&ws, "600", "2s", &[]);
    assert_refused(&out, "broker_state.json.bak", "behind the journal");
    assert_eq!(
        std::fs::read(paper(&ws, "events.jsonl")).unwrap(),
        journal_before,
        "a refused start journals nothing"
    );

    let out = session(&ws, "600", "2s", &["--reset-account"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let archived: Vec<_> = std::fs::read_dir(ws.join("paper"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("reset-"))
        .collect();
    assert_eq!(archived.len(), 1, "the old account is kept aside");
    let kept = ws.join("paper").join(&archived[0]).join("events.jsonl");
    assert_eq!(
        std::fs::read(kept).unwrap(),
        journal_before,
        "the old journal is kept whole"
    );
}

#[test]
fn every_copy_corrupt_refuses_to_start_instead_of_opening_a_fresh_account() {
    let (_dir, ws, _) = traded_workspace();
    for name in ["broker_state.json", "broker_state.json.bak"] {
        std::fs::write(paper(&ws, name), b"{\"schema_version\": 2, \"bal").unwrap();
    }
    let out = session(&ws, "600", "2s", &[]);
    assert_refused(&out, "broker_state.json", "every copy is corrupt");
}

#[test]
fn a_digit_edited_after_the_save_fails_its_checksum_and_is_never_traded_on() {
    let (_dir, ws, _) = traded_workspace();
    let main = paper(&ws, "broker_state.json");
    let text = std::fs::read_to_string(&main).unwrap();
    let state: serde_json::Value = serde_json::from_str(&text).unwrap();
    // The fees ten times larger (or more): still valid JSON of the right shape, and no other
    // field's rule can tell (fees are bounded, not derived).
    let fees = state["fees_paid"].as_str().unwrap().to_owned();
    let edited = text.replacen(
        &format!("\"fees_paid\": \"{fees}\""),
        &format!("\"fees_paid\": \"1{fees}\""),
        1,
    );
    assert_ne!(edited, text);
    std::fs::write(&main, edited).unwrap();
    std::fs::remove_file(paper(&ws, "broker_state.json.bak")).unwrap();
    let out = session(&ws, "600", "2s", &[]);
    assert_refused(&out, "broker_state.json", "checksum mismatch");
}

/// Rewrites the state file `name` with `edit` applied and its checksum removed (as an older
/// build wrote it), so only the field validation can refuse it.
fn edit_state_file(ws: &Path, name: &str, edit: impl Fn(&mut serde_json::Value)) {
    let path = paper(ws, name);
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    state.as_object_mut().unwrap().remove("checksum");
    edit(&mut state);
    std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
}

#[test]
fn an_unknown_schema_or_a_negative_starting_equity_in_the_session_state_is_refused() {
    let (_dir, ws, _) = traded_workspace();
    edit_state_file(&ws, "unified_state.json", |s| {
        s["schema_version"] = 999.into()
    });
    let out = session(&ws, "600", "2s", &[]);
    assert_refused(&out, "unified_state.json", "schema_version 999");

    edit_state_file(&ws, "unified_state.json", |s| {
        s["schema_version"] = 1.into();
        s["starting_equity"] = "-10000".into();
    });
    let out = session(&ws, "600", "2s", &[]);
    assert_refused(&out, "unified_state.json", "starting_equity -10000");

    // The unedited rule: a file without a checksum but valid is read as an older build's.
    edit_state_file(&ws, "unified_state.json", |s| {
        s["starting_equity"] = "10000".into()
    });
    let out = session(&ws, "600", "2s", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
}

#[test]
fn an_unknown_broker_schema_or_a_balance_above_its_peak_is_refused_naming_the_field() {
    let (_dir, ws, _) = traded_workspace();
    edit_state_file(&ws, "broker_state.json", |s| {
        s["schema_version"] = 999.into()
    });
    let out = session(&ws, "600", "2s", &[]);
    assert_refused(&out, "broker_state.json", "999");

    edit_state_file(&ws, "broker_state.json", |s| {
        s["schema_version"] = 2.into();
        // A leading 1: ten thousand more than the account ever had.
        let balance = s["balance"].as_str().unwrap().to_owned();
        s["balance"] = format!("1{balance}").into();
    });
    let out = session(&ws, "600", "2s", &[]);
    assert_refused(&out, "broker_state.json", "counters.peak_equity");
}
