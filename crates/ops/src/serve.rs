//! The HTTP surface's accept loop, bounded so that no client can take from the session what
//! trading needs.
//!
//! Every accepted connection holds a file descriptor of the session's process, and so do its
//! state saves, its journal, its heartbeat and the market-data socket it reconnects. A laptop's
//! limit is often 256 or 1,024 descriptors: a local process opening connections and sending
//! nothing would otherwise exhaust it, and the session's next save would fail with "too many
//! open files". So at most [`MAX_CONNECTIONS`] connections are open at once (a client beyond
//! that waits in the kernel's accept backlog, holding no descriptor of ours); a request head
//! not received within [`HEADER_READ_TIMEOUT`] closes its connection (a client that connects
//! and sends nothing cannot hold a slot); and every connection closes after its response (no
//! idle keep-alive connection holds one either). Event streams are long responses and keep
//! their slot while they run; [`crate::http::MAX_SSE_CLIENTS`] is below the cap, so scrapes
//! and health checks always find room once stalled connections time out.

use std::{io, sync::Arc, time::Duration};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::{
    net::TcpListener,
    sync::{Semaphore, watch},
};

/// Connections open at once, event streams included.
pub const MAX_CONNECTIONS: usize = 64;
/// A connection whose request head has not arrived by then is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause after a failed accept (out of descriptors, most likely) before the next one.
const ACCEPT_RETRY: Duration = Duration::from_millis(250);

/// Serves `app` on `listener` until `closing` turns true, then lets open connections finish
/// (the caller bounds how long).
pub(crate) async fn serve(listener: TcpListener, app: Router, mut closing: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    let mut accept_failures: u64 = 0;
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = closing.wait_for(|closing| *closing) => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = closing.wait_for(|closing| *closing) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                accept_failed(&err, &mut accept_failures);
                drop(slot);
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .keep_alive(false)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that went away or timed out is its own business: nothing to log.
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Logs a failed accept: the first, then every power of two (a descriptor shortage can last).
fn accept_failed(err: &io::Error, failures: &mut u64) {
    *failures += 1;
    if failures.is_power_of_two() {
        tracing::warn!(
            error = err as &dyn std::error::Error,
            failures = *failures,
            "the HTTP surface cannot accept a connection; retrying"
        );
    }
}
