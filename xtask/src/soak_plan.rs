//! The soak's fault timeline: every scenario of the simulator's catalogue, in a cycle, at
//! least one fault every [`MAX_FAULT_SPACING_S`] wall seconds.
//!
//! Two rules shape it:
//! - a *quiet* fault (`silence`, `pong-only`, `half-open`) stops all data frames, so a data
//!   fault (a bad value, a duplicate, a gap) fired during one would be swallowed and prove
//!   nothing. While a quiet fault lasts, only connection and REST faults fire (they still
//!   act: the feed reconnects, REST answers 10006); the next data fault waits until data
//!   flows again. Refused upgrades come first inside a quiet fault, so the reconnect
//!   backoff they cause (up to ~15 s) is over before the next data fault;
//! - quiet faults last [`QUIET_MAX_S`] in long runs — longer than the feed's 30 s idle
//!   timeout, so the reconnect path runs, and shorter than the session's stale timeout,
//!   which by design stops a session — but never more than 45 virtual minutes (75 % of the
//!   feed's one-hour `max_ts_jump`: at 60× a 40 s silence is 40 virtual minutes, and a
//!   longer one would look like an exchange clock jump), and less in short runs so all steps
//!   fit.
//!
//! Before the cycle, during the warm-up, one oversized frame (refused from its header: the
//! connection is dropped and re-opened) and then [`WARM_UP_NESTED`] deeply nested frames
//! (200 KiB, under the size cap, so read whole) bring the session's memory for the reconnect
//! path and for large frames to its high-water mark, so the RSS baseline taken after warm-up
//! is not mistaken for a leak when the cycle sends them again. The nested frames come last
//! because part of what they cost belongs to the connection (its read buffer grows to the
//! frame) and is released when the connection is replaced; and one is not enough with glibc's
//! allocator: the first freed 200 KiB block raises its dynamic mmap threshold, and the next
//! few are served from the per-thread heaps, whose freed blocks stay resident for reuse.
//! Measured on the session alone (simulator in its own process, one connection): 40 such
//! frames 4 s apart raised `VmRSS` by about 1 MiB in steps at the 1st, 2nd, 4th and 6th
//! frame, then by one more step of 0.16 MiB (at the 30th), and not at all over the other 34.

/// Deeply nested frames sent during the warm-up (see the module docs).
pub(crate) const WARM_UP_NESTED: u32 = 5;
/// Longest gap between two faults, in wall time.
pub(crate) const MAX_FAULT_SPACING_S: f64 = 20.0;
/// Longest quiet fault (wall seconds).
pub(crate) const QUIET_MAX_S: f64 = 40.0;
/// The feed's idle timeout: a half-open socket is abandoned after this, so data resumes.
const IDLE_TIMEOUT_S: f64 = 30.0;

/// One slot of the cycle.
#[derive(Clone, Copy, Debug)]
enum Slot {
    /// Specs fired together (so the second meets the first: a backfill while REST fails, a
    /// reconnect while upgrades are refused).
    Step(&'static [&'static str]),
    /// A quiet fault (`name:<secs>s`) with non-data faults spread inside it.
    Quiet {
        name: &'static str,
        inside: &'static [&'static [&'static str]],
    },
}

