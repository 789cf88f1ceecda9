//! The autonomous live session: start-up, the supervisor loop, and the one shutdown path.
//!
//! One `select!` loop owns the engine, so there are no locks on the trading path: a tick
//! arriving from the feed goes straight into the broker's exit checks. Timers (heartbeat,
//! checkpoint, kill switch, stale-data ladder, duration) are arms of the same loop; slow
//! work (REST seeding, funding lookups, fallback polls, state saves) runs in spawned tasks
//! that report back over channels, so intake never stalls. The loop ends with exactly one
//! [`StopReason`], and the shutdown sequence after it always runs to the end:
//! stop intake → cancel working orders → drain the queue → optional force-close → save
//! state (time-limited) → write run artifacts → release the lock.
//!
//! # Layout
//! - this file: start-up (lock, restored state, engine, journal, source) and [`Live`], the
//!   state the supervisor owns;
//! - `supervisor`: the `select!` loop and the market-event, helper-task and save-outcome arms;
//! - `warmup`: warm-up history (applied at once, or fetched over REST off the data path);
//! - `heartbeat`: the per-second status, memory ceiling and error budget;
//! - `stale`: the stale-data ladder (warn → reconnect → REST poll → stop);
//! - `stop_files`: the kill switch and the stop-request file;
//! - `catch_up`: noticing a downtime (restart, suspend, outage) and replaying the missed
//!   market before trading on;
//! - `hold`: holding ticks and candles back while seeding, catching up or awaiting a
//!   funding rate, and applying them in order afterwards;
//! - `funding`: settling funding at funding times with the rate that settled then, the
//!   lookups off the data path;
//! - `shutdown`: the shutdown sequence and the run summary;
//! - `operator`: the view published to the operator surface (dashboard, `/metrics`,
//!   `/healthz`) and the HTTP server's lifetime.

mod alerting;
mod catch_up;
mod funding;
mod heartbeat;
mod hold;
mod operator;
mod service;
mod shutdown;
mod stale;
mod stop_files;
mod supervisor;
mod warmup;

use std::{
    future::Future,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use la_broker_paper::BrokerError;
use la_core::{Broker, Decimal, TimestampMs};
use la_feed_bitunix::RestClient;
use la_run_schema::RunSummary;
use tokio::{sync::mpsc, time::Instant};

use self::{stale::StaleStage, supervisor::Aux};
use crate::{
    config::RunConfig,
    downtime::{DowntimeRecord, SuspendDetector, SystemClocks},
    engine::{Engine, RestoredState, build_engine},
    error::SessionError,
    funding::FundingSchedule,
    journal::JournalEvent,
    run_files::FileSink,
    sources::{Seed, open_source},
    state::{SESSION_SCHEMA_VERSION, SessionState, StateWriter},
    status::Heartbeat,
    stop::StopReason,
    time_fmt::{now_rfc3339, wall_now_ms},
    workspace::{LockOutcome, SessionLock, Workspace},
};

/// The per-second status callback.
pub type StatusCallback = Box<dyn FnMut(&Heartbeat) + Send>;

/// Callbacks and flags the front end provides.
#[derive(Default)]
pub struct SessionHooks {
    /// Called every second with the heartbeat (the CLI prints the status line).
    pub on_status: Option<StatusCallback>,
    /// Set by a second SIGINT: shorten waits during shutdown (state is still saved).
    pub hurry: Arc<AtomicBool>,
    /// `--reset-account`: move the saved account and its journal aside and start fresh
    /// (see `recovery::reset_account`).
    pub reset_account: bool,
}

impl std::fmt::Debug for SessionHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHooks")
            .field("hurry", &self.hurry.load(Ordering::Relaxed))
            .field("reset_account", &self.reset_account)
            .finish_non_exhaustive()
    }
}

