//! Alerts: every alert is appended to `logs/alerts.jsonl` and, when a webhook is configured,
//! POSTed to it as JSON in the shape the receiver expects (generic, Slack, Discord, ntfy).
//!
//! The session hands an alert over with a non-blocking `try_send` into a bounded queue; a
//! full queue drops the alert (counted and logged), never the tick. One task appends to the
//! file; a second posts to the webhook, each attempt time-limited, retried with a doubling
//! backoff, from its own bounded queue. A webhook that hangs or fails therefore delays only
//! later webhook posts, never trading and never the file. The webhook URL is a secret: it is
//! only ever shown as its scheme and host.

use std::{
    fmt,
    io::Write as _,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, header};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde::Serialize;
use tokio::{sync::mpsc, task::JoinHandle};

/// Alerts waiting for the file writer, and posts waiting for the webhook.
const QUEUE: usize = 64;

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The session stopped (`stopped_reason` in the fields).
    SessionStopped,
    /// A rung of the stale-data ladder was reached (`stage` in the fields).
    StaleData,
    /// Market data resumed after a stale period.
    DataResumed,
    /// The circuit breaker tripped.
    CircuitBreaker,
    /// The kill switch was engaged.
    KillSwitch,
    /// A state save failed (trading continues on in-memory state).
    StateSaveFailed,
    /// State saves succeed again after a failure.
    StateSaveRecovered,
    /// The previous session in this workspace ended without a clean shutdown.
    UncleanRestart,
    /// The session is catching up after downtime.
    CatchUp,
    /// The daily digest.
    DailyDigest,
}

impl AlertKind {
    /// Stable label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SessionStopped => "session_stopped",
            Self::StaleData => "stale_data",
            Self::DataResumed => "data_resumed",
            Self::CircuitBreaker => "circuit_breaker",
            Self::KillSwitch => "kill_switch",
            Self::StateSaveFailed => "state_save_failed",
            Self::StateSaveRecovered => "state_save_recovered",
            Self::UncleanRestart => "unclean_restart",
            Self::CatchUp => "catch_up",
            Self::DailyDigest => "daily_digest",
        }
    }
}

/// How urgent an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For the record (digest, recovery).
    Info,
    /// Needs a look.
    Warning,
    /// Trading stopped or is at risk.
    Critical,
}

/// One alert: the generic JSON body, and one line of `logs/alerts.jsonl`.
#[derive(Clone, Debug, Serialize)]
pub struct Alert {
    /// What it is about.
    pub kind: AlertKind,
    /// How urgent.
    pub severity: Severity,
    /// Instrument.
    pub symbol: String,
    /// Run id.
    pub run_id: String,
    /// Wall-clock time it was raised (RFC 3339).
    pub at: String,
    /// The session's event clock (exchange time, epoch ms) when it was raised.
    pub event_ts_ms: Option<i64>,
    /// One line for a human.
    pub title: String,
    /// Details.
    pub message: String,
    /// Machine-readable details (`stopped_reason`, `stage`, the digest's figures, ...).
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// The JSON shape the webhook receiver expects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BodyShape {
    /// The [`Alert`] as is.
    #[default]
    Generic,
    /// A Slack incoming webhook: `{"text": ...}`.
    Slack,
    /// A Discord webhook: `{"content": ...}`.
    Discord,
    /// ntfy's JSON publishing: POST to the server root with `topic` taken from the URL path.
    Ntfy,
}

impl BodyShape {
    /// The label the `format` key takes.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Generic => "generic",
            Self::Slack => "slack",
            Self::Discord => "discord",
            Self::Ntfy => "ntfy",
        }
    }
}

impl std::str::FromStr for BodyShape {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "generic" | "json" => Ok(Self::Generic),
            "slack" => Ok(Self::Slack),
            "discord" => Ok(Self::Discord),
            "ntfy" => Ok(Self::Ntfy),
            other => Err(format!(
                "unknown alert format {other:?}; allowed: generic, slack, discord, ntfy"
            )),
        }
    }
}

/// A webhook URL: a secret, so `Debug` and `Display` show only its scheme and host.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    url: String,
    /// Scheme and host without userinfo: where an ntfy body is posted.
    scheme_and_host: String,
}

