//! The generated BENCHMARKS.md section, rendered from captured inputs (probe output lines
//! as `bench_probe` and the `tick_to_exit` bench print them, criterion estimates) and
//! compared byte for byte with `testdata/`. The golden files were rendered by the earlier
//! generator from the same inputs, so a change in what the section says shows here.
//! `UPDATE_EXPECT=1 cargo test -p xtask` rewrites them after an intended change.

use expect_test::expect_file;

use super::{
    Estimate, Fields, Options,
    backtest::Backtest,
    decode::{Decode, FrameEstimates},
    fields,
    footprint::Footprint,
    report::Report,
    startup::Startup,
    sweep::Sweep,
    tick_to_exit::{Loopback, TickToExit},
};

const PROBE: &str = "\
probe/decode_cpu_kline_simd_json rounds=7 cpu_ns=485.2 cpu_min_ns=476.1 cpu_max_ns=537.9 per_s_cpu=2061000 per_s_cpu_min=1859000 per_s_cpu_max=2100400 wall_ns=485.9 per_s_wall=2058000 load=1.51 
probe/decode_cpu_kline_serde_json rounds=7 cpu_ns=736.0 cpu_min_ns=680.3 cpu_max_ns=826.4 per_s_cpu=1358695 per_s_cpu_min=1210000 per_s_cpu_max=1470000 wall_ns=736.4 per_s_wall=1357000 load=1.47 
probe/decode_cpu_ticker_simd_json rounds=7 cpu_ns=467.3 cpu_min_ns=454.5 cpu_max_ns=497.5 per_s_cpu=2140000 per_s_cpu_min=2010000 per_s_cpu_max=2200000 wall_ns=467.9 per_s_wall=2137000 load=1.40 
probe/decode_cpu_ticker_serde_json rounds=7 cpu_ns=646.1 cpu_min_ns=632.9 cpu_max_ns=1014.1 per_s_cpu=1550000 per_s_cpu_min=986100 per_s_cpu_max=1580000 wall_ns=646.8 per_s_wall=1546000 load=1.36 
tick_to_exit/timer samples=200000 p50_ns=30 p90_ns=31 p99_ns=31 p999_ns=40 max_ns=45730 mean_ns=29
tick_to_exit/broker samples=200000 p50_ns=561 p90_ns=1220 p99_ns=4510 p999_ns=8350 max_ns=104700 mean_ns=860
tick_to_exit/engine samples=200000 p50_ns=1230 p90_ns=1680 p99_ns=6130 p999_ns=11780 max_ns=1460000 mean_ns=1340
tick_to_exit/frame_to_exit samples=200000 p50_ns=1210 p90_ns=2270 p99_ns=3870 p999_ns=9160 max_ns=2940000 mean_ns=1460
probe/loopback_decided samples=2000 p50_us=145.0 p90_us=213.0 p99_us=389.6 p999_us=3590.1 max_us=15870.2 mean_us=160.3 load=0.45 speed=1000 fsync_p50_us=221 fsync_p99_us=383
probe/loopback_decided_idle samples=1800 p50_us=145.0 p90_us=212.6 p99_us=386.6 p999_us=1220.4 max_us=3590.1 mean_us=150.1 load=0.45 
probe/loopback_recorded samples=2000 p50_us=2940.3 p90_us=3560.7 p99_us=4470.9 p999_us=14430.0 max_us=36770.5 mean_us=3001.2 load=0.45 
probe/backtest_cpu_setups_waypoints rounds=5 cpu_ns=33012000.5 cpu_min_ns=32500000.0 cpu_max_ns=35100000.0 per_s_cpu=1300000 per_s_cpu_min=1222000 per_s_cpu_max=1320000 wall_ns=33100000.0 per_s_wall=1296000 load=0.44 
probe/backtest_cpu_setups_cadence_1s rounds=5 cpu_ns=560000000.0 cpu_min_ns=551000000.0 cpu_max_ns=590000000.0 per_s_cpu=76634 per_s_cpu_min=72737 per_s_cpu_max=77886 wall_ns=561000000.0 per_s_wall=76497 load=0.52 
probe/startup_connect runs=30 median_ms=6.90 min_ms=6.11 p90_ms=8.20 max_ms=11.03 load=0.61
probe/startup_subscribe runs=30 median_ms=7.50 min_ms=6.72 p90_ms=8.94 max_ms=11.60 load=0.61
";

