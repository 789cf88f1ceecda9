//! The "Downtime and funding" section: the downtime intervals a live session detected
//! (restart, suspend, outage) with what catching up booked, and every funding settlement
//! with where its rate came from.

use std::fmt::Write as _;

use la_run_schema::RunSummary;

use crate::html::{escape, utc};

/// Renders the section.
pub(crate) fn section(out: &mut String, summary: &RunSummary) {
    out.push_str("<section id=\"downtime\"><h2>Downtime and funding</h2>\n");
    if summary.stopped_reason.is_none() {
        out.push_str("<p class=\"note\">A backtest has no downtime.</p>\n");
    } else {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} downtime interval(s): times the market went on without the session. Before trading on, the session replayed each one (exits along the intrabar path, funding at every funding time passed, no new entries).</p>",
            summary.downtime.len()
        );
        out.push_str("<table id=\"downtime-table\"><tr><th>cause</th><th>detected by</th><th>start (UTC)</th><th>end (UTC)</th><th>minutes</th><th>outcome</th><th>candles replayed</th><th>missing</th><th>exits</th><th>funding</th><th>funding skipped</th></tr>\n");
        for record in &summary.downtime {
            let _ = writeln!(
                out,
                "<tr class=\"downtime\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                record.cause.as_str(),
                record.detected_by.as_str(),
                utc(record.start_ms),
                utc(record.end_ms),
                record.length_ms / 60_000,
                record.outcome.as_str(),
                record.candles_replayed,
                record.candles_missing,
                record.exits.len(),
                record.funding.len(),
                record.funding_skipped,
            );
        }
        out.push_str("</table>\n<h3>Exits booked catching up</h3><table id=\"catch-up-exits\"><tr><th>time (UTC)</th><th>trade id</th><th>reason</th><th>exit price</th><th>net pnl</th></tr>\n");
        for exit in summary.downtime.iter().flat_map(|record| &record.exits) {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                utc(exit.ts_ms),
                escape(&exit.client_order_id),
                escape(&exit.reason),
                exit.exit_price,
                exit.pnl_net,
            );
        }
        out.push_str("</table>\n");
    }
    let _ = writeln!(
        out,
        "<h3>Funding settlements ({})</h3><p class=\"note\">The rate charged at a funding time is the one that settled then: the price channel's first push after it, else the exchange's funding-rate history, else (a logged fallback) the upcoming rate read before it; a backtest assumes its configured rate.</p><table id=\"funding-table\"><tr><th>funding time (UTC)</th><th>rate</th><th>mark price</th><th>amount</th><th>rate source</th><th>catch-up</th></tr>",
        summary.funding_settlements.len()
    );
    for row in &summary.funding_settlements {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            utc(row.funding_time_ms),
            row.rate,
            row.mark_price,
            row.amount,
            row.source.map_or("unknown", |s| s.as_str()),
            if row.catch_up { "yes" } else { "" },
        );
    }
    out.push_str("</table></section>\n");
}
