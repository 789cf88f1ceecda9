//! The append-only event journal (`paper/events.jsonl`): one JSON object per broker or
//! session event, each line written whole and, for live sessions, fsynced before the next
//! event is processed — so after a crash the journal is a faithful account of what happened.
//!
//! Every line is one [`JournalEvent`]: `kind` is its tag and its fields sit beside `seq`,
//! `ts_ms` (the event time, when it has one) and `written_at`. Events are never
//! de-duplicated by content — two identical fills are two fills — so each line carries a
//! sequence number instead, carried on across runs: a journal is numbered from its first
//! line to its last, so a duplicated or reordered line shows.
//!
//! **Self-repair on open.** Before anything is appended, the journal is read once (streamed,
//! see `scan`): a torn tail — the bytes after the last newline, left by a crash mid-append —
//! is moved to `<journal>.torn` and cut off, so the next line never lands on a fragment (a
//! tail that is a whole event lacking only its newline is completed instead); garbage,
//! oversize and duplicated lines are counted. Whatever was found is logged and journaled as
//! one `journal_repaired` line.

mod scan;

use std::{
    collections::HashSet,
    fs::File,
    io::{self, BufReader, BufWriter, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use la_broker_paper::persist::{PrivateOpen, open_private, open_read_no_follow};
use la_core::{BrokerEvent, ExitReason};
use serde::Serialize;
use serde_json::{Map, Value};

pub use self::scan::{JournalScan, MAX_LINE_BYTES, scan_journal};

use crate::{
    downtime::{DowntimeCause, DowntimeRecord, DowntimeSignal},
    engine::EventContext,
    error::SessionError,
    funding::FundingRateSource,
    stop::StopReason,
};

/// What a journal line records. Serialised with `kind` as the tag (the labels below are the
/// file format: `cargo xtask crash`/`soak` and the tests read them).
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JournalEvent<'a> {
    /// A limit order is resting.
    OrderAccepted(BrokerLine<'a>),
    /// An entry filled.
    Fill(BrokerLine<'a>),
    /// A position closed (other than by liquidation).
    Exit(BrokerLine<'a>),
    /// A position was liquidated: an exit with reason `liquidation`, under its own kind.
    Liquidation(BrokerLine<'a>),
    /// Funding was settled.
    FundingApplied(BrokerLine<'a>),
    /// The broker refused an order.
    OrderRejected(BrokerLine<'a>),
    /// A resting order was cancelled.
    OrderCancelled(BrokerLine<'a>),
    /// A trailing stop became active.
    TrailingActivated(BrokerLine<'a>),
    /// The session started; `detail` says how it got the workspace lock.
    SessionStarted {
        /// `fresh_lock` or `took_over_stale_lock_of_pid_N`.
        detail: &'a str,
    },
    /// The feed (re)connected.
    FeedConnected {
        /// Always `connected`.
        detail: &'a str,
    },
    /// The feed lost its connection.
    FeedDisconnected {
        /// Why.
        detail: &'a str,
    },
    /// The feed is about to reconnect.
    FeedReconnecting {
        /// Attempt number and delay.
        detail: &'a str,
    },
    /// Live candles are missing; a REST backfill was requested.
    GapDetected {
        /// How many, from when.
        detail: &'a str,
    },
    /// No market data for a while (first rung of the stale-data ladder).
    StaleDataWarning {
        /// For how long.
        detail: &'a str,
    },
    /// Market data resumed after a stale-data warning.
    StaleDataRecovered {
        /// Always `market data resumed`.
        detail: &'a str,
    },
    /// No market data for the stale timeout: the session stops.
    StaleDataHalt {
        /// For how long.
        detail: &'a str,
    },
    /// A broker invariant breach halted trading.
    TradingHalted {
        /// The cause chain.
        detail: &'a str,
    },
    /// A state save failed (alerted; trading continues on in-memory state).
    StateSaveFailed {
        /// The cause chain.
        detail: &'a str,
    },
    /// Warm-up history could not be fetched; the gate fills from live candles.
    DegradedStart {
        /// The cause chain.
        detail: &'a str,
    },
    /// A funding time passed without a rate: nothing was settled.
    FundingSkipped {
        /// The funding time (epoch ms).
        funding_time: i64,
        /// Why no rate was available.
        reason: &'a str,
        /// Passed while replaying a downtime.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        catch_up: bool,
    },
    /// The circuit breaker tripped: new entries are blocked.
    CircuitBreakerTripped {
        /// `daily_drawdown` or `consecutive_losses`.
        reason: &'a str,
    },
    /// The market went on without the session (restart, suspend or outage): a catch-up
    /// starts.
    DowntimeDetected {
        /// Restart, suspend or outage.
        cause: DowntimeCause,
        /// What revealed it.
        detected_by: DowntimeSignal,
        /// The exchange time the account had reached (epoch ms), if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        since_ms: Option<i64>,
        /// How long the local clocks say the session was away, when they could tell.
        #[serde(skip_serializing_if = "Option::is_none")]
        away_local_ms: Option<u64>,
    },
    /// A catch-up ended: the downtime interval and what was booked (or why nothing was).
    CatchUpFinished(&'a DowntimeRecord),
    /// The journal was found damaged when it was opened, and repaired (see the module docs).
    JournalRepaired {
        /// Bytes of a torn last line moved to `torn_moved_to` and cut off (0: none).
        torn_tail_bytes: u64,
        /// Where the torn bytes went.
        #[serde(skip_serializing_if = "Option::is_none")]
        torn_moved_to: Option<&'a str>,
        /// Lines that are not a JSON event, left in place and skipped by every reader.
        garbage_lines: u64,
        /// Lines longer than the reader's cap, left in place and skipped.
        oversize_lines: u64,
        /// Lines whose sequence number was already used.
        duplicate_seqs: u64,
    },
    /// The session stopped, with its one reason.
    SessionStopped {
        /// Why.
        stopped_reason: StopReason,
        /// Errors counted against the budget.
        errors: u32,
    },
}

/// A broker event as a journal line: its own fields (with the broker's `event` tag);
/// `"recovered": true` for an event journaled at start-up from a saved outbox;
/// `"catch_up": true` for one booked while replaying a downtime; and for a funding
/// settlement, where its rate came from (`rate_source`).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct BrokerLine<'a> {
    #[serde(flatten)]
    event: &'a BrokerEvent,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    recovered: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    catch_up: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_source: Option<FundingRateSource>,
}

impl<'a> JournalEvent<'a> {
    /// The line for a broker event in its `context`; `recovered` marks one the previous run
    /// saved in the state's outbox but did not journal before it stopped.
    pub fn broker(event: &'a BrokerEvent, recovered: bool, context: EventContext) -> Self {
        let line = BrokerLine {
            event,
            recovered,
            catch_up: context.catch_up,
            rate_source: context.funding_source,
        };
        match event {
            BrokerEvent::OrderAccepted { .. } => Self::OrderAccepted(line),
            BrokerEvent::Filled(_) => Self::Fill(line),
            BrokerEvent::Exited(exit) if exit.reason == ExitReason::Liquidation => {
                Self::Liquidation(line)
            }
            BrokerEvent::Exited(_) => Self::Exit(line),
            BrokerEvent::FundingApplied { .. } => Self::FundingApplied(line),
            BrokerEvent::OrderRejected { .. } => Self::OrderRejected(line),
            BrokerEvent::OrderCancelled { .. } => Self::OrderCancelled(line),
            BrokerEvent::TrailingActivated { .. } => Self::TrailingActivated(line),
        }
    }

    /// The `kind` label, as serialised.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::OrderAccepted(_) => "order_accepted",
            Self::Fill(_) => "fill",
            Self::Exit(_) => "exit",
            Self::Liquidation(_) => "liquidation",
            Self::FundingApplied(_) => "funding_applied",
            Self::OrderRejected(_) => "order_rejected",
            Self::OrderCancelled(_) => "order_cancelled",
            Self::TrailingActivated(_) => "trailing_activated",
            Self::SessionStarted { .. } => "session_started",
            Self::FeedConnected { .. } => "feed_connected",
            Self::FeedDisconnected { .. } => "feed_disconnected",
            Self::FeedReconnecting { .. } => "feed_reconnecting",
            Self::GapDetected { .. } => "gap_detected",
            Self::StaleDataWarning { .. } => "stale_data_warning",
            Self::StaleDataRecovered { .. } => "stale_data_recovered",
            Self::StaleDataHalt { .. } => "stale_data_halt",
            Self::TradingHalted { .. } => "trading_halted",
            Self::StateSaveFailed { .. } => "state_save_failed",
            Self::DegradedStart { .. } => "degraded_start",
            Self::FundingSkipped { .. } => "funding_skipped",
            Self::CircuitBreakerTripped { .. } => "circuit_breaker_tripped",
            Self::DowntimeDetected { .. } => "downtime_detected",
            Self::CatchUpFinished(_) => "catch_up_finished",
            Self::JournalRepaired { .. } => "journal_repaired",
            Self::SessionStopped { .. } => "session_stopped",
        }
    }
}

/// One line on disk: the envelope around a [`JournalEvent`].
#[derive(Serialize)]
struct Line<'a> {
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ts_ms: Option<i64>,
    written_at: String,
    #[serde(flatten)]
    event: &'a JournalEvent<'a>,
}

/// An append-only JSON-lines file.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    writer: BufWriter<File>,
    durable: bool,
    seq: u64,
    write_errors: u64,
    opened: JournalScan,
}

impl Journal {
    /// Opens (creating or appending) `path`, after repairing a torn tail and counting damaged
    /// lines (see the module docs). `durable` fsyncs after every line. Numbering goes on from
    /// the highest sequence number in the file.
    ///
    /// # Errors
    /// The file cannot be read, repaired or opened (a symbolic link at `path` among them).
    pub fn open(path: &Path, durable: bool) -> Result<Self, SessionError> {
        let (scan, torn_moved_to) = repair(path)?;
        let file = open_private(path, PrivateOpen::Append)
            .map_err(|e| SessionError::io("cannot open journal", path, e))?;
        let mut journal = Self {
            path: path.to_path_buf(),
            writer: BufWriter::new(file),
            durable,
            seq: scan.last_seq,
            write_errors: 0,
            opened: scan,
        };
        if journal.opened.found_damage() {
            let found = journal.opened.clone();
            let moved = torn_moved_to.as_ref().map(|p| p.display().to_string());
            tracing::warn!(
                path = %path.display(),
                torn_tail_bytes = found.torn_tail_bytes,
                torn_moved_to = moved.as_deref().unwrap_or(""),
                garbage_lines = found.garbage_lines,
                oversize_lines = found.oversize_lines,
                duplicate_seqs = found.duplicate_seqs,
                "journal was damaged; repaired before appending"
            );
            journal.append(
                None,
                &JournalEvent::JournalRepaired {
                    torn_tail_bytes: found.torn_tail_bytes,
                    torn_moved_to: moved.as_deref(),
                    garbage_lines: found.garbage_lines,
                    oversize_lines: found.oversize_lines,
                    duplicate_seqs: found.duplicate_seqs,
                },
            );
            journal.flush();
        }
        Ok(journal)
    }

    /// What the read at open found (before the repair).
    pub fn opened(&self) -> &JournalScan {
        &self.opened
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lines that could not be written (disk full, ...); each was logged.
    pub fn write_errors(&self) -> u64 {
        self.write_errors
    }

    /// Appends `event` at event time `ts_ms`. A write failure is logged and counted, never
    /// fatal: trading goes on.
    pub fn append(&mut self, ts_ms: Option<i64>, event: &JournalEvent<'_>) {
        self.seq += 1;
        let line = Line {
            seq: self.seq,
            ts_ms,
            written_at: crate::time_fmt::now_rfc3339(),
            event,
        };
        let result = serde_json::to_writer(&mut self.writer, &line)
            .map_err(std::io::Error::other)
            .and_then(|()| self.writer.write_all(b"\n"))
            .and_then(|()| if self.durable { self.sync() } else { Ok(()) });
        if let Err(err) = result {
            self.write_errors += 1;
            tracing::error!(path = %self.path.display(), error = &err as &dyn std::error::Error, "journal write failed");
        }
    }

    /// Flushes and fsyncs.
    ///
    /// # Errors
    /// The flush or fsync failed.
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.writer.flush()?;
        self.writer.get_ref().sync_data()
    }

    /// Flushes buffered lines without fsync.
    pub fn flush(&mut self) {
        if let Err(err) = self.writer.flush() {
            self.write_errors += 1;
            tracing::error!(path = %self.path.display(), error = &err as &dyn std::error::Error, "journal flush failed");
        }
    }
}

/// What identifies an event line: its kind, event time and client order id (if any).
pub type EventKey = (String, Option<i64>, Option<String>);

/// The keys of every line already in the journal at `path` (a missing file has none; a
/// torn or foreign line is skipped). Used once at start-up, to recover events a crash kept
/// out of the journal without writing any of them twice.
///
/// # Errors
/// The file exists but cannot be read.
pub fn recorded_keys(path: &Path) -> Result<HashSet<EventKey>, SessionError> {
    let mut keys = HashSet::new();
    read_events(path, |fields| {
        if let Some(kind) = fields.get("kind").and_then(Value::as_str) {
            keys.insert((
                kind.to_owned(),
                fields.get("ts_ms").and_then(Value::as_i64),
                fields
                    .get("client_order_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            ));
        }
    })?;
    Ok(keys)
}

/// Streams every intact event of the journal at `path` to `on_event` (see `scan`); a
/// missing file has none.
///
/// # Errors
/// The file exists but cannot be read (a symbolic link at `path` among them).
pub fn read_events(
    path: &Path,
    on_event: impl FnMut(&Map<String, Value>),
) -> Result<JournalScan, SessionError> {
    let file = match open_read_no_follow(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(JournalScan::default()),
        Err(e) => return Err(SessionError::io("cannot read journal", path, e)),
    };
    scan_journal(BufReader::with_capacity(1 << 16, file), on_event)
        .map_err(|e| SessionError::io("cannot read journal", path, e))
}

/// `<journal>.torn`: where cut-off torn tails are kept (appended, never overwritten).
pub fn torn_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".torn");
    PathBuf::from(name)
}

/// Reads the journal and repairs a torn tail: a whole event lacking its newline gets it;
/// anything else is appended to [`torn_path`] and cut off. Returns the scan and where torn
/// bytes went.
fn repair(path: &Path) -> Result<(JournalScan, Option<PathBuf>), SessionError> {
    let scan = read_events(path, |_| {})?;
    if scan.torn_tail_bytes == 0 {
        return Ok((scan, None));
    }
    let fail = |e: io::Error| SessionError::io("cannot repair the torn tail of journal", path, e);
    if scan.torn_tail_is_whole_event {
        let mut file = open_private(path, PrivateOpen::Append).map_err(fail)?;
        file.write_all(b"\n")
            .and_then(|()| file.sync_all())
            .map_err(fail)?;
        return Ok((scan, None));
    }
    let torn = torn_path(path);
    let mut source = open_read_no_follow(path).map_err(fail)?;
    source
        .seek(SeekFrom::Start(scan.intact_len))
        .map_err(fail)?;
    let mut target = open_private(&torn, PrivateOpen::Append)
        .map_err(|e| SessionError::io("cannot keep the torn tail in", &torn, e))?;
    io::copy(&mut source, &mut target)
        .and_then(|_| target.write_all(b"\n"))
        .and_then(|()| target.sync_all())
        .map_err(|e| SessionError::io("cannot keep the torn tail in", &torn, e))?;
    let journal = open_private(path, PrivateOpen::ReadWrite).map_err(fail)?;
    journal
        .set_len(scan.intact_len)
        .and_then(|()| journal.sync_all())
        .map_err(fail)?;
    Ok((scan, Some(torn)))
}
