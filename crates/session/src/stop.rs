//! Why a session stopped: [`StopReason`], the closed set of reasons.
//!
//! Nothing but the supervisor loop decides a stop: every stop condition (a signal, a stop
//! file, a timer, a handler's failure) is an arm of that one `select!` loop, the first arm to
//! return a reason ends it, and exactly that one reason is recorded, however many
//! conditions hold at once.

/// Defined in the run-file schema (it is written to `summary.json`); re-exported here
/// because the session is what decides it.
pub use la_run_schema::StopReason;
