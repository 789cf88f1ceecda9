//! The journal: a tail torn by a crash mid-append, garbage and duplicated lines, and one
//! enormous line — the next session repairs, counts and goes on, in bounded memory.

use std::{io::Write, path::Path, process::Stdio, time::Duration};

use crate::{
    process::{command, output_text, run, signal, sim_run_args, wait_exit, wait_for},
    workspace::journal,
};

fn journal_path(workspace: &Path) -> std::path::PathBuf {
    workspace.join("paper/events.jsonl")
}

fn append(workspace: &Path, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(journal_path(workspace))
        .unwrap();
    file.write_all(bytes).unwrap();
}

fn short_session(workspace: &Path) {
    let args = sim_run_args(workspace, "600", "2s", &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
}

/// The `seq` of every line, in file order.
fn seqs(lines: &[serde_json::Value]) -> Vec<u64> {
    lines.iter().filter_map(|l| l["seq"].as_u64()).collect()
}

#[test]
fn a_torn_tail_is_cut_before_the_next_append_and_numbering_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    short_session(dir.path());
    let fragment = br#"{"seq":999,"kind":"fill","client_order_id":"torn-in-ha"#;
    append(dir.path(), fragment);

    short_session(dir.path());
    // Every line parses: the next session's first line did not land on the fragment.
    let lines = journal(dir.path());
    let repaired: Vec<_> = lines
        .iter()
        .filter(|l| l["kind"] == "journal_repaired")
        .collect();
    assert_eq!(repaired.len(), 1, "{lines:#?}");
    assert_eq!(repaired[0]["torn_tail_bytes"], fragment.len());
    let torn = std::fs::read(dir.path().join("paper/events.jsonl.torn")).unwrap();
    assert!(torn.starts_with(fragment), "the torn bytes are kept aside");
    // One sequence across both runs: strictly increasing, no number used twice.
    let seqs = seqs(&lines);
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "sequence numbers restart or repeat: {seqs:?}"
    );
}

fn heartbeat(workspace: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(workspace.join("heartbeat.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Peak resident memory of a running process, from `/proc/<pid>/status` (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

#[test]
fn garbage_duplicates_and_a_64_mib_line_are_counted_and_read_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    short_session(dir.path());
    let text = std::fs::read_to_string(journal_path(dir.path())).unwrap();
    let last = text.lines().last().unwrap().to_owned();
    append(dir.path(), b"garbage that is not json\n");
    append(dir.path(), format!("{last}\n").as_bytes());
    let mut huge = vec![b'x'; 64 << 20];
    huge.push(b'\n');
    append(dir.path(), &huge);
    drop(huge);

    let args = sim_run_args(dir.path(), "600", "30s", &[]);
    let mut child = command()
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Past start-up (the journal was read) once this session's heartbeat shows a candle.
    let pid = u64::from(child.id());
    wait_for("a closed candle", Duration::from_secs(30), || {
        heartbeat(dir.path()).is_some_and(|b| b["pid"] == pid && b["candles_closed"] != 0)
    });
    let peak_kib = peak_rss_kib(child.id());
    signal(&child, "TERM");
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(30)).code(),
        Some(0)
    );
    assert!(
        peak_kib < 60 << 10,
        "start-up peak RSS {peak_kib} KiB: the 64 MiB line was held in memory"
    );

    let text = std::fs::read_to_string(journal_path(dir.path())).unwrap();
    let repaired: serde_json::Value = text
        .lines()
        .filter(|l| l.contains("\"journal_repaired\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .next()
        .expect("a journal_repaired line");
    assert_eq!(repaired["garbage_lines"], 1, "{repaired}");
    assert_eq!(repaired["duplicate_seqs"], 1, "{repaired}");
    assert_eq!(repaired["oversize_lines"], 1, "{repaired}");
    assert_eq!(repaired["torn_tail_bytes"], 0, "{repaired}");
}
