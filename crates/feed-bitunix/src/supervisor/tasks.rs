//! REST helper tasks of the supervisor: confirming a quiet candle and backfilling a gap.
//! Both run in the supervisor's `JoinSet`, off the data path; their results come back as
//! [`TaskOutcome`]s and are applied to the candle tracker in the supervisor's own task, so
//! every emission stays ordered and de-duplicated in one place.

use std::time::Duration;

use la_core::{Candle, Provenance, TimestampMs};

use super::Supervisor;
use crate::{backfill::Batch, error::FeedError};

/// Confirmation attempts before the candle is handed to the backfill queue.
const CONFIRM_ATTEMPTS: u32 = 3;

/// What a finished helper task reports.
pub(crate) enum TaskOutcome {
    /// A confirmation of the candle opening at `open_time`.
    Confirm {
        open_time: TimestampMs,
        attempt: u32,
        result: Result<Vec<Candle>, FeedError>,
    },
    /// A backfill batch.
    Backfill {
        batch: Batch,
        result: Result<Vec<Candle>, FeedError>,
    },
    /// A replaced connection finished closing.
    Closed,
}

impl Supervisor {
    pub(super) fn spawn_confirm(&mut self, open_time: TimestampMs, attempt: u32) {
        let rest = self.rest.clone();
        let clock = std::sync::Arc::clone(&self.clock);
        let (symbol, interval) = (self.config.symbol, self.config.interval);
        // Later attempts wait: the exchange may not have published the bar yet.
        let delay = self
            .config
            .close_grace
            .max(Duration::from_secs(1))
            .saturating_mul(attempt.saturating_sub(1));
        self.tasks.spawn(async move {
            tokio::time::sleep(delay).await;
            let to = open_time
                .checked_add_ms(interval.as_ms())
                .unwrap_or(TimestampMs::MAX);
            let result = rest
                .klines_range(symbol, interval, open_time, to, clock.now())
                .await;
            TaskOutcome::Confirm {
                open_time,
                attempt,
                result,
            }
        });
    }

    pub(super) fn spawn_backfill(&mut self, batch: Batch) {
        let rest = self.rest.clone();
        let clock = std::sync::Arc::clone(&self.clock);
        let (symbol, interval) = (self.config.symbol, self.config.interval);
        tracing::info!(
            symbol = %symbol,
            from = batch.from.as_ms(),
            to = batch.to.as_ms(),
            wanted = batch.wanted.len(),
            "backfill starting"
        );
        self.tasks.spawn(async move {
            let result = rest
                .klines_range(symbol, interval, batch.from, batch.to, clock.now())
                .await;
            TaskOutcome::Backfill { batch, result }
        });
    }

    pub(super) async fn on_task(&mut self, outcome: TaskOutcome) {
        let symbol = self.config.symbol;
        match outcome {
            TaskOutcome::Confirm {
                open_time,
                attempt,
                result,
            } => {
                let found: Vec<Candle> = match &result {
                    Ok(candles) => candles
                        .iter()
                        .filter(|c| c.open_time() == open_time)
                        .copied()
                        .collect(),
                    Err(_) => Vec::new(),
                };
                if found.is_empty() {
                    if self.tracker.is_closed(open_time) {
                        return;
                    }
                    let error = result
                        .err()
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| "REST has no complete bar for it yet".to_owned());
                    if attempt < CONFIRM_ATTEMPTS {
                        tracing::warn!(%symbol, open_time = open_time.as_ms(), attempt, %error, "candle confirmation failed; retrying");
                        self.spawn_confirm(open_time, attempt + 1);
                    } else {
                        tracing::warn!(%symbol, open_time = open_time.as_ms(), %error, "candle confirmation failed; queued for backfill");
                        self.backfill.push_one(open_time);
                    }
                    return;
                }
                self.tracker
                    .on_rest_candles(&found, Provenance::RestConfirmed, &mut self.actions);
                self.perform_actions().await;
            }
            TaskOutcome::Backfill { batch, result } => {
                let delivered: Vec<TimestampMs> = match result {
                    Ok(candles) => {
                        let wanted: Vec<Candle> = candles
                            .into_iter()
                            .filter(|c| batch.wanted.contains(&c.open_time()))
                            .collect();
                        self.tracker.on_rest_candles(
                            &wanted,
                            Provenance::Backfilled,
                            &mut self.actions,
                        );
                        self.perform_actions().await;
                        batch
                            .wanted
                            .iter()
                            .copied()
                            .filter(|open| self.tracker.is_closed(*open))
                            .collect()
                    }
                    Err(error) => {
                        tracing::warn!(%symbol, %error, "backfill failed; will retry");
                        batch
                            .wanted
                            .iter()
                            .copied()
                            .filter(|open| self.tracker.is_closed(*open))
                            .collect()
                    }
                };
                let given_up = self.backfill.finish(&batch, &delivered);
                if !given_up.is_empty() {
                    self.counters.lock().candles_unrecoverable += given_up.len() as u64;
                    tracing::error!(
                        %symbol,
                        missing = ?given_up.iter().map(|t| t.as_ms()).collect::<Vec<_>>(),
                        "candles could not be backfilled; giving up on them"
                    );
                }
            }
            TaskOutcome::Closed => {}
        }
    }
}
