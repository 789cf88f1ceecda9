//! The session crate's one error type.
//!
//! Recoverable conditions (a rejected frame, a failed state save, a broker rejection) are
//! counted and logged where they happen and never become a `SessionError`; what reaches this
//! type stops the session or the command.

use std::path::PathBuf;

/// Everything that can stop a session or a backtest from starting or finishing.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A configuration value is invalid; names the key and what is allowed.
    #[error("invalid configuration `{key}`: {message}")]
    Config {
        /// The configuration key, e.g. `duration`.
        key: &'static str,
        /// What was wrong and what is allowed.
        message: String,
    },
    /// A walk-forward window cannot be used with the data; names the window (`train`,
    /// `test`, `step`) and why.
    #[error("invalid walk-forward window --{window}: {message}")]
    Window {
        /// Which window option.
        window: &'static str,
        /// What was wrong.
        message: String,
    },
    /// Another live session holds the workspace lock.
    #[error("another session (pid {pid}) is running in this workspace (lock file {path})")]
    AlreadyRunning {
        /// The owner's process id.
        pid: u32,
        /// The lock file.
        path: PathBuf,
    },
    /// The saved account cannot be trusted (every copy corrupt, a field invalid, or the
    /// state behind the journal): the session refuses to start rather than drop a position
    /// or start a fresh account silently (see `recovery`).
    #[error("refusing to start: {path}: {reason}")]
    StateRefused {
        /// The state file at fault (the copy that was loaded).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{action} {path}")]
    Io {
        /// What was being done, e.g. "cannot create".
        action: &'static str,
        /// Which file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A `--source sim` run on a workspace whose account already traded the data to its end:
    /// there is no market left to resume on, and replaying it from the start would go back
    /// in time (every candle older than the account's last one).
    #[error(
        "the account in this workspace has already traded this market data to its end: its last \
         candle opened at {account_last}, and the data ends at {data_end}"
    )]
    AccountAheadOfData {
        /// The open time of the account's last decided candle (RFC 3339).
        account_last: String,
        /// The first instant after the data (RFC 3339).
        data_end: String,
    },
    /// Historical data could not be read.
    #[error("cannot read candles from {path}: {message}")]
    Data {
        /// The data file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A backtest's funding-rate file could not be used.
    #[error("cannot read funding rates from {path}: {message}")]
    FundingFile {
        /// The funding file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The broker refused to start or breached an invariant.
    #[error("broker failure")]
    Broker(#[from] la_broker_paper::BrokerError),
    /// The market-data feed could not start.
    #[error("market data feed failure")]
    Feed(#[from] la_feed_bitunix::FeedError),
    /// The simulator could not start.
    #[error("simulator failure")]
    Simulator(#[from] la_bitunix_sim::SimError),
    /// The strategy could not be built.
    #[error("strategy failure")]
    Strategy(#[from] la_strategy::StrategyError),
    /// Serialising a run artifact failed.
    #[error("cannot serialise {what}")]
    Serialize {
        /// Which artifact.
        what: &'static str,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
}

impl SessionError {
    /// Wraps an I/O error with its action and path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Formats an error and all its sources as `outer: inner: root` (shared with the feed, so
/// every log line, journal entry and CLI message renders a cause chain the same way).
pub use la_core::error_chain;
