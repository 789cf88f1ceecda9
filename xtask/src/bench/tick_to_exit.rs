//! P2, tick → exit: how long a ticker frame that crosses the stop takes to become an exit.
//! In process (the `tick_to_exit` bench: HDR percentiles of the timer, the broker, the
//! engine and the whole frame-to-exit path), over real loopback sockets (`bench_probe
//! loopback`: decided, and durably recorded with the write-ahead save) — once with the HTTP
//! surface off and once with it on and ten dashboard event streams open, to show that the
//! operator surface leaves tick → exit unchanged — and the broker's own tick path with an open
//! position (the `tick_path` criterion bench).

use std::path::Path;

use anyhow::Result;
use xshell::{Shell, cmd};

use super::{
    Estimate, Fields, Options, capture, criterion_estimate, fields, fields_per_variant,
    load_average,
    report::{Report, SummaryRow, get, text, time, times, verdict},
    target_dir,
};

/// The Python program's in-process tick → exit latency (p50, p99; ms).
const PY_TICK_P50_MS: f64 = 23.7;
const PY_TICK_P99_MS: f64 = 51.0;
/// The Python program's WebSocket frame → exit latency (p50, p99; ms).
const PY_WS_P50_MS: f64 = 75.6;
const PY_WS_P99_MS: f64 = 101.6;
/// The in-process variants of the `tick_to_exit` bench, in table order.
const IN_PROCESS_VARIANTS: [&str; 4] = ["timer", "broker", "engine", "frame_to_exit"];
/// Dashboard event streams open in the loopback run with the HTTP surface on.
const DASHBOARD_CLIENTS: &str = "10";
/// "Unchanged" for a p99 with dashboards watching: at most this factor of the p99 without …
const UNCHANGED_FACTOR: f64 = 1.1;
/// … plus this many nanoseconds (a 10 % bound alone would call a few tens of µs on a p99 of a
/// few hundred µs a change; this allows for one more synced save in front of a sample).
const UNCHANGED_SLACK_NS: f64 = 1e6;
/// The rule, as the summary shows it.
const UNCHANGED_RULE: &str = "p99 ≤ 1.1 × p99 without + 1 ms";

/// Whether `watched_p99_ns` (HTTP surface on, dashboards open) counts as unchanged from
/// `off_p99_ns` (HTTP surface off): within [`UNCHANGED_FACTOR`] and [`UNCHANGED_SLACK_NS`].
pub(super) fn p99_unchanged(off_p99_ns: f64, watched_p99_ns: f64) -> bool {
    watched_p99_ns <= off_p99_ns * UNCHANGED_FACTOR + UNCHANGED_SLACK_NS
}

/// The three lines of `bench_probe loopback`.
#[derive(Debug)]
pub(super) struct Loopback {
    /// Frame written → exit decided.
    pub(super) decided: Fields,
    /// The same, for frames written while the session was idle.
    pub(super) idle: Fields,
    /// Frame written → exit recorded (state saved, then journaled).
    pub(super) recorded: Fields,
}

impl Loopback {
    /// The three lines of one `bench_probe loopback` output.
    pub(super) fn parse(output: &str) -> Result<Self> {
        Ok(Self {
            decided: fields(output, "probe/loopback_decided ")?,
            idle: fields(output, "probe/loopback_decided_idle ")?,
            recorded: fields(output, "probe/loopback_recorded ")?,
        })
    }
}

