//! Restoring the saved account truthfully, or refusing to start.
//!
//! A restart must resume the account the journal describes, never a smaller one. The state
//! files are loaded (main, else `.bak`; a copy that does not parse or fails its checksum is
//! quarantined, see `la_broker_paper::persist`), validated field by field, and reconciled
//! with the journal, which is written after the state that contains each money event and so
//! can never be legitimately ahead of it. The session refuses to start
//! ([`SessionError::StateRefused`], exit code 5 in the CLI) when
//!
//! - every copy of a state file is corrupt (a fresh account would silently replace it);
//! - `unified_state.json` is invalid (an unknown `schema_version`, a starting equity that is
//!   not positive, a negative candle time or day, a day baseline that is not positive); the
//!   broker's own fields are validated by `PaperBroker::from_state` and refused alike;
//! - the state is behind the journal: the journal records more closed trades than the state
//!   counts, or its last fill opened a position the state neither holds nor closed, or there
//!   is no state at all but the journal records fills.
//!
//! A state ahead of the journal (its outbox holds events the journal lacks) is normal after a
//! crash between the save and the journal write, and is not refused. `--reset-account`
//! ([`reset_account`]) is the deliberate way out: it moves the account's files aside.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
};

use la_broker_paper::{
    BrokerState,
    persist::{self, LoadSource, Loaded, backup_path},
};
use la_core::{Decimal, value::MAX_MAGNITUDE};
use serde_json::{Map, Value};

use crate::{
    error::SessionError,
    journal::{read_events, torn_path},
    state::{SESSION_SCHEMA_VERSION, SessionState},
    workspace::Workspace,
};

/// Both state files as loaded and checked.
#[derive(Debug)]
pub struct RestoredFiles {
    /// The broker's account, if one was saved.
    pub broker: Option<BrokerState>,
    /// The file it came from (main or `.bak`), for messages.
    pub broker_path: PathBuf,
    /// The session's own state, if one was saved.
    pub session: Option<SessionState>,
    /// Corrupt copies: moved aside by [`restore`], listed where they are by [`inspect`].
    pub quarantined: Vec<PathBuf>,
}

