//! What the trades and the equity curve add up to: monthly returns, and the trades broken
//! down by side and by exit reason, each as a section of the run report.
//!
//! **Monthly returns** are of mark-to-market equity (the same series Sharpe and Sortino
//! use): a month runs from the last equity point before it (the starting equity for the
//! first month) to its own last point. Equity points are dated at candle closes, so a point
//! at exactly midnight on the first of a month closes the previous month's last candle and
//! counts there.
//!
//! **Breakdowns** sum `trades.csv` per group: trades, wins (net PnL > 0, as in the
//! statistics), net PnL, fees and R. A liquidation row is always shown (zero when none), so
//! "no liquidations" is visible rather than implied.

use std::{collections::BTreeMap, fmt::Write as _};

use rust_decimal::Decimal;
use time::OffsetDateTime;

use crate::{
    html::escape,
    inputs::{EquityRow, TradeRow},
};

/// One calendar month (UTC) of the equity curve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MonthlyReturn {
    /// `YYYY-MM`.
    pub(crate) month: String,
    /// Mark equity when the month began.
    pub(crate) start: Decimal,
    /// Mark equity at its last candle close.
    pub(crate) end: Decimal,
}

impl MonthlyReturn {
    /// The month's return in percent of its starting equity.
    pub(crate) fn percent(&self) -> Decimal {
        if self.start > Decimal::ZERO {
            (self.end - self.start) / self.start * Decimal::ONE_HUNDRED
        } else {
            Decimal::ZERO
        }
    }
}

const DAY_MS: i64 = 86_400_000;

/// `YYYY-MM` of the instant just before `ts_ms` (see the module docs).
fn month_of(ts_ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_ms.saturating_sub(1)) * 1_000_000)
        .map_or_else(
            |_| "invalid".to_owned(),
            |at| format!("{:04}-{:02}", at.year(), u8::from(at.month())),
        )
}

/// The equity curve cut into UTC months.
pub(crate) fn monthly_returns(
    starting_equity: Decimal,
    equity: &[EquityRow],
) -> Vec<MonthlyReturn> {
    let mut months: Vec<MonthlyReturn> = Vec::new();
    // A month changes only with the UTC day (of the instant before `ts_ms`, as `month_of`
    // reads it): the month's name is formatted once per day, not once per candle.
    let mut day_seen = None;
    for point in equity {
        let day = point.ts_ms.saturating_sub(1).div_euclid(DAY_MS);
        let same_day = day_seen.replace(day) == Some(day);
        match months.last_mut() {
            Some(current) if same_day => current.end = point.mark_equity,
            Some(current) if current.month == month_of(point.ts_ms) => {
                current.end = point.mark_equity;
            }
            previous => {
                let start = previous.map_or(starting_equity, |p| p.end);
                months.push(MonthlyReturn {
                    month: month_of(point.ts_ms),
                    start,
                    end: point.mark_equity,
                });
            }
        }
    }
    months
}

/// The trades of one group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Group {
    pub(crate) name: String,
    pub(crate) trades: u64,
    pub(crate) wins: u64,
    pub(crate) pnl: Decimal,
    pub(crate) fees: Decimal,
    pub(crate) r_sum: Decimal,
}

impl Group {
    fn add(&mut self, trade: &TradeRow) {
        self.trades += 1;
        if trade.pnl > Decimal::ZERO {
            self.wins += 1;
        }
        self.pnl += trade.pnl;
        self.fees += trade.fees;
        self.r_sum += trade.r_multiple;
    }

    fn mean(&self, total: Decimal) -> Option<Decimal> {
        (self.trades > 0).then(|| total / Decimal::from(self.trades))
    }
}

/// Trades grouped by `key`; every name in `always` has a row even without trades. Groups
/// come in the order of `always`, then by trade count (most first) and name.
pub(crate) fn breakdown(
    trades: &[TradeRow],
    key: impl Fn(&TradeRow) -> &str,
    always: &[&str],
) -> Vec<Group> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for name in always {
        groups.entry((*name).to_owned()).or_insert_with(|| Group {
            name: (*name).to_owned(),
            ..Group::default()
        });
    }
    for trade in trades {
        let name = key(trade);
        groups
            .entry(name.to_owned())
            .or_insert_with(|| Group {
                name: name.to_owned(),
                ..Group::default()
            })
            .add(trade);
    }
    let mut groups: Vec<Group> = groups.into_values().collect();
    let rank = |g: &Group| {
        always
            .iter()
            .position(|a| *a == g.name)
            .unwrap_or(always.len())
    };
    groups.sort_by(|a, b| {
        rank(a)
            .cmp(&rank(b))
            .then(b.trades.cmp(&a.trades))
            .then_with(|| a.name.cmp(&b.name))
    });
    groups
}

