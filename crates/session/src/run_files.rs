//! Run artifacts: the engine sink that writes the event journal, `decisions.jsonl` and the
//! equity curve, and the end-of-run files `trades.csv`, `equity.csv` and `summary.json`.
//!
//! A live session and a backtest write the same files in the same shapes, so reports and
//! the parity check read either.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

use la_core::{BrokerEvent, Decimal, Exit, TimestampMs};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{
    engine::{DecisionRecord, EngineSink},
    error::SessionError,
    journal::Journal,
};

/// One point of the equity curve.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct EquityPoint {
    /// Event time (candle close).
    pub ts_ms: i64,
    /// Realized equity.
    pub equity: Decimal,
    /// Realized equity plus unrealized PnL at the close.
    pub mark_equity: Decimal,
}

/// Writes journal lines and decision records as the engine runs.
#[derive(Debug)]
pub struct FileSink {
    journal: Journal,
    decisions: BufWriter<File>,
    decisions_path: PathBuf,
    decision_counts: BTreeMap<String, u64>,
    /// Equity after every candle.
    pub equity_curve: Vec<EquityPoint>,
    /// Trades closed during this run.
    pub trades: Vec<Exit>,
    write_errors: u64,
    symbol: String,
    /// Live sessions hold broker events until the state that contains them is saved, so the
    /// journal is never ahead of the state files (a crash in between replays the candle, and
    /// the persisted processed ids then refuse a second fill).
    hold_events: bool,
    held: Vec<BrokerEvent>,
}

impl FileSink {
    /// Opens the journal at `journal_path` and `decisions.jsonl` in `run_dir`.
    ///
    /// # Errors
    /// A file cannot be created.
    pub fn open(
        journal_path: &Path,
        durable_journal: bool,
        run_dir: &Path,
        symbol: &str,
    ) -> Result<Self, SessionError> {
        let journal = Journal::open(journal_path, durable_journal)?;
        let decisions_path = run_dir.join("decisions.jsonl");
        let file = File::create(&decisions_path)
            .map_err(|e| SessionError::io("cannot create", &decisions_path, e))?;
        Ok(Self {
            journal,
            decisions: BufWriter::new(file),
            decisions_path,
            decision_counts: BTreeMap::new(),
            equity_curve: Vec::new(),
            trades: Vec::new(),
            write_errors: 0,
            symbol: symbol.to_owned(),
            hold_events: false,
            held: Vec::new(),
        })
    }

    /// Holds broker events until [`FileSink::release_held`] (live sessions).
    pub fn hold_broker_events(&mut self) {
        self.hold_events = true;
    }

    /// Whether a held fill or exit waits for a state save.
    pub fn holds_state_changes(&self) -> bool {
        self.held
            .iter()
            .any(|e| matches!(e, BrokerEvent::Filled(_) | BrokerEvent::Exited(_)))
    }

    /// Journals the held broker events (after the state containing them was saved, or
    /// after the save failed and was alerted).
    pub fn release_held(&mut self) {
        for event in std::mem::take(&mut self.held) {
            self.journal
                .append(event_kind(&event), event_time(&event), &event);
        }
    }

    /// The journal, for session events (connection changes, stops, alerts).
    pub fn journal(&mut self) -> &mut Journal {
        &mut self.journal
    }

    /// Decision counts by outcome and by blocking gate ("why no trade").
    pub fn decision_counts(&self) -> &BTreeMap<String, u64> {
        &self.decision_counts
    }

    /// Write failures so far (decisions and journal).
    pub fn write_errors(&self) -> u64 {
        self.write_errors + self.journal.write_errors()
    }

    /// Flushes buffered decision lines and the journal.
    pub fn flush(&mut self) {
        if let Err(err) = self.decisions.flush() {
            self.write_errors += 1;
            tracing::error!(symbol = %self.symbol, path = %self.decisions_path.display(), error = &err as &dyn std::error::Error, "cannot flush decisions");
        }
        self.journal.flush();
    }
}

fn event_time(event: &BrokerEvent) -> Option<i64> {
    match event {
        BrokerEvent::OrderAccepted { ts, .. }
        | BrokerEvent::OrderRejected { ts, .. }
        | BrokerEvent::OrderCancelled { ts, .. }
        | BrokerEvent::TrailingActivated { ts, .. } => Some(ts.as_ms()),
        BrokerEvent::Filled(fill) => Some(fill.ts.as_ms()),
        BrokerEvent::Exited(exit) => Some(exit.ts.as_ms()),
        BrokerEvent::FundingApplied { funding_time, .. } => Some(funding_time.as_ms()),
    }
}

fn event_kind(event: &BrokerEvent) -> &'static str {
    match event {
        BrokerEvent::OrderAccepted { .. } => "order_accepted",
        BrokerEvent::Filled(_) => "fill",
        BrokerEvent::Exited(_) => "exit",
        BrokerEvent::FundingApplied { .. } => "funding_applied",
        BrokerEvent::OrderRejected { .. } => "order_rejected",
        BrokerEvent::OrderCancelled { .. } => "order_cancelled",
        BrokerEvent::TrailingActivated { .. } => "trailing_activated",
    }
}

