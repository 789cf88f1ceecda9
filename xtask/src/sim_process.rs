//! The simulator in its own process, the way a session meets the exchange: `laptop-agents
//! sim` started by xtask on a free loopback port, and the session pointed at its URLs with
//! `--source bitunix`.
//!
//! Running the simulator inside the session (`run --source sim`) puts the exchange's work —
//! building a 2 MiB hostile frame, the record file, the market engine — in the measured
//! process: its resident memory and descriptors are then the sum of both. In its own process
//! the simulator keeps its clock and fault timeline while the session is signalled on its own
//! (a `SIGSTOP` suspends the session, not the market: see [`signal`]), as a laptop's session
//! is against the real exchange.
//!
//! The simulator's market is a replay: its virtual clock starts on 2024-01-01 and runs
//! `speed` times faster, so it stays behind the session's wall clock for any soak length and
//! the session's "is this bar complete" test (close time ≤ local now) accepts every bar the
//! simulator has completed. Exchange-clock skew checks are off for the same reason.

use std::{
    path::Path,
    process::{Child, ExitStatus},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use rustix::process::{Pid, Signal, kill_process};

use crate::reliability::{
    path_text, read_text, session_args, spawn_with_console, wait_with_deadline,
};

/// How long the simulator may take to bind its port and print its URLs.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// How long the simulator may take to stop after `SIGINT` (it flushes its record file).
const STOP_WITHIN: Duration = Duration::from_secs(15);

/// What the simulator process serves.
pub(crate) struct SimOptions<'a> {
    /// Virtual ms per wall ms.
    pub(crate) speed: f64,
    /// Candles served over REST before the first push (the session's warm-up fetch).
    pub(crate) history_candles: u64,
    /// `--fault` values (`<virtual offset>@<spec>`, counted from the simulator's start).
    pub(crate) faults: &'a [String],
    /// The record file (`--record`): every frame, candle and fault.
    pub(crate) record: &'a Path,
    /// The simulator stops by itself after this long (`--seconds`), so an xtask that dies
    /// without stopping it leaves no simulator running for long.
    pub(crate) limit: Duration,
}

/// A running `laptop-agents sim`; stopped with [`SimProcess::stop`], killed if dropped
/// while still running.
pub(crate) struct SimProcess {
    child: Child,
    ws_url: String,
    rest_url: String,
}

