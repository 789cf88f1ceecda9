//! The process-level probes: P5 start-up (process start → first subscribe) and P4
//! footprint (peak RSS and CPU seconds of a live session), both measured on the real
//! `laptop-agents` binary as a child process.
//!
//! The simulator runs in this probe process (so its work is not charged to the session),
//! on generated candles whose virtual clock starts at the current wall time, so the
//! session's own wall clock and the exchange timeline agree as they would live. The session
//! is `laptop-agents run --source bitunix --ws-url ws://127.0.0.1:PORT/public/ --rest-url
//! http://127.0.0.1:PORT --max-clock-skew off` (skew off only because an accelerated
//! simulator runs ahead of the wall clock).
//!
//! The footprint runs with the session's HTTP surface off (`--http off`), on (loopback, an
//! ephemeral port) or on with dashboard clients: that many server-sent-event streams
//! (`GET /events`, what an open dashboard tab holds) opened as soon as the session's
//! heartbeat names its URL and read to the end on plain threads of this process, so what
//! the dashboard, metrics and event fan-out cost the session shows against `--http off`.
//!
//! Memory and CPU come from `/proc/<pid>/status` (`VmHWM`, the peak resident set) and
//! `/proc/<pid>/stat` (`utime + stime`, in the kernel's fixed 100 Hz USER_HZ ticks, dead
//! threads included), read while the child is alive — no `wait4`, which would need `unsafe`.
//! A session uses about a millisecond of CPU a second, so what its HTTP surface adds is a few
//! of those 10 ms ticks over minutes: the CPU is also summed with nanosecond resolution from
//! each thread's `/proc/<pid>/task/<tid>/schedstat` ([`ThreadCpu`]), and the HTTP rows compare
//! that sum.

use std::{
    collections::HashMap,
    io::{Read, Write},
    net::TcpStream,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use la_bitunix_sim::{MarketData, SimConfig, SimHandle};
use la_core::{Decimal, TimestampMs};

use crate::{cpu::schedstat_cpu_ns, load_average};

/// Candles of REST history before the virtual start (the session's warm-up fetch).
const HISTORY: u64 = 200;
/// `/proc/<pid>/stat` times are in USER_HZ, which is 100 on every Linux ABI.
const USER_HZ: f64 = 100.0;

fn wall_minute_ms() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    now - now.rem_euclid(60_000)
}

fn start_sim(
    runtime: &tokio::runtime::Runtime,
    speed: f64,
    minutes: u64,
) -> Result<SimHandle, String> {
    let history_ms = HISTORY as i64 * 60_000;
    let first_open = TimestampMs::new(wall_minute_ms() - history_ms).map_err(|e| e.to_string())?;
    let config = SimConfig {
        data: MarketData::Generated {
            seed: 7,
            start_price: Decimal::from(60_000),
            start_time: first_open,
            n_candles: (HISTORY + minutes + 30) as usize,
        },
        speed,
        history_candles: HISTORY,
        ..SimConfig::default()
    };
    runtime
        .block_on(la_bitunix_sim::start(config))
        .map_err(|e| format!("simulator: {e}"))
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

fn session_command(bin: &Path, sim: Option<&SimHandle>, workspace: &Path) -> Command {
    let mut command = Command::new(bin);
    command.arg("run");
    match sim {
        Some(sim) => {
            command.args(["--source", "bitunix", "--ws-url"]);
            command.arg(sim.ws_url());
            command.arg("--rest-url");
            command.arg(sim.rest_url());
        }
        None => {
            command.args(["--source", "sim"]);
        }
    }
    command
        .args([
            "--max-clock-skew",
            "off",
            "--duration",
            "off",
            "--workspace",
        ])
        .arg(workspace)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn stop_child(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// P5: process start → the simulator has the session's subscribe frame, over `runs` runs.
pub(crate) fn first_subscribe(bin: &Path, runs: usize, dir: &Path) -> Result<(), String> {
    let runtime = runtime()?;
    let sim = start_sim(&runtime, 1.0, 60)?;
    let (mut to_connect, mut to_subscribe) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let workspace = dir.join(format!("ws-{run}"));
        let before = sim.stats();
        let start = Instant::now();
        let mut child = session_command(bin, Some(&sim), &workspace)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut connected = None;
        let subscribed = loop {
            let stats = sim.stats();
            if connected.is_none() && stats.connections_accepted > before.connections_accepted {
                connected = Some(start.elapsed());
            }
            if stats.client_frames > before.client_frames {
                break Some(start.elapsed());
            }
            if start.elapsed() > Duration::from_secs(10) {
                break None;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("the session exited early: {status}"));
            }
            std::thread::sleep(Duration::from_micros(100));
        };
        stop_child(&mut child);
        let subscribed = subscribed.ok_or("no subscribe within 10 s")?;
        to_connect.push(connected.unwrap_or(subscribed).as_secs_f64() * 1e3);
        to_subscribe.push(subscribed.as_secs_f64() * 1e3);
        // Let the simulator see the close before the next run's baseline.
        std::thread::sleep(Duration::from_millis(200));
    }
    for values in [&mut to_connect, &mut to_subscribe] {
        values.sort_by(f64::total_cmp);
    }
    for (name, values) in [
        ("startup_connect", &to_connect),
        ("startup_subscribe", &to_subscribe),
    ] {
        println!(
            "probe/{name} runs={} median_ms={:.2} min_ms={:.2} p90_ms={:.2} max_ms={:.2} load={}",
            values.len(),
            quantile(values, 0.5),
            quantile(values, 0.0),
            quantile(values, 0.9),
            quantile(values, 1.0),
            load_average()
        );
    }
    runtime.block_on(sim.shutdown());
    Ok(())
}

/// Peak RSS and CPU of a live process.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    hwm_kib: u64,
    rss_kib: u64,
    cpu_ticks: u64,
}

