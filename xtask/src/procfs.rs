//! Resource readings of another process from `/proc` (Linux): open file descriptors and
//! resident memory, sampled by the soak test while the session runs.

use std::{fs, time::Duration};

/// One reading of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sample {
    /// Time since the process started (wall clock, as measured by the sampler).
    pub(crate) elapsed: Duration,
    /// Entries in `/proc/<pid>/fd`.
    pub(crate) fds: usize,
    /// `VmRSS` from `/proc/<pid>/status`, in KiB.
    pub(crate) rss_kib: u64,
}

/// Open file descriptors of `pid`, or `None` once the process is gone.
pub(crate) fn open_fds(pid: u32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Resident set size of `pid` in KiB, or `None` once the process is gone.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    vm_rss_kib(&status)
}

/// The `VmRSS:` value of a `/proc/<pid>/status` text, in KiB.
pub(crate) fn vm_rss_kib(status: &str) -> Option<u64> {
    status_kib(status, "VmRSS:")
}

/// The value of the `key` line (`VmRSS:`, `VmHWM:`) of a `/proc/<pid>/status` text, in KiB.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The peak resident set (`VmHWM:` of `/proc/<pid>/status`) of `pid` in KiB, or `None`
/// once the process is gone or has exited (a zombie has no memory map).
pub(crate) fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(
        &fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        "VmHWM:",
    )
}

/// A process's state letter and its CPU time (user + system) from `/proc/<pid>/stat`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct CpuReading {
    /// `R`, `S`, … ; `Z` once it has exited and waits to be reaped (its times are final).
    pub(crate) state: char,
    /// `utime + stime`, in seconds (the kernel counts them in 1/100 s).
    pub(crate) cpu_s: f64,
}

/// Reads `/proc/<pid>/stat`, or `None` once the process is reaped.
pub(crate) fn cpu_reading(pid: u32) -> Option<CpuReading> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The state and CPU time of a `/proc/<pid>/stat` line. The fields after the parenthesised
/// command name (which may itself hold spaces and parentheses) start with the state; utime
/// and stime are the 14th and 15th fields of the line.
pub(crate) fn parse_stat(stat: &str) -> Option<CpuReading> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some(CpuReading {
        state: fields.first()?.chars().next()?,
        cpu_s: (ticks(11)? + ticks(12)?) as f64 / 100.0,
    })
}

/// Both readings of `pid` at `elapsed`, or `None` if the process is gone.
pub(crate) fn sample(pid: u32, elapsed: Duration) -> Option<Sample> {
    Some(Sample {
        elapsed,
        fds: open_fds(pid)?,
        rss_kib: rss_kib(pid)?,
    })
}

/// What the samples say about leaks, judged from the first sample at or after `warm_up`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Trend {
    /// The first sample after warm-up.
    pub(crate) baseline: Sample,
    /// Largest fd count after warm-up.
    pub(crate) max_fds: usize,
    /// fd count of the last sample.
    pub(crate) last_fds: usize,
    /// Largest RSS after warm-up (KiB).
    pub(crate) max_rss_kib: u64,
}

impl Trend {
    /// `None` when no sample was taken after `warm_up`.
    pub(crate) fn of(samples: &[Sample], warm_up: Duration) -> Option<Trend> {
        let after: Vec<&Sample> = samples.iter().filter(|s| s.elapsed >= warm_up).collect();
        let baseline = **after.first()?;
        Some(Trend {
            baseline,
            max_fds: after.iter().map(|s| s.fds).max()?,
            last_fds: after.last()?.fds,
            max_rss_kib: after.iter().map(|s| s.rss_kib).max()?,
        })
    }

    /// Growth of the largest RSS over the baseline, in percent.
    pub(crate) fn rss_growth_percent(&self) -> f64 {
        if self.baseline.rss_kib == 0 {
            return 0.0;
        }
        let growth = self.max_rss_kib.saturating_sub(self.baseline.rss_kib);
        // Precision loss is irrelevant at these magnitudes (KiB of a process).
        #[allow(clippy::cast_precision_loss)]
        let percent = growth as f64 * 100.0 / self.baseline.rss_kib as f64;
        percent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64, fds: usize, rss_kib: u64) -> Sample {
        Sample {
            elapsed: Duration::from_secs(secs),
            fds,
            rss_kib,
        }
    }

    #[test]
    fn this_process_has_descriptors_and_memory() {
        let pid = std::process::id();
        assert!(open_fds(pid).unwrap() >= 3);
        assert!(rss_kib(pid).unwrap() > 0);
        assert_eq!(sample(u32::MAX, Duration::ZERO), None);
    }

    #[test]
    fn the_state_and_cpu_time_come_after_the_command_name_whatever_it_holds() {
        let stat = "4242 (sweep (x) y) Z 1 2 3 4 5 6 7 8 9 10 250 31 0 0 20 0 1 0";
        assert_eq!(
            parse_stat(stat),
            Some(CpuReading {
                state: 'Z',
                cpu_s: 2.81
            })
        );
        assert_eq!(parse_stat("4242 (x) R 1 2"), None);
        let own = cpu_reading(std::process::id()).unwrap();
        // The thread-group leader: running, or waiting for the test thread.
        assert!(matches!(own.state, 'R' | 'S'), "{own:?}");
        assert!(peak_rss_kib(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn vm_rss_is_read_from_the_status_text() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(vm_rss_kib(status), Some(12_345));
        assert_eq!(vm_rss_kib("Name:\tx\n"), None);
    }

    #[test]
    fn the_trend_starts_at_the_first_sample_after_warm_up() {
        let samples = [
            s(0, 5, 100),
            s(5, 20, 900),
            s(30, 21, 1000),
            s(35, 22, 1080),
            s(40, 21, 1050),
        ];
        let trend = Trend::of(&samples, Duration::from_secs(30)).unwrap();
        assert_eq!(trend.baseline, samples[2]);
        assert_eq!(trend.max_fds, 22);
        assert_eq!(trend.last_fds, 21);
        assert_eq!(trend.max_rss_kib, 1080);
        assert!((trend.rss_growth_percent() - 8.0).abs() < 1e-9);
        assert_eq!(Trend::of(&samples, Duration::from_secs(60)), None);
    }
}
