//! The funding-rate file: every bad row rejected by reason with its line number, unsorted
//! rows sorted, duplicates handled, and a file with no usable row an error saying why.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

/// 2024-01-01T00:00:00Z, a funding time.
const T0: i64 = 1_704_067_200_000;
const PERIOD: i64 = FUNDING_PERIOD_MS;

fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rates.csv");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn lines_of(rates: &FundingRates, reason: &str) -> Vec<u64> {
    rates
        .rejected
        .get(reason)
        .map(|r| r.first_lines.clone())
        .unwrap_or_default()
}

#[test]
fn bad_rows_are_rejected_by_reason_with_their_line_numbers() {
    let text = format!(
        "ts_ms,rate\n\
         {t1},0.0001\n\
         {t0},0.0002\n\
         {t0},0.0002\n\
         {t0},0.0003\n\
         {t2},NaN\n\
         {t2},inf\n\
         {t2},0.5\n\
         {off},0.0001\n\
         yesterday,0.0001\n\
         {t2}\n\
         99999999999999999,0.0001\n\
         {t2},-0.0004\n",
        t0 = T0,
        t1 = T0 + PERIOD,
        t2 = T0 + 2 * PERIOD,
        off = T0 + 60_000,
    );
    let (_dir, path) = write(&text);
    let rates = load_funding_rates(&path).unwrap();
    assert_eq!(rates.rows, 12);
    assert_eq!(
        rates
            .rates
            .iter()
            .map(|(t, r)| (t.as_ms(), r.to_string()))
            .collect::<Vec<_>>(),
        vec![
            (T0, "0.0002".to_owned()),
            (T0 + PERIOD, "0.0001".to_owned()),
            (T0 + 2 * PERIOD, "-0.0004".to_owned()),
        ]
    );
    assert_eq!(lines_of(&rates, "duplicate_timestamp"), vec![4]);
    assert_eq!(lines_of(&rates, "conflicting_duplicate"), vec![5]);
    assert_eq!(lines_of(&rates, "bad_rate"), vec![6, 7]);
    assert_eq!(lines_of(&rates, "absurd_rate"), vec![8]);
    assert_eq!(lines_of(&rates, "not_a_funding_time"), vec![9]);
    assert_eq!(lines_of(&rates, "bad_timestamp"), vec![10, 12]);
    assert_eq!(lines_of(&rates, "wrong_field_count"), vec![11]);
    assert_eq!(
        rates.normalized.get("out_of_order"),
        Some(&1),
        "line 3 came after line 2"
    );
}

#[test]
fn a_file_with_no_usable_row_is_an_error_naming_the_file_and_why() {
    for (text, why) in [
        ("", "no rows"),
        ("ts_ms,rate\n", "no rows"),
        (
            "1704067200000,0.2\n1704067200000,abc\n",
            "none of its 2 rows is usable: absurd_rate ×1 (lines 1); bad_rate ×1 (lines 2)",
        ),
        ("time,open,high\n", "wrong_field_count"),
    ] {
        let (_dir, path) = write(text);
        let err = load_funding_rates(&path).unwrap_err();
        let shown = err.to_string();
        assert!(
            matches!(err, SessionError::FundingFile { .. })
                && shown.contains("rates.csv")
                && shown.contains(why),
            "{text:?}: {shown}"
        );
    }
}
