//! The operator surface of a live session: what a person (or a service manager) watching an
//! unattended session can see and be told, without ever being able to slow trading down.
//!
//! # Layout
//! - [`health`]: the session's health verdict (fresh and able to trade, or why not), shared by
//!   `heartbeat.json`, `laptop-agents status` and `/healthz`.
//! - [`view`]: [`SessionView`], what the session publishes about itself.
//! - [`hub`]: the single-slot channel from the trading loop to every reader.
//! - [`http`]: the read-only HTTP server (dashboard, server-sent events, `/metrics`,
//!   `/healthz`); [`serve`]: its accept loop, bounded so that clients cannot exhaust the
//!   session's file descriptors; [`metrics`]: the Prometheus exposition.
//! - [`alerts`]: `logs/alerts.jsonl` and the webhook (generic JSON, Slack, Discord, ntfy),
//!   off the trading path.
//!
//! **Invariant:** nothing here can block or crash trading. The session publishes into
//! single-slot or bounded channels with non-blocking sends; everything that waits (sockets,
//! webhooks, slow clients) runs in its own tasks and is dropped or cut off, never awaited by
//! the trading loop, and no client can hold more of the process's resources (connections,
//! descriptors) than a fixed bound.

pub mod alerts;
pub mod error;
pub mod health;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod serve;
pub mod view;

pub use error::OpsError;
pub use health::{Health, HealthInputs};
pub use http::HttpServer;
pub use hub::{Publisher, Surface, channel};
pub use view::SessionView;
