//! Tests of configuration, the lock, the breaker and funding timing.

use std::time::Duration;

use la_core::{Decimal, FundingInfo, TimestampMs};

use crate::{
    breaker::{BreakerLimits, BreakerState, CircuitBreaker},
    config::{RawRunConfig, parse_duration},
    funding::{FundingSchedule, next_funding_after},
    workspace::{LockOutcome, LockState, SessionLock},
};

fn ts(ms: i64) -> TimestampMs {
    TimestampMs::new(ms).expect("timestamp")
}

#[test]
fn duration_accepts_bare_minutes_and_units() {
    assert_eq!(parse_duration("10"), Ok(Duration::from_secs(600)));
    assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
    assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
    for bad in ["", "m", "10x", "-5", "1.5h", "ten"] {
        assert!(parse_duration(bad).is_err(), "{bad:?} must be rejected");
    }
}

#[test]
fn validation_reports_every_bad_key_at_once() {
    let raw = RawRunConfig {
        source: "nasdaq".into(),
        interval: "7m".into(),
        duration: "soon".into(),
        starting_balance: Decimal::ZERO,
        ws_url: "http://x".into(),
        ..RawRunConfig::default()
    };
    let issues = raw.validate().expect_err("invalid config");
    let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
    for key in [
        "source",
        "interval",
        "duration",
        "starting_balance",
        "ws_url",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
}

#[test]
fn default_config_is_valid_and_runs_the_mock_source() {
    let config = RawRunConfig::default()
        .validate()
        .expect("defaults are valid");
    assert_eq!(config.source.as_str(), "mock");
    assert_eq!(config.stale_timeout, Duration::from_secs(120));
    assert_eq!(config.duration, Some(Duration::from_secs(600)));
}

#[test]
fn max_clock_skew_can_be_switched_off() {
    let raw = RawRunConfig {
        max_clock_skew: "off".into(),
        ..RawRunConfig::default()
    };
    assert_eq!(raw.validate().expect("valid").max_clock_skew, None);
}

#[test]
fn a_sessions_configuration_keys_read_back_as_the_same_configuration() {
    let raw = RawRunConfig {
        duration: "90s".into(),
        max_clock_skew: "off".into(),
        max_catch_up: "2d".into(),
        max_rss_mb: 300,
        http: "off".into(),
        data: Some("candles.csv".into()),
        setups: la_strategy::SetupsConfig {
            risk_frac: la_core::Decimal::new(5, 3),
            ..la_strategy::SetupsConfig::default()
        },
        alerts: crate::config::RawAlerts {
            format: Some("slack".into()),
            digest_hour_utc: Some(6),
            ..crate::config::RawAlerts::default()
        },
        ..RawRunConfig::default()
    };
    let keys = serde_json::Value::Object(raw.validate().unwrap().config_keys());
    // Every key is a configuration key: the raw shape refuses unknown ones.
    let back: RawRunConfig = serde_json::from_value(keys.clone())
        .unwrap_or_else(|err| panic!("not configuration keys: {err}\n{keys:#}"));
    assert_eq!(
        (back.duration.as_str(), back.max_clock_skew.as_str()),
        ("90s", "off")
    );
    assert_eq!((back.max_catch_up.as_str(), back.max_rss_mb), ("2d", 300));
    assert_eq!(back.setups.risk_frac, la_core::Decimal::new(5, 3));
    assert_eq!(back.alerts.format.as_deref(), Some("slack"));
    assert_eq!(back.alerts.webhook, None, "the webhook is a secret");
    let again = serde_json::Value::Object(back.validate().unwrap().config_keys());
    assert_eq!(again, keys);
}

#[test]
fn urls_with_credentials_are_serialised_and_reported_redacted() {
    let raw = RawRunConfig {
        ws_url: "wss://alice:Hunter2@fapi.example.com/public/".into(),
        rest_url: "https://fapi.example.com/?token=T0ken".into(),
        ..RawRunConfig::default()
    };
    let config = raw.validate().expect("valid");
    assert_eq!(
        config.ws_url,
        "wss://alice:Hunter2@fapi.example.com/public/"
    );
    let keys = config.config_keys();
    assert_eq!(keys["ws_url"], "wss://…@fapi.example.com/public/");
    assert_eq!(keys["rest_url"], "https://fapi.example.com/?…");
    for text in [
        serde_json::to_string(&keys).expect("serialises"),
        serde_json::to_string(&config).expect("serialises"),
    ] {
        assert!(
            !text.contains("Hunter2") && !text.contains("T0ken"),
            "{text}"
        );
    }
    let bad = RawRunConfig {
        ws_url: "ftp://alice:Hunter2@host/?token=T0ken".into(),
        ..RawRunConfig::default()
    };
    let issues = bad.validate().expect_err("a bad scheme");
    let message = &issues
        .iter()
        .find(|i| i.key == "ws_url")
        .expect("ws_url")
        .message;
    assert!(message.contains("ftp://…@host/?…"), "{message}");
}

#[test]
fn lock_refuses_a_live_owner_and_takes_over_a_dead_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("session.lock");
    assert_eq!(SessionLock::probe(&path).expect("probe"), LockState::Absent);
    let (lock, outcome) = SessionLock::acquire(&path).expect("fresh lock");
    assert_eq!(outcome, LockOutcome::Fresh);
    assert_eq!(
        SessionLock::probe(&path).expect("probe"),
        LockState::Held {
            pid: Some(std::process::id())
        }
    );
    let second = SessionLock::acquire(&path);
    assert!(
        matches!(second, Err(crate::SessionError::AlreadyRunning { pid, .. }) if pid == std::process::id()),
        "{second:?}"
    );
    lock.release();
    assert!(!path.exists());
    // A pid that cannot be alive (beyond pid_max on Linux).
    std::fs::write(&path, "4194305\n").expect("write stale lock");
    let (_lock, outcome) = SessionLock::acquire(&path).expect("stale lock taken over");
    assert_eq!(
        outcome,
        LockOutcome::TookOverStale {
            previous_pid: 4_194_305
        }
    );
}

