//! `cargo xtask crash --rounds N [--seed S] [--faults]`: SIGKILL at random moments.
//!
//! Every round starts the release binary on one persistent workspace (`--source sim
//! --speed 120 --duration 10m`, the `sma-cross` strategy with a tight stop so it trades
//! every few seconds), kills it with SIGKILL, and checks what a restart will find:
//!
//! 1. **state loads**: `paper/broker_state.json` and `unified_state.json` (main, else
//!    `.bak`, as the session loads them) parse with their current `schema_version` (2 for the
//!    broker's account, 1 for the session's);
//! 2. **state = journal replay**: folding the killed run's journal segment (fill → open
//!    with that id, side and qty; exit → flat, one more trade, balance and realized total
//!    += `pnl_net`; funding → balance and funding total += amount) over the state the run
//!    restored must reach the saved state (position, trades, balance, realized and funding
//!    totals all equal), and the state must satisfy the broker's ledger identity
//!    `balance = starting_balance + realized_net_total + funding_total`. One offset is
//!    allowed: the *state ahead* by one fill and/or exit that no journal line records —
//!    the session saves the state containing a fill or exit before journaling it
//!    (write-ahead), so a kill between the two leaves the journal one step behind; allowed
//!    only if the state file was written within [`AHEAD_WINDOW_MS`] before the kill. The
//!    *journal ahead* of the state (a journaled money event the state lacks, which the
//!    restarted account would never book) is a failure;
//! 3. **no double fill or exit**: no `client_order_id` has two `fill` (or two `exit`)
//!    lines in the whole journal;
//! 4. **equity continuity**: the run's first heartbeat (when no trade closed yet) shows
//!    the balance of the state it restored, and (2) proves the balance moved only by
//!    journaled trades and funding;
//! 5. **stale lock taken over**: a lock left by the killed process is taken over (journal
//!    `session_started` says `took_over_stale_lock_of_pid_<killed pid>`).
//!
//! Rounds 4, 8, 12, … kill at a uniformly random moment 1–25 s after the start; rounds 1,
//! 5, 9, … kill 0–9 ms after `broker_state.json` is replaced (between the write-ahead save
//! and its journal line, or while `unified_state.json` is being written); rounds 3, 7, 11,
//! … kill 0–9 ms after a new `fill` or `exit` line appears in the journal; rounds 2, 6,
//! 10, … kill **during a catch-up**: 0–299 ms after the restarted session journals
//! `downtime_detected` (it is catching up on the downtime between rounds, below), while it
//! downloads the missed market or just after it replayed it. The next round's restart must
//! catch up again and book nothing twice (checks 2 and 3). A restarted simulator would rewind to its first candle, which a
//! real exchange never does, so each round is served the next slice of one long seeded
//! series (`market_csv`), after a downtime gap: every restart is a restart after a downtime,
//! which the session catches up (the candles the new slice serves over REST are replayed
//! through the account's exits and funding before it trades on). After the last round a clean 20 s run must
//! stop with `duration_reached` and a summary whose `starting_equity` is the last saved
//! balance.

use std::{
    fs,
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    process::{Child, ExitStatus},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result, bail, ensure};
use rust_decimal::Decimal;
use xshell::Shell;

use crate::{
    crash_checks::{before_round, check_after_kill, clean_final_run, heartbeat_of},
    market_csv,
    reliability::{
        FAST_TRADING_TOML, Lcg, build_binary, option_value, path_text, provenance,
        sim_session_args, spawn_with_console, target_dir, write_file,
    },
};

/// A state file holding an unjournaled fill/exit must have been written this close to the
/// kill.
pub(crate) const AHEAD_WINDOW_MS: i64 = 2_000;
/// Candles each round's CSV slice holds after the warm-up history.
const ROUND_CANDLES: usize = 600;
/// More than the session's warm-up history (max(warmup_bars 50, sma slow 15 + 1) + 20), so
/// each round's history lies wholly after the previous round's last candle.
const HISTORY_GAP: usize = 100;
const SPEED: f64 = 120.0;
/// The account's starting balance (the session's default), in USDT.
pub(crate) const STARTING_BALANCE: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

