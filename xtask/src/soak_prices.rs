//! The soak's price-lie check: the simulator sent prints at 1/1000 and 1000× of the market
//! (`implausible-price:low|high`: one ticker, and the forming candle closed at that factor)
//! and a bar whose open lies outside its range (`open-outside-range`, as Bitunix really
//! reports some). From the session's own files: every lie was quarantined (`summary.json`
//! `implausible_price` at least once per lie fired) and none reached the account — no fill
//! and no exit at a price off the run's typical price by more than a factor of two, and no
//! broker refusal needed (`implausible_refused` 0: the guard caught them first); the
//! real-shaped bar was kept and counted as normalised, not rejected.

use std::path::Path;

use anyhow::{Result, bail, ensure};
use rust_decimal::Decimal;

use crate::{
    reliability::read_json_lines,
    run_files::{JournalEvent, JournalLine, RecordLine, Summary},
};

/// The verdict, given the faults the simulator fired.
pub(crate) fn lies_never_traded(
    fired: &[RecordLine],
    summary: Option<&Summary>,
    workspace: &Path,
) -> Result<String> {
    let count = |name: &str| fired.iter().filter(|f| f.scenario() == Some(name)).count();
    let (lies, open_outside) = (count("implausible-price"), count("open-outside-range"));
    let Some(summary) = summary else {
        bail!("no readable summary.json");
    };
    ensure!(
        summary.implausible_price as usize >= lies,
        "{lies} implausible prints fired, {} quarantined",
        summary.implausible_price
    );
    ensure!(
        summary.implausible_refused == 0,
        "{} fills or exits were refused by the broker's backstop: the guard let a lie through",
        summary.implausible_refused
    );
    let normalized = summary
        .frames_normalized
        .get("open_outside_range")
        .copied()
        .unwrap_or(0)
        + summary
            .rest_rows_normalized
            .get("open_outside_range")
            .copied()
            .unwrap_or(0);
    ensure!(
        normalized as usize >= open_outside,
        "{open_outside} bars with the open outside the range fired, {normalized} kept as normalised"
    );
    let journal: Vec<JournalLine> = read_json_lines(&workspace.join("paper/events.jsonl"))?;
    let prices = account_prices(&journal);
    if let Some(typical) = median(&prices) {
        let (low, high) = (typical / Decimal::TWO, typical * Decimal::TWO);
        if let Some(off) = prices.iter().find(|p| **p < low || **p > high) {
            bail!("a fill or exit at {off}, against a typical price of {typical}");
        }
    }
    Ok(format!(
        "{lies} implausible prints fired, {} quarantined, 0 refused; {} fills and exits all within ×2 of the typical price; {open_outside} open-outside-range bars, {normalized} kept as normalised",
        summary.implausible_price,
        prices.len()
    ))
}

/// Every fill and exit price of the journal.
fn account_prices(journal: &[JournalLine]) -> Vec<Decimal> {
    journal
        .iter()
        .filter_map(|line| match &line.event {
            JournalEvent::Fill { price, .. } => *price,
            JournalEvent::Exit { exit_price, .. } => *exit_price,
            _ => None,
        })
        .collect()
}

fn median(values: &[Decimal]) -> Option<Decimal> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal(dir: &Path, prices: &[&str]) {
        std::fs::create_dir_all(dir.join("paper")).unwrap();
        let text: String = prices
            .iter()
            .enumerate()
            .map(|(i, p)| {
                format!(
                    "{{\"kind\":\"fill\",\"client_order_id\":\"s-{i}-long\",\"side\":\"long\",\"qty\":\"1\",\"price\":\"{p}\"}}\n"
                )
            })
            .collect();
        std::fs::write(dir.join("paper/events.jsonl"), text).unwrap();
    }

    fn fired(names: &[&str]) -> Vec<RecordLine> {
        names
            .iter()
            .map(|n| {
                serde_json::from_value(serde_json::json!({"t": 1, "kind": "fault", "fault": n}))
                    .unwrap()
            })
            .collect()
    }

    fn summary(quarantined: u64, refused: u64) -> Summary {
        serde_json::from_value(serde_json::json!({
            "implausible_price": quarantined, "implausible_refused": refused,
            "frames_normalized": {"open_outside_range": 1}
        }))
        .unwrap()
    }

    #[test]
    fn quarantined_lies_and_sane_fills_pass() {
        let dir = tempfile::tempdir().unwrap();
        journal(dir.path(), &["60010.5", "59990", "60100"]);
        let faults = fired(&[
            "implausible-price:low",
            "implausible-price:high",
            "open-outside-range",
        ]);
        let verdict = lies_never_traded(&faults, Some(&summary(4, 0)), dir.path());
        assert!(verdict.is_ok(), "{verdict:?}");
    }

    #[test]
    fn a_fill_at_a_thousandth_of_the_market_fails() {
        let dir = tempfile::tempdir().unwrap();
        journal(dir.path(), &["60010.5", "59990", "60.0", "60100"]);
        let faults = fired(&["implausible-price:low"]);
        let err = lies_never_traded(&faults, Some(&summary(2, 0)), dir.path()).unwrap_err();
        assert!(err.to_string().contains("a fill or exit at 60.0"), "{err}");
    }

    #[test]
    fn a_lie_not_quarantined_or_refused_by_the_broker_fails() {
        let dir = tempfile::tempdir().unwrap();
        journal(dir.path(), &["60000"]);
        let faults = fired(&["implausible-price:low", "implausible-price:high"]);
        assert!(lies_never_traded(&faults, Some(&summary(1, 0)), dir.path()).is_err());
        assert!(lies_never_traded(&faults, Some(&summary(2, 1)), dir.path()).is_err());
    }
}