#[test]
fn a_lock_file_naming_a_live_unrelated_pid_is_stale_and_taken_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("session.lock");
    // PID 1 is always alive, and is never a session: after a crash and PID reuse, the file
    // names a live process that holds no lock.
    std::fs::write(&path, "1\n").expect("write lock naming pid 1");
    assert_eq!(
        SessionLock::probe(&path).expect("probe"),
        LockState::Stale { pid: Some(1) }
    );
    let (lock, outcome) = SessionLock::acquire(&path).expect("taken over");
    assert_eq!(outcome, LockOutcome::TookOverStale { previous_pid: 1 });
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        format!("{}\n", std::process::id()),
        "the file now names its holder"
    );
    drop(lock);
    assert!(!path.exists(), "dropping the lock removes the file");
}

#[test]
fn a_symlink_at_the_lock_path_is_refused_and_its_target_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, "precious\n").expect("write target");
    let path = dir.path().join("session.lock");
    std::os::unix::fs::symlink(&target, &path).expect("symlink");
    let err = SessionLock::acquire(&path).expect_err("a link is refused");
    assert!(
        crate::error_chain(&err).contains("symbolic link"),
        "{}",
        crate::error_chain(&err)
    );
    assert_eq!(
        std::fs::read_to_string(&target).expect("read"),
        "precious\n"
    );
}

fn breaker() -> CircuitBreaker {
    CircuitBreaker::new(
        BreakerLimits {
            max_daily_drawdown: Decimal::new(5, 2),
            max_consecutive_losses: 3,
        },
        BreakerState::default(),
    )
}

#[test]
fn breaker_trips_on_consecutive_losses_and_a_win_resets_the_streak() {
    let mut breaker = breaker();
    let day = ts(1_786_600_000_000);
    breaker.observe_time(day, Decimal::from(10_000));
    assert_eq!(
        breaker.record_exit(day, Decimal::from(-10), Decimal::from(9_990)),
        None
    );
    assert_eq!(
        breaker.record_exit(day, Decimal::from(-10), Decimal::from(9_980)),
        None
    );
    assert_eq!(
        breaker.record_exit(day, Decimal::from(5), Decimal::from(9_985)),
        None
    );
    assert_eq!(
        breaker.record_exit(day, Decimal::from(-10), Decimal::from(9_975)),
        None
    );
    assert_eq!(
        breaker.record_exit(day, Decimal::from(-10), Decimal::from(9_965)),
        None
    );
    assert_eq!(
        breaker.record_exit(day, Decimal::from(-10), Decimal::from(9_955)),
        Some("consecutive_losses")
    );
    assert_eq!(breaker.tripped(), Some("consecutive_losses"));
}

