//! Persisted session state (`paper/unified_state.json`) and the state-writer task that owns
//! both state files.
//!
//! The writer is the only code that touches the state files. The supervisor sends it
//! snapshots (after every fill or exit, every checkpoint, and once at shutdown); it coalesces
//! bursts, writes atomically off the async runtime, and reports each outcome back. A failed
//! save (full disk, read-only directory) is reported, never fatal: the session keeps trading
//! on its in-memory state and the last good file stays intact.

use std::path::PathBuf;

use la_broker_paper::{BrokerError, BrokerState, persist};
use la_core::Decimal;
use serde::{Deserialize, Serialize};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

use crate::breaker::BreakerState;

/// Version of [`SessionState`]'s on-disk shape.
pub const SESSION_SCHEMA_VERSION: u32 = 1;

/// What the session itself persists (the broker persists the account).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionState {
    /// Shape version.
    pub schema_version: u32,
    /// Account equity when this workspace's account was created.
    pub starting_equity: Decimal,
    /// Open time (ms) of the newest candle the strategy processed: candles at or before it
    /// are never traded again after a restart.
    pub last_candle_open_ms: Option<i64>,
    /// Circuit-breaker state, with its UTC day.
    pub breaker: BreakerState,
    /// The run that wrote this file.
    pub run_id: String,
    /// Wall-clock time of the save (RFC 3339).
    pub saved_at: String,
}

/// Both state files, saved together.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The broker's account.
    pub broker: BrokerState,
    /// The session's own state.
    pub session: SessionState,
}

/// Outcome of one save.
#[derive(Debug)]
pub struct SaveOutcome {
    /// Snapshots coalesced into this save.
    pub coalesced: usize,
    /// `Ok` or the first failure.
    pub result: Result<(), BrokerError>,
    /// How long the write of both files took (zero when it never started).
    pub duration: std::time::Duration,
}

/// One save request; `reply` is answered once the save (or a later, coalesced one) is done.
#[derive(Debug)]
struct Request {
    snapshot: Snapshot,
    reply: Option<oneshot::Sender<bool>>,
}

/// The supervisor's handle to the writer task.
#[derive(Debug)]
pub struct StateWriter {
    sender: mpsc::Sender<Request>,
    outcomes: mpsc::UnboundedReceiver<SaveOutcome>,
    task: JoinHandle<()>,
}

impl StateWriter {
    /// Spawns the writer for the two files.
    pub fn spawn(broker_path: PathBuf, session_path: PathBuf) -> Self {
        let (sender, mut receiver) = mpsc::channel::<Request>(4);
        let (outcome_tx, outcomes) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Some(first) = receiver.recv().await {
                let mut snapshot = first.snapshot;
                let mut replies: Vec<oneshot::Sender<bool>> = first.reply.into_iter().collect();
                let mut coalesced = 1;
                while let Ok(newer) = receiver.try_recv() {
                    snapshot = newer.snapshot;
                    replies.extend(newer.reply);
                    coalesced += 1;
                }
                let (broker_file, session_file) = (broker_path.clone(), session_path.clone());
                let started = std::time::Instant::now();
                let saved = tokio::task::spawn_blocking(move || {
                    persist::save_json_atomic(&broker_file, &snapshot.broker)?;
                    persist::save_json_atomic(&session_file, &snapshot.session)
                })
                .await;
                let result = match saved {
                    Ok(result) => result,
                    Err(join) => Err(BrokerError::Io {
                        path: session_path.clone(),
                        source: std::io::Error::other(format!("state save task failed: {join}")),
                    }),
                };
                let saved_ok = result.is_ok();
                for reply in replies {
                    let _ = reply.send(saved_ok);
                }
                let duration = started.elapsed();
                if outcome_tx
                    .send(SaveOutcome {
                        coalesced,
                        result,
                        duration,
                    })
                    .is_err()
                {
                    break;
                }
            }
        });
        Self {
            sender,
            outcomes,
            task,
        }
    }

    /// Queues a snapshot without waiting; a full queue means a save is already pending and
    /// the next snapshot supersedes this one anyway.
    pub fn request(&self, snapshot: Snapshot) -> bool {
        self.sender
            .try_send(Request {
                snapshot,
                reply: None,
            })
            .is_ok()
    }

    /// Saves `snapshot` and waits until it (or a newer coalesced snapshot) is on disk, at
    /// most `deadline`. Returns whether the save succeeded; the outcome is also reported on
    /// [`StateWriter::next_outcome`] as usual.
    pub async fn save_now(&self, snapshot: Snapshot, deadline: std::time::Duration) -> bool {
        let (reply, done) = oneshot::channel();
        let queued = tokio::time::timeout(
            deadline,
            self.sender.send(Request {
                snapshot,
                reply: Some(reply),
            }),
        )
        .await;
        if !matches!(queued, Ok(Ok(()))) {
            return false;
        }
        matches!(tokio::time::timeout(deadline, done).await, Ok(Ok(true)))
    }

    /// The next save outcome (for the supervisor's `select!`).
    pub async fn next_outcome(&mut self) -> Option<SaveOutcome> {
        self.outcomes.recv().await
    }

    /// Sends the final snapshot, closes the queue and waits for every pending save, within
    /// `deadline`. Returns the outcomes of the saves that completed.
    pub async fn finish(
        self,
        snapshot: Snapshot,
        deadline: std::time::Duration,
    ) -> Vec<SaveOutcome> {
        let Self {
            sender,
            mut outcomes,
            task,
        } = self;
        let sent = tokio::time::timeout(
            deadline,
            sender.send(Request {
                snapshot,
                reply: None,
            }),
        )
        .await;
        drop(sender);
        let mut results = Vec::new();
        if !matches!(sent, Ok(Ok(()))) {
            results.push(SaveOutcome {
                coalesced: 0,
                duration: std::time::Duration::ZERO,
                result: Err(BrokerError::Io {
                    path: PathBuf::from("paper"),
                    source: std::io::Error::other(
                        "final state snapshot could not be queued in time",
                    ),
                }),
            });
        }
        let drained = tokio::time::timeout(deadline, async {
            let _ = task.await;
        })
        .await;
        while let Ok(outcome) = outcomes.try_recv() {
            results.push(outcome);
        }
        if drained.is_err() {
            results.push(SaveOutcome {
                coalesced: 0,
                duration: std::time::Duration::ZERO,
                result: Err(BrokerError::Io {
                    path: PathBuf::from("paper"),
                    source: std::io::Error::other("final state save did not finish in time"),
                }),
            });
        }
        results
    }
}
