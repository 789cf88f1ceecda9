//! The soak's verdicts, read from what the session and the simulator left on disk.
//!
//! What counts as an *unhandled* error: a `system.jsonl` line at level `ERROR` that is not a
//! documented alert. The only documented alerts are the lines carrying `"alert": true`
//! (a failed state save: the session goes on, the last good file is intact). A simulator
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

use crate::{
    json::Json,
    reliability::{Checks, StateCopy, load_state, read_json, read_json_lines},
    soak_plan::{covered_scenarios, expected_rejections},
};

/// Fields every `system.jsonl` line must carry (as strings).
const REQUIRED_LOG_FIELDS: [&str; 5] = ["timestamp", "level", "target", "message", "symbol"];

/// Candles completed in the last this-many wall seconds of the recording may still have been
/// in flight when the session stopped (their close needs the next bucket's first push).
const TAIL_WALL_S: f64 = 5.0;

pub(crate) struct Inputs<'a> {
    pub(crate) status: ExitStatus,
    pub(crate) workspace: &'a Path,
    pub(crate) record: &'a Path,
    pub(crate) console: &'a Path,
    pub(crate) speed: f64,
}

/// Runs every file-based check; returns facts for the report.
pub(crate) fn check_all(checks: &mut Checks, inputs: &Inputs<'_>) -> Vec<(String, String)> {
    let mut facts = Vec::new();
    checks.record(
        "exit status 0",
        if inputs.status.success() {
            Ok(inputs.status.to_string())
        } else {
            Err(inputs.status.to_string())
        },
    );
    let summary_path = inputs
        .workspace
        .join("runs")
        .join("latest")
        .join("summary.json");
    let summary = read_json(&summary_path);
    checks.record(
        "stopped_reason = duration_reached",
        stopped_reason(&summary),
    );
    if let Ok(summary) = &summary {
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
            facts.push((format!("summary.{key}"), scalar_text(summary.get(key))));
        }
        if let Some(Json::Object(reasons)) = summary.get("rejected_frames") {
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
        .and_then(|s| s.get("run_dir"))
        .and_then(Json::as_str)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| inputs.workspace.join("runs").join("latest"));
    let (candles, candle_facts) = candles_accounted(inputs.record, &run_dir, inputs.speed, &log);
    checks.record("every simulator candle closed live or backfilled", candles);
    facts.extend(candle_facts);
    checks.record("every fault scenario fired", faults_fired(inputs.record));
    checks.record(
        "every injected bad frame counted under its reason",
        rejections_counted(inputs.record, summary.as_ref().ok()),
    );
    let paper = inputs.workspace.join("paper");
    for name in ["broker_state.json", "unified_state.json"] {
        let result = match load_state(&paper, name) {
            Ok((_, StateCopy::Main)) => Ok("main file loads, schema_version 1".to_owned()),
            Ok((_, StateCopy::Backup)) => Err("only the .bak copy loads".to_owned()),
            Err(e) => Err(e),
        };
        checks.record(&format!("{name} loads"), result);
    }
    facts
}

fn scalar_text(value: Option<&Json>) -> String {
    match value {
        Some(Json::String(s) | Json::Number(s)) => s.clone(),
        Some(Json::Bool(b)) => b.to_string(),
        Some(Json::Null) | None => "-".into(),
        Some(other) => format!("{other:?}"),
    }
}

fn stopped_reason(summary: &Result<Json, String>) -> Result<String, String> {
    let summary = summary.as_ref().map_err(Clone::clone)?;
    match summary.get("stopped_reason").and_then(Json::as_str) {
        Some("duration_reached") => Ok("duration_reached".into()),
        other => Err(format!("stopped_reason is {other:?}")),
    }
}

fn no_panic(inputs: &Inputs<'_>) -> Result<String, String> {
    let mut hits = Vec::new();
    for path in [
        inputs.console.to_path_buf(),
        inputs.workspace.join("logs").join("system.jsonl"),
    ] {
        let text = fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        hits.extend(
            text.lines()
                .filter(|l| l.contains("panicked"))
                .take(3)
                .map(|l| format!("{}: {l}", path.display())),
        );
    }
    if hits.is_empty() {
        Ok("no `panicked` in system.jsonl or the console output".into())
    } else {
        Err(hits.join("\n"))
    }
}

