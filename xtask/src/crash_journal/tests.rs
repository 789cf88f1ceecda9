//! Tests of the journal fold and the state placement used by `cargo xtask crash`.

use super::*;

fn j(text: &str) -> Json {
    Json::parse(text).unwrap()
}

fn fill(seq: i64, id: &str, qty: &str) -> Json {
    j(&format!(
        r#"{{"seq":{seq},"kind":"fill","client_order_id":"{id}","side":"long","price":"100","qty":"{qty}","fee":"0.1"}}"#
    ))
}

fn exit(seq: i64, id: &str, pnl: &str) -> Json {
    j(&format!(
        r#"{{"seq":{seq},"kind":"exit","client_order_id":"{id}","reason":"stop_loss","qty":"1","pnl_net":"{pnl}"}}"#
    ))
}

/// A broker state with `realized` as the realized total and no funding.
fn state(position: Option<(&str, &str)>, trades: i64, balance: &str, realized: &str) -> Json {
    let position = position.map_or_else(
        || "null".to_owned(),
        |(id, qty)| {
            format!(
                r#"{{"client_order_id":"{id}","side":"long","lots":[{{"price":"100","qty":"{qty}"}}]}}"#
            )
        },
    );
    j(&format!(
        r#"{{"schema_version":1,"starting_balance":"10000","balance":"{balance}","realized_net_total":"{realized}","funding_total":"0","position":{position},"counters":{{"trades":{trades}}}}}"#
    ))
}

fn book(position: Option<(&str, &str)>, trades: i64, balance: &str, realized: &str) -> Book {
    Book::from_state(&state(position, trades, balance, realized)).unwrap()
}

fn none() -> BTreeSet<String> {
    BTreeSet::new()
}

#[test]
fn decimals_add_exactly() {
    let a = Dec::parse("10000.00").unwrap();
    let b = Dec::parse("-12.345").unwrap();
    assert_eq!(a.checked_add(b).unwrap().text(), "9987.655");
    let c = Dec::parse("-0.5")
        .unwrap()
        .checked_add(Dec::parse("0.25").unwrap());
    assert_eq!(c.unwrap().text(), "-0.25");
    assert_eq!(Dec::parse("0.0001").unwrap().text(), "0.0001");
    assert_eq!(Dec::parse("abc"), None);
    assert_eq!(Dec::parse("1e5"), None);
}

