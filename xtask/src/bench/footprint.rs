//! P4, footprint: peak resident memory and CPU of a live session, run as a child process by
//! `bench_probe footprint` against the simulator (external or in-process), accelerated and,
//! on request, at the real push rate.

use std::path::Path;

use anyhow::Result;
use xshell::{Shell, cmd};

use super::{
    Fields, Options, capture, fields,
    report::{Report, SummaryRow, get, text, times, verdict},
    target_dir,
};

/// The Python program's peak RSS (MiB) and CPU per minute of session (s).
const PY_RSS_MIB: f64 = 55.7;
const PY_CPU_S_PER_MIN: f64 = 1.55;

/// What P4 measured: one `probe/footprint` line per run.
#[derive(Debug)]
pub(super) struct Footprint {
    pub(super) runs: Vec<Fields>,
}

/// Runs the sessions `options` asks for: external and in-process at 10× (20× with
/// `--quick`), a one-minute external run at the real rate (not with `--quick`), and ten
/// real-rate minutes with `--p4-real-rate`.
pub(super) fn measure(sh: &Shell, options: Options, probe: &Path, cli: &Path) -> Result<Footprint> {
    let accelerated = if options.quick { "20" } else { "10" };
    // (mode, speed, virtual minutes)
    let mut plan = vec![
        ("external", accelerated, "10"),
        ("in-process", accelerated, "10"),
    ];
    if !options.quick {
        plan.push(("external", "1", "1"));
    }
    if options.p4_real_rate {
        plan.push(("external", "1", "10"));
    }
    let dir = target_dir(sh);
    let mut runs = Vec::new();
    for (mode, speed, minutes) in plan {
        let output = capture(cmd!(
            sh,
            "{probe} footprint --bin {cli} --mode {mode} --speed {speed} --virtual-minutes {minutes} --dir {dir}"
        ))?;
        runs.push(fields(&output, "probe/footprint ")?);
    }
    Ok(Footprint { runs })
}

impl Footprint {
    /// Adds the footprint section and its goal rows to `report`.
    pub(super) fn add_to(&self, report: &mut Report) {
        report.add(self.footprint_table(), self.goal_rows());
    }

    /// One row per run: memory and CPU while running, and including the shutdown.
    fn footprint_table(&self) -> String {
        let mut s = "### P4 footprint (live session as a child process; `/proc/<pid>` while it runs)\n\n\
             | Simulator | Speed | Virtual min | Wall | Frames | Peak RSS | CPU | CPU / 10 virtual min | Incl. shutdown: peak RSS, CPU | Exit | Load |\n\
             |---|---|---|---|---|---|---|---|---|---|---|\n"
            .to_owned();
        for f in &self.runs {
            s.push_str(&format!(
                "| {} | {}× | {} | {} s | {} | {} MiB | {} s | {} s | {} MiB, {} s | {} | {} |\n",
                text(f, "mode"),
                text(f, "speed"),
                text(f, "virtual_min"),
                text(f, "wall_s"),
                if text(f, "mode") == "external" {
                    text(f, "frames")
                } else {
                    "—"
                },
                text(f, "peak_rss_mib"),
                text(f, "cpu_s"),
                text(f, "cpu_s_per_10_virtual_min"),
                text(f, "peak_rss_with_shutdown_mib"),
                text(f, "cpu_s_with_shutdown"),
                text(f, "exit"),
                text(f, "load")
            ));
        }
        s
    }

    /// The external run at `speed`× over `minutes` virtual minutes, if one was made.
    fn external(&self, speed: f64, minutes: f64) -> Option<&Fields> {
        self.runs.iter().find(|f| {
            text(f, "mode") == "external"
                && get(f, "speed") == speed
                && get(f, "virtual_min") == minutes
        })
    }

    /// Peak RSS against 20 MiB, CPU of ten minutes of messages against 1 s, and the
    /// one-minute real-rate run against the Python program.
    fn goal_rows(&self) -> Vec<SummaryRow> {
        let peak = self
            .runs
            .iter()
            .filter(|f| text(f, "mode") == "external")
            .map(|f| get(f, "peak_rss_with_shutdown_mib"))
            .fold(0.0_f64, f64::max);
        let mut rows = vec![
            SummaryRow::new(
                "P4",
                "peak RSS of a live session (largest external run, shutdown included)",
                format!("{peak:.1} MiB"),
                "≤ 20 MiB",
                verdict(peak <= 20.0),
            )
            .against_python(format!("{PY_RSS_MIB} MiB"), times(PY_RSS_MIB / peak)),
        ];
        let (cpu, label) = match self.external(1.0, 10.0) {
            Some(f) => (get(f, "cpu_s"), "10 min at the real push rate"),
            None => (
                self.runs
                    .iter()
                    .find(|f| text(f, "mode") == "external" && get(f, "virtual_min") == 10.0)
                    .map_or(f64::NAN, |f| get(f, "cpu_s")),
                "10 min of messages, accelerated (real-rate run: `--p4-real-rate`)",
            ),
        };
        rows.push(SummaryRow::new(
            "P4",
            format!("CPU seconds, {label}"),
            format!("{cpu:.2} s"),
            "≤ 1 s",
            verdict(cpu <= 1.0),
        ));
        if let Some(f) = self.external(1.0, 1.0) {
            let cpu = get(f, "cpu_s_with_shutdown");
            rows.push(
                SummaryRow::new(
                    "P4",
                    "one-minute session at the real rate: CPU (start-up and shutdown included)",
                    format!("{cpu:.2} s"),
                    "—",
                    "",
                )
                .against_python(
                    format!("{PY_CPU_S_PER_MIN} s"),
                    times(PY_CPU_S_PER_MIN / cpu.max(0.01)),
                ),
            );
        }
        rows
    }
}
