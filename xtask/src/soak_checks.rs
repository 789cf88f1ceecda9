//! The soak's verdicts, read from what the session and the simulator left on disk.
//!
//! What counts as an *unhandled* error: a `system.jsonl` line at level `ERROR` that is not a
//! documented alert. The only documented alerts are the lines carrying `"alert": true`
//! (a failed state save: the session goes on, the last good file is intact; a catch-up
//! whose download failed every attempt; a downtime beyond `max_catch_up`). A simulator
//! fault must never produce any other ERROR line — a bad frame is a counted WARN-level
//! rejection, a dropped connection a WARN-level reconnect, and a candle that could not be
//! backfilled (ERROR "candles could not be backfilled") is exactly the silent loss the soak
//! exists to catch. `panicked` anywhere in the log or the console output always fails.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
    process::ExitStatus,
};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    reliability::{
        Checks, StateCopy, current_schema, load_state, read_json, read_json_lines, read_text,
        verdict,
    },
    run_files::{DecisionLine, RecordLine, Summary},
    soak_plan::{covered_scenarios, expected_rejections},
};

/// Fields every `system.jsonl` line must carry (as strings).
const REQUIRED_LOG_FIELDS: [&str; 5] = ["timestamp", "level", "target", "message", "symbol"];

/// Candles completed in the last this-many wall seconds before the simulator sent its last
/// frame may still have been in flight when the session stopped (their close needs the next
/// bucket's first push).
const TAIL_WALL_S: f64 = 5.0;

/// When the soak stopped and resumed the session (wall time since it started).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SuspendWindow {
    pub(crate) stopped_at: std::time::Duration,
    pub(crate) resumed_at: std::time::Duration,
}

pub(crate) struct Inputs<'a> {
    pub(crate) status: ExitStatus,
    pub(crate) workspace: &'a Path,
    pub(crate) record: &'a Path,
    pub(crate) console: &'a Path,
    /// The simulator process's console output.
    pub(crate) sim_console: &'a Path,
    /// How the simulator process stopped when asked (`SIGINT` after the session exited).
    pub(crate) sim_stopped: Result<String>,
    pub(crate) speed: f64,
    /// The suspend the soak inflicted on the session.
    pub(crate) suspend: Result<SuspendWindow>,
}

/// Runs every file-based check; returns facts for the report.
pub(crate) fn check_all(checks: &mut Checks, inputs: &Inputs<'_>) -> Vec<(String, String)> {
    let mut facts = Vec::new();
    checks.record(
        "exit status 0",
        verdict(inputs.status.success(), inputs.status.to_string()),
    );
    checks.record(
        "simulator ran to the end and stopped cleanly",
        inputs
            .sim_stopped
            .as_ref()
            .map(|status| format!("{status} after SIGINT (record flushed)"))
            .map_err(|e| anyhow!("{e:#}")),
    );
    let summary_path = inputs
        .workspace
        .join("runs")
        .join("latest")
        .join("summary.json");
    // Read once as JSON for the facts (any field, as written), then as the typed view.
    let summary_json = read_json::<Value>(&summary_path);
    let summary = summary_json
        .as_ref()
        .map_err(|e| anyhow!("{e:#}"))
        .and_then(|json| Summary::deserialize(json).context("summary.json"));
    checks.record(
        "stopped_reason = duration_reached",
        summary
            .as_ref()
            .map_err(|e| anyhow!("{e:#}"))
            .and_then(|s| {
                let reason = s.stopped_reason.as_deref();
                ensure!(
                    reason == Some("duration_reached"),
                    "stopped_reason is {reason:?}"
                );
                Ok("duration_reached".to_owned())
            }),
    );
    if let Ok(json) = &summary_json {
        for key in [
            "run_id",
            "candles_closed",
            "trades",
            "fills",
            "reconnects",
            "backfilled_candles",
            "errors",
            "state_save_failures",
            "ending_equity",
        ] {
            facts.push((format!("summary.{key}"), scalar_text(json.get(key))));
        }
        if let Some(Value::Object(reasons)) = json.get("rejected_frames") {
            let text: Vec<String> = reasons
                .iter()
                .map(|(k, v)| format!("{k}={}", scalar_text(Some(v))))
                .collect();
            facts.push(("summary.rejected_frames".into(), text.join(", ")));
        }
    }
    checks.record("no panic (log and console)", no_panic(inputs));
    let log = inputs.workspace.join("logs").join("system.jsonl");
    let (shape, handled, levels) = log_checks(&log);
    checks.record("every log line is JSON with the required fields", shape);
    checks.record("no unhandled ERROR line", handled);
    facts.push(("log lines by level".into(), levels));
    let run_dir = summary
        .as_ref()
        .ok()
        .and_then(|s| s.run_dir.clone())
        .unwrap_or_else(|| inputs.workspace.join("runs").join("latest"));
    let (candles, candle_facts) = candles_accounted(inputs.record, &run_dir, inputs.speed, &log);
    checks.record("every simulator candle closed live or backfilled", candles);
    facts.extend(candle_facts);
    checks.record("every fault scenario fired", faults_fired(inputs.record));
    checks.record(
        "every injected bad frame counted under its reason",
        rejections_counted(inputs.record, summary.as_ref().ok()),
    );
    checks.record(
        "implausible prices quarantined, never traded",
        fired_faults(inputs.record).and_then(|fired| {
            crate::soak_prices::lies_never_traded(&fired, summary.as_ref().ok(), inputs.workspace)
        }),
    );
    let (suspend, suspend_facts) = crate::soak_suspend::suspend_caught_up(
        inputs
            .suspend
            .as_ref()
            .map_err(|e| anyhow!("{e:#}"))
            .copied(),
        summary.as_ref().ok(),
        inputs.workspace,
        &run_dir,
    );
    checks.record(
        "the suspend was detected and caught up, and no entry came from a stale candle",
        suspend,
    );
    facts.extend(suspend_facts);
    let paper = inputs.workspace.join("paper");
    for name in ["broker_state.json", "unified_state.json"] {
        let result = load_state::<Value>(&paper, name).and_then(|(_, copy)| {
            ensure!(copy == StateCopy::Main, "only the .bak copy loads");
            Ok(format!(
                "main file loads, schema_version {}",
                current_schema(name)
            ))
        });
        checks.record(&format!("{name} loads"), result);
    }
    facts
}