#[test]
fn the_fold_opens_closes_and_books_pnl_and_funding() {
    let base = Book::fresh("10000");
    let opened = apply(&base, &fill(1, "a", "0.5")).unwrap();
    assert_eq!(opened.position.as_ref().unwrap().qty, "0.5");
    let funded = apply(
        &opened,
        &j(r#"{"seq":2,"kind":"funding_applied","amount":"-0.25"}"#),
    )
    .unwrap();
    let closed = apply(&funded, &exit(3, "a", "-12.5")).unwrap();
    assert_eq!(closed.position, None);
    assert_eq!(closed.trades, 1);
    assert_eq!(closed.balance, "9987.25");
    assert_eq!(closed.realized, "-12.5");
    assert_eq!(closed.funding, "-0.25");
    assert!(
        apply(&closed, &exit(4, "a", "1"))
            .unwrap_err()
            .contains("exit of a")
    );
    let err = apply(&opened, &fill(5, "b", "1")).unwrap_err();
    assert!(err.contains("while a is open"), "{err}");
}

#[test]
fn a_state_in_step_with_the_journal_is_placed_at_the_end() {
    let segment = vec![
        j(r#"{"seq":1,"kind":"session_started"}"#),
        fill(2, "a", "0.5"),
        exit(3, "a", "5"),
        fill(4, "b", "1"),
    ];
    let saved = book(Some(("b", "1.0")), 1, "10005.00", "5");
    let placed = place_state(&Book::fresh("10000"), &segment, &saved, &none()).unwrap();
    assert_eq!(placed, Placement::InStep { events: 3 });
}

#[test]
fn a_state_behind_the_journal_is_placed_with_the_events_ahead() {
    let segment = vec![fill(1, "a", "0.5"), exit(2, "a", "5"), fill(3, "b", "1")];
    let saved = book(None, 1, "10005", "5");
    let placed = place_state(&Book::fresh("10000"), &segment, &saved, &none()).unwrap();
    assert_eq!(
        placed,
        Placement::JournalAhead {
            reflected: 2,
            ahead: vec![fill(3, "b", "1")]
        }
    );
}

#[test]
fn a_state_one_unjournaled_fill_or_exit_ahead_is_recognised() {
    let base = Book::fresh("10000");
    let opened = vec![fill(1, "a", "0.5")];
    let journaled: BTreeSet<String> = ["a".to_owned()].into();
    // The exit of `a` was saved but not journaled.
    let saved = book(None, 1, "9990", "-10");
    let placed = place_state(&base, &opened, &saved, &journaled).unwrap();
    assert!(
        matches!(placed, Placement::StateAhead { events: 1, ref unjournaled } if unjournaled == "exit of a not journaled")
    );
    // The exit of `a` and the fill of `b` in one step.
    let saved = book(Some(("b", "1")), 1, "9990", "-10");
    let placed = place_state(&base, &opened, &saved, &journaled).unwrap();
    assert!(matches!(placed, Placement::StateAhead { .. }), "{placed:?}");
    // A fill of `c` on a flat account.
    let saved = book(Some(("c", "1")), 0, "10000", "0");
    let placed = place_state(&base, &[], &saved, &journaled).unwrap();
    assert!(
        matches!(placed, Placement::StateAhead { ref unjournaled, .. } if unjournaled == "fill of c not journaled")
    );
}

#[test]
fn a_state_one_unjournaled_funding_payment_ahead_is_recognised() {
    let base = Book::fresh("10000");
    let opened = vec![fill(1, "a", "0.5")];
    let journaled: BTreeSet<String> = ["a".to_owned()].into();
    // Funding of -1.5 was saved (balance and funding total) but not journaled.
    let saved = Book {
        balance: "9998.5".into(),
        funding: "-1.5".into(),
        ..book(Some(("a", "0.5")), 0, "10000", "0")
    };
    let placed = place_state(&base, &opened, &saved, &journaled).unwrap();
    assert!(
        matches!(placed, Placement::StateAhead { ref unjournaled, .. } if unjournaled == "funding of -1.5 not journaled"),
        "{placed:?}"
    );
    // Funding and an exit saved together.
    let saved = Book {
        balance: "10003.5".into(),
        realized: "5".into(),
        funding: "-1.5".into(),
        ..book(None, 1, "10000", "0")
    };
    let placed = place_state(&base, &opened, &saved, &journaled).unwrap();
    assert!(
        matches!(placed, Placement::StateAhead { ref unjournaled, .. } if unjournaled == "exit of a not journaled, funding of -1.5 not journaled"),
        "{placed:?}"
    );
    // A funding total that moved without the balance is no unjournaled payment.
    let inconsistent = Book {
        funding: "-1.5".into(),
        ..book(Some(("a", "0.5")), 0, "10000", "0")
    };
    assert!(place_state(&base, &opened, &inconsistent, &journaled).is_err());
}

#[test]
fn a_state_that_no_fold_point_explains_is_an_error() {
    let base = Book::fresh("10000");
    let segment = vec![fill(1, "a", "0.5"), exit(2, "a", "5")];
    let journaled: BTreeSet<String> = ["a".to_owned()].into();
    let wrong_balance = book(None, 1, "10004", "5");
    let err = place_state(&base, &segment, &wrong_balance, &journaled).unwrap_err();
    assert!(err.contains("matches no point"), "{err}");
    let wrong_qty = book(Some(("a", "0.4")), 0, "10000", "0");
    assert!(place_state(&base, &segment, &wrong_qty, &journaled).is_err());
    // Two trades ahead is more than one unjournaled step.
    let too_far = book(None, 3, "10000", "0");
    assert!(place_state(&base, &segment, &too_far, &journaled).is_err());
    // A "new" position whose fill *is* journaled is not an unjournaled fill.
    let reopened = book(Some(("a", "0.5")), 1, "10005", "5");
    assert!(place_state(&base, &segment, &reopened, &journaled).is_err());
}

#[test]
fn the_ledger_identity_is_checked() {
    assert!(ledger_consistent(&state(None, 1, "10005", "5")).is_ok());
    let err = ledger_consistent(&state(None, 1, "10006", "5")).unwrap_err();
    assert!(err.contains("10006"), "{err}");
}

#[test]
fn repeated_fills_and_exits_are_counted_per_client_order_id() {
    let journal = vec![
        fill(1, "a", "1"),
        exit(2, "a", "1"),
        fill(3, "b", "1"),
        fill(4, "a", "1"),
    ];
    let doubles = repeated_ids(&journal, "fill");
    assert_eq!(doubles.len(), 1);
    assert_eq!(doubles["a"], 2);
    assert!(repeated_ids(&journal, "exit").is_empty());
    let twice = vec![exit(1, "a", "1"), exit(2, "a", "2")];
    assert_eq!(repeated_ids(&twice, "exit")["a"], 2);
    assert_eq!(filled_ids(&journal).len(), 2);
}

#[test]
fn rfc3339_times_become_epoch_milliseconds() {
    assert_eq!(rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(rfc3339_ms("2024-01-01T00:00:00Z"), Some(1_704_067_200_000));
    assert_eq!(
        rfc3339_ms("2024-02-29T12:34:56.789Z"),
        Some(1_709_210_096_789)
    );
    assert_eq!(
        rfc3339_ms("2024-02-29T12:34:56.7Z"),
        Some(1_709_210_096_700)
    );
    assert_eq!(rfc3339_ms("2024-02-29 12:34:56Z"), None);
}