fn signed_class(value: Decimal) -> &'static str {
    if value > Decimal::ZERO { "pos" } else { "neg" }
}

fn breakdown_table(out: &mut String, id: &str, title: &str, groups: &[Group], total: usize) {
    let _ = writeln!(
        out,
        "<div><h3>{}</h3><table id=\"{id}\"><tr><th></th><th>trades</th><th>share</th><th>wins</th><th>win rate</th><th>net pnl</th><th>avg net pnl</th><th>fees</th><th>avg R</th></tr>",
        escape(title)
    );
    for group in groups {
        let share = if total > 0 {
            format!("{:.1} %", group.trades as f64 * 100.0 / total as f64)
        } else {
            "-".to_owned()
        };
        let win_rate = group.mean(Decimal::from(group.wins)).map_or_else(
            || "-".to_owned(),
            |rate| format!("{:.1} %", rate * Decimal::ONE_HUNDRED),
        );
        let mean = |value: Decimal, places: u32| {
            group
                .mean(value)
                .map_or_else(|| "-".to_owned(), |m| m.round_dp(places).to_string())
        };
        let _ = writeln!(
            out,
            "<tr class=\"{}\" data-group=\"{name}\"><td><code>{name}</code></td><td class=\"num\">{}</td><td class=\"num\">{share}</td><td class=\"num\">{}</td><td class=\"num\">{win_rate}</td><td class=\"num pnl\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            signed_class(group.pnl),
            group.trades,
            group.wins,
            group.pnl.round_dp(2),
            mean(group.pnl, 2),
            group.fees.round_dp(2),
            mean(group.r_sum, 2),
            name = escape(&group.name),
        );
    }
    out.push_str("</table></div>\n");
}

/// The "Breakdowns" section: trades by side and by exit reason.
pub(crate) fn breakdown_section(out: &mut String, trades: &[TradeRow]) {
    out.push_str("<section id=\"breakdowns\"><h2>Trades by side and by exit reason</h2><p class=\"note\">From trades.csv; net PnL includes fees, not funding; a win is a trade with net PnL &gt; 0.</p><div class=\"grid\">\n");
    let by_side = breakdown(trades, |t| t.side.as_str(), &["long", "short"]);
    breakdown_table(out, "breakdown-side", "by side", &by_side, trades.len());
    let by_reason = breakdown(trades, |t| t.exit_reason.as_str(), &["liquidation"]);
    breakdown_table(
        out,
        "breakdown-exit-reason",
        "by exit reason",
        &by_reason,
        trades.len(),
    );
    out.push_str("</div></section>\n");
}

/// The "Monthly returns" section.
pub(crate) fn monthly_section(out: &mut String, months: &[MonthlyReturn]) {
    out.push_str("<section id=\"monthly\"><h2>Monthly returns</h2><p class=\"note\">Mark-to-market equity per UTC month: from the last candle close before the month (the starting equity for the first) to its last candle close.</p>\n<table id=\"monthly-returns\"><tr><th>month</th><th>start equity</th><th>end equity</th><th>pnl</th><th>return</th></tr>\n");
    if months.is_empty() {
        out.push_str("<tr><td colspan=\"5\">no equity points</td></tr>\n");
    }
    for month in months {
        let pnl = month.end - month.start;
        let _ = writeln!(
            out,
            "<tr class=\"{}\" data-month=\"{m}\"><td>{m}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num pnl\">{}</td><td class=\"num pnl\">{} %</td></tr>",
            signed_class(pnl),
            month.start.round_dp(2),
            month.end.round_dp(2),
            pnl.round_dp(2),
            month.percent().round_dp(2),
            m = escape(&month.month),
        );
    }
    out.push_str("</table></section>\n");
}

#[cfg(test)]
mod tests;
