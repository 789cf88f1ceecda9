//! Test helpers: deterministic candles, a base configuration, a raw WebSocket client and a
//! one-shot HTTP GET.

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload, WebSocket, handshake};
use http_body_util::{BodyExt, Empty};
use hyper::{Request, StatusCode, header, upgrade::Upgraded};
use hyper_util::rt::{TokioExecutor, TokioIo};
use la_bitunix_sim::{MarketData, SimConfig};
use la_core::{Candle, Decimal, Interval, Price, TimestampMs, Volume};
use serde_json::Value;
use tokio::net::TcpStream;

/// 2024-01-01T00:00:00Z.
pub(crate) const T0: i64 = 1_704_067_200_000;
pub(crate) const MINUTE: i64 = 60_000;

/// `n` one-minute candles from [`T0`] with distinct, easily checked values (one decimal).
pub(crate) fn candles(n: usize) -> Vec<Candle> {
    (0..n)
        .map(|i| {
            let i64i = i64::try_from(i).unwrap();
            let o = 600_000 + 10 * i64i;
            // Alternate which extreme is nearer the open.
            let (h, l) = if i % 2 == 0 {
                (o + 30, o - 70)
            } else {
                (o + 70, o - 30)
            };
            let p = |x: i64| Price::new(Decimal::new(x, 1)).unwrap();
            Candle::new(
                Interval::M1,
                TimestampMs::new(T0 + i64i * MINUTE).unwrap(),
                p(o),
                p(h),
                p(l),
                p(o + 5),
                Volume::new(Decimal::new(15_000 + i64i, 4)).unwrap(),
            )
            .unwrap()
        })
        .collect()
}

/// In-memory candles, no idle drop within a test's horizon, defaults otherwise.
pub(crate) fn config(n: usize) -> SimConfig {
    SimConfig {
        data: MarketData::Candles(candles(n)),
        idle_drop_ms: 86_400_000,
        ..SimConfig::default()
    }
}

/// A TCP connection with Nagle off, so small frames are not held back by delayed ACKs
/// (in paused time that real-time delay would let virtual time race ahead).
pub(crate) async fn connect_tcp(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// What the client read.
#[derive(Debug, PartialEq)]
pub(crate) enum Msg {
    Text(String),
    Binary(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16),
    /// The connection ended without a close frame (or failed).
    Eof(String),
}

pub(crate) struct WsClient {
    ws: WebSocket<TokioIo<Upgraded>>,
}

pub(crate) const SUBSCRIBE_ALL: &str = r#"{"op":"subscribe","args":[{"symbol":"BTCUSDT","ch":"market_kline_1min"},{"symbol":"BTCUSDT","ch":"ticker"},{"symbol":"BTCUSDT","ch":"price"}]}"#;

/// The upgrade request for `/public/`.
pub(crate) fn upgrade_request(addr: SocketAddr) -> Request<Empty<Bytes>> {
    Request::builder()
        .method("GET")
        .uri("/public/")
        .header(header::HOST, addr.to_string())
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "upgrade")
        .header("Sec-WebSocket-Key", handshake::generate_key())
        .header("Sec-WebSocket-Version", "13")
        .body(Empty::new())
        .unwrap()
}

impl WsClient {
    pub(crate) async fn connect(addr: SocketAddr) -> Self {
        let stream = connect_tcp(addr).await;
        let (ws, _) = handshake::client(&TokioExecutor::new(), upgrade_request(addr), stream)
            .await
            .unwrap();
        Self::from_ws(ws)
    }

    pub(crate) fn from_ws(mut ws: WebSocket<TokioIo<Upgraded>>) -> Self {
        ws.set_auto_pong(false);
        ws.set_max_message_size(8 << 20);
        Self { ws }
    }

    /// Connects and checks the connect frame.
    pub(crate) async fn connect_ready(addr: SocketAddr) -> Self {
        let mut client = Self::connect(addr).await;
        assert_eq!(
            client.next().await,
            Msg::Text(r#"{"op":"connect","data":{"result":true}}"#.to_owned())
        );
        client
    }

    pub(crate) async fn send_text(&mut self, text: &str) {
        self.ws
            .write_frame(Frame::text(Payload::Borrowed(text.as_bytes())))
            .await
            .unwrap();
    }

    pub(crate) async fn send_ping_frame(&mut self) {
        self.ws
            .write_frame(Frame::new(
                true,
                OpCode::Ping,
                None,
                Payload::Borrowed(b"hi"),
            ))
            .await
            .unwrap();
    }

    pub(crate) async fn next(&mut self) -> Msg {
        match self.ws.read_frame().await {
            Ok(frame) => match frame.opcode {
                OpCode::Text => Msg::Text(String::from_utf8(frame.payload.to_vec()).unwrap()),
                OpCode::Binary => Msg::Binary(frame.payload.to_vec()),
                OpCode::Pong => Msg::Pong(frame.payload.to_vec()),
                OpCode::Close => {
                    let code = frame
                        .payload
                        .get(..2)
                        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
                    Msg::Close(code)
                }
                other => panic!("unexpected opcode {other:?}"),
            },
            Err(error) => Msg::Eof(error.to_string()),
        }
    }

    /// The next message within `wait` of (paused) time, or `None`.
    pub(crate) async fn next_within(&mut self, wait: Duration) -> Option<Msg> {
        tokio::time::timeout(wait, self.next()).await.ok()
    }

    pub(crate) async fn next_text(&mut self) -> String {
        match self.next().await {
            Msg::Text(text) => text,
            other => panic!("expected text, got {other:?}"),
        }
    }

    /// The next JSON frame (panics on anything else).
    pub(crate) async fn next_json(&mut self) -> Value {
        let text = self.next_text().await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    /// The next data frame on channel `ch`, skipping others; with its exact text.
    pub(crate) async fn next_on(&mut self, ch: &str) -> (Value, String) {
        for _ in 0..10_000 {
            let text = self.next_text().await;
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["ch"] == ch {
                return (value, text);
            }
        }
        panic!("no {ch} frame");
    }
}

/// `GET path` on a fresh connection: status, headers, body.
pub(crate) async fn get(addr: SocketAddr, path: &str) -> (StatusCode, hyper::HeaderMap, String) {
    let stream = connect_tcp(addr).await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get(path)
        .header(header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

/// `GET path` expecting HTTP 200 JSON; returns the parsed envelope.
pub(crate) async fn get_json(addr: SocketAddr, path: &str) -> Value {
    let (status, _, body) = get(addr, path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Decimal from a JSON string value.
pub(crate) fn dec(value: &Value) -> Decimal {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .parse()
        .unwrap()
}

/// Sleeps until the simulator's virtual clock reads at least `ms` (speed 1.0 assumed).
pub(crate) async fn advance_to(sim: &la_bitunix_sim::SimHandle, ms: i64) {
    let now = sim.virtual_now().as_ms();
    if ms > now {
        tokio::time::sleep(Duration::from_millis(u64::try_from(ms - now).unwrap())).await;
    }
}
