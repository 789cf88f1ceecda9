//! The page: one HTML5 document with inline CSS and inline SVG. It has no scripts, no
//! external stylesheets, images or fonts, and no URLs, so it renders the same offline, from
//! a mail attachment, or years later. Every string that comes from a run file goes through
//! [`escape`].

use std::fmt::Write as _;

use la_run_schema::{RunSummary, inputs::FundingModel};
use time::{OffsetDateTime, macros::format_description};

use crate::{
    inputs::{DecisionCounts, DecisionSource, TradeRow},
    sections::Row,
};

/// Most trade rows written into the table (the rest are summarized in a note).
pub(crate) const MAX_TRADE_ROWS: usize = 5_000;

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px}
header p{margin:6px 0 0;color:#c7ccd6}
nav{padding:8px 28px;background:#e9ecf1;font-size:14px}
nav a{margin-right:14px;color:#1d4f91;text-decoration:none}
main{padding:8px 28px 28px;max-width:1180px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:12px 18px;margin:16px 0}
h2{font-size:18px;margin:4px 0 10px}
h3{font-size:15px;margin:12px 0 6px}
table{border-collapse:collapse;font-size:13px}
th,td{padding:3px 10px;border-bottom:1px solid #eceef2;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.kv th{font-family:ui-monospace,Menlo,Consolas,monospace;font-weight:normal;color:#3b4456}
td.note,p.note{color:#6b7385;font-size:12px}
tr.pos td.pnl{color:#147a3d}
tr.neg td.pnl{color:#b3261e}
figure{margin:0}
figure svg{width:100%;height:auto;display:block}
figcaption{font-size:12px;color:#6b7385;margin:4px 0 8px}
.swatch{display:inline-block;width:18px;height:4px;margin:0 6px 2px 0;vertical-align:middle}
.bar{display:inline-block;height:10px;background:#7aa6d8;vertical-align:middle}
p.fingerprint{font-size:14px}
code{font-family:ui-monospace,Menlo,Consolas,monospace}
.grid{display:flex;flex-wrap:wrap;gap:28px}
.scroll{max-height:640px;overflow:auto}
.scroll-x{overflow-x:auto}
#trades-table{font-size:12px}
#trades-table th,#trades-table td{padding:2px 6px;white-space:nowrap}
.marker{font-size:14px;margin:0 2px 0 8px}
footer{color:#6b7385;font-size:12px;padding:0 28px 24px}
";

/// Escapes text for HTML element content and double- or single-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// A UTC time for the trades and downtime tables.
pub(crate) fn utc(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|at| {
            at.format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

fn held(entry_ms: i64, exit_ms: i64) -> String {
    let minutes = (exit_ms - entry_ms).max(0) / 60_000;
    if minutes >= 60 {
        format!("{}h {:02}m", minutes / 60, minutes % 60)
    } else {
        format!("{minutes}m")
    }
}

/// Everything the page shows, already computed.
pub(crate) struct Page<'a> {
    pub(crate) summary: &'a RunSummary,
    pub(crate) run_dir: &'a str,
    pub(crate) stats: &'a [Row],
    pub(crate) config: &'a [Row],
    pub(crate) fingerprint: &'a str,
    pub(crate) quality: &'a [Row],
    pub(crate) decisions: &'a DecisionCounts,
    pub(crate) trades: &'a [TradeRow],
    pub(crate) price_svg: &'a str,
    pub(crate) price_points: usize,
    /// The run file the price chart's closes came from.
    pub(crate) prices_from: &'static str,
    pub(crate) months: &'a [crate::analysis::MonthlyReturn],
    pub(crate) equity_svg: &'a str,
    pub(crate) drawdown_svg: &'a str,
    pub(crate) equity_points: usize,
}

pub(crate) fn kv_table(out: &mut String, id: &str, rows: &[Row]) {
    let _ = writeln!(out, "<table class=\"kv\" id=\"{id}\">");
    for row in rows {
        let _ = writeln!(
            out,
            "<tr data-key=\"{k}\"><th>{k}</th><td class=\"num\">{v}</td><td class=\"note\">{n}</td></tr>",
            k = escape(&row.key),
            v = escape(&row.value),
            n = escape(&row.note)
        );
    }
    out.push_str("</table>\n");
}

fn count_table(out: &mut String, id: &str, title: &str, counts: &[(&String, &u64)], total: u64) {
    let _ = writeln!(
        out,
        "<div><h3>{}</h3><table id=\"{id}\"><tr><th></th><th>count</th><th>share</th><th></th></tr>",
        escape(title)
    );
    if counts.is_empty() {
        out.push_str("<tr><td colspan=\"4\">none</td></tr>\n");
    }
    for (name, count) in counts {
        let share = if total > 0 {
            **count as f64 * 100.0 / total as f64
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td class=\"num\">{count}</td><td class=\"num\">{share:.1} %</td><td><span class=\"bar\" style=\"width:{w:.0}px\"></span></td></tr>",
            escape(name),
            w = share * 2.0
        );
    }
    out.push_str("</table></div>\n");
}

fn sorted(map: &std::collections::BTreeMap<String, u64>) -> Vec<(&String, &u64)> {
    let mut entries: Vec<(&String, &u64)> = map.iter().collect();
    entries.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    entries
}

fn decisions_section(out: &mut String, decisions: &DecisionCounts) {
    out.push_str("<section id=\"decisions\"><h2>Decisions: why (no) trade</h2>\n");
    let source = match decisions.source {
        DecisionSource::File { rotated_copies: 0 } => "counted from decisions.jsonl".to_owned(),
        DecisionSource::File { rotated_copies } => {
            format!("counted from decisions.jsonl and its {rotated_copies} rotated copies")
        }
        DecisionSource::Summary => {
            "decisions.jsonl was not written (a backtest writes it with --decisions) or is missing; counts from summary.json".to_owned()
        }
        DecisionSource::SummaryOlderCopiesRemoved {
            rotated_copies,
            lines_kept,
        } => format!(
            "counts from summary.json: older rotated copies of decisions.jsonl were removed by retention, the {} kept file(s) hold the last {lines_kept}",
            rotated_copies + 1
        ),
    };
    let _ = writeln!(
        out,
        "<p class=\"note\">{} decisions (one per candle the strategy evaluated, warm-up history included), {source}. A decision names at most one blocking gate; shares are of all decisions.</p>",
        decisions.total
    );
    out.push_str("<div class=\"grid\">\n");
    count_table(
        out,
        "decision-outcomes",
        "outcome",
        &sorted(&decisions.outcomes),
        decisions.total,
    );
    count_table(
        out,
        "decision-blocked-by",
        "blocked by",
        &sorted(&decisions.blocked_by),
        decisions.total,
    );
    out.push_str("</div></section>\n");
}

fn trades_section(out: &mut String, trades: &[TradeRow], funding_model: &FundingModel) {
    let _ = writeln!(
        out,
        "<section id=\"trades\"><h2>Trades ({})</h2>",
        trades.len()
    );
    if trades.len() > MAX_TRADE_ROWS {
        let _ = writeln!(
            out,
            "<p class=\"note\">The first {MAX_TRADE_ROWS} of {} trades are listed; trades.csv has them all.</p>",
            trades.len()
        );
    }
    let funding_note = if matches!(funding_model, FundingModel::NotModelled) {
        "funding not modelled (no funding source): no funding was booked"
    } else {
        "funding is what the broker booked against the position while it was open (negative = paid; not in net pnl)"
    };
    let _ = writeln!(
        out,
        "<p class=\"note\">Times UTC; prices are fills (slippage included); net pnl includes fees, not funding; {funding_note}. Hover a row for its trade id (trades.csv has every column).</p>\n<div class=\"scroll\"><table id=\"trades-table\"><thead><tr><th>#</th><th>side</th><th>entry</th><th>exit</th><th>held</th><th>entry price</th><th>exit price</th><th>qty</th><th>net pnl</th><th>fees</th><th>funding</th><th>R</th><th>exit reason</th></tr></thead>\n<tbody>"
    );
    if trades.is_empty() {
        out.push_str("<tr><td colspan=\"13\">no closed trades</td></tr>\n");
    }
    for (i, t) in trades.iter().take(MAX_TRADE_ROWS).enumerate() {
        let class = if t.pnl > rust_decimal::Decimal::ZERO {
            "pos"
        } else {
            "neg"
        };
        let funding = match (funding_model, t.funding) {
            (FundingModel::NotModelled, _) => "not modelled".to_owned(),
            (_, Some(amount)) => amount.round_dp(4).normalize().to_string(),
            (_, None) => "n/a".to_owned(),
        };
        let _ = writeln!(
            out,
            "<tr class=\"trade {class}\" title=\"{id}\" data-trade-id=\"{id}\"><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num pnl\">{}</td><td class=\"num\">{}</td><td class=\"num funding\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            i + 1,
            escape(&t.side),
            utc(t.entry_time_ms),
            utc(t.exit_time_ms),
            held(t.entry_time_ms, t.exit_time_ms),
            t.entry_price.normalize(),
            t.exit_price.normalize(),
            t.qty.normalize(),
            t.pnl.round_dp(2),
            t.fees.round_dp(2),
            funding,
            t.r_multiple.round_dp(2),
            escape(&t.exit_reason),
            id = escape(&t.trade_id),
        );
    }
    out.push_str("</tbody></table></div></section>\n");
}

/// Renders the whole document.
pub(crate) fn render(page: &Page<'_>) -> String {
    let summary = page.summary;
    let run_id = &summary.run_id;
    let mut out = String::with_capacity(64 * 1024 + page.trades.len() * 400);
    let stopped = summary
        .stopped_reason
        .map_or("end of data", |reason| reason.as_str());
    let subtitle = [
        escape(&summary.source),
        escape(&summary.symbol),
        escape(&summary.interval),
        format!("strategy {}", escape(&summary.strategy)),
        format!("stopped: {}", escape(stopped)),
    ];
    open_document(
        &mut out,
        &format!("Run report {run_id}"),
        &format!("Run report: {run_id}"),
        &subtitle.join(" &middot; "),
    );
    out.push_str("<nav><a href=\"#stats\">Statistics</a><a href=\"#charts\">Charts</a><a href=\"#monthly\">Monthly</a><a href=\"#breakdowns\">Breakdowns</a><a href=\"#decisions\">Decisions</a><a href=\"#trades\">Trades</a><a href=\"#downtime\">Downtime</a><a href=\"#config\">Configuration</a><a href=\"#quality\">Data quality</a></nav>\n<main>\n");

    out.push_str("<section id=\"stats\"><h2>Statistics</h2>\n");
    kv_table(&mut out, "stats-table", page.stats);
    out.push_str("</section>\n");

    let _ = writeln!(
        out,
        "<section id=\"charts\"><h2>Price and trades</h2><figure id=\"price-chart\"><figcaption>Candle closes ({} from {}), USDT; <span class=\"marker\" style=\"color:#1f77b4\">&#9650;</span>long entry <span class=\"marker\" style=\"color:#9467bd\">&#9660;</span>short entry <span class=\"marker\" style=\"color:#2ca02c\">&#9679;</span>exit with a net gain <span class=\"marker\" style=\"color:#d62728\">&#9679;</span>exit with a loss <span class=\"marker\">&#10005;</span>liquidation, each at its fill time and price; horizontal axis UTC.</figcaption>\n{}\n</figure>",
        page.price_points, page.prices_from, page.price_svg
    );
    let _ = writeln!(
        out,
        "<h2>Equity</h2><figure id=\"equity-chart\"><figcaption><span class=\"swatch\" style=\"background:#1f77b4\"></span>realized equity (closed trades) <span class=\"swatch\" style=\"background:#ff7f0e\"></span>mark equity (plus the open position's unrealized PnL), USDT, at every candle close; {} points in equity.csv; horizontal axis UTC.</figcaption>\n{}\n</figure>",
        page.equity_points, page.equity_svg
    );
    let _ = writeln!(
        out,
        "<h2>Drawdown</h2><figure id=\"drawdown-chart\"><figcaption>Realized equity below its running peak, in percent of the peak.</figcaption>\n{}\n</figure></section>",
        page.drawdown_svg
    );

    crate::analysis::monthly_section(&mut out, page.months);
    crate::analysis::breakdown_section(&mut out, page.trades);
    decisions_section(&mut out, page.decisions);
    trades_section(&mut out, page.trades, &page.summary.funding_model);
    crate::downtime::section(&mut out, page.summary);

    let _ = writeln!(
        out,
        "<section id=\"config\"><h2>Configuration</h2><p class=\"fingerprint\">Fingerprint <code id=\"config-fingerprint\">{}</code> <span class=\"note\">(FNV-1a 64 of the canonical JSON of the settings below; equal settings give equal fingerprints)</span></p>",
        escape(page.fingerprint)
    );
    kv_table(&mut out, "config-table", page.config);
    out.push_str("</section>\n");

    out.push_str("<section id=\"quality\"><h2>Data quality</h2>\n");
    kv_table(&mut out, "quality-table", page.quality);
    out.push_str("</section>\n</main>\n");
    close_document(
        &mut out,
        &format!("from <code>{}</code>", escape(page.run_dir)),
    );
    out
}

/// Opens a page: doctype, title and style (`title` and `heading` are escaped here),
/// header with its `subtitle_html` (already escaped).
pub(crate) fn open_document(out: &mut String, title: &str, heading: &str, subtitle_html: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(title)
    );
    let _ = writeln!(
        out,
        "<header><h1>{}</h1><p>{subtitle_html}</p></header>",
        escape(heading)
    );
}

/// Closes `<main>` and the page with the footer (`origin_html` already escaped).
pub(crate) fn close_document(out: &mut String, origin_html: &str) {
    let _ = writeln!(
        out,
        "<footer>Rendered by la-report {} {origin_html}. Self-contained: no scripts, no network access.</footer>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION"),
    );
}
