//! Memory under hostile frames, alone in its own test binary (resident memory is
//! process-wide): a stream of 2 MiB frames against the 1 MiB cap must not grow the client's
//! resident set, because each is refused from its header before its payload is reserved.
//!
//! The hostile server (the simulator, injecting its `garbage:oversized` fault) runs in a
//! child process — this same test binary re-executed with [`SERVER_ROLE`] set — so its own
//! 2 MiB allocations never count against the client measured here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use la_bitunix_sim::{Fault, GarbageKind, MarketData, SimConfig};
use la_core::{Clock, Decimal, Interval, MarketEvent, Symbol, TimestampMs};
use la_feed_bitunix::{BitunixFeed, FeedConfig};

/// Set in the child: run the hostile server instead of the client.
const SERVER_ROLE: &str = "LA_OVERSIZED_FRAME_SERVER";
/// Hostile frames the client must refuse during the measurement.
const FRAMES: u64 = 40;
/// Resident-set growth allowed over those frames. Buffering them (the behaviour before the
/// header check) grew it by several MiB on glibc; refusing them from the header adds noise
/// only.
const MAX_GROWTH_KIB: u64 = 2 * 1024;
const TEST_NAME: &str = "a_stream_of_frames_over_the_cap_does_not_grow_the_clients_resident_memory";

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

/// Wall-clock time in ms (the simulator runs at speed 1 on the wall clock here).
#[derive(Debug)]
struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> TimestampMs {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        TimestampMs::new(i64::try_from(ms).unwrap()).unwrap()
    }
}

/// The child: a simulator that, once told `go` on stdin, sends a 2 MiB frame to every
/// connected client every 100 ms until stdin closes.
fn serve() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sim = la_bitunix_sim::start(SimConfig {
            data: MarketData::Generated {
                seed: 5,
                start_price: Decimal::new(60_000, 0),
                start_time: WallClock.now(),
                n_candles: 600,
            },
            start_time: Some(WallClock.now()),
            idle_drop_ms: 86_400_000,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        println!("{} {}", sim.ws_url(), sim.rest_url());
        std::io::stdout().flush().unwrap();
        let (done_tx, mut done) = tokio::sync::mpsc::channel::<bool>(2);
        std::thread::spawn(move || {
            let mut lines = BufReader::new(std::io::stdin()).lines();
            while let Some(Ok(line)) = lines.next() {
                let _ = done_tx.blocking_send(line.trim() == "go");
            }
            let _ = done_tx.blocking_send(false);
        });
        let mut going = false;
        loop {
            tokio::select! {
                message = done.recv() => match message {
                    Some(true) => going = true,
                    _ => break,
                },
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    if going {
                        sim.inject(Fault::Garbage(GarbageKind::Oversized));
                    }
                }
            }
        }
        sim.shutdown().await;
    });
}

#[test]
fn a_stream_of_frames_over_the_cap_does_not_grow_the_clients_resident_memory() {
    if std::env::var_os(SERVER_ROLE).is_some() {
        serve();
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture"])
        .env(SERVER_ROLE, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut urls = String::new();
    let mut child_out = BufReader::new(child.stdout.take().unwrap());
    // libtest prints its own lines first; the URLs are the line starting with ws://.
    while !urls.starts_with("ws://") {
        urls.clear();
        assert!(
            child_out.read_line(&mut urls).unwrap() > 0,
            "the server exited"
        );
    }
    let mut parts = urls.split_whitespace();
    let (ws_url, rest_url) = (parts.next().unwrap(), parts.next().unwrap());
    let mut config = FeedConfig::new(Symbol::new("BTCUSDT").unwrap(), Interval::M1);
    config.ws_url = ws_url.to_owned();
    config.rest_url = rest_url.to_owned();
    config.max_clock_skew = None;
    config.backoff_initial = Duration::from_millis(10);
    config.backoff_max = Duration::from_millis(100);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (before, after, refused, reconnects) = runtime.block_on(async {
        let (mut feed, handle) = BitunixFeed::spawn(config, Arc::new(WallClock)).unwrap();
        // Settle: connected and streaming for a few seconds.
        let settle = tokio::time::Instant::now() + Duration::from_secs(3);
        while let Ok(Some(event)) = tokio::time::timeout_at(settle, feed.recv()).await {
            let _: MarketEvent = event;
        }
        assert!(
            handle.counters().frames("kline") > 0,
            "no data before the attack"
        );
        let before = resident_kib();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "go").unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while handle.counters().rejections("too_large") < FRAMES && Instant::now() < deadline {
            let _ = tokio::time::timeout(Duration::from_millis(50), feed.recv()).await;
        }
        let after = resident_kib();
        let counters = handle.counters();
        drop(stdin);
        handle.shutdown().await;
        (
            before,
            after,
            counters.rejections("too_large"),
            counters.reconnects,
        )
    });
    let _ = child.wait();
    eprintln!(
        "resident memory: {before} KiB before, {after} KiB after {refused} refused 2 MiB frames \
         ({reconnects} reconnects): {:+} KiB",
        i128::from(after) - i128::from(before)
    );
    assert!(refused >= FRAMES, "only {refused} frames refused");
    assert!(
        after <= before + MAX_GROWTH_KIB,
        "resident memory grew from {before} KiB to {after} KiB"
    );
}
