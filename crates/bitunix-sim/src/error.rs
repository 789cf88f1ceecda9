//! The crate's one error type, [`SimError`].
//!
//! Only starting the simulator and parsing fault specs can fail. Once running, bad client
//! input is never an error: it is ignored or answered exactly as the real exchange would,
//! and counted in [`crate::SimStats`].

use std::{net::SocketAddr, path::PathBuf};

/// Why the simulator could not start, or why a fault spec was rejected.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address is not a loopback address; the simulator never serves a network.
    #[error("refusing to listen on non-loopback address {0}; use 127.0.0.1 or ::1")]
    NonLoopback(SocketAddr),
    /// Binding the listen socket failed.
    #[error("cannot bind {addr}")]
    Bind {
        /// The requested address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A data or record file could not be read or created.
    #[error("cannot access {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The market data is unusable (empty after skipping bad rows, wrong interval, ...).
    #[error("unusable market data: {0}")]
    Data(String),
    /// A configuration value is out of range.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    /// The TLS certificate or key was rejected.
    #[error("invalid TLS configuration: {0}")]
    Tls(String),
    /// A fault spec such as `silence:30s` could not be parsed.
    #[error("invalid fault spec {spec:?}: {reason}")]
    FaultSpec {
        /// The text given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
}
