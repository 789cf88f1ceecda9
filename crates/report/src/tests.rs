//! Tests of `la-report`: reports rendered from generated run directories in a tempdir.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::json;

use crate::{
    ReportError, charts, config_fingerprint, fingerprint::fnv1a64, inputs::EquityRow,
    render_run_report, render_run_report_html,
};

const TRADES_HEADER: &str = "trade_id,side,entry_time_ms,exit_time_ms,entry_price,exit_price,qty,pnl,fees,r_multiple,exit_reason\n";

/// A live-session summary: every field of `la_run_schema::RunSummary`.
pub(crate) fn live_summary() -> serde_json::Value {
    serde_json::from_str(
        r#"{
        "run_id": "20260101T000000Z-42",
        "stopped_reason": "duration_reached",
        "started_at": "2026-01-01T00:00:00.000Z",
        "ended_at": "2026-01-01T03:00:00.000Z",
        "duration_s": 10800.5,
        "source": "sim",
        "symbol": "BTCUSDT",
        "interval": "1m",
        "strategy": "setups",
        "dry_run": false,
        "candles_closed": 180,
        "trades": 2,
        "wins": 1,
        "losses": 1,
        "fills": 2,
        "orders_rejected": 0,
        "ambiguous_bars": 0,
        "errors": 0,
        "last_error": null,
        "starting_equity": "10000",
        "ending_equity": "10030.5",
        "net_pnl": "30.5",
        "trade_pnl": "30.5",
        "win_rate": "0.5",
        "fees": "4.25",
        "funding": "0",
        "max_drawdown": "20.25",
        "max_drawdown_frac": "0.0020184497358910716",
        "sharpe": null,
        "sortino": null,
        "profit_factor": "2.525",
        "exposure": "0.25",
        "liquidations": 0,
        "reconnects": 3,
        "rejected_frames": {"bad_number": 2, "ohlc_inconsistent": 1},
        "rejected_rows": {},
        "backfilled_candles": 7,
        "funding_events": 0,
        "funding_skipped": 1,
        "state_save_failures": 0,
        "decisions": {"outcome:no_order": 178, "outcome:submitted": 2, "blocked_by:warmup": 50},
        "run_dir": "/somewhere/runs/20260101T000000Z-42",
        "config": null
    }"#,
    )
    .unwrap()
}

pub(crate) const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

pub(crate) fn write_run(dir: &Path, summary: &serde_json::Value, trades: &str, equity_rows: usize) {
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(summary).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("trades.csv"), format!("{TRADES_HEADER}{trades}")).unwrap();
    let mut equity = String::from("ts_ms,equity,mark_equity\n");
    for i in 0..equity_rows {
        let i = i as i64;
        // Up 10, down 25 at the middle, recovering: a visible drawdown.
        let value = 10_000 + (i % 40) - if i > 90 && i < 120 { 25 } else { 0 };
        equity.push_str(&format!("{},{value},{}.5\n", T0 + i * 60_000, value));
    }
    std::fs::write(dir.join("equity.csv"), equity).unwrap();
    let mut decisions = String::new();
    // One line per candle, closing at the equity points' times (the candle of bar `i` opens a
    // minute before point `i`), priced around the fixture trades.
    let candle = |i: i64| {
        format!(
            "\"open_time\":{},\"close\":\"{}\"",
            T0 + (i - 1) * 60_000,
            60_000 + i * 5
        )
    };
    for i in 0..50 {
        decisions.push_str(&format!(
            "{{{},\"bar_index\":{i},\"blocked_by\":\"warmup\",\"outcome\":\"history\"}}\n",
            candle(i)
        ));
    }
    for i in 50..178 {
        decisions.push_str(&format!(
            "{{{},\"bar_index\":{i},\"blocked_by\":\"stop_too_close\",\"outcome\":\"no_order\"}}\n",
            candle(i)
        ));
    }
    for i in 178..180 {
        decisions.push_str(&format!(
            "{{{},\"bar_index\":{i},\"blocked_by\":null,\"outcome\":\"submitted\"}}\n",
            candle(i)
        ));
    }
    std::fs::write(dir.join("decisions.jsonl"), decisions).unwrap();
}