impl WebhookUrl {
    /// Checks the form (`http://` or `https://`, a host).
    ///
    /// # Errors
    /// A message that does not repeat the URL.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| "the alert webhook must start with http:// or https://".to_owned())?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = host.rsplit('@').next().unwrap_or_default();
        if host.is_empty() {
            return Err("the alert webhook has no host".to_owned());
        }
        let scheme = if url.starts_with("https://") {
            "https"
        } else {
            "http"
        };
        url.parse::<hyper::Uri>()
            .map_err(|_| "the alert webhook is not a valid URL".to_owned())?;
        Ok(Self {
            url: url.to_owned(),
            scheme_and_host: format!("{scheme}://{host}"),
        })
    }

    /// The redacted form (`https://host/…`): the path of a webhook is its secret, so only the
    /// origin is shown (`la_core::url_origin`, the redaction every other URL goes through too).
    pub fn redacted(&self) -> String {
        format!("{}/…", la_core::url_origin(&self.url))
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Where alerts go.
#[derive(Clone, Debug)]
pub struct AlertConfig {
    /// `logs/alerts.jsonl`.
    pub log_path: PathBuf,
    /// The webhook, if any.
    pub webhook: Option<WebhookUrl>,
    /// Its body shape.
    pub shape: BodyShape,
    /// Attempts per alert (first try included).
    pub attempts: u32,
    /// Time limit of one attempt.
    pub attempt_timeout: Duration,
    /// Wait before the first retry (doubles after each).
    pub first_backoff: Duration,
}

impl AlertConfig {
    /// Alerts to `log_path` and `webhook` with the default retry policy: 4 attempts of at
    /// most 5 s, 1 s → 2 s → 4 s apart.
    pub fn new(log_path: PathBuf, webhook: Option<WebhookUrl>, shape: BodyShape) -> Self {
        Self {
            log_path,
            webhook,
            shape,
            attempts: 4,
            attempt_timeout: Duration::from_secs(5),
            first_backoff: Duration::from_secs(1),
        }
    }
}

/// Counts of what happened to alerts.
#[derive(Debug, Default)]
pub struct AlertCounters {
    /// Alerts dropped because a queue was full.
    pub dropped: AtomicU64,
    /// Alerts delivered to the webhook.
    pub delivered: AtomicU64,
    /// Alerts the webhook never accepted after every attempt.
    pub failed: AtomicU64,
}

/// The session's handle: raise alerts without waiting.
#[derive(Debug)]
pub struct Alerter {
    queue: mpsc::Sender<Alert>,
    counters: Arc<AlertCounters>,
    writer: JoinHandle<()>,
    poster: Option<JoinHandle<()>>,
}

impl Alerter {
    /// Starts the file writer (and the webhook poster when a webhook is configured).
    pub fn spawn(config: AlertConfig) -> Self {
        let counters = Arc::new(AlertCounters::default());
        let (queue, mut inbox) = mpsc::channel::<Alert>(QUEUE);
        let (post_tx, poster) = match config.webhook.clone() {
            Some(url) => {
                let (tx, rx) = mpsc::channel::<Alert>(QUEUE);
                let poster =
                    tokio::spawn(post_alerts(rx, url, config.clone(), Arc::clone(&counters)));
                (Some(tx), Some(poster))
            }
            None => (None, None),
        };
        let writer_counters = Arc::clone(&counters);
        let log_path = config.log_path;
        let writer = tokio::spawn(async move {
            while let Some(alert) = inbox.recv().await {
                append_line(&log_path, &alert);
                if let Some(post) = &post_tx
                    && post.try_send(alert).is_err()
                {
                    writer_counters.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        "alert webhook queue full; alert not posted (it is in alerts.jsonl)"
                    );
                }
            }
        });
        Self {
            queue,
            counters,
            writer,
            poster,
        }
    }

    /// Raises an alert; never waits. A full queue drops it (counted, logged).
    pub fn raise(&self, alert: Alert) {
        tracing::info!(symbol = %alert.symbol, kind = alert.kind.as_str(), title = %alert.title, "alert");
        if self.queue.try_send(alert).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("alert queue full; alert dropped");
        }
    }

    /// The counters.
    pub fn counters(&self) -> &AlertCounters {
        &self.counters
    }

    /// Lets queued alerts reach the file and the webhook for at most `grace`, then stops.
    pub async fn close(self, grace: Duration) {
        let Self {
            queue,
            writer,
            poster,
            ..
        } = self;
        drop(queue);
        let drain = async {
            let _ = writer.await;
            if let Some(poster) = poster {
                let mut poster = poster;
                if tokio::time::timeout(grace, &mut poster).await.is_err() {
                    poster.abort();
                }
            }
        };
        let _ = tokio::time::timeout(grace, drain).await;
    }
}

/// Appends one JSON line (owner-only permissions, never through a symlink).
fn append_line(path: &std::path::Path, alert: &Alert) {
    let Ok(mut line) = serde_json::to_vec(alert) else {
        return;
    };
    line.push(b'\n');
    let written = la_private_fs::open_private(path, la_private_fs::PrivateOpen::Append)
        .and_then(|mut file| file.write_all(&line));
    if let Err(err) = written {
        tracing::error!(path = %path.display(), error = &err as &dyn std::error::Error, "cannot append to the alert log");
    }
}