impl SimProcess {
    /// Starts the simulator with stdout and stderr in `console` and waits until it has
    /// printed its `ws_url=… rest_url=…` line.
    pub(crate) fn start(binary: &Path, options: &SimOptions<'_>, console: &Path) -> Result<Self> {
        let mut args = vec![
            "sim".to_owned(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--speed".into(),
            options.speed.to_string(),
            "--history-candles".into(),
            options.history_candles.to_string(),
            "--record".into(),
            path_text(options.record)?,
            "--seconds".into(),
            options.limit.as_secs().to_string(),
        ];
        for fault in options.faults {
            args.push("--fault".into());
            args.push(fault.clone());
        }
        let mut sim = Self {
            child: spawn_with_console(binary, &args, console)?,
            ws_url: String::new(),
            rest_url: String::new(),
        };
        let started = Instant::now();
        loop {
            let text = read_text(console).unwrap_or_default();
            if let Some((ws_url, rest_url)) = text.lines().find_map(ready_urls) {
                (sim.ws_url, sim.rest_url) = (ws_url, rest_url);
                return Ok(sim);
            }
            if let Some(status) = sim
                .child
                .try_wait()
                .context("cannot wait for the simulator")?
            {
                bail!("the simulator exited with {status} before it listened: {text}");
            }
            if started.elapsed() > READY_WITHIN {
                bail!(
                    "the simulator printed no ws_url line within {} s: {text}",
                    READY_WITHIN.as_secs()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `run` arguments of a session on this simulator as on the exchange (`--source
    /// bitunix` with its URLs) for `duration`, in `workspace`, with the trading
    /// configuration `config`; callers append their own options.
    pub(crate) fn session_args(
        &self,
        duration: &str,
        workspace: &Path,
        config: &Path,
    ) -> Result<Vec<String>> {
        let source = [
            "--source",
            "bitunix",
            "--ws-url",
            &self.ws_url,
            "--rest-url",
            &self.rest_url,
        ];
        session_args(&source, duration, workspace, config)
    }

    /// Stops the simulator as Ctrl-C does (`SIGINT`: it flushes its record file and prints
    /// its counters) and waits for it; fails if it had already exited (it did not run to the
    /// end) or does not exit 0 in time.
    pub(crate) fn stop(mut self) -> Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the simulator had already exited ({status}) before it was asked to stop");
        }
        signal(self.child.id(), Signal::INT)?;
        let status = wait_with_deadline(&mut self.child, STOP_WITHIN)
            .context("the simulator did not stop after SIGINT")?;
        if status.success() {
            Ok(status)
        } else {
            bail!("the simulator exited with {status}")
        }
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The URLs of the simulator's `ws_url=<url> rest_url=<url>` line; `None` for any other line.
fn ready_urls(line: &str) -> Option<(String, String)> {
    let mut ws_url = None;
    let mut rest_url = None;
    for pair in line.split_whitespace() {
        match pair.split_once('=')? {
            ("ws_url", url) if !url.is_empty() => ws_url = Some(url.to_owned()),
            ("rest_url", url) if !url.is_empty() => rest_url = Some(url.to_owned()),
            _ => return None,
        }
    }
    Some((ws_url?, rest_url?))
}

/// Sends `signal` to the process `pid` (a child xtask started: the session or the simulator,
/// each on its own). `Signal::STOP` and `Signal::CONT` suspend and resume a session while the
/// simulator's market runs on.
pub(crate) fn signal(pid: u32, signal: Signal) -> Result<()> {
    let raw = i32::try_from(pid).with_context(|| format!("pid {pid} out of range"))?;
    let target = Pid::from_raw(raw).with_context(|| format!("pid {pid} is not a process"))?;
    kill_process(target, signal).with_context(|| format!("cannot signal pid {pid}"))
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;

    #[test]
    fn the_ready_line_gives_both_urls_and_nothing_else_does() {
        assert_eq!(
            ready_urls("ws_url=ws://127.0.0.1:4100/public/ rest_url=http://127.0.0.1:4100"),
            Some((
                "ws://127.0.0.1:4100/public/".to_owned(),
                "http://127.0.0.1:4100".to_owned()
            ))
        );
        assert_eq!(ready_urls("simulator listening"), None);
        assert_eq!(ready_urls("ws_url=ws://127.0.0.1:4100/public/"), None);
        assert_eq!(ready_urls("ws_url= rest_url=http://x"), None);
        assert_eq!(ready_urls("{\"connections_accepted\":3}"), None);
        assert_eq!(ready_urls(""), None);
    }

    /// A `SimProcess` around any child (the checks of `stop` do not care what it runs).
    fn around(child: Child) -> SimProcess {
        SimProcess {
            child,
            ws_url: String::new(),
            rest_url: String::new(),
        }
    }

    #[test]
    fn stop_passes_only_a_process_that_ran_until_asked_and_exited_zero_on_sigint() {
        use std::io::{BufRead, BufReader};
        // Exits 0 on SIGINT, like the simulator; "ready" once its handler is installed.
        let mut child = Command::new("sh")
            .args([
                "-c",
                "trap 'exit 0' INT; echo ready; while :; do sleep 0.05; done",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n");
        assert!(around(child).stop().unwrap().success());
        // Dies of SIGINT instead of handling it: not a clean stop.
        let err = around(Command::new("sleep").arg("30").spawn().unwrap())
            .stop()
            .unwrap_err();
        assert!(format!("{err:#}").contains("signal: 2"), "{err:#}");
        // Gone before it was asked: it did not run to the end, whatever its status.
        let early = Command::new("true").spawn().unwrap();
        while std::fs::read_to_string(format!("/proc/{}/stat", early.id()))
            .is_ok_and(|stat| !stat.contains(") Z"))
        {
            thread::sleep(Duration::from_millis(5));
        }
        let err = around(early).stop().unwrap_err();
        assert!(format!("{err:#}").contains("already exited"), "{err:#}");
    }

    #[test]
    fn a_stopped_child_resumes_on_cont_and_stops_on_int() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        signal(pid, Signal::STOP).unwrap();
        let state = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit(')').next().map(|r| r.trim().chars().next()))
                .flatten()
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while state() != Some('T') && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(state(), Some('T'), "SIGSTOP did not stop the child");
        signal(pid, Signal::CONT).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while state() == Some('T') && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        assert_ne!(state(), Some('T'), "SIGCONT did not resume the child");
        signal(pid, Signal::INT).unwrap();
        let status = wait_with_deadline(&mut child, Duration::from_secs(5)).unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(2), "{status}");
    }
}
