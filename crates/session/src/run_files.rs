//! Run artifacts: the engine sink that writes the event journal, `decisions.jsonl` and the
//! equity curve, and the end-of-run files `trades.csv`, `equity.csv` and `summary.json`.
//!
//! A live session and a backtest write the same files in the same shapes, so reports and
//! the parity check read either.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    sync::Arc,
};

use la_core::{BrokerEvent, Decimal, Exit, TimestampMs};
use la_private_fs::{Durability, write_replace};
use serde::Serialize;

use crate::{
    engine::{DecisionRecord, EngineSink, EventContext},
    error::SessionError,
    funding::FundingSettlement,
    journal::{Journal, JournalEvent},
    rotation::{RotatingFile, RotationPolicy},
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
    /// The price the account was marked at: the last accepted price at the close (the
    /// candle's close unless that was quarantined). The report's price chart is drawn from it.
    pub mark_price: Decimal,
}

/// Decisions kept for the dashboard.
pub const RECENT_DECISIONS: usize = 20;

/// A decision as the dashboard lists it (no allocation per candle).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecentDecision {
    /// Candle open time (epoch ms).
    pub open_time_ms: i64,
    /// Candle close.
    pub close: Decimal,
    /// What the session did.
    pub outcome: &'static str,
    /// The gate that blocked an order.
    pub blocked_by: Option<&'static str>,
}

/// Whether a run writes `decisions.jsonl` (the decision counts are kept either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecisionLog {
    /// One line per decided candle: the candle, the indicators, the gate, the outcome (live
    /// sessions always; a backtest with `--decisions`).
    Written,
    /// Counted only (`summary.json`'s `decisions`): a backtest's default, where the file
    /// would be most of the run's output (~30 MB for a month of one-minute candles) and most
    /// of its time.
    CountedOnly,
}

/// Writes journal lines and decision records as the engine runs.
#[derive(Debug)]
pub struct FileSink {
    journal: Journal,
    /// `None` when the run counts its decisions without writing them
    /// ([`DecisionLog::CountedOnly`]).
    decisions: Option<RotatingFile>,
    /// Scratch buffer for one decision line.
    decision_line: Vec<u8>,
    decisions_path: PathBuf,
    decision_counts: BTreeMap<String, u64>,
    /// Scratch buffer for `decision_counts` keys.
    count_key: String,
    /// The newest decisions (at most [`RECENT_DECISIONS`]), oldest first.
    recent: std::collections::VecDeque<RecentDecision>,
    /// Equity after every candle.
    pub equity_curve: Vec<EquityPoint>,
    /// Trades closed during this run.
    pub trades: Vec<Exit>,
    /// Funding settlements booked during this run, with their rate's source.
    pub funding_settlements: Vec<FundingSettlement>,
    write_errors: u64,
    symbol: String,
    /// Live sessions hold broker events until the state that contains them is saved, so the
    /// journal is never ahead of the state files (a crash in between replays the candle, and
    /// the persisted processed ids then refuse a second fill).
    hold_events: bool,
    held: Vec<(BrokerEvent, EventContext)>,
}

impl FileSink {
    /// Opens the journal at `journal_path` and `decisions.jsonl` in `run_dir`; a live run
    /// passes `decisions_rotation` so a session left for days keeps the file bounded (a
    /// backtest passes `None`: its report reads the whole file).
    ///
    /// # Errors
    /// A file cannot be created.
    pub fn open(
        journal_path: &Path,
        durable_journal: bool,
        run_dir: &Path,
        symbol: &str,
        decisions_rotation: Option<RotationPolicy>,
    ) -> Result<Self, SessionError> {
        let journal = Journal::open(journal_path, durable_journal)?;
        let decisions_path = run_dir.join("decisions.jsonl");
        let clock = Arc::new(la_feed_bitunix::SystemClock);
        let decisions = match decisions_rotation {
            None => RotatingFile::create_unbounded(&decisions_path, clock),
            Some(policy) => RotatingFile::open(&decisions_path, Some(policy), clock),
        }
        .map_err(|e| SessionError::io("cannot create", &decisions_path, e))?;
        Ok(Self::assemble(
            journal,
            decisions_path,
            Some(decisions),
            symbol,
        ))
    }

