//! P5, start-up: how long `laptop-agents --version` takes from spawn to exit (timed here),
//! and how long a live session takes from process start to the simulator accepting its
//! WebSocket and receiving its subscription (`bench_probe first-subscribe`).

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{Context, Result, ensure};
use xshell::{Shell, cmd};

use super::{
    Fields, Options, capture, fields, load_average,
    report::{Report, SummaryRow, get, text, times, verdict},
    target_dir,
};

/// The Python program's `--version` time (ms).
const PY_VERSION_MS: f64 = 320.0;
/// Untimed `--version` runs before the timed ones (page cache, dynamic loader).
const WARM_UP_RUNS: usize = 10;

/// What P5 measured.
#[derive(Debug)]
pub(super) struct Startup {
    /// `--version` wall times in ms, sorted.
    pub(super) version_ms: Vec<f64>,
    pub(super) load: String,
    /// `probe/startup_connect`: process start → WebSocket accepted.
    pub(super) connect: Fields,
    /// `probe/startup_subscribe`: process start → subscribe received.
    pub(super) subscribe: Fields,
}

/// Times `--version` (200 runs, 50 with `--quick`) and runs `bench_probe first-subscribe`.
pub(super) fn measure(sh: &Shell, options: Options, probe: &Path, cli: &Path) -> Result<Startup> {
    let load = load_average();
    let runs = if options.quick { 50 } else { 200 };
    let mut version_ms = Vec::with_capacity(runs);
    for i in 0..runs + WARM_UP_RUNS {
        let start = Instant::now();
        let status = Command::new(cli)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("cannot run {}", cli.display()))?;
        let elapsed = start.elapsed().as_secs_f64() * 1e3;
        ensure!(status.success(), "--version failed: {status}");
        if i >= WARM_UP_RUNS {
            version_ms.push(elapsed);
        }
    }
    version_ms.sort_by(f64::total_cmp);
    let subscribe_runs = if options.quick { "10" } else { "30" };
    let dir = target_dir(sh);
    let output = capture(cmd!(
        sh,
        "{probe} first-subscribe --bin {cli} --runs {subscribe_runs} --dir {dir}"
    ))?;
    Ok(Startup {
        version_ms,
        load,
        connect: fields(&output, "probe/startup_connect ")?,
        subscribe: fields(&output, "probe/startup_subscribe ")?,
    })
}

impl Startup {
    /// Adds the start-up section and its goal rows to `report`.
    pub(super) fn add_to(&self, report: &mut Report) {
        report.add(self.startup_table(), self.goal_rows());
    }

    /// The `--version` time at quantile `q` (nearest rank of the sorted runs).
    fn version_quantile(&self, q: f64) -> f64 {
        let last = self.version_ms.len().max(1) - 1;
        let i = (last as f64 * q).round() as usize;
        self.version_ms.get(i).copied().unwrap_or(f64::NAN)
    }

    /// Median, min, p90 and max of each start-up measure.
    fn startup_table(&self) -> String {
        let q = |x| self.version_quantile(x);
        let (load, connect, subscribe) = (&self.load, &self.connect, &self.subscribe);
        format!(
            "### P5 start-up\n\n\
             | Measure | Runs | Median | Min | p90 | Max | Load |\n|---|---|---|---|---|---|---|\n\
             | `laptop-agents --version` (spawn → exit) | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {load} |\n\
             | process start → WebSocket accepted by the simulator | {} | {} ms | {} ms | {} ms | {} ms | {} |\n\
             | process start → subscribe received by the simulator | {} | {} ms | {} ms | {} ms | {} ms | {} |\n",
            self.version_ms.len(),
            q(0.5),
            q(0.0),
            q(0.9),
            q(1.0),
            text(connect, "runs"),
            text(connect, "median_ms"),
            text(connect, "min_ms"),
            text(connect, "p90_ms"),
            text(connect, "max_ms"),
            text(connect, "load"),
            text(subscribe, "runs"),
            text(subscribe, "median_ms"),
            text(subscribe, "min_ms"),
            text(subscribe, "p90_ms"),
            text(subscribe, "max_ms"),
            text(subscribe, "load"),
        )
    }

    /// `--version` against 5 ms and the Python program, first subscribe against 50 ms.
    fn goal_rows(&self) -> Vec<SummaryRow> {
        let (median, p90) = (self.version_quantile(0.5), self.version_quantile(0.9));
        let subscribe = get(&self.subscribe, "median_ms");
        vec![
            SummaryRow::new(
                "P5",
                "`laptop-agents --version`",
                format!("{median:.2} ms (p90 {p90:.2} ms)"),
                "≤ 5 ms",
                verdict(median <= 5.0),
            )
            .against_python(
                format!("{PY_VERSION_MS:.0} ms"),
                times(PY_VERSION_MS / median),
            ),
            SummaryRow::new(
                "P5",
                "process start → first subscribe, local simulator",
                format!(
                    "{subscribe:.1} ms (p90 {} ms)",
                    text(&self.subscribe, "p90_ms")
                ),
                "≤ 50 ms",
                verdict(subscribe <= 50.0),
            ),
        ]
    }
}
