//! The JSON-lines log format of `logs/system.jsonl`, as a `tracing` layer.
//!
//! One object per line: `timestamp` (RFC 3339 UTC), `level`, `target`, `message`, `symbol`,
//! then the event's own fields. Error-level events, and any event carrying an `error`
//! field, add `error` (the top-level message) and `error_chain` (every cause, outermost
//! first) — so a failure can be diagnosed from one line. The layer never panics: a write
//! failure is counted and dropped. The file rotates by size and by UTC day
//! ([`crate::rotation`]), so a session left running for days keeps `logs/` under a cap.
//!
//! [`WarningsOnly`] narrows whatever subscriber is in effect to warnings and errors for a
//! stretch of work run many times over (a sweep's parameter sets), whose per-trade
//! information lines nobody reads and would otherwise fill and rotate away the log.

use std::{
    error::Error,
    fmt,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use la_core::Clock;

use serde_json::{Map, Value};
use tracing::{
    Dispatch, Event, Level, Metadata, Subscriber,
    field::{Field, Visit},
    level_filters::LevelFilter,
    span,
    subscriber::Interest,
};
use tracing_subscriber::{Layer, layer::Context};

use crate::{
    rotation::{RotatingFile, RotationPolicy},
    time_fmt::now_rfc3339,
};

/// Writes every event as one JSON line.
#[derive(Debug)]
pub struct JsonLogLayer {
    out: Mutex<RotatingFile>,
    default_symbol: String,
    write_failures: AtomicU64,
}

impl JsonLogLayer {
    /// Opens (appending, `0600`, never through a link) `path`, never rotated;
    /// `default_symbol` fills `symbol` when an event has none.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn open(path: &Path, default_symbol: &str) -> std::io::Result<Self> {
        Self::open_rotating(
            path,
            default_symbol,
            None,
            Arc::new(la_feed_bitunix::SystemClock),
        )
    }

    /// [`JsonLogLayer::open`], rotating per `policy` on `clock`'s days.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn open_rotating(
        path: &Path,
        default_symbol: &str,
        policy: Option<RotationPolicy>,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            out: Mutex::new(RotatingFile::open(path, policy, clock)?),
            default_symbol: default_symbol.to_owned(),
            write_failures: AtomicU64::new(0),
        })
    }

    /// Lines that could not be written.
    pub fn write_failures(&self) -> u64 {
        self.write_failures.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
struct JsonVisitor {
    fields: Map<String, Value>,
    message: Option<String>,
    error: Option<String>,
    chain: Vec<String>,
}

impl Visit for JsonVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else {
            self.fields
                .insert(field.name().to_owned(), Value::from(text));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else if field.name() == "error" {
            self.error = Some(value.to_owned());
        } else {
            self.fields
                .insert(field.name().to_owned(), Value::from(value));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        let mut chain = vec![value.to_string()];
        let mut source = value.source();
        while let Some(cause) = source {
            chain.push(cause.to_string());
            source = cause.source();
        }
        if field.name() == "error" || self.error.is_none() {
            self.error = Some(value.to_string());
            self.chain = chain;
        } else {
            self.fields
                .insert(field.name().to_owned(), Value::from(chain.join(": ")));
        }
    }
}

impl<S: Subscriber> Layer<S> for JsonLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = JsonVisitor::default();
        event.record(&mut visitor);
        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert("timestamp".into(), Value::from(now_rfc3339()));
        line.insert("level".into(), Value::from(metadata.level().as_str()));
        line.insert("target".into(), Value::from(metadata.target()));
        let message = visitor.message.clone().unwrap_or_default();
        line.insert("message".into(), Value::from(message.clone()));
        let symbol = visitor
            .fields
            .remove("symbol")
            .unwrap_or_else(|| Value::from(self.default_symbol.clone()));
        line.insert("symbol".into(), symbol);
        let is_error = *metadata.level() == Level::ERROR;
        if visitor.error.is_some() || is_error {
            let error = visitor.error.clone().unwrap_or_else(|| message.clone());
            let chain = if visitor.chain.is_empty() {
                vec![error.clone()]
            } else {
                visitor.chain.clone()
            };
            line.insert("error".into(), Value::from(error));
            line.insert("error_chain".into(), Value::from(chain));
        }
        line.extend(visitor.fields);
        let Ok(mut text) = serde_json::to_string(&Value::Object(line)) else {
            return;
        };
        text.push('\n');
        let written = match self.out.lock() {
            Ok(mut out) => out.write_line(text.as_bytes()).and_then(|()| out.flush()),
            Err(poisoned) => {
                let mut out = poisoned.into_inner();
                out.write_line(text.as_bytes()).and_then(|()| out.flush())
            }
        };
        if written.is_err() {
            self.write_failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A subscriber that passes warnings and errors to `inner` and drops every other event and
/// span before any field is formatted.
///
/// A sweep runs the same replay for hundreds of parameter sets at once: their fills, exits
/// and trailing-stop activations, logged at `info`, interleave without saying which set
/// they belong to, cost more instructions than a candle's strategy step, and rotate the
/// workspace's log (its live session's history) out of `logs/` within seconds. Warnings
/// (a tripped circuit breaker) and errors still reach the log. Install it per task with
/// [`tracing::dispatcher::with_default`]; build it once, since each new [`Dispatch`]
/// re-registers every callsite.
#[derive(Clone, Debug)]
pub struct WarningsOnly {
    inner: Dispatch,
}

impl WarningsOnly {
    /// The subscriber in effect on this thread, narrowed to warnings and errors.
    pub fn of_current() -> Dispatch {
        let inner = tracing::dispatcher::get_default(Dispatch::clone);
        Dispatch::new(Self { inner })
    }

    fn passes(metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::WARN
    }
}

impl Subscriber for WarningsOnly {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if Self::passes(metadata) {
            self.inner.register_callsite(metadata)
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::WARN)
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        Self::passes(metadata) && self.inner.enabled(metadata)
    }

    fn new_span(&self, span: &span::Attributes<'_>) -> span::Id {
        self.inner.new_span(span)
    }

    fn record(&self, span: &span::Id, values: &span::Record<'_>) {
        self.inner.record(span, values);
    }

    fn record_follows_from(&self, span: &span::Id, follows: &span::Id) {
        self.inner.record_follows_from(span, follows);
    }

    fn event(&self, event: &Event<'_>) {
        self.inner.event(event);
    }

    fn enter(&self, span: &span::Id) {
        self.inner.enter(span);
    }

    fn exit(&self, span: &span::Id) {
        self.inner.exit(span);
    }

    fn clone_span(&self, id: &span::Id) -> span::Id {
        self.inner.clone_span(id)
    }

    fn try_close(&self, id: span::Id) -> bool {
        self.inner.try_close(id)
    }
}
