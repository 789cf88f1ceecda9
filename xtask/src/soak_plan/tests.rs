//! Tests of the soak's fault timeline.

use super::*;

/// `(wall seconds, spec)` of a plan at `speed`.
fn timeline(plan: &[String], speed: f64) -> Vec<(f64, String)> {
    plan.iter()
        .map(|f| {
            let (ms, spec) = f.split_once("ms@").unwrap();
            (ms.parse::<f64>().unwrap() / 1000.0 / speed, spec.to_owned())
        })
        .collect()
}

fn is_quiet(spec: &str) -> bool {
    ["silence", "pong-only", "half-open"]
        .iter()
        .any(|p| spec.starts_with(p))
}

fn is_data(spec: &str) -> bool {
    [
        "bad-value:",
        "garbage:",
        "gap:",
        "duplicate:",
        "reorder",
        "implausible-price",
        "open-outside-range",
    ]
    .iter()
    .any(|p| spec.starts_with(p))
}

#[test]
fn the_cycle_covers_the_whole_simulator_catalogue() {
    let expected = [
        "bad-value",
        "close-frame",
        "drop-tcp",
        "duplicate",
        "gap",
        "garbage",
        "half-open",
        "implausible-price",
        "open-outside-range",
        "pong-only",
        "refuse-upgrade",
        "reorder",
        "rest-10006",
        "rest-429",
        "rest-5xx",
        "rest-slow",
        "silence",
        "slow-accept",
    ];
    assert_eq!(covered_scenarios(), expected);
    let kinds = expected_rejections();
    let bad_values = kinds
        .iter()
        .filter(|(s, _)| s.starts_with("bad-value"))
        .count();
    let garbage = kinds
        .iter()
        .filter(|(s, _)| s.starts_with("garbage"))
        .count();
    assert_eq!((bad_values, garbage), (13, 6));
}

#[test]
fn faults_are_at_most_twenty_wall_seconds_apart_and_every_slot_fires() {
    for (minutes, speed) in [(10.0, 60.0), (2.0, 60.0), (30.0, 120.0), (5.0, 1.0)] {
        let run_s: f64 = minutes * 60.0;
        let plan = fault_plan(run_s, speed);
        let line = timeline(&plan, speed);
        let names: std::collections::BTreeSet<&str> = line
            .iter()
            .map(|(_, s)| s.split(':').next().unwrap())
            .collect();
        assert_eq!(names.len(), covered_scenarios().len(), "{minutes} min");
        for spec in all_specs().filter(|s| !is_quiet(s)) {
            // Durations inside quiet faults are filled in (`{d}`).
            let prefix = spec.split("{d}").next().unwrap();
            assert!(
                line.iter()
                    .any(|(_, s)| s.starts_with(prefix) && !s.contains('{')),
                "{minutes} min: {spec} never fires"
            );
        }
        // The warm-up's frames come first; the cycle follows.
        let warm_up = usize::try_from(WARM_UP_NESTED).unwrap() + 1;
        let cycle_start = line[warm_up].0;
        for pair in line[warm_up..].windows(2) {
            let gap = pair[1].0 - pair[0].0;
            assert!(gap <= MAX_FAULT_SPACING_S + 1e-6, "{minutes} min: {pair:?}");
        }
        assert!(
            cycle_start >= 30.0 || run_s < 105.0,
            "{minutes} min: cycle starts at {cycle_start}"
        );
        let last = line.last().unwrap().0;
        assert!(last <= run_s - 15.0, "{minutes} min: last fault at {last}");
    }
}

#[test]
fn no_data_fault_fires_while_data_is_quiet() {
    for (minutes, speed) in [(10.0, 60.0), (2.0, 60.0), (30.0, 120.0)] {
        let line = timeline(&fault_plan(minutes * 60.0, speed), speed);
        for (at, spec) in line.iter().filter(|(_, s)| is_quiet(s)) {
            let (name, secs) = spec.split_once(':').unwrap();
            let secs: f64 = secs.trim_end_matches('s').parse().unwrap();
            let until = at + quiet_len(name, secs);
            for (t, other) in &line {
                if *t > *at && *t < until {
                    assert!(
                        !is_data(other),
                        "{minutes} min: {other} at {t} inside {spec} at {at}"
                    );
                }
            }
        }
    }
}

#[test]
fn quiet_faults_stay_below_the_stale_timeout_and_the_jump_limit() {
    for (minutes, speed) in [(10.0, 60.0), (10.0, 120.0), (2.0, 60.0)] {
        let line = timeline(&fault_plan(minutes * 60.0, speed), speed);
        for (_, spec) in line.iter().filter(|(_, s)| is_quiet(s)) {
            let secs: f64 = spec
                .split(':')
                .nth(1)
                .unwrap()
                .trim_end_matches('s')
                .parse()
                .unwrap();
            assert!(secs < 120.0, "{spec}");
            assert!(secs * speed <= 0.75 * 3600.0, "{spec} at {speed}x");
            assert!(secs >= 5.0, "{spec}");
        }
    }
    let long = timeline(&fault_plan(600.0, 60.0), 60.0);
    assert!(long.iter().any(|(_, s)| s == "silence:40s"), "{long:?}");
}

#[test]
fn buffer_high_water_marks_are_set_during_warm_up() {
    let line = timeline(&fault_plan(600.0, 60.0), 60.0);
    // The oversized frame (its connection is replaced), then five nested frames 4 s apart on
    // the new one; all before the 30 s baseline sample.
    let warm_up: Vec<(f64, &str)> = line[..6].iter().map(|(t, s)| (*t, s.as_str())).collect();
    assert_eq!(
        warm_up,
        [
            (8.0, "garbage:oversized"),
            (12.0, "garbage:deeply-nested"),
            (16.0, "garbage:deeply-nested"),
            (20.0, "garbage:deeply-nested"),
            (24.0, "garbage:deeply-nested"),
            (28.0, "garbage:deeply-nested"),
        ]
    );
    assert!(line[6].0 >= 32.0, "{:?}", line[6]);
    // Refusals and slow accepts inside quiet faults scale with them.
    assert!(
        line.iter().any(|(_, s)| s == "refuse-upgrade:8s"),
        "{line:?}"
    );
    let short = timeline(&fault_plan(120.0, 60.0), 60.0);
    assert!(
        short.iter().any(|(_, s)| s == "refuse-upgrade:1s"),
        "{short:?}"
    );
    assert!(
        short.iter().any(|(_, s)| s == "slow-accept:1s:1s"),
        "{short:?}"
    );
}
