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
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    thread,
    time::{Duration, Instant},
};

use crate::{
    json,
    procfs::{self, Sample, Trend},
    reliability::{Checks, FAST_TRADING_TOML, build_release, option_value, target_dir},
    soak_checks,
    soak_plan::{covered_scenarios, fault_plan},
};

/// The session's stale-data timeout during the soak. Every silence-like fault is shorter,
/// because a silence longer than this must (by design) stop the session.
pub(crate) const STALE_TIMEOUT_S: u64 = 120;
/// glibc raises its mmap threshold after the first large block is freed, so later 1 MiB
/// buffers (an oversized frame) come from the heap and their pages stay resident after
/// `free`: RSS then climbs in steps and plateaus (measured: +11 MiB over 70 oversized
/// frames, flat after ~16) although nothing leaks. A fixed threshold keeps large blocks in
/// `mmap`, returned on `free`, so RSS follows live memory and a real leak still shows.
pub(crate) const MALLOC_ENV: (&str, &str) = ("MALLOC_MMAP_THRESHOLD_", "131072");
/// How often the child is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Samples before this are start-up (allocator arenas, connection set-up) and not judged.
pub(crate) const WARM_UP: Duration = Duration::from_secs(30);
struct Options {
    minutes: u64,
    speed: f64,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        minutes: 10,
        speed: 60.0,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--minutes" => {
                options.minutes = option_value(&mut it, "--minutes")?;
            }
            "--speed" => {
                options.speed = option_value(&mut it, "--speed")?;
            }
            other => return Err(format!("soak: unknown argument {other:?}")),
        }
    }
    if options.minutes == 0 {
        return Err("--minutes must be at least 1".into());
    }
    if !(options.speed.is_finite() && options.speed >= 1.0) {
        return Err("--speed must be a number >= 1".into());
    }
    Ok(options)
}

/// Runs the soak.
pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let options = parse_options(args)?;
    let started = Instant::now();
    let binary = build_release(root)?;
    let target = target_dir(root);
    let workspace = target.join("soak-workspace");
    let _ = fs::remove_dir_all(&workspace);
    fs::create_dir_all(&workspace)
        .map_err(|e| format!("cannot create {}: {e}", workspace.display()))?;
    let run_for = Duration::from_secs(options.minutes * 60);
    let faults = fault_plan(run_for.as_secs_f64(), options.speed);
    let record = workspace.join("sim_record.jsonl");
    let config = target.join("soak.toml");
    fs::write(&config, FAST_TRADING_TOML)
        .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    let console = target.join("soak-console.log");
    let mut args: Vec<String> = [
        "run",
        "--source",
        "sim",
        "--speed",
        &options.speed.to_string(),
        "--duration",
        &format!("{}m", options.minutes),
        "--workspace",
        &path_text(&workspace)?,
        "--max-clock-skew",
        "off",
        "--stale-timeout",
        &format!("{STALE_TIMEOUT_S}s"),
        "--sim-record",
        &path_text(&record)?,
        "--config",
        &path_text(&config)?,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
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
    println!(
        "$ {}={} {} {}",
        MALLOC_ENV.0,
        MALLOC_ENV.1,
        binary.display(),
        args.join(" ")
    );
    let session_started = Instant::now();
    let (status, samples) =
        run_sampled(&binary, &args, &console, run_for + Duration::from_secs(120))?;
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
        Err(format!(
            "soak failed:\n  {}\n(report: {})",
            checks.failures().join("\n  "),
            target.join("soak-report.md").display()
        ))
    }
}

pub(crate) fn path_text(path: &Path) -> Result<String, String> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("non-UTF-8 path {}", path.display()))
}

