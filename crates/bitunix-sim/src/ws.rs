//! One WebSocket client session on `/public/`, speaking the Bitunix public protocol.
//!
//! Behaviour, as the real exchange shows it: the connect frame first; subscribe
//! without an ack, pushes starting `subscribe_delay_ms` (virtual) later with a snapshot;
//! the 300-stream cap with the exact refusal frame; unsubscribe replies; unknown ops,
//! channels and non-JSON ignored; JSON ping answered; the server never pings; a
//! protocol-level ping as the first client frame gets no pong and a drop 1.5 s later;
//! idle and message-rate disconnects drop TCP without a close frame. A client that does
//! not take a frame within 10 s (real) is dropped too, and one that falls more than the
//! bus capacity behind misses frames (counted as `frames_lagged`).
//!
//! A reader task always runs `read_frame` (close replies only happen inside it) and hands
//! frames to this task, which owns the write half, the subscriptions and the timers.

use std::{
    collections::{HashSet, VecDeque},
    sync::Arc,
    time::Duration,
};

use fastwebsockets::{Frame, OpCode, Payload, WebSocketRead, WebSocketWrite, upgrade::UpgradeFut};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::{
    io::{ReadHalf, WriteHalf},
    sync::{broadcast::error::RecvError, mpsc, watch},
    time::{Instant, sleep_until},
};

use crate::{
    engine,
    state::{Channel, ConnFault, Outbound, Shared, stopped},
    wire,
};

type Io = TokioIo<Upgraded>;

/// The live-observed cap on streams per connection.
const MAX_STREAMS: usize = 300;
/// Largest client frame accepted.
const MAX_CLIENT_FRAME: usize = 1 << 20;
/// Delay before dropping a client whose first frame was a protocol-level ping.
const PROTOCOL_PING_DROP: Duration = Duration::from_millis(1500);
/// A client that does not take a frame within this time is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the client's reply after sending a close frame.
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(2);

enum ClientEvent {
    /// A frame the client sent.
    Frame { opcode: OpCode, payload: Vec<u8> },
    /// A reply the protocol obliges us to send (the close echo).
    Obligated { opcode: OpCode, payload: Vec<u8> },
    /// The read side ended.
    Gone(String),
}

/// Runs one upgraded socket until it ends.
pub(crate) async fn serve_socket(
    shared: Arc<Shared>,
    upgrade: UpgradeFut,
    mut shutdown: watch::Receiver<bool>,
    _done: mpsc::Sender<()>,
) {
    let mut ws = match upgrade.await {
        Ok(ws) => ws,
        Err(error) => {
            tracing::warn!(symbol = %shared.symbol, %error, "websocket upgrade failed");
            return;
        }
    };
    ws.set_auto_pong(false);
    ws.set_auto_close(true);
    ws.set_max_message_size(MAX_CLIENT_FRAME);
    let (reader, writer) = ws.split(tokio::io::split);
    let (events_tx, events) = mpsc::channel(64);
    let reader_task = tokio::spawn(read_pump(reader, events_tx));
    let id = shared.conn_id();
    shared.stat(|s| {
        s.connections_accepted += 1;
        s.open_connections += 1;
    });
    tracing::debug!(symbol = %shared.symbol, conn = id, "websocket open");
    let bus = shared.bus.subscribe();
    let mut conn = Conn {
        shared: Arc::clone(&shared),
        id,
        writer,
        streams: HashSet::new(),
        active: [None; 3],
        pending: Vec::new(),
        last_client_frame: Instant::now(),
        text_seen: false,
        protocol_ping_drop_at: None,
        half_open_until: None,
        closing_until: None,
        recent: VecDeque::new(),
    };
    let reason = conn.run(events, bus, &mut shutdown).await;
    reader_task.abort();
    tracing::debug!(symbol = %shared.symbol, conn = id, reason, "websocket closed");
    shared.stat(|s| {
        s.open_connections = s.open_connections.saturating_sub(1);
        s.disconnect(reason);
    });
}

