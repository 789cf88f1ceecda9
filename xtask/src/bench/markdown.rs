//! Renders the results of `cargo xtask bench` as the generated section of `BENCHMARKS.md`:
//! a summary against the goals and the Python program's figures (quoted from issue 8), one
//! detail table per measurement with its load average, and the exact commands.

use super::{Estimate, Options, field};

/// Marker lines around the generated section; text outside them is kept as written.
pub(crate) const BEGIN: &str = "<!-- xtask-bench:begin -->";
pub(crate) const END: &str = "<!-- xtask-bench:end -->";

// The Python program's figures, quoted from issue 8 (medians on this kind of machine).
const PY_DECODE_PER_S: f64 = 138_000.0;
const PY_TICK_P50_MS: f64 = 23.7;
const PY_TICK_P99_MS: f64 = 51.0;
const PY_WS_P50_MS: f64 = 75.6;
const PY_WS_P99_MS: f64 = 101.6;
const PY_BACKTEST_PER_S: f64 = 876.0;
const PY_RSS_MIB: f64 = 55.7;
const PY_CPU_S_PER_MIN: f64 = 1.55;
const PY_VERSION_MS: f64 = 320.0;

type Fields = Vec<(String, String)>;

/// The three lines of `bench_probe loopback`.
#[derive(Debug)]
pub(crate) struct Loopback {
    pub(crate) decided: Fields,
    pub(crate) idle: Fields,
    pub(crate) recorded: Fields,
}

/// Collected results.
#[derive(Debug)]
pub(crate) struct Report {
    options: Options,
    summary: Vec<String>,
    sections: Vec<String>,
}

pub(crate) fn time(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

pub(crate) fn rate(per_s: f64) -> String {
    if per_s >= 1e6 {
        format!("{:.2} M/s", per_s / 1e6)
    } else if per_s >= 1e3 {
        format!("{:.1} k/s", per_s / 1e3)
    } else {
        format!("{per_s:.0}/s")
    }
}

pub(crate) fn times(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}×")
    } else if x >= 10.0 {
        format!("{x:.1}×")
    } else {
        format!("{x:.2}×")
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "**met**" } else { "**missed**" }
}

fn get(fields: &Fields, key: &str) -> f64 {
    field(fields, key).unwrap_or(f64::NAN)
}

fn text<'a>(fields: &'a Fields, key: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map_or("?", |(_, v)| v.as_str())
}

impl Report {
    pub(crate) fn new(options: Options) -> Self {
        Self {
            options,
            summary: Vec::new(),
            sections: Vec::new(),
        }
    }

    fn row(&mut self, cells: &[&str]) {
        self.summary.push(format!("| {} |", cells.join(" | ")));
    }

