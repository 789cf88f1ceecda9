//! Integration tests of the Bitunix client against the protocol-faithful simulator, over
//! real loopback sockets, on tokio's paused clock (the suite runs in seconds, no sleeping to
//! green: every wait is on virtual time and bounded).

// Test helpers outside `#[test]` functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod candles;
mod connection;
mod faults;
mod rest;
mod support;
mod tls;
