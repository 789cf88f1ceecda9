//! `cargo xtask bench`: runs every benchmark of issue 8 and regenerates the results section
//! of `BENCHMARKS.md` (between its `xtask-bench` markers).
//!
//! - P1 decode and P3 backtest: criterion benches; their medians and 95 % confidence bounds
//!   are read from criterion's `estimates.json` under the target directory.
//! - P2 tick → exit: the `tick_to_exit` bench (in process, HDR percentiles) and the
//!   `bench_probe loopback` example (real sockets).
//! - P4 footprint and P5 start-up: the `bench_probe` example driving the release
//!   `laptop-agents` binary as a child process, and a timed loop of `--version` here.
//!
//! Slow (minutes) and sensitive to machine load, so it is not part of `cargo xtask ci`; the
//! benches still compile under `cargo clippy --all-targets`. Binaries are looked up under
//! `CARGO_TARGET_DIR` when it is set. Options: `--quick` (shorter runs), `--p4-real-rate`
//! (also a 10-minute session at the real push rate), `--no-write` (print, keep the file).

mod markdown;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use crate::{cargo, cargo_bin, project_root};

pub(crate) use markdown::Report;

/// The real candle month of P3.
const CANDLES: &str = "binance_spot_btcusdt_1m_2021-04-20_2021-05-20.csv.gz";

/// What `cargo xtask bench` was asked to do.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Options {
    pub(crate) quick: bool,
    pub(crate) p4_real_rate: bool,
    pub(crate) no_write: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut options = Self::default();
        for arg in args {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--p4-real-rate" => options.p4_real_rate = true,
                "--no-write" => options.no_write = true,
                other => return Err(format!("unknown bench option {other:?}")),
            }
        }
        Ok(options)
    }

    fn measurement_time(self) -> &'static str {
        if self.quick { "2" } else { "5" }
    }
}

/// The target directory: `CARGO_TARGET_DIR` (relative to the project root) or `target/`.
pub(crate) fn target_dir() -> PathBuf {
    crate::reliability::target_dir(&project_root())
}

/// The 1-minute load average now.
pub(crate) fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// Runs a command, echoing it, and returns its standard output (also printed).
fn capture(command: &mut Command) -> Result<String, String> {
    let shown = crate::echo(command);
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    print!("{text}");
    if output.status.success() {
        Ok(text)
    } else {
        Err(format!("`{shown}` failed: {}", output.status))
    }
}

fn cargo_capture(args: &[&str]) -> Result<String, String> {
    capture(
        Command::new(cargo_bin())
            .args(args)
            .current_dir(project_root()),
    )
}

/// `key=value` fields of the first output line starting with `prefix`.
pub(crate) fn fields(output: &str, prefix: &str) -> Result<Vec<(String, String)>, String> {
    let line = output
        .lines()
        .find(|l| l.starts_with(prefix))
        .ok_or_else(|| format!("no `{prefix}` line in the output"))?;
    Ok(line
        .split_whitespace()
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

pub(crate) fn field(fields: &[(String, String)], key: &str) -> Result<f64, String> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| format!("missing numeric field {key}"))
}

/// A criterion estimate: median and its 95 % confidence bounds, in nanoseconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Estimate {
    pub(crate) median: f64,
    pub(crate) low: f64,
    pub(crate) high: f64,
}

