//! P4, footprint: peak resident memory and CPU of a live session, run as a child process by
//! `bench_probe footprint` against the simulator (external or in-process), accelerated and,
//! on request, at the real push rate; and what the operator surface costs: five minutes of an
//! external session at the real push rate with `--http off`, with it on and no client, and
//! with ten dashboard event streams open. (The session publishes at most five views a second whatever the data rate,
//! so an accelerated run would understate the surface's share of the CPU.)
//!
//! The surface's CPU is compared on the session's thread CPU summed from `schedstat`
//! (nanoseconds) from its subscribe to the end of the run: the steady state at the real push
//! rate, where `/proc/<pid>/stat`'s 10 ms ticks are too coarse for a 5 % goal (a session uses
//! about 0.3 s in five minutes).

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

/// Dashboard event streams open in the run that prices the HTTP surface.
const SSE_CLIENTS: &str = "10";
/// Virtual (= wall) minutes of each real-rate run that prices the HTTP surface.
const HTTP_MINUTES: f64 = 5.0;

/// Runs the sessions `options` asks for: external and in-process at 10× (20× with
/// `--quick`), five real-rate minutes each with `--http off`, on, and on with ten event
/// streams, a
/// one-minute external run at the real rate (not with `--quick`), and ten real-rate minutes
/// with `--p4-real-rate`.
pub(super) fn measure(sh: &Shell, options: Options, probe: &Path, cli: &Path) -> Result<Footprint> {
    let accelerated = if options.quick { "20" } else { "10" };
    // (mode, speed, virtual minutes, http, event streams)
    let mut plan = vec![
        ("external", accelerated, "10", "loopback", "0"),
        ("in-process", accelerated, "10", "loopback", "0"),
        ("external", "1", "5", "off", "0"),
        ("external", "1", "5", "loopback", "0"),
        ("external", "1", "5", "loopback", SSE_CLIENTS),
    ];
    if !options.quick {
        plan.push(("external", "1", "1", "loopback", "0"));
    }
    if options.p4_real_rate {
        plan.push(("external", "1", "10", "loopback", "0"));
    }
    let dir = target_dir(sh);
    let mut runs = Vec::new();
    for (mode, speed, minutes, http, sse) in plan {
        let output = capture(cmd!(
            sh,
            "{probe} footprint --bin {cli} --mode {mode} --speed {speed} --virtual-minutes {minutes} --http {http} --sse-clients {sse} --dir {dir}"
        ))?;
        runs.push(fields(&output, "probe/footprint ")?);
    }
    Ok(Footprint { runs })
}

/// CPU seconds of a run from its subscribe to the end, from the threads' `schedstat`
/// (nanoseconds); the 10 ms-resolution whole-run figure of a probe that did not print it.
fn steady_cpu_s(f: &Fields) -> f64 {
    let precise = get(f, "thread_cpu_after_subscribe_s");
    if precise.is_nan() {
        get(f, "cpu_s")
    } else {
        precise
    }
}

/// CPU seconds shown in milliseconds (`—` when the probe did not measure them).
fn cpu_ms(seconds: f64) -> String {
    if seconds.is_nan() {
        "—".to_owned()
    } else {
        format!("{:.1} ms", seconds * 1e3)
    }
}

/// How a run's HTTP surface is shown in the table.
fn http_label(f: &Fields) -> String {
    match (text(f, "http"), text(f, "sse_clients")) {
        ("off", _) => "off".to_owned(),
        (_, "0" | "?") => "on".to_owned(),
        (_, n) => format!("on, {n} event streams"),
    }
}

impl Footprint {
    /// Adds the footprint section and its goal rows to `report`.
    pub(super) fn add_to(&self, report: &mut Report) {
        report.add(self.footprint_table(), self.goal_rows());
    }