pub(crate) const TWO_TRADES: &str = "setups-1-long,long,1767226200000,1767229800000,60000.5,60400,0.05,50.5,2.25,1.5,take_profit\n\
setups-2-short,short,1767232800000,1767233400000,60400,60500,0.05,-20,2,-1,stop_loss\n";

pub(crate) fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn live_run_report_has_its_charts_the_trades_stats_and_decisions() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), &live_summary(), TWO_TRADES, 180);
    let path = render_run_report(dir.path()).unwrap();
    assert_eq!(path.file_name().unwrap(), "report.html");
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(count(&html, "<svg"), 3, "price, equity and drawdown charts");
    assert_eq!(count(&html, "</svg>"), 3);
    assert!(html.contains("id=\"price-chart\""));
    assert!(html.contains("id=\"equity-chart\"") && html.contains("id=\"drawdown-chart\""));
    // Both series are drawn as polylines; the drawdown is a filled polygon.
    assert!(count(&html, "<polyline") >= 2, "equity lines drawn");
    assert!(html.contains("<polygon"), "drawdown area drawn");
    assert_eq!(count(&html, "<tr class=\"trade pos\""), 1);
    assert_eq!(count(&html, "<tr class=\"trade neg\""), 1);
    assert!(html.contains("setups-1-long") && html.contains("take_profit"));
    assert!(
        html.contains("2026-01-01 00:10:00"),
        "entry time shown in UTC"
    );
    for key in [
        "net_pnl",
        "trades",
        "max_drawdown",
        "win_rate",
        "profit_factor",
    ] {
        assert!(
            html.contains(&format!("<tr data-key=\"{key}\">")),
            "stats row {key}"
        );
    }
    assert!(html.contains("<tr data-key=\"win_rate\"><th>win_rate</th><td class=\"num\">0.5</td>"));
    assert!(html.contains(
        "<tr data-key=\"profit_factor\"><th>profit_factor</th><td class=\"num\">2.525</td>"
    ));
    assert!(
        html.contains("0.002"),
        "long decimals rounded: {}",
        "0.0020184497358910716"
    );
    assert!(!html.contains("0.0020184497358910716"));
    // Decisions counted from decisions.jsonl, not from the summary's map.
    assert!(html.contains("<code>stop_too_close</code></td><td class=\"num\">128</td>"));
    assert!(html.contains("<code>warmup</code></td><td class=\"num\">50</td>"));
    assert!(html.contains("<code>submitted</code></td><td class=\"num\">2</td>"));
    // Data quality.
    assert!(html.contains(
        "<tr data-key=\"rejected_frames\"><th>rejected_frames</th><td class=\"num\">3</td>"
    ));
    assert!(html.contains("data-key=\"rejected_frames.bad_number\""));
    assert!(
        html.contains("<tr data-key=\"reconnects\"><th>reconnects</th><td class=\"num\">3</td>")
    );
    assert!(html.contains(
        "<tr data-key=\"backfilled_candles\"><th>backfilled_candles</th><td class=\"num\">7</td>"
    ));
    // Configuration and fingerprint.
    let fingerprint = config_fingerprint(&json!({
        "source": "sim", "symbol": "BTCUSDT", "interval": "1m", "strategy": "setups", "dry_run": false
    }));
    assert!(html.contains(&format!("id=\"config-fingerprint\">{fingerprint}<")));
    // Self-contained: nothing to load, no URL anywhere.
    for banned in [
        "http://", "https://", "<script", " src=", "<link", "@import", "url(",
    ] {
        assert!(!html.contains(banned), "page contains {banned:?}");
    }
}

#[test]
fn strings_from_run_files_are_html_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let mut summary = live_summary();
    summary["run_id"] = json!("<b>run</b>");
    summary["symbol"] = json!("BTC&USDT");
    summary["last_error"] = json!("feed said \"<script>alert(1)</script>\"");
    summary["rejected_frames"] = json!({"<img onerror=x>": 1});
    let trades = "<script>x</script>,long,1767226200000,1767229800000,1,2,1,1,0,1,o'clock\n";
    write_run(dir.path(), &summary, trades, 10);
    let html = render_run_report_html(dir.path()).unwrap();
    assert!(!html.contains("<script"), "no raw script tag");
    assert!(!html.contains("<b>run"), "no raw markup from run_id");
    assert!(
        !html.contains("<img"),
        "no raw markup from a rejection reason"
    );
    assert!(html.contains("&lt;b&gt;run&lt;/b&gt;"));
    assert!(html.contains("BTC&amp;USDT"));
    assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
    assert!(html.contains("o&#39;clock"));
    assert!(html.contains("&quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;"));
}