/// A summary value as the facts list shows it (`-` when absent).
fn scalar_text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

fn no_panic(inputs: &Inputs<'_>) -> Result<String> {
    let mut hits = Vec::new();
    for path in [
        inputs.console.to_path_buf(),
        inputs.sim_console.to_path_buf(),
        inputs.workspace.join("logs").join("system.jsonl"),
    ] {
        let text = read_text(&path)?;
        hits.extend(
            text.lines()
                .filter(|l| l.contains("panicked"))
                .take(3)
                .map(|l| format!("{}: {l}", path.display())),
        );
    }
    ensure!(hits.is_empty(), hits.join("\n"));
    Ok("no `panicked` in system.jsonl or the session's or simulator's console output".into())
}

/// `(shape verdict, unhandled-error verdict, counts by level)`.
pub(crate) fn log_checks(log: &Path) -> (Result<String>, Result<String>, String) {
    let text = match read_text(log) {
        Ok(text) => text,
        Err(e) => {
            let why = format!("{e:#}");
            return (Err(anyhow!(why.clone())), Err(anyhow!(why)), "-".into());
        }
    };
    let mut bad_shape = Vec::new();
    let mut unhandled = Vec::new();
    let mut alerts = 0usize;
    let mut levels: BTreeMap<String, usize> = BTreeMap::new();
    let mut lines = 0usize;
    for (index, line) in text.lines().enumerate() {
        lines += 1;
        let value: Value = match serde_json::from_str(line) {
            Ok(value) => value,
            Err(e) => {
                bad_shape.push(format!("line {}: not JSON ({e})", index + 1));
                continue;
            }
        };
        let missing: Vec<&str> = REQUIRED_LOG_FIELDS
            .iter()
            .copied()
            .filter(|f| value.get(f).and_then(Value::as_str).is_none())
            .collect();
        if !missing.is_empty() {
            bad_shape.push(format!("line {}: lacks {missing:?}: {line}", index + 1));
        }
        let level = value.get("level").and_then(Value::as_str).unwrap_or("?");
        *levels.entry(level.to_owned()).or_default() += 1;
        if level == "ERROR" {
            if value.get("alert") == Some(&Value::Bool(true)) {
                alerts += 1;
            } else {
                unhandled.push(format!("line {}: {line}", index + 1));
            }
        }
    }
    let shape = if lines == 0 {
        Err(anyhow!("the log is empty"))
    } else {
        verdict(
            bad_shape.is_empty(),
            if bad_shape.is_empty() {
                format!("{lines} lines, all JSON with {REQUIRED_LOG_FIELDS:?}")
            } else {
                format!(
                    "{} bad of {lines}: {}",
                    bad_shape.len(),
                    first_three(&bad_shape)
                )
            },
        )
    };
    let handled = verdict(
        unhandled.is_empty(),
        if unhandled.is_empty() {
            format!("0 unhandled; {alerts} documented alert(s)")
        } else {
            format!(
                "{} ERROR line(s) without alert=true: {}",
                unhandled.len(),
                first_three(&unhandled)
            )
        },
    );
    (shape, handled, key_counts(&levels))
}