async fn read_pump(mut reader: WebSocketRead<ReadHalf<Io>>, events: mpsc::Sender<ClientEvent>) {
    let obligated = events.clone();
    let mut send_fn = move |frame: Frame<'_>| {
        let tx = obligated.clone();
        let event = ClientEvent::Obligated {
            opcode: frame.opcode,
            payload: frame.payload.to_vec(),
        };
        async move {
            tx.send(event)
                .await
                .map_err(|_| std::io::Error::other("connection task ended"))
        }
    };
    loop {
        let event = match reader.read_frame(&mut send_fn).await {
            Ok(frame) => ClientEvent::Frame {
                opcode: frame.opcode,
                payload: frame.payload.to_vec(),
            },
            Err(error) => ClientEvent::Gone(error.to_string()),
        };
        let gone = matches!(event, ClientEvent::Gone(_));
        if events.send(event).await.is_err() || gone {
            return;
        }
    }
}

struct Conn {
    shared: Arc<Shared>,
    id: u64,
    writer: WebSocketWrite<WriteHalf<Io>>,
    /// Every `(SYMBOL, ch)` subscribed, known or not (they all count toward the cap).
    streams: HashSet<(String, String)>,
    /// Per data channel: frames with a sequence number above this are forwarded.
    active: [Option<u64>; 3],
    /// Subscriptions waiting for their first push.
    pending: Vec<(Instant, Channel)>,
    last_client_frame: Instant,
    text_seen: bool,
    protocol_ping_drop_at: Option<Instant>,
    half_open_until: Option<Instant>,
    closing_until: Option<Instant>,
    recent: VecDeque<Instant>,
}

/// Far enough never to fire (timers disabled by a `select!` precondition still need one).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

impl Conn {
    async fn run(
        &mut self,
        mut events: mpsc::Receiver<ClientEvent>,
        mut bus: tokio::sync::broadcast::Receiver<Outbound>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> &'static str {
        if !self
            .send(OpCode::Text, wire::CONNECT_FRAME.as_bytes(), "control")
            .await
        {
            return "write_error";
        }
        loop {
            let idle_at = self.last_client_frame + self.shared.idle_drop;
            let pending_at = self.pending.iter().map(|(at, _)| *at).min();
            let timers_on = self.half_open_until.is_none() && self.closing_until.is_none();
            tokio::select! {
                biased;
                () = stopped(shutdown) => {
                    if self.closing_until.is_none() {
                        let frame = Frame::close(1001, b"going away");
                        let _ = self.write(frame, "control", b"<close 1001>").await;
                    }
                    return "shutdown";
                }
                event = events.recv() => {
                    if let Some(reason) = self.on_client_event(event).await {
                        return reason;
                    }
                }
                message = bus.recv() => match message {
                    Ok(outbound) => {
                        if let Some(reason) = self.on_outbound(outbound).await {
                            return reason;
                        }
                    }
                    Err(RecvError::Lagged(missed)) => self.shared.stat(|s| s.frames_lagged += missed),
                    Err(RecvError::Closed) => return "shutdown",
                },
                () = sleep_until(idle_at), if timers_on => return "idle",
                () = sleep_until(pending_at.unwrap_or_else(far_future)),
                    if pending_at.is_some() && timers_on => {
                    if !self.activate_due().await {
                        return "write_error";
                    }
                }
                () = sleep_until(self.protocol_ping_drop_at.unwrap_or_else(far_future)),
                    if self.protocol_ping_drop_at.is_some() => return "protocol_ping",
                () = sleep_until(self.half_open_until.unwrap_or_else(far_future)),
                    if self.half_open_until.is_some() => return "half_open",
                () = sleep_until(self.closing_until.unwrap_or_else(far_future)),
                    if self.closing_until.is_some() => return "close_frame",
            }
        }
    }

