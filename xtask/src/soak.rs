//! `cargo xtask soak --minutes N [--speed X]`: the chaos soak.
//!
//! Runs the real release binary against the in-process simulator for N wall-clock minutes
//! at X× speed while every fault scenario of the simulator's catalogue fires in turn (one
//! at least every 20 s of wall time), samples the child's open descriptors and resident
//! memory every 5 s, and then proves from the files the session left behind that nothing
//! was lost or leaked (see `soak_checks`). Writes `<target>/soak-report.md` and `.json`
//! and fails on any failed check.
//!
//! The session trades every few seconds ([`FAST_TRADING_TOML`]): the default `setups`
//! strategy takes no trade on the simulator's generated data (0 fills in a 10-minute soak),
//! which would leave fills, exits and their state saves untested under faults.

use std::{
    collections::BTreeMap,
    fs,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde::Serialize;
use xshell::Shell;

use crate::{
    procfs::{self, Sample, Trend},
    reliability::{
        Checks, FAST_TRADING_TOML, build_binary, option_value, path_text, provenance,
        sim_session_args, spawn_with_console, target_dir, verdict, wait_polling, write_file,
    },
    soak_checks,
    soak_plan::{covered_scenarios, fault_plan},
};

/// The session's stale-data timeout during the soak. Every silence-like fault is shorter,
/// because a silence longer than this must (by design) stop the session.
pub(crate) const STALE_TIMEOUT_S: u64 = 120;
/// How often the child is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Samples before this are start-up (allocator arenas, connection set-up) and not judged.
pub(crate) const WARM_UP: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Options {
    minutes: u64,
    speed: f64,
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut options = Options {
        minutes: 10,
        speed: 60.0,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--minutes" => options.minutes = option_value(&mut it, "--minutes")?,
            "--speed" => options.speed = option_value(&mut it, "--speed")?,
            other => bail!("soak: unknown argument {other:?}"),
        }
    }
    ensure!(options.minutes > 0, "--minutes must be at least 1");
    ensure!(
        options.speed.is_finite() && options.speed >= 1.0,
        "--speed must be a number >= 1"
    );
    Ok(options)
}

/// Runs the soak.
pub(crate) fn run(sh: &Shell, args: &[String]) -> Result<()> {
    let options = parse_options(args)?;
    let started = Instant::now();
    let binary = build_binary(sh, "release")?;
    let target = target_dir(&sh.current_dir());
    let workspace = target.join("soak-workspace");
    let _ = fs::remove_dir_all(&workspace);
    fs::create_dir_all(&workspace)
        .with_context(|| format!("cannot create {}", workspace.display()))?;
    let run_for = Duration::from_secs(options.minutes * 60);
    let faults = fault_plan(run_for.as_secs_f64(), options.speed);
    let record = workspace.join("sim_record.jsonl");
    let config = target.join("soak.toml");
    write_file(&config, FAST_TRADING_TOML)?;
    let console = target.join("soak-console.log");
    let mut args = sim_session_args(
        &options.speed.to_string(),
        &format!("{}m", options.minutes),
        &workspace,
        &config,
    )?;
    args.extend([
        "--stale-timeout".to_owned(),
        format!("{STALE_TIMEOUT_S}s"),
        "--sim-record".to_owned(),
        path_text(&record)?,
    ]);
    for fault in &faults {
        args.push("--fault".into());
        args.push(fault.clone());
    }
    println!(
        "soak: {} min at {}x, {} faults ({} scenarios), console in {}",
        options.minutes,
        options.speed,
        faults.len(),
        covered_scenarios().len(),
        console.display()
    );
    let session_started = Instant::now();
    let mut child = spawn_with_console(&binary, &args, &console)?;
    let pid = child.id();
    let mut samples = Vec::new();
    let mut next_sample = Duration::ZERO;
    let status = wait_polling(&mut child, run_for + Duration::from_secs(120), |elapsed| {
        if elapsed >= next_sample {
            samples.extend(procfs::sample(pid, elapsed));
            next_sample += SAMPLE_EVERY;
        }
    })
    .context("the soak session did not stop")?;
    let session_wall = session_started.elapsed();
    println!(
        "soak: session exited with {status} after {:.1} s; checking",
        session_wall.as_secs_f64()
    );
    let mut checks = Checks::default();
    let facts = soak_checks::check_all(
        &mut checks,
        &soak_checks::Inputs {
            status,
            workspace: &workspace,
            record: &record,
            console: &console,
            speed: options.speed,
        },
    );
    let trend = Trend::of(&samples, WARM_UP);
    check_resources(&mut checks, &samples, trend);
    write_reports(
        sh,
        &target,
        &Report {
            options: &options,
            faults: &faults,
            samples: &samples,
            trend,
            checks: &checks,
            facts: &facts,
            session_wall,
            total_wall: started.elapsed(),
        },
    )?;
    if checks.all_passed() {
        println!(
            "soak: all {} checks passed ({:.0} s wall in total)",
            checks.0.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    } else {
        bail!(
            "soak failed:\n  {}\n(report: {})",
            checks.failures().join("\n  "),
            target.join("soak-report.md").display()
        )
    }
}

fn check_resources(checks: &mut Checks, samples: &[Sample], trend: Option<Trend>) {
    let Some(trend) = trend else {
        let why = format!(
            "no sample after the {} s warm-up ({} samples in all)",
            WARM_UP.as_secs(),
            samples.len()
        );
        checks.record("file descriptors flat", Err(anyhow!(why.clone())));
        checks.record("RSS growth <= 10 %", Err(anyhow!(why)));
        return;
    };
    let base = trend.baseline.fds;
    checks.record(
        "file descriptors flat (end <= first after warm-up + 2)",
        verdict(
            trend.last_fds <= base + 2,
            format!(
                "{base} at {} s, {} at the end, max {} ({} samples)",
                trend.baseline.elapsed.as_secs(),
                trend.last_fds,
                trend.max_fds,
                samples.len()
            ),
        ),
    );
    let growth = trend.rss_growth_percent();
    checks.record(
        "RSS growth <= 10 % after warm-up",
        verdict(
            growth <= 10.0,
            format!(
                "{} KiB at {} s, max {} KiB: {growth:.1} %",
                trend.baseline.rss_kib,
                trend.baseline.elapsed.as_secs(),
                trend.max_rss_kib
            ),
        ),
    );
}

struct Report<'a> {
    options: &'a Options,
    faults: &'a [String],
    samples: &'a [Sample],
    trend: Option<Trend>,
    checks: &'a Checks,
    facts: &'a [(String, String)],
    session_wall: Duration,
    total_wall: Duration,
}

