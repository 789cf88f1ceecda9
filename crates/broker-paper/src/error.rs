//! The crate's one error type, [`BrokerError`].
//!
//! Order rejections are *not* errors: they are [`la_core::BrokerEvent::OrderRejected`] events.
//! A `BrokerError` means either a bad configuration or state handed to a constructor, a
//! persistence failure, or an invariant breach that must halt trading. Nothing in this crate
//! panics on bad input; every such condition ends up here.

use std::path::PathBuf;

use la_core::Symbol;

/// Everything that can go wrong in the paper broker and its persistence helpers.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// A file-system operation failed (disk full, read-only directory, permissions, ...).
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory the operation was about.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A value could not be serialized to JSON (nothing was written).
    #[error("cannot serialize state for {}: {source}", path.display())]
    Serialize {
        /// The file that was to be written.
        path: PathBuf,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
    /// A state file is unreadable as JSON of the expected shape and could not be moved aside.
    #[error("corrupt state file {}: {reason}", path.display())]
    Corrupt {
        /// The corrupt file.
        path: PathBuf,
        /// What was wrong, and why it is still in place.
        reason: String,
    },
    /// The broker's accounting or position invariants do not hold. Trading must halt.
    #[error("broker invariant breached: {0}")]
    InvariantBreach(String),
    /// A configuration or instrument-spec value is out of its allowed range.
    #[error("invalid broker configuration: {0}")]
    InvalidConfig(String),
    /// A restored state belongs to another instrument.
    #[error("state is for symbol {found}, the broker is configured for {expected}")]
    SymbolMismatch {
        /// The configured symbol.
        expected: Symbol,
        /// The symbol found in the state.
        found: Symbol,
    },
    /// A restored state holds a value that cannot be right (a corrupt or edited file): the
    /// field is named, the state is refused rather than half-trusted.
    #[error("invalid broker state: {field}: {reason}")]
    InvalidState {
        /// The field, as a path into the state file (`position.lots[0].qty`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A restored state has a schema version this build cannot read.
    #[error(
        "unsupported broker state schema_version {found} (this build reads {supported} and \
         migrates 1)"
    )]
    UnsupportedSchema {
        /// The version in the state.
        found: u32,
        /// The version this build writes and reads.
        supported: u32,
    },
}

impl BrokerError {
    /// The raw OS error number behind an [`BrokerError::Io`], if any (e.g. `EFBIG`, `EROFS`).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Self::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}
