//! Project automation, in Rust instead of shell scripts (the rust-analyzer `xtask` pattern).
//!
//! `cargo xtask ci` is the one command CI runs: formatting, clippy with warnings denied, the
//! test suite (cargo-nextest when installed, else `cargo test`; it includes backtest ↔ live
//! parity), a smoke session of the built binary against the simulator, the report check, and
//! the short soak, crash and disk-fault runs. Every command is echoed before it runs.
//! Dependencies: std only.

mod bench;
mod crash;
mod crash_checks;
mod crash_journal;
mod diskfault;
mod json;
mod market_csv;
mod procfs;
mod reliability;
mod report_check;
mod smoke;
mod soak;
mod soak_checks;
mod soak_plan;
#[cfg(test)]
mod tidy;

use std::{
    env,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci       fmt --check, clippy, tests, smoke, report-check, soak 2m, crash 10, diskfault
  fmt      cargo fmt --all --check
  clippy   cargo clippy --workspace --all-targets -- -D warnings
  test     the test suite (cargo-nextest if installed, else cargo test)
  smoke    runs the built binary: --version, --help, subcommand help
  bench    [--quick] [--p4-real-rate] [--no-write]: benchmarks, regenerates BENCHMARKS.md
  soak     --minutes N [--speed X]: chaos soak of the release binary (RELIABILITY.md)
  crash    --rounds N [--seed S] [--faults]: SIGKILL/restart rounds (RELIABILITY.md)
  diskfault  full disk (tmpfs) and read-only state dir during a live session (root)
  report-check  renders a run report; checks its HTML, and in headless Chromium if installed
  parity   the same real candles through `backtest` and a live session on the simulator
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("fmt") => fmt(),
        Some("clippy") => clippy(),
        Some("test") => test(),
        Some("smoke") => smoke::run(&project_root()),
        Some("bench") => bench::run(&args[1..]),
        Some("soak") => soak::run(&project_root(), &args[1..]),
        Some("crash") => crash::run(&project_root(), &args[1..]),
        Some("diskfault") => diskfault::run(&project_root()),
        Some("report-check") => report_check::run(&project_root()),
        Some("parity") => parity(),
        Some("-h" | "--help" | "help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown xtask command {other:?}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn ci() -> Result<(), String> {
    fmt()?;
    clippy()?;
    test()?;
    smoke::run(&project_root())?;
    report_check::run(&project_root())?;
    // The short reliability runs (RELIABILITY.md §6): the release binary under every
    // simulator fault for two accelerated minutes, ten SIGKILL/restart rounds, and real
    // disk faults (skipped, with a message, where tmpfs cannot be mounted).
    soak::run(
        &project_root(),
        &strings(&["--minutes", "2", "--speed", "60"]),
    )?;
    crash::run(&project_root(), &strings(&["--rounds", "10"]))?;
    diskfault::run(&project_root())?;
    println!("xtask ci: all steps passed");
    Ok(())
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// Backtest ↔ live parity on real data (also part of the test suite).
fn parity() -> Result<(), String> {
    cargo(&[
        "test",
        "-p",
        "la-tests",
        "--test",
        "e2e",
        "--",
        "--exact",
        "backtest::backtest_and_live_session_on_the_simulator_produce_identical_trades",
    ])
}

fn fmt() -> Result<(), String> {
    cargo(&["fmt", "--all", "--check"])
}

fn clippy() -> Result<(), String> {
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])
}

fn test() -> Result<(), String> {
    if has_nextest() {
        cargo(&["nextest", "run", "--workspace", "--no-fail-fast"])?;
        // nextest does not run doctests.
        cargo(&["test", "--workspace", "--doc"])
    } else {
        cargo(&["test", "--workspace", "--no-fail-fast"])
    }
}

fn has_nextest() -> bool {
    Command::new(cargo_bin())
        .args(["nextest", "--version"])
        .output()
        .map(|out| out.status.success())
        .unwrap_or(false)
}

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn project_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

pub(crate) fn cargo_bin() -> String {
    env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Runs `cargo <args>` in the project root, echoing it first.
pub(crate) fn cargo(args: &[&str]) -> Result<(), String> {
    run_echoed(
        Command::new(cargo_bin())
            .args(args)
            .current_dir(project_root()),
    )
}

/// Prints `$ program args…` and returns that text, for error messages.
pub(crate) fn echo(command: &Command) -> String {
    let shown = format!(
        "{} {}",
        command.get_program().to_string_lossy(),
        command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("$ {shown}");
    shown
}

/// Runs a command, echoing it, and turns a non-zero exit into an error.
pub(crate) fn run_echoed(command: &mut Command) -> Result<(), String> {
    let shown = echo(command);
    let status = command
        .status()
        .map_err(|err| format!("could not start `{shown}`: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed: {status}"))
    }
}
