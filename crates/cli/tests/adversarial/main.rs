//! The release checklist of hostile conditions, against the real binary (`LA_TEST_BINARY`
//! when set, so `cargo xtask ci` repeats them on the release build): concurrent starts and
//! stale locks, corrupt and tampered state, a torn journal, symlinks planted in the
//! workspace, SIGHUP and closed pipes, secrets in URLs, file modes, and reruns on a
//! workspace whose account is ahead of the data. Each module names one family.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/candles.rs"]
mod candles;
#[path = "../common/process.rs"]
mod process;
#[path = "../common/workspace.rs"]
mod workspace;

mod http_flood;
mod journal;
mod lock;
mod rerun;
mod secrets;
mod signals;
mod state;
mod symlinks;
