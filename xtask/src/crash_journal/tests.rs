//! Tests of the journal fold and the state placement used by `cargo xtask crash`.

use super::*;

fn j(text: &str) -> JournalLine {
    serde_json::from_str(text).unwrap()
}

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn fill(seq: i64, id: &str, qty: &str) -> JournalLine {
    j(&format!(
        r#"{{"seq":{seq},"kind":"fill","client_order_id":"{id}","side":"long","price":"100","qty":"{qty}","fee":"0.1"}}"#
    ))
}

fn exit(seq: i64, id: &str, pnl: &str) -> JournalLine {
    j(&format!(
        r#"{{"seq":{seq},"kind":"exit","client_order_id":"{id}","reason":"stop_loss","qty":"1","pnl_net":"{pnl}"}}"#
    ))
}

/// A broker state with `realized` as the realized total and no funding.
fn state(
    position: Option<(&str, &str)>,
    trades: i64,
    balance: &str,
    realized: &str,
) -> BrokerState {
    let position = position.map_or_else(
        || "null".to_owned(),
        |(id, qty)| {
            format!(
                r#"{{"client_order_id":"{id}","side":"long","lots":[{{"price":"100","qty":"{qty}"}}]}}"#
            )
        },
    );
    serde_json::from_str(&format!(
        r#"{{"schema_version":1,"starting_balance":"10000","balance":"{balance}","realized_net_total":"{realized}","funding_total":"0","position":{position},"counters":{{"trades":{trades}}}}}"#
    ))
    .unwrap()
}

fn book(position: Option<(&str, &str)>, trades: i64, balance: &str, realized: &str) -> Book {
    Book::from_state(&state(position, trades, balance, realized)).unwrap()
}

fn none() -> BTreeSet<String> {
    BTreeSet::new()
}

#[test]
fn amounts_are_read_and_added_exactly() {
    // A balance written with trailing zeros, a pnl with three decimals, and funding written
    // as a JSON number: no binary rounding anywhere.
    let base = Book::from_state(&state(None, 0, "10000.00", "0")).unwrap();
    let opened = apply(&base, &fill(1, "a", "0.1")).unwrap();
    let funded = apply(
        &opened,
        &j(r#"{"seq":2,"kind":"funding_applied","amount":0.2}"#),
    )
    .unwrap();
    let closed = apply(&funded, &exit(3, "a", "-12.345")).unwrap();
    assert_eq!(closed.balance, d("9987.855"));
    assert_eq!(closed.balance.normalize().to_string(), "9987.855");
    assert_eq!(closed.funding + opened.position.unwrap().qty, d("0.3"));
    let bad_pnl = r#"{"seq":4,"kind":"exit","client_order_id":"a","pnl_net":"abc"}"#;
    assert!(serde_json::from_str::<JournalLine>(bad_pnl).is_err());
}

#[test]
fn the_fold_opens_closes_and_books_pnl_and_funding() {
    let base = Book::fresh(d("10000"));
    let opened = apply(&base, &fill(1, "a", "0.5")).unwrap();
    assert_eq!(opened.position.as_ref().unwrap().qty, d("0.5"));
    let funded = apply(
        &opened,
        &j(r#"{"seq":2,"kind":"funding_applied","amount":"-0.25"}"#),
    )
    .unwrap();
    let closed = apply(&funded, &exit(3, "a", "-12.5")).unwrap();
    assert_eq!(closed.position, None);
    assert_eq!(closed.trades, 1);
    assert_eq!(closed.balance, d("9987.25"));
    assert_eq!(closed.realized, d("-12.5"));
    assert_eq!(closed.funding, d("-0.25"));
    assert!(
        apply(&closed, &exit(4, "a", "1"))
            .unwrap_err()
            .to_string()
            .contains("exit of a")
    );
    let err = apply(&opened, &fill(5, "b", "1")).unwrap_err().to_string();
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
    let placed = place_state(&Book::fresh(d("10000")), &segment, &saved, &none()).unwrap();
    assert_eq!(placed, Placement::InStep { events: 3 });
}

#[test]
fn a_state_behind_the_journal_is_placed_with_the_events_ahead() {
    let segment = vec![fill(1, "a", "0.5"), exit(2, "a", "5"), fill(3, "b", "1")];
    let saved = book(None, 1, "10005", "5");
    let placed = place_state(&Book::fresh(d("10000")), &segment, &saved, &none()).unwrap();
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
    let base = Book::fresh(d("10000"));
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
    let base = Book::fresh(d("10000"));
    let opened = vec![fill(1, "a", "0.5")];
    let journaled: BTreeSet<String> = ["a".to_owned()].into();
    // Funding of -1.5 was saved (balance and funding total) but not journaled.
    let saved = Book {
        balance: d("9998.5"),
        funding: d("-1.5"),
        ..book(Some(("a", "0.5")), 0, "10000", "0")
    };
    let placed = place_state(&base, &opened, &saved, &journaled).unwrap();
    assert!(
        matches!(placed, Placement::StateAhead { ref unjournaled, .. } if unjournaled == "funding of -1.5 not journaled"),
        "{placed:?}"
    );
    // Funding and an exit saved together.
    let saved = Book {
        balance: d("10003.5"),
        realized: d("5"),
        funding: d("-1.5"),
        ..book(None, 1, "10000", "0")
    };
    let placed = place_state(&base, &opened, &saved, &journaled).unwrap();
    assert!(
        matches!(placed, Placement::StateAhead { ref unjournaled, .. } if unjournaled == "exit of a not journaled, funding of -1.5 not journaled"),
        "{placed:?}"
    );
    // A funding total that moved without the balance is no unjournaled payment.
    let inconsistent = Book {
        funding: d("-1.5"),
        ..book(Some(("a", "0.5")), 0, "10000", "0")
    };
    assert!(place_state(&base, &opened, &inconsistent, &journaled).is_err());
}

#[test]
fn a_state_that_no_fold_point_explains_is_an_error() {
    let base = Book::fresh(d("10000"));
    let segment = vec![fill(1, "a", "0.5"), exit(2, "a", "5")];
    let journaled: BTreeSet<String> = ["a".to_owned()].into();
    let wrong_balance = book(None, 1, "10004", "5");
    let err = place_state(&base, &segment, &wrong_balance, &journaled)
        .unwrap_err()
        .to_string();
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
    let err = ledger_consistent(&state(None, 1, "10006", "5"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("10006"), "{err}");
    // Funding counts: paid funding lowers the balance the identity expects.
    let funded = BrokerState {
        funding_total: d("-1.5"),
        ..state(None, 1, "10003.5", "5")
    };
    assert!(ledger_consistent(&funded).is_ok());
    let unfunded = BrokerState {
        balance: d("10005"),
        ..funded
    };
    assert!(ledger_consistent(&unfunded).is_err());
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
    assert_eq!(
        rfc3339_ms("2024-01-01T01:00:00+01:00"),
        Some(1_704_067_200_000)
    );
    assert_eq!(rfc3339_ms("2024-02-30T12:34:56Z"), None);
    assert_eq!(rfc3339_ms("yesterday"), None);
}
