//! `cargo xtask bench`: runs the five performance benchmarks (P1 … P5, with the goals the
//! Python program is compared against) and regenerates the results section of
//! `BENCHMARKS.md` (between its `xtask-bench` markers).
//!
//! Each benchmark is one module that measures and renders it: `decode` (P1), `tick_to_exit`
//! (P2, with the broker's tick path), `backtest` (P3), `footprint` (P4) and `startup` (P5);
//! `report` assembles the summary and the sections. Criterion medians and 95 % confidence
//! bounds are read from criterion's `estimates.json` under the target directory; the
//! `bench_probe` example prints one `key=value` line per measurement.
//!
//! Slow (minutes) and sensitive to machine load, so it is not part of `cargo xtask ci`; the
//! benches still compile under `cargo clippy --all-targets`. Binaries are looked up under
//! `CARGO_TARGET_DIR` when it is set. Options: `--quick` (shorter runs), `--p4-real-rate`
//! (also a 10-minute session at the real push rate), `--no-write` (print, keep the file).

mod backtest;
mod decode;
mod footprint;
mod report;
mod startup;
mod sweep;
#[cfg(test)]
mod tests;
mod tick_to_exit;

use std::{fs, path::PathBuf};

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;
use xshell::{Cmd, Shell, cmd};

use crate::{
    cargo_bin, read_echoed,
    reliability::{git_commit, read_json, read_text, write_file},
};

use report::Report;

/// A probe's `key=value` output fields, in order.
type Fields = Vec<(String, String)>;

/// What `cargo xtask bench` was asked to do.
#[derive(Clone, Copy, Debug, Default)]
struct Options {
    quick: bool,
    p4_real_rate: bool,
    no_write: bool,
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

    /// Criterion's measurement time per variant, in seconds.
    fn measurement_time(self) -> &'static str {
        if self.quick { "2" } else { "5" }
    }
}

/// `cargo xtask bench [--quick] [--p4-real-rate] [--no-write]`.
pub(crate) fn run(sh: &Shell, args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
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
    let mut report = Report::new(options.quick);
    decode::measure(sh, options, &probe)?.add_to(&mut report);
    tick_to_exit::measure(sh, options, &probe)?.add_to(&mut report);
    backtest::measure(sh, options, &probe, &cli)?.add_to(&mut report);
    sweep::measure(sh, options, &cli)?.add_to(&mut report);
    footprint::measure(sh, options, &probe, &cli)?.add_to(&mut report);
    startup::measure(sh, options, &probe, &cli)?.add_to(&mut report);
    let text = report.render(&commit_with_changes(sh), &machine());
    println!("{text}");
    if options.no_write {
        return Ok(());
    }
    let path = sh.current_dir().join("BENCHMARKS.md");
    let updated = report::splice(&read_text(&path)?, &text)?;
    write_file(&path, updated)?;
    println!("bench: BENCHMARKS.md updated");
    Ok(())
}

/// The target directory: `CARGO_TARGET_DIR` (relative to the project root) or `target/`.
fn target_dir(sh: &Shell) -> PathBuf {
    crate::reliability::target_dir(&sh.current_dir())
}

/// The 1-minute load average now.
fn load_average() -> String {
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
fn fields(output: &str, prefix: &str) -> Result<Fields> {
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

/// The fields of each variant's line `<prefix><variant> …`, in `variants` order.
fn fields_per_variant(
    output: &str,
    prefix: &str,
    variants: &[&'static str],
) -> Result<Vec<(&'static str, Fields)>> {
    variants
        .iter()
        .map(|variant| Ok((*variant, fields(output, &format!("{prefix}{variant} "))?)))
        .collect()
}

/// The numeric value of `key` in `fields`.
fn field(fields: &Fields, key: &str) -> Result<f64> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
        .with_context(|| format!("missing numeric field {key}"))
}

/// A criterion estimate: median and its 95 % confidence bounds, in nanoseconds.
#[derive(Clone, Copy, Debug)]
struct Estimate {
    median: f64,
    low: f64,
    high: f64,
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
fn criterion_estimate(sh: &Shell, group: &str, name: &str) -> Result<Estimate> {
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