fn number_after(text: &str, key: &str) -> Option<f64> {
    let at = text.find(key)? + key.len();
    let rest = text[at..].trim_start_matches([':', ' ']);
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Reads `criterion/<group>/<name>/new/estimates.json`.
pub(crate) fn criterion_estimate(group: &str, name: &str) -> Result<Estimate, String> {
    let path = target_dir()
        .join("criterion")
        .join(group)
        .join(name)
        .join("new")
        .join("estimates.json");
    let text =
        fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let median = &text[text
        .find("\"median\":{")
        .ok_or_else(|| format!("no median in {}", path.display()))?..];
    let get =
        |key| number_after(median, key).ok_or_else(|| format!("no {key} in {}", path.display()));
    Ok(Estimate {
        median: get("\"point_estimate\"")?,
        low: get("\"lower_bound\"")?,
        high: get("\"upper_bound\"")?,
    })
}

fn p1_decode(options: Options, report: &mut Report, probe: &Path) -> Result<(), String> {
    let load = load_average();
    cargo(&[
        "bench",
        "-p",
        "la-feed-bitunix",
        "--bench",
        "decode",
        "--",
        "--warm-up-time",
        "1",
        "--measurement-time",
        options.measurement_time(),
    ])?;
    let mut rows = Vec::new();
    for frame in ["kline", "ticker"] {
        let group = format!("decode_{frame}");
        let mut variants = Vec::new();
        for name in [
            "a_ours_simd_json",
            "b_ours_serde_json",
            "c_bare_simd_json_tape",
            "d_bare_serde_json_ignored",
        ] {
            variants.push(criterion_estimate(&group, name)?);
        }
        rows.push((frame, variants));
    }
    let rounds = if options.quick { "3" } else { "7" };
    let output = capture(Command::new(probe).args(["decode-cpu", "--rounds", rounds]))?;
    let mut cpu = Vec::new();
    for variant in [
        "kline_simd_json",
        "kline_serde_json",
        "ticker_simd_json",
        "ticker_serde_json",
    ] {
        cpu.push((
            variant,
            fields(&output, &format!("probe/decode_cpu_{variant} "))?,
        ));
    }
    report.p1(&rows, &cpu, &load, options.measurement_time());
    Ok(())
}

fn p2_tick_to_exit(options: Options, report: &mut Report, probe: &Path) -> Result<(), String> {
    let load = load_average();
    let samples = if options.quick { "100000" } else { "200000" };
    let output = cargo_capture(&[
        "bench",
        "-p",
        "la-session",
        "--bench",
        "tick_to_exit",
        "--",
        "--samples",
        samples,
    ])?;
    cargo(&[
        "bench",
        "-p",
        "la-broker-paper",
        "--bench",
        "tick_path",
        "--",
        "--warm-up-time",
        "1",
        "--measurement-time",
        options.measurement_time(),
    ])?;
    let tick_path = [
        ("quiet", criterion_estimate("tick_path", "quiet")?),
        ("new_best", criterion_estimate("tick_path", "new_best")?),
    ];
    let mut in_process = Vec::new();
    for variant in ["timer", "broker", "engine", "frame_to_exit"] {
        in_process.push((
            variant,
            fields(&output, &format!("tick_to_exit/{variant} "))?,
        ));
    }
    let loopback_samples = if options.quick { "600" } else { "2000" };
    let output = capture(
        Command::new(probe)
            .args([
                "loopback",
                "--samples",
                loopback_samples,
                "--speed",
                "1000",
                "--dir",
            ])
            .arg(target_dir()),
    )?;
    let loopback = markdown::Loopback {
        decided: fields(&output, "probe/loopback_decided ")?,
        idle: fields(&output, "probe/loopback_decided_idle ")?,
        recorded: fields(&output, "probe/loopback_recorded ")?,
    };
    report.p2(&in_process, &load, samples, &loopback, loopback_samples);
    report.tick_path(&tick_path, &load);
    Ok(())
}

fn p3_backtest(
    options: Options,
    report: &mut Report,
    probe: &Path,
    cli: &Path,
) -> Result<(), String> {
    let data = project_root().join("../shared/data/candles").join(CANDLES);
    if !data.is_file() {
        return Err(format!("P3 needs the real candle file {}", data.display()));
    }
    let load = load_average();
    let output = cargo_capture(&[
        "bench",
        "-p",
        "la-session",
        "--bench",
        "backtest",
        "--",
        "--warm-up-time",
        "1",
        "--measurement-time",
        options.measurement_time(),
    ])?;
    let candles = output
        .lines()
        .find_map(|l| l.strip_prefix("setups_waypoints: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .ok_or("the backtest bench did not print its candle count")?;
    let mut variants = Vec::new();
    for name in [
        "setups_waypoints",
        "setups_cadence_1s",
        "sma_cross_waypoints",
    ] {
        variants.push((name, criterion_estimate("backtest", name)?));
    }
    let rounds = if options.quick { "3" } else { "5" };
    let output = capture(
        Command::new(probe)
            .args(["backtest-cpu", "--rounds", rounds, "--data"])
            .arg(&data),
    )?;
    let mut cpu = Vec::new();
    for variant in ["setups_waypoints", "setups_cadence_1s"] {
        cpu.push((
            variant,
            fields(&output, &format!("probe/backtest_cpu_{variant} "))?,
        ));
    }
    // The whole command, file reading and run files included.
    let workspace = target_dir().join("bench-backtest-workspace");
    let runs = if options.quick { 3 } else { 7 };
    let mut walls = Vec::new();
    let mut summary = String::new();
    for _ in 0..runs {
        let _ = fs::remove_dir_all(&workspace);
        let start = Instant::now();
        let output = Command::new(cli)
            .args(["backtest", "--json", "--data"])
            .arg(&data)
            .arg("--workspace")
            .arg(&workspace)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", cli.display()))?;
        walls.push(start.elapsed().as_secs_f64());
        if !output.status.success() {
            return Err(format!("laptop-agents backtest failed: {}", output.status));
        }
        summary = String::from_utf8_lossy(&output.stdout).into_owned();
    }
    let _ = fs::remove_dir_all(&workspace);
    let trades = number_after(&summary, "\"trades\"").unwrap_or(f64::NAN);
    report.p3(candles, &variants, &cpu, &walls, trades, &load);
    Ok(())
}

fn p4_footprint(
    options: Options,
    report: &mut Report,
    probe: &Path,
    cli: &Path,
) -> Result<(), String> {
    let mut runs: Vec<(&str, &str, &str)> = vec![
        // (mode, speed, virtual minutes)
        ("external", if options.quick { "20" } else { "10" }, "10"),
        ("in-process", if options.quick { "20" } else { "10" }, "10"),
    ];
    if !options.quick {
        runs.push(("external", "1", "1"));
    }
    if options.p4_real_rate {
        runs.push(("external", "1", "10"));
    }
    let mut results = Vec::new();
    for (mode, speed, minutes) in runs {
        let output = capture(
            Command::new(probe)
                .args(["footprint", "--bin"])
                .arg(cli)
                .args([
                    "--mode",
                    mode,
                    "--speed",
                    speed,
                    "--virtual-minutes",
                    minutes,
                    "--dir",
                ])
                .arg(target_dir()),
        )?;
        results.push(fields(&output, "probe/footprint ")?);
    }
    report.p4(&results);
    Ok(())
}

fn p5_startup(
    options: Options,
    report: &mut Report,
    probe: &Path,
    cli: &Path,
) -> Result<(), String> {
    let load = load_average();
    let runs = if options.quick { 50 } else { 200 };
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs + 10 {
        let start = Instant::now();
        let status = Command::new(cli)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run {}: {e}", cli.display()))?;
        let elapsed = start.elapsed().as_secs_f64() * 1e3;
        if !status.success() {
            return Err(format!("--version failed: {status}"));
        }
        if i >= 10 {
            times.push(elapsed);
        }
    }
    times.sort_by(f64::total_cmp);
    let subscribe_runs = if options.quick { "10" } else { "30" };
    let output = capture(
        Command::new(probe)
            .args(["first-subscribe", "--bin"])
            .arg(cli)
            .args(["--runs", subscribe_runs, "--dir"])
            .arg(target_dir()),
    )?;
    let connect = fields(&output, "probe/startup_connect ")?;
    let subscribe = fields(&output, "probe/startup_subscribe ")?;
    report.p5(&times, &load, &connect, &subscribe);
    Ok(())
}

/// `cargo xtask bench [--quick] [--p4-real-rate] [--no-write]`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let options = Options::parse(args)?;
    let mut report = Report::new(options);
    cargo(&["build", "--release", "-p", "laptop-agents"])?;
    cargo(&[
        "build",
        "--release",
        "-p",
        "la-session",
        "--example",
        "bench_probe",
    ])?;
    let cli = target_dir().join("release").join("laptop-agents");
    let probe = target_dir()
        .join("release")
        .join("examples")
        .join("bench_probe");
    for binary in [&cli, &probe] {
        if !binary.is_file() {
            return Err(format!("{} was not built", binary.display()));
        }
    }
    p1_decode(options, &mut report, &probe)?;
    p2_tick_to_exit(options, &mut report, &probe)?;
    p3_backtest(options, &mut report, &probe, &cli)?;
    p4_footprint(options, &mut report, &probe, &cli)?;
    p5_startup(options, &mut report, &probe, &cli)?;
    let text = report.render(&git_commit(), &machine());
    println!("{text}");
    if options.no_write {
        return Ok(());
    }
    let path = project_root().join("BENCHMARKS.md");
    let current =
        fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let updated = markdown::splice(&current, &text)?;
    fs::write(&path, updated).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("bench: BENCHMARKS.md updated");
    Ok(())
}

fn git_commit() -> String {
    let read = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(project_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = read(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    let dirty =
        read(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{commit} (+ uncommitted changes)")
    } else {
        commit
    }
}

/// `nproc`, the CPU model and the date, for the results header.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cores} cores, {model}; {date}")
}
