//! The network side: one loopback listener serving both the WebSocket (`/public/`) and the
//! REST endpoints with hyper, optionally behind TLS on the same port.
//!
//! Pitfalls handled here (see `dependencies.md`): the connection is served
//! `.with_upgrades()`, the upgrade response body is mapped to the common body type, and
//! the `UpgradeFut` is awaited in a spawned task after the 101 response is returned.
//! `SlowAccept` delays serving a new TCP connection; `RefuseUpgrade` answers 503.

use std::{convert::Infallible, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{
    Request, Response, StatusCode, body::Incoming, server::conn::http1, service::service_fn,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch},
    time::Instant,
};
use tokio_rustls::TlsAcceptor;

use crate::{
    config::SimTls,
    error::SimError,
    rest::{self, Body},
    state::{Shared, lock, stopped},
    ws,
};

/// How long a TLS handshake may take.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything a connection task needs besides the socket.
#[derive(Clone)]
pub(crate) struct ConnCtx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Held by every task; shutdown waits until all clones are dropped.
    pub(crate) done: mpsc::Sender<()>,
}

/// Builds the TLS acceptor (ring provider, HTTP/1.1 ALPN).
pub(crate) fn tls_acceptor(tls: &SimTls) -> Result<TlsAcceptor, SimError> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = tls
        .cert_chain_der
        .iter()
        .map(|der| CertificateDer::from(der.clone()))
        .collect();
    let key = PrivateKeyDer::try_from(tls.key_der.clone())
        .map_err(|e| SimError::Tls(format!("private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SimError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| SimError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections until shutdown.
pub(crate) async fn accept_loop(listener: TcpListener, ctx: ConnCtx) {
    let mut shutdown = ctx.shutdown.clone();
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut shutdown) => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    ctx.shared.stat(|s| s.tcp_accepted += 1);
                    // Small frames must not wait for delayed ACKs (Nagle): a push is due
                    // when it is written, and paused-time tests rely on prompt delivery.
                    if let Err(error) = stream.set_nodelay(true) {
                        tracing::debug!(symbol = %ctx.shared.symbol, %error, "set_nodelay failed");
                    }
                    tokio::spawn(serve_tcp(stream, ctx.clone()));
                }
                Err(error) => {
                    tracing::warn!(symbol = %ctx.shared.symbol, %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

async fn serve_tcp(stream: TcpStream, mut ctx: ConnCtx) {
    let delay = lock(&ctx.shared.windows).accept_delay(Instant::now());
    if let Some(delay) = delay {
        tokio::select! {
            () = stopped(&mut ctx.shutdown) => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
    match ctx.tls.clone() {
        Some(acceptor) => {
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => serve_http(TokioIo::new(tls_stream), ctx).await,
                Ok(Err(error)) => {
                    tracing::debug!(symbol = %ctx.shared.symbol, %error, "TLS handshake failed");
                }
                Err(_) => tracing::debug!(symbol = %ctx.shared.symbol, "TLS handshake timed out"),
            }
        }
        None => serve_http(TokioIo::new(stream), ctx).await,
    }
}

async fn serve_http<I>(io: I, ctx: ConnCtx)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service_ctx = ctx.clone();
    let service = service_fn(move |req| {
        let ctx = service_ctx.clone();
        async move { Ok::<_, Infallible>(route(ctx, req).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let conn = builder.serve_connection(io, service).with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let mut shutdown = ctx.shutdown.clone();
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(symbol = %ctx.shared.symbol, %error, "http connection ended");
                }
                return;
            }
            () = stopped(&mut shutdown), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

async fn route(ctx: ConnCtx, mut req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if !fastwebsockets::upgrade::is_upgrade_request(&req) {
        let query = req.uri().query().map(str::to_owned);
        return rest::handle(Arc::clone(&ctx.shared), path, query).await;
    }
    let shared = &ctx.shared;
    if path != "/public/" && path != "/public" {
        shared.stat(|s| s.upgrades_refused += 1);
        return rest::plain(StatusCode::NOT_FOUND, Bytes::new(), "text/plain");
    }
    if lock(&shared.windows).refuse_upgrade(Instant::now()) {
        shared.stat(|s| s.upgrades_refused += 1);
        return rest::html_error(StatusCode::SERVICE_UNAVAILABLE);
    }
    match fastwebsockets::upgrade::upgrade(&mut req) {
        Ok((response, upgrade)) => {
            tokio::spawn(ws::serve_socket(
                Arc::clone(shared),
                upgrade,
                ctx.shutdown.clone(),
                ctx.done.clone(),
            ));
            response.map(|_| Full::new(Bytes::new()))
        }
        Err(error) => {
            tracing::debug!(symbol = %shared.symbol, %error, "bad websocket upgrade request");
            shared.stat(|s| s.upgrades_refused += 1);
            rest::plain(StatusCode::BAD_REQUEST, Bytes::new(), "text/plain")
        }
    }
}