#[test]
fn backtest_summary_shape_is_rendered_with_its_own_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut summary = live_summary();
    for (key, value) in [
        ("run_id", json!("backtest-20260101T000000Z-1")),
        ("source", json!("backtest")),
        ("data", json!("/data/candles.csv.gz")),
        ("stopped_reason", json!(null)),
        ("decisions", json!({"outcome:no_order": 170})),
        ("rejected_frames", json!({})),
        ("sharpe", json!(1.2345678)),
        ("ambiguous_bars", json!(4)),
    ] {
        summary[key] = value;
    }
    write_run(dir.path(), &summary, TWO_TRADES, 180);
    let html = render_run_report_html(dir.path()).unwrap();
    assert!(html.contains("<tr data-key=\"sharpe\"><th>sharpe</th><td class=\"num\">1.2346</td>"));
    assert!(html.contains("<tr data-key=\"sortino\"><th>sortino</th><td class=\"num\">n/a</td>"));
    assert!(html.contains(
        "<tr data-key=\"ambiguous_bars\"><th>ambiguous_bars</th><td class=\"num\">4</td>"
    ));
    assert!(html.contains("<tr data-key=\"candles_closed\">"));
    assert!(
        html.contains(
            "<tr data-key=\"rejected_rows\"><th>rejected_rows</th><td class=\"num\">0</td>"
        )
    );
    assert!(
        html.contains("<tr data-key=\"reconnects\"><th>reconnects</th><td class=\"num\">n/a</td>")
    );
    assert!(html.contains(
        "<tr data-key=\"data\"><th>data</th><td class=\"num\">/data/candles.csv.gz</td>"
    ));
    assert!(html.contains("stopped: end of data"));
    assert_eq!(count(&html, "<svg"), 3);
    assert_eq!(count(&html, "<tr class=\"trade "), 2);
}

#[test]
fn missing_summary_is_a_typed_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), &live_summary(), "", 3);
    std::fs::remove_file(dir.path().join("summary.json")).unwrap();
    let err = render_run_report(dir.path()).unwrap_err();
    match &err {
        ReportError::Missing { path, what } => {
            assert!(path.ends_with("summary.json"), "{path:?}");
            assert_eq!(*what, "run summary");
        }
        other => panic!("expected Missing, got {other:?}"),
    }
    assert!(err.to_string().contains("summary.json"));
    assert!(!dir.path().join("report.html").exists());
}

#[test]
fn missing_run_directory_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = render_run_report(&dir.path().join("no-such-run")).unwrap_err();
    assert!(
        matches!(&err, ReportError::Missing { what: "run directory", path } if path.ends_with("no-such-run")),
        "{err:?}"
    );
}

#[test]
fn malformed_trade_row_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let trades = format!("{TWO_TRADES}setups-3,long,1,2,1,2,1,abc,0,1,stop_loss\n");
    write_run(dir.path(), &live_summary(), &trades, 3);
    let err = render_run_report(dir.path()).unwrap_err();
    match err {
        ReportError::Malformed {
            path,
            line,
            message,
        } => {
            assert!(path.ends_with("trades.csv"));
            assert_eq!(line, 4);
            assert!(message.contains("pnl"), "{message}");
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn equity_file_without_its_columns_is_malformed() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), &live_summary(), "", 3);
    std::fs::write(dir.path().join("equity.csv"), "ts,value\n1,2\n").unwrap();
    let err = render_run_report(dir.path()).unwrap_err();
    assert!(
        matches!(&err, ReportError::Malformed { line: 1, path, .. } if path.ends_with("equity.csv")),
        "{err:?}"
    );
}

