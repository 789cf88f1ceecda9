//! The summary's field names and labels are a contract: these tests pin them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::{RunResults, RunSummary, StopReason};

fn summary() -> RunSummary {
    RunSummary {
        run_id: "r".into(),
        source: "sim".into(),
        symbol: "BTCUSDT".into(),
        interval: "1m".into(),
        strategy: "setups".into(),
        dry_run: false,
        data: None,
        started_at: "a".into(),
        ended_at: "b".into(),
        duration_s: 1.5,
        stopped_reason: Some(StopReason::DurationReached),
        candles_closed: 3,
        results: RunResults {
            trades: 1,
            wins: 1,
            losses: 0,
            win_rate: Decimal::ONE,
            starting_equity: Decimal::from(100),
            ending_equity: Decimal::from(104),
            net_pnl: Decimal::from(4),
            trade_pnl: Decimal::from(5),
            fees: Decimal::ONE,
            funding: Decimal::NEGATIVE_ONE,
            max_drawdown: Decimal::ZERO,
            max_drawdown_frac: Decimal::ZERO,
            sharpe: None,
            sortino: None,
            profit_factor: None,
            exposure: Decimal::ZERO,
            liquidations: 0,
        },
        fills: 1,
        orders_rejected: 0,
        ambiguous_bars: 0,
        errors: 0,
        last_error: None,
        reconnects: 0,
        rejected_frames: BTreeMap::new(),
        rejected_rows: BTreeMap::new(),
        frames_normalized: BTreeMap::new(),
        rest_rows_rejected: BTreeMap::new(),
        rest_rows_normalized: BTreeMap::from([("open_outside_range".to_owned(), 1)]),
        rows_normalized: BTreeMap::new(),
        candle_file: None,
        funding_model: crate::inputs::FundingModel::Constant {
            rate: Decimal::new(1, 4),
        },
        implausible_price: 2,
        implausible_refused: 0,
        backfilled_candles: 0,
        funding_events: 1,
        funding_skipped: 0,
        state_save_failures: 0,
        decisions: BTreeMap::new(),
        funding_settlements: Vec::new(),
        downtime: Vec::new(),
        covered_by_catch_up: 0,
        run_dir: "/r".into(),
        config: serde_json::Value::Null,
    }
}

#[test]
fn a_summary_round_trips_with_the_flat_field_names_the_checks_read() {
    let value = serde_json::to_value(summary()).unwrap();
    for key in [
        "stopped_reason",
        "source",
        "candles_closed",
        "starting_equity",
        "ending_equity",
        "net_pnl",
        "trade_pnl",
        "funding",
        "trades",
        "state_save_failures",
        "rejected_frames",
        "rest_rows_rejected",
        "rest_rows_normalized",
        "frames_normalized",
        "implausible_price",
        "run_dir",
    ] {
        assert!(value.get(key).is_some(), "{key} missing from {value}");
    }
    assert_eq!(value["stopped_reason"], "duration_reached");
    assert_eq!(value["net_pnl"], "4", "money is an exact decimal string");
    assert!(value.get("data").is_none(), "a live run has no data file");
    assert_eq!(value["rest_rows_normalized"]["open_outside_range"], 1);
    let back: RunSummary = serde_json::from_value(value).unwrap();
    assert_eq!(back, summary());
}

#[test]
fn a_summary_written_before_the_data_quality_counters_still_reads() {
    let mut value = serde_json::to_value(summary()).unwrap();
    let object = value.as_object_mut().unwrap();
    for key in [
        "frames_normalized",
        "rest_rows_rejected",
        "rest_rows_normalized",
        "rows_normalized",
        "implausible_price",
        "implausible_refused",
    ] {
        object.remove(key);
    }
    let back: RunSummary = serde_json::from_value(value).unwrap();
    assert_eq!(
        (back.implausible_price, back.rest_rows_normalized.len()),
        (0, 0)
    );
}

#[test]
fn every_stop_reason_serializes_as_its_label() {
    for reason in [
        StopReason::DurationReached,
        StopReason::Signal,
        StopReason::StopRequested,
        StopReason::KillSwitch,
        StopReason::StaleData,
        StopReason::ErrorBudget,
        StopReason::CircuitBreaker,
        StopReason::MemoryLimit,
        StopReason::FeedEnded,
        StopReason::FatalError,
    ] {
        assert_eq!(
            serde_json::to_value(reason).unwrap(),
            serde_json::Value::from(reason.as_str())
        );
    }
}

#[test]
fn the_funding_model_is_a_tagged_label_and_an_old_summary_reads_as_unrecorded() {
    use crate::inputs::FundingModel;
    assert_eq!(
        serde_json::to_value(FundingModel::NotModelled).unwrap(),
        serde_json::json!({"kind": "not_modelled"})
    );
    assert_eq!(
        serde_json::to_value(summary()).unwrap()["funding_model"],
        serde_json::json!({"kind": "constant", "rate": "0.0001"})
    );
    assert!(!FundingModel::NotModelled.is_modelled());
    let mut value = serde_json::to_value(summary()).unwrap();
    value.as_object_mut().unwrap().remove("funding_model");
    let back: RunSummary = serde_json::from_value(value).unwrap();
    assert_eq!(back.funding_model, FundingModel::Unrecorded);
}

#[test]
fn an_exchange_history_recorded_before_its_cache_file_was_named_still_reads_and_describes() {
    use crate::inputs::FundingModel;
    let old: FundingModel =
        serde_json::from_value(serde_json::json!({"kind": "exchange_history", "rates": 3}))
            .unwrap();
    assert_eq!(
        old.describe(),
        "3 rates from the exchange's funding-rate history"
    );
    let now = FundingModel::ExchangeHistory {
        path: "data/x_funding.csv".into(),
        rates: 3,
        rows: 4,
        rejected: BTreeMap::from([(
            "absurd_rate".to_owned(),
            crate::inputs::RejectedRows {
                count: 1,
                first_lines: vec![5],
            },
        )]),
    };
    assert_eq!(
        now.describe(),
        "3 rates from the exchange's funding-rate history, cached in data/x_funding.csv (1 of 4 rows rejected)"
    );
}