fn read_usage(pid: u32) -> Option<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Usage {
        hwm_kib: field("VmHWM:")?,
        rss_kib: field("VmRSS:")?,
        cpu_ticks: utime + stime,
    })
}

/// CPU time of a process with nanosecond resolution: the newest `schedstat` reading (time on a
/// CPU, ns) of every thread ever seen, summed.
///
/// `/proc/<pid>/task` lists live threads only, so a thread's reading is kept after the thread
/// is gone; what a thread used after the last sample before it exited is lost, and so is a
/// thread that lived entirely between two samples (the footprint samples every 250 ms; the
/// 10 ms-resolution `/proc/<pid>/stat` figure, which counts dead threads, is the cross-check).
#[derive(Debug, Default)]
pub(crate) struct ThreadCpu {
    by_tid: HashMap<u32, u64>,
}

impl ThreadCpu {
    /// Reads every live thread of `pid`; `false` when the process is gone.
    pub(crate) fn sample(&mut self, pid: u32) -> bool {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return false;
        };
        for task in tasks.flatten() {
            let Some(tid) = task.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let reading = std::fs::read_to_string(task.path().join("schedstat"))
                .ok()
                .as_deref()
                .and_then(schedstat_cpu_ns);
            if let Some(ns) = reading {
                self.record(tid, ns);
            }
        }
        true
    }

    /// A thread's reading (cumulative, so the largest is the newest).
    fn record(&mut self, tid: u32, ns: u64) {
        let newest = self.by_tid.entry(tid).or_default();
        *newest = (*newest).max(ns);
    }

    /// Nanoseconds on a CPU over all threads seen.
    pub(crate) fn total_ns(&self) -> u64 {
        self.by_tid.values().sum()
    }

    /// Threads seen.
    pub(crate) fn threads(&self) -> usize {
        self.by_tid.len()
    }
}

/// The session's HTTP surface during a footprint run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HttpSurface {
    /// `--http off`.
    Off,
    /// `--http 127.0.0.1:0`, with this many dashboard event streams open.
    Loopback { sse_clients: usize },
}

impl HttpSurface {
    /// From `--http off|loopback` and `--sse-clients N`.
    pub(crate) fn parse(mode: &str, sse_clients: usize) -> Result<Self, String> {
        match mode {
            "off" if sse_clients == 0 => Ok(Self::Off),
            "off" => Err("--sse-clients needs --http loopback".to_owned()),
            "loopback" => Ok(Self::Loopback { sse_clients }),
            other => Err(format!("--http must be off or loopback, not {other:?}")),
        }
    }
}

/// P4 settings.
#[derive(Debug)]
pub(crate) struct FootprintOptions {
    /// Simulator speed (1 = the real push rate).
    pub(crate) speed: f64,
    /// Virtual minutes of market data to stream after the subscribe.
    pub(crate) virtual_minutes: u64,
    /// Use `run --source sim` (simulator inside the measured process) instead.
    pub(crate) in_process_sim: bool,
    /// The HTTP surface and its clients.
    pub(crate) http: HttpSurface,
}

