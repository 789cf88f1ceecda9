//! What the report says, as rows: the statistics, the configuration, the data-quality
//! counters, all from the typed [`RunSummary`] that live sessions and backtests share
//! (figures a run does not have are `n/a`). A few figures are recomputed from `trades.csv`
//! and marked so.

use la_run_schema::{RunSummary, inputs::FundingModel};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::inputs::{DecisionCounts, DecisionSource, EquityRow, TradeRow};

/// One `key | value | note` row of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) note: String,
}

impl Row {
    fn new(key: impl Into<String>, value: impl Into<String>, note: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
            note: note.into(),
        }
    }
}

const FROM_TRADES: &str = "computed from trades.csv";

/// A JSON value as display text: decimals rounded to 4 places, `null` as `n/a`.
pub(crate) fn display_value(value: &Value) -> String {
    match value {
        Value::Null => "n/a".to_owned(),
        Value::String(text) => display_decimal_text(text),
        Value::Number(number) => match (number.as_i64(), number.as_f64()) {
            (Some(int), _) => int.to_string(),
            (None, Some(float)) => format!("{float:.4}"),
            (None, None) => number.to_string(),
        },
        Value::Bool(flag) => flag.to_string(),
        other => other.to_string(),
    }
}

/// Rounds a decimal-looking string to 4 places; other text is returned as is.
fn display_decimal_text(text: &str) -> String {
    match text.parse::<Decimal>() {
        Ok(number) if number.scale() > 4 => number.round_dp(4).normalize().to_string(),
        _ => text.to_owned(),
    }
}

/// An optional figure as display text (`n/a` when absent).
fn or_na<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map_or_else(|| "n/a".to_owned(), show)
}

/// The `funding` row: the ledger's figure with where its rates came from, or **not
/// modelled** when the run had no funding source (never a bare zero).
fn funding_row(summary: &RunSummary) -> Row {
    let model = &summary.funding_model;
    if matches!(model, FundingModel::NotModelled) {
        return Row::new(
            "funding",
            "not modelled",
            "the run had no funding source: no funding was booked (not a funding of zero)",
        );
    }
    Row::new(
        "funding",
        fmt_dec(summary.results.funding),
        format!(
            "funding cash flow from the broker ledger (negative = paid); rates: {}",
            model.describe()
        ),
    )
}