/// The first three items, joined for a one-line detail.
fn first_three(items: &[String]) -> String {
    items
        .iter()
        .take(3)
        .cloned()
        .collect::<Vec<_>>()
        .join(" / ")
}

/// `key=count, ...` of a tally.
fn key_counts<K: std::fmt::Display, V: std::fmt::Display>(counts: &BTreeMap<K, V>) -> String {
    counts
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A simulator candle: its record time, open time and whether a gap fault skipped it.
struct PushedCandle {
    t: i64,
    open: i64,
    kind: &'static str,
}

/// The candle lines of the simulator's record, and the record time of the last frame sent.
///
/// Only frame lines set that end: the simulator runs in its own process and is stopped after
/// the session exited, so its market goes on completing candles that nobody was connected to
/// receive; the last frame it sent is the last moment a session was being served.
fn pushed_candles(record: &Path) -> Result<(Vec<PushedCandle>, i64)> {
    let text = read_text(record)?;
    let mut pushed = Vec::new();
    let mut last_t = i64::MIN;
    for line in text.lines() {
        // Only candle lines matter here; frame lines are the bulk of the file.
        let kind = if line.contains("\"kind\":\"candle_completed\"") {
            "completed"
        } else if line.contains("\"kind\":\"candle_skipped\"") {
            "skipped"
        } else {
            if line.contains("\"kind\":\"frame\"")
                && let Some(t) = leading_t(line)
            {
                last_t = last_t.max(t);
            }
            continue;
        };
        let candle: RecordLine =
            serde_json::from_str(line).with_context(|| format!("record candle line: {line}"))?;
        let open = candle
            .open_time
            .with_context(|| format!("record candle line lacks open_time: {line}"))?;
        pushed.push(PushedCandle {
            t: candle.t,
            open,
            kind,
        });
    }
    Ok((pushed, last_t))
}

/// Every `candle_completed` and `candle_skipped` open time of the record must be a line of
/// the run's `decisions.jsonl` (closed live, confirmed over REST, or backfilled).
fn candles_accounted(
    record: &Path,
    run_dir: &Path,
    speed: f64,
    log: &Path,
) -> (Result<String>, Vec<(String, String)>) {
    let mut facts = Vec::new();
    let result = candles_accounted_into(record, run_dir, speed, log, &mut facts);
    (result, facts)
}

fn candles_accounted_into(
    record: &Path,
    run_dir: &Path,
    speed: f64,
    log: &Path,
    facts: &mut Vec<(String, String)>,
) -> Result<String> {
    let (pushed, last_t) = pushed_candles(record)?;
    let decisions: Vec<DecisionLine> = read_json_lines(&run_dir.join("decisions.jsonl"))?;
    let decided: BTreeSet<i64> = decisions.iter().filter_map(|d| d.open_time).collect();
    let mut provenance: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &decisions {
        *provenance
            .entry(d.provenance.as_deref().unwrap_or("?"))
            .or_default() += 1;
    }
    // Candles that arrived after a later one was decided (a backfill behind the live
    // stream): recorded, never traded on.
    let late = decisions
        .iter()
        .filter(|d| d.outcome_is("out_of_order"))
        .count();
    #[allow(clippy::cast_possible_truncation)]
    let tail_ms = (TAIL_WALL_S * speed * 1000.0) as i64;
    let cutoff = last_t.saturating_sub(tail_ms);
    let judged: Vec<&PushedCandle> = pushed.iter().filter(|c| c.t <= cutoff).collect();
    let missing: Vec<&PushedCandle> = judged
        .iter()
        .copied()
        .filter(|c| !decided.contains(&c.open))
        .collect();
    let skipped = pushed.iter().filter(|c| c.kind == "skipped").count();
    facts.push((
        "simulator candles".into(),
        format!(
            "{} completed, {skipped} skipped by gap faults; {} judged, {} exempt (completed in the last {TAIL_WALL_S} s before the last frame sent, or after it)",
            pushed.len() - skipped,
            judged.len(),
            pushed.len() - judged.len()
        ),
    ));
    facts.push(("decisions by provenance".into(), key_counts(&provenance)));
    facts.push((
        "late candles (recorded as out_of_order, not traded on)".into(),
        late.to_string(),
    ));
    ensure!(
        !judged.is_empty(),
        "the simulator recorded no completed candle"
    );
    if missing.is_empty() {
        return Ok(format!(
            "{} of {} simulator candles found in decisions.jsonl ({skipped} gap candles)",
            judged.len(),
            judged.len()
        ));
    }
    let opens: Vec<i64> = missing.iter().map(|c| c.open).collect();
    let named: Vec<String> = missing
        .iter()
        .take(10)
        .map(|c| format!("{} ({})", c.open, c.kind))
        .collect();
    bail!(
        "{} of {} simulator candles missing from decisions.jsonl: {}{}",
        missing.len(),
        judged.len(),
        named.join(", "),
        backfill_diagnosis(&opens, log)
    )
}

/// For a failed candle check: how many of the missing open times fall inside a REST
/// backfill the feed logged (`backfill starting`, `from`..`to`) — candles the feed fetched
/// but that never reached `decisions.jsonl`.
fn backfill_diagnosis(missing: &[i64], log: &Path) -> String {
    let Ok(text) = fs::read_to_string(log) else {
        return String::new();
    };
    let ranges: Vec<(i64, i64)> = text
        .lines()
        .filter(|l| l.contains("\"backfill starting\""))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| Some((v.get("from")?.as_i64()?, v.get("to")?.as_i64()?)))
        .collect();
    let fetched = missing
        .iter()
        .filter(|open| ranges.iter().any(|(from, to)| (*from..*to).contains(*open)))
        .count();
    format!(
        " — {fetched} of the {} missing lie inside a logged REST backfill range ({} backfills logged): fetched by the feed but never decided",
        missing.len(),
        ranges.len()
    )
}

