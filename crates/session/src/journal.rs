//! The append-only event journal (`paper/events.jsonl`): one JSON object per broker or
//! session event, each line written whole and, for live sessions, fsynced before the next
//! event is processed — so after a crash the journal is a faithful account of what happened.
//!
//! Events are never de-duplicated by content (the Python program silently dropped repeated
//! identical events, defect 16); each line carries a sequence number instead.

use std::{
    collections::HashSet,
    fs::{File, OpenOptions},
    io::{BufRead, BufReader, BufWriter, Write},
    path::{Path, PathBuf},
};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::SessionError;

/// An append-only JSON-lines file.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    writer: BufWriter<File>,
    durable: bool,
    seq: u64,
    write_errors: u64,
}

impl Journal {
    /// Opens (creating or appending) `path`. `durable` fsyncs after every line.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn open(path: &Path, durable: bool) -> Result<Self, SessionError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| SessionError::io("cannot open journal", path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: BufWriter::new(file),
            durable,
            seq: 0,
            write_errors: 0,
        })
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lines that could not be written (disk full, ...); each was logged.
    pub fn write_errors(&self) -> u64 {
        self.write_errors
    }

    /// Appends `kind` with the serialized `payload` fields and the event time `ts_ms`.
    /// A write failure is logged and counted, never fatal: trading goes on.
    pub fn append<T: Serialize>(&mut self, kind: &str, ts_ms: Option<i64>, payload: &T) {
        self.seq += 1;
        let mut object = Map::new();
        object.insert("seq".into(), Value::from(self.seq));
        object.insert("kind".into(), Value::from(kind));
        if let Some(ts_ms) = ts_ms {
            object.insert("ts_ms".into(), Value::from(ts_ms));
        }
        object.insert(
            "written_at".into(),
            Value::from(crate::time_fmt::now_rfc3339()),
        );
        match serde_json::to_value(payload) {
            Ok(Value::Object(fields)) => object.extend(fields),
            Ok(other) => {
                object.insert("data".into(), other);
            }
            Err(err) => {
                object.insert("serialize_error".into(), Value::from(err.to_string()));
            }
        }
        let result = serde_json::to_writer(&mut self.writer, &Value::Object(object))
            .map_err(std::io::Error::other)
            .and_then(|()| self.writer.write_all(b"\n"))
            .and_then(|()| if self.durable { self.sync() } else { Ok(()) });
        if let Err(err) = result {
            self.write_errors += 1;
            tracing::error!(path = %self.path.display(), error = &err as &dyn std::error::Error, "journal write failed");
        }
    }

    /// Flushes and fsyncs.
    ///
    /// # Errors
    /// The flush or fsync failed.
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.writer.flush()?;
        self.writer.get_ref().sync_data()
    }

    /// Flushes buffered lines without fsync.
    pub fn flush(&mut self) {
        if let Err(err) = self.writer.flush() {
            self.write_errors += 1;
            tracing::error!(path = %self.path.display(), error = &err as &dyn std::error::Error, "journal flush failed");
        }
    }
}

/// What identifies an event line: its kind, event time and client order id (if any).
pub type EventKey = (String, Option<i64>, Option<String>);

/// The keys of every line already in the journal at `path` (a missing file has none; a
/// torn or foreign line is skipped). Used once at start-up, to recover events a crash kept
/// out of the journal without writing any of them twice.
///
/// # Errors
/// The file exists but cannot be read.
pub fn recorded_keys(path: &Path) -> Result<HashSet<EventKey>, SessionError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(SessionError::io("cannot read journal", path, e)),
    };
    let mut keys = HashSet::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| SessionError::io("cannot read journal", path, e))?;
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let Some(kind) = fields.get("kind").and_then(Value::as_str) else {
            continue;
        };
        keys.insert((
            kind.to_owned(),
            fields.get("ts_ms").and_then(Value::as_i64),
            fields
                .get("client_order_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        ));
    }
    Ok(keys)
}
