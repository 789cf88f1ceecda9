//! `cargo xtask smoke`: runs the real, built binary the way a user would and checks what it
//! leaves behind: `--version`, `--help` of every subcommand, then a short accelerated live
//! session against the in-process simulator over loopback, whose `summary.json`, state files
//! and log lines are checked.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use crate::{cargo, reliability::target_dir};

pub(crate) fn run(root: &Path) -> Result<(), String> {
    cargo(&["build", "--package", "laptop-agents"])?;
    let binary = target_dir(root).join("debug").join("laptop-agents");
    let version = output(&binary, &["--version"])?;
    let expected = format!("laptop-agents {}", env!("CARGO_PKG_VERSION"));
    if !version.trim().starts_with(&expected) {
        return Err(format!(
            "--version printed {version:?}, expected {expected:?}"
        ));
    }
    let help = output(&binary, &["--help"])?;
    for subcommand in [
        "run", "backtest", "report", "status", "stop", "doctor", "sim",
    ] {
        if !help
            .lines()
            .any(|line| line.trim_start().starts_with(subcommand))
        {
            return Err(format!(
                "--help does not list the `{subcommand}` subcommand:\n{help}"
            ));
        }
        output(&binary, &[subcommand, "--help"])?;
    }
    println!("smoke: --version, --help and every subcommand's --help work");
    live_session(root, &binary)
}

/// A 30-second session on the simulator at 60× (one candle per second).
fn live_session(root: &Path, binary: &Path) -> Result<(), String> {
    let workspace = target_dir(root).join("smoke-workspace");
    let _ = fs::remove_dir_all(&workspace);
    let args = [
        "run",
        "--source",
        "sim",
        "--speed",
        "60",
        "--duration",
        "30s",
        "--workspace",
        workspace.to_str().ok_or("non-UTF-8 workspace path")?,
    ];
    output(binary, &args)?;
    let summary_path = workspace.join("runs").join("latest").join("summary.json");
    let summary = fs::read_to_string(&summary_path)
        .map_err(|e| format!("cannot read {}: {e}", summary_path.display()))?;
    for needle in [
        "\"stopped_reason\": \"duration_reached\"",
        "\"source\": \"sim\"",
        "\"candles_closed\"",
        "\"rejected_frames\"",
    ] {
        if !summary.contains(needle) {
            return Err(format!("summary.json lacks {needle}:\n{summary}"));
        }
    }
    let candles =
        json_number(&summary, "candles_closed").ok_or("summary.json has no candles_closed")?;
    if candles < 10 {
        return Err(format!(
            "only {candles} candles closed in a 30s session at 60x:\n{summary}"
        ));
    }
    for state in ["broker_state.json", "unified_state.json"] {
        let path: PathBuf = workspace.join("paper").join(state);
        let text = fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if !text.contains("schema_version") {
            return Err(format!("{} has no schema_version", path.display()));
        }
    }
    let log = fs::read_to_string(workspace.join("logs").join("system.jsonl"))
        .map_err(|e| format!("cannot read system.jsonl: {e}"))?;
    let mut lines = 0;
    for line in log.lines() {
        lines += 1;
        for field in [
            "\"timestamp\"",
            "\"level\"",
            "\"target\"",
            "\"message\"",
            "\"symbol\"",
        ] {
            if !line.contains(field) {
                return Err(format!("log line without {field}: {line}"));
            }
        }
        if line.contains("\"level\":\"ERROR\"") && !line.contains("\"error_chain\"") {
            return Err(format!("error log line without error_chain: {line}"));
        }
        if line.contains("panicked") {
            return Err(format!("panic in the log: {line}"));
        }
    }
    if workspace.join("session.lock").exists() {
        return Err("session.lock was not released".into());
    }
    println!(
        "smoke: 30s simulator session closed {candles} candles, {lines} log lines, state saved, lock released"
    );
    Ok(())
}

fn json_number(text: &str, key: &str) -> Option<u64> {
    let start = text.find(&format!("\"{key}\""))?;
    let rest = &text[start + key.len() + 2..];
    let digits: String = rest
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Runs `binary` with `args`, echoing it; its stdout, or all of its output on failure.
pub(crate) fn output(binary: &Path, args: &[&str]) -> Result<String, String> {
    println!("$ {} {}", binary.display(), args.join(" "));
    let out = Command::new(binary)
        .args(args)
        .output()
        .map_err(|err| format!("could not run {}: {err}", binary.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`{} {}` exited with {}:\n{}\n{}",
            binary.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