    /// [`FileSink::open`] for a run that counts its decisions (`summary.json`) but writes no
    /// `decisions.jsonl`: nothing is created in `run_dir` for them.
    ///
    /// # Errors
    /// The journal cannot be opened.
    pub fn open_counting_decisions(
        journal_path: &Path,
        durable_journal: bool,
        run_dir: &Path,
        symbol: &str,
    ) -> Result<Self, SessionError> {
        let journal = Journal::open(journal_path, durable_journal)?;
        Ok(Self::assemble(
            journal,
            run_dir.join("decisions.jsonl"),
            None,
            symbol,
        ))
    }

    fn assemble(
        journal: Journal,
        decisions_path: PathBuf,
        decisions: Option<RotatingFile>,
        symbol: &str,
    ) -> Self {
        Self {
            journal,
            decisions,
            decision_line: Vec::with_capacity(512),
            decisions_path,
            decision_counts: BTreeMap::new(),
            count_key: String::new(),
            recent: std::collections::VecDeque::with_capacity(RECENT_DECISIONS),
            equity_curve: Vec::new(),
            trades: Vec::new(),
            funding_settlements: Vec::new(),
            write_errors: 0,
            symbol: symbol.to_owned(),
            hold_events: false,
            held: Vec::new(),
        }
    }

    /// Holds broker events until [`FileSink::release_held`] (live sessions).
    pub fn hold_broker_events(&mut self) {
        self.hold_events = true;
    }

    /// Whether a held money event — a fill, an exit or a funding payment — waits for a
    /// state save. Funding moves the balance as surely as an exit does: journaling it before
    /// the state that contains it would let a crash leave the journal ahead of the account.
    pub fn holds_state_changes(&self) -> bool {
        self.held.iter().any(|(e, _)| {
            matches!(
                e,
                BrokerEvent::Filled(_)
                    | BrokerEvent::Exited(_)
                    | BrokerEvent::FundingApplied { .. }
            )
        })
    }

    /// The held broker events, in order (saved with the account as its `BrokerState::outbox`).
    pub fn held_events(&self) -> Vec<BrokerEvent> {
        self.held.iter().map(|(event, _)| event.clone()).collect()
    }

    /// Appends the events of a restored broker state's outbox that the journal lacks
    /// (a crash came between the write-ahead save and the journal lines), each marked
    /// `"recovered": true`; returns how many. If the journal cannot be read, nothing is
    /// appended (a duplicate line would be worse than the logged gap).
    pub fn recover_unjournaled(&mut self, events: &[BrokerEvent]) -> usize {
        if events.is_empty() {
            return 0;
        }
        let recorded = match crate::journal::recorded_keys(self.journal.path()) {
            Ok(keys) => keys,
            Err(err) => {
                tracing::error!(symbol = %self.symbol, error = &err as &dyn std::error::Error, "cannot read the journal to recover unjournaled events");
                return 0;
            }
        };
        let mut recovered = 0;
        for event in events {
            let line = JournalEvent::broker(event, true, EventContext::default());
            let key = (
                line.kind().to_owned(),
                event_time(event),
                event_order_id(event).map(str::to_owned),
            );
            if recorded.contains(&key) {
                continue;
            }
            self.journal.append(event_time(event), &line);
            recovered += 1;
        }
        if recovered > 0 {
            tracing::warn!(symbol = %self.symbol, recovered, "journaled events the last run saved but did not journal before it stopped");
        }
        recovered
    }

    /// Journals the held broker events (after the state containing them was saved, or
    /// after the save failed and was alerted).
    pub fn release_held(&mut self) {
        for (event, context) in std::mem::take(&mut self.held) {
            self.journal.append(
                event_time(&event),
                &JournalEvent::broker(&event, false, context),
            );
        }
    }

    /// Bumps the count of `prefix` + `label` without allocating once the key exists.
    fn count_decision(&mut self, prefix: &str, label: &str) {
        self.count_key.clear();
        self.count_key.push_str(prefix);
        self.count_key.push_str(label);
        match self.decision_counts.get_mut(self.count_key.as_str()) {
            Some(count) => *count += 1,
            None => {
                self.decision_counts.insert(self.count_key.clone(), 1);
            }
        }
    }

    /// The journal, for session events (connection changes, stops, alerts).
    pub fn journal(&mut self) -> &mut Journal {
        &mut self.journal
    }

