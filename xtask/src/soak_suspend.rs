//! The soak's suspend check: after the session process was stopped (SIGSTOP) while the
//! simulator ran on and then resumed (SIGCONT), its own files must show that it noticed
//! (`summary.json` lists a downtime caused by a suspend, caught up), that it never entered a
//! position from a candle older than one interval when it traded (every fill's time against
//! the candle its order id names), and that no decision replayed while catching up became an
//! order. The stop reason (`duration_reached`, not `stale_data`) is checked with the others.

use std::path::Path;

use anyhow::{Result, bail, ensure};

use crate::{
    reliability::read_json_lines,
    run_files::{DecisionLine, Downtime, JournalEvent, JournalLine, Summary},
    soak_checks::SuspendWindow,
};

/// The soak session's candle interval (the default, one minute).
const INTERVAL_MS: i64 = 60_000;

/// The verdict, and facts for the report.
pub(crate) fn suspend_caught_up(
    window: Result<SuspendWindow>,
    summary: Option<&Summary>,
    workspace: &Path,
    run_dir: &Path,
) -> (Result<String>, Vec<(String, String)>) {
    let mut facts = Vec::new();
    let verdict = check(window, summary, workspace, run_dir, &mut facts);
    (verdict, facts)
}

fn check(
    window: Result<SuspendWindow>,
    summary: Option<&Summary>,
    workspace: &Path,
    run_dir: &Path,
    facts: &mut Vec<(String, String)>,
) -> Result<String> {
    let window = window?;
    facts.push((
        "session suspended (SIGSTOP → SIGCONT, wall s after start)".into(),
        format!(
            "{:.1} → {:.1}",
            window.stopped_at.as_secs_f64(),
            window.resumed_at.as_secs_f64()
        ),
    ));
    let Some(summary) = summary else {
        bail!("no readable summary.json");
    };
    let suspends: Vec<_> = summary
        .downtime
        .iter()
        .filter(|d| d.cause == "suspend")
        .collect();
    for d in &summary.downtime {
        facts.push((
            format!("downtime ({}, detected by {})", d.cause, d.detected_by),
            format!(
                "{} virtual s, {}: {} candles replayed, {} exits, {} funding settlements",
                (d.end_ms - d.start_ms) / 1_000,
                d.outcome,
                d.candles_replayed,
                d.exits.len(),
                d.funding.len()
            ),
        ));
    }
    ensure!(
        !suspends.is_empty(),
        "summary.json lists no downtime caused by a suspend (downtime: {:?})",
        summary
            .downtime
            .iter()
            .map(|d| format!("{}/{}", d.cause, d.detected_by))
            .collect::<Vec<_>>()
    );
    for d in &suspends {
        ensure!(
            d.outcome == "caught_up" || d.outcome == "nothing_missed",
            "the suspend's catch-up ended {}",
            d.outcome
        );
    }
    let journal: Vec<JournalLine> = read_json_lines(&workspace.join("paper/events.jsonl"))?;
    let booked = catch_up_booked(&journal, &summary.downtime)?;
    let mut entries = 0;
    for line in &journal {
        let JournalEvent::Fill {
            client_order_id,
            ts: Some(ts),
            ..
        } = &line.event
        else {
            continue;
        };
        entries += 1;
        let Some(open_time) = candle_of(client_order_id) else {
            bail!("fill {client_order_id}: the order id names no candle");
        };
        let age = ts - (open_time + INTERVAL_MS);
        ensure!(
            age <= INTERVAL_MS,
            "fill {client_order_id} at {ts} came from a candle that had closed {} s before",
            age / 1_000
        );
        if let Some(d) = suspends.iter().find(|d| *ts > d.start_ms && *ts < d.end_ms) {
            bail!(
                "fill {client_order_id} at {ts} lies inside the suspended interval {}..{}",
                d.start_ms,
                d.end_ms
            );
        }
    }
    let decisions: Vec<DecisionLine> = read_json_lines(&run_dir.join("decisions.jsonl"))?;
    let replayed: Vec<_> = decisions.iter().filter(|d| d.catch_up).collect();
    ensure!(
        !replayed.iter().any(|d| d.outcome_is("submitted")),
        "a decision replayed while catching up was submitted as an order"
    );
    Ok(format!(
        "{} suspend downtime(s) caught up; {booked}; {entries} entries, each within one interval of its candle's close and none inside a suspended interval; {} catch-up decisions, none an order",
        suspends.len(),
        replayed.len()
    ))
}

