//! P1, decoding: how fast exchange frames become validated values. Measured twice: wall
//! time per frame from criterion (our decoder against a bare parse of the same frame, with
//! simd-json and serde_json), and on-CPU time of the decoding thread from
//! `bench_probe decode-cpu`, which a shared machine disturbs less.

use std::path::Path;

use anyhow::Result;
use xshell::{Shell, cmd};

use super::{
    Estimate, Fields, Options, capture, criterion_estimate, fields_per_variant, load_average,
    report::{Report, SummaryRow, get, rate, text, time, times, verdict},
};

/// The Python program's decode rate (frames/s, its published median).
const PY_DECODE_PER_S: f64 = 138_000.0;
/// The criterion variants of one frame kind, in table order.
const CRITERION_VARIANTS: [&str; 4] = [
    "a_ours_simd_json",
    "b_ours_serde_json",
    "c_bare_simd_json_tape",
    "d_bare_serde_json_ignored",
];
/// The `bench_probe decode-cpu` variants, in table order.
const CPU_VARIANTS: [&str; 4] = [
    "kline_simd_json",
    "kline_serde_json",
    "ticker_simd_json",
    "ticker_serde_json",
];

/// Criterion's estimates for one frame kind, in [`CRITERION_VARIANTS`] order: (a) ours with
/// simd-json, (b) ours with serde_json, (c) a bare simd-json parse, (d) a bare serde_json
/// parse.
#[derive(Debug)]
pub(super) struct FrameEstimates {
    pub(super) frame: &'static str,
    pub(super) variants: [Estimate; 4],
}

/// What P1 measured.
#[derive(Debug)]
pub(super) struct Decode {
    pub(super) frames: Vec<FrameEstimates>,
    /// `bench_probe decode-cpu` output per [`CPU_VARIANTS`] entry.
    pub(super) cpu: Vec<(&'static str, Fields)>,
    /// Load average when the criterion run started.
    pub(super) load: String,
    /// Criterion's measurement time per variant (seconds).
    pub(super) secs: &'static str,
}

/// Runs the `decode` criterion bench and `bench_probe decode-cpu`.
pub(super) fn measure(sh: &Shell, options: Options, probe: &Path) -> Result<Decode> {
    let load = load_average();
    let (cargo, secs) = (crate::cargo_bin(), options.measurement_time());
    cmd!(
        sh,
        "{cargo} bench -p la-feed-bitunix --bench decode -- --warm-up-time 1 --measurement-time {secs}"
    )
    .run()?;
    let mut frames = Vec::new();
    for frame in ["kline", "ticker"] {
        let group = format!("decode_{frame}");
        let [a, b, c, d] = CRITERION_VARIANTS;
        frames.push(FrameEstimates {
            frame,
            variants: [
                criterion_estimate(sh, &group, a)?,
                criterion_estimate(sh, &group, b)?,
                criterion_estimate(sh, &group, c)?,
                criterion_estimate(sh, &group, d)?,
            ],
        });
    }
    let rounds = if options.quick { "3" } else { "7" };
    let output = capture(cmd!(sh, "{probe} decode-cpu --rounds {rounds}"))?;
    let cpu = fields_per_variant(&output, "probe/decode_cpu_", &CPU_VARIANTS)?;
    Ok(Decode {
        frames,
        cpu,
        load,
        secs,
    })
}

impl Decode {
    /// Adds the decode section and its goal rows to `report`.
    pub(super) fn add_to(&self, report: &mut Report) {
        report.add(
            format!(
                "### P1 decode\n\n{}{}",
                self.wall_time_table(),
                self.cpu_time_table()
            ),
            self.goal_rows(),
        );
    }

    /// Criterion's medians per frame kind and variant, with the rate and the 95 % interval.
    fn wall_time_table(&self) -> String {
        let (load, secs) = (&self.load, self.secs);
        let mut s = format!(
            "Criterion, wall time (load {load}; {secs} s per variant; median \
             and 95 % CI). Every variant copies the frame into a reused buffer first.\n\n\
             | Frame | (a) ours, simd-json | (b) ours, serde_json | (c) bare simd-json | (d) bare serde_json | (a)/(c) |\n\
             |---|---|---|---|---|---|\n"
        );
        let cell = |e: &Estimate| {
            format!(
                "{} ({}) [{}–{}]",
                time(e.median),
                rate(1e9 / e.median),
                time(e.low),
                time(e.high)
            )
        };
        for FrameEstimates { frame, variants: v } in &self.frames {
            s.push_str(&format!(
                "| {frame} | {} | {} | {} | {} | {} |\n",
                cell(&v[0]),
                cell(&v[1]),
                cell(&v[2]),
                cell(&v[3]),
                times(v[0].median / v[2].median)
            ));
        }
        s
    }

    /// On-CPU time per frame of the decoding thread: median, best and worst round.
    fn cpu_time_table(&self) -> String {
        let mut s = String::from(
            "\nOn-CPU time of the decoding thread (`bench_probe decode-cpu`; rounds of ≥ 1 s of \
             CPU; median round, best and worst):\n\n\
             | Variant | CPU per frame | frames/s/core (median) | best round | worst round | wall per frame | load |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for (variant, f) in &self.cpu {
            s.push_str(&format!(
                "| `{variant}` | {} | {} | {} | {} | {} | {} |\n",
                time(get(f, "cpu_ns")),
                rate(get(f, "per_s_cpu")),
                rate(get(f, "per_s_cpu_max")),
                rate(get(f, "per_s_cpu_min")),
                time(get(f, "wall_ns")),
                text(f, "load")
            ));
        }
        s
    }

    /// Kline frames per core second against the goal (≥ 5 M/s, floor 3 M/s), and our
    /// decoder's overhead over a bare parse (≤ 3×).
    fn goal_rows(&self) -> Vec<SummaryRow> {
        let mut rows = Vec::new();
        if let Some((_, f)) = self.cpu.iter().find(|(v, _)| *v == "kline_simd_json") {
            let (per_s, best) = (get(f, "per_s_cpu"), get(f, "per_s_cpu_max"));
            let goal = if per_s >= 5e6 {
                "**met**"
            } else if per_s >= 3e6 {
                "floor met, goal missed"
            } else {
                "**missed**"
            };
            rows.push(
                SummaryRow::new(
                    "P1",
                    "kline frames → validated values, per core (CPU time)",
                    format!("{} (best round {})", rate(per_s), rate(best)),
                    "≥ 5 M/s (floor 3 M/s)",
                    goal,
                )
                .against_python(rate(PY_DECODE_PER_S), times(per_s / PY_DECODE_PER_S)),
            );
        }
        if let Some(kline) = self.frames.iter().find(|f| f.frame == "kline") {
            let ratio = kline.variants[0].median / kline.variants[2].median;
            rows.push(SummaryRow::new(
                "P1",
                "our kline decode ÷ bare simd-json parse (same criterion run)",
                times(ratio),
                "≤ 3×",
                verdict(ratio <= 3.0),
            ));
        }
        rows
    }
}