#[test]
fn breaker_trips_on_daily_drawdown_and_resets_on_a_new_utc_day() {
    let mut breaker = breaker();
    let day = ts(1_786_579_200_000); // a UTC midnight
    breaker.observe_time(day, Decimal::from(10_000));
    assert_eq!(
        breaker.record_exit(day, Decimal::from(600), Decimal::from(10_600)),
        None
    );
    let tripped = breaker.record_exit(day, Decimal::from(-700), Decimal::from(9_500));
    assert_eq!(tripped, Some("daily_drawdown"));
    breaker.observe_time(ts(1_786_579_200_000 + 86_400_000), Decimal::from(9_500));
    assert_eq!(
        breaker.tripped(),
        None,
        "a persisted trip must not block forever (defect 15)"
    );
}

#[test]
fn funding_times_are_00_08_16_utc() {
    let midnight = 1_786_579_200_000;
    assert_eq!(
        next_funding_after(ts(midnight)),
        Some(ts(midnight + 8 * 3_600_000))
    );
    assert_eq!(next_funding_after(ts(midnight - 1)), Some(ts(midnight)));
    assert_eq!(
        next_funding_after(ts(midnight + 9 * 3_600_000)),
        Some(ts(midnight + 16 * 3_600_000))
    );
}

#[test]
fn funding_schedule_fires_once_per_funding_time_and_takes_only_the_rate_settled_then() {
    let midnight = 1_786_579_200_000;
    let mut schedule = FundingSchedule::default();
    assert_eq!(schedule.due(ts(midnight - 60_000)), None, "first call arms");
    assert_eq!(schedule.due(ts(midnight - 1)), None);
    assert_eq!(schedule.due(ts(midnight + 5)), Some(ts(midnight)));
    assert_eq!(
        schedule.due(ts(midnight + 10)),
        None,
        "once per funding time"
    );
    assert_eq!(
        schedule.settled_rate_for(ts(midnight)),
        None,
        "no rate observed: nothing, never zero"
    );
    let fr = |rate: i64, at: i64| FundingInfo {
        rate: Decimal::new(rate, 4),
        mark_price: None,
        next_funding_time: None,
        ts: ts(at),
    };
    // `fr` pushed before midnight is the previous period's settled rate: not midnight's.
    schedule.observe(fr(1, midnight - 1_000));
    assert_eq!(schedule.settled_rate_for(ts(midnight)), None);
    // The first `fr` pushed at or after midnight is the rate that settled at midnight.
    schedule.observe(fr(3, midnight + 400));
    assert_eq!(
        schedule.settled_rate_for(ts(midnight)).map(|i| i.rate),
        Some(Decimal::new(3, 4))
    );
    assert_eq!(
        schedule.settled_rate_for(ts(midnight - 8 * 3_600_000)),
        None,
        "a later period's rate is not an earlier one's"
    );
    // An older push arriving late never replaces a newer observation.
    schedule.observe(fr(1, midnight - 2_000));
    assert_eq!(
        schedule.settled_rate_for(ts(midnight)).map(|i| i.rate),
        Some(Decimal::new(3, 4))
    );
}

