//! Catching up in the live session: noticing a downtime, holding live data while the
//! missed market is fetched, replaying it, and trading on.
//!
//! A downtime is noticed at start-up (the saved state is behind the exchange), on every
//! heartbeat (the local clocks jumped: the machine slept or the process was stopped), when
//! SIGCONT arrives, and on every market event (the exchange's timeline jumped more than two
//! intervals). Time in which the process did not run is not stale data: the stale-data
//! ladder restarts. Ticks and candles are held (see `hold`) while [`crate::catch_up::fetch`]
//! runs off the data path; [`crate::catch_up::replay`] then books what the market did, the
//! record goes to the journal, the summary and the heartbeat, and the held data is applied.
//! A downtime longer than `max_catch_up` stops the session (`catch_up_too_long`); a download
//! that fails is retried [`FETCH_ATTEMPTS`] times in all, [`RETRY_DELAY`] times the attempt
//! apart (the client retries each request within its own budget and rate limit first), and
//! if it still fails it is recorded and the session trades on without it. Both are
//! operator-relevant: the log line is an `ERROR` with `alert = true` and the alert channel
//! gets a critical `catch_up` alert. A download that finds nothing missed is not an error.

use std::time::Duration;

use la_core::{Broker, TimestampMs};
use tokio::time::Instant;

use la_ops::alerts::{AlertKind, Severity};

use super::{Live, alerting::fields, hold::Held, supervisor::Aux};
use crate::{
    catch_up::{self, CatchUpData, CatchUpError},
    downtime::{CatchUpExit, CatchUpOutcome, CatchingUp, DowntimeRecord, DowntimeSignal},
    error::error_chain,
    journal::JournalEvent,
    stop::StopReason,
};

/// Download attempts before a catch-up is given up.
const FETCH_ATTEMPTS: u32 = 3;

/// The wait before retry `n` is `n` times this.
const RETRY_DELAY: Duration = Duration::from_secs(2);

/// Time limit of one catch-up download (a week of one-minute candles is about 50 pages at
/// the exchange's ten requests a second).
const FETCH_TIMEOUT: Duration = Duration::from_secs(180);

/// A catch-up in progress.
#[derive(Debug)]
pub(super) struct CatchUpRun {
    signal: DowntimeSignal,
    /// The exchange time the account had reached (the downtime's start).
    since: TimestampMs,
    /// How long the local clocks say the session was away.
    away_local: Option<Duration>,
    /// Open time of the first missed candle.
    from: TimestampMs,
    attempt: u32,
    /// When it started (monotonic), for the status.
    started: Instant,
    /// A download that finished while the warm-up history was still being fetched.
    stashed: Option<Result<CatchUpData, CatchUpError>>,
}

impl Live {
    /// The market went on without the session: holds ticks and candles and fetches what was
    /// missed. A second signal during a catch-up only refines its cause (a stopped process
    /// explains an exchange-time jump).
    pub(super) fn begin_catch_up(&mut self, signal: DowntimeSignal, away_local: Option<Duration>) {
        // Time the process did not run is not stale data.
        self.last_data = Instant::now();
        self.stale_recovered();
        if let Some(run) = self.catch_up.as_mut() {
            if run.signal == DowntimeSignal::ExchangeTimeJump && signal != run.signal {
                run.signal = signal;
                run.away_local = run.away_local.or(away_local);
            }
            return;
        }
        let interval = self.config.interval;
        let (Some(last_open), Some(since)) = (
            self.engine.last_candle_open(),
            self.engine.last_event_time(),
        ) else {
            // Nothing decided yet: the warm-up fetch is bringing the latest market anyway.
            return;
        };
        let from = last_open
            .checked_add_ms(interval.as_ms())
            .unwrap_or(last_open);
        self.start_catch_up(signal, since.max(from), from, away_local);
    }

    /// At start-up with a saved state: catches up from the candle after the last one the
    /// previous run decided, while the warm-up history is fetched.
    pub(super) fn begin_restart_catch_up(&mut self, last_open: TimestampMs) {
        let from = last_open
            .checked_add_ms(self.config.interval.as_ms())
            .unwrap_or(last_open);
        self.start_catch_up(DowntimeSignal::Startup, from, from, None);
    }