/// `bench_probe loopback --http loopback --sse-clients 10`.
const LOOPBACK_WATCHED: &str = "\
probe/loopback_decided samples=2000 p50_us=151.0 p90_us=230.5 p99_us=512.3 p999_us=4100.0 max_us=16800.9 mean_us=171.2 load=0.52 speed=1000 http=loopback sse_clients=10 sse_bytes=61234567 fsync_p50_us=230 fsync_p99_us=401
probe/loopback_decided_idle samples=1750 p50_us=149.2 p90_us=220.1 p99_us=450.7 p999_us=1500.2 max_us=4100.0 mean_us=158.3 load=0.52 speed=1000 http=loopback sse_clients=10 sse_bytes=61234567
probe/loopback_recorded samples=2000 p50_us=2990.0 p90_us=3600.2 p99_us=4600.1 p999_us=15000.0 max_us=37000.0 mean_us=3050.0 load=0.52 speed=1000 http=loopback sse_clients=10 sse_bytes=61234567
";

/// `probe/footprint` lines: external and in-process at 10×, external one minute at the
/// real rate, external ten minutes at the real rate, then five real-rate minutes with
/// `--http off`, on, and on with ten event streams.
const FOOTPRINTS: [&str; 7] = [
    "probe/footprint mode=external http=loopback sse_clients=0 sse_bytes=0 speed=10 virtual_min=10 wall_s=61.2 frames=24113 peak_rss_mib=9.1 rss_end_mib=8.7 cpu_s=0.22 cpu_s_per_10_virtual_min=0.22 peak_rss_with_shutdown_mib=9.8 cpu_s_with_shutdown=0.25 exit=0 load=0.70",
    "probe/footprint mode=in-process http=loopback sse_clients=0 sse_bytes=0 speed=10 virtual_min=10 wall_s=60.9 frames=0 peak_rss_mib=11.4 rss_end_mib=11.0 cpu_s=0.41 cpu_s_per_10_virtual_min=0.41 peak_rss_with_shutdown_mib=11.6 cpu_s_with_shutdown=0.44 exit=0 load=0.66",
    "probe/footprint mode=external http=loopback sse_clients=0 sse_bytes=0 speed=1 virtual_min=1 wall_s=60.4 frames=2400 peak_rss_mib=8.9 rss_end_mib=8.8 cpu_s=0.05 cpu_s_per_10_virtual_min=0.50 peak_rss_with_shutdown_mib=9.0 cpu_s_with_shutdown=0.07 exit=0 load=0.52",
    "probe/footprint mode=external http=loopback sse_clients=0 sse_bytes=0 speed=1 virtual_min=10 wall_s=600.8 frames=24010 peak_rss_mib=9.3 rss_end_mib=9.0 cpu_s=0.48 cpu_s_per_10_virtual_min=0.48 peak_rss_with_shutdown_mib=9.5 cpu_s_with_shutdown=0.52 exit=0 load=0.49",
    "probe/footprint mode=external http=off sse_clients=0 sse_bytes=0 speed=1 virtual_min=5 wall_s=300.4 frames=4810 peak_rss_mib=8.6 rss_end_mib=8.3 cpu_s=0.10 cpu_s_per_10_virtual_min=0.50 thread_cpu_s=0.108120 thread_cpu_after_subscribe_s=0.096302 threads=8 peak_rss_with_shutdown_mib=9.1 cpu_s_with_shutdown=0.12 exit=0 load=0.71",
    "probe/footprint mode=external http=loopback sse_clients=0 sse_bytes=0 speed=1 virtual_min=5 wall_s=300.4 frames=4811 peak_rss_mib=8.9 rss_end_mib=8.5 cpu_s=0.105 cpu_s_per_10_virtual_min=0.52 thread_cpu_s=0.111950 thread_cpu_after_subscribe_s=0.099128 threads=9 peak_rss_with_shutdown_mib=9.4 cpu_s_with_shutdown=0.12 exit=0 load=0.70",
    "probe/footprint mode=external http=loopback sse_clients=10 sse_bytes=5210344 speed=1 virtual_min=5 wall_s=300.4 frames=4809 peak_rss_mib=10.0 rss_end_mib=9.6 cpu_s=0.14 cpu_s_per_10_virtual_min=0.70 thread_cpu_s=0.147230 thread_cpu_after_subscribe_s=0.135002 threads=9 peak_rss_with_shutdown_mib=10.4 cpu_s_with_shutdown=0.16 exit=0 load=0.72",
];

fn est(median: f64, low: f64, high: f64) -> Estimate {
    Estimate { median, low, high }
}

fn probe(prefix: &str) -> Fields {
    fields(PROBE, prefix).unwrap()
}