const CYCLE: &[Slot] = &[
    Slot::Step(&["garbage:non-json"]),
    Slot::Quiet {
        name: "silence",
        inside: &[&["refuse-upgrade:{d}s", "close-frame"], &["drop-tcp"]],
    },
    Slot::Step(&["bad-value:nan"]),
    Slot::Step(&["garbage:binary"]),
    Slot::Step(&["bad-value:infinity"]),
    Slot::Step(&["gap:3"]),
    Slot::Step(&["garbage:truncated"]),
    Slot::Step(&["bad-value:negative"]),
    Slot::Step(&["rest-10006:8s", "gap:2"]),
    Slot::Step(&["bad-value:zero"]),
    Slot::Step(&["garbage:oversized"]),
    Slot::Quiet {
        name: "pong-only",
        inside: &[&["slow-accept:{d}s:{d}s", "drop-tcp"], &["close-frame"]],
    },
    Slot::Step(&["bad-value:empty-string"]),
    Slot::Step(&["bad-value:huge-string"]),
    Slot::Step(&["rest-429:8s", "gap:2"]),
    Slot::Step(&["garbage:deeply-nested"]),
    Slot::Step(&["bad-value:number-not-string"]),
    Slot::Step(&["duplicate:3"]),
    Slot::Step(&["bad-value:missing-field"]),
    Slot::Step(&["rest-5xx:8s", "gap:2"]),
    Slot::Quiet {
        name: "half-open",
        inside: &[&["rest-10006:5s"]],
    },
    Slot::Step(&["garbage:empty-text"]),
    Slot::Step(&["bad-value:extra-field"]),
    Slot::Step(&["bad-value:high-below-low"]),
    Slot::Step(&["reorder"]),
    Slot::Step(&["bad-value:wrong-symbol"]),
    Slot::Step(&["rest-slow:2s:10s", "gap:2"]),
    Slot::Step(&["bad-value:future-timestamp"]),
    Slot::Step(&["bad-value:backwards-timestamp"]),
    Slot::Step(&["implausible-price:low"]),
    Slot::Step(&["open-outside-range"]),
    Slot::Step(&["implausible-price:high"]),
    Slot::Step(&["drop-tcp"]),
    Slot::Step(&["close-frame"]),
];

fn all_specs() -> impl Iterator<Item = &'static str> {
    CYCLE.iter().flat_map(|slot| match slot {
        Slot::Step(specs) => specs.to_vec(),
        Slot::Quiet { name, inside } => {
            let mut specs = vec![*name];
            specs.extend(inside.iter().flat_map(|s| s.iter().copied()));
            specs
        }
    })
}

/// The scenario names the cycle covers (the simulator's whole catalogue).
pub(crate) fn covered_scenarios() -> Vec<&'static str> {
    let mut names: Vec<&str> = all_specs()
        .map(|spec| spec.split(':').next().unwrap_or(spec))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Every `bad-value` and `garbage` kind the cycle sends, with the counter label the feed
/// must file it under (`summary.rejected_frames`); `None` for a kind that is valid (an
/// extra field).
pub(crate) fn expected_rejections() -> Vec<(&'static str, Option<&'static str>)> {
    all_specs()
        .filter_map(|spec| {
            let label = match spec {
                "garbage:non-json" | "garbage:truncated" | "garbage:empty-text" => "not_json",
                "garbage:binary" => "not_text",
                "garbage:oversized" => "too_large",
                "garbage:deeply-nested" => "not_an_object",
                "bad-value:nan" => "not_a_number",
                "bad-value:infinity" => "infinite",
                "bad-value:negative" => "negative",
                "bad-value:zero" => "zero",
                "bad-value:empty-string" => "empty",
                "bad-value:huge-string" => "out_of_range",
                "bad-value:number-not-string" => "wrong_type",
                "bad-value:missing-field" => "missing_field",
                "bad-value:high-below-low" => "ohlc_inconsistent",
                "bad-value:wrong-symbol" => "wrong_symbol",
                // With clock-skew checking off, a day-ahead push is an exchange-time jump.
                "bad-value:future-timestamp" => "timestamp_jump",
                "bad-value:backwards-timestamp" => "out_of_order_dropped",
                "bad-value:extra-field" => return Some((spec, None)),
                _ => return None,
            };
            Some((spec, Some(label)))
        })
        .collect()
}

/// How long one slot lasts when quiet faults last `quiet_s` and steps `spacing` apart.
fn slot_len(slot: &Slot, quiet_s: f64, spacing: f64) -> f64 {
    match slot {
        Slot::Step(_) => spacing,
        Slot::Quiet { name, .. } => quiet_len(name, quiet_s),
    }
}

/// Wall seconds until data flows again after a quiet fault, plus a margin for the
/// reconnect backoff that its refused or slowed reconnects built up (the feed resets its
/// backoff only once a connection delivers data).
fn quiet_len(name: &str, quiet_s: f64) -> f64 {
    let quiet = if name == "half-open" {
        quiet_s.min(IDLE_TIMEOUT_S)
    } else {
        quiet_s
    };
    quiet + if quiet_s >= IDLE_TIMEOUT_S { 4.0 } else { 6.0 }
}