/// Starts the binary with stdout and stderr in `console`, samples it every 5 s until it
/// exits, and kills it (failing) if it outlives `limit`.
fn run_sampled(
    binary: &Path,
    args: &[String],
    console: &Path,
    limit: Duration,
) -> Result<(ExitStatus, Vec<Sample>), String> {
    let out = fs::File::create(console)
        .map_err(|e| format!("cannot create {}: {e}", console.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("cannot share {}: {e}", console.display()))?;
    let mut child: Child = Command::new(binary)
        .args(args)
        .env(MALLOC_ENV.0, MALLOC_ENV.1)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let pid = child.id();
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut next_sample = Duration::ZERO;
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| format!("cannot wait for pid {pid}: {e}"))?
        {
            return Ok((status, samples));
        }
        let elapsed = started.elapsed();
        if elapsed >= next_sample {
            if let Some(sample) = procfs::sample(pid, elapsed) {
                samples.push(sample);
            }
            next_sample += SAMPLE_EVERY;
        }
        if elapsed > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the session (pid {pid}) was still running after {} s; killed it",
                limit.as_secs()
            ));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn check_resources(checks: &mut Checks, samples: &[Sample], trend: Option<Trend>) {
    let Some(trend) = trend else {
        let why = format!(
            "no sample after the {} s warm-up ({} samples in all)",
            WARM_UP.as_secs(),
            samples.len()
        );
        checks.record("file descriptors flat", Err(why.clone()));
        checks.record("RSS growth <= 10 %", Err(why));
        return;
    };
    let base = trend.baseline.fds;
    let detail = format!(
        "{base} at {} s, {} at the end, max {} ({} samples)",
        trend.baseline.elapsed.as_secs(),
        trend.last_fds,
        trend.max_fds,
        samples.len()
    );
    checks.record(
        "file descriptors flat (end <= first after warm-up + 2)",
        if trend.last_fds <= base + 2 {
            Ok(detail)
        } else {
            Err(detail)
        },
    );
    let growth = trend.rss_growth_percent();
    let detail = format!(
        "{} KiB at {} s, max {} KiB: {growth:.1} %",
        trend.baseline.rss_kib,
        trend.baseline.elapsed.as_secs(),
        trend.max_rss_kib
    );
    checks.record(
        "RSS growth <= 10 % after warm-up",
        if growth <= 10.0 {
            Ok(detail)
        } else {
            Err(detail)
        },
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

/// `date -u` and `git rev-parse --short HEAD`, for the report header.
pub(crate) fn provenance(root: &Path) -> (String, String) {
    let run = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned())
    };
    (
        run("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        run("git", &["rev-parse", "--short", "HEAD"]),
    )
}

fn write_reports(target: &Path, report: &Report<'_>) -> Result<(), String> {
    let (date, commit) = provenance(&crate::project_root());
    let command = format!(
        "cargo xtask soak --minutes {} --speed {}",
        report.options.minutes, report.options.speed
    );
    let mut md = format!(
        "# Soak report\n\n- date: {date}\n- commit: {commit}\n- command: `{command}` (child environment: `{}={}`)\n\
         - session wall time: {:.1} s; total (build + run + checks): {:.1} s\n\
         - faults fired: {} covering {} scenarios\n- verdict: {}\n\n## Checks\n\n{}\n## Facts\n\n",
        MALLOC_ENV.0,
        MALLOC_ENV.1,
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
    let samples: Vec<String> = report
        .samples
        .iter()
        .map(|s| {
            format!(
                "{{\"t_s\":{:.1},\"fds\":{},\"rss_kib\":{}}}",
                s.elapsed.as_secs_f64(),
                s.fds,
                s.rss_kib
            )
        })
        .collect();
    let faults: Vec<String> = report.faults.iter().map(|f| json::quote(f)).collect();
    let facts: Vec<String> = report
        .facts
        .iter()
        .map(|(k, v)| format!("{}:{}", json::quote(k), json::quote(v)))
        .collect();
    let json_text = format!(
        "{{\"date\":{},\"commit\":{},\"command\":{},\"minutes\":{},\"speed\":{},\"session_wall_s\":{:.1},\"total_wall_s\":{:.1},\"passed\":{},\"checks\":{},\"facts\":{{{}}},\"faults\":[{}],\"samples\":[{}]}}\n",
        json::quote(&date),
        json::quote(&commit),
        json::quote(&command),
        report.options.minutes,
        report.options.speed,
        report.session_wall.as_secs_f64(),
        report.total_wall.as_secs_f64(),
        report.checks.all_passed(),
        report.checks.json(),
        facts.join(","),
        faults.join(","),
        samples.join(",")
    );
    for (name, text) in [("soak-report.md", md), ("soak-report.json", json_text)] {
        let path: PathBuf = target.join(name);
        fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
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