/// The dashboard URL the session's heartbeat names, once it does.
fn http_url(workspace: &Path) -> Option<String> {
    let text = std::fs::read_to_string(workspace.join("heartbeat.json")).ok()?;
    let beat: serde_json::Value = serde_json::from_str(&text).ok()?;
    beat["http_url"].as_str().map(str::to_owned)
}

/// Opens `n` event streams on `url` (`http://HOST:PORT/`); each is read to its end on its
/// own thread, the bytes counted into the returned total.
pub(crate) fn open_event_streams(url: &str, n: usize) -> Result<Arc<AtomicU64>, String> {
    let authority = url
        .strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/'))
        .ok_or_else(|| format!("unexpected dashboard URL {url:?}"))?;
    let bytes = Arc::new(AtomicU64::new(0));
    for _ in 0..n {
        let mut stream =
            TcpStream::connect(authority).map_err(|e| format!("cannot connect {url}: {e}"))?;
        write!(
            stream,
            "GET /events HTTP/1.1\r\nHost: {authority}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .map_err(|e| format!("cannot ask {url} for events: {e}"))?;
        let total = Arc::clone(&bytes);
        std::thread::spawn(move || {
            let mut buf = [0_u8; 8192];
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                total.fetch_add(n as u64, Ordering::Relaxed);
            }
        });
    }
    Ok(bytes)
}