struct Options {
    rounds: u32,
    seed: u64,
    faults: bool,
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut options = Options {
        rounds: 50,
        seed: 1,
        faults: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--rounds" => {
                options.rounds = option_value(&mut it, "--rounds")?;
            }
            "--seed" => {
                options.seed = option_value(&mut it, "--seed")?;
            }
            "--faults" => options.faults = true,
            other => bail!("crash: unknown argument {other:?}"),
        }
    }
    ensure!(options.rounds > 0, "--rounds must be at least 1");
    Ok(options)
}

/// How a round's kill moment is chosen.
#[derive(Clone, Copy, Debug)]
enum KillMode {
    /// At this long after the start.
    At(Duration),
    /// This many ms after the next new fill/exit line (or at 60 s if none comes).
    AfterMoneyEvent(u64),
    /// This many ms after `broker_state.json` is next replaced (or at 60 s).
    AfterStateSave(u64),
    /// This many ms after the next `downtime_detected` line (a catch-up starting; or at
    /// 60 s if none comes).
    DuringCatchUp(u64),
}

/// A round waiting for a fill/exit line or a state save kills anyway after this.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

impl KillMode {
    /// How long after its trigger the kill comes.
    fn delay(self) -> Duration {
        match self {
            Self::At(_) => Duration::ZERO,
            Self::AfterMoneyEvent(ms) | Self::AfterStateSave(ms) | Self::DuringCatchUp(ms) => {
                Duration::from_millis(ms)
            }
        }
    }

    /// How often the trigger is polled: finely when the kill must land right after a write.
    fn poll_every(self) -> Duration {
        match self {
            Self::At(_) => Duration::from_millis(20),
            Self::AfterMoneyEvent(_) | Self::AfterStateSave(_) | Self::DuringCatchUp(_) => {
                Duration::from_micros(500)
            }
        }
    }

    /// What the round says when its trigger never came within [`GIVE_UP_AFTER`].
    fn gave_up(self) -> Option<&'static str> {
        match self {
            Self::At(_) => None,
            Self::AfterMoneyEvent(_) => Some("no fill/exit in 60s"),
            Self::AfterStateSave(_) => Some("no state save in 60s"),
            Self::DuringCatchUp(_) => Some("no catch-up in 60s"),
        }
    }

    fn label(self) -> String {
        match self {
            Self::At(d) => format!("random {:.1}s", d.as_secs_f64()),
            Self::AfterMoneyEvent(ms) => format!("fill/exit +{ms}ms"),
            Self::AfterStateSave(ms) => format!("state save +{ms}ms"),
            Self::DuringCatchUp(ms) => format!("catch-up +{ms}ms"),
        }
    }
}

/// One round's outcome, a row of the table.
pub(crate) struct Row {
    pub(crate) round: u32,
    pub(crate) mode: String,
    pub(crate) killed_after_s: f64,
    pub(crate) copy: String,
    pub(crate) placement: String,
    pub(crate) book: String,
    pub(crate) equity: String,
    pub(crate) lock: String,
    pub(crate) problems: Vec<String>,
    /// Facts worth reading that are not failures (an unjournaled fill/exit).
    pub(crate) notes: Vec<String>,
}

pub(crate) struct Env {
    pub(crate) binary: PathBuf,
    pub(crate) workspace: PathBuf,
    pub(crate) csv: PathBuf,
    pub(crate) config: PathBuf,
    pub(crate) console_dir: PathBuf,
    pub(crate) faults: bool,
}

