//! `laptop-agents doctor`: checks that a session can run here, each check PASS, WARN or FAIL
//! with a one-line reason, and exits 1 when any check fails.
//!
//! Checks: the configuration resolves and validates (the same `settings::load_run_config`
//! as `run`: defaults < `--config` < `LA_*` < flags); the workspace is writable (a probe file
//! is created and removed; a workspace that does not exist yet is checked through its nearest
//! existing parent, and not created); no stale session lock; the saved account restores
//! (read-only: the state files pass their checksum and field checks and agree with the
//! journal, as `run` requires; see `la_session::recovery`); the system clock is plausible;
//! the exchange's REST API answers within 5 s (`tickers` through the feed crate's
//! `RestClient`); and the local clock agrees with the exchange's within 5 s.
//!
//! The Bitunix `tickers` answer carries no server time, so the clock comparison uses the
//! HTTP `Date` header (1 s resolution) of that same answer, which the feed crate's
//! `RestClient::last_price_with_server_date` returns with the price (over plain HTTP and
//! TLS alike): one request proves reachability and reads the exchange's clock.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

use clap::{Args as _, FromArgMatches as _};
use la_core::{Interval, Symbol, TimestampMs};
use la_feed_bitunix::ServerDate;
use la_feed_bitunix::{DEFAULT_REST_URL, FeedConfig, FeedError, RestClient};
use la_session::workspace::{LockState, SessionLock, Workspace};
use serde_json::json;
use time::{OffsetDateTime, macros::format_description};

use crate::{
    Failure,
    args::{DoctorArgs, RunArgs},
    console::outln,
    settings,
};

/// How long the exchange may take to answer.
const EXCHANGE_DEADLINE: Duration = Duration::from_secs(5);
/// Largest tolerated difference between the local and the exchange clock.
const MAX_EXCHANGE_SKEW: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Warn => "WARN",
            Self::Fail => "FAIL",
        }
    }
}

/// One check's verdict.
#[derive(Debug)]
struct Check {
    name: &'static str,
    status: Status,
    detail: String,
}

impl Check {
    fn new(name: &'static str, status: Status, detail: impl Into<String>) -> Self {
        Self {
            name,
            status,
            detail: detail.into(),
        }
    }
}