/// The journal's `"catch_up": true` lines against the summary's downtime records: as many
/// catch-up exits and funding settlements journaled as the records list (nothing booked
/// silently or twice), and no entry fill ever marked as booked while catching up.
fn catch_up_booked(journal: &[JournalLine], downtime: &[Downtime]) -> Result<String> {
    let marked = |kind: &str| {
        journal
            .iter()
            .filter(|line| line.catch_up && line.kind() == kind)
            .count()
    };
    ensure!(
        marked("fill") == 0,
        "{} fill(s) journaled as booked while catching up: a catch-up never enters",
        marked("fill")
    );
    let (exits, funding) = (marked("exit"), marked("funding_applied"));
    let listed_exits: usize = downtime.iter().map(|d| d.exits.len()).sum();
    let listed_funding: usize = downtime.iter().map(|d| d.funding.len()).sum();
    ensure!(
        exits == listed_exits && funding == listed_funding,
        "the journal holds {exits} catch-up exit(s) and {funding} catch-up funding settlement(s), summary.json's downtime lists {listed_exits} and {listed_funding}"
    );
    Ok(format!(
        "{exits} catch-up exit(s) and {funding} funding settlement(s) journaled as summary.json lists them"
    ))
}

/// The open time a client order id (`<strategy>-<open ms>-<side>`) names.
fn candle_of(client_order_id: &str) -> Option<i64> {
    let mut parts = client_order_id.rsplitn(3, '-');
    let _side = parts.next()?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const SUSPEND_START: i64 = 1_704_083_211_000;
    const SUSPEND_END: i64 = 1_704_083_820_000;

    /// A workspace whose journal holds `fills` (`(order id, ts)`) and whose run's decisions
    /// are `decisions`; the summary lists one suspend caught up.
    fn judge(fills: &[(&str, i64)], decisions: &str) -> Result<String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("paper")).unwrap();
        let journal: String = fills
            .iter()
            .map(|(id, ts)| {
                format!(
                    "{{\"kind\":\"fill\",\"client_order_id\":\"{id}\",\"side\":\"long\",\"qty\":\"1\",\"ts\":{ts}}}\n"
                )
            })
            .collect();
        std::fs::write(dir.path().join("paper/events.jsonl"), journal).unwrap();
        std::fs::write(dir.path().join("decisions.jsonl"), decisions).unwrap();
        let summary: Summary = serde_json::from_value(serde_json::json!({
            "downtime": [{
                "cause": "suspend", "detected_by": "sigcont", "start_ms": SUSPEND_START,
                "end_ms": SUSPEND_END, "outcome": "caught_up", "candles_replayed": 11
            }]
        }))
        .unwrap();
        let window = SuspendWindow {
            stopped_at: Duration::from_secs(72),
            resumed_at: Duration::from_secs(77),
        };
        suspend_caught_up(Ok(window), Some(&summary), dir.path(), dir.path()).0
    }

    const REPLAYED: &str =
        "{\"open_time\":1704083400000,\"catch_up\":true,\"outcome\":\"catch_up\"}\n";

    #[test]
    fn fills_at_their_candles_close_outside_the_suspend_pass() {
        let at_close = SUSPEND_END + 60_000;
        let verdict = judge(&[("sma-cross-1704083820000-long", at_close)], REPLAYED);
        assert!(verdict.is_ok(), "{verdict:?}");
    }

    #[test]
    fn a_fill_from_a_candle_closed_two_intervals_before_fails() {
        let verdict = judge(
            &[("sma-cross-1704083820000-long", SUSPEND_END + 180_000)],
            REPLAYED,
        );
        assert!(
            verdict
                .unwrap_err()
                .to_string()
                .contains("had closed 120 s before")
        );
    }

    #[test]
    fn a_fill_inside_the_suspended_interval_fails() {
        let verdict = judge(
            &[("sma-cross-1704083400000-long", 1_704_083_460_000)],
            REPLAYED,
        );
        assert!(
            verdict
                .unwrap_err()
                .to_string()
                .contains("inside the suspended interval")
        );
    }

    #[test]
    fn a_replayed_decision_that_became_an_order_fails() {
        let submitted =
            "{\"open_time\":1704083400000,\"catch_up\":true,\"outcome\":\"submitted\"}\n";
        let verdict = judge(&[], submitted);
        assert!(verdict.unwrap_err().to_string().contains("was submitted"));
    }

    #[test]
    fn the_candle_is_read_from_an_order_id_whose_strategy_name_has_dashes() {
        assert_eq!(
            candle_of("sma-cross-1704071880000-short"),
            Some(1_704_071_880_000)
        );
        assert_eq!(
            candle_of("setups-1704071880000-long"),
            Some(1_704_071_880_000)
        );
        assert_eq!(candle_of("garbage"), None);
    }

    /// Journal lines from JSON texts, and one downtime record listing `exits` exits and
    /// `funding` settlements.
    fn booked(lines: &[&str], exits: usize, funding: usize) -> Result<String> {
        let journal: Vec<JournalLine> = lines
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let downtime: Downtime = serde_json::from_value(serde_json::json!({
            "cause": "suspend", "detected_by": "sigcont", "start_ms": SUSPEND_START,
            "end_ms": SUSPEND_END, "outcome": "caught_up", "candles_replayed": 11,
            "exits": vec![serde_json::json!({}); exits],
            "funding": vec![serde_json::json!({}); funding],
        }))
        .unwrap();
        catch_up_booked(&journal, &[downtime])
    }

    const CAUGHT_UP_EXIT: &str =
        r#"{"kind":"exit","client_order_id":"a-1-long","pnl_net":"-3","catch_up":true}"#;
    const CAUGHT_UP_FUNDING: &str = r#"{"kind":"funding_applied","amount":"-0.5","catch_up":true}"#;
    const LIVE_EXIT: &str = r#"{"kind":"exit","client_order_id":"a-2-long","pnl_net":"4"}"#;

    #[test]
    fn catch_up_exits_and_funding_journaled_as_the_summary_lists_them_pass() {
        let verdict = booked(&[CAUGHT_UP_EXIT, CAUGHT_UP_FUNDING, LIVE_EXIT], 1, 1);
        assert!(verdict.is_ok(), "{verdict:?}");
    }

    #[test]
    fn a_catch_up_exit_the_summary_does_not_list_fails() {
        let verdict = booked(&[CAUGHT_UP_EXIT, CAUGHT_UP_FUNDING], 0, 1);
        assert!(verdict.unwrap_err().to_string().contains("lists 0 and 1"));
    }

    #[test]
    fn a_listed_funding_settlement_missing_from_the_journal_fails() {
        let verdict = booked(&[CAUGHT_UP_EXIT], 1, 1);
        assert!(
            verdict
                .unwrap_err()
                .to_string()
                .contains("0 catch-up funding")
        );
    }

    #[test]
    fn a_fill_marked_as_booked_while_catching_up_fails() {
        let fill = r#"{"kind":"fill","client_order_id":"a-1-long","side":"long","qty":"1","catch_up":true}"#;
        let verdict = booked(&[fill], 0, 0);
        assert!(verdict.unwrap_err().to_string().contains("never enters"));
    }
}
