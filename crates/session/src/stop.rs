//! Why a session stopped: [`StopReason`], the closed set of reasons.
//!
//! Nothing but the supervisor loop decides a stop: every stop condition (a signal, a stop
//! file, a timer, a handler's failure) is an arm of that one `select!` loop, the first arm to
//! return a reason ends it, and exactly that one reason is recorded, however many
//! conditions hold at once.

use serde::{Deserialize, Serialize};

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