    fn start_catch_up(
        &mut self,
        signal: DowntimeSignal,
        since: TimestampMs,
        from: TimestampMs,
        away_local: Option<Duration>,
    ) {
        let cause = signal.cause();
        let away_local_ms = away_local.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        tracing::warn!(symbol = %self.config.symbol, cause = cause.as_str(), detected_by = signal.as_str(), since_ms = since.as_ms(), away_local_ms, "downtime detected; catching up before trading on");
        self.journal(JournalEvent::DowntimeDetected {
            cause,
            detected_by: signal,
            since_ms: Some(since.as_ms()),
            away_local_ms,
        });
        self.alert(
            AlertKind::CatchUp,
            Severity::Warning,
            "catching up after downtime",
            format!(
                "{} detected by {}: replaying the market since {} before trading on",
                cause.as_str(),
                signal.as_str(),
                since.as_ms()
            ),
            fields(&[
                ("cause", cause.as_str().into()),
                ("detected_by", signal.as_str().into()),
                ("since_ms", since.as_ms().into()),
            ]),
        );
        let run = CatchUpRun {
            signal,
            since,
            away_local,
            from,
            attempt: 0,
            started: Instant::now(),
            stashed: None,
        };
        if self.rest.is_none() {
            let record = self.record_without_replay(&run, CatchUpOutcome::NoSource, None);
            tracing::warn!(symbol = %self.config.symbol, "no REST history to catch up from; the downtime is recorded, not replayed");
            self.finish_record(record);
            return;
        }
        self.catch_up = Some(run);
        self.holds.catching_up = true;
        self.spawn_catch_up_fetch(Duration::ZERO);
    }

