//! A real headless Chromium driven over the DevTools protocol (a WebSocket on loopback), so a
//! test can read a live page's DOM as often as it likes while the page keeps running.
//! Chromium is Debian's (`/usr/bin/chromium`; `.ci/run` installs it).

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use bytes::Bytes;
use fastwebsockets::{FragmentCollector, Frame, OpCode, Payload, handshake};
use http_body_util::Empty;
use hyper::{Request, header, upgrade::Upgraded};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    process::{Child, Command},
};

/// A GET: status and body (read up to `Content-Length`, or to the end of the connection;
/// Chromium's DevTools server keeps connections open).
pub(crate) async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let fetch = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        let mut buf = [0_u8; 16 * 1024];
        loop {
            let text = String::from_utf8_lossy(&response).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head.lines().find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                });
                if length.is_some_and(|n| body.len() >= n) {
                    break;
                }
            }
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, body.to_owned())
    };
    tokio::time::timeout(Duration::from_secs(10), fetch)
        .await
        .unwrap_or_else(|_| panic!("GET {path} from {addr} did not complete"))
}

/// One headless Chromium with one page.
pub(crate) struct Browser {
    child: Child,
    page: FragmentCollector<TokioIo<Upgraded>>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium on `url` and attaches to its page.
    pub(crate) async fn open(url: &str) -> Self {
        let binary = PathBuf::from("/usr/bin/chromium");
        assert!(
            binary.exists(),
            "this test needs Debian's chromium (apt-get install chromium; .ci/run installs it)"
        );
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let port_file = profile.path().join("DevToolsActivePort");
        let started = Instant::now();
        let port: u16 = loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
            {
                break port;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "Chromium did not open its DevTools port"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let devtools: SocketAddr = ([127, 0, 0, 1], port).into();
        let page_path = loop {
            let (_, body) = http_get(devtools, "/json/list").await;
            let pages: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let found = pages.as_array().and_then(|pages| {
                pages.iter().find(|p| p["type"] == "page").and_then(|p| {
                    p["webSocketDebuggerUrl"].as_str().and_then(|u| {
                        u.split_once(&format!("{port}"))
                            .map(|(_, path)| path.to_owned())
                    })
                })
            });
            if let Some(path) = found {
                break path;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "Chromium has no page: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let request = Request::builder()
            .method("GET")
            .uri(page_path)
            .header(header::HOST, devtools.to_string())
            .header(header::UPGRADE, "websocket")
            .header(header::CONNECTION, "upgrade")
            .header("Sec-WebSocket-Key", handshake::generate_key())
            .header("Sec-WebSocket-Version", "13")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let stream = TcpStream::connect(devtools).await.unwrap();
        let (mut ws, _) = handshake::client(&TokioExecutor::new(), request, stream)
            .await
            .unwrap();
        ws.set_max_message_size(16 << 20);
        Self {
            child,
            page: FragmentCollector::new(ws),
            next_id: 0,
            _profile: profile,
        }
    }

    /// Evaluates `expression` in the page and returns its value.
    pub(crate) async fn eval(&mut self, expression: &str) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let call = json!({
            "id": id,
            "method": "Runtime.evaluate",
            "params": { "expression": expression, "returnByValue": true }
        });
        let text = call.to_string();
        self.page
            .write_frame(Frame::text(Payload::Borrowed(text.as_bytes())))
            .await
            .unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.page.read_frame())
                .await
                .expect("DevTools answered")
                .unwrap();
            if frame.opcode != OpCode::Text {
                continue;
            }
            let reply: Value = serde_json::from_slice(&frame.payload).unwrap();
            if reply["id"] == id {
                return reply["result"]["result"]["value"].clone();
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