/// Runs a live session until `stop` resolves or an internal condition stops it.
///
/// # Errors
/// Start-up failures (lock held, unreadable workspace, feed or simulator failing to start).
/// Once running, failures are counted and reported in the [`RunSummary`] instead.
pub async fn run(
    config: RunConfig,
    stop: impl Future<Output = StopReason>,
    mut hooks: SessionHooks,
) -> Result<RunSummary, SessionError> {
    let workspace = Workspace::new(&config.workspace);
    workspace.create_dirs()?;
    // Read before this run rewrites it: a heartbeat without a stop reason means the last
    // session ended without its shutdown sequence.
    let previous_beat = crate::status::read_heartbeat(&workspace.heartbeat()).ok();
    let locking_at = std::time::SystemTime::now();
    let (lock, lock_outcome) = SessionLock::acquire(&workspace.lock_file())?;
    stop_files::discard_stale_stop_request(&workspace.stop_request_file(), locking_at);
    let unclean = match (
        &lock_outcome,
        previous_beat.filter(|b| b.stopping.is_none()),
    ) {
        (LockOutcome::TookOverStale { previous_pid }, _) => Some(format!(
            "the previous session (pid {previous_pid}) died holding the workspace lock"
        )),
        (_, Some(beat)) => Some(format!(
            "the previous run {} never recorded a stop (killed or crashed)",
            beat.run_id
        )),
        _ => None,
    };
    if let LockOutcome::TookOverStale { previous_pid } = lock_outcome {
        tracing::warn!(symbol = %config.symbol, previous_pid, "took over the lock of a dead session");
    }
    let run_id = format!("{}-{}", crate::time_fmt::run_stamp(), std::process::id());
    let run = RunIdentity {
        run_dir: workspace.create_run_dir(&run_id)?,
        run_id,
        started_wall_ms: wall_now_ms(),
    };
    tracing::info!(symbol = %config.symbol, run_id = %run.run_id, source = config.source.as_str(), "session starting");
    prune_old_runs(&workspace, &config, &run.run_id);

    if hooks.reset_account {
        crate::recovery::reset_account(&workspace)?;
    }
    let restored_files = crate::recovery::restore(&workspace)?;
    report_quarantine(&config, &restored_files.quarantined);
    let broker_path = restored_files.broker_path;
    let mut saved_broker = restored_files.broker;
    // Events held for the journal when the state was saved: journaled below if missing.
    let outbox = saved_broker
        .as_mut()
        .map(|state| std::mem::take(&mut state.outbox))
        .unwrap_or_default();
    if saved_broker.is_some() {
        tracing::info!(symbol = %config.symbol, "restored broker state");
    }
    let restored = restored_files.session;
    let starting_equity = restored
        .as_ref()
        .map_or(config.starting_balance, |s| s.starting_equity);
    let engine = build_engine(
        &config.engine_settings(),
        RestoredState {
            broker: saved_broker,
            breaker: restored
                .as_ref()
                .map(|s| s.breaker.clone())
                .unwrap_or_default(),
            last_candle_open: restored
                .as_ref()
                .and_then(|s| s.last_candle_open_ms)
                .and_then(|ms| TimestampMs::new(ms).ok()),
        },
    )
    .map_err(|err| match err {
        // A saved account the broker will not trust is a refusal, named by its file.
        SessionError::Broker(
            cause @ (BrokerError::InvalidState { .. } | BrokerError::UnsupportedSchema { .. }),
        ) => SessionError::StateRefused {
            path: broker_path.clone(),
            reason: crate::error::error_chain(&cause),
        },
        other => other,
    })?;
    let warmup_bars = config.warmup_bars.max(engine.strategy_warmup_bars());
    let mut sink = FileSink::open(
        &workspace.events_journal(),
        true,
        &run.run_dir,
        config.symbol.as_str(),
        Some(config.logs.decisions),
    )?;
    sink.recover_unjournaled(&outbox);
    let mut writer = StateWriter::spawn(workspace.broker_state(), workspace.unified_state());
    // A simulated market resumes where the account left off: the close of its last candle.
    let resume_at = engine
        .last_candle_open()
        .and_then(|last| last.checked_add_ms(config.interval.as_ms()));
    let (feed, seed) = open_source(&config, warmup_bars + 20, resume_at).await?;

    let rest = feed.rest();
    let (mut live, aux_rx) = Live::new(config, workspace, run, engine, sink, starting_equity, rest);
    live.journal(JournalEvent::SessionStarted {
        detail: &lock_outcome_label(&lock_outcome),
    });
    if let Some(previous) = unclean {
        live.alert(
            la_ops::alerts::AlertKind::UncleanRestart,
            la_ops::alerts::Severity::Warning,
            "restarted after an unclean shutdown",
            previous,
            serde_json::Map::new(),
        );
    }
    let http = live.config.http;
    live.operator
        .start_http(http, live.config.symbol.as_str())
        .await;
    match seed {
        Seed::Ready(history) => live.apply_history(history),
        Seed::Rest { rest, bars, now } => {
            // With a saved state: warm up on the history up to the last candle it decided,
            // and catch up on everything after it.
            let restored_last = live.engine.last_candle_open().or_else(|| {
                // A broker state without the session's (a kill between the two writes of
                // the very first save) still holds a position the market may have closed
                // meanwhile: catch up from the candle it was opened in.
                let interval = live.config.interval;
                let opened = live.engine.broker().position()?.opened_at;
                interval
                    .open_time_of(opened)
                    .checked_add_ms(-interval.as_ms())
            });
            let warm_up_until = restored_last
                .and_then(|last| last.checked_add_ms(live.config.interval.as_ms()))
                .map_or(now, |after| after.min(now));
            live.spawn_seed(rest, bars, warm_up_until);
            if let Some(last) = restored_last {
                live.begin_restart_catch_up(last);
            }
        }
    }
    let mut stop = std::pin::pin!(stop);
    let (reason, feed) = live
        .run_loop(feed, &mut writer, aux_rx, &mut stop, &mut hooks)
        .await;
    let report = live
        .shutdown(reason, feed, writer, Arc::clone(&hooks.hurry))
        .await;
    lock.release();
    Ok(report)
}

