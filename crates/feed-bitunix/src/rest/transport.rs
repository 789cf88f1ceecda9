//! The REST transport: hyper + hyper-rustls (ring), one shared request limiter, the Bitunix
//! envelope, and retries within a budget.
//!
//! Classification of every answer:
//! - HTTP 200 with `code: 0` → the `data` payload;
//! - `code` 10005/10006, or HTTP 429 → [`FeedError::RateLimited`] (retried with jittered
//!   backoff);
//! - any other `code` (errors arrive with HTTP 200) → [`FeedError::Api`] (not retried);
//! - HTTP 5xx (often an HTML body from the CDN), timeouts, transport errors → retried;
//! - other HTTP statuses, unparsable bodies → typed errors, not retried.
//!
//! The limiter is `governor`'s GCRA with a burst of 1, driven by tokio's clock (so paused-time
//! tests are exact): requests are spaced at least `1 s / rest_requests_per_sec` apart, so no
//! one-second window ever holds more than `rest_requests_per_sec` requests.

use std::{
    num::NonZeroU32,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use bytes::Bytes;
use governor::{
    Quota, RateLimiter,
    clock::Clock as GovernorClock,
    middleware::NoOpMiddleware,
    state::{InMemoryState, NotKeyed},
};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{Request, StatusCode, header};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Deserialize;
use tokio::time::Instant;

use crate::{
    backoff::Backoff, config::FeedConfig, counters::Counters, error::FeedError, logging,
    logging::LogLimiter, tls,
};

/// Largest REST body read (a 200-row kline page is about 30 KB).
const MAX_BODY_BYTES: usize = 8 << 20;

/// governor's clock on tokio time (paused in tests, monotonic in production).
#[derive(Clone, Debug)]
pub(crate) struct TokioClock {
    start: Instant,
}

impl GovernorClock for TokioClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.start)
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

#[derive(Deserialize)]
struct Envelope {
    code: Option<serde_json::Value>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    data: serde_json::Value,
}

/// The shared HTTP machinery of one [`crate::RestClient`].
pub(crate) struct Transport {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    base: String,
    limiter: Limiter,
    clock: TokioClock,
    timeout: Duration,
    retry_budget: u32,
    backoff_initial: Duration,
    backoff_max: Duration,
    rng: Mutex<StdRng>,
    counters: Counters,
    logs: LogLimiter,
    symbol: String,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub(crate) fn new(config: &FeedConfig, counters: Counters) -> Result<Self, FeedError> {
        config.validate()?;
        let endpoint =
            crate::endpoint::Endpoint::parse(&config.rest_url, crate::endpoint::Kind::Http)?;
        let tls = tls::client_config(config.tls_roots.as_deref())?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(2)
            .build(connector);
        let per_request = Duration::from_secs(1) / config.rest_requests_per_sec.max(1);
        let quota = Quota::with_period(per_request)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        let clock = TokioClock {
            start: Instant::now(),
        };
        Ok(Self {
            client,
            base: endpoint.base(crate::endpoint::Kind::Http),
            limiter: RateLimiter::direct_with_clock(quota, clock.clone()),
            clock,
            timeout: config.rest_timeout,
            retry_budget: config.rest_retry_budget,
            backoff_initial: config.rest_backoff_initial,
            backoff_max: config.rest_backoff_max,
            rng: Mutex::new(StdRng::seed_from_u64(config.seed ^ 0x7265_7374)),
            counters,
            logs: LogLimiter::new(Duration::from_secs(10)),
            symbol: config.symbol.to_string(),
        })
    }

    /// Waits for a permit of the shared limiter.
    async fn acquire(&self) {
        while let Err(not_until) = self.limiter.check() {
            tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
        }
    }

    /// GETs `path_and_query` and returns the envelope's `data`, retrying within the budget.
    pub(crate) async fn get(&self, path_and_query: &str) -> Result<serde_json::Value, FeedError> {
        self.get_answer(path_and_query)
            .await
            .map(|answer| answer.data)
    }

    /// [`Transport::get`], with the answer's HTTP `Date` header.
    pub(crate) async fn get_answer(&self, path_and_query: &str) -> Result<Answer, FeedError> {
        let url = format!("{}{}", self.base, path_and_query);
        let seed = self
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .random();
        let mut backoff = Backoff::new(self.backoff_initial, self.backoff_max, false, seed);
        loop {
            self.acquire().await;
            let result = self.once(&url).await;
            let label = match &result {
                Ok(_) => "ok",
                Err(e) => e.as_str(),
            };
            self.counters.bump(|c| &mut c.rest_by_outcome, label);
            match result {
                Ok(data) => return Ok(data),
                Err(error) if error.is_retryable() && backoff.attempt() < self.retry_budget => {
                    let delay = backoff.next_delay();
                    if let Some(suppressed) = self.logs.permit(label) {
                        tracing::warn!(
                            symbol = %self.symbol,
                            path = path_and_query,
                            %error,
                            attempt = backoff.attempt(),
                            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                            suppressed,
                            "REST request failed; retrying"
                        );
                    }
                    tokio::time::sleep(delay).await;
                }
                Err(error) => {
                    tracing::warn!(
                        symbol = %self.symbol,
                        path = path_and_query,
                        error = %error,
                        "REST request failed"
                    );
                    return Err(error);
                }
            }
        }
    }

    /// One request, classified.
    async fn once(&self, url: &str) -> Result<Answer, FeedError> {
        let request = Request::get(url)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, "laptop-agents/0.1")
            .body(Empty::<Bytes>::new())
            .map_err(|e| FeedError::InvalidUrl {
                url: la_core::redact_url(url),
                reason: e.to_string(),
            })?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| FeedError::Transport(la_core::error_chain(&e)))?;
            let status = response.status();
            let date = response
                .headers()
                .get(header::DATE)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|e| FeedError::Transport(format!("reading body: {e}")))?
                .to_bytes();
            Ok::<_, FeedError>((status, date, body))
        };
        let (status, date, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| FeedError::Timeout("REST request"))??;
        Ok(Answer {
            data: classify(status, &body, &self.symbol)?,
            date,
        })
    }
}

/// A successful answer: the envelope's `data` and the raw HTTP `Date` header, if any.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) data: serde_json::Value,
    pub(crate) date: Option<String>,
}

/// Classifies one HTTP answer.
pub(crate) fn classify(
    status: StatusCode,
    body: &[u8],
    symbol: &str,
) -> Result<serde_json::Value, FeedError> {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(FeedError::RateLimited);
    }
    if status != StatusCode::OK {
        tracing::debug!(symbol, status = status.as_u16(), body = %logging::sample(body), "REST HTTP error");
        return Err(FeedError::Http {
            status: status.as_u16(),
        });
    }
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|e| FeedError::Decode(format!("{e}; body starts {:?}", logging::sample(body))))?;
    let code = envelope
        .code
        .as_ref()
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| FeedError::Decode("envelope `code` missing or not an integer".to_owned()))?;
    match code {
        0 => Ok(envelope.data),
        10005 | 10006 => Err(FeedError::RateLimited),
        _ => Err(FeedError::Api {
            code,
            msg: envelope.msg.unwrap_or_default(),
        }),
    }
}