/// `soak-report.json`: the same facts as the Markdown report, for tools.
#[derive(Serialize)]
struct JsonReport<'a> {
    date: &'a str,
    commit: &'a str,
    command: &'a str,
    minutes: u64,
    speed: f64,
    session_wall_s: f64,
    total_wall_s: f64,
    passed: bool,
    checks: &'a Checks,
    facts: BTreeMap<&'a str, &'a str>,
    faults: &'a [String],
    samples: Vec<JsonSample>,
}

#[derive(Serialize)]
struct JsonSample {
    t_s: f64,
    fds: usize,
    rss_kib: u64,
}

/// `x` rounded to one decimal, as the reports print it.
fn tenths(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn write_reports(sh: &Shell, target: &Path, report: &Report<'_>) -> Result<()> {
    let (date, commit) = provenance(sh);
    let command = format!(
        "cargo xtask soak --minutes {} --speed {}",
        report.options.minutes, report.options.speed
    );
    let mut md = format!(
        "# Soak report\n\n- date: {date}\n- commit: {commit}\n- command: `{command}` (the binary runs as users run it: no allocator variables)\n\
         - session wall time: {:.1} s; total (build + run + checks): {:.1} s\n\
         - faults fired: {} covering {} scenarios\n- verdict: {}\n\n## Checks\n\n{}\n## Facts\n\n",
        report.session_wall.as_secs_f64(),
        report.total_wall.as_secs_f64(),
        report.faults.len(),
        covered_scenarios().len(),
        if report.checks.all_passed() {
            "PASS"
        } else {
            "FAIL"
        },
        report.checks.markdown()
    );
    for (key, value) in report.facts {
        md.push_str(&format!("- {key}: {value}\n"));
    }
    if let Some(trend) = report.trend {
        md.push_str(&format!(
            "- fds: {} after warm-up, {} at the end, max {}\n- RSS: {} KiB after warm-up, max {} KiB ({:.1} %)\n",
            trend.baseline.fds,
            trend.last_fds,
            trend.max_fds,
            trend.baseline.rss_kib,
            trend.max_rss_kib,
            trend.rss_growth_percent()
        ));
    }
    md.push_str("\n## Samples (every 5 s)\n\n| t (s) | fds | RSS (KiB) |\n|---|---|---|\n");
    for s in report.samples {
        md.push_str(&format!(
            "| {} | {} | {} |\n",
            s.elapsed.as_secs(),
            s.fds,
            s.rss_kib
        ));
    }
    md.push_str("\n## Fault plan (virtual offset @ spec)\n\n");
    for fault in report.faults {
        md.push_str(&format!("- `{fault}`\n"));
    }
    let json = JsonReport {
        date: &date,
        commit: &commit,
        command: &command,
        minutes: report.options.minutes,
        speed: report.options.speed,
        session_wall_s: tenths(report.session_wall.as_secs_f64()),
        total_wall_s: tenths(report.total_wall.as_secs_f64()),
        passed: report.checks.all_passed(),
        checks: report.checks,
        facts: report
            .facts
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        faults: report.faults,
        samples: report
            .samples
            .iter()
            .map(|s| JsonSample {
                t_s: tenths(s.elapsed.as_secs_f64()),
                fds: s.fds,
                rss_kib: s.rss_kib,
            })
            .collect(),
    };
    write_file(&target.join("soak-report.md"), md)?;
    write_file(
        &target.join("soak-report.json"),
        serde_json::to_string(&json)? + "\n",
    )?;
    println!(
        "soak: reports in {}",
        target.join("soak-report.md").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_to_ten_minutes_at_sixty_times() {
        let o = parse_options(&[]).unwrap();
        assert_eq!((o.minutes, o.speed), (10, 60.0));
        let o = parse_options(&[
            "--minutes".into(),
            "2".into(),
            "--speed".into(),
            "120".into(),
        ])
        .unwrap();
        assert_eq!((o.minutes, o.speed), (2, 120.0));
        assert!(parse_options(&["--minutes".into()]).is_err());
        assert!(parse_options(&["--speed".into(), "0".into()]).is_err());
        assert!(parse_options(&["--bogus".into()]).is_err());
    }
}
