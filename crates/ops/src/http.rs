//! The read-only HTTP surface of a live session: `/` (the dashboard), `/events` (server-sent
//! events feeding it), `/api/state` (the newest view as JSON), `/metrics` and `/healthz`.
//!
//! It runs in its own tasks on the session's runtime and only ever reads the [`Surface`]. One
//! encoder task turns each publication into JSON once (the equity curve only when it changed)
//! and puts it into a single-slot channel; every SSE client streams from that slot, so a slow
//! client skips to the newest state instead of queueing, and costs one pending event at most.
//! While no stream is open the encoder encodes nothing; a client that opens one is counted as a
//! watcher (see `hub`), wakes the encoder and waits for an encoding at least as new as the
//! view published when it joined. `/api/state`, `/metrics` and `/healthz` ask for a view of
//! the session as of now (`Surface::fresh`) and encode it on request.
//! At most [`MAX_SSE_CLIENTS`] streams are served at once, and at most
//! [`crate::serve::MAX_CONNECTIONS`] connections are open (see `serve`: the session's file
//! descriptors are not the clients' to take). On shutdown the streams end, the server drains
//! for at most a second and is then aborted: the session never waits on it.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::get,
};
use futures_util::stream::{self, Stream};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

use crate::{
    error::OpsError,
    hub::{Surface, Watching},
    metrics::Metrics,
};

/// SSE streams served at once; more get `503`.
pub const MAX_SSE_CLIENTS: usize = 32;

/// The dashboard page: one self-contained document (inline CSS, JS and SVG; no remote asset).
const DASHBOARD: &str = include_str!("dashboard.html");

/// The newest view, encoded once for every client.
#[derive(Clone, Debug, Default)]
struct Encoded {
    /// The encoded view's publication number + 1 (0: nothing encoded yet).
    seq: u64,
    state: Arc<str>,
    curve: Arc<str>,
    curve_version: u64,
}

#[derive(Clone)]
struct AppState {
    surface: Surface,
    encoded: watch::Receiver<Encoded>,
    metrics: Arc<Metrics>,
    closing: watch::Receiver<bool>,
}

/// A running HTTP surface.
#[derive(Debug)]
pub struct HttpServer {
    local_addr: SocketAddr,
    closing: watch::Sender<bool>,
    server: JoinHandle<()>,
    encoder: JoinHandle<()>,
}

impl HttpServer {
    /// Binds `addr` and starts serving `surface`.
    ///
    /// # Errors
    /// [`OpsError::Bind`] when the address cannot be bound (in use, not local, no permission).
    pub async fn start(addr: SocketAddr, surface: Surface) -> Result<Self, OpsError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| OpsError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| OpsError::Bind { addr, source })?;
        let (encoded_tx, encoded) = watch::channel(Encoded::default());
        let (closing, closing_rx) = watch::channel(false);
        let encoder = tokio::spawn(encode_views(surface.clone(), encoded_tx));
        let state = AppState {
            metrics: Arc::new(Metrics::new(&surface)),
            surface,
            encoded,
            closing: closing_rx.clone(),
        };
        let app = Router::new()
            .route("/", get(dashboard))
            .route("/events", get(events))
            .route("/api/state", get(api_state))
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .with_state(state);
        let server = tokio::spawn(crate::serve::serve(listener, app, closing_rx));
        Ok(Self {
            local_addr,
            closing,
            server,
            encoder,
        })
    }

    /// The bound address (the real port when 0 was asked for).
    pub const fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Ends the event streams, lets open requests finish for at most `grace`, then stops.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.closing.send(true);
        let mut server = self.server;
        if tokio::time::timeout(grace, &mut server).await.is_err() {
            server.abort();
        }
        self.encoder.abort();
    }
}

/// Encodes each publication once (the state always, the curve when it changed) while a
/// client watches. While none does it sleeps until one joins: publications (on request of
/// `/metrics` and the like) do not wake it.
async fn encode_views(mut surface: Surface, slot: watch::Sender<Encoded>) {
    let mut last_curve: Option<Arc<Vec<crate::view::CurvePoint>>> = None;
    let mut encoded = Encoded::default();
    let joins = surface.clone();
    loop {
        if !surface.watched() {
            joins.watcher_joined().await;
            continue;
        }
        let view = surface.latest_and_mark_seen();
        encoded.seq = view.seq + 1;
        encoded.state = Arc::from(serde_json::to_string(&*view).unwrap_or_default());
        if last_curve
            .as_ref()
            .is_none_or(|last| !Arc::ptr_eq(last, &view.curve))
        {
            last_curve = Some(Arc::clone(&view.curve));
            encoded.curve = Arc::from(serde_json::to_string(&*view.curve).unwrap_or_default());
            encoded.curve_version += 1;
        }
        slot.send_replace(encoded.clone());
        tokio::select! {
            changed = surface.changed() => if !changed { break },
            () = joins.watcher_joined() => {}
        }
    }
}

async fn dashboard() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        DASHBOARD,
    )
}

async fn api_state(State(state): State<AppState>) -> Response {
    let body = serde_json::to_string(&*state.surface.fresh().await).unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    // The collectors read the newest view: make it one of now.
    state.surface.fresh().await;
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

async fn healthz(State(state): State<AppState>) -> Response {
    let health = state.surface.health().await;
    let code = if health.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        serde_json::to_string(&health).unwrap_or_default(),
    )
        .into_response()
}

/// Decrements the client count when a stream ends or its client goes away.
async fn events(State(state): State<AppState>) -> Response {
    let Some(watching) = state.surface.watch(MAX_SSE_CLIENTS) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many dashboard clients",
        )
            .into_response();
    };
    let joined_at = state.surface.latest().seq + 1;
    Sse::new(client_stream(
        state.encoded,
        state.closing,
        watching,
        joined_at,
    ))
    .keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
    .into_response()
}

/// One client's events: `curve` when the curve changed since this client last got it, then
/// `state`. The first waits for an encoding at least as new as the view published when the
/// client joined (`first_seq`), each later one for a newer encoding. Ends when the server
/// closes.
fn client_stream(
    encoded: watch::Receiver<Encoded>,
    closing: watch::Receiver<bool>,
    watching: Watching,
    first_seq: u64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    struct Client {
        encoded: watch::Receiver<Encoded>,
        closing: watch::Receiver<bool>,
        curve_sent: u64,
        pending: Option<Event>,
        next_seq: u64,
        _watching: Watching,
    }
    let client = Client {
        encoded,
        closing,
        curve_sent: 0,
        pending: None,
        next_seq: first_seq,
        _watching: watching,
    };
    stream::unfold(client, |mut client| async move {
        if let Some(event) = client.pending.take() {
            return Some((Ok(event), client));
        }
        let now = loop {
            {
                let current = client.encoded.borrow_and_update();
                if current.seq >= client.next_seq {
                    break current.clone();
                }
            }
            tokio::select! {
                changed = client.encoded.changed() => if changed.is_err() { return None },
                _ = client.closing.wait_for(|closing| *closing) => return None,
            }
        };
        client.next_seq = now.seq + 1;
        // Tells EventSource to retry after 1 s when the session restarts.
        let state = Event::default()
            .event("state")
            .retry(Duration::from_secs(1))
            .data(&*now.state);
        if now.curve_version != client.curve_sent && !now.curve.is_empty() {
            client.curve_sent = now.curve_version;
            client.pending = Some(state);
            return Some((
                Ok(Event::default().event("curve").data(&*now.curve)),
                client,
            ));
        }
        Some((Ok(state), client))
    })
}