pub(crate) fn run(args: &DoctorArgs) -> Result<ExitCode, Failure> {
    let mut checks = Vec::new();
    let (config_check, config) = check_config(args);
    checks.push(config_check);
    let workspace_root = args
        .workspace
        .workspace
        .clone()
        .or_else(|| config.as_ref().map(|c| c.workspace.clone()))
        .unwrap_or_else(|| args.workspace.resolve());
    let workspace = Workspace::new(&workspace_root);
    checks.push(check_workspace(workspace.root()));
    checks.push(check_lock(&workspace.lock_file()));
    checks.push(check_account(&workspace));
    checks.push(check_local_clock(OffsetDateTime::now_utc()));
    let rest_url = args
        .rest_url
        .clone()
        .or_else(|| config.as_ref().map(|c| c.rest_url.clone()))
        .unwrap_or_else(|| DEFAULT_REST_URL.to_owned());
    let symbol = match &config {
        Some(config) => config.symbol,
        None => Symbol::new("BTCUSDT").map_err(|e| Failure::runtime(e.to_string()))?,
    };
    checks.extend(check_exchange(&rest_url, symbol));

    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
    if args.json {
        let list: Vec<_> = checks
            .iter()
            .map(|c| json!({"check": c.name, "status": c.status.as_str(), "detail": c.detail}))
            .collect();
        let value = json!({
            "ok": failed == 0,
            "workspace": workspace.root().display().to_string(),
            "rest_url": la_core::redact_url(&rest_url),
            "checks": list,
        });
        outln!("{value}");
    } else {
        outln!(
            "laptop-agents doctor: workspace {}, exchange {}",
            workspace.root().display(),
            la_core::redact_url(&rest_url)
        );
        for check in &checks {
            outln!(
                "{}  {:<19} {}",
                check.status.as_str(),
                check.name,
                check.detail
            );
        }
        outln!(
            "{}: {failed} failed, {warned} warning(s), {} passed",
            if failed == 0 { "ok" } else { "problems found" },
            checks.len() - failed - warned
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `run`'s arguments as if none were typed, plus the flags doctor shares with `run`, so the
/// configuration goes through exactly the layering `run` uses.
fn run_args(args: &DoctorArgs) -> Result<RunArgs, clap::Error> {
    let matches =
        RunArgs::augment_args(clap::Command::new("doctor")).try_get_matches_from(["doctor"])?;
    let mut run = RunArgs::from_arg_matches(&matches)?;
    run.engine.workspace.clone_from(&args.workspace.workspace);
    run.layers = args.layers.clone();
    run.engine.rest_url.clone_from(&args.rest_url);
    Ok(run)
}

fn check_config(args: &DoctorArgs) -> (Check, Option<la_session::RunConfig>) {
    const NAME: &str = "config valid";
    let run = match run_args(args) {
        Ok(run) => run,
        Err(err) => return (Check::new(NAME, Status::Fail, err.to_string()), None),
    };
    let mut layers = match &args.layers.config {
        Some(path) => format!("defaults + {} + LA_* env", path.display()),
        None => "defaults + LA_* env".to_owned(),
    };
    if !args.layers.set.is_empty() {
        layers.push_str(" + --set");
    }
    match settings::load_run_config(&run) {
        Ok(config) => {
            let detail = format!(
                "{layers}: source {}, {} {}, strategy {}",
                config.source.as_str(),
                config.symbol,
                config.interval,
                config.strategy
            );
            (Check::new(NAME, Status::Pass, detail), Some(config))
        }
        Err(failure) => {
            let message = failure.report.to_string();
            let one_line: Vec<&str> = message.lines().map(str::trim).collect();
            (Check::new(NAME, Status::Fail, one_line.join(" ")), None)
        }
    }
}

/// Creates and removes a probe file in `dir`.
fn probe_writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".doctor-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

fn check_workspace(root: &Path) -> Check {
    const NAME: &str = "workspace writable";
    if root.is_dir() {
        return match probe_writable(root) {
            Ok(()) => Check::new(
                NAME,
                Status::Pass,
                format!("{} is writable", root.display()),
            ),
            Err(err) => Check::new(
                NAME,
                Status::Fail,
                format!("cannot write in {}: {err}", root.display()),
            ),
        };
    }
    if root.exists() {
        return Check::new(
            NAME,
            Status::Fail,
            format!("{} exists but is not a directory", root.display()),
        );
    }
    let parent = nearest_existing_ancestor(root);
    match probe_writable(&parent) {
        Ok(()) => Check::new(
            NAME,
            Status::Pass,
            format!(
                "{} does not exist yet; it can be created in {} (writable)",
                root.display(),
                parent.display()
            ),
        ),
        Err(err) => Check::new(
            NAME,
            Status::Fail,
            format!(
                "{} does not exist and cannot be created: cannot write in {}: {err}",
                root.display(),
                parent.display()
            ),
        ),
    }
}

fn nearest_existing_ancestor(path: &Path) -> PathBuf {
    path.ancestors().skip(1).find(|a| a.is_dir()).map_or_else(
        || PathBuf::from("."),
        |a| {
            if a.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                a.to_path_buf()
            }
        },
    )
}

fn check_lock(lock: &Path) -> Check {
    const NAME: &str = "stale lock";
    let shown = |pid: Option<u32>| pid.map_or_else(|| "no pid".to_owned(), |p| format!("pid {p}"));
    match SessionLock::probe(lock) {
        Ok(LockState::Absent) => Check::new(NAME, Status::Pass, "no session lock"),
        Ok(LockState::Held { pid }) => Check::new(
            NAME,
            Status::Pass,
            format!("held by a running session ({})", shown(pid)),
        ),
        Ok(LockState::Stale { pid }) => Check::new(
            NAME,
            Status::Warn,
            format!(
                "stale lock {}: no process holds it (it names {}; crashed?); the next `run` takes it over",
                lock.display(),
                shown(pid)
            ),
        ),
        Err(err) => Check::new(
            NAME,
            Status::Fail,
            format!("cannot check the lock {}: {err}", lock.display()),
        ),
    }
}

/// Whether `run` would restore the saved account, asked without touching a file: the state
/// files load (checksum, fields) and agree with the journal. A FAIL here is `run`'s exit 5.
fn check_account(workspace: &Workspace) -> Check {
    const NAME: &str = "saved account";
    match la_session::recovery::inspect(workspace) {
        Ok(files) => {
            let Some(state) = files.broker else {
                return Check::new(
                    NAME,
                    Status::Pass,
                    "no saved account: `run` starts a fresh one",
                );
            };
            let position = state.position.as_ref().map_or_else(
                || "flat".to_owned(),
                |p| format!("{} position {}", p.side, p.client_order_id.as_str()),
            );
            let detail = format!(
                "{} restores: balance {}, {} trades, {position}; consistent with the journal",
                files.broker_path.display(),
                state.balance,
                state.counters.trades
            );
            if files.quarantined.is_empty() {
                Check::new(NAME, Status::Pass, detail)
            } else {
                let corrupt: Vec<String> = files
                    .quarantined
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                Check::new(
                    NAME,
                    Status::Warn,
                    format!(
                        "{detail}; corrupt copy {} will be moved aside",
                        corrupt.join(", ")
                    ),
                )
            }
        }
        Err(err) => Check::new(
            NAME,
            Status::Fail,
            format!(
                "`run` would refuse to start (exit 5): {}; restore a good copy or use `run --reset-account`",
                la_session::error_chain(&err)
            ),
        ),
    }
}

fn check_local_clock(now: OffsetDateTime) -> Check {
    const NAME: &str = "clock sane";
    let shown = now
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_else(|_| now.unix_timestamp().to_string());
    if (2010..2100).contains(&now.year()) {
        Check::new(NAME, Status::Pass, format!("system time {shown} (UTC)"))
    } else {
        Check::new(
            NAME,
            Status::Fail,
            format!("system time {shown} is outside 2010..2100; set the clock (NTP)"),
        )
    }
}

/// The reachability check and the exchange-clock check.
fn check_exchange(rest_url: &str, symbol: Symbol) -> Vec<Check> {
    const REACH: &str = "exchange reachable";
    const CLOCK: &str = "exchange clock";
    let shown = la_core::redact_url(rest_url);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            return vec![Check::new(
                REACH,
                Status::Fail,
                format!("cannot start the async runtime: {err}"),
            )];
        }
    };
    let started = Instant::now();
    let answer = runtime.block_on(async {
        let mut config = FeedConfig::new(symbol, Interval::M1);
        config.rest_url = rest_url.to_owned();
        config.rest_timeout = EXCHANGE_DEADLINE;
        config.rest_retry_budget = 1;
        let client = RestClient::new(&config)?;
        match tokio::time::timeout(
            EXCHANGE_DEADLINE,
            client.last_price_with_server_date(symbol),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(FeedError::Timeout("no answer within 5 s")),
        }
    });
    let elapsed_ms = started.elapsed().as_millis();
    let mut checks = Vec::new();
    let mut server_date = None;
    let reachable = match answer {
        Ok((price, date)) => {
            server_date = Some(date);
            checks.push(Check::new(
                REACH,
                Status::Pass,
                format!("reachable: {shown} answered in {elapsed_ms} ms ({symbol} last {price})"),
            ));
            true
        }
        Err(
            err @ (FeedError::Api { .. }
            | FeedError::RateLimited
            | FeedError::Http { .. }
            | FeedError::Decode(_)),
        ) => {
            checks.push(Check::new(
                REACH,
                Status::Warn,
                format!(
                    "reachable, but {shown} answered with an error after {elapsed_ms} ms: {err}"
                ),
            ));
            true
        }
        Err(err @ (FeedError::Config(_) | FeedError::InvalidUrl { .. })) => {
            checks.push(Check::new(
                REACH,
                Status::Fail,
                format!("bad REST URL: {err}"),
            ));
            false
        }
        Err(err) => {
            checks.push(Check::new(
                REACH,
                Status::Fail,
                if matches!(err, FeedError::Timeout(_)) {
                    format!(
                        "offline / unreachable: {shown} did not answer within {} s",
                        EXCHANGE_DEADLINE.as_secs()
                    )
                } else {
                    format!("offline / unreachable: {shown} ({err}, after {elapsed_ms} ms)")
                },
            ));
            false
        }
    };
    let clock = match (reachable, server_date) {
        (false, _) => Check::new(
            CLOCK,
            Status::Warn,
            "not compared: the exchange is unreachable",
        ),
        (true, None) => Check::new(
            CLOCK,
            Status::Warn,
            "not compared: the exchange answered with an error",
        ),
        (true, Some(ServerDate { server: None, .. })) => Check::new(
            CLOCK,
            Status::Warn,
            "not compared: the answer has no Date header",
        ),
        (
            true,
            Some(ServerDate {
                server: Some(server),
                received,
            }),
        ) => clock_verdict(server, received),
    };
    checks.push(clock);
    // A DNS lookup stuck in the blocking pool must not hold the process.
    runtime.shutdown_background();
    checks
}

/// Compares the local clock with a `Date` header (1 s resolution: the server's time lies in
/// `[date, date + 1 s)`, so its middle is used).
fn clock_verdict(server: TimestampMs, local: TimestampMs) -> Check {
    const CLOCK: &str = "exchange clock";
    let skew_ms = local.ms_since(server) - 500;
    let skew_s = skew_ms as f64 / 1_000.0;
    if skew_ms.unsigned_abs() < MAX_EXCHANGE_SKEW.as_millis() as u64 {
        Check::new(
            CLOCK,
            Status::Pass,
            format!(
                "local clock within {:.1} s of the exchange (HTTP Date)",
                skew_s.abs()
            ),
        )
    } else {
        Check::new(
            CLOCK,
            Status::Fail,
            format!(
                "local clock is {skew_s:+.1} s off the exchange (limit {} s); sync it (NTP)",
                MAX_EXCHANGE_SKEW.as_secs()
            ),
        )
    }
}

#[cfg(test)]
mod tests;
