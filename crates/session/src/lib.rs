//! The composer: turns a feed, a strategy and a broker into the autonomous live session and
//! the backtest.
//!
//! # Layout
//! - [`engine`]: the synchronous trading engine both modes drive (parity by construction).
//! - [`live`]: start-up, the supervisor loop, its timers and the one shutdown path that
//!   records exactly one [`StopReason`].
//! - [`backtest`]: historical candles through the same engine; [`funding`] is the pure
//!   funding schedule both modes use; [`funding_source`] is where a replay's rates come from
//!   (none, a constant, a file, the exchange's history).
//! - [`sources`]: Bitunix, the in-process simulator, or the mock generator.
//! - [`state`], [`journal`], [`run_files`], [`status`], [`workspace`]: everything on disk.
//! - [`config`]: raw and validated run configuration.
//! - [`walk_forward`]: folds, window runs with warm-up, the objective, the stitched
//!   out-of-sample account.
//!
//! **Invariant:** the only crate that composes feed, strategy and broker; nothing here
//! parses exchange JSON or decides trades.

pub mod backtest;
pub mod breaker;
pub mod candle_file;
pub mod catch_up;
pub mod config;
pub mod download;
pub mod downtime;
pub mod engine;
pub mod error;
pub mod funding;
pub mod funding_file;
pub mod funding_source;
pub mod intrabar;
pub mod journal;
pub mod live;
pub mod logging;
pub mod mock_feed;
pub mod recovery;
pub mod rotation;
pub mod run_files;
pub mod sources;
pub mod state;
pub mod stats;
pub mod status;
pub mod stop;
pub mod time_fmt;
pub mod walk_forward;
pub mod workspace;

#[cfg(test)]
mod tests;

pub use config::{RawRunConfig, RunConfig, Source};
pub use error::{SessionError, error_chain};
pub use la_run_schema::{RunResults, RunSummary, inputs::FundingModel};
pub use live::{SessionHooks, run};
pub use stop::StopReason;
