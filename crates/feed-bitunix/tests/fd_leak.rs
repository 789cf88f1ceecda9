//! File-descriptor leak check, alone in its own test binary (the count is process-wide, so
//! no other test may open sockets concurrently).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "sim/support.rs"]
mod support;

use std::time::Duration;

use support::{Harness, is_connected, sim_config};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd is readable on Linux")
        .count()
}

#[tokio::test(start_paused = true)]
async fn no_fd_leak_over_100_reconnects() {
    let mut h = Harness::start(sim_config(6000), |_| {}).await;
    h.streaming().await;
    // Let the REST-free steady state settle before the first count.
    h.run_for(Duration::from_secs(5)).await;
    let before = open_fds();
    for i in 0..100 {
        h.handle.request_reconnect();
        h.wait_for(Duration::from_secs(10), is_connected).await;
        if i % 10 == 9 {
            h.run_for(Duration::from_secs(2)).await;
        }
    }
    // Give the simulator's side time to notice the last closes (paused time).
    h.run_for(Duration::from_secs(5)).await;
    let after = open_fds();
    eprintln!("open fds: before {before}, after {after}");
    assert_eq!(h.handle.counters().reconnects, 100);
    assert_eq!(h.sim.stats().connections_accepted, 101);
    assert!(after <= before + 2, "fds before {before}, after {after}");
    h.stop().await;
}
