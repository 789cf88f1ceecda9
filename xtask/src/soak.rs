//! `cargo xtask soak --minutes N [--speed X]`: the chaos soak.
//!
//! Runs the real release binary as a user runs it against the exchange — `run --source
//! bitunix` on the URLs of the simulator, which runs in its own process (`laptop-agents sim`,
//! see `sim_process`) at X× speed — for N wall-clock minutes while every fault scenario of
//! the simulator's catalogue fires in turn (one at least every 20 s of wall time). It samples
//! the session's open descriptors and resident memory every 5 s (the simulator's too, for
//! the report only: its 2 MiB hostile frames are not the session's memory), and then proves
//! from the files the session and the simulator left behind that nothing was lost or leaked
//! (see `soak_checks`). Writes `<target>/soak-report.md` and `.json` and fails on any failed
//! check.
//!
//! Part-way through, the session process is stopped (SIGSTOP) for [`SUSPEND_FOR`] while the
//! simulator's clock runs on, then resumed (SIGCONT): a laptop's suspend, as the session
//! sees it. The checks prove it caught the missed minutes up and never entered from them.
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
        Checks, FAST_TRADING_TOML, build_binary, option_value, provenance, spawn_with_console,
        target_dir, verdict, wait_polling, write_file,
    },
    sim_process::{SimOptions, SimProcess, signal},
    soak_checks,
    soak_plan::{covered_scenarios, fault_plan},
};

/// The session's stale-data timeout during the soak. Every silence-like fault is shorter,
/// because a silence longer than this must (by design) stop the session.
pub(crate) const STALE_TIMEOUT_S: u64 = 120;
/// Candles the simulator serves as REST history before its first push: more than the
/// session's warm-up fetch (max(`warmup_bars` 50, the strategy's) + 20 bars), so the session
/// starts warm, as against the exchange.
const SIM_HISTORY_CANDLES: u64 = 200;
/// How long the simulator may outlive the planned session before it stops by itself.
const SIM_SPARE: Duration = Duration::from_secs(300);
/// How often the processes are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Samples before this are start-up (allocator arenas, connection set-up) and not judged.
pub(crate) const WARM_UP: Duration = Duration::from_secs(30);
/// How long the session process is stopped: at 60× five virtual minutes of market pass
/// meanwhile (more than two intervals: a downtime), and well under the simulator's 10 s
/// write timeout, so the connection survives with a backlog, as a short suspend leaves it.
const SUSPEND_FOR: Duration = Duration::from_secs(5);
/// When the session is stopped, as a share of the run (after the warm-up, before the end).
const SUSPEND_AT: f64 = 0.6;

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
    let sim_console = target.join("soak-sim-console.log");
    println!(
        "soak: {} min at {}x, {} faults ({} scenarios), console in {}",
        options.minutes,
        options.speed,
        faults.len(),
        covered_scenarios().len(),
        console.display()
    );
    let sim = SimProcess::start(
        &binary,
        &SimOptions {
            speed: options.speed,
            history_candles: SIM_HISTORY_CANDLES,
            faults: &faults,
            record: &record,
            limit: run_for + SIM_SPARE,
        },
        &sim_console,
    )?;
    let mut args = sim.session_args(&format!("{}m", options.minutes), &workspace, &config)?;
    args.extend(["--stale-timeout".to_owned(), format!("{STALE_TIMEOUT_S}s")]);
    let session_started = Instant::now();
    let mut child = spawn_with_console(&binary, &args, &console)?;
    let (pid, sim_pid) = (child.id(), sim.pid());
    let mut samples = Vec::new();
    let mut sim_samples = Vec::new();
    let mut next_sample = Duration::ZERO;
    // The suspend: the session is stopped and resumed from here; the simulator, another
    // process, runs on meanwhile.
    let suspend_at = run_for.mul_f64(SUSPEND_AT);
    let mut suspend = Suspend::default();
    let status = wait_polling(&mut child, run_for + Duration::from_secs(120), |elapsed| {
        if elapsed >= next_sample {
            samples.extend(procfs::sample(pid, elapsed));
            sim_samples.extend(procfs::sample(sim_pid, elapsed));
            next_sample += SAMPLE_EVERY;
        }
        suspend.step(pid, elapsed, suspend_at);
    })
    .context("the soak session did not stop")?;
    if suspend.stopped_at.is_some() && suspend.resumed_at.is_none() {
        // The session ended while stopped (it cannot: it is stopped); resume it regardless.
        let _ = signal(pid, rustix::process::Signal::CONT);
    }
    let session_wall = session_started.elapsed();
    // Stopped right away: what it records after the session left is never judged (see
    // `soak_checks`), but a prompt stop keeps the record short.
    let sim_stopped = sim.stop();
    println!(
        "soak: session exited with {status} after {:.1} s; checking",
        session_wall.as_secs_f64()
    );
    let mut checks = Checks::default();
    let mut facts = soak_checks::check_all(
        &mut checks,
        &soak_checks::Inputs {
            status,
            workspace: &workspace,
            record: &record,
            console: &console,
            sim_console: &sim_console,
            sim_stopped: sim_stopped.map(|status| status.to_string()),
            speed: options.speed,
            suspend: suspend.window(),
        },
    );
    let trend = Trend::of(&samples, WARM_UP);
    check_resources(&mut checks, &samples, trend);
    facts.extend(simulator_memory(&sim_samples));
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

/// The suspend of the session process: when it was stopped and resumed (wall time since the
/// session started), and any error signalling it.
#[derive(Debug, Default)]
struct Suspend {
    stopped_at: Option<Duration>,
    resumed_at: Option<Duration>,
    error: Option<String>,
}

impl Suspend {
    /// Stops `pid` once `elapsed` reaches `at`, resumes it [`SUSPEND_FOR`] later.
    fn step(&mut self, pid: u32, elapsed: Duration, at: Duration) {
        use rustix::process::Signal;
        let result = match (self.stopped_at, self.resumed_at) {
            (None, _) if elapsed >= at => {
                self.stopped_at = Some(elapsed);
                signal(pid, Signal::STOP)
            }
            (Some(stopped), None) if elapsed >= stopped + SUSPEND_FOR => {
                self.resumed_at = Some(elapsed);
                signal(pid, Signal::CONT)
            }
            _ => Ok(()),
        };
        if let Err(err) = result {
            self.error.get_or_insert_with(|| format!("{err:#}"));
        }
    }

    fn window(&self) -> Result<soak_checks::SuspendWindow> {
        if let Some(error) = &self.error {
            bail!("signalling the session failed: {error}");
        }
        match (self.stopped_at, self.resumed_at) {
            (Some(stopped_at), Some(resumed_at)) => Ok(soak_checks::SuspendWindow {
                stopped_at,
                resumed_at,
            }),
            _ => bail!("the session was not stopped and resumed (it ended first)"),
        }
    }
}

/// The simulator process's resident memory, for the report: what its hostile frames cost
/// it, which the session's RSS check no longer carries.
fn simulator_memory(samples: &[Sample]) -> Option<(String, String)> {
    let trend = Trend::of(samples, WARM_UP)?;
    let first = samples.first()?;
    Some((
        "simulator process RSS (not judged)".into(),
        format!(
            "{} KiB at {} s, {} KiB after warm-up, max {} KiB",
            first.rss_kib,
            first.elapsed.as_secs(),
            trend.baseline.rss_kib,
            trend.max_rss_kib
        ),
    ))
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
        "# Soak report\n\n- date: {date}\n- commit: {commit}\n- command: `{command}` (the binary runs as users run it: no allocator variables; the session on `--source bitunix` against the simulator in its own process)\n\
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
