//! The write side of one socket: a sliding-window limiter on *every* client frame and the
//! writer task that drains the outbound queue through it.
//!
//! Bitunix disconnects (and may block) clients above 5 messages per second, counting pings,
//! pongs and JSON frames alike. A token bucket would allow a burst at the end of one second
//! plus a refill at the start of the next; the sliding window guarantees that **no** window
//! of [`WINDOW`] ever holds more than the configured number of frames. The window is slightly
//! longer than a second so network jitter cannot squeeze six frames into the server's second.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use fastwebsockets::{Frame, Payload, WebSocketWrite};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::{
    io::WriteHalf,
    sync::{Mutex, mpsc},
    time::Instant,
};

use super::{ConnEvent, ConnEventKind};
use crate::counters::Counters;

/// The sliding window: one second plus a safety margin.
pub(crate) const WINDOW: Duration = Duration::from_millis(1050);

pub(crate) type WriteSide = WebSocketWrite<WriteHalf<TokioIo<Upgraded>>>;

/// Send times of the last frames of one connection.
#[derive(Debug)]
pub(crate) struct SendWindow {
    max: usize,
    sent: VecDeque<Instant>,
}

impl SendWindow {
    pub(crate) fn new(max_per_window: u32) -> Self {
        let max = usize::try_from(max_per_window.max(1)).unwrap_or(1);
        Self {
            max,
            sent: VecDeque::with_capacity(max),
        }
    }

    /// When the next frame may go out, given the frames already sent (`None` = now).
    pub(crate) fn next_slot(&mut self, now: Instant) -> Option<Instant> {
        while self
            .sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            self.sent.pop_front();
        }
        if self.sent.len() < self.max {
            None
        } else {
            self.sent.front().map(|oldest| *oldest + WINDOW)
        }
    }

    /// Records a frame sent at `now`.
    pub(crate) fn record(&mut self, now: Instant) {
        self.sent.push_back(now);
    }

    /// Waits until a frame may be sent and records it. Holding the lock while waiting makes
    /// concurrent senders (the writer and the reader's automatic replies) queue fairly.
    pub(crate) async fn acquire(window: &Mutex<SendWindow>) {
        let mut guard = window.lock().await;
        while let Some(at) = guard.next_slot(Instant::now()) {
            tokio::time::sleep_until(at).await;
        }
        guard.record(Instant::now());
    }
}

/// What the supervisor asks a connection to write.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A JSON text frame.
    Text(String),
    /// A normal close (1000), then stop.
    Close,
}

/// Everything the writer task needs.
pub(crate) struct WriterTask {
    pub(crate) conn_id: u64,
    pub(crate) write: Arc<Mutex<WriteSide>>,
    pub(crate) window: Arc<Mutex<SendWindow>>,
    pub(crate) outbound: mpsc::Receiver<Outbound>,
    pub(crate) events: mpsc::Sender<ConnEvent>,
    pub(crate) counters: Counters,
}

impl WriterTask {
    /// Drains the outbound queue until it closes, a close is written, or a write fails.
    pub(crate) async fn run(mut self) {
        while let Some(message) = self.outbound.recv().await {
            let (frame, closing) = match message {
                Outbound::Text(text) => (Frame::text(Payload::Owned(text.into_bytes())), false),
                Outbound::Close => (Frame::close(1000, b"client closing"), true),
            };
            SendWindow::acquire(&self.window).await;
            let result = self.write.lock().await.write_frame(frame).await;
            match result {
                Ok(()) => self.counters.lock().messages_sent += 1,
                Err(error) => {
                    let _ = self
                        .events
                        .send(ConnEvent {
                            conn_id: self.conn_id,
                            kind: ConnEventKind::Closed(format!("write failed: {error}")),
                        })
                        .await;
                    return;
                }
            }
            if closing {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn no_window_ever_holds_more_than_the_limit() {
        let window = Mutex::new(SendWindow::new(5));
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..23 {
            SendWindow::acquire(&window).await;
            times.push(Instant::now().duration_since(start));
        }
        // The first five go out at once, then one per slot as the oldest leaves the window.
        assert!(times[..5].iter().all(|t| t.is_zero()));
        for (i, t) in times.iter().enumerate() {
            let in_window = times
                .iter()
                .filter(|u| **u >= *t && **u < *t + Duration::from_secs(1))
                .count();
            assert!(
                in_window <= 5,
                "{in_window} frames within 1 s after frame {i}"
            );
        }
        assert!(times[22] >= WINDOW * 4);
    }

    #[test]
    fn next_slot_is_when_the_oldest_leaves_the_window() {
        let mut w = SendWindow::new(2);
        let t0 = Instant::now();
        assert_eq!(w.next_slot(t0), None);
        w.record(t0);
        w.record(t0 + Duration::from_millis(100));
        assert_eq!(
            w.next_slot(t0 + Duration::from_millis(200)),
            Some(t0 + WINDOW)
        );
        assert_eq!(w.next_slot(t0 + WINDOW), None);
    }
}