impl EngineSink for FileSink {
    fn broker_event(&mut self, event: &BrokerEvent) {
        match event {
            BrokerEvent::Exited(exit) => {
                tracing::info!(symbol = %self.symbol, client_order_id = %exit.client_order_id, reason = exit.reason.as_str(), pnl = %exit.pnl_net, "position closed");
                self.trades.push(exit.clone());
            }
            BrokerEvent::Filled(fill) => {
                tracing::info!(symbol = %self.symbol, client_order_id = %fill.client_order_id, side = %fill.side, price = %fill.price, qty = %fill.qty, "order filled");
            }
            _ => {}
        }
        if self.hold_events {
            self.held.push(event.clone());
        } else {
            self.journal
                .append(event_kind(event), event_time(event), event);
        }
    }

    fn decision(&mut self, record: &DecisionRecord<'_>) {
        let candle = record.candle;
        let outcome = record.outcome.as_str();
        *self
            .decision_counts
            .entry(format!("outcome:{outcome}"))
            .or_default() += 1;
        if let Some(gate) = record.decision.blocked_by {
            *self
                .decision_counts
                .entry(format!("blocked_by:{gate}"))
                .or_default() += 1;
        }
        let mut line = Map::new();
        line.insert("open_time".into(), Value::from(candle.open_time().as_ms()));
        line.insert("open".into(), Value::from(candle.open().to_string()));
        line.insert("high".into(), Value::from(candle.high().to_string()));
        line.insert("low".into(), Value::from(candle.low().to_string()));
        line.insert("close".into(), Value::from(candle.close().to_string()));
        line.insert("volume".into(), Value::from(candle.volume().to_string()));
        line.insert("provenance".into(), Value::from(record.provenance.as_str()));
        line.insert("bar_index".into(), Value::from(record.bar_index));
        if let Ok(Value::Object(fields)) = serde_json::to_value(record.decision) {
            line.extend(fields);
        }
        line.insert(
            "client_order_id".into(),
            record
                .client_order_id
                .map_or(Value::Null, |id| Value::from(id.as_str())),
        );
        line.insert("outcome".into(), Value::from(outcome));
        line.insert("equity".into(), Value::from(record.equity.to_string()));
        let written = serde_json::to_writer(&mut self.decisions, &Value::Object(line))
            .map_err(std::io::Error::other)
            .and_then(|()| self.decisions.write_all(b"\n"));
        if let Err(err) = written {
            self.write_errors += 1;
            tracing::error!(symbol = %self.symbol, error = &err as &dyn std::error::Error, "cannot write decision record");
        }
    }

    fn breaker_tripped(&mut self, reason: &str, ts: TimestampMs) {
        #[derive(Serialize)]
        struct Tripped<'a> {
            reason: &'a str,
        }
        self.journal.append(
            "circuit_breaker_tripped",
            Some(ts.as_ms()),
            &Tripped { reason },
        );
    }
}

/// Writes `trades.csv`: one row per closed trade, `pnl` net of all fees.
///
/// # Errors
/// The file cannot be written.
pub fn write_trades_csv(path: &Path, trades: &[Exit]) -> Result<(), SessionError> {
    let mut out = String::from(
        "trade_id,side,entry_time_ms,exit_time_ms,entry_price,exit_price,qty,pnl,fees,r_multiple,exit_reason\n",
    );
    for exit in trades {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            exit.client_order_id,
            exit.side,
            exit.opened_at.as_ms(),
            exit.ts.as_ms(),
            exit.entry_price,
            exit.exit_price,
            exit.qty,
            exit.pnl_net,
            exit.fees,
            exit.r_multiple.round_dp(4),
            exit.reason.as_str()
        ));
    }
    std::fs::write(path, out).map_err(|e| SessionError::io("cannot write", path, e))
}

/// Writes `equity.csv`.
///
/// # Errors
/// The file cannot be written.
pub fn write_equity_csv(path: &Path, points: &[EquityPoint]) -> Result<(), SessionError> {
    let mut out = String::from("ts_ms,equity,mark_equity\n");
    for point in points {
        out.push_str(&format!(
            "{},{},{}\n",
            point.ts_ms,
            point.equity,
            point.mark_equity.round_dp(8)
        ));
    }
    std::fs::write(path, out).map_err(|e| SessionError::io("cannot write", path, e))
}

/// Writes any serializable value as pretty JSON (atomically: temp file, fsync, rename).
///
/// # Errors
/// Serialization or I/O failure.
pub fn write_json<T: Serialize>(
    path: &Path,
    what: &'static str,
    value: &T,
) -> Result<(), SessionError> {
    let _ = what;
    la_broker_paper::persist::save_json_atomic(path, value).map_err(SessionError::from)
}
