//! The checks `cargo xtask crash` runs after every SIGKILL (see `crash.rs` for the list),
//! and the final clean run. They read only what a restart would read: the state files
//! (main, else `.bak`), the journal, the heartbeat and the lock file.

use std::{
    fs,
    io::{Read, Seek, SeekFrom},
    path::Path,
    thread,
    time::{Duration, Instant},
};

use crate::{
    crash::{AHEAD_WINDOW_MS, Env, Row, STARTING_BALANCE, session_args, spawn},
    crash_journal::{
        Book, Placement, filled_ids, is_money_event, is_recovered, ledger_consistent, place_state,
        repeated_ids, rfc3339_ms,
    },
    json::{Json, normalize_decimal},
    reliability::{StateCopy, load_state, read_json, read_json_lines},
};

/// What the round will restore from.
pub(crate) struct Before {
    pub(crate) book: Book,
    pub(crate) journal_len: u64,
    pub(crate) stale_lock_pid: Option<u32>,
}

pub(crate) fn before_round(workspace: &Path) -> Result<Before, String> {
    let paper = workspace.join("paper");
    let book = if paper.join("broker_state.json").exists()
        || paper.join("broker_state.json.bak").exists()
    {
        Book::from_state(&load_state(&paper, "broker_state.json")?.0)?
    } else {
        Book::fresh(STARTING_BALANCE)
    };
    let journal_len = fs::metadata(paper.join("events.jsonl")).map_or(0, |m| m.len());
    let stale_lock_pid = fs::read_to_string(workspace.join("session.lock"))
        .ok()
        .and_then(|text| lock_pid(&text));
    Ok(Before {
        book,
        journal_len,
        stale_lock_pid,
    })
}

/// The pid in a lock file (`{"pid":123,...}` or a bare number).
fn lock_pid(text: &str) -> Option<u32> {
    if let Ok(pid) = text.trim().parse() {
        return Some(pid);
    }
    Json::parse(text)
        .ok()?
        .get("pid")?
        .as_i64()
        .and_then(|p| u32::try_from(p).ok())
}

/// Reads journal lines appended since `offset` (complete lines only).
fn journal_since(path: &Path, offset: u64) -> Result<Vec<Json>, String> {
    let mut file = match fs::File::open(path) {
        Ok(file) => file,
        Err(_) => return Ok(Vec::new()),
    };
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| format!("seek {}: {e}", path.display()))?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| format!("read {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for line in text.split_inclusive('\n') {
        if !line.ends_with('\n') {
            return Err(format!("torn journal line after the kill: {line:?}"));
        }
        out.push(Json::parse(line.trim_end()).map_err(|e| format!("journal line {e}: {line}"))?);
    }
    Ok(out)
}

/// Modification time (epoch ms) of the broker state copy that was loaded.
fn state_file_mtime_ms(paper: &Path, copy: Option<StateCopy>) -> Option<i64> {
    let name = match copy? {
        StateCopy::Main => "broker_state.json",
        StateCopy::Backup => "broker_state.json.bak",
    };
    let modified = fs::metadata(paper.join(name)).ok()?.modified().ok()?;
    let ms = modified
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis();
    i64::try_from(ms).ok()
}

/// The first heartbeat written by `pid`: `(equity, trades)`.
pub(crate) fn heartbeat_of(workspace: &Path, pid: u32) -> Option<(String, i64)> {
    let beat = read_json(&workspace.join("heartbeat.json")).ok()?;
    if beat.get("pid").and_then(Json::as_i64) != Some(i64::from(pid)) {
        return None;
    }
    let equity = beat.get("equity").and_then(Json::as_number_text)?;
    Some((
        normalize_decimal(equity),
        beat.get("trades").and_then(Json::as_i64)?,
    ))
}

