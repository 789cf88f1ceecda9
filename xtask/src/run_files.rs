//! Typed views of the files a session leaves in its workspace, as far as the reliability
//! checks read them: `summary.json`, `heartbeat.json`, `session.lock`,
//! `paper/broker_state.json`, the journal `paper/events.jsonl`, `decisions.jsonl` and the
//! simulator's record.
//!
//! They are written here rather than imported from the session's crates on purpose: the
//! checks read the files as a restart (or a user) would, by their documented field names,
//! so a serialisation mistake in the session cannot hide behind the same mistake in the
//! checker. Unknown fields are ignored; money is `rust_decimal::Decimal`, compared by value
//! (`10000.00` equals `10000`).

use std::{collections::BTreeMap, path::PathBuf};

use rust_decimal::Decimal;
use serde::Deserialize;

/// The fields of `runs/<run>/summary.json` the checks read.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct Summary {
    pub(crate) stopped_reason: Option<String>,
    pub(crate) source: Option<String>,
    pub(crate) candles_closed: Option<u64>,
    pub(crate) starting_equity: Option<Decimal>,
    pub(crate) state_save_failures: Option<u64>,
    /// Rejected frames by reason label.
    pub(crate) rejected_frames: Option<BTreeMap<String, u64>>,
    pub(crate) run_dir: Option<PathBuf>,
    /// The downtimes the session detected and caught up.
    #[serde(default)]
    pub(crate) downtime: Vec<Downtime>,
    /// Prices quarantined as implausible by the session's guard.
    #[serde(default)]
    pub(crate) implausible_price: u64,
    /// Fills or exits the broker refused at an implausible price (the guard's backstop).
    #[serde(default)]
    pub(crate) implausible_refused: u64,
    /// WebSocket frames and REST rows kept after a normalisation, by label.
    #[serde(default)]
    pub(crate) frames_normalized: BTreeMap<String, u64>,
    #[serde(default)]
    pub(crate) rest_rows_normalized: BTreeMap<String, u64>,
}

/// One record of `summary.json`'s `downtime` list.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Downtime {
    /// `restart`, `suspend` or `outage`.
    pub(crate) cause: String,
    /// What revealed it (`sigcont`, `exchange_time_jump`, ...).
    pub(crate) detected_by: String,
    /// Exchange time the account had reached, and caught up to (ms).
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
    /// `caught_up`, `nothing_missed`, `too_long`, `failed`, `no_source`.
    pub(crate) outcome: String,
    pub(crate) candles_replayed: u64,
    #[serde(default)]
    pub(crate) exits: Vec<serde_json::Value>,
    #[serde(default)]
    pub(crate) funding: Vec<serde_json::Value>,
}

impl Summary {
    /// How many frames were rejected under `label` (0 when none or no table).
    pub(crate) fn rejected(&self, label: &str) -> u64 {
        self.rejected_frames
            .as_ref()
            .and_then(|reasons| reasons.get(label))
            .copied()
            .unwrap_or(0)
    }
}

/// The fields of `heartbeat.json` the crash check reads.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Heartbeat {
    pub(crate) pid: u32,
    /// Realized equity.
    pub(crate) equity: Decimal,
    /// Trades closed this run.
    pub(crate) trades: u64,
}

/// The pid in a lock file (`{"pid":123,...}` or a bare number).
pub(crate) fn lock_pid(text: &str) -> Option<u32> {
    #[derive(Deserialize)]
    struct Lock {
        pid: u32,
    }
    text.trim()
        .parse()
        .ok()
        .or_else(|| Some(serde_json::from_str::<Lock>(text).ok()?.pid))
}

/// `paper/broker_state.json`: the account as the broker saved it.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct BrokerState {
    pub(crate) starting_balance: Decimal,
    pub(crate) balance: Decimal,
    pub(crate) realized_net_total: Decimal,
    pub(crate) funding_total: Decimal,
    pub(crate) position: Option<PositionState>,
    pub(crate) counters: BrokerCounters,
}

/// The open position of a [`BrokerState`].
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct PositionState {
    pub(crate) client_order_id: String,
    pub(crate) side: String,
    #[serde(default)]
    pub(crate) lots: Vec<Lot>,
}

/// One FIFO lot of a position.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Lot {
    pub(crate) qty: Decimal,
}

/// The broker's counters.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct BrokerCounters {
    pub(crate) trades: i64,
}

/// One line of the journal `paper/events.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub(crate) struct JournalLine {
    pub(crate) seq: Option<i64>,
    /// Wall-clock time of the write (RFC 3339).
    pub(crate) written_at: Option<String>,
    /// Written at start-up from the restored state's outbox: an event the state already
    /// held when the previous run was stopped before journaling it.
    #[serde(default)]
    pub(crate) recovered: bool,
    /// Booked while replaying a downtime (`"catch_up": true`).
    #[serde(default)]
    pub(crate) catch_up: bool,
    #[serde(flatten)]
    pub(crate) event: JournalEvent,
}