/// What P2 measured.
#[derive(Debug)]
pub(super) struct TickToExit {
    /// `tick_to_exit` bench output per [`IN_PROCESS_VARIANTS`] entry.
    pub(super) in_process: Vec<(&'static str, Fields)>,
    /// Load average when the in-process bench started.
    pub(super) load: String,
    /// Samples per in-process variant.
    pub(super) samples: &'static str,
    /// `bench_probe loopback --http off`.
    pub(super) loopback: Loopback,
    /// The same with the HTTP surface on and [`DASHBOARD_CLIENTS`] event streams open.
    pub(super) loopback_watched: Loopback,
    pub(super) loopback_samples: &'static str,
    /// Criterion's `tick_path` estimates: `quiet` and `new_best`.
    pub(super) tick_path: [(&'static str, Estimate); 2],
}

/// Runs the `tick_to_exit` bench, the broker's `tick_path` bench and `bench_probe loopback`.
pub(super) fn measure(sh: &Shell, options: Options, probe: &Path) -> Result<TickToExit> {
    let load = load_average();
    let (cargo, secs) = (crate::cargo_bin(), options.measurement_time());
    let samples = if options.quick { "100000" } else { "200000" };
    let output = capture(cmd!(
        sh,
        "{cargo} bench -p la-session --bench tick_to_exit -- --samples {samples}"
    ))?;
    cmd!(
        sh,
        "{cargo} bench -p la-broker-paper --bench tick_path -- --warm-up-time 1 --measurement-time {secs}"
    )
    .run()?;
    let tick_path = [
        ("quiet", criterion_estimate(sh, "tick_path", "quiet")?),
        ("new_best", criterion_estimate(sh, "tick_path", "new_best")?),
    ];
    let in_process = fields_per_variant(&output, "tick_to_exit/", &IN_PROCESS_VARIANTS)?;
    let loopback_samples = if options.quick { "600" } else { "2000" };
    let dir = target_dir(sh);
    let off = capture(cmd!(
        sh,
        "{probe} loopback --samples {loopback_samples} --speed 1000 --http off --dir {dir}"
    ))?;
    let watched = capture(cmd!(
        sh,
        "{probe} loopback --samples {loopback_samples} --speed 1000 --http loopback --sse-clients {DASHBOARD_CLIENTS} --dir {dir}"
    ))?;
    Ok(TickToExit {
        in_process,
        load,
        samples,
        loopback: Loopback::parse(&off)?,
        loopback_watched: Loopback::parse(&watched)?,
        loopback_samples,
        tick_path,
    })
}

impl TickToExit {
    /// Adds the tick → exit section with its goal rows, then the broker tick path's.
    pub(super) fn add_to(&self, report: &mut Report) {
        report.add(
            format!(
                "### P2 tick → exit\n\n{}{}",
                self.in_process_table(),
                self.loopback_table()
            ),
            self.goal_rows(),
        );
        report.add(
            self.broker_tick_path_section(),
            [self.broker_tick_path_row()],
        );
    }

    /// In-process percentiles per variant.
    fn in_process_table(&self) -> String {
        let (load, samples) = (&self.load, self.samples);
        let mut s = format!(
            "In process (load {load}; {samples} samples per variant after \
             20 000 warm-up samples; HDR histogram):\n\n\
             | Variant | p50 | p90 | p99 | p99.9 | max | mean |\n|---|---|---|---|---|---|---|\n"
        );
        for (variant, f) in &self.in_process {
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
        s
    }

    /// Loopback percentiles per interval, with the disk's own synced-append latency: with
    /// the HTTP surface off, then on with dashboards watching.
    fn loopback_table(&self) -> String {
        let decided = &self.loopback.decided;
        let mut s = format!(
            "\nOver real loopback sockets, HTTP surface off ({} samples, simulator at {}×, load {}; \
             the disk's synced 300-byte append right after: p50 {} µs, p99 {} µs):\n\n",
            self.loopback_samples,
            text(decided, "speed"),
            text(decided, "load"),
            text(decided, "fsync_p50_us"),
            text(decided, "fsync_p99_us")
        );
        s.push_str(&Self::interval_rows(&self.loopback));
        let decided = &self.loopback_watched.decided;
        s.push_str(&format!(
            "\nThe same with the HTTP surface on and {} dashboard event streams open ({} bytes \
             streamed; load {}; synced append p50 {} µs, p99 {} µs):\n\n",
            text(decided, "sse_clients"),
            text(decided, "sse_bytes"),
            text(decided, "load"),
            text(decided, "fsync_p50_us"),
            text(decided, "fsync_p99_us")
        ));
        s.push_str(&Self::interval_rows(&self.loopback_watched));
        s
    }

    /// One loopback run's percentiles per interval.
    fn interval_rows(run: &Loopback) -> String {
        let Loopback {
            decided,
            idle,
            recorded,
        } = run;
        let mut s =
            "| Interval | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|\n".to_owned();
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
        s
    }

    /// Frame written → exit decided with dashboards watching against the HTTP surface off:
    /// p50 / p99 of each, the p99 ratio, and whether the p99 is unchanged
    /// ([`p99_unchanged`]).
    fn dashboards_row(&self) -> SummaryRow {
        let (off, watched) = (&self.loopback.decided, &self.loopback_watched.decided);
        let ns = |f: &Fields, key: &str| get(f, key) * 1e3;
        let (off_p99, watched_p99) = (ns(off, "p99_us"), ns(watched, "p99_us"));
        SummaryRow::new(
            "P2",
            format!(
                "loopback: frame written → exit decided with {} dashboard streams open vs HTTP off (p50 / p99)",
                text(watched, "sse_clients")
            ),
            format!(
                "{} / {} vs {} / {} (p99 {})",
                time(ns(watched, "p50_us")),
                time(watched_p99),
                time(ns(off, "p50_us")),
                time(off_p99),
                times(watched_p99 / off_p99)
            ),
            UNCHANGED_RULE,
            verdict(p99_unchanged(off_p99, watched_p99)),
        )
    }

    /// In process p99 ≤ 20 µs; over loopback p99 ≤ 1 ms; each against the Python figures.
    fn goal_rows(&self) -> Vec<SummaryRow> {
        let mut rows = Vec::new();
        if let Some((_, f)) = self.in_process.iter().find(|(v, _)| *v == "frame_to_exit") {
            let (p50, p99) = (get(f, "p50_ns"), get(f, "p99_ns"));
            rows.push(
                SummaryRow::new(
                    "P2",
                    "ticker frame bytes → exit event, in process (p50 / p99)",
                    format!("{} / {}", time(p50), time(p99)),
                    "p99 ≤ 20 µs",
                    verdict(p99 <= 20_000.0),
                )
                .against_python(
                    format!("{PY_TICK_P50_MS} / {PY_TICK_P99_MS} ms"),
                    format!(
                        "{} / {}",
                        times(PY_TICK_P50_MS * 1e6 / p50),
                        times(PY_TICK_P99_MS * 1e6 / p99)
                    ),
                ),
            );
        }
        let Loopback {
            decided,
            idle,
            recorded,
        } = &self.loopback;
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
            rows.push(
                SummaryRow::new(
                    "P2",
                    name,
                    format!("{} / {}", time(p50), time(p99)),
                    "p99 ≤ 1 ms",
                    verdict(p99 <= 1e6),
                )
                .against_python(
                    format!("{PY_WS_P50_MS} / {PY_WS_P99_MS} ms"),
                    format!(
                        "{} / {}",
                        times(PY_WS_P50_MS * 1e6 / p50),
                        times(PY_WS_P99_MS * 1e6 / p99)
                    ),
                ),
            );
        }
        rows.push(self.dashboards_row());
        rows
    }

    /// The broker's tick path with an open position, per case.
    fn broker_tick_path_section(&self) -> String {
        let load = &self.load;
        let mut s = format!(
            "### Broker tick path with an open position (issue 4; `la-broker-paper` bench \
             `tick_path`, criterion wall time, load {load})\n\n\
             | Case | per tick (median) | 95 % CI |\n|---|---|---|\n"
        );
        for (name, e) in &self.tick_path {
            s.push_str(&format!(
                "| `{name}` | {} | {}–{} |\n",
                time(e.median),
                time(e.low),
                time(e.high)
            ));
        }
        s
    }

    /// The worst tick-path case against its 1 µs goal.
    fn broker_tick_path_row(&self) -> SummaryRow {
        let worst = self
            .tick_path
            .iter()
            .map(|(_, e)| e.median)
            .fold(0.0_f64, f64::max);
        SummaryRow::new(
            "issue 4",
            "broker tick path, open position (worst case: trailing ratchet)",
            time(worst),
            "≤ 1 µs",
            verdict(worst <= 1_000.0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::p99_unchanged;

    #[test]
    fn a_p99_within_a_tenth_plus_a_millisecond_is_unchanged() {
        assert!(p99_unchanged(400_000.0, 400_000.0));
        assert!(p99_unchanged(400_000.0, 1_440_000.0), "1.1 × 400 µs + 1 ms");
        assert!(!p99_unchanged(400_000.0, 1_441_000.0));
        assert!(
            p99_unchanged(20e6, 23e6),
            "10 % of a large p99 is noise too"
        );
        assert!(!p99_unchanged(20e6, 23.1e6));
        assert!(
            !p99_unchanged(f64::NAN, 1.0),
            "a missing figure is never unchanged"
        );
    }
}
