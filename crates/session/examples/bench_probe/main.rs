//! Process-level benchmark probes for `cargo xtask bench` (BENCHMARKS.md), measurements a
//! criterion bench cannot make because they need sockets, a simulator or a child process:
//!
//! - `decode-cpu` (P1) and `backtest-cpu` (P3): throughput per core in on-CPU time of the
//!   measuring thread, which a busy shared machine distorts far less than wall time (see
//!   `cpu.rs`).
//! - `loopback` (P2 over real sockets): the simulator, a timestamping TCP relay, the real
//!   `BitunixFeed` and the live session's engine and recording path in one process; each
//!   sample is a ticker frame crossing an open position's stop, timed from the instant the
//!   relay hands the frame to the client's socket to the exit event (decided) and to the exit
//!   recorded as the live loop records it: state saved write-ahead, then journaled (fsyncs).
//!   See `loopback.rs` for exactly what is covered. With `--http loopback --sse-clients N`,
//!   the session's HTTP surface runs beside it with N dashboard event streams open.
//! - `first-subscribe` (P5): spawns `laptop-agents run --source bitunix` against an
//!   in-process simulator and times process start → the simulator receiving the subscribe.
//! - `footprint` (P4): a live session as a child process against an in-process simulator,
//!   at real or accelerated push rate; peak RSS (`VmHWM`) and CPU seconds (utime + stime)
//!   read from `/proc/<pid>` while it runs; with the HTTP surface off, on, or on with
//!   dashboard event streams open.
//!
//! Every result is one line `probe/<name> key=value ...` on stdout, which `cargo xtask bench`
//! parses; progress goes to stderr.
//! Run: `cargo run --release -p la-session --example bench_probe -- <probe> [options]`.

mod cpu;
mod loopback;
mod process;
#[path = "../../benches/support/stop_probe.rs"]
mod stop_probe;
mod surface;

use std::{path::PathBuf, process::ExitCode};

const USAGE: &str = "usage: bench_probe <probe> [options]

probes:
  decode-cpu       [--rounds N] [--only kline_simd_json|...]
  backtest-cpu     [--rounds N] [--data FILE] [--only setups_waypoints|...]
  loopback         [--samples N] [--speed X] [--http off|loopback] [--sse-clients N]
                   [--dir DIR]   (--http: off by default)
  first-subscribe  --bin PATH [--runs N] [--dir DIR]
  footprint        --bin PATH [--speed X] [--virtual-minutes M] [--mode external|in-process]
                   [--http off|loopback] [--sse-clients N] [--dir DIR]
";

/// `--name value` from the arguments, parsed.
fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a valid value")),
    }
}

fn required_path(args: &[String], name: &str) -> Result<PathBuf, String> {
    let path: PathBuf = flag(args, name, PathBuf::new())?;
    if path.as_os_str().is_empty() {
        return Err(format!("{name} is required\n\n{USAGE}"));
    }
    Ok(path)
}

/// Where scratch files go: `--dir`, else a fresh directory under the system temp dir.
fn scratch_dir(args: &[String], probe: &str) -> Result<PathBuf, String> {
    let base: PathBuf = flag(args, "--dir", std::env::temp_dir())?;
    let dir = base.join(format!("bench-probe-{probe}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// `--http off|loopback` (else `default`) and `--sse-clients N` (default 0).
fn http_surface(args: &[String], default: &str) -> Result<process::HttpSurface, String> {
    process::HttpSurface::parse(
        &flag(args, "--http", default.to_owned())?,
        flag(args, "--sse-clients", 0)?,
    )
}

/// The 1-minute load average, reported next to every figure (the machine is shared).
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("decode-cpu") => flag(&args, "--rounds", 5)
            .and_then(|rounds| cpu::decode(rounds, &flag(&args, "--only", String::new())?)),
        Some("backtest-cpu") => flag(&args, "--rounds", 5).and_then(|rounds| {
            let data: PathBuf = flag(&args, "--data", PathBuf::new())?;
            let only: String = flag(&args, "--only", String::new())?;
            cpu::backtest(
                rounds,
                (!data.as_os_str().is_empty()).then_some(data),
                &only,
            )
        }),
        Some("loopback") => scratch_dir(&args, "loopback").and_then(|dir| {
            let outcome = loopback::run(
                flag(&args, "--samples", 2_000)?,
                flag(&args, "--speed", 1_000.0)?,
                http_surface(&args, "off")?,
                &dir,
            );
            let _ = std::fs::remove_dir_all(&dir);
            outcome
        }),
        Some("first-subscribe") => required_path(&args, "--bin").and_then(|bin| {
            let dir = scratch_dir(&args, "subscribe")?;
            let outcome = process::first_subscribe(&bin, flag(&args, "--runs", 20)?, &dir);
            let _ = std::fs::remove_dir_all(&dir);
            outcome
        }),
        Some("footprint") => required_path(&args, "--bin").and_then(|bin| {
            let dir = scratch_dir(&args, "footprint")?;
            let options = process::FootprintOptions {
                speed: flag(&args, "--speed", 10.0)?,
                virtual_minutes: flag(&args, "--virtual-minutes", 10)?,
                in_process_sim: flag(&args, "--mode", "external".to_owned())? == "in-process",
                http: http_surface(&args, "loopback")?,
            };
            let outcome = process::footprint(&bin, &options, &dir);
            let _ = std::fs::remove_dir_all(&dir);
            outcome
        }),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench_probe: {message}");
            ExitCode::FAILURE
        }
    }
}
