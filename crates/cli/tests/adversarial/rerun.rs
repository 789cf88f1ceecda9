//! Rerunning the README's simulator command on the same workspace: the simulated market
//! resumes where the account left off (no candle is replayed to an account that already
//! decided it), and once the account has traded the data to its end the start is refused
//! with a usage error that says how to start fresh, leaving the account untouched; the way
//! out it names (`--reset-account`) trades the data from its start again.

use std::path::Path;

use crate::{
    candles::month_slice,
    process::{command, output_text, sim_run_args},
};

/// The account's last decided candle (`paper/unified_state.json`).
fn account_last_candle(workspace: &Path) -> i64 {
    let text = std::fs::read_to_string(workspace.join("paper/unified_state.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&text).unwrap();
    state["last_candle_open_ms"]
        .as_i64()
        .expect("a decided candle")
}

/// The candles the latest run saw, from its `decisions.jsonl`.
struct Decided {
    /// Open times of the candles decided live (warm-up history excluded), in file order.
    live: Vec<i64>,
    /// Open times of the warm-up history read over REST.
    history: Vec<i64>,
    /// How many live candles came out `out_of_order`.
    out_of_order: usize,
}

fn decided(workspace: &Path) -> Decided {
    let text = std::fs::read_to_string(workspace.join("runs/latest/decisions.jsonl")).unwrap();
    let mut seen = Decided {
        live: Vec::new(),
        history: Vec::new(),
        out_of_order: 0,
    };
    for line in text.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let open = record["open_time"].as_i64().unwrap();
        match record["outcome"].as_str() {
            Some("history") => seen.history.push(open),
            Some("out_of_order") => {
                seen.out_of_order += 1;
                seen.live.push(open);
            }
            _ => seen.live.push(open),
        }
    }
    seen
}

#[test]
fn a_rerun_resumes_the_simulated_market_where_the_account_left_off_then_refuses_past_its_end_until_reset()
 {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    // 300 real minutes: 70 of warm-up history, then 230 to trade.
    let data = month_slice(dir.path(), "slice.csv", 2_800, 300);
    let data_arg = data.to_str().unwrap();
    let last_in_data = {
        let text = std::fs::read_to_string(&data).unwrap();
        let row = text.lines().last().unwrap();
        row.split(',').next().unwrap().parse::<i64>().unwrap()
    };
    let run = |duration: &str, extra: &[&str]| {
        let mut args = vec!["--http", "off", "--data", data_arg];
        args.extend_from_slice(extra);
        command()
            .args(sim_run_args(&ws, "1200", duration, &args))
            .output()
            .expect("binary runs")
    };

    let first = run("4s", &[]);
    assert_eq!(first.status.code(), Some(0), "{}", output_text(&first));
    let seen = decided(&ws);
    let first_decided = seen.live.first().copied();
    assert!(
        !seen.live.is_empty() && seen.out_of_order == 0,
        "first run: {:?}",
        seen.live
    );
    let after_first = account_last_candle(&ws);
    assert!(
        after_first < last_in_data,
        "the first run stops inside the data"
    );

    // The rerun continues with the candle after the account's last one and trades on to the
    // end of the data.
    let second = run("15s", &[]);
    assert_eq!(second.status.code(), Some(0), "{}", output_text(&second));
    let seen = decided(&ws);
    assert_eq!(seen.out_of_order, 0, "no candle is replayed to the account");
    assert!(
        seen.live.first().is_some_and(|&open| open > after_first),
        "the rerun decides nothing the account already saw: {:?}",
        seen.live.first()
    );
    // The candle right after the account's last is the first the simulator's clock reaches:
    // decided live, or (when the machine is slow to connect) part of the REST warm-up.
    assert!(
        seen.live.first() == Some(&(after_first + 60_000))
            || seen.history.contains(&(after_first + 60_000)),
        "the rerun resumes right after the account's last candle"
    );
    assert!(seen.live.windows(2).all(|w| w[0] < w[1]), "in order");
    assert_eq!(account_last_candle(&ws), last_in_data, "traded to the end");

    // Nothing is left: the start is refused, and the account is not touched.
    let state_before = std::fs::read(ws.join("paper/broker_state.json")).unwrap();
    let third = run("4s", &[]);
    let text = output_text(&third);
    assert_eq!(third.status.code(), Some(2), "{text}");
    // miette wraps the message; compare the words.
    let words = text
        .split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        words.contains("already traded this market data to its end")
            && words.contains("--reset-account")
            && words.contains("another --workspace"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(ws.join("paper/broker_state.json")).unwrap(),
        state_before
    );
    assert_eq!(account_last_candle(&ws), last_in_data);

    // The way out the message names: a fresh account trades the data from its start again.
    let fresh = run("4s", &["--reset-account"]);
    assert_eq!(fresh.status.code(), Some(0), "{}", output_text(&fresh));
    let seen = decided(&ws);
    // The first live candle depends on when the feed connects: within a minute or two of
    // the first run's, far before where the old account stopped.
    let restart = seen.live.first().copied().expect("decided candles");
    let first_decided = first_decided.unwrap();
    assert!(
        (first_decided - 120_000..=first_decided + 120_000).contains(&restart),
        "from the start again: {restart} vs {first_decided}"
    );
    assert_eq!(seen.out_of_order, 0);
}
