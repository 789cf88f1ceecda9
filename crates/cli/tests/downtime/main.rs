//! Downtime caught up, end to end against a scripted simulator: in process and as the real
//! binary under real signals (SIGSTOP/SIGCONT, SIGKILL and a restart).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/process.rs"]
mod common;
mod fetch;
mod in_process;
mod process;
mod support;
