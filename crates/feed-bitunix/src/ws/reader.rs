//! The read side of one socket: a loop that never stops reading while the socket lives.
//!
//! fastwebsockets sends automatic close replies (and pongs, which Bitunix never needs) only
//! from inside `read_frame`, so this loop must always run; it hands complete messages to the
//! supervisor and never blocks on decoding.
//!
//! The size cap (`max_message_size`) is enforced at two levels. A single frame whose header
//! announces more is refused by fastwebsockets before the payload is reserved or read (its
//! limit is set just above the cap): it is reported as `too_large` and the connection is
//! dropped, since a frame cannot be skipped without reading it; the supervisor reconnects.
//! So a hostile 2 MiB frame never allocates 2 MiB. Fragmented messages are collected here:
//! each fragment is within the cap, and a message that outgrows it is read to its end,
//! reported as `too_large` and skipped with the connection kept. Binary messages and text
//! with invalid UTF-8 are reported as rejections, also without ending the connection.

use std::sync::Arc;

use fastwebsockets::{Frame, OpCode, WebSocketError, WebSocketRead};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::{
    io::ReadHalf,
    sync::{Mutex, mpsc},
};

use super::{
    ConnEvent, ConnEventKind,
    writer::{SendWindow, WriteSide},
};
use crate::{counters::Counters, decode::FrameRejection};

pub(crate) type ReadSide = WebSocketRead<ReadHalf<TokioIo<Upgraded>>>;

/// A message being reassembled from fragments.
struct Partial {
    opcode: OpCode,
    bytes: Vec<u8>,
    overflow: bool,
}

/// Everything the reader task needs.
pub(crate) struct ReaderTask {
    pub(crate) conn_id: u64,
    pub(crate) read: ReadSide,
    pub(crate) write: Arc<Mutex<WriteSide>>,
    pub(crate) window: Arc<Mutex<SendWindow>>,
    pub(crate) events: mpsc::Sender<ConnEvent>,
    pub(crate) counters: Counters,
    pub(crate) max_message_size: usize,
}

impl ReaderTask {
    async fn report(&mut self, kind: ConnEventKind) -> bool {
        self.events
            .send(ConnEvent {
                conn_id: self.conn_id,
                kind,
            })
            .await
            .is_ok()
    }

    async fn deliver(&mut self, opcode: OpCode, bytes: Vec<u8>, overflow: bool) -> bool {
        let kind = if opcode == OpCode::Binary {
            ConnEventKind::Rejected(FrameRejection::NotText, bytes)
        } else if overflow || bytes.len() > self.max_message_size {
            ConnEventKind::Rejected(FrameRejection::TooLarge, bytes)
        } else {
            ConnEventKind::Text(bytes)
        };
        self.report(kind).await
    }

    /// Reads until the socket closes or fails, then reports why.
    pub(crate) async fn run(mut self) {
        let write = Arc::clone(&self.write);
        let window = Arc::clone(&self.window);
        let counters = self.counters.clone();
        // Obligated replies (close echo, pong) go through the same rate window as every
        // other client frame.
        let mut send_fn = move |frame: Frame<'static>| {
            let write = Arc::clone(&write);
            let window = Arc::clone(&window);
            let counters = counters.clone();
            async move {
                SendWindow::acquire(&window).await;
                write.lock().await.write_frame(frame).await?;
                counters.lock().messages_sent += 1;
                Ok::<(), WebSocketError>(())
            }
        };
        let mut partial: Option<Partial> = None;
        let reason = loop {
            let frame = match self.read.read_frame(&mut send_fn).await {
                Ok(frame) => frame,
                Err(WebSocketError::InvalidUTF8) => {
                    // The frame was consumed; the stream stays in sync.
                    if !self
                        .report(ConnEventKind::Rejected(
                            FrameRejection::InvalidUtf8,
                            Vec::new(),
                        ))
                        .await
                    {
                        return;
                    }
                    continue;
                }
                Err(WebSocketError::FrameTooLarge) => {
                    if !self
                        .report(ConnEventKind::Rejected(
                            FrameRejection::TooLarge,
                            Vec::new(),
                        ))
                        .await
                    {
                        return;
                    }
                    break format!(
                        "a frame over the {}-byte cap was refused before its payload was read",
                        self.max_message_size
                    );
                }
                Err(error) => break format!("read failed: {error}"),
            };
            let (fin, opcode) = (frame.fin, frame.opcode);
            let payload: Vec<u8> = frame.payload.into();
            match opcode {
                OpCode::Text | OpCode::Binary => {
                    if partial.is_some() {
                        break "protocol error: new message inside a fragmented one".to_owned();
                    }
                    if fin {
                        if !self.deliver(opcode, payload, false).await {
                            return;
                        }
                    } else {
                        let overflow = payload.len() > self.max_message_size;
                        partial = Some(Partial {
                            opcode,
                            bytes: if overflow { Vec::new() } else { payload },
                            overflow,
                        });
                    }
                }
                OpCode::Continuation => {
                    let Some(mut current) = partial.take() else {
                        break "protocol error: continuation without a message".to_owned();
                    };
                    if !current.overflow {
                        if current.bytes.len() + payload.len() > self.max_message_size {
                            current.overflow = true;
                            current.bytes = Vec::new();
                        } else {
                            current.bytes.extend_from_slice(&payload);
                        }
                    }
                    if fin {
                        if !self
                            .deliver(current.opcode, current.bytes, current.overflow)
                            .await
                        {
                            return;
                        }
                    } else {
                        partial = Some(current);
                    }
                }
                OpCode::Close => {
                    let code = payload.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
                    let text = String::from_utf8_lossy(payload.get(2..).unwrap_or_default());
                    break match code {
                        Some(code) => format!("close frame {code} {text}").trim_end().to_owned(),
                        None => "close frame".to_owned(),
                    };
                }
                OpCode::Ping | OpCode::Pong => {}
            }
        };
        let _ = self.report(ConnEventKind::Closed(reason)).await;
    }
}