/// The statistics table: the summary's figures, then figures recomputed from the trades.
pub(crate) fn stats_rows(summary: &RunSummary, trades: &[TradeRow]) -> Vec<Row> {
    let r = &summary.results;
    let ratio = |x: f64| format!("{x:.4}");
    let mut rows = vec![
        Row::new(
            "stopped_reason",
            or_na(summary.stopped_reason, |reason| reason.as_str().to_owned()),
            "why a live session ended (n/a: a backtest ends with its data)",
        ),
        Row::new("started_at", summary.started_at.clone(), "start (UTC)"),
        Row::new("ended_at", summary.ended_at.clone(), "end (UTC)"),
        Row::new(
            "duration_s",
            ratio(summary.duration_s),
            "wall-clock length, seconds",
        ),
        Row::new(
            "candles_closed",
            summary.candles_closed.to_string(),
            "closed candles seen by the strategy",
        ),
        Row::new("trades", r.trades.to_string(), "closed trades"),
        Row::new("wins", r.wins.to_string(), "trades with net PnL > 0"),
        Row::new("losses", r.losses.to_string(), "trades with net PnL <= 0"),
        Row::new("win_rate", fmt_dec(r.win_rate), "wins / trades"),
        Row::new(
            "liquidations",
            r.liquidations.to_string(),
            "trades closed by liquidation",
        ),
        Row::new(
            "starting_equity",
            fmt_dec(r.starting_equity),
            "account equity at the start",
        ),
        Row::new(
            "ending_equity",
            fmt_dec(r.ending_equity),
            "account equity at the end (realized)",
        ),
        Row::new(
            "net_pnl",
            fmt_dec(r.net_pnl),
            "ending - starting equity: trades and funding",
        ),
        Row::new(
            "trade_pnl",
            fmt_dec(r.trade_pnl),
            "sum of net pnl of closed trades (fees included, funding excluded)",
        ),
        Row::new("fees", fmt_dec(r.fees), "fees paid on closed trades"),
        funding_row(summary),
        Row::new(
            "max_drawdown",
            fmt_dec(r.max_drawdown),
            "largest peak-to-trough fall of realized equity",
        ),
        Row::new(
            "max_drawdown_frac",
            fmt_dec(r.max_drawdown_frac),
            "max drawdown as a fraction of the peak",
        ),
        Row::new(
            "sharpe",
            or_na(r.sharpe, ratio),
            "annualised (sqrt 365) Sharpe ratio of daily returns",
        ),
        Row::new(
            "sortino",
            or_na(r.sortino, ratio),
            "annualised (sqrt 365) Sortino ratio of daily returns",
        ),
        Row::new(
            "profit_factor",
            or_na(r.profit_factor, fmt_dec),
            "gross profit / |gross loss|",
        ),
        Row::new(
            "exposure",
            fmt_dec(r.exposure),
            "fraction of candles closed with a position open",
        ),
        Row::new(
            "ambiguous_bars",
            summary.ambiguous_bars.to_string(),
            "bars where stop and target were both touched",
        ),
        Row::new("fills", summary.fills.to_string(), "entries filled"),
        Row::new(
            "orders_rejected",
            summary.orders_rejected.to_string(),
            "orders the broker rejected",
        ),
        Row::new(
            "errors",
            summary.errors.to_string(),
            "errors counted against the error budget",
        ),
        Row::new(
            "last_error",
            or_na(summary.last_error.clone(), |e| e),
            "the last error",
        ),
    ];
    let gross_profit: Decimal = trades
        .iter()
        .map(|t| t.pnl)
        .filter(|p| *p > Decimal::ZERO)
        .sum();
    let gross_loss: Decimal = trades
        .iter()
        .map(|t| t.pnl)
        .filter(|p| *p < Decimal::ZERO)
        .sum();
    let pnl_sum: Decimal = trades.iter().map(|t| t.pnl).sum();
    rows.push(Row::new(
        "trades_pnl_sum",
        fmt_dec(pnl_sum),
        "sum of net pnl over trades.csv",
    ));
    rows.push(Row::new("gross_profit", fmt_dec(gross_profit), FROM_TRADES));
    rows.push(Row::new("gross_loss", fmt_dec(gross_loss), FROM_TRADES));
    if let (Some(best), Some(worst)) = (
        trades.iter().map(|t| t.pnl).max(),
        trades.iter().map(|t| t.pnl).min(),
    ) {
        rows.push(Row::new("best_trade", fmt_dec(best), FROM_TRADES));
        rows.push(Row::new("worst_trade", fmt_dec(worst), FROM_TRADES));
        let mean_r =
            trades.iter().map(|t| t.r_multiple).sum::<Decimal>() / Decimal::from(trades.len());
        rows.push(Row::new("avg_r_multiple", fmt_dec(mean_r), FROM_TRADES));
    }
    rows
}

fn fmt_dec(value: Decimal) -> String {
    value.round_dp(4).normalize().to_string()
}

/// The run's configuration: the summary's `config` object when it has one, else what the
/// summary itself says about the run (source, symbol, interval, strategy, ...).
pub(crate) fn config_value(summary: &RunSummary) -> Value {
    if summary.config.is_object() {
        return summary.config.clone();
    }
    let mut config = serde_json::json!({
        "source": summary.source,
        "symbol": summary.symbol,
        "interval": summary.interval,
        "strategy": summary.strategy,
        "dry_run": summary.dry_run,
    });
    if let (Some(data), Some(map)) = (&summary.data, config.as_object_mut()) {
        map.insert("data".to_owned(), Value::from(data.as_str()));
    }
    config
}