/// `(shape verdict, unhandled-error verdict, counts by level)`.
pub(crate) fn log_checks(log: &Path) -> (Result<String, String>, Result<String, String>, String) {
    let text = match fs::read_to_string(log) {
        Ok(text) => text,
        Err(e) => {
            let why = format!("cannot read {}: {e}", log.display());
            return (Err(why.clone()), Err(why), "-".into());
        }
    };
    let mut bad_shape = Vec::new();
    let mut unhandled = Vec::new();
    let mut alerts = 0usize;
    let mut levels: BTreeMap<String, usize> = BTreeMap::new();
    let mut lines = 0usize;
    for (index, line) in text.lines().enumerate() {
        lines += 1;
        let value = match Json::parse(line) {
            Ok(value) => value,
            Err(e) => {
                bad_shape.push(format!("line {}: not JSON ({e})", index + 1));
                continue;
            }
        };
        let missing: Vec<&str> = REQUIRED_LOG_FIELDS
            .iter()
            .copied()
            .filter(|f| value.get(f).and_then(Json::as_str).is_none())
            .collect();
        if !missing.is_empty() {
            bad_shape.push(format!("line {}: lacks {missing:?}: {line}", index + 1));
        }
        let level = value.get("level").and_then(Json::as_str).unwrap_or("?");
        *levels.entry(level.to_owned()).or_default() += 1;
        if level == "ERROR" {
            if value.get("alert") == Some(&Json::Bool(true)) {
                alerts += 1;
            } else {
                unhandled.push(format!("line {}: {line}", index + 1));
            }
        }
    }
    let shape = if lines == 0 {
        Err("the log is empty".to_owned())
    } else if bad_shape.is_empty() {
        Ok(format!(
            "{lines} lines, all JSON with {REQUIRED_LOG_FIELDS:?}"
        ))
    } else {
        Err(format!(
            "{} bad of {lines}: {}",
            bad_shape.len(),
            bad_shape
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(" / ")
        ))
    };
    let handled = if unhandled.is_empty() {
        Ok(format!("0 unhandled; {alerts} documented alert(s)"))
    } else {
        Err(format!(
            "{} ERROR line(s) without alert=true: {}",
            unhandled.len(),
            unhandled
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(" / ")
        ))
    };
    let levels = levels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    (shape, handled, levels)
}