/// Runs the crash rounds.
pub(crate) fn run(sh: &Shell, args: &[String]) -> Result<()> {
    let options = parse_options(args)?;
    let started = Instant::now();
    let binary = build_binary(sh, "release")?;
    let target = target_dir(&sh.current_dir());
    let workspace = target.join("crash-workspace");
    let _ = fs::remove_dir_all(&workspace);
    let scratch = target.join("crash-scratch");
    let _ = fs::remove_dir_all(&scratch);
    let console_dir = scratch.join("console");
    fs::create_dir_all(&console_dir)
        .with_context(|| format!("cannot create {}", console_dir.display()))?;
    let config = scratch.join("crash.toml");
    write_file(&config, FAST_TRADING_TOML)?;
    let env = Env {
        binary,
        workspace,
        csv: scratch.join("round.csv"),
        config,
        console_dir,
        faults: options.faults,
    };
    let per_round = ROUND_CANDLES + HISTORY_GAP + 10;
    let bars = market_csv::series(options.seed, per_round * (options.rounds as usize + 2));
    let mut rng = Lcg::new(options.seed);
    let mut cursor = 0usize;
    let mut rows = Vec::new();
    println!(
        "crash: {} rounds, seed {}, faults {}, workspace {}",
        options.rounds,
        options.seed,
        if options.faults { "on" } else { "off" },
        env.workspace.display()
    );
    for round in 1..=options.rounds {
        let mode = match round % 4 {
            1 => KillMode::AfterStateSave(rng.below(10)),
            2 => KillMode::DuringCatchUp(rng.below(300)),
            3 => KillMode::AfterMoneyEvent(rng.below(10)),
            _ => KillMode::At(Duration::from_millis(1_000 + rng.below(24_000))),
        };
        let slice = &bars[cursor..(cursor + ROUND_CANDLES + HISTORY_GAP).min(bars.len())];
        market_csv::write_csv(&env.csv, slice)?;
        let (row, elapsed) = crash_round(&env, round, mode)?;
        print_row(&row);
        rows.push(row);
        // The next round's history starts after every candle this round could have seen.
        let seen = (elapsed.as_secs_f64() * SPEED / 60.0).ceil();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let seen = seen as usize;
        cursor += HISTORY_GAP + seen + 3;
    }
    let slice = &bars[cursor..(cursor + ROUND_CANDLES + HISTORY_GAP).min(bars.len())];
    market_csv::write_csv(&env.csv, slice)?;
    let final_check = clean_final_run(&env);
    let failed: Vec<&Row> = rows.iter().filter(|r| !r.problems.is_empty()).collect();
    println!(
        "\ncrash: {} rounds in {:.0} s, {} failed; final clean run: {}",
        rows.len(),
        started.elapsed().as_secs_f64(),
        failed.len(),
        match &final_check {
            Ok(text) => format!("ok ({text})"),
            Err(e) => format!("FAILED: {e:#}"),
        }
    );
    let count = |needle: &str| {
        rows.iter()
            .filter(|r| r.placement.starts_with(needle))
            .count()
    };
    let after_event = rows.iter().filter(|r| r.mode.starts_with("fill")).count();
    let after_save = rows
        .iter()
        .filter(|r| r.mode.starts_with("state save"))
        .count();
    let mid_catch_up = rows
        .iter()
        .filter(|r| r.notes.iter().any(|n| n.starts_with("killed mid catch-up")))
        .count();
    let caught_up = rows
        .iter()
        .filter(|r| r.notes.iter().any(|n| n.starts_with("caught up")))
        .count();
    let totals = format!(
        "{after_save} kills right after a state save, {after_event} right after a fill/exit line, {mid_catch_up} in the middle of a catch-up ({caught_up} rounds caught up a downtime before their kill); state in step with the journal in {} rounds, journal ahead in {}, state ahead (unjournaled fill/exit) in {}",
        count("in step"),
        count("journal"),
        count("state")
    );
    println!("crash: {totals}");
    write_report(
        sh,
        &target,
        &options,
        &rows,
        &totals,
        &final_check,
        started.elapsed(),
    )?;
    if failed.is_empty() && final_check.is_ok() {
        Ok(())
    } else {
        let mut lines: Vec<String> = failed
            .iter()
            .map(|r| format!("round {}: {}", r.round, r.problems.join("; ")))
            .collect();
        if let Err(e) = final_check {
            lines.push(format!("final clean run: {e:#}"));
        }
        bail!("crash test failed:\n  {}", lines.join("\n  "))
    }
}

