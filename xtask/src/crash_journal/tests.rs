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

fn state(position: Option<(&str, &str)>, trades: i64, balance: &str) -> Json {
    let position = position.map_or_else(
        || "null".to_owned(),
        |(id, qty)| {
            format!(
                r#"{{"client_order_id":"{id}","side":"long","lots":[{{"price":"100","qty":"{qty}"}}]}}"#
            )
        },
    );
    j(&format!(
        r#"{{"schema_version":1,"balance":"{balance}","position":{position},"counters":{{"trades":{trades}}}}}"#
    ))
}

#[test]
fn decimals_add_exactly() {
    let a = Dec::parse("10000.00").unwrap();
    let b = Dec::parse("-12.345").unwrap();
    assert_eq!(a.checked_add(b).unwrap().text(), "9987.655");
    assert_eq!(
        Dec::parse("-0.5")
            .unwrap()
            .checked_add(Dec::parse("0.25").unwrap())
            .unwrap()
            .text(),
        "-0.25"
    );
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
    assert_eq!(
        closed,
        Book {
            position: None,
            trades: 1,
            balance: "9987.25".into()
        }
    );
    assert!(
        apply(&closed, &exit(4, "a", "1"))
            .unwrap_err()
            .contains("exit of a")
    );
    assert!(
        apply(&opened, &fill(5, "b", "1"))
            .unwrap_err()
            .contains("while a is open")
    );
}

#[test]
fn a_state_in_step_with_the_journal_is_placed_at_the_end() {
    let base = Book::fresh("10000");
    let segment = vec![
        j(r#"{"seq":1,"kind":"session_started"}"#),
        fill(2, "a", "0.5"),
        exit(3, "a", "5"),
        fill(4, "b", "1"),
    ];
    let saved = Book::from_state(&state(Some(("b", "1.0")), 1, "10005.00")).unwrap();
    let placed = place_state(&base, &segment, &saved).unwrap();
    assert_eq!(placed.reflected, 3);
    assert!(placed.ahead.is_empty());
}

#[test]
fn a_state_behind_the_journal_is_placed_with_the_events_ahead() {
    let base = Book::fresh("10000");
    let segment = vec![fill(1, "a", "0.5"), exit(2, "a", "5"), fill(3, "b", "1")];
    let saved = Book::from_state(&state(None, 1, "10005")).unwrap();
    let placed = place_state(&base, &segment, &saved).unwrap();
    assert_eq!(placed.reflected, 2);
    assert_eq!(placed.ahead, vec![fill(3, "b", "1")]);
}

#[test]
fn a_state_that_no_fold_point_explains_is_an_error() {
    let base = Book::fresh("10000");
    let segment = vec![fill(1, "a", "0.5"), exit(2, "a", "5")];
    let wrong_balance = Book::from_state(&state(None, 1, "10004")).unwrap();
    let err = place_state(&base, &segment, &wrong_balance).unwrap_err();
    assert!(err.contains("matches no point"), "{err}");
    let wrong_qty = Book::from_state(&state(Some(("a", "0.4")), 0, "10000")).unwrap();
    assert!(place_state(&base, &segment, &wrong_qty).is_err());
}

#[test]
fn double_fills_are_counted_per_client_order_id() {
    let journal = vec![
        fill(1, "a", "1"),
        exit(2, "a", "1"),
        fill(3, "b", "1"),
        fill(4, "a", "1"),
    ];
    let doubles = double_fills(&journal);
    assert_eq!(doubles.len(), 1);
    assert_eq!(doubles["a"], 2);
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