    /// One row per run: memory and CPU while running, and including the shutdown.
    fn footprint_table(&self) -> String {
        let mut s = "### P4 footprint (live session as a child process; `/proc/<pid>` while it runs)\n\n\
             | Simulator | HTTP | Speed | Virtual min | Wall | Frames | Peak RSS | CPU | CPU / 10 virtual min | CPU after subscribe (ns resolution) | Incl. shutdown: peak RSS, CPU | Exit | Load |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
            .to_owned();
        for f in &self.runs {
            s.push_str(&format!(
                "| {} | {} | {}× | {} | {} s | {} | {} MiB | {} s | {} s | {} | {} MiB, {} s | {} | {} |\n",
                text(f, "mode"),
                http_label(f),
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
                cpu_ms(get(f, "thread_cpu_after_subscribe_s")),
                text(f, "peak_rss_with_shutdown_mib"),
                text(f, "cpu_s_with_shutdown"),
                text(f, "exit"),
                text(f, "load")
            ));
        }
        s
    }

    /// The external run at `speed`× over `minutes` virtual minutes with the HTTP surface on
    /// and no clients, if one was made.
    fn external(&self, speed: f64, minutes: f64) -> Option<&Fields> {
        self.runs.iter().find(|f| {
            text(f, "mode") == "external"
                && http_label(f) == "on"
                && get(f, "speed") == speed
                && get(f, "virtual_min") == minutes
        })
    }

    /// The two-minute real-rate run with this HTTP surface (`off`, `on`, or event streams).
    fn http_run(&self, streams: bool, http: &str) -> Option<&Fields> {
        self.runs.iter().find(|f| {
            text(f, "mode") == "external"
                && get(f, "speed") == 1.0
                && get(f, "virtual_min") == HTTP_MINUTES
                && text(f, "http") == http
                && (get(f, "sse_clients") > 0.0) == streams
        })
    }

    /// What the operator surface costs at the real push rate against `--http off`: peak RSS
    /// (shutdown included) and steady-state CPU ([`steady_cpu_s`]), with the surface on and no
    /// client (the goal), and with ten dashboard event streams open (reported, no goal).
    fn http_rows(&self) -> Vec<SummaryRow> {
        let Some(off) = self.http_run(false, "off") else {
            return Vec::new();
        };
        let added = |run: &Fields| {
            (
                get(run, "peak_rss_with_shutdown_mib") - get(off, "peak_rss_with_shutdown_mib"),
                (steady_cpu_s(run) / steady_cpu_s(off) - 1.0) * 100.0,
                steady_cpu_s(run) - steady_cpu_s(off),
            )
        };
        let mut rows = Vec::new();
        if let Some(on) = self.http_run(false, "loopback") {
            let (rss, cpu, cpu_s) = added(on);
            rows.push(SummaryRow::new(
                "P4",
                "HTTP surface on (dashboard, metrics, health; no client) vs `--http off`: peak RSS added",
                format!("{rss:+.1} MiB"),
                "≤ 2 MiB",
                verdict(rss <= 2.0),
            ));
            rows.push(SummaryRow::new(
                "P4",
                format!(
                    "HTTP surface on (no client) vs `--http off`: CPU added after the subscribe, {HTTP_MINUTES} min at the real rate"
                ),
                format!("{cpu:+.1} % ({:+.1} ms)", cpu_s * 1e3),
                "≤ 5 %",
                verdict(cpu <= 5.0),
            ));
        }
        if let Some(streams) = self.http_run(true, "loopback") {
            let (rss, cpu, cpu_s) = added(streams);
            rows.push(SummaryRow::new(
                "P4",
                format!(
                    "{} dashboard event streams open vs `--http off`: peak RSS, CPU added ({HTTP_MINUTES} min at the real rate)",
                    text(streams, "sse_clients")
                ),
                format!("{rss:+.1} MiB, {cpu:+.0} % ({:+.1} ms)", cpu_s * 1e3),
                "—",
                "",
            ));
        }
        rows
    }

    /// Peak RSS against 20 MiB, CPU of ten minutes of messages against 1 s, the one-minute
    /// real-rate run against the Python program, and the HTTP surface's cost.
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
                    .find(|f| {
                        text(f, "mode") == "external"
                            && http_label(f) == "on"
                            && get(f, "virtual_min") == 10.0
                    })
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
        rows.extend(self.http_rows());
        rows
    }
}
