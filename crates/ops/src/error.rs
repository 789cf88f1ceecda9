//! The crate's error type.

use std::net::SocketAddr;

/// What can go wrong in the operator surface. None of it stops trading: the session logs it
/// and runs on without the part that failed.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The HTTP address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