/// Duration (whole seconds, 1..=8) of the refusals and slow accepts inside a quiet fault:
/// an 8 s refusal drives the reconnect backoff to ~15 s, which fits only in a long silence.
fn companion_s(quiet_s: f64) -> f64 {
    (quiet_s / 5.0).round().clamp(1.0, 8.0)
}

/// `--fault` values (`<virtual ms>ms@<spec>`) for a run of `run_s` wall seconds at `speed`.
///
/// Faults start after 32 s (after the 30 s warm-up sample that the descriptor and memory
/// checks take as their baseline) and stop `tail` before the end — 45 s in long runs, at
/// least 35 s otherwise: longer than the REST client's 30 s pool idle timeout, so pooled
/// connections of the last backfill are closed before the final descriptor sample — and
/// every slot fires at least once.
pub(crate) fn fault_plan(run_s: f64, speed: f64) -> Vec<String> {
    let start = 32.0_f64.min(run_s / 3.0);
    let tail = 45.0_f64.min(35.0_f64.max(run_s / 4.0)).min(run_s / 3.0);
    let window = (run_s - start - tail).max(1.0);
    let steps = CYCLE.iter().filter(|s| matches!(s, Slot::Step(_))).count();
    #[allow(clippy::cast_precision_loss)]
    let steps = steps as f64;
    // Quiet faults as long as allowed while steps keep at least 1.5 s apart.
    let mut quiet_s = QUIET_MAX_S.min(0.75 * 3600.0 / speed).floor();
    while quiet_s > 5.0 {
        let quiet_total: f64 = CYCLE.iter().map(|s| slot_len(s, quiet_s, 0.0)).sum();
        if (window - quiet_total) / steps >= 1.5 {
            break;
        }
        quiet_s -= 5.0;
    }
    let quiet_total: f64 = CYCLE.iter().map(|s| slot_len(s, quiet_s, 0.0)).sum();
    let spacing = ((window - quiet_total) / steps).clamp(0.5, MAX_FAULT_SPACING_S);
    let to_virtual = |wall_s: f64| -> u64 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ms = (wall_s * speed * 1000.0).round() as u64;
        ms
    };
    let mut plan = Vec::new();
    let mut fire = |wall_s: f64, specs: &[&str]| {
        for spec in specs {
            plan.push(format!("{}ms@{spec}", to_virtual(wall_s)));
        }
    };
    // Memory high-water marks during warm-up (see the module docs): the oversized frame at a
    // quarter of the start time, then nested frames up to seven eighths of it, on the
    // connection that replaced the refused one.
    fire(start * 0.25, &["garbage:oversized"]);
    for i in 0..WARM_UP_NESTED {
        let at = 0.375 + 0.5 * f64::from(i) / f64::from(WARM_UP_NESTED - 1);
        fire(start * at, &["garbage:deeply-nested"]);
    }
    let mut t = start;
    let mut fired_all = false;
    'cycles: loop {
        for slot in CYCLE {
            let len = slot_len(slot, quiet_s, spacing);
            if fired_all && t + len > run_s - tail {
                break 'cycles;
            }
            match slot {
                Slot::Step(specs) => fire(t, specs),
                Slot::Quiet { name, inside } => {
                    fire(t, &[&format!("{name}:{quiet_s}s")]);
                    #[allow(clippy::cast_precision_loss)]
                    let parts = (inside.len() + 1) as f64;
                    let d = companion_s(quiet_s).to_string();
                    for (i, specs) in inside.iter().enumerate() {
                        #[allow(clippy::cast_precision_loss)]
                        let at = t + len * (i + 1) as f64 / parts;
                        let specs: Vec<String> =
                            specs.iter().map(|s| s.replace("{d}", &d)).collect();
                        let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
                        fire(at, &specs);
                    }
                }
            }
            t += len;
        }
        fired_all = true;
    }
    plan
}

#[cfg(test)]
mod tests;
