//! End-to-end tests: a live session against the simulator over real loopback sockets, the
//! backtest, and backtest ↔ live parity. One test binary, organised by module.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod alerts;
mod backtest;
mod browser;
mod catch_up_liquidation;
mod catch_up_shown;
mod dashboard;
mod funding_file;
mod golden_trades;
mod hostile;
mod implausible;
mod live_session;
mod support;