pub(crate) fn check_after_kill(
    env: &Env,
    before: &Before,
    pid: u32,
    kill_at: i64,
    first_beat: Option<(String, i64)>,
    row: &mut Row,
) {
    let paper = env.workspace.join("paper");
    let mut segment = match journal_since(&paper.join("events.jsonl"), before.journal_len) {
        Ok(segment) => segment,
        Err(e) => {
            row.problems.push(e);
            Vec::new()
        }
    };
    let recovered = segment
        .iter()
        .filter(|e| is_recovered(e) && is_money_event(e))
        .count();
    if recovered > 0 {
        row.notes.push(format!(
            "{recovered} money event(s) of the last kill recovered into the journal"
        ));
    }
    segment.retain(|e| !is_recovered(e));
    let state_json = if paper.join("broker_state.json").exists()
        || paper.join("broker_state.json.bak").exists()
    {
        match load_state(&paper, "broker_state.json") {
            Ok((state, copy)) => {
                row.copy = copy.as_str().into();
                if let Err(e) = load_state(&paper, "unified_state.json") {
                    row.problems.push(format!("unified_state.json: {e}"));
                }
                if let Err(e) = ledger_consistent(&state) {
                    row.problems.push(e);
                }
                Some((state, copy))
            }
            Err(e) => {
                row.problems
                    .push(format!("broker_state.json does not load: {e}"));
                None
            }
        }
    } else {
        row.copy = "none".into();
        None
    };
    let state = match &state_json {
        Some((json, _)) => Book::from_state(json)
            .map_err(|e| row.problems.push(e))
            .ok(),
        None if row.copy == "none" => Some(Book::fresh(STARTING_BALANCE)),
        None => None,
    };
    let whole = match read_json_lines(&paper.join("events.jsonl")) {
        Ok(whole) => whole,
        Err(e) if paper.join("events.jsonl").exists() => {
            row.problems
                .push(format!("the journal does not parse: {e}"));
            Vec::new()
        }
        Err(_) => Vec::new(),
    };
    for kind in ["fill", "exit"] {
        let repeated = repeated_ids(&whole, kind);
        if !repeated.is_empty() {
            row.problems.push(format!(
                "client order ids with more than one {kind}: {repeated:?}"
            ));
        }
    }
    if let Some(state) = &state {
        row.book = state.describe();
        match place_state(&before.book, &segment, state, &filled_ids(&whole)) {
            Ok(Placement::InStep { events }) => row.placement = format!("in step ({events})"),
            Ok(Placement::JournalAhead { reflected, ahead }) => {
                // The session writes the state before journaling a money event
                // (`FileSink::hold_broker_events`), so the journal must never be ahead.
                row.placement = format!("journal +{} ({reflected})", ahead.len());
                let events: Vec<String> = ahead
                    .iter()
                    .map(|e| {
                        format!(
                            "{} seq {} written {}",
                            e.get("kind").and_then(Json::as_str).unwrap_or("?"),
                            e.get("seq").and_then(Json::as_i64).unwrap_or(-1),
                            e.get("written_at").and_then(Json::as_str).unwrap_or("?")
                        )
                    })
                    .collect();
                let before_kill: Vec<i64> = ahead
                    .iter()
                    .filter_map(|e| {
                        e.get("written_at")
                            .and_then(Json::as_str)
                            .and_then(rfc3339_ms)
                    })
                    .map(|ms| kill_at - ms)
                    .collect();
                row.problems.push(format!(
                    "the journal is ahead of the state file by {events:?} (journaled {before_kill:?} ms before the kill): the account lost them on restart"
                ));
            }
            Ok(Placement::StateAhead {
                events,
                unjournaled,
            }) => {
                row.placement = format!("state +1 ({events})");
                row.notes.push(unjournaled);
                let saved_at = state_file_mtime_ms(&paper, state_json.as_ref().map(|(_, c)| *c));
                match saved_at {
                    Some(ms) if ms >= kill_at - AHEAD_WINDOW_MS => {}
                    other => row.problems.push(format!(
                        "the state holds an unjournaled fill/exit but was saved at {other:?}, more than {AHEAD_WINDOW_MS} ms before the kill at {kill_at}"
                    )),
                }
            }
            Err(e) => row.problems.push(e),
        }
    }
    row.equity = match first_beat {
        Some((equity, 0)) if equity == before.book.balance => format!("{equity} = restored"),
        Some((equity, 0)) => {
            row.problems.push(format!(
                "first heartbeat equity {equity} != restored balance {}",
                before.book.balance
            ));
            format!("{equity} != {}", before.book.balance)
        }
        Some((_, trades)) => format!("n/a ({trades} trades by 1st beat)"),
        None => "n/a (no heartbeat)".into(),
    };
    let started_detail = segment
        .iter()
        .find(|e| e.get("kind").and_then(Json::as_str) == Some("session_started"))
        .and_then(|e| e.get("detail").and_then(Json::as_str).map(str::to_owned));
    row.lock = match (before.stale_lock_pid, started_detail) {
        (_, None) => "n/a".into(),
        (None, Some(detail)) => detail.replace("_lock", ""),
        (Some(old), Some(detail)) if detail == format!("took_over_stale_lock_of_pid_{old}") => {
            format!("took over {old}")
        }
        (Some(old), Some(detail)) => {
            row.problems.push(format!(
                "a stale lock of pid {old} was left, but the start says {detail:?}"
            ));
            detail
        }
    };
    let _ = pid;
}