    fn spawn_catch_up_fetch(&mut self, delay: Duration) {
        let (Some(rest), Some(run)) = (self.rest.clone(), self.catch_up.as_mut()) else {
            return;
        };
        run.attempt += 1;
        let (symbol, interval, from) = (self.config.symbol, self.config.interval, run.from);
        let (max, tx) = (self.config.max_catch_up, self.aux_tx.clone());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let fetched = tokio::time::timeout(
                FETCH_TIMEOUT,
                catch_up::fetch(&rest, symbol, interval, from, max),
            )
            .await;
            let result = fetched.unwrap_or_else(|_| {
                Err(CatchUpError::Fetch(format!(
                    "timed out after {}s",
                    FETCH_TIMEOUT.as_secs()
                )))
            });
            let _ = tx.send(Aux::CatchUp(result));
        });
    }

    /// The catch-up download finished.
    pub(super) fn on_catch_up(&mut self, result: Result<CatchUpData, CatchUpError>) {
        let Some(run) = self.catch_up.as_mut() else {
            return;
        };
        if let Err(CatchUpError::Fetch(message)) = &result
            && run.attempt < FETCH_ATTEMPTS
        {
            let delay = RETRY_DELAY.saturating_mul(run.attempt);
            tracing::warn!(symbol = %self.config.symbol, attempt = run.attempt, attempts = FETCH_ATTEMPTS, retry_in_s = delay.as_secs(), error = %message, "catch-up download failed; retrying");
            self.spawn_catch_up_fetch(delay);
            return;
        }
        if self.holds.seeding {
            // The warm-up history goes to the strategy first (time order).
            run.stashed = Some(result);
            return;
        }
        self.complete_catch_up(result);
    }

    /// Replays a stashed download once the warm-up history is applied.
    pub(super) fn complete_stashed_catch_up(&mut self) {
        if let Some(result) = self.catch_up.as_mut().and_then(|run| run.stashed.take()) {
            self.complete_catch_up(result);
        }
    }

    fn complete_catch_up(&mut self, result: Result<CatchUpData, CatchUpError>) {
        let Some(run) = self.catch_up.take() else {
            return;
        };
        let record = match result {
            Ok(data) => self.replay_downtime(&run, &data),
            Err(error @ CatchUpError::TooLong { .. }) => {
                tracing::error!(symbol = %self.config.symbol, error = %error, alert = true, "ALERT: downtime longer than max_catch_up; stopping instead of replaying it");
                self.pending_stop = Some(StopReason::CatchUpTooLong);
                self.record_without_replay(&run, CatchUpOutcome::TooLong, Some(error.to_string()))
            }
            Err(error @ CatchUpError::Fetch(_)) => {
                let message = error.to_string();
                tracing::error!(symbol = %self.config.symbol, error = %message, attempts = run.attempt, alert = true, "ALERT: catch-up failed; trading on without the missed market");
                self.record_error(message.clone());
                self.record_without_replay(&run, CatchUpOutcome::Failed, Some(message))
            }
        };
        self.finish_record(record);
        self.holds.catching_up = false;
        self.drain_held();
    }

    /// Replays the missed market and builds the downtime's record.
    fn replay_downtime(&mut self, run: &CatchUpRun, data: &CatchUpData) -> DowntimeRecord {
        let (trades_before, funding_before) =
            (self.sink.trades.len(), self.sink.funding_settlements.len());
        let decided_before = self.engine.last_candle_open();
        let mut curve = std::mem::take(&mut self.sink.equity_curve);
        let replayed = catch_up::replay(
            &mut self.engine,
            self.config.symbol,
            data,
            run.since,
            &mut self.sink,
            &mut curve,
        );
        self.sink.equity_curve = curve;
        let replayed = match replayed {
            Ok(replayed) => replayed,
            Err(err) => {
                if let Some(reason) = self.broker_failure(&err) {
                    self.pending_stop = Some(reason);
                }
                return self.record_without_replay(
                    run,
                    CatchUpOutcome::Failed,
                    Some(error_chain(&err)),
                );
            }
        };
        let reason = data
            .funding_error
            .as_deref()
            .unwrap_or("the funding-rate history has no row for it");
        for funding_time in &replayed.funding_missing {
            self.skip_funding(*funding_time, reason);
        }
        if let Some(through) = replayed.through {
            self.funding.rearm_after(through);
            self.pending_funding.forget_through(through);
            if let Some(last) = self.engine.last_candle_open() {
                self.replayed_candles.add(decided_before, last);
            }
            self.caught_up_until = Some(through);
        }
        let exits = self.sink.trades[trades_before..]
            .iter()
            .map(|exit| CatchUpExit {
                client_order_id: exit.client_order_id.to_string(),
                reason: exit.reason.as_str().to_owned(),
                exit_price: exit.exit_price.get(),
                ts_ms: exit.ts.as_ms(),
                pnl_net: exit.pnl_net,
            })
            .collect();
        let end = data
            .exchange_now
            .into_iter()
            .chain(replayed.through)
            .max()
            .unwrap_or(run.since);
        let mut record = self.record_without_replay(
            run,
            if replayed.candles > 0 {
                CatchUpOutcome::CaughtUp
            } else {
                CatchUpOutcome::NothingMissed
            },
            None,
        );
        record.end_ms = end.as_ms().max(record.start_ms);
        record.length_ms = record.end_ms - record.start_ms;
        record.candles_replayed = replayed.candles;
        record.candles_missing = data.missing;
        record.exits = exits;
        record.funding = self.sink.funding_settlements[funding_before..].to_vec();
        record.funding_skipped = replayed.funding_missing.len() as u64;
        tracing::info!(
            symbol = %self.config.symbol,
            candles = replayed.candles,
            missing = data.missing,
            exits = record.exits.len(),
            funding = record.funding.len(),
            position_open = self.engine.broker().position().is_some(),
            "caught up"
        );
        record
    }

    /// A record of `run` with nothing replayed.
    fn record_without_replay(
        &self,
        run: &CatchUpRun,
        outcome: CatchUpOutcome,
        error: Option<String>,
    ) -> DowntimeRecord {
        let end = self.exchange_now.unwrap_or(run.since).max(run.since);
        DowntimeRecord {
            cause: run.signal.cause(),
            detected_by: run.signal,
            start_ms: run.since.as_ms(),
            end_ms: end.as_ms(),
            length_ms: end.ms_since(run.since),
            away_local_ms: run
                .away_local
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            outcome,
            candles_replayed: 0,
            candles_missing: 0,
            exits: Vec::new(),
            funding: Vec::new(),
            funding_skipped: 0,
            error,
        }
    }

    /// Keeps a downtime's record for the summary and the heartbeat, and for the journal once
    /// the events it lists are journaled (see [`Live::journal_finished_catch_ups`]).
    fn finish_record(&mut self, record: DowntimeRecord) {
        self.unjournaled_catch_ups += 1;
        let severity = match record.outcome {
            CatchUpOutcome::CaughtUp | CatchUpOutcome::NothingMissed => Severity::Info,
            CatchUpOutcome::NoSource => Severity::Warning,
            CatchUpOutcome::TooLong | CatchUpOutcome::Failed => Severity::Critical,
        };
        let mut alert_fields = fields(&[
            ("outcome", record.outcome.as_str().into()),
            ("candles_replayed", record.candles_replayed.into()),
            ("exits", record.exits.len().into()),
            ("funding", record.funding.len().into()),
        ]);
        if let Some(error) = &record.error {
            alert_fields.insert("error".to_owned(), error.as_str().into());
        }
        self.alert(
            AlertKind::CatchUp,
            severity,
            "catch-up finished",
            crate::downtime::summary_line(&record),
            alert_fields,
        );
        self.downtimes.push(record);
    }

    /// Journals the records of finished catch-ups after the money events they list: the
    /// replay's exits and funding wait for the write-ahead save, and the record must not
    /// claim bookings the journal (and, after a kill, the account) does not have yet.
    pub(super) fn journal_finished_catch_ups(&mut self) {
        let first = self.downtimes.len() - self.unjournaled_catch_ups.min(self.downtimes.len());
        self.unjournaled_catch_ups = 0;
        for k in first..self.downtimes.len() {
            let record = self.downtimes[k].clone();
            self.journal(JournalEvent::CatchUpFinished(&record));
        }
    }

    /// Whether `event` is already covered by a catch-up: a tick older than the last candle
    /// replayed, or a candle a replay decided (the feed's own backfill of the same gap; a
    /// hole the replay did not fill is not covered, see `ReplayedCandles`). Counted, not
    /// applied.
    pub(super) fn already_caught_up(&mut self, event: &Held) -> bool {
        let covered = match event {
            Held::Tick(tick) => self.caught_up_until.is_some_and(|until| tick.ts() < until),
            Held::Candle(candle, _) => self.replayed_candles.covers(candle.open_time()),
        };
        if covered {
            self.counters.covered_by_catch_up += 1;
        }
        covered
    }

    /// On a market event's exchange time, before it is applied: a jump of more than two
    /// intervals past the newest time seen means candles were missed.
    pub(super) fn observe_exchange_time(&mut self, ts: TimestampMs) {
        let jumped = crate::downtime::exchange_jump(self.exchange_now, ts, self.config.interval);
        self.exchange_now = Some(self.exchange_now.map_or(ts, |now| now.max(ts)));
        if let Some(gap_ms) = jumped
            && !self.holds.seeding
        {
            // A stalled loop explains the jump better than an outage does.
            let stalled = self.suspend.check(&self.clocks);
            let (signal, away) = stalled.map_or((DowntimeSignal::ExchangeTimeJump, None), |s| {
                (s.signal, Some(s.away))
            });
            tracing::warn!(symbol = %self.config.symbol, gap_ms, "exchange time jumped past missed candles");
            self.begin_catch_up(signal, away);
        }
    }

    /// Every heartbeat: did the local clocks jump?
    pub(super) fn check_suspend(&mut self) {
        if let Some(found) = self.suspend.check(&self.clocks) {
            let away_ms = u64::try_from(found.away.as_millis()).unwrap_or(u64::MAX);
            tracing::warn!(symbol = %self.config.symbol, detected_by = found.signal.as_str(), away_ms, "the session was suspended");
            if found.signal == DowntimeSignal::WallClockJump {
                self.reconnect_wanted = true;
            }
            if !self.holds.seeding {
                self.begin_catch_up(found.signal, Some(found.away));
            }
        }
    }

    /// SIGCONT arrived: the process had been stopped.
    pub(super) fn on_sigcont(&mut self) {
        tracing::warn!(symbol = %self.config.symbol, "resumed after a stop (SIGCONT)");
        // The heartbeat's clock check would see the same gap: read it now, once.
        let away = self.suspend.check(&self.clocks).map(|found| found.away);
        if !self.holds.seeding {
            self.begin_catch_up(DowntimeSignal::Sigcont, away);
        }
    }

    /// What the heartbeat shows while a catch-up runs.
    pub(super) fn catching_up(&self) -> Option<CatchingUp> {
        self.catch_up.as_ref().map(|run| CatchingUp {
            cause: run.signal.cause(),
            detected_by: run.signal,
            since_ms: run.since.as_ms(),
            running_s: run.started.elapsed().as_secs(),
        })
    }
}