/// The fault lines of the simulator's record.
fn fired_faults(record: &Path) -> Result<Vec<RecordLine>> {
    read_text(record)?
        .lines()
        .filter(|l| l.contains("\"kind\":\"fault\""))
        .map(|line| {
            serde_json::from_str(line).with_context(|| format!("record fault line: {line}"))
        })
        .collect()
}

/// Each fired `bad-value`/`garbage` fault (and `duplicate`, `reorder`) must show up in the
/// summary's `rejected_frames` under its label, at least once per firing.
fn rejections_counted(record: &Path, summary: Option<&Summary>) -> Result<String> {
    let summary = summary.context("no summary.json")?;
    let mut wanted: BTreeMap<&str, u64> = BTreeMap::new();
    let kinds = expected_rejections();
    for fault in fired_faults(record)? {
        let spec = fault.fault.as_deref().unwrap_or("");
        let label = match fault.scenario() {
            Some("duplicate") => Some("duplicates_dropped"),
            Some("reorder") => Some("out_of_order_dropped"),
            _ => kinds.iter().find(|(k, _)| *k == spec).and_then(|(_, l)| *l),
        };
        if let Some(label) = label {
            *wanted.entry(label).or_default() += 1;
        }
    }
    let short: Vec<String> = wanted
        .iter()
        .filter(|(label, n)| summary.rejected(label) < **n)
        .map(|(label, n)| {
            format!(
                "{label}: {} counted < {n} injected",
                summary.rejected(label)
            )
        })
        .collect();
    ensure!(short.is_empty(), short.join("; "));
    Ok(format!(
        "{} labels: {}",
        wanted.len(),
        wanted
            .iter()
            .map(|(l, n)| format!("{l} {}>={n}", summary.rejected(l)))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The `t` of a record line (`{"t":123,...`), without parsing the whole frame.
fn leading_t(line: &str) -> Option<i64> {
    let rest = line.strip_prefix("{\"t\":")?;
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '-'))?;
    rest[..end].parse().ok()
}

fn faults_fired(record: &Path) -> Result<String> {
    let faults = fired_faults(record)?;
    let fired: BTreeSet<&str> = faults.iter().filter_map(RecordLine::scenario).collect();
    let missing: Vec<&str> = covered_scenarios()
        .into_iter()
        .filter(|name| !fired.contains(*name))
        .collect();
    ensure!(
        missing.is_empty(),
        "{} faults fired; never fired: {missing:?}",
        faults.len()
    );
    Ok(format!(
        "{} faults, {} distinct scenarios",
        faults.len(),
        fired.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_pass_only_as_documented_alerts() {
        let dir = std::env::temp_dir().join(format!("xtask-log-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("system.jsonl");
        let ok =
            r#"{"timestamp":"t","level":"INFO","target":"x","message":"m","symbol":"BTCUSDT"}"#;
        let alert = r#"{"timestamp":"t","level":"ERROR","target":"x","message":"ALERT","symbol":"BTCUSDT","alert":true}"#;
        fs::write(&log, format!("{ok}\n{alert}\n")).unwrap();
        let (shape, handled, levels) = log_checks(&log);
        assert!(shape.is_ok(), "{shape:?}");
        assert!(handled.is_ok(), "{handled:?}");
        assert_eq!(levels, "ERROR=1, INFO=1");
        let unhandled = alert.replace(",\"alert\":true", "");
        fs::write(
            &log,
            format!("{ok}\n{unhandled}\n{{\"level\":\"INFO\"}}\nnot json\n"),
        )
        .unwrap();
        let (shape, handled, _) = log_checks(&log);
        assert!(shape.unwrap_err().to_string().starts_with("2 bad of 4"));
        assert!(
            handled
                .unwrap_err()
                .to_string()
                .starts_with("1 ERROR line(s)")
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A directory `xtask-<name>-<pid>` holding `record.jsonl` and `decisions.jsonl`.
    fn candle_fixture(name: &str, record: &str, decisions: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("record.jsonl"), record).unwrap();
        fs::write(dir.join("decisions.jsonl"), decisions).unwrap();
        dir
    }

    #[test]
    fn a_candle_missing_from_the_decisions_is_named() {
        let dir = candle_fixture(
            "candles",
            concat!(
                "{\"t\":60000,\"kind\":\"candle_completed\",\"open_time\":0}\n",
                "{\"t\":120000,\"kind\":\"candle_skipped\",\"open_time\":60000}\n",
                "{\"t\":180000,\"kind\":\"candle_completed\",\"open_time\":120000}\n",
                "{\"t\":900000,\"kind\":\"frame\",\"conn\":1,\"ch\":\"ticker\",\"frame\":\"{}\"}\n",
            ),
            "{\"open_time\":0,\"provenance\":\"live\"}\n{\"open_time\":60000,\"provenance\":\"backfilled\"}\n",
        );
        let record = dir.join("record.jsonl");
        let (verdict, facts) = candles_accounted(&record, &dir, 1.0, &dir.join("none.jsonl"));
        assert_eq!(
            verdict.unwrap_err().to_string(),
            "1 of 3 simulator candles missing from decisions.jsonl: 120000 (completed)"
        );
        assert!(facts.iter().any(|(_, v)| v.contains("backfilled=1")));
        // At 200× the last 5 wall seconds are 1000 virtual seconds: every candle is exempt.
        let (verdict, _) = candles_accounted(&record, &dir, 200.0, &dir.join("none.jsonl"));
        assert!(verdict.is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn candles_completed_after_the_last_frame_sent_are_not_judged() {
        // The session left after the frame at 900 s; the simulator, stopped later, completed
        // two more candles that nobody received.
        let dir = candle_fixture(
            "after",
            concat!(
                "{\"t\":60000,\"kind\":\"candle_completed\",\"open_time\":0}\n",
                "{\"t\":900000,\"kind\":\"frame\",\"conn\":1,\"ch\":\"ticker\",\"frame\":\"{}\"}\n",
                "{\"t\":960000,\"kind\":\"candle_completed\",\"open_time\":900000}\n",
                "{\"t\":1020000,\"kind\":\"fault\",\"fault\":\"drop-tcp\"}\n",
                "{\"t\":1080000,\"kind\":\"candle_completed\",\"open_time\":1020000}\n",
            ),
            "{\"open_time\":0,\"provenance\":\"live\"}\n",
        );
        let record = dir.join("record.jsonl");
        let (verdict, facts) = candles_accounted(&record, &dir, 1.0, &dir.join("none.jsonl"));
        assert_eq!(
            verdict.unwrap(),
            "1 of 1 simulator candles found in decisions.jsonl (0 gap candles)"
        );
        assert!(facts.iter().any(|(_, v)| v.contains("1 judged, 2 exempt")));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_leading_timestamp_is_read_without_parsing() {
        assert_eq!(
            leading_t("{\"t\":1704067200000,\"kind\":\"frame\"}"),
            Some(1_704_067_200_000)
        );
        assert_eq!(leading_t("{\"kind\":\"frame\"}"), None);
    }
}
