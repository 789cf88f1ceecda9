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
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
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
