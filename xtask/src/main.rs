//! Project automation, in Rust instead of shell scripts (the rust-analyzer `xtask` pattern).
//!
//! `cargo xtask ci` is the one command CI runs: formatting, clippy with warnings denied, the
//! test suite (cargo-nextest when installed, else `cargo test`; it includes backtest ↔ live
//! parity), a smoke session of the built binary against the simulator, the report check, and
//! the short soak, crash and disk-fault runs. Every command is echoed before it runs.
//! Built on well-kept libraries rather than hand-written ones: `xshell` runs the toolchain
//! commands, `serde_json` reads what a session leaves on disk, `rust_decimal` compares its
//! money exactly, `anyhow` carries the errors, `rustix` signals the processes it starts.

mod bench;
mod crash;
mod crash_checks;
mod crash_journal;
mod diskfault;
mod market_csv;
mod procfs;
mod reliability;
mod report_check;
mod run_files;
mod sim_process;
mod smoke;
mod soak;
mod soak_checks;
mod soak_plan;
mod soak_prices;
mod soak_suspend;
mod tidy;

use std::{
    env,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Result, bail};
use xshell::{Cmd, Shell, cmd};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci       fmt --check, deps, clippy, tests, smoke, report-check, soak 2m, crash 10, diskfault
  fmt      cargo fmt --all --check
  deps     unused or misplaced dependencies (cargo-shear; .ci/run installs it)
  clippy   cargo clippy --workspace --all-targets -- -D warnings
  test     the test suite (cargo-nextest if installed, else cargo test)
  smoke    runs the built binary: --version, --help, subcommand help
  bench    [--quick] [--p4-real-rate] [--no-write]: benchmarks, regenerates BENCHMARKS.md
  soak     --minutes N [--speed X]: chaos soak of the release binary (RELIABILITY.md)
  crash    --rounds N [--seed S] [--faults]: SIGKILL/restart rounds (RELIABILITY.md)
  diskfault  full disk (tmpfs) and read-only state dir during a live session (root)
  tidy     fails on comments citing absent documents; warns on files over 600 lines
  report-check  renders run reports and a comparison; checks their HTML and charts, and in headless Chromium if installed
  parity   the same real candles through `backtest` and a live session on the simulator
";

fn main() -> ExitCode {
    match run_command(&env::args().skip(1).collect::<Vec<_>>()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_command(args: &[String]) -> Result<()> {
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("ci") => ci(&sh),
        Some("fmt") => fmt(&sh),
        Some("deps") => unused_dependencies(&sh),
        Some("clippy") => clippy(&sh),
        Some("test") => test(&sh),
        Some("smoke") => smoke::run(&sh),
        Some("bench") => bench::run(&sh, rest),
        Some("soak") => soak::run(&sh, rest),
        Some("crash") => crash::run(&sh, rest),
        Some("diskfault") => diskfault::run(&sh),
        Some("report-check") => report_check::run(&sh),
        Some("parity") => parity(&sh),
        Some("tidy") => tidy::check(),
        Some("-h" | "--help" | "help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown xtask command {other:?}\n\n{USAGE}"),
    }
}

fn ci(sh: &Shell) -> Result<()> {
    fmt(sh)?;
    tidy::check()?;
    unused_dependencies(sh)?;
    clippy(sh)?;
    test(sh)?;
    smoke::run(sh)?;
    adversarial_on_release(sh)?;
    report_check::run(sh)?;
    // The short reliability runs (RELIABILITY.md, "Short versions for CI"): the release
    // binary under every simulator fault for two accelerated minutes, ten SIGKILL/restart
    // rounds, and real disk faults (skipped, with a message, where tmpfs cannot be mounted).
    soak::run(sh, &strings(&["--minutes", "2", "--speed", "60"]))?;
    crash::run(sh, &strings(&["--rounds", "10"]))?;
    diskfault::run(sh)?;
    println!("xtask ci: all steps passed");
    Ok(())
}

/// The hostile-condition tests of the binary (`crates/cli/tests/adversarial`) once more,
/// against the release build a user runs (the test suite ran them on the debug build).
fn adversarial_on_release(sh: &Shell) -> Result<()> {
    let binary = reliability::build_binary(sh, "release")?;
    let cargo = cargo_bin();
    cmd!(sh, "{cargo} test -p laptop-agents --test adversarial")
        .env("LA_TEST_BINARY", binary)
        .run()?;
    Ok(())
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// Backtest ↔ live parity on real data (also part of the test suite).
fn parity(sh: &Shell) -> Result<()> {
    let cargo = cargo_bin();
    let test = "backtest::backtest_and_live_session_on_the_simulator_produce_identical_trades";
    cmd!(sh, "{cargo} test -p la-tests --test e2e -- --exact {test}").run()?;
    Ok(())
}

fn fmt(sh: &Shell) -> Result<()> {
    let cargo = cargo_bin();
    cmd!(sh, "{cargo} fmt --all --check").run()?;
    Ok(())
}

/// The cargo-shear release `.ci/run` installs: the newest that builds with the project's
/// toolchain (1.14 needs rustc 1.98).
const CARGO_SHEAR_VERSION: &str = "1.13.0";

/// Fails on a dependency no target of its crate uses, on one only tests use that is not a
/// dev-dependency, and on a workspace dependency no member uses (cargo-shear: it reads the
/// sources with rust-analyzer's parser; chosen over cargo-machete, which found 7 of the 15
/// it found here and none of the misplaced or unused dev-dependencies).
fn unused_dependencies(sh: &Shell) -> Result<()> {
    let cargo = cargo_bin();
    let installed = cmd!(sh, "{cargo} shear --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok();
    if !installed {
        // So that `cargo xtask ci` alone passes on a fresh machine (README's set-up).
        println!("deps: cargo-shear is not installed; installing it");
        cmd!(
            sh,
            "{cargo} install --locked cargo-shear --version {CARGO_SHEAR_VERSION}"
        )
        .run()?;
    }
    cmd!(sh, "{cargo} shear").run()?;
    Ok(())
}

fn clippy(sh: &Shell) -> Result<()> {
    let cargo = cargo_bin();
    cmd!(
        sh,
        "{cargo} clippy --workspace --all-targets -- -D warnings"
    )
    .run()?;
    Ok(())
}

fn test(sh: &Shell) -> Result<()> {
    let cargo = cargo_bin();
    let has_nextest = cmd!(sh, "{cargo} nextest --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok();
    if has_nextest {
        cmd!(sh, "{cargo} nextest run --workspace --no-fail-fast").run()?;
        // nextest does not run doctests.
        cmd!(sh, "{cargo} test --workspace --doc").run()?;
    } else {
        cmd!(sh, "{cargo} test --workspace --no-fail-fast").run()?;
    }
    Ok(())
}

/// Runs `cmd` and returns its standard output, echoing the command first as xshell's
/// `run` does (its `read` runs silently).
pub(crate) fn read_echoed(cmd: Cmd<'_>) -> Result<String> {
    eprintln!("$ {cmd}");
    Ok(cmd.read()?)
}

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn project_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// The cargo that runs this xtask (`$CARGO`), so every step uses the same toolchain.
pub(crate) fn cargo_bin() -> String {
    env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}
