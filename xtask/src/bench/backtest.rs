//! P3, backtest: a month of real one-minute candles through the strategy and the broker.
//! Measured as criterion wall time per pass, as on-CPU time of the replaying thread
//! (`bench_probe backtest-cpu`), and as the whole `laptop-agents backtest --json` command
//! (reading the gzip file and writing the run directory included).

use std::{fs, path::Path, process::Command, time::Instant};

use anyhow::{Context, Result, ensure};
use xshell::{Shell, cmd};

use super::{
    Estimate, Fields, Options, capture, criterion_estimate, fields_per_variant, load_average,
    report::{Report, SummaryRow, get, rate, text, time, times, verdict},
    target_dir,
};

/// The real candle month, under `../shared/data/candles`.
/// The Python program's backtest rate (candles/s).
const PY_BACKTEST_PER_S: f64 = 876.0;
/// The whole `backtest --json` command over the month: 0.1 s (≥ 430 k candles/s end to end).
const WHOLE_COMMAND_GOAL_S: f64 = 0.1;
/// The criterion variants, in table order.
const CRITERION_VARIANTS: [&str; 3] = [
    "setups_waypoints",
    "setups_cadence_1s",
    "sma_cross_waypoints",
];
/// The `bench_probe backtest-cpu` variants, in table order.
const CPU_VARIANTS: [&str; 2] = ["setups_waypoints", "setups_cadence_1s"];