    pub(crate) fn p1(
        &mut self,
        frames: &[(&str, Vec<Estimate>)],
        cpu: &[(&str, Fields)],
        load: &str,
        secs: &str,
    ) {
        let mut s = format!(
            "### P1 decode\n\nCriterion, wall time (load {load}; {secs} s per variant; median \
             and 95 % CI). Every variant copies the frame into a reused buffer first.\n\n\
             | Frame | (a) ours, simd-json | (b) ours, serde_json | (c) bare simd-json | (d) bare serde_json | (a)/(c) |\n\
             |---|---|---|---|---|---|\n"
        );
        for (frame, v) in frames {
            let cell = |e: &Estimate| {
                format!(
                    "{} ({}) [{}–{}]",
                    time(e.median),
                    rate(1e9 / e.median),
                    time(e.low),
                    time(e.high)
                )
            };
            s.push_str(&format!(
                "| {frame} | {} | {} | {} | {} | {} |\n",
                cell(&v[0]),
                cell(&v[1]),
                cell(&v[2]),
                cell(&v[3]),
                times(v[0].median / v[2].median)
            ));
        }
        s.push_str(
            "\nOn-CPU time of the decoding thread (`bench_probe decode-cpu`; rounds of ≥ 1 s of \
             CPU; median round, best and worst):\n\n\
             | Variant | CPU per frame | frames/s/core (median) | best round | worst round | wall per frame | load |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for (variant, f) in cpu {
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
        self.sections.push(s);
        if let Some((_, f)) = cpu.iter().find(|(v, _)| *v == "kline_simd_json") {
            let (per_s, best) = (get(f, "per_s_cpu"), get(f, "per_s_cpu_max"));
            let goal = if per_s >= 5e6 {
                "**met**"
            } else if per_s >= 3e6 {
                "floor met, goal missed"
            } else {
                "**missed**"
            };
            self.row(&[
                "P1",
                "kline frames → validated values, per core (CPU time)",
                &format!("{} (best round {})", rate(per_s), rate(best)),
                "≥ 5 M/s (floor 3 M/s)",
                goal,
                &rate(PY_DECODE_PER_S),
                &times(per_s / PY_DECODE_PER_S),
            ]);
        }
        if let Some((_, v)) = frames.iter().find(|(f, _)| *f == "kline") {
            let ratio = v[0].median / v[2].median;
            self.row(&[
                "P1",
                "our kline decode ÷ bare simd-json parse (same criterion run)",
                &times(ratio),
                "≤ 3×",
                verdict(ratio <= 3.0),
                "",
                "",
            ]);
        }
    }

    pub(crate) fn tick_path(&mut self, variants: &[(&str, Estimate)], load: &str) {
        let mut s = format!(
            "### Broker tick path with an open position (issue 4; `la-broker-paper` bench \
             `tick_path`, criterion wall time, load {load})\n\n\
             | Case | per tick (median) | 95 % CI |\n|---|---|---|\n"
        );
        for (name, e) in variants {
            s.push_str(&format!(
                "| `{name}` | {} | {}–{} |\n",
                time(e.median),
                time(e.low),
                time(e.high)
            ));
        }
        self.sections.push(s);
        let worst = variants
            .iter()
            .map(|(_, e)| e.median)
            .fold(0.0_f64, f64::max);
        self.row(&[
            "issue 4",
            "broker tick path, open position (worst case: trailing ratchet)",
            &time(worst),
            "≤ 1 µs",
            verdict(worst <= 1_000.0),
            "",
            "",
        ]);
    }

    pub(crate) fn p2(
        &mut self,
        in_process: &[(&str, Fields)],
        load: &str,
        samples: &str,
        loopback: &Loopback,
        loopback_samples: &str,
    ) {
        let (decided, idle, recorded) = (&loopback.decided, &loopback.idle, &loopback.recorded);
        let mut s = format!(
            "### P2 tick → exit\n\nIn process (load {load}; {samples} samples per variant after \
             20 000 warm-up samples; HDR histogram):\n\n\
             | Variant | p50 | p90 | p99 | p99.9 | max | mean |\n|---|---|---|---|---|---|---|\n"
        );
        for (variant, f) in in_process {
            s.push_str(&format!(
                "| `{variant}` | {} | {} | {} | {} | {} | {} |\n",
                time(get(f, "p50_ns")),
                time(get(f, "p90_ns")),
                time(get(f, "p99_ns")),
                time(get(f, "p999_ns")),
                time(get(f, "max_ns")),
                time(get(f, "mean_ns"))
            ));
        }
        s.push_str(&format!(
            "\nOver real loopback sockets ({loopback_samples} samples, simulator at {}×, load {}; \
             the disk's synced 300-byte append right after: p50 {} µs, p99 {} µs):\n\n\
             | Interval | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|\n",
            text(decided, "speed"),
            text(decided, "load"),
            text(decided, "fsync_p50_us"),
            text(decided, "fsync_p99_us")
        ));
        for (name, f) in [
            ("frame written → exit decided", decided),
            (
                "… of which frames written while the session was idle (no save in progress)",
                idle,
            ),
            (
                "frame written → exit recorded (write-ahead state save, then journal)",
                recorded,
            ),
        ] {
            s.push_str(&format!(
                "| {name} | {} | {} | {} | {} | {} |\n",
                time(get(f, "p50_us") * 1e3),
                time(get(f, "p90_us") * 1e3),
                time(get(f, "p99_us") * 1e3),
                time(get(f, "p999_us") * 1e3),
                time(get(f, "max_us") * 1e3)
            ));
        }
        self.sections.push(s);
        if let Some((_, f)) = in_process.iter().find(|(v, _)| *v == "frame_to_exit") {
            let (p50, p99) = (get(f, "p50_ns"), get(f, "p99_ns"));
            self.row(&[
                "P2",
                "ticker frame bytes → exit event, in process (p50 / p99)",
                &format!("{} / {}", time(p50), time(p99)),
                "p99 ≤ 20 µs",
                verdict(p99 <= 20_000.0),
                &format!("{PY_TICK_P50_MS} / {PY_TICK_P99_MS} ms"),
                &format!(
                    "{} / {}",
                    times(PY_TICK_P50_MS * 1e6 / p50),
                    times(PY_TICK_P99_MS * 1e6 / p99)
                ),
            ]);
        }
        for (name, f) in [
            (
                "loopback: frame written → exit decided (p50 / p99)",
                decided,
            ),
            (
                "loopback: the same, session idle when the frame was written (p50 / p99)",
                idle,
            ),
            (
                "loopback: frame written → exit recorded: state saved + journaled (p50 / p99)",
                recorded,
            ),
        ] {
            let (p50, p99) = (get(f, "p50_us") * 1e3, get(f, "p99_us") * 1e3);
            self.row(&[
                "P2",
                name,
                &format!("{} / {}", time(p50), time(p99)),
                "p99 ≤ 1 ms",
                verdict(p99 <= 1e6),
                &format!("{PY_WS_P50_MS} / {PY_WS_P99_MS} ms"),
                &format!(
                    "{} / {}",
                    times(PY_WS_P50_MS * 1e6 / p50),
                    times(PY_WS_P99_MS * 1e6 / p99)
                ),
            ]);
        }
    }

    pub(crate) fn p3(
        &mut self,
        candles: f64,
        variants: &[(&str, Estimate)],
        cpu: &[(&str, Fields)],
        walls: &[f64],
        trades: f64,
        load: &str,
    ) {
        let secs = self.options.measurement_time();
        let mut s = format!(
            "### P3 backtest ({candles:.0} real candles; load {load}; criterion, {secs} s; median, 95 % CI)\n\n\
             | Variant | one pass | candles/s | CI |\n|---|---|---|---|\n"
        );
        for (name, e) in variants {
            s.push_str(&format!(
                "| `{name}` | {} | {} | {}–{} |\n",
                time(e.median),
                rate(candles * 1e9 / e.median),
                rate(candles * 1e9 / e.high),
                rate(candles * 1e9 / e.low)
            ));
        }
        s.push_str(
            "\nOn-CPU time of the replaying thread (`bench_probe backtest-cpu`; whole passes, \
             rounds of ≥ 1 s of CPU; median round, best and worst):\n\n\
             | Variant | CPU per pass | candles/s/core (median) | best round | worst round | load |\n\
             |---|---|---|---|---|---|\n",
        );
        for (variant, f) in cpu {
            s.push_str(&format!(
                "| `{variant}` | {} | {} | {} | {} | {} |\n",
                time(get(f, "cpu_ns")),
                rate(get(f, "per_s_cpu")),
                rate(get(f, "per_s_cpu_max")),
                rate(get(f, "per_s_cpu_min")),
                text(f, "load")
            ));
        }
        let mut sorted = walls.to_vec();
        sorted.sort_by(f64::total_cmp);
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
        let (min, max) = (
            sorted.first().copied().unwrap_or(f64::NAN),
            sorted.last().copied().unwrap_or(f64::NAN),
        );
        s.push_str(&format!(
            "\n`laptop-agents backtest --json --data <file>` (whole command: gunzip and parse \
             the CSV, replay, write the run directory; {} runs, {trades:.0} trades): median \
             {median:.3} s (min {min:.3} s, max {max:.3} s), i.e. {} end to end.\n",
            walls.len(),
            rate(candles / median)
        ));
        self.sections.push(s);
        if let Some((_, f)) = cpu.iter().find(|(n, _)| *n == "setups_waypoints") {
            let (per_s, best) = (get(f, "per_s_cpu"), get(f, "per_s_cpu_max"));
            let wall = variants
                .iter()
                .find(|(n, _)| *n == "setups_waypoints")
                .map_or(f64::NAN, |(_, e)| candles * 1e9 / e.median);
            self.row(&[
                "P3",
                "backtest, setups + broker, candles/s/core (CPU time; criterion wall in brackets)",
                &format!(
                    "{} (best round {}; wall {})",
                    rate(per_s),
                    rate(best),
                    rate(wall)
                ),
                "≥ 2 M/s",
                verdict(per_s >= 2e6),
                &rate(PY_BACKTEST_PER_S),
                &times(per_s / PY_BACKTEST_PER_S),
            ]);
            self.row(&[
                "P3",
                "`laptop-agents backtest --json`, whole command",
                &format!("{median:.3} s ({min:.3}–{max:.3} s)"),
                "—",
                "",
                &format!("{:.0} s", candles / PY_BACKTEST_PER_S),
                &times(candles / PY_BACKTEST_PER_S / median),
            ]);
        }
    }

    pub(crate) fn p4(&mut self, runs: &[Fields]) {
        let mut s = "### P4 footprint (live session as a child process; `/proc/<pid>` while it runs)\n\n\
             | Simulator | Speed | Virtual min | Wall | Frames | Peak RSS | CPU | CPU / 10 virtual min | Incl. shutdown: peak RSS, CPU | Exit | Load |\n\
             |---|---|---|---|---|---|---|---|---|---|---|\n"
            .to_owned();
        for f in runs {
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
        self.sections.push(s);
        let external = |speed: f64, minutes: f64| {
            runs.iter().find(|f| {
                text(f, "mode") == "external"
                    && get(f, "speed") == speed
                    && get(f, "virtual_min") == minutes
            })
        };
        let peak = runs
            .iter()
            .filter(|f| text(f, "mode") == "external")
            .map(|f| get(f, "peak_rss_with_shutdown_mib"))
            .fold(0.0_f64, f64::max);
        self.row(&[
            "P4",
            "peak RSS of a live session (largest external run, shutdown included)",
            &format!("{peak:.1} MiB"),
            "≤ 20 MiB",
            verdict(peak <= 20.0),
            &format!("{PY_RSS_MIB} MiB"),
            &times(PY_RSS_MIB / peak),
        ]);
        let (cpu, label) = match external(1.0, 10.0) {
            Some(f) => (get(f, "cpu_s"), "10 min at the real push rate"),
            None => (
                runs.iter()
                    .find(|f| text(f, "mode") == "external" && get(f, "virtual_min") == 10.0)
                    .map_or(f64::NAN, |f| get(f, "cpu_s")),
                "10 min of messages, accelerated (real-rate run: `--p4-real-rate`)",
            ),
        };
        self.row(&[
            "P4",
            &format!("CPU seconds, {label}"),
            &format!("{cpu:.2} s"),
            "≤ 1 s",
            verdict(cpu <= 1.0),
            "",
            "",
        ]);
        if let Some(f) = external(1.0, 1.0) {
            let cpu = get(f, "cpu_s_with_shutdown");
            self.row(&[
                "P4",
                "one-minute session at the real rate: CPU (start-up and shutdown included)",
                &format!("{cpu:.2} s"),
                "—",
                "",
                &format!("{PY_CPU_S_PER_MIN} s"),
                &times(PY_CPU_S_PER_MIN / cpu.max(0.01)),
            ]);
        }
    }

    pub(crate) fn p5(
        &mut self,
        version_ms: &[f64],
        load: &str,
        connect: &Fields,
        subscribe: &Fields,
    ) {
        let q = |x: f64| {
            let i = ((version_ms.len().max(1) - 1) as f64 * x).round() as usize;
            version_ms.get(i).copied().unwrap_or(f64::NAN)
        };
        let s = format!(
            "### P5 start-up\n\n\
             | Measure | Runs | Median | Min | p90 | Max | Load |\n|---|---|---|---|---|---|---|\n\
             | `laptop-agents --version` (spawn → exit) | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {load} |\n\
             | process start → WebSocket accepted by the simulator | {} | {} ms | {} ms | {} ms | {} ms | {} |\n\
             | process start → subscribe received by the simulator | {} | {} ms | {} ms | {} ms | {} ms | {} |\n",
            version_ms.len(),
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
        );
        self.sections.push(s);
        self.row(&[
            "P5",
            "`laptop-agents --version`",
            &format!("{:.2} ms (p90 {:.2} ms)", q(0.5), q(0.9)),
            "≤ 5 ms",
            verdict(q(0.5) <= 5.0),
            &format!("{PY_VERSION_MS:.0} ms"),
            &times(PY_VERSION_MS / q(0.5)),
        ]);
        let median = get(subscribe, "median_ms");
        self.row(&[
            "P5",
            "process start → first subscribe, local simulator",
            &format!("{median:.1} ms (p90 {} ms)", text(subscribe, "p90_ms")),
            "≤ 50 ms",
            verdict(median <= 50.0),
            "",
            "",
        ]);
    }

    /// The generated section, markers included.
    pub(crate) fn render(&self, commit: &str, machine: &str) -> String {
        let mode = if self.options.quick {
            "`cargo xtask bench --quick`"
        } else {
            "`cargo xtask bench`"
        };
        let mut out = format!(
            "{BEGIN}\n## Results\n\nGenerated by {mode}; do not edit between the markers.\n\n\
             - Machine: {machine}; release profile.\n- Commit: {commit}.\n\
             - The machine is shared: each table carries the 1-minute load average seen when its \
             measurement started. Compare figures within one run, not across runs.\n\n\
             ### Summary\n\n\
             | | Measure | Ours (median) | Goal | Verdict | Python (issue 8) | Ratio (times better) |\n\
             |---|---|---|---|---|---|---|\n"
        );
        for row in &self.summary {
            out.push_str(row);
            out.push('\n');
        }
        for section in &self.sections {
            out.push('\n');
            out.push_str(section);
        }
        out.push_str(&format!("\n{}\n{END}\n", COMMANDS.trim_end()));
        out
    }
}

const COMMANDS: &str = "### Commands\n\n```sh
cargo bench -p la-feed-bitunix --bench decode -- --warm-up-time 1 --measurement-time 5
cargo bench -p la-session --bench tick_to_exit -- --samples 200000
cargo run --release -p la-session --example bench_probe -- loopback --samples 2000 --speed 1000
cargo bench -p la-session --bench backtest -- --warm-up-time 1 --measurement-time 5
laptop-agents backtest --json --data ../shared/data/candles/binance_spot_btcusdt_1m_2021-04-20_2021-05-20.csv.gz
cargo run --release -p la-session --example bench_probe -- footprint --bin target/release/laptop-agents --mode external --speed 10 --virtual-minutes 10
cargo run --release -p la-session --example bench_probe -- footprint --bin target/release/laptop-agents --mode in-process --speed 10 --virtual-minutes 10
cargo run --release -p la-session --example bench_probe -- footprint --bin target/release/laptop-agents --mode external --speed 1 --virtual-minutes 1
target/release/laptop-agents --version   # 200 timed runs after 10 warm-up runs, in xtask
cargo run --release -p la-session --example bench_probe -- first-subscribe --bin target/release/laptop-agents --runs 30
```
";

/// Replaces the generated section of `current` with `section` (appending it if absent).
pub(crate) fn splice(current: &str, section: &str) -> anyhow::Result<String> {
    match (current.find(BEGIN), current.find(END)) {
        (Some(begin), Some(end)) if begin < end => {
            let after = end + END.len();
            let rest = current[after..]
                .strip_prefix('\n')
                .unwrap_or(&current[after..]);
            Ok(format!("{}{section}{rest}", &current[..begin]))
        }
        (None, None) => Ok(format!("{}\n\n{section}", current.trim_end())),
        _ => anyhow::bail!("BENCHMARKS.md has unbalanced {BEGIN} / {END} markers"),
    }
}

#[cfg(test)]
mod tests;
