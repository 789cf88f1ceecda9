//! One WebSocket connection: open (TCP, optional TLS, HTTP upgrade) under one deadline, then a
//! reader task and a writer task sharing the socket, reporting to the supervisor through one
//! channel.
//!
//! A [`Connection`] owns its tasks: [`Connection::close`] stops and awaits them (so no task
//! and no file descriptor outlives it), and dropping a `Connection` aborts them.

mod reader;
pub(crate) mod writer;

use std::{
    future::Future,
    sync::{Arc, Mutex as StdMutex, PoisonError},
    time::Duration,
};

use bytes::Bytes;
use fastwebsockets::{WebSocket, handshake};
use http_body_util::Empty;
use hyper::{Request, header, upgrade::Upgraded};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::{
    net::TcpStream,
    sync::{Mutex, mpsc},
    task::{AbortHandle, JoinHandle},
    time::Instant,
};
use tokio_rustls::TlsConnector;

use crate::{counters::Counters, decode::FrameRejection, endpoint::Endpoint, error::FeedError};
use writer::{Outbound, SendWindow};

/// Something a connection's tasks report to the supervisor.
#[derive(Debug)]
pub(crate) struct ConnEvent {
    pub(crate) conn_id: u64,
    pub(crate) kind: ConnEventKind,
}

#[derive(Debug)]
pub(crate) enum ConnEventKind {
    /// A complete text message.
    Text(Vec<u8>),
    /// A message rejected before decoding (binary, too large, invalid UTF-8), with its bytes
    /// (possibly empty) for the log sample.
    Rejected(FrameRejection, Vec<u8>),
    /// The connection ended, with a human-readable reason.
    Closed(String),
}

/// Spawns hyper's connection driver and remembers it, so a handshake that is abandoned (by
/// the connect deadline) leaves no task behind.
#[derive(Clone, Default)]
struct TrackedExecutor(Arc<StdMutex<Vec<AbortHandle>>>);

impl<F> hyper::rt::Executor<F> for TrackedExecutor
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, future: F) {
        let handle = tokio::spawn(future);
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(handle.abort_handle());
    }
}

impl TrackedExecutor {
    fn abort_all(&self) {
        for handle in self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            handle.abort();
        }
    }
}

/// How to open connections: target, TLS, limits.
#[derive(Clone)]
pub(crate) struct Connector {
    pub(crate) target: Endpoint,
    pub(crate) tls: TlsConnector,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_message_size: usize,
    pub(crate) max_msgs_per_window: u32,
    pub(crate) counters: Counters,
}

/// A live connection and its two tasks.
pub(crate) struct Connection {
    pub(crate) id: u64,
    pub(crate) opened_at: Instant,
    outbound: mpsc::Sender<Outbound>,
    reader: Option<JoinHandle<()>>,
    writer: Option<JoinHandle<()>>,
    executor: TrackedExecutor,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Opens connection `id` within the connect timeout.
    pub(crate) async fn open(
        &self,
        id: u64,
        events: mpsc::Sender<ConnEvent>,
    ) -> Result<Connection, FeedError> {
        let executor = TrackedExecutor::default();
        let ws = match tokio::time::timeout(self.connect_timeout, self.handshake(&executor)).await {
            Ok(Ok(ws)) => ws,
            Ok(Err(error)) => {
                executor.abort_all();
                return Err(error);
            }
            Err(_) => {
                executor.abort_all();
                return Err(FeedError::Timeout("WebSocket connect"));
            }
        };
        Ok(self.start(id, ws, events, executor))
    }

    async fn handshake(
        &self,
        executor: &TrackedExecutor,
    ) -> Result<WebSocket<TokioIo<Upgraded>>, FeedError> {
        let target = &self.target;
        let tcp = TcpStream::connect((target.host.as_str(), target.port)).await?;
        tcp.set_nodelay(true)?;
        let request = Request::builder()
            .method("GET")
            .uri(target.path.as_str())
            .header(header::HOST, target.host_header.as_str())
            .header(header::UPGRADE, "websocket")
            .header(header::CONNECTION, "upgrade")
            .header("Sec-WebSocket-Key", handshake::generate_key())
            .header("Sec-WebSocket-Version", "13")
            .body(Empty::<Bytes>::new())
            .map_err(|e| FeedError::WebSocket(format!("building the upgrade request: {e}")))?;
        let upgraded = if target.secure {
            let name = ServerName::try_from(target.host.clone())
                .map_err(|e| FeedError::Tls(format!("server name {:?}: {e}", target.host)))?;
            let stream = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| FeedError::Tls(e.to_string()))?;
            handshake::client(executor, request, stream).await
        } else {
            handshake::client(executor, request, tcp).await
        };
        upgraded
            .map(|(ws, _response)| ws)
            .map_err(|e| FeedError::WebSocket(format!("upgrade failed: {e}")))
    }

    fn start(
        &self,
        id: u64,
        mut ws: WebSocket<TokioIo<Upgraded>>,
        events: mpsc::Sender<ConnEvent>,
        executor: TrackedExecutor,
    ) -> Connection {
        // Bitunix never pings; if a server does, the reply goes through the rate window.
        ws.set_auto_pong(true);
        ws.set_auto_close(true);
        // fastwebsockets refuses a frame whose header announces `>= limit` bytes before it
        // reserves or reads the payload: a hostile frame above our cap never allocates.
        ws.set_max_message_size(self.max_message_size.saturating_add(1));
        let (read, write) = ws.split(tokio::io::split);
        let write = Arc::new(Mutex::new(write));
        let window = Arc::new(Mutex::new(SendWindow::new(self.max_msgs_per_window)));
        let (outbound, outbound_rx) = mpsc::channel(16);
        let reader = tokio::spawn(
            reader::ReaderTask {
                conn_id: id,
                read,
                write: Arc::clone(&write),
                window: Arc::clone(&window),
                events: events.clone(),
                counters: self.counters.clone(),
                max_message_size: self.max_message_size,
            }
            .run(),
        );
        let writer = tokio::spawn(
            writer::WriterTask {
                conn_id: id,
                write,
                window,
                outbound: outbound_rx,
                events,
                counters: self.counters.clone(),
            }
            .run(),
        );
        Connection {
            id,
            opened_at: Instant::now(),
            outbound,
            reader: Some(reader),
            writer: Some(writer),
            executor,
        }
    }
}

impl Connection {
    /// Queues a text frame; `false` if the writer is gone or its queue is full.
    pub(crate) fn send(&self, text: String) -> bool {
        self.outbound.try_send(Outbound::Text(text)).is_ok()
    }

    /// Stops the connection and waits for both tasks. With `graceful`, a close frame is
    /// attempted first (bounded by `grace`); a dead or half-open peer is simply cut.
    pub(crate) async fn close(mut self, graceful: bool, grace: Duration) {
        if graceful
            && self.outbound.try_send(Outbound::Close).is_ok()
            && let Some(mut writer) = self.writer.take()
            && tokio::time::timeout(grace, &mut writer).await.is_err()
        {
            writer.abort();
            let _ = writer.await;
        }
        self.shutdown_tasks().await;
    }

    async fn shutdown_tasks(&mut self) {
        self.executor.abort_all();
        for handle in [self.reader.take(), self.writer.take()]
            .into_iter()
            .flatten()
        {
            handle.abort();
            let _ = handle.await;
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.executor.abort_all();
        for handle in [self.reader.take(), self.writer.take()]
            .into_iter()
            .flatten()
        {
            handle.abort();
        }
    }
}

#[cfg(test)]
mod tests;
