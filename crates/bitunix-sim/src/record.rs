//! The record file: one JSON object per line describing everything the simulator sent and
//! every market or fault event, so tests can prove end to end that nothing was silently
//! lost.
//!
//! Line kinds:
//! `{"t":<virtual ms>,"kind":"frame","conn":<id>,"ch":"market_kline_1min","frame":"<text>"}`,
//! `{"t":..,"kind":"candle_completed","open_time":..}`,
//! `{"t":..,"kind":"candle_skipped","open_time":..}`,
//! `{"t":..,"kind":"fault","fault":"silence:30000ms"}`.
//! Frames longer than 4 KiB (garbage faults) are recorded truncated, with `"len"` giving
//! the full size; non-text control frames are recorded as `<close 1001>`, `<close echo>`
//! or `<pong>` under `"ch":"control"`. Lines go through a channel to one writer task that flushes every 200 ms
//! (real) and on shutdown.

use std::{
    fs::File,
    io::{BufWriter, Write},
    path::Path,
    time::Duration,
};

use la_core::Symbol;
use serde::Serialize;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

use tracing::Instrument;

use crate::error::SimError;

/// Longest frame text recorded verbatim.
const MAX_RECORDED_FRAME: usize = 4096;

enum RecordMsg {
    Line(String),
    Close(oneshot::Sender<()>),
}

/// A cheap handle for writing record lines; a no-op when recording is off.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    tx: Option<mpsc::UnboundedSender<RecordMsg>>,
}

impl std::fmt::Debug for RecordMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordMsg")
    }
}

#[derive(Serialize)]
struct FrameLine<'a> {
    t: i64,
    kind: &'static str,
    conn: u64,
    ch: &'a str,
    frame: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    len: Option<usize>,
}

#[derive(Serialize)]
struct CandleLine {
    t: i64,
    kind: &'static str,
    open_time: i64,
}

#[derive(Serialize)]
struct FaultLine<'a> {
    t: i64,
    kind: &'static str,
    fault: &'a str,
}

impl Recorder {
    /// Opens `path` (truncating it; `0600`, never through a symbolic link: the record may
    /// sit in a workspace) and starts the writer task.
    pub(crate) fn start(path: &Path, symbol: Symbol) -> Result<(Self, JoinHandle<()>), SimError> {
        let file = la_private_fs::open_private(path, la_private_fs::PrivateOpen::Truncate)
            .map_err(|source| SimError::Io {
                path: path.to_owned(),
                source,
            })?;
        let (tx, rx) = mpsc::unbounded_channel();
        let span = tracing::info_span!("sim_record", symbol = %symbol);
        let task = tokio::spawn(write_lines(BufWriter::new(file), rx).instrument(span));
        Ok((Self { tx: Some(tx) }, task))
    }

    fn send(&self, line: Result<String, serde_json::Error>) {
        if let (Some(tx), Ok(line)) = (&self.tx, line) {
            // A closed channel means shutdown already flushed the file.
            let _ = tx.send(RecordMsg::Line(line));
        }
    }

    /// Whether lines are being recorded at all (skip formatting work when not).
    pub(crate) fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// A frame written to connection `conn`.
    pub(crate) fn frame(&self, t: i64, conn: u64, ch: &str, payload: &[u8]) {
        if !self.enabled() {
            return;
        }
        let cut = payload.len().min(MAX_RECORDED_FRAME);
        let text = String::from_utf8_lossy(&payload[..cut]);
        let line = FrameLine {
            t,
            kind: "frame",
            conn,
            ch,
            frame: &text,
            len: (payload.len() > MAX_RECORDED_FRAME).then_some(payload.len()),
        };
        self.send(serde_json::to_string(&line));
    }

    /// A candle's final push went out (`candle_completed`) or was skipped by a gap
    /// (`candle_skipped`).
    pub(crate) fn candle(&self, t: i64, kind: &'static str, open_time: i64) {
        if self.enabled() {
            self.send(serde_json::to_string(&CandleLine { t, kind, open_time }));
        }
    }

    /// A fault was applied.
    pub(crate) fn fault(&self, t: i64, fault: &str) {
        if self.enabled() {
            self.send(serde_json::to_string(&FaultLine {
                t,
                kind: "fault",
                fault,
            }));
        }
    }

    /// Flushes and closes the file; later lines are dropped.
    pub(crate) async fn close(&self) {
        if let Some(tx) = &self.tx {
            let (done_tx, done_rx) = oneshot::channel();
            if tx.send(RecordMsg::Close(done_tx)).is_ok() {
                let _ = done_rx.await;
            }
        }
    }
}

async fn write_lines(mut out: BufWriter<File>, mut rx: mpsc::UnboundedReceiver<RecordMsg>) {
    let mut flush_every = tokio::time::interval(Duration::from_millis(200));
    let mut failed = false;
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(RecordMsg::Line(line)) => {
                    if !failed && let Err(error) = writeln!(out, "{line}") {
                        tracing::error!(%error, "record file write failed; recording stops");
                        failed = true;
                    }
                }
                Some(RecordMsg::Close(done)) => {
                    flush(&mut out, &mut failed);
                    let _ = done.send(());
                    return;
                }
                None => {
                    flush(&mut out, &mut failed);
                    return;
                }
            },
            _ = flush_every.tick() => flush(&mut out, &mut failed),
        }
    }
}

fn flush(out: &mut BufWriter<File>, failed: &mut bool) {
    if *failed {
        return;
    }
    if let Err(error) = out.flush() {
        tracing::error!(%error, "record file flush failed; recording stops");
        *failed = true;
    }
}
