//! The checks `cargo xtask crash` runs after every SIGKILL (see `crash.rs` for the list),
//! and the final clean run. They read only what a restart would read: the state files
//! (main, else `.bak`), the journal, the heartbeat and the lock file.

use std::{
    fs,
    io::{Read, Seek, SeekFrom},
    path::Path,
    time::{Duration, UNIX_EPOCH},
};

use anyhow::{Context, Result, bail, ensure};

use crate::{
    crash::{AHEAD_WINDOW_MS, Env, Row, STARTING_BALANCE, session_args},
    crash_journal::{
        Book, Placement, filled_ids, ledger_consistent, place_state, repeated_ids, rfc3339_ms,
    },
    reliability::{
        StateCopy, load_state, parse_json_lines, read_json, read_json_lines, spawn_with_console,
        state_exists, wait_with_deadline,
    },
    run_files::{BrokerState, Heartbeat, JournalEvent, JournalLine, Summary, lock_pid},
};

const BROKER_STATE: &str = "broker_state.json";
/// The session's own state (breaker, last candle decided, starting equity).
const SESSION_STATE: &str = "unified_state.json";

/// What the round will restore from.
pub(crate) struct Before {
    pub(crate) book: Book,
    pub(crate) journal_len: u64,
    pub(crate) stale_lock_pid: Option<u32>,
    /// Whether the session's state (`unified_state.json`) had been written before.
    pub(crate) session_state_saved: bool,
}

pub(crate) fn before_round(workspace: &Path) -> Result<Before> {
    let paper = workspace.join("paper");
    let book = if state_exists(&paper, BROKER_STATE) {
        Book::from_state(&load_state::<BrokerState>(&paper, BROKER_STATE)?.0)?
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
        session_state_saved: state_exists(&paper, SESSION_STATE),
    })
}

/// Reads journal lines appended since `offset` (complete lines only).
fn journal_since(path: &Path, offset: u64) -> Result<Vec<JournalLine>> {
    let Ok(mut file) = fs::File::open(path) else {
        return Ok(Vec::new());
    };
    file.seek(SeekFrom::Start(offset))
        .with_context(|| format!("seek {}", path.display()))?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .with_context(|| format!("read {}", path.display()))?;
    if !text.is_empty() && !text.ends_with('\n') {
        let torn = text.rsplit('\n').next().unwrap_or_default();
        bail!("torn journal line after the kill: {torn:?}");
    }
    parse_json_lines(&text, "journal")
}

/// Modification time (epoch ms) of the broker state copy that was loaded.
fn state_file_mtime_ms(paper: &Path, copy: Option<StateCopy>) -> Option<i64> {
    let modified = fs::metadata(paper.join(copy?.file_name(BROKER_STATE)))
        .ok()?
        .modified()
        .ok()?;
    i64::try_from(modified.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()
}

/// The first heartbeat written by `pid`: its equity and trades.
pub(crate) fn heartbeat_of(workspace: &Path, pid: u32) -> Option<Heartbeat> {
    read_json::<Heartbeat>(&workspace.join("heartbeat.json"))
        .ok()
        .filter(|beat| beat.pid == pid)
}

pub(crate) fn check_after_kill(
    env: &Env,
    before: &Before,
    kill_at: i64,
    first_beat: Option<Heartbeat>,
    row: &mut Row,
) {
    let paper = env.workspace.join("paper");
    let journal = paper.join("events.jsonl");
    let mut segment = journal_since(&journal, before.journal_len).unwrap_or_else(|e| {
        row.problems.push(format!("{e:#}"));
        Vec::new()
    });
    let recovered = segment
        .iter()
        .filter(|e| e.recovered && e.is_money_event())
        .count();
    if recovered > 0 {
        row.notes.push(format!(
            "{recovered} money event(s) of the last kill recovered into the journal"
        ));
    }
    segment.retain(|e| !e.recovered);
    note_catch_up(&segment, row);
    let loaded = if state_exists(&paper, BROKER_STATE) {
        match load_state::<BrokerState>(&paper, BROKER_STATE) {
            Ok((state, copy)) => {
                row.copy = copy.as_str().into();
                let saved_at = state_file_mtime_ms(&paper, Some(copy));
                if !before.session_state_saved
                    && !state_exists(&paper, SESSION_STATE)
                    && saved_at.is_some_and(|ms| ms >= kill_at - AHEAD_WINDOW_MS)
                {
                    // Killed between the two writes of the very first save: the restart
                    // catches the broker's position up from the candle it was opened in.
                    row.notes.push(
                        "killed between the first save's two writes (no session state yet)".into(),
                    );
                } else if let Err(e) = load_state::<serde_json::Value>(&paper, SESSION_STATE) {
                    row.problems.push(format!("{SESSION_STATE}: {e:#}"));
                }
                if let Err(e) = ledger_consistent(&state) {
                    row.problems.push(format!("{e:#}"));
                }
                Some((state, copy))
            }
            Err(e) => {
                row.problems
                    .push(format!("broker_state.json does not load: {e:#}"));
                None
            }
        }
    } else {
        row.copy = "none".into();
        None
    };
    let state = match &loaded {
        Some((state, _)) => Book::from_state(state)
            .map_err(|e| row.problems.push(format!("{e:#}")))
            .ok(),
        None if row.copy == "none" => Some(Book::fresh(STARTING_BALANCE)),
        None => None,
    };
    let whole = match read_json_lines::<JournalLine>(&journal) {
        Ok(whole) => whole,
        Err(e) if journal.exists() => {
            row.problems
                .push(format!("the journal does not parse: {e:#}"));
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
                            e.kind(),
                            e.seq.unwrap_or(-1),
                            e.written_at.as_deref().unwrap_or("?")
                        )
                    })
                    .collect();
                let before_kill: Vec<i64> = ahead
                    .iter()
                    .filter_map(|e| e.written_at.as_deref().and_then(rfc3339_ms))
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
                let saved_at = state_file_mtime_ms(&paper, loaded.as_ref().map(|(_, c)| *c));
                match saved_at {
                    Some(ms) if ms >= kill_at - AHEAD_WINDOW_MS => {}
                    other => row.problems.push(format!(
                        "the state holds an unjournaled fill/exit but was saved at {other:?}, more than {AHEAD_WINDOW_MS} ms before the kill at {kill_at}"
                    )),
                }
            }
            Err(e) => row.problems.push(format!("{e:#}")),
        }
    }
    let restored = before.book.balance;
    row.equity = match first_beat {
        Some(Heartbeat {
            equity, trades: 0, ..
        }) if equity == restored => format!("{} = restored", equity.normalize()),
        Some(Heartbeat {
            equity, trades: 0, ..
        }) => {
            row.problems.push(format!(
                "first heartbeat equity {} != restored balance {}",
                equity.normalize(),
                restored.normalize()
            ));
            format!("{} != {}", equity.normalize(), restored.normalize())
        }
        Some(Heartbeat { trades, .. }) => format!("n/a ({trades} trades by 1st beat)"),
        None => "n/a (no heartbeat)".into(),
    };
    let started_detail = segment.iter().find_map(|e| match &e.event {
        JournalEvent::SessionStarted { detail } => Some(detail.clone()),
        _ => None,
    });
    row.lock = match (before.stale_lock_pid, started_detail.flatten()) {
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
}