/// Every `candle_completed` and `candle_skipped` open time of the record must be a line of
/// the run's `decisions.jsonl` (closed live, confirmed over REST, or backfilled).
fn candles_accounted(
    record: &Path,
    run_dir: &Path,
    speed: f64,
    log: &Path,
) -> (Result<String, String>, Vec<(String, String)>) {
    let mut facts = Vec::new();
    let text = match fs::read_to_string(record) {
        Ok(text) => text,
        Err(e) => return (Err(format!("cannot read {}: {e}", record.display())), facts),
    };
    let mut pushed: Vec<(i64, i64, &'static str)> = Vec::new();
    let mut last_t = i64::MIN;
    for line in text.lines() {
        // Only candle lines matter here; frame lines are the bulk of the file.
        let kind = if line.contains("\"kind\":\"candle_completed\"") {
            "completed"
        } else if line.contains("\"kind\":\"candle_skipped\"") {
            "skipped"
        } else {
            if let Some(t) = leading_t(line) {
                last_t = last_t.max(t);
            }
            continue;
        };
        let Ok(value) = Json::parse(line) else {
            return (Err(format!("record line is not JSON: {line}")), facts);
        };
        let (Some(t), Some(open)) = (
            value.get("t").and_then(Json::as_i64),
            value.get("open_time").and_then(Json::as_i64),
        ) else {
            return (
                Err(format!("record candle line lacks t/open_time: {line}")),
                facts,
            );
        };
        last_t = last_t.max(t);
        pushed.push((t, open, kind));
    }
    let decisions = match read_json_lines(&run_dir.join("decisions.jsonl")) {
        Ok(lines) => lines,
        Err(e) => return (Err(e), facts),
    };
    let mut decided = BTreeSet::new();
    let mut provenance: BTreeMap<String, usize> = BTreeMap::new();
    // Candles that arrived after a later one was decided (a backfill behind the live
    // stream): recorded, never traded on.
    let mut late = 0usize;
    for d in &decisions {
        if let Some(open) = d.get("open_time").and_then(Json::as_i64) {
            decided.insert(open);
        }
        let p = d.get("provenance").and_then(Json::as_str).unwrap_or("?");
        *provenance.entry(p.to_owned()).or_default() += 1;
        if d.get("outcome").and_then(Json::as_str) == Some("out_of_order") {
            late += 1;
        }
    }
    #[allow(clippy::cast_possible_truncation)]
    let tail_ms = (TAIL_WALL_S * speed * 1000.0) as i64;
    let cutoff = last_t.saturating_sub(tail_ms);
    let judged: Vec<&(i64, i64, &str)> = pushed.iter().filter(|(t, _, _)| *t <= cutoff).collect();
    let missing: Vec<String> = judged
        .iter()
        .filter(|(_, open, _)| !decided.contains(open))
        .map(|(_, open, kind)| format!("{open} ({kind})"))
        .collect();
    let skipped = pushed.iter().filter(|p| p.2 == "skipped").count();
    facts.push((
        "simulator candles".into(),
        format!(
            "{} completed, {skipped} skipped by gap faults; {} judged, {} in the last {TAIL_WALL_S} s exempt",
            pushed.len() - skipped,
            judged.len(),
            pushed.len() - judged.len()
        ),
    ));
    facts.push((
        "decisions by provenance".into(),
        provenance
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
    ));
    facts.push((
        "late candles (recorded as out_of_order, not traded on)".into(),
        late.to_string(),
    ));
    if judged.is_empty() {
        return (
            Err("the simulator recorded no completed candle".into()),
            facts,
        );
    }
    if missing.is_empty() {
        (
            Ok(format!(
                "{} of {} simulator candles found in decisions.jsonl ({skipped} gap candles)",
                judged.len(),
                judged.len()
            )),
            facts,
        )
    } else {
        let opens: Vec<i64> = judged
            .iter()
            .filter(|(_, open, _)| !decided.contains(open))
            .map(|(_, open, _)| *open)
            .collect();
        (
            Err(format!(
                "{} of {} simulator candles missing from decisions.jsonl: {}{}",
                missing.len(),
                judged.len(),
                missing
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                backfill_diagnosis(&opens, log)
            )),
            facts,
        )
    }
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
        .filter_map(|l| Json::parse(l).ok())
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

/// Each fired `bad-value`/`garbage` fault (and `duplicate`, `reorder`) must show up in the
/// summary's `rejected_frames` under its label, at least once per firing.
fn rejections_counted(record: &Path, summary: Option<&Json>) -> Result<String, String> {
    let summary = summary.ok_or("no summary.json")?;
    let counted = |label: &str| {
        summary
            .get("rejected_frames")
            .and_then(|r| r.get(label))
            .and_then(Json::as_i64)
            .unwrap_or(0)
    };
    let text =
        fs::read_to_string(record).map_err(|e| format!("cannot read {}: {e}", record.display()))?;
    let mut wanted: BTreeMap<&str, i64> = BTreeMap::new();
    let kinds = expected_rejections();
    for line in text.lines().filter(|l| l.contains("\"kind\":\"fault\"")) {
        let value = Json::parse(line).map_err(|e| format!("record fault line: {e}"))?;
        let spec = value.get("fault").and_then(Json::as_str).unwrap_or("");
        let label = match spec.split(':').next() {
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
        .filter(|(label, n)| counted(label) < **n)
        .map(|(label, n)| format!("{label}: {} counted < {n} injected", counted(label)))
        .collect();
    if short.is_empty() {
        Ok(format!(
            "{} labels: {}",
            wanted.len(),
            wanted
                .iter()
                .map(|(l, n)| format!("{l} {}>={n}", counted(l)))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    } else {
        Err(short.join("; "))
    }
}

/// The `t` of a record line (`{"t":123,...`), without parsing the whole frame.
fn leading_t(line: &str) -> Option<i64> {
    let rest = line.strip_prefix("{\"t\":")?;
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '-'))?;
    rest[..end].parse().ok()
}

fn faults_fired(record: &Path) -> Result<String, String> {
    let text =
        fs::read_to_string(record).map_err(|e| format!("cannot read {}: {e}", record.display()))?;
    let mut fired: BTreeSet<String> = BTreeSet::new();
    let mut count = 0usize;
    for line in text.lines().filter(|l| l.contains("\"kind\":\"fault\"")) {
        let value = Json::parse(line).map_err(|e| format!("record fault line: {e}: {line}"))?;
        let spec = value.get("fault").and_then(Json::as_str).unwrap_or("");
        fired.insert(spec.split(':').next().unwrap_or(spec).to_owned());
        count += 1;
    }
    let missing: Vec<&str> = covered_scenarios()
        .into_iter()
        .filter(|name| !fired.contains(*name))
        .collect();
    if missing.is_empty() {
        Ok(format!(
            "{count} faults, {} distinct scenarios",
            fired.len()
        ))
    } else {
        Err(format!("{count} faults fired; never fired: {missing:?}"))
    }
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
        assert!(shape.unwrap_err().starts_with("2 bad of 4"));
        assert!(handled.unwrap_err().starts_with("1 ERROR line(s)"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_candle_missing_from_the_decisions_is_named() {
        let dir = std::env::temp_dir().join(format!("xtask-candles-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let record = dir.join("record.jsonl");
        fs::write(
            &record,
            concat!(
                "{\"t\":60000,\"kind\":\"candle_completed\",\"open_time\":0}\n",
                "{\"t\":120000,\"kind\":\"candle_skipped\",\"open_time\":60000}\n",
                "{\"t\":180000,\"kind\":\"candle_completed\",\"open_time\":120000}\n",
                "{\"t\":900000,\"kind\":\"frame\",\"conn\":1,\"ch\":\"ticker\",\"frame\":\"{}\"}\n",
            ),
        )
        .unwrap();
        let decisions = dir.join("decisions.jsonl");
        fs::write(
            &decisions,
            "{\"open_time\":0,\"provenance\":\"live\"}\n{\"open_time\":60000,\"provenance\":\"backfilled\"}\n",
        )
        .unwrap();
        let (verdict, facts) = candles_accounted(&record, &dir, 1.0, &dir.join("none.jsonl"));
        assert_eq!(
            verdict.unwrap_err(),
            "1 of 3 simulator candles missing from decisions.jsonl: 120000 (completed)"
        );
        assert!(facts.iter().any(|(_, v)| v.contains("backfilled=1")));
        // At 200× the last 5 wall seconds are 1000 virtual seconds: every candle is exempt.
        let (verdict, _) = candles_accounted(&record, &dir, 200.0, &dir.join("none.jsonl"));
        assert!(verdict.is_err());
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