fn refused(path: &Path, reason: impl Into<String>) -> SessionError {
    SessionError::StateRefused {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The path a [`Loaded`] value came from.
fn source_path(path: &Path, source: LoadSource) -> PathBuf {
    match source {
        LoadSource::Backup => backup_path(path),
        LoadSource::Main | LoadSource::Missing => path.to_path_buf(),
    }
}

/// Whether loading may move corrupt copies aside (a start) or must leave the workspace as
/// it is (`doctor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Restore,
    Inspect,
}

/// Loads one state file; every copy corrupt is a refusal.
fn load<T: serde::de::DeserializeOwned>(
    path: &Path,
    mode: Mode,
) -> Result<Loaded<T>, SessionError> {
    let loaded = match mode {
        Mode::Restore => persist::load_json::<T>(path)?,
        Mode::Inspect => persist::inspect_json::<T>(path)?,
    };
    if loaded.value.is_none() && !loaded.quarantined.is_empty() {
        let moved: Vec<String> = loaded
            .quarantined
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Err(refused(
            path,
            format!(
                "every copy is corrupt ({}); starting a fresh account would silently drop \
                 the saved one",
                moved.join(", ")
            ),
        ));
    }
    Ok(loaded)
}

/// Loads, validates and reconciles the state files of `workspace` with its journal.
///
/// # Errors
/// [`SessionError::StateRefused`] as the module docs list; I/O errors reading the files.
pub fn restore(workspace: &Workspace) -> Result<RestoredFiles, SessionError> {
    examine(workspace, Mode::Restore)
}

/// What [`restore`] would decide, without moving a corrupt copy aside or touching any file
/// (`laptop-agents doctor`).
///
/// # Errors
/// As [`restore`].
pub fn inspect(workspace: &Workspace) -> Result<RestoredFiles, SessionError> {
    examine(workspace, Mode::Inspect)
}

fn examine(workspace: &Workspace, mode: Mode) -> Result<RestoredFiles, SessionError> {
    let broker_file = workspace.broker_state();
    let broker = load::<BrokerState>(&broker_file, mode)?;
    let broker_path = source_path(&broker_file, broker.source);
    let session_file = workspace.unified_state();
    let session = load::<SessionState>(&session_file, mode)?;
    if let Some(state) = &session.value {
        validate_session(state)
            .map_err(|reason| refused(&source_path(&session_file, session.source), reason))?;
    }
    let journal = workspace.events_journal();
    let mut book = JournalBook::default();
    read_events(&journal, |event| book.note(event))?;
    let account = broker.value.as_ref().map(|state| Holding {
        trades: state.counters.trades,
        position: state.position.as_ref().map(|p| p.client_order_id.as_str()),
    });
    book.check(account).map_err(|reason| {
        let mut reason = format!(
            "the state is behind the journal {}: {reason}",
            journal.display()
        );
        if !broker.quarantined.is_empty() {
            reason.push_str(" (the newer copy is corrupt)");
        }
        refused(&broker_path, reason)
    })?;
    let mut quarantined = broker.quarantined;
    quarantined.extend(session.quarantined);
    Ok(RestoredFiles {
        broker: broker.value,
        broker_path,
        session: session.value,
        quarantined,
    })
}

/// Every field of a session state a restart relies on, checked.
fn validate_session(state: &SessionState) -> Result<(), String> {
    if state.schema_version != SESSION_SCHEMA_VERSION {
        return Err(format!(
            "schema_version {} is not the supported {SESSION_SCHEMA_VERSION}",
            state.schema_version
        ));
    }
    if state.starting_equity <= Decimal::ZERO || state.starting_equity > MAX_MAGNITUDE {
        return Err(format!(
            "starting_equity {} is not a positive amount within 1e12",
            state.starting_equity
        ));
    }
    if state.last_candle_open_ms.is_some_and(|ms| ms < 0) {
        return Err("last_candle_open_ms is negative".to_owned());
    }
    let breaker = &state.breaker;
    if breaker.day.is_some_and(|d| d < 0) || breaker.tripped_day.is_some_and(|d| d < 0) {
        return Err("breaker day is negative".to_owned());
    }
    if let Some(equity) = breaker.day_start_equity
        && (equity <= Decimal::ZERO || equity > MAX_MAGNITUDE)
    {
        return Err(format!(
            "breaker.day_start_equity {equity} is not a positive amount within 1e12"
        ));
    }
    Ok(())
}

/// What a saved account holds that the journal also records.
#[derive(Clone, Copy, Debug)]
struct Holding<'a> {
    /// Trades closed over the account's life.
    trades: u64,
    /// The open position's client order id.
    position: Option<&'a str>,
}

/// What the journal says about the account: the trades it closed and the position its
/// last fill opened, if no close followed.
#[derive(Debug, Default)]
struct JournalBook {
    /// `(ts_ms, client_order_id)` of every exit and liquidation (a duplicated line counts once).
    closed: HashSet<(Option<i64>, String)>,
    fills: u64,
    /// The position opened by the last fill and not closed since: its id and fill time.
    open: Option<(String, Option<i64>)>,
}

impl JournalBook {
    fn note(&mut self, event: &Map<String, Value>) {
        let Some(id) = event.get("client_order_id").and_then(Value::as_str) else {
            return;
        };
        let ts = event.get("ts_ms").and_then(Value::as_i64);
        match event.get("kind").and_then(Value::as_str) {
            Some("fill") => {
                self.fills += 1;
                if self.open.as_ref().is_none_or(|(open, _)| open != id) {
                    self.open = Some((id.to_owned(), ts));
                }
            }
            Some("exit" | "liquidation") => {
                self.closed.insert((ts, id.to_owned()));
                if self.open.as_ref().is_some_and(|(open, _)| open == id) {
                    self.open = None;
                }
            }
            _ => {}
        }
    }

    /// Whether `account` holds everything the journal recorded; the reason when it does not.
    fn check(&self, account: Option<Holding<'_>>) -> Result<(), String> {
        let Some(account) = account else {
            return if self.fills > 0 {
                Err(format!(
                    "there is no saved account, but the journal records {} fills",
                    self.fills
                ))
            } else {
                Ok(())
            };
        };
        let closed = u64::try_from(self.closed.len()).unwrap_or(u64::MAX);
        let trades = account.trades;
        if closed > trades {
            return Err(format!(
                "the journal records {closed} closed trades, the state only {trades}"
            ));
        }
        if let Some((id, ts)) = &self.open {
            // Holding it, or having closed it since (one more trade than the journal shows:
            // the state is ahead, which a crash between the save and the journal leaves).
            if account.position != Some(id.as_str()) && trades == closed {
                let held = account
                    .position
                    .map_or_else(|| "no position".to_owned(), |p| format!("position {p}"));
                return Err(format!(
                    "the journal's last fill opened position {id} (at {}) and records no \
                     close, but the state holds {held}",
                    ts.map_or_else(|| "an unknown time".to_owned(), |t| t.to_string())
                ));
            }
        }
        Ok(())
    }
}