/// The configuration as rows, flattened with dotted keys for nested objects.
pub(crate) fn config_rows(config: &Value) -> Vec<Row> {
    let mut rows = Vec::new();
    flatten("", config, &mut rows);
    rows
}

fn flatten(prefix: &str, value: &Value, rows: &mut Vec<Row>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, inner, rows);
            }
        }
        Value::String(text) => rows.push(Row::new(prefix, text.clone(), "")),
        other => rows.push(Row::new(prefix, display_value(other), "")),
    }
}

/// Counters that say how trustworthy the input data was.
pub(crate) fn quality_rows(
    summary: &RunSummary,
    decisions: &DecisionCounts,
    equity: &[EquityRow],
    trades: &[TradeRow],
) -> Vec<Row> {
    let mut rows = Vec::new();
    let backtest = summary.source == "backtest";
    for (key, map, note) in [
        (
            "rejected_frames",
            &summary.rejected_frames,
            "market-data frames rejected, by reason",
        ),
        (
            "rejected_rows",
            &summary.rejected_rows,
            "candle-file rows rejected, by reason",
        ),
        (
            "frames_normalized",
            &summary.frames_normalized,
            "kline pushes kept with their range widened to include the open, by label",
        ),
        (
            "rest_rows_rejected",
            &summary.rest_rows_rejected,
            "REST kline rows rejected, by reason",
        ),
        (
            "rest_rows_normalized",
            &summary.rest_rows_normalized,
            "REST kline rows kept with their range widened to include the open, by label",
        ),
        (
            "rows_normalized",
            &summary.rows_normalized,
            "candle-file rows kept with their range widened to include the open, by label",
        ),
    ] {
        if map.is_empty() {
            rows.push(Row::new(key, "0", format!("{note} (none)")));
            continue;
        }
        rows.push(Row::new(key, map.values().sum::<u64>().to_string(), note));
        for (reason, count) in map {
            rows.push(Row::new(format!("{key}.{reason}"), count.to_string(), ""));
        }
    }
    for (key, value, note, live_only) in [
        ("reconnects", summary.reconnects, "feed reconnects", true),
        (
            "implausible_price",
            summary.implausible_price,
            "prices quarantined as implausible: never traded on",
            false,
        ),
        (
            "implausible_refused",
            summary.implausible_refused,
            "prices the broker's own band refused (defence in depth)",
            false,
        ),
        (
            "backfilled_candles",
            summary.backfilled_candles,
            "candles filled in over REST after a gap",
            true,
        ),
        (
            "funding_events",
            summary.funding_events,
            "funding settlements applied",
            false,
        ),
        (
            "funding_skipped",
            summary.funding_skipped,
            "funding times passed without a known rate",
            true,
        ),
        (
            "state_save_failures",
            summary.state_save_failures,
            "failed state saves",
            true,
        ),
    ] {
        if backtest && live_only {
            rows.push(Row::new(
                key,
                "n/a",
                format!("{note} (a backtest has no feed or state files)"),
            ));
        } else {
            rows.push(Row::new(key, value.to_string(), note));
        }
    }
    match decisions.source {
        DecisionSource::File { .. } | DecisionSource::SummaryOlderCopiesRemoved { .. } => rows
            .push(Row::new(
                "decision_lines_unparsable",
                decisions.unparsable_lines.to_string(),
                "lines of decisions.jsonl that are not decision objects (e.g. a torn last line)",
            )),
        DecisionSource::Summary => rows.push(Row::new(
            "decision_lines_unparsable",
            "n/a",
            "no decisions.jsonl (not written, or missing); counts come from summary.json",
        )),
    }
    rows.push(Row::new(
        "equity_points",
        equity.len().to_string(),
        "rows of equity.csv",
    ));
    rows.push(Row::new(
        "trade_rows",
        trades.len().to_string(),
        "rows of trades.csv",
    ));
    rows
}