#[test]
fn summary_that_is_not_a_json_object_is_malformed() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), &live_summary(), "", 3);
    std::fs::write(dir.path().join("summary.json"), "[1, 2]").unwrap();
    assert!(matches!(
        render_run_report(dir.path()),
        Err(ReportError::Malformed { .. })
    ));
    std::fs::write(dir.path().join("summary.json"), "{\"run_id\": ").unwrap();
    assert!(matches!(
        render_run_report(dir.path()),
        Err(ReportError::Malformed { .. })
    ));
}

#[test]
fn a_summary_missing_a_field_is_malformed_and_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut summary = live_summary();
    summary.as_object_mut().unwrap().remove("ending_equity");
    write_run(dir.path(), &summary, "", 3);
    let err = render_run_report(dir.path()).unwrap_err();
    assert!(matches!(err, ReportError::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains("ending_equity"), "{err}");
}

#[test]
fn torn_decision_line_is_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), &live_summary(), "", 3);
    let path = dir.path().join("decisions.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"bar_index\":180,\"outc");
    std::fs::write(&path, text).unwrap();
    let html = render_run_report_html(dir.path()).unwrap();
    assert!(html.contains("<tr data-key=\"decision_lines_unparsable\"><th>decision_lines_unparsable</th><td class=\"num\">1</td>"));
    assert!(html.contains("180 decisions"));
}

#[test]
fn missing_decisions_file_falls_back_to_summary_counts() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), &live_summary(), "", 3);
    std::fs::remove_file(dir.path().join("decisions.jsonl")).unwrap();
    let html = render_run_report_html(dir.path()).unwrap();
    assert!(html.contains("counts from summary.json"));
    assert!(html.contains("<code>no_order</code></td><td class=\"num\">178</td>"));
    assert!(html.contains("<code>warmup</code></td><td class=\"num\">50</td>"));
}

#[test]
fn empty_run_still_draws_every_chart() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), &live_summary(), "", 0);
    std::fs::write(dir.path().join("decisions.jsonl"), "").unwrap();
    let html = render_run_report_html(dir.path()).unwrap();
    assert_eq!(count(&html, "<svg"), 3);
    assert!(html.contains("no candle closes"));
    assert!(html.contains("no equity points in equity.csv"));
    assert!(html.contains("no closed trades"));
}

#[test]
fn report_through_a_symlink_lands_in_the_real_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("runs").join("run-1");
    std::fs::create_dir_all(&run).unwrap();
    write_run(&run, &live_summary(), TWO_TRADES, 30);
    let latest = dir.path().join("runs").join("latest");
    std::os::unix::fs::symlink("run-1", &latest).unwrap();
    let path = render_run_report(&latest).unwrap();
    assert_eq!(path, run.canonicalize().unwrap().join("report.html"));
    assert!(path.is_file());
    assert!(!run.join(".report.html.tmp").exists());
}

#[test]
fn fingerprint_depends_on_settings_not_on_key_order() {
    let a = json!({"source": "sim", "strategy": "setups", "nested": {"x": 1, "y": [1, "a"]}});
    let b = json!({"nested": {"y": [1, "a"], "x": 1}, "strategy": "setups", "source": "sim"});
    let c = json!({"source": "sim", "strategy": "sma-cross", "nested": {"x": 1, "y": [1, "a"]}});
    assert_eq!(config_fingerprint(&a), config_fingerprint(&b));
    assert_ne!(config_fingerprint(&a), config_fingerprint(&c));
    assert!(config_fingerprint(&a).starts_with("fnv1a64:"));
    assert_eq!(config_fingerprint(&a).len(), "fnv1a64:".len() + 16);
}

#[test]
fn fingerprint_ignores_results_and_timestamps_of_the_run() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    write_run(one.path(), &live_summary(), TWO_TRADES, 10);
    let mut other = live_summary();
    other["run_id"] = json!("another");
    other["started_at"] = json!("2027-01-01T00:00:00Z");
    other["net_pnl"] = json!("-5");
    write_run(two.path(), &other, "", 5);
    let fp = |html: &str| {
        let start = html.find("id=\"config-fingerprint\">").unwrap();
        html[start..start + 60].to_owned()
    };
    assert_eq!(
        fp(&render_run_report_html(one.path()).unwrap()),
        fp(&render_run_report_html(two.path()).unwrap())
    );
}

