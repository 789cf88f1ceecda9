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

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use la_broker_paper::{BrokerConfig, BrokerState, MarketFillModel, PaperBroker, persist};
use tokio::sync::mpsc;

use crate::{
    breaker::BreakerLimits,
    config::RunConfig,
    engine::{Engine, EngineConfig},
    error::SessionError,
    live_loop::Live,
    report::SessionReport,
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
}

impl std::fmt::Debug for SessionHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHooks")
            .field("hurry", &self.hurry.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Broker settings derived from the run configuration.
pub fn broker_config(config: &RunConfig) -> BrokerConfig {
    BrokerConfig {
        starting_balance: config.starting_balance,
        slippage_bps: config.slippage_bps,
        seed: config.seed,
        latency_ms: config.latency_ms,
        market_fill: MarketFillModel::DecisionPrice,
        ..BrokerConfig::default()
    }
}

/// Runs a live session until `stop` resolves or an internal condition stops it.
///
/// # Errors
/// Start-up failures (lock held, unreadable workspace, feed or simulator failing to start).
/// Once running, failures are counted and reported in the [`SessionReport`] instead.
pub async fn run(
    config: RunConfig,
    stop: impl Future<Output = StopReason>,
    mut hooks: SessionHooks,
) -> Result<SessionReport, SessionError> {
    let workspace = Workspace::new(&config.workspace);
    workspace.create_dirs()?;
    let (lock, lock_outcome) = SessionLock::acquire(&workspace.lock_file())?;
    if let LockOutcome::TookOverStale { previous_pid } = lock_outcome {
        tracing::warn!(symbol = %config.symbol, previous_pid, "took over the lock of a dead session");
    }
    let run_id = format!("{}-{}", crate::time_fmt::run_stamp(), std::process::id());
    let run_dir = workspace.create_run_dir(&run_id)?;
    let started_wall_ms = wall_now_ms();
    tracing::info!(symbol = %config.symbol, run_id = %run_id, source = config.source.as_str(), "session starting");

    let broker_cfg = broker_config(&config);
    let spec = broker_cfg.spec.clone();
    let loaded_broker = persist::load_json::<BrokerState>(&workspace.broker_state())?;
    report_quarantine(&config, &loaded_broker.quarantined);
    let mut outbox = Vec::new();
    let broker = match loaded_broker.value {
        Some(mut state) => {
            outbox = std::mem::take(&mut state.outbox);
            tracing::info!(symbol = %config.symbol, "restored broker state");
            PaperBroker::from_state(broker_cfg, state)?
        }
        None => PaperBroker::new(broker_cfg)?,
    };
    let loaded_session = persist::load_json::<SessionState>(&workspace.unified_state())?;
    report_quarantine(&config, &loaded_session.quarantined);
    let restored = loaded_session.value;
    let starting_equity = restored
        .as_ref()
        .map_or(config.starting_balance, |s| s.starting_equity);
    let strategy = la_strategy::build(config.strategy, &config.strategy_config)?;
    let warmup_bars = config.warmup_bars.max(strategy.warmup_bars());
    let engine = Engine::new(
        EngineConfig {
            symbol: config.symbol,
            warmup_bars: config.warmup_bars,
            dry_run: config.dry_run,
            order_queue_capacity: 16,
            breaker: BreakerLimits {
                max_daily_drawdown: config.max_daily_drawdown,
                max_consecutive_losses: config.max_consecutive_losses,
            },
        },
        broker,
        strategy,
        &spec,
        restored
            .as_ref()
            .map(|s| s.breaker.clone())
            .unwrap_or_default(),
        restored
            .as_ref()
            .and_then(|s| s.last_candle_open_ms)
            .and_then(|ms| la_core::TimestampMs::new(ms).ok()),
    );
    let mut sink = FileSink::open(
        &workspace.events_journal(),
        true,
        &run_dir,
        config.symbol.as_str(),
    )?;
    sink.recover_unjournaled(&outbox);
    let mut writer = StateWriter::spawn(workspace.broker_state(), workspace.unified_state());
    let (feed, seed) = open_source(&config, warmup_bars + 20).await?;

    let (aux_tx, aux_rx) = mpsc::unbounded_channel();
    let mut live = Live::new(
        config,
        workspace,
        run_id,
        run_dir,
        started_wall_ms,
        engine,
        sink,
        starting_equity,
        aux_tx,
        feed.rest(),
    );
    live.journal_session_event("session_started", &lock_outcome_label(&lock_outcome));
    match seed {
        Seed::Ready(history) => live.apply_history(history),
        Seed::Rest { rest, bars, now } => live.spawn_seed(rest, bars, now),
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
        tracing::error!(symbol = %config.symbol, path = %path.display(), "corrupt state file quarantined; loaded the backup or started fresh");
    }
}

/// Builds the session state for a snapshot.
pub(crate) fn session_state(live: &Live) -> SessionState {
    SessionState {
        schema_version: SESSION_SCHEMA_VERSION,
        starting_equity: live.starting_equity,
        last_candle_open_ms: live.engine.last_candle_open().map(|ts| ts.as_ms()),
        breaker: live.engine.breaker().state().clone(),
        run_id: live.run_id.clone(),
        saved_at: now_rfc3339(),
    }
}

/// How long shutdown steps may take.
pub(crate) fn step_deadline(hurry: &AtomicBool) -> Duration {
    if hurry.load(Ordering::Relaxed) {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(5)
    }
}
