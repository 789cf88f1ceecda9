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

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;
use xshell::{Cmd, Shell, cmd};

use crate::{
    cargo_bin, read_echoed,
    reliability::{git_commit, read_json, read_text, write_file},
};

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
    fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self::default();
        for arg in args {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--p4-real-rate" => options.p4_real_rate = true,
                "--no-write" => options.no_write = true,
                other => bail!("unknown bench option {other:?}"),
            }
        }
        Ok(options)
    }

    fn measurement_time(self) -> &'static str {
        if self.quick { "2" } else { "5" }
    }
}

/// The target directory: `CARGO_TARGET_DIR` (relative to the project root) or `target/`.
pub(crate) fn target_dir(sh: &Shell) -> PathBuf {
    crate::reliability::target_dir(&sh.current_dir())
}

/// The 1-minute load average now.
pub(crate) fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// Runs a command (echoed) and returns its standard output, also printed.
fn capture(command: Cmd<'_>) -> Result<String> {
    let text = read_echoed(command)?;
    println!("{text}");
    Ok(text)
}

/// `key=value` fields of the first output line starting with `prefix`.
pub(crate) fn fields(output: &str, prefix: &str) -> Result<Vec<(String, String)>> {
    let line = output
        .lines()
        .find(|l| l.starts_with(prefix))
        .with_context(|| format!("no `{prefix}` line in the output"))?;
    Ok(line
        .split_whitespace()
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

pub(crate) fn field(fields: &[(String, String)], key: &str) -> Result<f64> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
        .with_context(|| format!("missing numeric field {key}"))
}

/// A criterion estimate: median and its 95 % confidence bounds, in nanoseconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Estimate {
    pub(crate) median: f64,
    pub(crate) low: f64,
    pub(crate) high: f64,
}

/// criterion's `estimates.json`, as far as it is read here.
#[derive(Deserialize)]
struct Estimates {
    median: PointEstimate,
}

#[derive(Deserialize)]
struct PointEstimate {
    point_estimate: f64,
    confidence_interval: ConfidenceInterval,
}

#[derive(Deserialize)]
struct ConfidenceInterval {
    lower_bound: f64,
    upper_bound: f64,
}

/// Reads `criterion/<group>/<name>/new/estimates.json`.
pub(crate) fn criterion_estimate(sh: &Shell, group: &str, name: &str) -> Result<Estimate> {
    let path = target_dir(sh)
        .join("criterion")
        .join(group)
        .join(name)
        .join("new")
        .join("estimates.json");
    let estimates: Estimates = read_json(&path)?;
    Ok(Estimate {
        median: estimates.median.point_estimate,
        low: estimates.median.confidence_interval.lower_bound,
        high: estimates.median.confidence_interval.upper_bound,
    })
}

fn p1_decode(sh: &Shell, options: Options, report: &mut Report, probe: &Path) -> Result<()> {
    let load = load_average();
    let (cargo, secs) = (cargo_bin(), options.measurement_time());
    cmd!(
        sh,
        "{cargo} bench -p la-feed-bitunix --bench decode -- --warm-up-time 1 --measurement-time {secs}"
    )
    .run()?;
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
            variants.push(criterion_estimate(sh, &group, name)?);
        }
        rows.push((frame, variants));
    }
    let rounds = if options.quick { "3" } else { "7" };
    let output = capture(cmd!(sh, "{probe} decode-cpu --rounds {rounds}"))?;
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
    report.p1(&rows, &cpu, &load, secs);
    Ok(())
}