    /// The newest decisions, oldest first.
    pub fn recent_decisions(&self) -> impl Iterator<Item = &RecentDecision> {
        self.recent.iter()
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
        if let Some(Err(err)) = self.decisions.as_mut().map(RotatingFile::flush) {
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

fn event_order_id(event: &BrokerEvent) -> Option<&str> {
    match event {
        BrokerEvent::OrderAccepted {
            client_order_id, ..
        }
        | BrokerEvent::OrderRejected {
            client_order_id, ..
        }
        | BrokerEvent::OrderCancelled {
            client_order_id, ..
        }
        | BrokerEvent::TrailingActivated {
            client_order_id, ..
        } => Some(client_order_id.as_str()),
        BrokerEvent::Filled(fill) => Some(fill.client_order_id.as_str()),
        BrokerEvent::Exited(exit) => Some(exit.client_order_id.as_str()),
        BrokerEvent::FundingApplied { .. } => None,
    }
}

impl EngineSink for FileSink {
    fn broker_event(&mut self, event: &BrokerEvent, context: EventContext) {
        match event {
            BrokerEvent::Exited(exit) => {
                tracing::info!(symbol = %self.symbol, client_order_id = %exit.client_order_id, reason = exit.reason.as_str(), pnl = %exit.pnl_net, "position closed");
                self.trades.push(exit.clone());
            }
            BrokerEvent::FundingApplied {
                funding_time,
                rate,
                mark_price,
                amount,
            } => self.funding_settlements.push(FundingSettlement {
                funding_time_ms: funding_time.as_ms(),
                rate: *rate,
                mark_price: mark_price.get(),
                amount: *amount,
                source: context.funding_source,
                catch_up: context.catch_up,
            }),
            BrokerEvent::Filled(fill) => {
                tracing::info!(symbol = %self.symbol, client_order_id = %fill.client_order_id, side = %fill.side, price = %fill.price, qty = %fill.qty, "order filled");
            }
            _ => {}
        }
        if self.hold_events {
            self.held.push((event.clone(), context));
        } else {
            self.journal.append(
                event_time(event),
                &JournalEvent::broker(event, false, context),
            );
        }
    }

    fn decision(&mut self, record: &DecisionRecord<'_>) {
        let outcome = record.outcome.as_str();
        self.count_decision("outcome:", outcome);
        if let Some(gate) = record.decision.blocked_by() {
            self.count_decision("blocked_by:", gate.as_str());
        }
        let candle = record.candle;
        if self.recent.len() >= RECENT_DECISIONS {
            self.recent.pop_front();
        }
        self.recent.push_back(RecentDecision {
            open_time_ms: candle.open_time().as_ms(),
            close: candle.close().get(),
            outcome,
            blocked_by: record.decision.blocked_by().map(|gate| gate.as_str()),
        });
        let Some(decisions) = self.decisions.as_mut() else {
            return;
        };
        // Serialized straight from borrowed fields (no `serde_json::Value` tree, no
        // intermediate strings): one line per candle is most of a backtest's output.
        let line = DecisionLine {
            open_time: candle.open_time().as_ms(),
            open: Shown(candle.open()),
            high: Shown(candle.high()),
            low: Shown(candle.low()),
            close: Shown(candle.close()),
            volume: Shown(candle.volume()),
            provenance: record.provenance.as_str(),
            bar_index: record.bar_index,
            decision: record.decision,
            client_order_id: record.client_order_id.map(|id| id.as_str()),
            outcome,
            equity: Shown(record.equity),
            catch_up: record.catch_up,
        };
        self.decision_line.clear();
        let written = serde_json::to_writer(&mut self.decision_line, &line)
            .map_err(std::io::Error::other)
            .and_then(|()| {
                self.decision_line.push(b'\n');
                decisions.write_line(&self.decision_line)
            });
        if let Err(err) = written {
            self.write_errors += 1;
            tracing::error!(symbol = %self.symbol, error = &err as &dyn std::error::Error, "cannot write decision record");
        }
    }

    fn breaker_tripped(&mut self, reason: &str, ts: TimestampMs) {
        self.journal.append(
            Some(ts.as_ms()),
            &JournalEvent::CircuitBreakerTripped { reason },
        );
    }
}

/// Writes `trades.csv`: one row per closed trade, `pnl` net of all fees, the `funding` the
/// broker booked against the position while it was open (not in `pnl`; the column sums to
/// the ledger's funding over the run's trades), the position's isolated `leverage` and
/// `liquidation_price` (where a `liquidation` exit filled).
///
/// # Errors
/// The file cannot be written.
pub fn write_trades_csv(path: &Path, trades: &[Exit]) -> Result<(), SessionError> {
    let mut out = String::from(
        "trade_id,side,entry_time_ms,exit_time_ms,entry_price,exit_price,qty,pnl,fees,funding,r_multiple,exit_reason,leverage,liquidation_price\n",
    );
    for exit in trades {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            exit.client_order_id,
            exit.side,
            exit.opened_at.as_ms(),
            exit.ts.as_ms(),
            exit.entry_price,
            exit.exit_price,
            exit.qty,
            exit.pnl_net,
            exit.fees,
            exit.funding,
            exit.r_multiple.round_dp(4),
            exit.reason.as_str(),
            exit.leverage.get(),
            exit.liquidation_price
        ));
    }
    write_replace(path, out.as_bytes(), Durability::Synced)
        .map_err(|e| SessionError::io("cannot write", path, e))
}

/// Writes `equity.csv`.
///
/// # Errors
/// The file cannot be written.
pub fn write_equity_csv(path: &Path, points: &[EquityPoint]) -> Result<(), SessionError> {
    // One row per candle (42,915 for a month of 1m candles): written with `itoa` and
    // `push_decimal` rather than `format!`, which was a sixth of a whole backtest's time.
    let mut out = String::with_capacity(64 + points.len() * 64);
    out.push_str("ts_ms,equity,mark_equity,mark_price\n");
    let mut integer = itoa::Buffer::new();
    for point in points {
        out.push_str(integer.format(point.ts_ms));
        out.push(',');
        push_decimal(&mut out, point.equity);
        out.push(',');
        push_decimal(&mut out, point.mark_equity.round_dp(8));
        out.push(',');
        push_decimal(&mut out, point.mark_price);
        out.push('\n');
    }
    write_replace(path, out.as_bytes(), Durability::Synced)
        .map_err(|e| SessionError::io("cannot write", path, e))
}

/// Appends `value` exactly as its `Display` writes it (every digit of its scale, a `-` for
/// any negative value, `-0` included), without the formatting machinery: the mantissa is
/// written once with `itoa` and the point inserted. A mantissa beyond `u64` takes `Display`.
pub(crate) fn push_decimal(out: &mut String, value: Decimal) {
    let Ok(mantissa) = u64::try_from(value.mantissa().unsigned_abs()) else {
        // Past 18 significant digits: rare, and `Display` is exact.
        let _ = write!(out, "{value}");
        return;
    };
    if value.is_sign_negative() {
        out.push('-');
    }
    let scale = value.scale() as usize;
    let mut buffer = itoa::Buffer::new();
    let digits = buffer.format(mantissa);
    if digits.len() > scale {
        let (whole, fraction) = digits.split_at(digits.len() - scale);
        out.push_str(whole);
        if scale > 0 {
            out.push('.');
            out.push_str(fraction);
        }
    } else {
        // A value below 1 (`digits` is never empty, so `scale` ≥ 1 here).
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - digits.len()));
        out.push_str(digits);
    }
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

/// One line of `decisions.jsonl`: the candle, the strategy's decision (its fields inline)
/// and what the session did with it. Prices and amounts are JSON strings (exact decimals).
#[derive(Serialize)]
struct DecisionLine<'a> {
    open_time: i64,
    open: Shown<la_core::Price>,
    high: Shown<la_core::Price>,
    low: Shown<la_core::Price>,
    close: Shown<la_core::Price>,
    volume: Shown<la_core::Volume>,
    provenance: &'static str,
    bar_index: u64,
    #[serde(flatten)]
    decision: &'a la_strategy::Decision,
    client_order_id: Option<&'a str>,
    outcome: &'static str,
    equity: Shown<Decimal>,
    /// Replayed while catching up after a downtime (absent otherwise).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    catch_up: bool,
}

/// Serializes a value as the JSON string of its `Display` form, without allocating.
struct Shown<T>(T);

impl<T: std::fmt::Display> Serialize for Shown<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}