/// Says whether the killed run was catching up a downtime when it died, or had caught up.
fn note_catch_up(segment: &[JournalLine], row: &mut Row) {
    let detected = segment
        .iter()
        .filter(|e| matches!(e.event, JournalEvent::DowntimeDetected { .. }))
        .count();
    let finished: Vec<String> = segment
        .iter()
        .filter_map(|e| match &e.event {
            JournalEvent::CatchUpFinished {
                outcome,
                candles_replayed,
            } => Some(format!("{outcome}, {candles_replayed} candles")),
            _ => None,
        })
        .collect();
    if detected > finished.len() {
        row.notes
            .push("killed mid catch-up (the next start catches up again)".into());
    } else if !finished.is_empty() {
        row.notes.push(format!(
            "caught up before the kill ({})",
            finished.join("; ")
        ));
    }
}

/// A last run without a kill: it must stop cleanly and report the saved balance as its
/// starting equity.
pub(crate) fn clean_final_run(env: &Env) -> Result<String> {
    let before = before_round(&env.workspace)?;
    let console = env.console_dir.join("final.log");
    let mut child = spawn_with_console(&env.binary, &session_args(env, "20s")?, &console)?;
    let status = wait_with_deadline(&mut child, Duration::from_secs(90))
        .context("the final run did not stop")?;
    ensure!(status.success(), "the final run exited with {status}");
    let summary: Summary = read_json(
        &env.workspace
            .join("runs")
            .join("latest")
            .join("summary.json"),
    )?;
    let reason = summary.stopped_reason.as_deref();
    ensure!(
        reason == Some("duration_reached"),
        "final stopped_reason {reason:?}"
    );
    let starting = summary
        .starting_equity
        .context("the summary has no starting_equity")?;
    ensure!(
        starting == before.book.balance,
        "summary starting_equity {} != last saved balance {}",
        starting.normalize(),
        before.book.balance.normalize()
    );
    let paper = env.workspace.join("paper");
    let (state, copy) = load_state::<BrokerState>(&paper, BROKER_STATE)?;
    ensure!(
        copy == StateCopy::Main,
        "after a clean stop only the .bak state loads"
    );
    let journal = paper.join("events.jsonl");
    let mut segment = journal_since(&journal, before.journal_len)?;
    segment.retain(|e| !e.recovered);
    ledger_consistent(&state)?;
    let whole = read_json_lines::<JournalLine>(&journal)?;
    let book = Book::from_state(&state)?;
    let placed = place_state(&before.book, &segment, &book, &filled_ids(&whole))?;
    ensure!(
        matches!(placed, Placement::InStep { .. }),
        "after a clean stop the state and the journal differ: {placed:?}"
    );
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
        bail!(
            "the whole journal replayed from the fresh account does not give the final state: {replayed:?}"
        );
    };
    Ok(format!(
        "starting_equity {} = last saved balance, ending {}; the whole journal ({events} money events) replays to it",
        starting.normalize(),
        book.describe()
    ))
}