fn p2_tick_to_exit(sh: &Shell, options: Options, report: &mut Report, probe: &Path) -> Result<()> {
    let load = load_average();
    let (cargo, secs) = (cargo_bin(), options.measurement_time());
    let samples = if options.quick { "100000" } else { "200000" };
    let output = capture(cmd!(
        sh,
        "{cargo} bench -p la-session --bench tick_to_exit -- --samples {samples}"
    ))?;
    cmd!(
        sh,
        "{cargo} bench -p la-broker-paper --bench tick_path -- --warm-up-time 1 --measurement-time {secs}"
    )
    .run()?;
    let tick_path = [
        ("quiet", criterion_estimate(sh, "tick_path", "quiet")?),
        ("new_best", criterion_estimate(sh, "tick_path", "new_best")?),
    ];
    let mut in_process = Vec::new();
    for variant in ["timer", "broker", "engine", "frame_to_exit"] {
        in_process.push((
            variant,
            fields(&output, &format!("tick_to_exit/{variant} "))?,
        ));
    }
    let loopback_samples = if options.quick { "600" } else { "2000" };
    let dir = target_dir(sh);
    let output = capture(cmd!(
        sh,
        "{probe} loopback --samples {loopback_samples} --speed 1000 --dir {dir}"
    ))?;
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
    sh: &Shell,
    options: Options,
    report: &mut Report,
    probe: &Path,
    cli: &Path,
) -> Result<()> {
    let data = sh
        .current_dir()
        .join("../shared/data/candles")
        .join(CANDLES);
    ensure!(
        data.is_file(),
        "P3 needs the real candle file {}",
        data.display()
    );
    let load = load_average();
    let (cargo, secs) = (cargo_bin(), options.measurement_time());
    let output = capture(cmd!(
        sh,
        "{cargo} bench -p la-session --bench backtest -- --warm-up-time 1 --measurement-time {secs}"
    ))?;
    let candles = output
        .lines()
        .find_map(|l| l.strip_prefix("setups_waypoints: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .context("the backtest bench did not print its candle count")?;
    let mut variants = Vec::new();
    for name in [
        "setups_waypoints",
        "setups_cadence_1s",
        "sma_cross_waypoints",
    ] {
        variants.push((name, criterion_estimate(sh, "backtest", name)?));
    }
    let rounds = if options.quick { "3" } else { "5" };
    let output = capture(cmd!(
        sh,
        "{probe} backtest-cpu --rounds {rounds} --data {data}"
    ))?;
    let mut cpu = Vec::new();
    for variant in ["setups_waypoints", "setups_cadence_1s"] {
        cpu.push((
            variant,
            fields(&output, &format!("probe/backtest_cpu_{variant} "))?,
        ));
    }
    // The whole command, file reading and run files included.
    let workspace = target_dir(sh).join("bench-backtest-workspace");
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
            .with_context(|| format!("cannot run {}", cli.display()))?;
        walls.push(start.elapsed().as_secs_f64());
        ensure!(
            output.status.success(),
            "laptop-agents backtest failed: {}",
            output.status
        );
        summary = String::from_utf8_lossy(&output.stdout).into_owned();
    }
    let _ = fs::remove_dir_all(&workspace);
    let trades = serde_json::from_str::<serde_json::Value>(&summary)
        .ok()
        .and_then(|s| s.get("trades")?.as_f64())
        .unwrap_or(f64::NAN);
    report.p3(candles, &variants, &cpu, &walls, trades, &load);
    Ok(())
}

fn p4_footprint(
    sh: &Shell,
    options: Options,
    report: &mut Report,
    probe: &Path,
    cli: &Path,
) -> Result<()> {
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
    let dir = target_dir(sh);
    let mut results = Vec::new();
    for (mode, speed, minutes) in runs {
        let output = capture(cmd!(
            sh,
            "{probe} footprint --bin {cli} --mode {mode} --speed {speed} --virtual-minutes {minutes} --dir {dir}"
        ))?;
        results.push(fields(&output, "probe/footprint ")?);
    }
    report.p4(&results);
    Ok(())
}

fn p5_startup(
    sh: &Shell,
    options: Options,
    report: &mut Report,
    probe: &Path,
    cli: &Path,
) -> Result<()> {
    let load = load_average();
    let runs = if options.quick { 50 } else { 200 };
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs + 10 {
        let start = Instant::now();
        let status = Command::new(cli)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("cannot run {}", cli.display()))?;
        let elapsed = start.elapsed().as_secs_f64() * 1e3;
        ensure!(status.success(), "--version failed: {status}");
        if i >= 10 {
            times.push(elapsed);
        }
    }
    times.sort_by(f64::total_cmp);
    let subscribe_runs = if options.quick { "10" } else { "30" };
    let dir = target_dir(sh);
    let output = capture(cmd!(
        sh,
        "{probe} first-subscribe --bin {cli} --runs {subscribe_runs} --dir {dir}"
    ))?;
    let connect = fields(&output, "probe/startup_connect ")?;
    let subscribe = fields(&output, "probe/startup_subscribe ")?;
    report.p5(&times, &load, &connect, &subscribe);
    Ok(())
}

/// `cargo xtask bench [--quick] [--p4-real-rate] [--no-write]`.
pub(crate) fn run(sh: &Shell, args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    let mut report = Report::new(options);
    let cargo = cargo_bin();
    cmd!(sh, "{cargo} build --release -p laptop-agents").run()?;
    cmd!(
        sh,
        "{cargo} build --release -p la-session --example bench_probe"
    )
    .run()?;
    let cli = target_dir(sh).join("release").join("laptop-agents");
    let probe = target_dir(sh)
        .join("release")
        .join("examples")
        .join("bench_probe");
    for binary in [&cli, &probe] {
        ensure!(binary.is_file(), "{} was not built", binary.display());
    }
    p1_decode(sh, options, &mut report, &probe)?;
    p2_tick_to_exit(sh, options, &mut report, &probe)?;
    p3_backtest(sh, options, &mut report, &probe, &cli)?;
    p4_footprint(sh, options, &mut report, &probe, &cli)?;
    p5_startup(sh, options, &mut report, &probe, &cli)?;
    let text = report.render(&commit_with_changes(sh), &machine());
    println!("{text}");
    if options.no_write {
        return Ok(());
    }
    let path = sh.current_dir().join("BENCHMARKS.md");
    let updated = markdown::splice(&read_text(&path)?, &text)?;
    write_file(&path, updated)?;
    println!("bench: BENCHMARKS.md updated");
    Ok(())
}

/// The short hash of `HEAD`, marked when the working tree has uncommitted changes.
fn commit_with_changes(sh: &Shell) -> String {
    let commit = git_commit(sh).unwrap_or_else(|| "unknown".to_owned());
    let dirty = cmd!(sh, "git status --porcelain --untracked-files=no")
        .quiet()
        .ignore_stderr()
        .read()
        .is_ok_and(|s| !s.is_empty());
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
    let date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default();
    format!("{cores} cores, {model}; {date}")
}
