//! Journal line format: `kind` is the tag of [`JournalEvent`] and the labels are the ones
//! `cargo xtask crash`/`soak` and the end-to-end tests read.

use la_core::{BrokerEvent, ClientOrderId, OrderRejectReason, TimestampMs};
use serde_json::Value;

use crate::{
    downtime::{CatchUpOutcome, DowntimeCause, DowntimeRecord, DowntimeSignal},
    engine::EventContext,
    funding::FundingRateSource,
    journal::{Journal, JournalEvent},
    stop::StopReason,
};

fn read_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("journal")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn every_journal_event_is_tagged_with_its_kind_label_beside_the_envelope() {
    let id = ClientOrderId::new("setups-1-long").expect("id");
    let ts = TimestampMs::new(1_700_000_000_000).expect("ts");
    let rejected = BrokerEvent::OrderRejected {
        client_order_id: id.clone(),
        reason: OrderRejectReason::TradingHalted,
        ts,
    };
    let cancelled = BrokerEvent::OrderCancelled {
        client_order_id: id,
        ts,
    };
    let record = DowntimeRecord {
        cause: DowntimeCause::Suspend,
        detected_by: DowntimeSignal::Sigcont,
        start_ms: 5,
        end_ms: 65,
        length_ms: 60,
        away_local_ms: Some(60),
        outcome: CatchUpOutcome::CaughtUp,
        candles_replayed: 1,
        candles_missing: 0,
        exits: Vec::new(),
        funding: Vec::new(),
        funding_skipped: 0,
        error: None,
    };
    let funding = BrokerEvent::FundingApplied {
        funding_time: ts,
        rate: la_core::Decimal::new(1, 4),
        mark_price: "60000".parse().expect("price"),
        amount: la_core::Decimal::new(-6, 0),
    };
    let events = [
        JournalEvent::broker(&rejected, false, EventContext::default()),
        JournalEvent::broker(&cancelled, true, EventContext::default()),
        JournalEvent::SessionStarted {
            detail: "fresh_lock",
        },
        JournalEvent::FeedConnected {
            detail: "connected",
        },
        JournalEvent::FeedDisconnected { detail: "eof" },
        JournalEvent::FeedReconnecting {
            detail: "attempt 1",
        },
        JournalEvent::GapDetected {
            detail: "2 candles",
        },
        JournalEvent::StaleDataWarning { detail: "15s" },
        JournalEvent::StaleDataRecovered { detail: "resumed" },
        JournalEvent::StaleDataHalt { detail: "120s" },
        JournalEvent::TradingHalted { detail: "breach" },
        JournalEvent::StateSaveFailed {
            detail: "disk full",
        },
        JournalEvent::DegradedStart { detail: "timeout" },
        JournalEvent::FundingSkipped {
            funding_time: 1,
            reason: "no rate",
            catch_up: false,
        },
        JournalEvent::CircuitBreakerTripped {
            reason: "daily_drawdown",
        },
        JournalEvent::SessionStopped {
            stopped_reason: StopReason::KillSwitch,
            errors: 2,
        },
        JournalEvent::DowntimeDetected {
            cause: DowntimeCause::Suspend,
            detected_by: DowntimeSignal::Sigcont,
            since_ms: Some(5),
            away_local_ms: None,
        },
        JournalEvent::CatchUpFinished(&record),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let mut journal = Journal::open(&path, false).expect("journal");
    for event in &events {
        journal.append(Some(ts.as_ms()), event);
    }
    journal.flush();
    let lines = read_lines(&path);
    assert_eq!(lines.len(), events.len());
    for ((line, event), seq) in lines.iter().zip(&events).zip(1..) {
        assert_eq!(line["kind"], event.kind(), "{line}");
        assert_eq!(line["seq"], seq);
        assert_eq!(line["ts_ms"], ts.as_ms());
        assert!(line["written_at"].is_string());
    }
    assert_eq!(
        lines[0]["event"], "order_rejected",
        "the broker's own tag stays"
    );
    assert_eq!(lines[0]["client_order_id"], "setups-1-long");
    assert_eq!(lines[0]["reason"], "trading_halted");
    assert!(lines[0].get("recovered").is_none());
    assert_eq!(lines[1]["recovered"], true);
    assert_eq!(lines[2]["detail"], "fresh_lock");
    assert_eq!(lines[13]["funding_time"], 1);
    assert_eq!(lines[15]["stopped_reason"], "kill_switch");
    assert_eq!(lines[15]["errors"], 2);
    assert_eq!(lines[16]["cause"], "suspend");
    assert_eq!(lines[16]["detected_by"], "sigcont");
    assert_eq!(lines[17]["outcome"], "caught_up");
    assert_eq!(lines[17]["end_ms"], 65);
    // A funding settlement replayed after a downtime says so, and where its rate came from.
    let context = EventContext {
        catch_up: true,
        funding_source: Some(FundingRateSource::History),
    };
    journal.append(
        Some(ts.as_ms()),
        &JournalEvent::broker(&funding, false, context),
    );
    journal.flush();
    let lines = read_lines(&path);
    let last = lines.last().expect("line");
    assert_eq!(last["kind"], "funding_applied");
    assert_eq!(last["catch_up"], true);
    assert_eq!(last["rate_source"], "history");
    assert!(lines[0].get("catch_up").is_none(), "absent when false");
}