#[test]
fn fnv1a64_matches_the_reference_vectors() {
    assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
}

#[test]
fn thinning_bounds_the_points_and_keeps_the_extremes() {
    let mut points: Vec<(i64, f64)> = (0..50_000).map(|i| (i, 100.0 + (i % 7) as f64)).collect();
    points[31_337].1 = 3.0;
    points[12_345].1 = 900.0;
    let thinned = charts::thin(&points, charts::MAX_POINTS);
    assert!(thinned.len() <= charts::MAX_POINTS, "{}", thinned.len());
    assert!(thinned.contains(&(31_337, 3.0)));
    assert!(thinned.contains(&(12_345, 900.0)));
    assert!(
        thinned.windows(2).all(|w| w[0].0 < w[1].0),
        "time order kept"
    );
    let short = &points[..100];
    assert_eq!(charts::thin(short, charts::MAX_POINTS), short.to_vec());
}

#[test]
fn drawdown_is_percent_below_the_running_peak() {
    let row = |ts: i64, equity: i64| EquityRow {
        ts_ms: ts,
        equity: equity.into(),
        mark_equity: equity.into(),
    };
    let dd = charts::drawdown_percent(&[row(1, 100), row(2, 120), row(3, 90), row(4, 130)]);
    assert_eq!(dd, vec![(1, 0.0), (2, 0.0), (3, -25.0), (4, 0.0)]);
}

#[test]
fn downtime_intervals_their_catch_up_exits_and_funding_sources_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let mut summary = live_summary();
    summary["downtime"] = json!([{
        "cause": "suspend",
        "detected_by": "sigcont",
        "start_ms": T0 + 600_000,
        "end_ms": T0 + 600_000 + 9 * 3_600_000,
        "length_ms": 9 * 3_600_000,
        "outcome": "caught_up",
        "candles_replayed": 540,
        "candles_missing": 0,
        "exits": [{"client_order_id": "sma_cross-1-long<i>", "reason": "stop_loss", "exit_price": "59759.7", "ts_ms": T0 + 9 * 3_600_000, "pnl_net": "-30.5"}],
        "funding": [],
        "funding_skipped": 0
    }]);
    summary["funding_settlements"] = json!([
        {"funding_time_ms": T0 + 8 * 3_600_000, "rate": "0.000075", "mark_price": "60060", "amount": "-0.45", "source": "history", "catch_up": true},
        {"funding_time_ms": T0 + 16 * 3_600_000, "rate": "-0.000025", "mark_price": "60060", "amount": "0.15", "source": "price_channel", "catch_up": false}
    ]);
    write_run(dir.path(), &summary, TWO_TRADES, 10);
    let html = render_run_report_html(dir.path()).unwrap();
    assert_eq!(count(&html, "<tr class=\"downtime\">"), 1);
    assert!(html.contains("<td>suspend</td><td>sigcont</td><td>2026-01-01 00:10:00</td><td>2026-01-01 09:10:00</td><td class=\"num\">540</td>"));
    assert!(html.contains("sma_cross-1-long&lt;i&gt;") && html.contains("59759.7"));
    assert!(html.contains("Funding settlements (2)"));
    assert!(html.contains("<td>history</td><td>yes</td>"));
    assert!(html.contains("<td>price_channel</td><td></td>"));
    // A summary written before downtimes were recorded reads as none.
    let plain = tempfile::tempdir().unwrap();
    write_run(plain.path(), &live_summary(), TWO_TRADES, 10);
    let html = render_run_report_html(plain.path()).unwrap();
    assert!(html.contains("0 downtime interval(s)"));
    assert!(html.contains("Funding settlements (0)"));
}