fn verdict(row: &Row) -> String {
    let mut text = if row.problems.is_empty() {
        "ok".to_owned()
    } else {
        format!("FAIL: {}", row.problems.join("; "))
    };
    if !row.notes.is_empty() {
        text.push_str(&format!(" ({})", row.notes.join("; ")));
    }
    text
}

fn print_row(row: &Row) {
    println!(
        "round {:>3} | {:<18} | killed at {:>5.1}s | state {:<4} | {:<16} | {:<44} | equity {:<20} | lock {:<10} | {}",
        row.round,
        row.mode,
        row.killed_after_s,
        row.copy,
        row.placement,
        row.book,
        row.equity,
        row.lock,
        verdict(row)
    );
}

/// `<target>/crash-report.md`: the table and the totals.
fn write_report(
    sh: &Shell,
    target: &Path,
    options: &Options,
    rows: &[Row],
    totals: &str,
    final_check: &Result<String>,
    wall: Duration,
) -> Result<()> {
    let (date, commit) = provenance(sh);
    let mut md = format!(
        "# Crash report\n\n- date: {date}\n- commit: {commit}\n- command: `cargo xtask crash --rounds {} --seed {}{}`\n- wall time: {:.0} s\n- {totals}\n- final clean run: {}\n\n| round | kill | after (s) | state copy | state vs journal | account | first heartbeat equity | lock | verdict |\n|---|---|---|---|---|---|---|---|---|\n",
        options.rounds,
        options.seed,
        if options.faults { " --faults" } else { "" },
        wall.as_secs_f64(),
        match final_check {
            Ok(text) => format!("ok ({text})"),
            Err(e) => format!("FAILED: {e:#}"),
        }
    );
    for r in rows {
        md.push_str(&format!(
            "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {} |\n",
            r.round,
            r.mode,
            r.killed_after_s,
            r.copy,
            r.placement,
            r.book,
            r.equity,
            r.lock,
            verdict(r).replace('|', "\\|")
        ));
    }
    write_file(&target.join("crash-report.md"), md)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(crate) fn session_args(env: &Env, duration: &str) -> Result<Vec<String>> {
    let mut args = sim_session_args("120", duration, &env.workspace, &env.config)?;
    args.extend(["--data".to_owned(), path_text(&env.csv)?]);
    if env.faults {
        // Virtual offsets: at 120× one wall second is two minutes.
        for fault in [
            "240s@drop-tcp",
            "600s@gap:2",
            "900s@garbage:truncated",
            "1500s@close-frame",
        ] {
            args.push("--fault".into());
            args.push(fault.into());
        }
    }
    Ok(args)
}

fn crash_round(env: &Env, round: u32, mode: KillMode) -> Result<(Row, Duration)> {
    let before = before_round(&env.workspace)?;
    let console = env.console_dir.join(format!("round-{round:03}.log"));
    let mut child = spawn_with_console(&env.binary, &session_args(env, "10m")?, &console)?;
    let pid = child.id();
    let journal = env.workspace.join("paper").join("events.jsonl");
    let state_file = env.workspace.join("paper").join("broker_state.json");
    let state_before = modified(&state_file);
    let started = Instant::now();
    let mut first_beat = None;
    let mut mode_text = mode.label();
    let mut exited: Option<ExitStatus> = None;
    let mut last_beat_poll = Instant::now() - Duration::from_secs(1);
    let mut scanned = before.journal_len;
    let kill_at = loop {
        if let Some(status) = child.try_wait().context("wait")? {
            exited = Some(status);
            break now_ms();
        }
        if first_beat.is_none() && last_beat_poll.elapsed() >= Duration::from_millis(100) {
            last_beat_poll = Instant::now();
            first_beat = heartbeat_of(&env.workspace, pid);
        }
        let fired = match mode {
            KillMode::At(at) => started.elapsed() >= at,
            KillMode::AfterMoneyEvent(_) => new_line_of(
                &journal,
                &mut scanned,
                &["\"kind\":\"fill\"", "\"kind\":\"exit\""],
            ),
            KillMode::DuringCatchUp(_) => {
                new_line_of(&journal, &mut scanned, &["\"kind\":\"downtime_detected\""])
            }
            KillMode::AfterStateSave(_) => modified(&state_file) != state_before,
        };
        if fired {
            thread::sleep(mode.delay());
            break kill(&mut child);
        }
        if let Some(label) = mode.gave_up()
            && started.elapsed() >= GIVE_UP_AFTER
        {
            mode_text = label.into();
            break kill(&mut child);
        }
        thread::sleep(mode.poll_every());
    };
    let elapsed = started.elapsed();
    let mut row = Row {
        round,
        mode: mode_text,
        killed_after_s: elapsed.as_secs_f64(),
        copy: "-".into(),
        placement: "-".into(),
        book: "-".into(),
        equity: "-".into(),
        lock: "-".into(),
        problems: Vec::new(),
        notes: Vec::new(),
    };
    if let Some(status) = exited {
        let tail = fs::read_to_string(&console).unwrap_or_default();
        let tail: String = tail.lines().rev().take(5).collect::<Vec<_>>().join(" / ");
        // Exit 5: the restart refused the account the previous kill left (corrupt copies or
        // a state behind the journal) — exactly what this harness exists to rule out.
        let refused = if status.code() == Some(5) {
            " — it refused the saved account (exit 5)"
        } else {
            ""
        };
        row.problems.push(format!(
            "the session exited by itself ({status}){refused} before the kill: {tail}"
        ));
    }
    check_after_kill(env, &before, kill_at, first_beat, &mut row);
    Ok((row, elapsed))
}

/// Whether complete lines appended to `journal` since `scanned` contain one of `needles`
/// (a partial last line is read again next time).
fn new_line_of(journal: &Path, scanned: &mut u64, needles: &[&str]) -> bool {
    let len = fs::metadata(journal).map_or(0, |m| m.len());
    if len <= *scanned {
        return false;
    }
    let fresh = read_range(journal, *scanned, len);
    fresh.rfind('\n').is_some_and(|end| {
        *scanned += end as u64 + 1;
        let complete = &fresh[..=end];
        needles.iter().any(|needle| complete.contains(needle))
    })
}

fn read_range(path: &Path, from: u64, to: u64) -> String {
    let Ok(mut file) = fs::File::open(path) else {
        return String::new();
    };
    if file.seek(SeekFrom::Start(from)).is_err() {
        return String::new();
    }
    let mut buf = vec![0u8; usize::try_from(to - from).unwrap_or(0)];
    match file.read_exact(&mut buf) {
        Ok(()) => String::from_utf8_lossy(&buf).into_owned(),
        Err(_) => String::new(),
    }
}

/// The modification time of `path` (`None` while it does not exist).
fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// SIGKILL (`Child::kill` sends SIGKILL on Unix) and reap; returns the kill time.
fn kill(child: &mut Child) -> i64 {
    let at = now_ms();
    let _ = child.kill();
    let _ = child.wait();
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_to_fifty_rounds() {
        let o = parse_options(&[]).unwrap();
        assert_eq!((o.rounds, o.seed, o.faults), (50, 1, false));
        let o = parse_options(&["--rounds".into(), "3".into(), "--faults".into()]).unwrap();
        assert_eq!((o.rounds, o.faults), (3, true));
        assert!(parse_options(&["--rounds".into(), "0".into()]).is_err());
    }
}