fn render(options: Options, footprints: &[&str]) -> String {
    let mut report = Report::new(options.quick);
    Decode {
        frames: vec![
            FrameEstimates {
                frame: "kline",
                variants: [
                    est(473.2, 470.1, 477.4),
                    est(671.0, 666.2, 681.9),
                    est(232.1, 230.0, 235.3),
                    est(238.4, 237.0, 242.2),
                ],
            },
            FrameEstimates {
                frame: "ticker",
                variants: [
                    est(483.9, 462.0, 514.6),
                    est(605.5, 603.0, 607.1),
                    est(264.2, 263.1, 266.0),
                    est(283.0, 279.4, 292.8),
                ],
            },
        ],
        cpu: [
            "kline_simd_json",
            "kline_serde_json",
            "ticker_simd_json",
            "ticker_serde_json",
        ]
        .map(|v| (v, probe(&format!("probe/decode_cpu_{v} "))))
        .to_vec(),
        load: "1.78".into(),
        secs: options.measurement_time(),
    }
    .add_to(&mut report);
    TickToExit {
        in_process: ["timer", "broker", "engine", "frame_to_exit"]
            .map(|v| (v, probe(&format!("tick_to_exit/{v} "))))
            .to_vec(),
        load: "1.36".into(),
        samples: if options.quick { "100000" } else { "200000" },
        loopback: Loopback {
            decided: probe("probe/loopback_decided "),
            idle: probe("probe/loopback_decided_idle "),
            recorded: probe("probe/loopback_recorded "),
        },
        loopback_watched: Loopback::parse(LOOPBACK_WATCHED).unwrap(),
        loopback_samples: if options.quick { "600" } else { "2000" },
        tick_path: [
            ("quiet", est(31.2, 30.4, 32.0)),
            ("new_best", est(143.3, 142.1, 144.9)),
        ],
    }
    .add_to(&mut report);
    Backtest {
        candles: 42915.0,
        variants: vec![
            (
                "setups_waypoints",
                est(34_410_000.0, 33_800_000.0, 37_600_000.0),
            ),
            (
                "setups_cadence_1s",
                est(575_080_000.0, 560_100_000.0, 595_200_000.0),
            ),
            (
                "sma_cross_waypoints",
                est(25_610_000.0, 24_100_000.0, 31_800_000.0),
            ),
        ],
        cpu: ["setups_waypoints", "setups_cadence_1s"]
            .map(|v| (v, probe(&format!("probe/backtest_cpu_{v} "))))
            .to_vec(),
        walls: vec![0.334, 0.301, 0.295, 0.312, 0.299, 0.300, 0.305],
        trades: 247.0,
        load: "0.45".into(),
        secs: options.measurement_time(),
    }
    .add_to(&mut report);
    Sweep {
        sets: if options.quick { 200 } else { 1000 },
        candles: 42915.0,
        wall_s: if options.quick { 3.4 } else { 15.97 },
        cpu_s: if options.quick { 6.1 } else { 29.74 },
        peak_kib: 37_868,
        cores: 2,
        load: "2.02".into(),
    }
    .add_to(&mut report);
    Footprint {
        runs: footprints
            .iter()
            .map(|line| fields(line, "probe/footprint ").unwrap())
            .collect(),
    }
    .add_to(&mut report);
    Startup {
        version_ms: (0..200).map(|i| 2.0 + f64::from(i) * 0.005).collect(),
        load: "0.61".into(),
        connect: probe("probe/startup_connect "),
        subscribe: probe("probe/startup_subscribe "),
    }
    .add_to(&mut report);
    report.render(
        "1509020 (+ uncommitted changes)",
        "2 cores, AMD EPYC; 2026-11-28 05:45 UTC",
    )
}

#[test]
fn a_full_run_renders_the_section_byte_for_byte() {
    let full = render(
        Options::default(),
        &[
            FOOTPRINTS[0],
            FOOTPRINTS[1],
            FOOTPRINTS[4],
            FOOTPRINTS[5],
            FOOTPRINTS[6],
            FOOTPRINTS[2],
        ],
    );
    expect_file!["testdata/full.md"].assert_eq(&full);
}

#[test]
fn a_quick_run_with_real_rate_footprint_renders_the_section_byte_for_byte() {
    let options = Options {
        quick: true,
        p4_real_rate: true,
        no_write: false,
    };
    let quick = render(
        options,
        &[
            FOOTPRINTS[0],
            FOOTPRINTS[1],
            FOOTPRINTS[4],
            FOOTPRINTS[5],
            FOOTPRINTS[6],
            FOOTPRINTS[3],
        ],
    );
    expect_file!["testdata/quick-real-rate.md"].assert_eq(&quick);
}