#[test]
fn the_upcoming_rate_is_read_once_shortly_before_its_funding_time() {
    let midnight = 1_786_579_200_000;
    let mut schedule = FundingSchedule::starting_after(ts(midnight - 3_600_000));
    assert_eq!(
        schedule.upcoming_read_due(ts(midnight - 3_000_000)),
        None,
        "too early"
    );
    assert_eq!(
        schedule.upcoming_read_due(ts(midnight - 300_000)),
        Some(ts(midnight))
    );
    assert_eq!(
        schedule.upcoming_read_due(ts(midnight - 200_000)),
        None,
        "once"
    );
    let read = |next: i64| FundingInfo {
        rate: Decimal::new(2, 4),
        mark_price: None,
        next_funding_time: Some(ts(next)),
        ts: ts(midnight - 300_000),
    };
    schedule.record_upcoming(read(midnight));
    assert_eq!(
        schedule.upcoming_for(ts(midnight)).map(|i| i.rate),
        Some(Decimal::new(2, 4))
    );
    assert_eq!(
        schedule.upcoming_for(ts(midnight + 8 * 3_600_000)),
        None,
        "a read names the one funding time it is for"
    );
}

#[test]
fn the_status_line_shows_leverage_margin_and_liquidation_price() {
    let beat: crate::status::Heartbeat = serde_json::from_value(serde_json::json!({
        "pid": 1, "run_id": "r", "source": "sim", "symbol": "BTCUSDT", "interval": "1m",
        "started_at": "t", "updated_at": "t", "updated_at_ms": 0, "uptime_s": 1,
        "time_left_s": null, "last_price": "100000", "equity": "10000",
        "mark_equity": "10000", "pnl": "0",
        "position": {
            "side": "long", "qty": "0.01", "avg_entry": "100000", "stop_loss": "99700",
            "take_profit": null, "leverage": 20, "margin": "50",
            "liquidation_price": "95939.7"
        },
        "candles_closed": 0, "last_candle_open_ms": null, "last_data_age_ms": 0,
        "reconnects": 0, "trades": 0, "errors": 0, "last_error": null, "rss_bytes": null,
        "stopping": null
    }))
    .expect("heartbeat");
    let line = beat.status_line();
    assert!(
        line.contains("long 0.01 @ 100000 (20x, margin 50, liq 95939.7)"),
        "{line}"
    );
}

#[test]
fn the_status_view_of_a_position_carries_its_isolated_margin() {
    let position = la_core::Position {
        side: la_core::Side::Short,
        qty: la_core::Qty::new(Decimal::new(2, 2)).expect("qty"),
        avg_entry: Decimal::from(100_000),
        stop_loss: la_core::Price::new(Decimal::from(100_300)).expect("stop"),
        take_profit: None,
        opened_at: ts(1_704_067_200_000),
        client_order_id: la_core::ClientOrderId::new("s-1").expect("id"),
        leverage: la_core::Leverage::new(10).expect("leverage"),
        margin: Decimal::from(200),
        liquidation_price: la_core::Price::new(Decimal::new(1_085_231, 1)).expect("price"),
    };
    let view = crate::status::PositionView::from(&position);
    assert_eq!(
        (view.leverage, view.margin, view.liquidation_price),
        (10, Decimal::from(200), Decimal::new(1_085_231, 1))
    );
    assert_eq!(view.side, "short");
}

#[test]
fn the_margin_table_sets_the_brokers_rates_and_refuses_bad_ones() {
    let raw: crate::RawRunConfig = serde_json::from_value(serde_json::json!({
        "margin": { "maintenance_margin_rate": "0.025", "liquidation_fee_rate": "0.01" }
    }))
    .expect("a valid margin table");
    let config = raw.validate().expect("valid");
    let rates = config.engine_settings().broker.margin;
    assert_eq!(
        (
            rates.maintenance_margin_rate(),
            rates.liquidation_fee_rate()
        ),
        (Decimal::new(25, 3), Decimal::new(1, 2))
    );
    let bad = serde_json::from_value::<crate::RawRunConfig>(serde_json::json!({
        "margin": { "maintenance_margin_rate": "0.9", "liquidation_fee_rate": "0.005" }
    }))
    .expect_err("a 90 % maintenance margin is refused");
    assert!(bad.to_string().contains("maintenance_margin_rate"), "{bad}");
}

#[test]
fn a_catch_up_is_bounded_to_seven_days_unless_configured() {
    let config = RawRunConfig::default()
        .validate()
        .unwrap_or_else(|issues| panic!("the defaults validate: {issues:?}"));
    assert_eq!(config.max_catch_up, Duration::from_secs(7 * 24 * 3600));
}
