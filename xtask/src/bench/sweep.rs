//! P3 sweep: a 1,000-set parameter grid over the real month through `laptop-agents sweep`,
//! run as users run it (every core, one shared copy of the candles, the best set's run
//! directory written): wall time, the process's CPU time, candle evaluations per second per
//! core, and its peak resident set.
//!
//! CPU time and the peak come from `/proc` while the process runs: the peak (`VmHWM`) is
//! sampled every 20 ms (it only grows), and the CPU time is read once the process has exited
//! and before it is reaped (a zombie keeps its final times).

use std::{
    fs,
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, ensure};
use xshell::Shell;

use super::{
    Options, load_average,
    report::{Report, SummaryRow, rate, verdict},
    target_dir,
};
use crate::procfs;

/// The grid: 10 × 10 × 10 = 1,000 sets of the setups strategy's trend and volatility
/// periods, a realistic first sweep.
const GRID: &str = "[setups]
ema_fast = [8, 12, 16, 20, 24, 28, 32, 36, 40, 44]
ema_slow = [50, 60, 70, 80, 90, 100, 110, 120, 130, 140]
atr_period = [10, 14, 20, 28, 40, 50, 60, 70, 80, 90]
";
/// Sets in [`GRID`].
const GRID_SETS: usize = 1_000;
/// Sets sampled from [`GRID`] under `--quick`.
const QUICK_SETS: usize = 200;
/// The goals: a 1,000-set sweep of the month in 15 s on two cores, 2 M candle evaluations
/// per second per core, 64 MiB peak however many sets.
const WALL_GOAL_S: f64 = 15.0;
const PER_CORE_GOAL: f64 = 2e6;
const PEAK_GOAL_KIB: u64 = 64 * 1024;

/// What the sweep measured.
#[derive(Debug)]
pub(super) struct Sweep {
    /// Sets evaluated.
    pub(super) sets: usize,
    /// Candles in the file.
    pub(super) candles: f64,
    pub(super) wall_s: f64,
    /// User + system CPU seconds of the process.
    pub(super) cpu_s: f64,
    /// Peak resident set (`VmHWM`), KiB.
    pub(super) peak_kib: u64,
    /// Cores available to the process.
    pub(super) cores: usize,
    pub(super) load: String,
}

/// Runs `laptop-agents sweep` over the shared month once (after one short warm-up run that
/// brings the file into the page cache).
pub(super) fn measure(sh: &Shell, options: Options, cli: &Path) -> Result<Sweep> {
    let data = crate::reliability::shared_month("the sweep benchmark")?;
    let dir = target_dir(sh).join("bench-sweep");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let grid = dir.join("grid.toml");
    fs::write(&grid, GRID)?;
    let sets = if options.quick { QUICK_SETS } else { GRID_SETS };
    run_sweep(cli, &data, &grid, &dir.join("warm-up"), 2)?;
    let sweep = run_sweep(cli, &data, &grid, &dir.join("measured"), sets)?;
    let _ = fs::remove_dir_all(&dir);
    Ok(sweep)
}

/// One `laptop-agents sweep --json` over `sets` sets of the grid (a seeded sample when fewer
/// than the grid), measured from `/proc`.
fn run_sweep(cli: &Path, data: &Path, grid: &Path, dir: &Path, sets: usize) -> Result<Sweep> {
    fs::create_dir_all(dir)?;
    let load = load_average();
    let out = dir.join("sweep.json");
    let mut command = Command::new(cli);
    command
        .args(["sweep", "--json", "--grid"])
        .arg(grid)
        .arg("--data")
        .arg(data)
        .arg("--workspace")
        .arg(dir.join("ws"))
        .stdout(fs::File::create(&out)?)
        .stderr(Stdio::null());
    if sets < GRID_SETS {
        command.args(["--random", &sets.to_string(), "--seed", "7"]);
    }
    let start = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {}", cli.display()))?;
    let pid = child.id();
    let mut peak_kib = 0;
    let cpu_s = loop {
        peak_kib = peak_kib.max(procfs::peak_rss_kib(pid).unwrap_or(0));
        match procfs::cpu_reading(pid) {
            Some(reading) if reading.state == 'Z' => break reading.cpu_s,
            Some(_) => thread::sleep(Duration::from_millis(20)),
            None => anyhow::bail!("the sweep process vanished before it could be measured"),
        }
    };
    let wall_s = start.elapsed().as_secs_f64();
    let status = child.wait()?;
    ensure!(status.success(), "laptop-agents sweep failed: {status}");
    let record: serde_json::Value = serde_json::from_slice(&fs::read(&out)?)
        .context("laptop-agents sweep --json printed no JSON")?;
    let rows = record["rows"].as_array().map_or(0, Vec::len);
    ensure!(rows == sets, "the sweep ranked {rows} sets, not {sets}");
    let candles = record["candles"]
        .as_f64()
        .context("the sweep's JSON has no candle count")?;
    Ok(Sweep {
        sets,
        candles,
        wall_s,
        cpu_s,
        peak_kib,
        cores: thread::available_parallelism().map_or(1, |n| n.get()),
        load,
    })
}

impl Sweep {
    /// Candle evaluations (sets × candles) per CPU second.
    fn per_core(&self) -> f64 {
        self.sets as f64 * self.candles / self.cpu_s
    }

    /// Adds the sweep section and its goal rows to `report`.
    pub(super) fn add_to(&self, report: &mut Report) {
        let evaluations = self.sets as f64 * self.candles;
        let section = format!(
            "### P3 sweep ({} sets × {:.0} real candles; {} cores; load {})\n\n\
             `laptop-agents sweep --json --grid <10 × 10 × 10 setups periods> --data <file>` \
             (whole command: the file read once, every set on rayon's pool, the leaderboard and \
             the best set's run directory written): wall {:.2} s, CPU {:.2} s \
             ({:.2} cores busy); candle evaluations (sets × candles) {} per core (CPU time), {} \
             on the wall clock; peak resident set {:.1} MiB.\n",
            self.sets,
            self.candles,
            self.cores,
            self.load,
            self.wall_s,
            self.cpu_s,
            self.cpu_s / self.wall_s,
            rate(self.per_core()),
            rate(evaluations / self.wall_s),
            self.peak_kib as f64 / 1024.0,
        );
        let wall_label = if self.sets == GRID_SETS {
            format!("{:.2} s", self.wall_s)
        } else {
            // A quick run samples fewer sets: scaled to the goal's 1,000 for the verdict.
            format!(
                "{:.2} s ({} sets; ≈ {:.1} s for 1,000)",
                self.wall_s,
                self.sets,
                self.wall_s * GRID_SETS as f64 / self.sets as f64
            )
        };
        let wall_1000 = self.wall_s * GRID_SETS as f64 / self.sets as f64;
        report.add(
            section,
            [
                SummaryRow::new(
                    "P3",
                    "sweep, 1,000 sets over the month, whole command (wall)",
                    wall_label,
                    "≤ 15 s",
                    verdict(wall_1000 <= WALL_GOAL_S),
                ),
                SummaryRow::new(
                    "P3",
                    "sweep, candle evaluations/s/core (CPU time of the process)",
                    rate(self.per_core()),
                    "≥ 2 M/s",
                    verdict(self.per_core() >= PER_CORE_GOAL),
                ),
                SummaryRow::new(
                    "P3",
                    "sweep, peak resident set",
                    format!("{:.1} MiB", self.peak_kib as f64 / 1024.0),
                    "≤ 64 MiB",
                    verdict(self.peak_kib <= PEAK_GOAL_KIB),
                ),
            ],
        );
    }
}
