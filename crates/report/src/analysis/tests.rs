//! Tests of the monthly returns, the breakdowns and the price series they sit beside.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rust_decimal::Decimal;

use crate::{
    analysis::{breakdown, monthly_returns},
    inputs::{EquityRow, TradeRow, read_decisions},
    render_run_report_html,
    tests::{TWO_TRADES, count, live_summary, write_run},
};

/// 2026-04-30T23:59:00Z and 2026-05-01T00:00:00Z.
const APRIL_LAST_MINUTE: i64 = 1_777_593_540_000;
const MAY_FIRST: i64 = 1_777_593_600_000;
/// 2026-06-01T00:00:00Z.
const JUNE_FIRST: i64 = 1_780_272_000_000;

fn point(ts_ms: i64, mark: i64) -> EquityRow {
    EquityRow {
        ts_ms,
        equity: Decimal::from(mark),
        mark_equity: Decimal::from(mark),
    }
}

#[test]
fn a_month_runs_from_the_previous_months_last_close_to_its_own() {
    let months = monthly_returns(
        Decimal::from(10_000),
        &[
            point(APRIL_LAST_MINUTE, 10_100),
            // The candle of 23:59 closes at midnight: still April.
            point(MAY_FIRST, 10_200),
            point(MAY_FIRST + 60_000, 10_150),
            point(JUNE_FIRST, 9_996),
        ],
    );
    let summary: Vec<(&str, i64, i64)> = months
        .iter()
        .map(|m| {
            (
                m.month.as_str(),
                i64::try_from(m.start.mantissa()).unwrap(),
                i64::try_from(m.end.mantissa()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("2026-04", 10_000, 10_200), ("2026-05", 10_200, 9_996)]
    );
    assert_eq!(months[0].percent(), Decimal::from(2));
    assert_eq!(months[1].percent(), Decimal::from(-2));
}

fn trade(side: &str, pnl: i64, reason: &str) -> TradeRow {
    TradeRow {
        trade_id: format!("{side}-{pnl}"),
        side: side.to_owned(),
        entry_time_ms: 0,
        exit_time_ms: 60_000,
        entry_price: Decimal::from(100),
        exit_price: Decimal::from(100),
        qty: Decimal::ONE,
        pnl: Decimal::from(pnl),
        fees: Decimal::ONE,
        funding: Some(Decimal::ZERO),
        r_multiple: Decimal::from(pnl.signum()),
        exit_reason: reason.to_owned(),
    }
}

#[test]
fn trades_are_summed_per_side_and_per_exit_reason_with_liquidations_always_listed() {
    let trades = [
        trade("long", 30, "take_profit"),
        trade("short", -10, "stop_loss"),
        trade("short", 20, "take_profit"),
    ];
    let by_side = breakdown(&trades, |t| t.side.as_str(), &["long", "short"]);
    let rows: Vec<(&str, u64, u64, Decimal)> = by_side
        .iter()
        .map(|g| (g.name.as_str(), g.trades, g.wins, g.pnl))
        .collect();
    assert_eq!(
        rows,
        [
            ("long", 1, 1, Decimal::from(30)),
            ("short", 2, 1, Decimal::from(10))
        ]
    );
    assert_eq!(by_side[1].fees, Decimal::from(2));

    let by_reason = breakdown(&trades, |t| t.exit_reason.as_str(), &["liquidation"]);
    let names: Vec<(&str, u64)> = by_reason
        .iter()
        .map(|g| (g.name.as_str(), g.trades))
        .collect();
    assert_eq!(
        names,
        [("liquidation", 0), ("take_profit", 2), ("stop_loss", 1)]
    );

    let liquidated = [trade("long", -500, "liquidation")];
    let by_reason = breakdown(&liquidated, |t| t.exit_reason.as_str(), &["liquidation"]);
    assert_eq!((by_reason.len(), by_reason[0].trades), (1, 1));
    assert_eq!(by_reason[0].pnl, Decimal::from(-500));
}

#[test]
fn candle_closes_are_read_at_their_close_time_once_each_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("decisions.jsonl");
    std::fs::write(
        &path,
        [
            r#"{"open_time":120000,"close":"101.5","outcome":"no_order"}"#,
            r#"{"open_time":0,"close":"100","outcome":"no_order"}"#,
            // An out_of_order line repeats a candle already decided: the first close stays.
            r#"{"open_time":120000,"close":"999","outcome":"out_of_order"}"#,
            r#"{"outcome":"no_order"}"#,
            r#"{"open_time":60000,"close":"not a number","outcome":"no_order"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let (counts, prices) = read_decisions(&path, Some(60_000)).unwrap();
    assert_eq!(counts.total, 5);
    let points: Vec<(i64, String)> = prices
        .iter()
        .map(|p| (p.close_time_ms, p.close.to_string()))
        .collect();
    assert_eq!(
        points,
        [(60_000, "100".to_owned()), (180_000, "101.5".to_owned())]
    );
}

#[test]
fn the_report_shows_the_price_chart_monthly_returns_and_breakdowns() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), &live_summary(), TWO_TRADES, 180);
    let html = render_run_report_html(dir.path()).unwrap();
    let figure = &html[html.find("id=\"price-chart\"").unwrap()..];
    let figure = &figure[..figure.find("</figure>").unwrap()];
    assert!(figure.contains("180 from decisions.jsonl"), "{figure}");
    assert_eq!(count(figure, "<circle"), 2, "one exit marker per trade");
    assert_eq!(count(figure, "<polygon"), 2, "one entry marker per trade");
    assert_eq!(count(&html, "<tr class=\"pos\" data-month=\"2026-01\">"), 1);
    assert!(html.contains(
        "<tr class=\"pos\" data-group=\"long\"><td><code>long</code></td><td class=\"num\">1</td>"
    ));
    assert!(html.contains(
        "<tr class=\"neg\" data-group=\"short\"><td><code>short</code></td><td class=\"num\">1</td>"
    ));
    assert!(html.contains(
        "data-group=\"liquidation\"><td><code>liquidation</code></td><td class=\"num\">0</td>"
    ));
    assert!(html.contains(
        "data-group=\"take_profit\"><td><code>take_profit</code></td><td class=\"num\">1</td>"
    ));
}

#[test]
fn without_decisions_jsonl_the_price_chart_is_drawn_from_equity_csv_mark_prices() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), &live_summary(), TWO_TRADES, 180);
    std::fs::remove_file(dir.path().join("decisions.jsonl")).unwrap();
    // The same curve with the price each point was marked at, as runs write it now.
    let equity = std::fs::read_to_string(dir.path().join("equity.csv")).unwrap();
    let mut marked = String::from("ts_ms,equity,mark_equity,mark_price\n");
    for (i, row) in equity.lines().skip(1).enumerate() {
        marked.push_str(&format!("{row},{}\n", 60_000 + i * 5));
    }
    std::fs::write(dir.path().join("equity.csv"), marked).unwrap();
    let html = render_run_report_html(dir.path()).unwrap();
    let figure = &html[html.find("id=\"price-chart\"").unwrap()..];
    let figure = &figure[..figure.find("</figure>").unwrap()];
    assert!(figure.contains("180 from equity.csv"), "{figure}");
    assert!(figure.contains("<polyline"), "the close line is drawn");
    assert_eq!(count(figure, "<circle"), 2, "one exit marker per trade");
    assert!(!figure.contains("no candle closes"));
}