/// P4: a live session for `virtual_minutes` of exchange time at `speed`.
pub(crate) fn footprint(bin: &Path, options: &FootprintOptions, dir: &Path) -> Result<(), String> {
    let runtime = runtime()?;
    let sim = if options.in_process_sim {
        None
    } else {
        Some(start_sim(&runtime, options.speed, options.virtual_minutes)?)
    };
    let workspace = dir.join("ws");
    let mut command = session_command(bin, sim.as_ref(), &workspace);
    if options.in_process_sim {
        command.arg("--speed").arg(options.speed.to_string());
    }
    let sse_clients = match options.http {
        HttpSurface::Off => {
            command.args(["--http", "off"]);
            0
        }
        HttpSurface::Loopback { sse_clients } => {
            command.args(["--http", "127.0.0.1:0"]);
            sse_clients
        }
    };
    let mut sse_bytes = None;
    let start = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let pid = child.id();
    let wall_budget =
        Duration::from_secs_f64(options.virtual_minutes as f64 * 60.0 / options.speed);
    let mut subscribed_virtual = None;
    let mut last = Usage::default();
    let mut thread_cpu = ThreadCpu::default();
    // Thread CPU when the session subscribed: what it used before is start-up.
    let mut at_subscribe_ns = None;
    let steady = loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the session exited early: {status}"));
        }
        if let Some(usage) = read_usage(pid) {
            last = usage;
        }
        thread_cpu.sample(pid);
        if sse_clients > 0
            && sse_bytes.is_none()
            && let Some(url) = http_url(&workspace)
        {
            sse_bytes = Some(open_event_streams(&url, sse_clients)?);
        }
        let done = match &sim {
            Some(sim) => {
                if subscribed_virtual.is_none() && sim.stats().client_frames > 0 {
                    subscribed_virtual = Some(sim.virtual_now().as_ms());
                    at_subscribe_ns = Some(thread_cpu.total_ns());
                }
                subscribed_virtual.is_some_and(|v| {
                    sim.virtual_now().as_ms() - v >= options.virtual_minutes as i64 * 60_000
                })
            }
            None => start.elapsed() >= wall_budget + Duration::from_secs(1),
        };
        if done {
            break last;
        }
        if start.elapsed() > wall_budget + Duration::from_secs(120) {
            stop_child(&mut child);
            return Err("the session never subscribed".to_owned());
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    if sse_clients > 0 && sse_bytes.is_none() {
        stop_child(&mut child);
        return Err("the session's heartbeat never named its dashboard URL".to_owned());
    }
    let wall = start.elapsed();
    let steady_ns = thread_cpu.total_ns();
    let frames: u64 = sim
        .as_ref()
        .map_or(0, |s| s.stats().frames_sent.values().sum());
    // Graceful stop, then follow the process until it is gone.
    std::fs::write(workspace.join("stop.request"), b"bench")
        .map_err(|e| format!("cannot write stop.request: {e}"))?;
    let stop_start = Instant::now();
    let exit = loop {
        if let Some(usage) = read_usage(pid) {
            last = Usage {
                hwm_kib: last.hwm_kib.max(usage.hwm_kib),
                rss_kib: usage.rss_kib,
                cpu_ticks: last.cpu_ticks.max(usage.cpu_ticks),
            };
        }
        thread_cpu.sample(pid);
        if let Ok(Some(status)) = child.try_wait() {
            break status.code().map_or("signal".to_owned(), |c| c.to_string());
        }
        if stop_start.elapsed() > Duration::from_secs(30) {
            stop_child(&mut child);
            break "killed".to_owned();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let cpu_s = steady.cpu_ticks as f64 / USER_HZ;
    let per_10_virtual_min = cpu_s * 10.0 / options.virtual_minutes.max(1) as f64;
    println!(
        "probe/footprint mode={} http={} sse_clients={sse_clients} sse_bytes={} speed={} virtual_min={} wall_s={:.1} frames={} peak_rss_mib={:.1} rss_end_mib={:.1} cpu_s={:.2} cpu_s_per_10_virtual_min={:.2} thread_cpu_s={:.6} thread_cpu_after_subscribe_s={:.6} threads={} peak_rss_with_shutdown_mib={:.1} cpu_s_with_shutdown={:.2} thread_cpu_s_with_shutdown={:.6} exit={exit} load={}",
        if options.in_process_sim {
            "in-process"
        } else {
            "external"
        },
        if options.http == HttpSurface::Off {
            "off"
        } else {
            "loopback"
        },
        sse_bytes.map_or(0, |b| b.load(Ordering::Relaxed)),
        options.speed,
        options.virtual_minutes,
        wall.as_secs_f64(),
        frames,
        steady.hwm_kib as f64 / 1024.0,
        steady.rss_kib as f64 / 1024.0,
        cpu_s,
        per_10_virtual_min,
        steady_ns as f64 / 1e9,
        at_subscribe_ns.map_or(f64::NAN, |at| steady_ns.saturating_sub(at) as f64 / 1e9),
        thread_cpu.threads(),
        last.hwm_kib as f64 / 1024.0,
        last.cpu_ticks as f64 / USER_HZ,
        thread_cpu.total_ns() as f64 / 1e9,
        load_average()
    );
    if let Some(sim) = sim {
        runtime.block_on(sim.shutdown());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::{hint::black_box, time::Instant};

    use super::ThreadCpu;

    #[test]
    fn a_thread_keeps_its_last_reading_after_it_is_gone() {
        let mut cpu = ThreadCpu::default();
        cpu.record(10, 100);
        cpu.record(11, 50);
        cpu.record(10, 150);
        assert_eq!(cpu.total_ns(), 200, "the newest reading per thread, summed");
        cpu.record(10, 120);
        assert_eq!(cpu.total_ns(), 200, "a reading never goes back");
        assert_eq!(cpu.threads(), 2);
    }

    #[test]
    fn an_exited_thread_s_cpu_stays_in_the_process_total() {
        let pid = std::process::id();
        let mut cpu = ThreadCpu::default();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (finish_tx, finish_rx) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::spawn(move || {
            // Busy until it has had 20 ms on a CPU (however loaded the machine), then waits
            // to be sampled.
            let on_cpu = || {
                std::fs::read_to_string("/proc/thread-self/schedstat")
                    .ok()
                    .as_deref()
                    .and_then(super::schedstat_cpu_ns)
                    .unwrap_or(u64::MAX)
            };
            while on_cpu() < 20_000_000 {
                black_box(Instant::now());
            }
            let _ = started_tx.send(());
            let _ = finish_rx.recv();
        });
        started_rx.recv().expect("the worker ran");
        assert!(cpu.sample(pid));
        let with_worker = cpu.total_ns();
        let _ = finish_tx.send(());
        worker.join().expect("the worker ended");
        assert!(cpu.sample(pid));
        assert!(
            cpu.total_ns() >= with_worker,
            "{} < {with_worker}: the exited thread's time was dropped",
            cpu.total_ns()
        );
        assert!(
            with_worker >= 20_000_000,
            "the worker's busy loop is counted: {with_worker} ns"
        );
        assert!(!cpu.sample(u32::MAX), "no such process");
    }
}