/// What a journal line records, by its `kind`; only the kinds the checks read have fields.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum JournalEvent {
    /// A fill opened (or added to) the position of `client_order_id`.
    Fill {
        client_order_id: String,
        side: String,
        qty: Decimal,
        /// Exchange time of the fill (ms).
        ts: Option<i64>,
        /// The fill price.
        price: Option<Decimal>,
    },
    /// The position of `client_order_id` closed with `pnl_net` (a liquidation is an exit
    /// journaled under its own kind).
    #[serde(alias = "liquidation")]
    Exit {
        client_order_id: String,
        pnl_net: Decimal,
        /// The exit price.
        exit_price: Option<Decimal>,
    },
    /// A funding cash flow (negative: paid).
    FundingApplied { amount: Decimal },
    /// A session started; `detail` says how it got the lock.
    SessionStarted { detail: Option<String> },
    /// A downtime was detected: a catch-up started.
    DowntimeDetected { cause: String },
    /// A catch-up finished (`outcome`: `caught_up`, `nothing_missed`, ...).
    CatchUpFinished {
        outcome: String,
        candles_replayed: u64,
    },
    /// Any other kind.
    #[serde(other)]
    Other,
}

impl JournalLine {
    /// Whether the line changes the account (`fill`, `exit`, `funding_applied`).
    pub(crate) fn is_money_event(&self) -> bool {
        matches!(
            self.event,
            JournalEvent::Fill { .. }
                | JournalEvent::Exit { .. }
                | JournalEvent::FundingApplied { .. }
        )
    }

    /// The client order id of a fill or exit.
    pub(crate) fn client_order_id(&self) -> Option<&str> {
        match &self.event {
            JournalEvent::Fill {
                client_order_id, ..
            }
            | JournalEvent::Exit {
                client_order_id, ..
            } => Some(client_order_id),
            _ => None,
        }
    }

    /// The `kind` of the line (`other` for the kinds the checks do not read).
    pub(crate) fn kind(&self) -> &'static str {
        match self.event {
            JournalEvent::Fill { .. } => "fill",
            JournalEvent::Exit { .. } => "exit",
            JournalEvent::FundingApplied { .. } => "funding_applied",
            JournalEvent::SessionStarted { .. } => "session_started",
            JournalEvent::DowntimeDetected { .. } => "downtime_detected",
            JournalEvent::CatchUpFinished { .. } => "catch_up_finished",
            JournalEvent::Other => "other",
        }
    }
}

/// The fields of a `decisions.jsonl` line the soak reads.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct DecisionLine {
    pub(crate) open_time: Option<i64>,
    /// Replayed while catching up after a downtime.
    #[serde(default)]
    pub(crate) catch_up: bool,
    pub(crate) provenance: Option<String>,
    /// A string for the plain outcomes (`out_of_order`, ...); kept as JSON so a richer
    /// outcome does not make the line unreadable.
    pub(crate) outcome: Option<serde_json::Value>,
}

impl DecisionLine {
    pub(crate) fn outcome_is(&self, outcome: &str) -> bool {
        self.outcome.as_ref().and_then(serde_json::Value::as_str) == Some(outcome)
    }
}

/// A candle or fault line of the simulator's record (`--sim-record`).
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct RecordLine {
    /// Virtual time of the line (ms).
    pub(crate) t: i64,
    pub(crate) open_time: Option<i64>,
    /// The fault spec of a `fault` line.
    pub(crate) fault: Option<String>,
}

impl RecordLine {
    /// The scenario name of a fault spec (`gap:3` → `gap`).
    pub(crate) fn scenario(&self) -> Option<&str> {
        let spec = self.fault.as_deref()?;
        spec.split(':').next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_files_give_their_pid() {
        assert_eq!(lock_pid("1234\n"), Some(1234));
        assert_eq!(lock_pid(r#"{"pid":77,"started_at":"x"}"#), Some(77));
        assert_eq!(lock_pid("garbage"), None);
    }

    #[test]
    fn journal_lines_read_money_events_and_pass_over_other_kinds() {
        let fill: JournalLine = serde_json::from_str(
            r#"{"seq":3,"kind":"fill","written_at":"t","client_order_id":"a","side":"long","price":"100","qty":"0.50","ts":1704071940000}"#,
        )
        .unwrap();
        assert!(fill.is_money_event() && !fill.recovered);
        assert_eq!(
            fill.event,
            JournalEvent::Fill {
                client_order_id: "a".into(),
                side: "long".into(),
                qty: Decimal::new(5, 1),
                ts: Some(1_704_071_940_000),
                price: Some(Decimal::from(100)),
            }
        );
        let other: JournalLine =
            serde_json::from_str(r#"{"seq":4,"kind":"heartbeat","qty":"not a number"}"#).unwrap();
        assert_eq!(other.event, JournalEvent::Other);
        let recovered: JournalLine =
            serde_json::from_str(r#"{"kind":"funding_applied","amount":-0.25,"recovered":true}"#)
                .unwrap();
        assert!(recovered.recovered && recovered.is_money_event());
        assert!(
            serde_json::from_str::<JournalLine>(r#"{"kind":"fill","client_order_id":"a"}"#)
                .is_err(),
            "a fill without side and qty must not read as a fill"
        );
    }

    #[test]
    fn a_liquidation_line_reads_as_the_exit_it_is() {
        let line: JournalLine = serde_json::from_str(
            r#"{"seq":9,"kind":"liquidation","client_order_id":"a","reason":"liquidation","pnl_net":"-46"}"#,
        )
        .unwrap();
        assert!(line.is_money_event());
        assert_eq!(line.kind(), "exit");
        assert_eq!(line.client_order_id(), Some("a"));
    }
}
