//! Why a session stopped ([`StopReason`]) and the one-shot signal that tells every task to
//! stop ([`Shutdown`]).
//!
//! Tasks never stop the session themselves: they *request* a stop; the supervisor takes the
//! first request and records exactly one reason, whatever number of tasks fail at once.

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// The closed set of reasons a live session ends. Exactly one is recorded per run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The configured duration elapsed.
    DurationReached,
    /// SIGINT or SIGTERM.
    Signal,
    /// `laptop-agents stop` or a programmatic request.
    StopRequested,
    /// `kill.txt` in the workspace or `LA_KILL_SWITCH=1`.
    KillSwitch,
    /// No market data for longer than the stale timeout.
    StaleData,
    /// More errors than the error budget allows.
    ErrorBudget,
    /// Daily drawdown or consecutive-loss circuit breaker tripped.
    CircuitBreaker,
    /// Resident memory above the configured ceiling.
    MemoryLimit,
    /// The market-data feed ended and cannot continue (e.g. a replay ran out of data).
    FeedEnded,
    /// An unrecoverable error (e.g. a broker invariant breach).
    FatalError,
}

impl StopReason {
    /// Stable label, as written to `summary.json`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DurationReached => "duration_reached",
            Self::Signal => "signal",
            Self::StopRequested => "stop_requested",
            Self::KillSwitch => "kill_switch",
            Self::StaleData => "stale_data",
            Self::ErrorBudget => "error_budget",
            Self::CircuitBreaker => "circuit_breaker",
            Self::MemoryLimit => "memory_limit",
            Self::FeedEnded => "feed_ended",
            Self::FatalError => "fatal_error",
        }
    }

    /// Whether the CLI should exit 0: a stop the user asked for or expected.
    pub const fn is_clean(self) -> bool {
        matches!(
            self,
            Self::DurationReached | Self::Signal | Self::StopRequested | Self::KillSwitch
        )
    }
}

/// The sending half: the supervisor publishes the reason once.
#[derive(Debug)]
pub struct ShutdownTrigger {
    sender: watch::Sender<Option<StopReason>>,
}

/// The receiving half, cloned into every task. Late subscribers still see the reason.
#[derive(Clone, Debug)]
pub struct Shutdown {
    receiver: watch::Receiver<Option<StopReason>>,
}

/// Creates a trigger and its first receiver.
pub fn shutdown_channel() -> (ShutdownTrigger, Shutdown) {
    let (sender, receiver) = watch::channel(None);
    (ShutdownTrigger { sender }, Shutdown { receiver })
}

impl ShutdownTrigger {
    /// Publishes `reason` unless a reason was already published; returns the reason in force.
    pub fn trigger(&self, reason: StopReason) -> StopReason {
        let mut in_force = reason;
        self.sender.send_if_modified(|current| match current {
            Some(existing) => {
                in_force = *existing;
                false
            }
            None => {
                *current = Some(reason);
                true
            }
        });
        in_force
    }

    /// The published reason, if any.
    pub fn reason(&self) -> Option<StopReason> {
        *self.sender.borrow()
    }

    /// A new receiver.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            receiver: self.sender.subscribe(),
        }
    }
}

impl Shutdown {
    /// Waits until a reason is published (returns at once if it already was). A dropped
    /// trigger counts as a stop.
    pub async fn recv(&mut self) -> Option<StopReason> {
        match self.receiver.wait_for(Option::is_some).await {
            Ok(reason) => *reason,
            Err(_) => None,
        }
    }

    /// Whether a reason has been published.
    pub fn is_triggered(&self) -> bool {
        self.receiver.borrow().is_some()
    }
}