/// A last run without a kill: it must stop cleanly and report the saved balance as its
/// starting equity.
pub(crate) fn clean_final_run(env: &Env) -> Result<String, String> {
    let before = before_round(&env.workspace)?;
    let console = env.console_dir.join("final.log");
    let mut child = spawn(env, &session_args(env, "20s")?, &console)?;
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("wait: {e}"))? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the final run did not stop within 90 s".into());
        }
        thread::sleep(Duration::from_millis(100));
    };
    if !status.success() {
        return Err(format!("the final run exited with {status}"));
    }
    let summary = read_json(
        &env.workspace
            .join("runs")
            .join("latest")
            .join("summary.json"),
    )?;
    let reason = summary.get("stopped_reason").and_then(Json::as_str);
    if reason != Some("duration_reached") {
        return Err(format!("final stopped_reason {reason:?}"));
    }
    let starting = summary
        .get("starting_equity")
        .and_then(Json::as_number_text)
        .map(normalize_decimal)
        .unwrap_or_default();
    if starting != before.book.balance {
        return Err(format!(
            "summary starting_equity {starting} != last saved balance {}",
            before.book.balance
        ));
    }
    let (state, copy) = load_state(&env.workspace.join("paper"), "broker_state.json")?;
    if copy != StateCopy::Main {
        return Err("after a clean stop only the .bak state loads".into());
    }
    let mut segment = journal_since(
        &env.workspace.join("paper").join("events.jsonl"),
        before.journal_len,
    )?;
    segment.retain(|e| !is_recovered(e));
    ledger_consistent(&state)?;
    let whole = read_json_lines(&env.workspace.join("paper").join("events.jsonl"))?;
    let book = Book::from_state(&state)?;
    let placed = place_state(&before.book, &segment, &book, &filled_ids(&whole))?;
    if !matches!(placed, Placement::InStep { .. }) {
        return Err(format!(
            "after a clean stop the state and the journal differ: {placed:?}"
        ));
    }
    // The whole journal, every killed run included (recovered lines too), replayed from
    // the fresh account must give exactly the final state: nothing the account holds is
    // missing from the journal, nothing journaled is missing from the account.
    let replayed = place_state(
        &Book::fresh(STARTING_BALANCE),
        &whole,
        &book,
        &filled_ids(&whole),
    )?;
    let Placement::InStep { events } = replayed else {
        return Err(format!(
            "the whole journal replayed from the fresh account does not give the final state: {replayed:?}"
        ));
    };
    Ok(format!(
        "starting_equity {starting} = last saved balance, ending {}; the whole journal ({events} money events) replays to it",
        book.describe()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_files_give_their_pid() {
        assert_eq!(lock_pid("1234\n"), Some(1234));
        assert_eq!(lock_pid(r#"{"pid":77,"started_at":"x"}"#), Some(77));
        assert_eq!(lock_pid("garbage"), None);
    }
}