fn lock_outcome_label(outcome: &LockOutcome) -> String {
    match outcome {
        LockOutcome::Fresh => "fresh_lock".to_owned(),
        LockOutcome::TookOverStale { previous_pid } => {
            format!("took_over_stale_lock_of_pid_{previous_pid}")
        }
    }
}

fn report_quarantine(config: &RunConfig, quarantined: &[std::path::PathBuf]) {
    for path in quarantined {
        tracing::error!(symbol = %config.symbol, path = %path.display(), "corrupt state file quarantined; loaded the backup, which the journal confirms");
    }
}

/// Runs a helper task's request within `limit`: its value, or its error's cause chain (or
/// the timeout) as one line for the log and the journal.
async fn within<T, E: std::error::Error>(
    limit: Duration,
    request: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(crate::error::error_chain(&err)),
        Err(_) => Err(format!("timed out after {}s", limit.as_secs())),
    }
}

/// How long shutdown steps may take.
fn step_deadline(hurry: &AtomicBool) -> Duration {
    if hurry.load(Ordering::Relaxed) {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(5)
    }
}

/// Which run this is: its id, directory and wall-clock start.
struct RunIdentity {
    run_id: String,
    run_dir: PathBuf,
    started_wall_ms: i64,
}

/// What the supervisor counts for the heartbeat, the error budget and the summary.
#[derive(Debug, Default)]
struct LiveCounters {
    /// Errors counted against the error budget.
    errors: u32,
    /// The most recent error's cause chain.
    last_error: Option<String>,
    /// Feed reconnect attempts seen as connection events.
    reconnects: u64,
    /// Failed state saves (each one alerted).
    save_failures: u64,
    /// Successful background state saves.
    saves_ok: u64,
    /// Heartbeat ticks so far (the memory check and journal flush run on multiples).
    heartbeats: u64,
    /// Closed candles after which a position was open (the summary's exposure).
    exposure_bars: u64,
    /// Ticks and candles dropped because a catch-up had already replayed their time.
    covered_by_catch_up: u64,
}

/// Everything the supervisor owns while running. The fields are private to `live`: the
/// submodules are the loop's arms, and nothing outside the session loop touches them.
struct Live {
    config: RunConfig,
    workspace: Workspace,
    run: RunIdentity,
    /// Monotonic start, for uptime and the duration limit.
    started: Instant,
    engine: Engine,
    sink: FileSink,
    /// Account equity when this workspace's account was created (persisted across runs).
    starting_equity: Decimal,
    /// Account equity when this run started (the summary's baseline).
    session_start_equity: Decimal,
    /// The broker ledger's cumulative funding when this run started (the summary's
    /// funding is its change over the run).
    session_start_funding: Decimal,
    aux_tx: mpsc::UnboundedSender<Aux>,
    rest: Option<Arc<RestClient>>,
    /// Why ticks and candles are held back right now.
    holds: hold::Holds,
    /// Ticks and candles held back, oldest first.
    buffer: hold::EventBuffer,
    last_data: Instant,
    /// Whether any market data arrived yet (health is `starting` until then).
    data_seen: bool,
    /// Set once the kill switch was engaged (the session is stopping because of it).
    kill_switch_engaged: bool,
    stale: StaleStage,
    /// The operator surface: published views and the HTTP server.
    operator: operator::Operator,
    /// The service manager's notify socket (systemd), when there is one.
    service: service::ServiceNotifier,
    /// Alert delivery (file and webhook, off the trading path).
    alerter: la_ops::alerts::Alerter,
    /// The daily digest's baseline and the alert conditions' memory.
    digest: alerting::DigestState,
    last_poll: Option<Instant>,
    funding: FundingSchedule,
    pending_funding: funding::PendingFunding,
    /// The newest exchange time any market event showed, as received (a jump past it means
    /// missed candles).
    exchange_now: Option<TimestampMs>,
    /// The local clocks and the suspend detector reading them every heartbeat.
    clocks: SystemClocks,
    suspend: SuspendDetector,
    /// The catch-up in progress, if any.
    catch_up: Option<catch_up::CatchUpRun>,
    /// The candles catch-ups replayed (the feed's backfill of the same candles is then
    /// covered; a hole outside them is not).
    replayed_candles: crate::downtime::ReplayedCandles,
    /// Close time of the last candle a catch-up replayed (older ticks are covered).
    caught_up_until: Option<TimestampMs>,
    /// The downtimes detected this run, for the summary and the heartbeat.
    downtimes: Vec<DowntimeRecord>,
    /// How many of the newest `downtimes` wait to be journaled (after their events).
    unjournaled_catch_ups: usize,
    /// A suspend of the machine was found: the next heartbeat asks the feed to reconnect.
    reconnect_wanted: bool,
    counters: LiveCounters,
    /// A stop decided inside a handler that could not return it directly.
    pending_stop: Option<StopReason>,
}

