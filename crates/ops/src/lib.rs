//! The operator surface of a live session: what a person (or a service manager) watching an
//! unattended session can see and be told, without ever being able to slow trading down.
//!
//! # Layout
//! - [`health`]: the session's health verdict (fresh and able to trade, or why not), shared by
//!   `heartbeat.json`, `laptop-agents status` and `/healthz`.
//!
//! **Invariant:** nothing here can block or crash trading. The session publishes into
//! single-slot or bounded channels with non-blocking sends; everything that waits (sockets,
//! webhooks, slow clients) runs in its own tasks and is dropped or cut off, never awaited by
//! the trading loop.

pub mod health;

pub use health::{Health, HealthInputs};