/// The webhook body for `alert` in `shape`, and the URL to post it to.
pub fn webhook_request(
    alert: &Alert,
    url: &WebhookUrl,
    shape: BodyShape,
) -> (String, serde_json::Value) {
    let text = format!("[{}] {}: {}", alert.symbol, alert.title, alert.message);
    match shape {
        BodyShape::Generic => (
            url.url.clone(),
            serde_json::to_value(alert).unwrap_or_default(),
        ),
        BodyShape::Slack => (url.url.clone(), serde_json::json!({ "text": text })),
        BodyShape::Discord => (url.url.clone(), serde_json::json!({ "content": text })),
        BodyShape::Ntfy => {
            let after_scheme = url.url.split_once("://").map_or("", |(_, rest)| rest);
            let (_, path) = after_scheme.split_once('/').unwrap_or((after_scheme, ""));
            let topic = path
                .split(['?', '#'])
                .next()
                .unwrap_or_default()
                .trim_matches('/');
            let priority = match alert.severity {
                Severity::Info => 3,
                Severity::Warning => 4,
                Severity::Critical => 5,
            };
            (
                format!("{}/", url.scheme_and_host),
                serde_json::json!({
                    "topic": topic,
                    "title": format!("[{}] {}", alert.symbol, alert.title),
                    "message": alert.message,
                    "priority": priority,
                    "tags": [alert.kind.as_str()],
                }),
            )
        }
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

fn https_client() -> Result<HttpsClient, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(provider)
        .map_err(|e| e.to_string())?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

async fn post_alerts(
    mut inbox: mpsc::Receiver<Alert>,
    url: WebhookUrl,
    config: AlertConfig,
    counters: Arc<AlertCounters>,
) {
    let client = match https_client() {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = %err, "cannot build the alert webhook client; alerts go to alerts.jsonl only");
            return;
        }
    };
    while let Some(alert) = inbox.recv().await {
        let (target, body) = webhook_request(&alert, &url, config.shape);
        let body = Bytes::from(body.to_string());
        let mut backoff = config.first_backoff;
        let mut delivered = false;
        for attempt in 1..=config.attempts.max(1) {
            let request = Request::post(target.as_str())
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::USER_AGENT, "laptop-agents")
                .body(Full::new(body.clone()));
            let outcome = match request {
                Ok(request) => {
                    tokio::time::timeout(config.attempt_timeout, client.request(request))
                        .await
                        .map_err(|_| "timed out".to_owned())
                        .and_then(|r| r.map_err(|e| la_core::error_chain(&e)))
                }
                Err(err) => Err(err.to_string()),
            };
            match outcome {
                Ok(response) if response.status().is_success() => {
                    delivered = true;
                    break;
                }
                Ok(response) => {
                    tracing::warn!(webhook = %url, status = response.status().as_u16(), attempt, kind = alert.kind.as_str(), "alert webhook refused the alert")
                }
                Err(cause) => {
                    tracing::warn!(webhook = %url, error = %cause, attempt, kind = alert.kind.as_str(), "alert webhook unreachable")
                }
            }
            if attempt < config.attempts {
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
            }
        }
        if delivered {
            counters.delivered.fetch_add(1, Ordering::Relaxed);
        } else {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(webhook = %url, kind = alert.kind.as_str(), "alert not delivered to the webhook after every attempt (it is in alerts.jsonl)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Alert {
        Alert {
            kind: AlertKind::StaleData,
            severity: Severity::Warning,
            symbol: "BTCUSDT".into(),
            run_id: "r".into(),
            at: String::new(),
            event_ts_ms: Some(1),
            title: "no market data".into(),
            message: "for 15 s".into(),
            fields: serde_json::Map::new(),
        }
    }

    #[test]
    fn a_webhook_url_is_never_shown_beyond_its_host() {
        let url = WebhookUrl::parse("https://hooks.example.com/services/T000/B000/SECRET")
            .unwrap_or_else(|e| panic!("{e}"));
        for shown in [format!("{url}"), format!("{url:?}"), url.redacted()] {
            assert!(
                !shown.contains("SECRET") && !shown.contains("T000"),
                "{shown}"
            );
            assert!(shown.starts_with("https://hooks.example.com"), "{shown}");
        }
        let with_user =
            WebhookUrl::parse("https://user:pw@host.example/x").unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !with_user.redacted().contains("pw"),
            "{}",
            with_user.redacted()
        );
        assert!(WebhookUrl::parse("ftp://x").is_err());
        assert!(WebhookUrl::parse("https:///path").is_err());
    }

    #[test]
    fn each_body_shape_matches_its_receiver() {
        let url = WebhookUrl::parse("https://ntfy.example/laptop-alerts")
            .unwrap_or_else(|e| panic!("{e}"));
        let (target, slack) = webhook_request(&alert(), &url, BodyShape::Slack);
        assert_eq!(target, "https://ntfy.example/laptop-alerts");
        assert!(
            slack["text"]
                .as_str()
                .is_some_and(|t| t.contains("no market data"))
        );
        let (_, discord) = webhook_request(&alert(), &url, BodyShape::Discord);
        assert!(
            discord["content"]
                .as_str()
                .is_some_and(|t| t.contains("for 15 s"))
        );
        let (target, ntfy) = webhook_request(&alert(), &url, BodyShape::Ntfy);
        assert_eq!(target, "https://ntfy.example/");
        assert_eq!(ntfy["topic"], "laptop-alerts");
        assert_eq!(ntfy["priority"], 4);
        let (_, generic) = webhook_request(&alert(), &url, BodyShape::Generic);
        assert_eq!(generic["kind"], "stale_data");
        assert_eq!(generic["severity"], "warning");
    }
}
