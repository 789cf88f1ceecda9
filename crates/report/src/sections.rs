//! What the report says, as rows: the statistics, the configuration, the data-quality
//! counters. Live summaries (`SessionReport`) and backtest summaries carry different keys, so
//! every key is optional: a key the summary lacks is left out (statistics) or shown as
//! `n/a` (data quality). A few figures are recomputed from `trades.csv` and marked so.

use rust_decimal::Decimal;
use serde_json::{Map, Value};

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

/// Summary keys shown as statistics, in display order, with what they mean.
const STAT_KEYS: &[(&str, &str)] = &[
    ("stopped_reason", "why the run ended"),
    ("started_at", "start (UTC)"),
    ("ended_at", "end (UTC)"),
    ("duration_s", "wall-clock length, seconds"),
    ("candles", "candles replayed"),
    ("candles_closed", "closed candles seen by the strategy"),
    ("trades", "closed trades"),
    ("wins", "trades with net PnL > 0"),
    ("losses", "trades with net PnL <= 0"),
    ("win_rate", "wins / trades"),
    ("liquidations", "trades closed by liquidation"),
    ("starting_equity", "account equity at the start"),
    ("ending_equity", "account equity at the end (realized)"),
    ("net_pnl", "ending - starting equity"),
    ("fees", "fees paid on closed trades"),
    ("funding", "funding cash flow (negative = paid)"),
    (
        "max_drawdown",
        "largest peak-to-trough fall of realized equity",
    ),
    (
        "max_drawdown_frac",
        "max drawdown as a fraction of the peak",
    ),
    (
        "sharpe",
        "annualised (sqrt 365) Sharpe ratio of daily returns",
    ),
    (
        "sortino",
        "annualised (sqrt 365) Sortino ratio of daily returns",
    ),
    ("profit_factor", "gross profit / |gross loss|"),
    (
        "exposure",
        "fraction of candles closed with a position open",
    ),
    (
        "ambiguous_bars",
        "bars where stop and target were both touched",
    ),
    ("fills", "entries filled"),
    ("orders_rejected", "orders the broker rejected"),
    ("errors", "errors counted against the error budget"),
    ("last_error", "the last error"),
];

/// Summary keys that describe how the run was configured (used when the summary has no
/// `config` object of its own).
const CONFIG_KEYS: &[&str] = &[
    "mode",
    "source",
    "symbol",
    "interval",
    "strategy",
    "dry_run",
    "data",
    "speed",
    "seed",
    "starting_balance",
    "warmup_bars",
    "intrabar",
    "funding_rate",
    "from",
    "to",
    "ws_url",
    "rest_url",
];

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

/// The statistics table: the summary's figures, then figures recomputed from the trades.
pub(crate) fn stats_rows(summary: &Map<String, Value>, trades: &[TradeRow]) -> Vec<Row> {
    let mut rows: Vec<Row> = STAT_KEYS
        .iter()
        .filter_map(|(key, note)| {
            summary
                .get(*key)
                .map(|value| Row::new(*key, display_value(value), *note))
        })
        .collect();
    let wins = trades.iter().filter(|t| t.pnl > Decimal::ZERO).count();
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
    let present = |key: &str| summary.get(key).is_some_and(|v| !v.is_null());
    if !present("trades") {
        rows.push(Row::new("trades", trades.len().to_string(), FROM_TRADES));
    }
    if !present("win_rate") && !trades.is_empty() {
        let rate = Decimal::from(wins) / Decimal::from(trades.len());
        rows.push(Row::new("win_rate", fmt_dec(rate), FROM_TRADES));
    }
    if !present("profit_factor") && gross_loss < Decimal::ZERO {
        let factor = gross_profit / gross_loss.abs();
        rows.push(Row::new("profit_factor", fmt_dec(factor), FROM_TRADES));
    }
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

/// The run's configuration: the summary's `config` object when it has one, else the
/// configuration-like keys of the summary (source, symbol, interval, strategy, ...).
pub(crate) fn config_value(summary: &Map<String, Value>) -> Value {
    if let Some(config @ Value::Object(_)) = summary.get("config") {
        return config.clone();
    }
    let picked: Map<String, Value> = CONFIG_KEYS
        .iter()
        .filter_map(|key| summary.get(*key).map(|v| ((*key).to_owned(), v.clone())))
        .collect();
    Value::Object(picked)
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
    summary: &Map<String, Value>,
    decisions: &DecisionCounts,
    equity: &[EquityRow],
    trades: &[TradeRow],
) -> Vec<Row> {
    let mut rows = Vec::new();
    for (key, note) in [
        ("rejected_frames", "market-data frames rejected, by reason"),
        ("rejected_rows", "candle-file rows rejected, by reason"),
    ] {
        match summary.get(key) {
            Some(Value::Object(map)) if map.is_empty() => {
                rows.push(Row::new(key, "0", format!("{note} (none)")));
            }
            Some(Value::Object(map)) => {
                let total: u64 = map.values().filter_map(Value::as_u64).sum();
                rows.push(Row::new(key, total.to_string(), note));
                for (reason, count) in map {
                    rows.push(Row::new(
                        format!("{key}.{reason}"),
                        display_value(count),
                        "",
                    ));
                }
            }
            Some(other) => rows.push(Row::new(key, display_value(other), note)),
            None => {}
        }
    }
    if !summary.contains_key("rejected_frames") && !summary.contains_key("rejected_rows") {
        rows.push(Row::new(
            "rejected_frames",
            "n/a",
            "not recorded by this run",
        ));
    }
    for (key, note) in [
        ("reconnects", "feed reconnects"),
        (
            "backfilled_candles",
            "candles filled in over REST after a gap",
        ),
        ("funding_events", "funding settlements applied"),
        (
            "funding_skipped",
            "funding times passed without a known rate",
        ),
        ("state_save_failures", "failed state saves"),
    ] {
        let value = summary
            .get(key)
            .map_or_else(|| "n/a".to_owned(), display_value);
        let note = if summary.contains_key(key) {
            note.to_owned()
        } else {
            format!("{note} (not recorded by this kind of run)")
        };
        rows.push(Row::new(key, value, note));
    }
    match decisions.source {
        DecisionSource::File => rows.push(Row::new(
            "decision_lines_unparsable",
            decisions.unparsable_lines.to_string(),
            "lines of decisions.jsonl that are not decision objects (e.g. a torn last line)",
        )),
        DecisionSource::Summary => rows.push(Row::new(
            "decision_lines_unparsable",
            "n/a",
            "decisions.jsonl is missing; counts come from summary.json",
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
