//! `cargo xtask smoke`: runs the real, built binary the way a user would and checks what it
//! leaves behind: `--version`, `--help` of every subcommand, then a short accelerated live
//! session against the in-process simulator over loopback, whose `summary.json`, state files
//! and log lines are checked.

use std::path::Path;

use anyhow::{Result, bail, ensure};
use serde_json::Value;
use xshell::{Shell, cmd};

use crate::{
    read_echoed,
    reliability::{build_binary, read_json, read_text, target_dir},
    run_files::Summary,
};

/// Fields every `system.jsonl` line carries.
const LOG_FIELDS: [&str; 5] = ["timestamp", "level", "target", "message", "symbol"];

pub(crate) fn run(sh: &Shell) -> Result<()> {
    let binary = build_binary(sh, "debug")?;
    let version = read_echoed(cmd!(sh, "{binary} --version"))?;
    let expected = format!("laptop-agents {}", env!("CARGO_PKG_VERSION"));
    ensure!(
        version.trim().starts_with(&expected),
        "--version printed {version:?}, expected {expected:?}"
    );
    let help = read_echoed(cmd!(sh, "{binary} --help"))?;
    for subcommand in [
        "run", "backtest", "report", "status", "stop", "doctor", "sim",
    ] {
        ensure!(
            help.lines()
                .any(|line| line.trim_start().starts_with(subcommand)),
            "--help does not list the `{subcommand}` subcommand:\n{help}"
        );
        read_echoed(cmd!(sh, "{binary} {subcommand} --help"))?;
    }
    println!("smoke: --version, --help and every subcommand's --help work");
    live_session(sh, &binary)
}

/// A 30-second session on the simulator at 60× (one candle per second).
fn live_session(sh: &Shell, binary: &Path) -> Result<()> {
    let workspace = target_dir(&sh.current_dir()).join("smoke-workspace");
    sh.remove_path(&workspace)?;
    read_echoed(cmd!(
        sh,
        "{binary} run --source sim --speed 60 --duration 30s --workspace {workspace}"
    ))?;
    let summary_path = workspace.join("runs").join("latest").join("summary.json");
    let summary: Summary = read_json(&summary_path)?;
    let candles = summary.candles_closed.unwrap_or(0);
    ensure!(
        summary.stopped_reason.as_deref() == Some("duration_reached")
            && summary.source.as_deref() == Some("sim")
            && summary.candles_closed.is_some()
            && summary.rejected_frames.is_some(),
        "summary.json lacks stopped_reason duration_reached, source sim, candles_closed or rejected_frames: {summary:?}"
    );
    ensure!(
        candles >= 10,
        "only {candles} candles closed in a 30s session at 60x: {summary:?}"
    );
    for state in ["broker_state.json", "unified_state.json"] {
        let path = workspace.join("paper").join(state);
        let state: Value = read_json(&path)?;
        ensure!(
            state.get("schema_version").is_some(),
            "{} has no schema_version",
            path.display()
        );
    }
    let log = read_text(&workspace.join("logs").join("system.jsonl"))?;
    let mut lines = 0;
    for line in log.lines() {
        lines += 1;
        check_log_line(line)?;
    }
    ensure!(
        !workspace.join("session.lock").exists(),
        "session.lock was not released"
    );
    println!(
        "smoke: 30s simulator session closed {candles} candles, {lines} log lines, state saved, lock released"
    );
    Ok(())
}

/// A log line is JSON with [`LOG_FIELDS`]; an ERROR line carries its `error_chain`; no line
/// reports a panic.
fn check_log_line(line: &str) -> Result<()> {
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(line) else {
        bail!("log line is not a JSON object: {line}");
    };
    if let Some(field) = LOG_FIELDS.iter().find(|f| !fields.contains_key(**f)) {
        bail!("log line without \"{field}\": {line}");
    }
    ensure!(
        fields.get("level").and_then(Value::as_str) != Some("ERROR")
            || fields.contains_key("error_chain"),
        "error log line without error_chain: {line}"
    );
    ensure!(!line.contains("panicked"), "panic in the log: {line}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_log_line;

    const GOOD: &str =
        r#"{"timestamp":"t","level":"INFO","target":"x","message":"m","symbol":"BTCUSDT"}"#;

    #[test]
    fn log_lines_need_their_fields_an_error_chain_on_errors_and_no_panic() {
        assert!(check_log_line(GOOD).is_ok());
        let no_symbol = GOOD.replace(r#","symbol":"BTCUSDT""#, "");
        let err = check_log_line(&no_symbol).unwrap_err().to_string();
        assert!(err.contains("without \"symbol\""), "{err}");
        let error = GOOD.replace("INFO", "ERROR");
        assert!(check_log_line(&error).is_err());
        let chained = error.replace('}', r#","error_chain":["a","b"]}"#);
        assert!(check_log_line(&chained).is_ok());
        let panicked = GOOD.replace("\"m\"", "\"thread panicked at x\"");
        assert!(check_log_line(&panicked).is_err());
        assert!(check_log_line("not json").is_err());
    }
}