    async fn on_client_event(&mut self, event: Option<ClientEvent>) -> Option<&'static str> {
        let Some(event) = event else {
            return Some("client_gone");
        };
        match event {
            ClientEvent::Gone(error) => {
                tracing::debug!(symbol = %self.shared.symbol, conn = self.id, error, "client read ended");
                Some("client_gone")
            }
            ClientEvent::Obligated { opcode, payload } => {
                // The close echo; not when we started the close handshake ourselves.
                if self.half_open_until.is_none() && self.closing_until.is_none() {
                    let frame = Frame::new(true, opcode, None, Payload::Borrowed(&payload));
                    let _ = self.write(frame, "control", b"<close echo>").await;
                }
                None
            }
            ClientEvent::Frame { opcode, payload } => {
                if self.half_open_until.is_some() {
                    return None; // Not reading: the client's frames go nowhere.
                }
                self.on_client_frame(opcode, &payload).await
            }
        }
    }

    async fn on_client_frame(&mut self, opcode: OpCode, payload: &[u8]) -> Option<&'static str> {
        let now = Instant::now();
        self.last_client_frame = now;
        self.shared.stat(|s| s.client_frames += 1);
        if let Some(limit) = self.shared.max_client_msgs_per_sec {
            while self
                .recent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
            {
                self.recent.pop_front();
            }
            self.recent.push_back(now);
            if self.recent.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
                return Some("rate_limit");
            }
        }
        match opcode {
            OpCode::Close => Some(if self.closing_until.is_some() {
                "close_frame"
            } else {
                "client_close"
            }),
            OpCode::Ping => {
                if !self.text_seen {
                    // Live: no pong, and the socket closes about 1.5 s later.
                    self.protocol_ping_drop_at
                        .get_or_insert(now + PROTOCOL_PING_DROP);
                    return None;
                }
                let frame = Frame::pong(Payload::Borrowed(payload));
                if !self.write(frame, "control", b"<pong>").await {
                    return Some("write_error");
                }
                self.shared.stat(|s| s.protocol_pings_answered += 1);
                None
            }
            OpCode::Text => {
                self.text_seen = true;
                if self.closing_until.is_some() {
                    return None;
                }
                self.on_text(payload).await
            }
            _ => None,
        }
    }

    async fn on_text(&mut self, payload: &[u8]) -> Option<&'static str> {
        let Ok(message) = serde_json::from_slice::<serde_json::Value>(payload) else {
            return None; // Non-JSON: ignored, socket kept.
        };
        let ok = match message.get("op").and_then(|op| op.as_str()) {
            Some("ping") => match message.get("ping") {
                Some(value) => {
                    let echo = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
                    let secs = self.shared.clock.now_ms().div_euclid(1000);
                    let ok = self.send_text(&wire::pong_frame(&echo, secs)).await;
                    self.shared.stat(|s| s.pings_answered += 1);
                    ok
                }
                None => true,
            },
            Some("subscribe") => self.subscribe(&message).await,
            Some("unsubscribe") => self.unsubscribe(&message).await,
            _ => true,
        };
        (!ok).then_some("write_error")
    }

    /// The known data channel for an arg, if it is ours.
    fn channel_of(&self, symbol: &str, ch: &str) -> Option<Channel> {
        if symbol != self.shared.symbol.as_str() {
            return None;
        }
        Channel::ALL
            .into_iter()
            .find(|channel| self.shared.channel_name(*channel) == ch)
    }

    async fn subscribe(&mut self, message: &serde_json::Value) -> bool {
        let mut refused = false;
        let delay = self
            .shared
            .clock
            .real_duration(self.shared.subscribe_delay_ms);
        for (symbol, ch) in stream_args(message) {
            if self.streams.contains(&(symbol.clone(), ch.clone())) {
                continue;
            }
            if self.streams.len() >= MAX_STREAMS {
                refused = true;
                continue;
            }
            if let Some(channel) = self.channel_of(&symbol, &ch)
                && self.active[channel.index()].is_none()
                && !self.pending.iter().any(|(_, c)| *c == channel)
            {
                self.pending.push((Instant::now() + delay, channel));
            }
            self.streams.insert((symbol, ch));
        }
        if refused {
            return self.send_text(wire::REFUSAL_FRAME).await;
        }
        true
    }

    async fn unsubscribe(&mut self, message: &serde_json::Value) -> bool {
        for (symbol, ch) in stream_args(message) {
            if let Some(channel) = self.channel_of(&symbol, &ch) {
                self.active[channel.index()] = None;
                self.pending.retain(|(_, c)| *c != channel);
            }
            self.streams.remove(&(symbol, ch));
        }
        let ts = self.shared.clock.now_ms();
        self.send_text(&wire::unsubscribe_frame(ts)).await
    }

    /// Starts the subscriptions whose delay has passed, each with a snapshot.
    async fn activate_due(&mut self) -> bool {
        let now = Instant::now();
        let due: Vec<Channel> = self
            .pending
            .iter()
            .filter(|(at, _)| *at <= now)
            .map(|(_, channel)| *channel)
            .collect();
        self.pending.retain(|(at, _)| *at > now);
        for channel in due {
            let (seq, text) = engine::snapshot(&self.shared, channel);
            self.active[channel.index()] = Some(seq);
            if let Some(text) = text {
                let label = self.shared.channel_name(channel);
                if !self.send(OpCode::Text, text.as_bytes(), label).await {
                    return false;
                }
            }
        }
        true
    }

    async fn on_outbound(&mut self, outbound: Outbound) -> Option<&'static str> {
        match outbound {
            Outbound::Data { seq, channel, text } => {
                let wanted = self.active[channel.index()].is_some_and(|after| seq > after);
                if wanted && self.half_open_until.is_none() && self.closing_until.is_none() {
                    let label = self.shared.channel_name(channel);
                    if !self.send(OpCode::Text, text.as_bytes(), label).await {
                        return Some("write_error");
                    }
                }
                None
            }
            Outbound::Fault(ConnFault::DropTcp) => Some("drop_tcp"),
            Outbound::Fault(ConnFault::CloseFrame) => {
                if self.closing_until.is_none() && self.half_open_until.is_none() {
                    let frame = Frame::close(1001, b"going away");
                    if !self.write(frame, "control", b"<close 1001>").await {
                        return Some("write_error");
                    }
                    self.closing_until = Some(Instant::now() + CLOSE_REPLY_WAIT);
                }
                None
            }
            Outbound::Fault(ConnFault::HalfOpen { until }) => {
                self.half_open_until = Some(self.half_open_until.map_or(until, |u| u.max(until)));
                None
            }
            Outbound::Fault(ConnFault::Garbage { binary, payload }) => {
                if self.half_open_until.is_none() && self.closing_until.is_none() {
                    let opcode = if binary { OpCode::Binary } else { OpCode::Text };
                    if !self.send(opcode, &payload, "garbage").await {
                        return Some("write_error");
                    }
                }
                None
            }
        }
    }

    async fn send_text(&mut self, text: &str) -> bool {
        self.send(OpCode::Text, text.as_bytes(), "control").await
    }

    async fn send(&mut self, opcode: OpCode, payload: &[u8], label: &str) -> bool {
        let frame = Frame::new(true, opcode, None, Payload::Borrowed(payload));
        self.write(frame, label, payload).await
    }

    /// Writes and flushes one frame, records it, counts it. `false` if the socket is dead.
    async fn write(&mut self, frame: Frame<'_>, label: &str, record: &[u8]) -> bool {
        let written = tokio::time::timeout(WRITE_TIMEOUT, async {
            self.writer.write_frame(frame).await?;
            self.writer.flush().await
        })
        .await;
        match written {
            Ok(Ok(())) => {
                let t = self.shared.clock.now_ms();
                self.shared.recorder.frame(t, self.id, label, record);
                self.shared.stat(|s| s.frame_sent(label));
                true
            }
            Ok(Err(error)) => {
                tracing::debug!(symbol = %self.shared.symbol, conn = self.id, %error, "write failed");
                false
            }
            Err(_) => {
                tracing::warn!(symbol = %self.shared.symbol, conn = self.id, "client not reading; dropping");
                false
            }
        }
    }
}

/// `(SYMBOL, ch)` pairs of a subscribe/unsubscribe frame; a lowercase symbol is accepted.
fn stream_args(message: &serde_json::Value) -> Vec<(String, String)> {
    let Some(args) = message.get("args").and_then(|a| a.as_array()) else {
        return Vec::new();
    };
    args.iter()
        .filter_map(|arg| {
            let ch = arg.get("ch")?.as_str()?.to_owned();
            let symbol = arg
                .get("symbol")
                .and_then(|s| s.as_str())
                .unwrap_or("")
                .to_ascii_uppercase();
            Some((symbol, ch))
        })
        .collect()
}
