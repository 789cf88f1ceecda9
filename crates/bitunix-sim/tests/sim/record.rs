//! The record file: every frame sent, completed candles and faults, as JSON lines.

use std::collections::HashSet;

use la_bitunix_sim::{Fault, SimConfig, start};
use serde_json::Value;

use crate::client::{MINUTE, SUBSCRIBE_ALL, T0, WsClient, config};

#[tokio::test(start_paused = true)]
async fn the_record_file_holds_exactly_what_was_sent_plus_candles_and_faults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.jsonl");
    let sim = start(SimConfig {
        record_path: Some(path.clone()),
        ..config(10)
    })
    .await
    .unwrap();
    let mut client = WsClient::connect_ready(sim.local_addr()).await;
    client.send_text(SUBSCRIBE_ALL).await;
    let mut received = Vec::new();
    loop {
        let text = client.next_text().await;
        let value: Value = serde_json::from_str(&text).unwrap();
        let ts = value["ts"].as_i64().unwrap_or(0);
        received.push(text);
        if ts >= T0 + 2 * MINUTE + 5_000 {
            break;
        }
    }
    sim.inject(Fault::Gap { candles: 1 });
    let completed = sim.completed_candles();
    sim.shutdown().await;

    let lines: Vec<Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let frames: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "frame").collect();
    assert_eq!(
        frames[0]["frame"],
        r#"{"op":"connect","data":{"result":true}}"#
    );
    assert_eq!(frames[0]["ch"], "control");
    assert!(
        frames
            .iter()
            .all(|f| f["conn"] == 1 && f["t"].as_i64().unwrap() >= T0)
    );
    let recorded: Vec<&str> = frames
        .iter()
        .map(|f| f["frame"].as_str().unwrap())
        .collect();
    // Everything the client read was recorded, in order (the record may hold a few more
    // frames sent after the client stopped reading, and the final close frame).
    assert_eq!(
        &recorded[1..=received.len()],
        received
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
    );
    let kline_frames = frames
        .iter()
        .filter(|f| f["ch"] == "market_kline_1min")
        .count();
    assert!(kline_frames >= 250, "{kline_frames}");
    let completed_lines: Vec<i64> = lines
        .iter()
        .filter(|l| l["kind"] == "candle_completed")
        .map(|l| l["open_time"].as_i64().unwrap())
        .collect();
    let expected: Vec<i64> = completed.iter().map(|c| c.open_time().as_ms()).collect();
    assert_eq!(completed_lines, expected);
    assert_eq!(expected, vec![T0, T0 + MINUTE]);
    let faults: HashSet<&str> = lines
        .iter()
        .filter(|l| l["kind"] == "fault")
        .map(|l| l["fault"].as_str().unwrap())
        .collect();
    assert_eq!(faults, HashSet::from(["gap:1"]));
}

#[tokio::test]
async fn a_record_path_that_is_a_symbolic_link_is_refused_and_its_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("outside.txt");
    std::fs::write(&target, "precious").unwrap();
    let path = dir.path().join("sim.jsonl");
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let started = start(SimConfig {
        record_path: Some(path.clone()),
        ..config(10)
    })
    .await;
    let Err(err) = started else {
        panic!("a simulator recording through a link started");
    };
    assert!(err.to_string().contains("sim.jsonl"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
}