/// Moves the account's files (both state files with their backups, the journal and its
/// torn tails) into `paper/reset-<unix_ms>/`, so the session starts a fresh account. Nothing
/// is deleted. Returns the directory, or `None` when there was nothing to move.
///
/// # Errors
/// A file cannot be moved.
pub fn reset_account(workspace: &Workspace) -> Result<Option<PathBuf>, SessionError> {
    let journal = workspace.events_journal();
    let files: Vec<PathBuf> = [workspace.broker_state(), workspace.unified_state()]
        .into_iter()
        .flat_map(|path| [backup_path(&path), path])
        .chain([torn_path(&journal), journal])
        .filter(|path| std::fs::symlink_metadata(path).is_ok())
        .collect();
    if files.is_empty() {
        return Ok(None);
    }
    let archive = workspace
        .paper_dir()
        .join(format!("reset-{}", crate::time_fmt::wall_now_ms()));
    la_private_fs::create_private_dir_all(&archive)
        .map_err(|e| SessionError::io("cannot create", &archive, e))?;
    for file in files {
        let Some(name) = file.file_name() else {
            continue;
        };
        std::fs::rename(&file, archive.join(name))
            .map_err(|e| SessionError::io("cannot move aside", &file, e))?;
    }
    tracing::warn!(archive = %archive.display(), "--reset-account: the previous account's state and journal moved aside; starting a fresh account");
    Ok(Some(archive))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(kind: &str, id: &str, ts: i64) -> Map<String, Value> {
        let Value::Object(map) =
            serde_json::json!({"kind": kind, "client_order_id": id, "ts_ms": ts})
        else {
            unreachable!("a JSON object literal")
        };
        map
    }

    fn book(lines: &[(&str, &str, i64)]) -> JournalBook {
        let mut book = JournalBook::default();
        for (kind, id, ts) in lines {
            book.note(&line(kind, id, *ts));
        }
        book
    }

    fn holding(trades: u64, position: Option<&str>) -> Option<Holding<'_>> {
        Some(Holding { trades, position })
    }

    #[test]
    fn the_journal_book_follows_fills_and_closes_and_counts_a_duplicated_close_once() {
        let book = book(&[
            ("fill", "a", 1),
            ("exit", "a", 2),
            ("exit", "a", 2),
            ("fill", "b", 3),
            ("fill", "b", 4),
        ]);
        assert_eq!(book.closed.len(), 1);
        assert_eq!(book.fills, 3);
        assert_eq!(book.open, Some(("b".to_owned(), Some(3))));
    }

    #[test]
    fn a_state_in_step_with_or_ahead_of_the_journal_is_accepted() {
        let traded = book(&[("fill", "a", 1), ("exit", "a", 2), ("fill", "b", 3)]);
        assert_eq!(traded.check(holding(1, Some("b"))), Ok(()), "in step");
        assert_eq!(
            traded.check(holding(2, None)),
            Ok(()),
            "ahead by b's exit (saved, not yet journaled)"
        );
        assert_eq!(
            traded.check(holding(2, Some("c"))),
            Ok(()),
            "ahead by b's exit and c's fill"
        );
        let flat = book(&[("fill", "a", 1), ("exit", "a", 2)]);
        assert_eq!(flat.check(holding(1, Some("b"))), Ok(()), "ahead by a fill");
        assert_eq!(
            JournalBook::default().check(None),
            Ok(()),
            "a new workspace"
        );
    }

    #[test]
    fn a_state_behind_the_journal_is_refused() {
        let traded = book(&[("fill", "a", 1), ("exit", "a", 2), ("fill", "b", 3)]);
        let missing_fill = traded.check(holding(1, None)).unwrap_err();
        assert!(missing_fill.contains("opened position b"), "{missing_fill}");
        let missing_exit = traded.check(holding(0, Some("a"))).unwrap_err();
        assert!(missing_exit.contains("1 closed trades"), "{missing_exit}");
        let no_state = traded.check(None).unwrap_err();
        assert!(no_state.contains("2 fills"), "{no_state}");
    }
}