impl Live {
    /// The supervisor's state at start-up, and the receiver of its helper tasks' results.
    fn new(
        config: RunConfig,
        workspace: Workspace,
        run: RunIdentity,
        engine: Engine,
        mut sink: FileSink,
        starting_equity: Decimal,
        rest: Option<Arc<RestClient>>,
    ) -> (Self, mpsc::UnboundedReceiver<Aux>) {
        let session_start_equity = la_core::Broker::equity(engine.broker());
        let session_start_funding = engine.broker().stats().funding_total;
        // Money events wait for the state save that contains them (write-ahead).
        sink.hold_broker_events();
        let (aux_tx, aux_rx) = mpsc::unbounded_channel();
        let alerter = la_ops::alerts::Alerter::spawn(la_ops::alerts::AlertConfig::new(
            workspace.logs_dir().join("alerts.jsonl"),
            config.alerts.webhook.clone(),
            config.alerts.shape,
        ));
        let live = Self {
            config,
            workspace,
            run,
            started: Instant::now(),
            engine,
            sink,
            starting_equity,
            session_start_equity,
            session_start_funding,
            aux_tx,
            rest,
            holds: hold::Holds::default(),
            buffer: hold::EventBuffer::default(),
            last_data: Instant::now(),
            data_seen: false,
            kill_switch_engaged: false,
            stale: StaleStage::Fresh,
            operator: operator::Operator::new(),
            service: service::ServiceNotifier::from_env(),
            alerter,
            digest: alerting::DigestState::default(),
            last_poll: None,
            funding: FundingSchedule::default(),
            pending_funding: funding::PendingFunding::default(),
            exchange_now: None,
            clocks: SystemClocks::default(),
            suspend: SuspendDetector::new(Duration::from_secs(1)),
            catch_up: None,
            replayed_candles: crate::downtime::ReplayedCandles::default(),
            caught_up_until: None,
            downtimes: Vec::new(),
            unjournaled_catch_ups: 0,
            reconnect_wanted: false,
            counters: LiveCounters::default(),
            pending_stop: None,
        };
        (live, aux_rx)
    }

    /// Writes a session-level event to the journal, at the newest event time seen.
    fn journal(&mut self, event: JournalEvent<'_>) {
        let ts = self.engine.last_event_time().map(TimestampMs::as_ms);
        self.sink.journal().append(ts, &event);
    }

    fn record_error(&mut self, message: String) {
        self.counters.errors = self.counters.errors.saturating_add(1);
        self.counters.last_error = Some(message);
    }

    /// The session state for a snapshot.
    fn session_state(&self) -> SessionState {
        SessionState {
            schema_version: SESSION_SCHEMA_VERSION,
            starting_equity: self.starting_equity,
            last_candle_open_ms: self.engine.last_candle_open().map(|ts| ts.as_ms()),
            breaker: self.engine.breaker().state().clone(),
            run_id: self.run.run_id.clone(),
            saved_at: now_rfc3339(),
        }
    }
}

/// Keeps `runs/` to `keep_runs` directories, never touching this run: a session restarted
/// daily for months would otherwise fill the disk with run directories nobody reads.
fn prune_old_runs(workspace: &Workspace, config: &RunConfig, run_id: &str) {
    let keep = config.logs.keep_runs as usize;
    match workspace.prune_runs(keep, &[run_id]) {
        Ok(outcome) => {
            if !outcome.removed.is_empty() {
                tracing::info!(symbol = %config.symbol, removed = outcome.removed.len(), kept = outcome.kept, keep_runs = keep, "deleted old run directories");
            }
            for (name, reason) in outcome.failed {
                tracing::warn!(symbol = %config.symbol, run = %name, reason = %reason, "cannot delete an old run directory");
            }
        }
        Err(err) => {
            tracing::warn!(symbol = %config.symbol, error = &err as &dyn std::error::Error, "cannot prune old run directories");
        }
    }
}