/// Splits the fixture's `decisions.jsonl` the way rotation leaves it: `.2` (oldest 60
/// lines), `.1` (next 60), the live file (last 60).
fn rotate_fixture_decisions(dir: &Path) {
    let path = dir.join("decisions.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 180);
    let part = |range: std::ops::Range<usize>| lines[range].join("\n") + "\n";
    std::fs::write(dir.join("decisions.jsonl.2"), part(0..60)).unwrap();
    std::fs::write(dir.join("decisions.jsonl.1"), part(60..120)).unwrap();
    std::fs::write(&path, part(120..180)).unwrap();
}

#[test]
fn rotated_decision_copies_are_counted_and_charted_with_the_live_file() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), &live_summary(), "", 3);
    rotate_fixture_decisions(dir.path());
    let html = render_run_report_html(dir.path()).unwrap();
    assert!(html.contains("180 decisions"), "every kept line counted");
    assert!(html.contains("counted from decisions.jsonl and its 2 rotated copies"));
    // The warm-up lines are all in the oldest copy; the file counts (not the summary's
    // map, which has no stop_too_close) are shown.
    assert!(html.contains("<code>warmup</code></td><td class=\"num\">50</td>"));
    assert!(html.contains("<code>stop_too_close</code></td><td class=\"num\">128</td>"));
    assert!(html.contains("Candle closes (180 from decisions.jsonl)"));
}

#[test]
fn decisions_removed_by_retention_take_the_summary_counts_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), &live_summary(), "", 3);
    rotate_fixture_decisions(dir.path());
    std::fs::remove_file(dir.path().join("decisions.jsonl.2")).unwrap();
    let html = render_run_report_html(dir.path()).unwrap();
    assert!(
        html.contains("180 decisions"),
        "the session's count, not the 120 kept"
    );
    assert!(html.contains("removed by retention, the 2 kept file(s) hold the last 120"));
    assert!(html.contains("<code>no_order</code></td><td class=\"num\">178</td>"));
    assert!(html.contains("Candle closes (120 from decisions.jsonl)"));
}

/// The two fixture trades with a `funding` column (the second has none booked).
const TWO_TRADES_WITH_FUNDING: &str = "trade_id,side,entry_time_ms,exit_time_ms,entry_price,exit_price,qty,pnl,fees,funding,r_multiple,exit_reason\n\
setups-1-long,long,1767226200000,1767229800000,60000.5,60400,0.05,50.5,2.25,-0.375,1.5,take_profit\n\
setups-2-short,short,1767232800000,1767233400000,60400,60500,0.05,-20,2,0,-1,stop_loss\n";

#[test]
fn the_trades_table_shows_each_trades_funding_and_its_rate_source() {
    let dir = tempfile::tempdir().unwrap();
    let mut summary = live_summary();
    summary["funding"] = json!("-0.375");
    summary["funding_model"] = json!({"kind": "file", "path": "rates.csv", "rates": 3});
    write_run(dir.path(), &summary, "", 180);
    std::fs::write(dir.path().join("trades.csv"), TWO_TRADES_WITH_FUNDING).unwrap();
    let html = std::fs::read_to_string(render_run_report(dir.path()).unwrap()).unwrap();
    assert!(
        html.contains("<th>fees</th><th>funding</th>"),
        "funding column"
    );
    assert!(html.contains("<td class=\"num funding\">-0.375</td>"));
    assert!(html.contains("<td class=\"num funding\">0</td>"));
    assert!(
        html.contains("<tr data-key=\"funding\"><th>funding</th><td class=\"num\">-0.375</td>")
    );
    assert!(
        html.contains("3 rates from rates.csv"),
        "the rate source is named"
    );
}

#[test]
fn a_run_without_a_funding_source_says_funding_was_not_modelled_never_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut summary = live_summary();
    summary["funding_model"] = json!({"kind": "not_modelled"});
    write_run(dir.path(), &summary, "", 180);
    std::fs::write(dir.path().join("trades.csv"), TWO_TRADES_WITH_FUNDING).unwrap();
    let html = std::fs::read_to_string(render_run_report(dir.path()).unwrap()).unwrap();
    assert!(
        html.contains(
            "<tr data-key=\"funding\"><th>funding</th><td class=\"num\">not modelled</td>"
        ),
        "stats row"
    );
    assert_eq!(
        count(&html, "<td class=\"num funding\">not modelled</td>"),
        2
    );
    assert!(html.contains("funding not modelled (no funding source)"));
}

#[test]
fn a_trades_file_from_before_the_funding_column_still_renders() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), &live_summary(), TWO_TRADES, 180);
    let html = std::fs::read_to_string(render_run_report(dir.path()).unwrap()).unwrap();
    assert_eq!(count(&html, "<td class=\"num funding\">n/a</td>"), 2);
}