/// What P3 measured.
#[derive(Debug)]
pub(super) struct Backtest {
    /// Candles in the file.
    pub(super) candles: f64,
    /// Criterion's estimate of one pass per [`CRITERION_VARIANTS`] entry.
    pub(super) variants: Vec<(&'static str, Estimate)>,
    /// `bench_probe backtest-cpu` output per [`CPU_VARIANTS`] entry.
    pub(super) cpu: Vec<(&'static str, Fields)>,
    /// Wall seconds of each whole-command run.
    pub(super) walls: Vec<f64>,
    /// Trades of the whole-command run (from its `--json` summary).
    pub(super) trades: f64,
    pub(super) load: String,
    /// Criterion's measurement time per variant (seconds).
    pub(super) secs: &'static str,
}

/// Runs the `backtest` criterion bench, `bench_probe backtest-cpu` and the timed command.
pub(super) fn measure(sh: &Shell, options: Options, probe: &Path, cli: &Path) -> Result<Backtest> {
    let data = crate::reliability::shared_month("P3")?;
    let load = load_average();
    let (cargo, secs) = (crate::cargo_bin(), options.measurement_time());
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
    let variants = CRITERION_VARIANTS
        .iter()
        .map(|name| Ok((*name, criterion_estimate(sh, "backtest", name)?)))
        .collect::<Result<_>>()?;
    let rounds = if options.quick { "3" } else { "5" };
    let output = capture(cmd!(
        sh,
        "{probe} backtest-cpu --rounds {rounds} --data {data}"
    ))?;
    let cpu = fields_per_variant(&output, "probe/backtest_cpu_", &CPU_VARIANTS)?;
    let (walls, trades) = time_whole_command(sh, cli, &data, if options.quick { 3 } else { 7 })?;
    Ok(Backtest {
        candles,
        variants,
        cpu,
        walls,
        trades,
        load,
        secs,
    })
}

/// Times `runs` runs of `laptop-agents backtest --json --data <data>`, file reading and run
/// files included; returns the wall seconds and the trades the last run reported.
fn time_whole_command(sh: &Shell, cli: &Path, data: &Path, runs: usize) -> Result<(Vec<f64>, f64)> {
    let workspace = target_dir(sh).join("bench-backtest-workspace");
    let mut walls = Vec::new();
    let mut summary = String::new();
    for _ in 0..runs {
        let _ = fs::remove_dir_all(&workspace);
        let start = Instant::now();
        let output = Command::new(cli)
            .args(["backtest", "--json", "--data"])
            .arg(data)
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
    Ok((walls, trades))
}

impl Backtest {
    /// Adds the backtest section and its goal rows to `report`.
    pub(super) fn add_to(&self, report: &mut Report) {
        let (candles, load, secs) = (self.candles, &self.load, self.secs);
        report.add(
            format!(
                "### P3 backtest ({candles:.0} real candles; load {load}; criterion, {secs} s; median, 95 % CI)\n\n{}{}{}",
                self.wall_time_table(),
                self.cpu_time_table(),
                self.whole_command_paragraph()
            ),
            self.goal_rows(),
        );
    }

    /// Criterion's time per pass and the candle rate, per variant.
    fn wall_time_table(&self) -> String {
        let candles = self.candles;
        let mut s = String::from("| Variant | one pass | candles/s | CI |\n|---|---|---|---|\n");
        for (name, e) in &self.variants {
            s.push_str(&format!(
                "| `{name}` | {} | {} | {}–{} |\n",
                time(e.median),
                rate(candles * 1e9 / e.median),
                rate(candles * 1e9 / e.high),
                rate(candles * 1e9 / e.low)
            ));
        }
        s
    }

    /// On-CPU time per pass of the replaying thread: median, best and worst round.
    fn cpu_time_table(&self) -> String {
        let mut s = String::from(
            "\nOn-CPU time of the replaying thread (`bench_probe backtest-cpu`; whole passes, \
             rounds of ≥ 1 s of CPU; median round, best and worst):\n\n\
             | Variant | CPU per pass | candles/s/core (median) | best round | worst round | load |\n\
             |---|---|---|---|---|---|\n",
        );
        for (variant, f) in &self.cpu {
            s.push_str(&format!(
                "| `{variant}` | {} | {} | {} | {} | {} |\n",
                time(get(f, "cpu_ns")),
                rate(get(f, "per_s_cpu")),
                rate(get(f, "per_s_cpu_max")),
                rate(get(f, "per_s_cpu_min")),
                text(f, "load")
            ));
        }
        s
    }

    /// Median, min and max of the whole-command runs.
    fn whole_command_spread(&self) -> (f64, f64, f64) {
        let mut sorted = self.walls.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
        let min = sorted.first().copied().unwrap_or(f64::NAN);
        let max = sorted.last().copied().unwrap_or(f64::NAN);
        (median, min, max)
    }

    /// The whole command's wall time, and the candle rate it amounts to.
    fn whole_command_paragraph(&self) -> String {
        let (median, min, max) = self.whole_command_spread();
        format!(
            "\n`laptop-agents backtest --json --data <file>` (whole command: gunzip and parse \
             the CSV, replay, write the run directory; {} runs, {:.0} trades): median \
             {median:.3} s (min {min:.3} s, max {max:.3} s), i.e. {} end to end.\n",
            self.walls.len(),
            self.trades,
            rate(self.candles / median)
        )
    }

    /// Candles per core second against the 2 M/s goal, and the whole command against the
    /// Python program's time for the same month.
    fn goal_rows(&self) -> Vec<SummaryRow> {
        let Some((_, f)) = self.cpu.iter().find(|(n, _)| *n == "setups_waypoints") else {
            return Vec::new();
        };
        let candles = self.candles;
        let (per_s, best) = (get(f, "per_s_cpu"), get(f, "per_s_cpu_max"));
        let wall = self
            .variants
            .iter()
            .find(|(n, _)| *n == "setups_waypoints")
            .map_or(f64::NAN, |(_, e)| candles * 1e9 / e.median);
        let (median, min, max) = self.whole_command_spread();
        vec![
            SummaryRow::new(
                "P3",
                "backtest, setups + broker, candles/s/core (CPU time; criterion wall in brackets)",
                format!(
                    "{} (best round {}; wall {})",
                    rate(per_s),
                    rate(best),
                    rate(wall)
                ),
                "≥ 2 M/s",
                verdict(per_s >= 2e6),
            )
            .against_python(rate(PY_BACKTEST_PER_S), times(per_s / PY_BACKTEST_PER_S)),
            SummaryRow::new(
                "P3",
                "`laptop-agents backtest --json`, whole command (wall, median)",
                format!("{median:.3} s ({min:.3}–{max:.3} s)"),
                "≤ 0.1 s",
                verdict(median <= WHOLE_COMMAND_GOAL_S),
            )
            .against_python(
                format!("{:.0} s", candles / PY_BACKTEST_PER_S),
                times(candles / PY_BACKTEST_PER_S / median),
            ),
        ]
    }
}
