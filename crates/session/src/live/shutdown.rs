//! The live session's single shutdown sequence and its run summary.
//!
//! Shutdown always runs to the end, in this order: stop intake → cancel working and queued
//! orders (each logged) → optional force-close at the last price → final state save
//! (time-limited; a failure is reported, the last good file stays) → run artifacts
//! (`summary.json`, `trades.csv`, `equity.csv`, `decisions.jsonl`) → the caller releases the
//! lock. A second SIGINT shortens the waits but never skips the save.

use std::{collections::BTreeMap, time::Duration};

use la_core::{Broker, ExitReason};
use la_run_schema::RunSummary;

use super::{Live, step_deadline};
use crate::{
    error::error_chain,
    journal::JournalEvent,
    run_files::{write_equity_csv, write_json, write_trades_csv},
    sources::LiveFeed,
    state::StateWriter,
    stats::{RunLedger, compute_results},
    status::write_json_replace,
    stop::StopReason,
    time_fmt::{ms_to_rfc3339, now_rfc3339},
};

/// The feed's data-quality counters that go into the summary beside the rejected frames.
#[derive(Debug, Default)]
struct FeedQuality {
    frames_normalized: BTreeMap<String, u64>,
    rest_rows_rejected: BTreeMap<String, u64>,
    rest_rows_normalized: BTreeMap<String, u64>,
}

impl Live {
    /// Runs the shutdown sequence and returns the run summary.
    pub(super) async fn shutdown(
        mut self,
        reason: StopReason,
        feed: LiveFeed,
        writer: StateWriter,
        hurry: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> RunSummary {
        tracing::info!(symbol = %self.config.symbol, stopped_reason = reason.as_str(), "session stopping");
        self.service.stopping(reason.as_str());
        let deadline = step_deadline(&hurry);
        let final_beat = self.heartbeat(&feed, Some(reason));
        // The dashboard and `/healthz` show the stop while the shutdown runs.
        self.publish_view(&feed, Some(reason), true);
        let feed_counters = feed.counters();
        let mut rejected = feed_counters
            .as_ref()
            .map(|c| c.rejections_by_reason.clone())
            .unwrap_or_default();
        // 1. Stop intake.
        feed.shutdown(deadline).await;
        // 2. Cancel working and queued orders.
        let now = self
            .engine
            .last_event_time()
            .unwrap_or(la_core::TimestampMs::MIN);
        let cancelled = self.engine.cancel_pending(now, &mut self.sink);
        if cancelled > 0 {
            tracing::info!(symbol = %self.config.symbol, cancelled, "queued orders cancelled at shutdown");
        }
        // 3. Optional force-close at the last price.
        if self.config.force_close_on_stop
            && self.engine.broker().position().is_some()
            && let Some(price) = self.engine.last_price()
            && let Err(err) =
                self.engine
                    .close_position(price, now, ExitReason::ForceClose, &mut self.sink)
        {
            self.record_error(error_chain(&err));
        }
        // 4. Final state save, time-limited.
        for outcome in writer.finish(self.snapshot(), deadline).await {
            if let Err(err) = outcome.result {
                self.counters.save_failures += 1;
                tracing::error!(symbol = %self.config.symbol, error = &err as &dyn std::error::Error, alert = true, "ALERT: final state save failed; the last good state file is intact");
                let chain = error_chain(&err);
                self.journal(JournalEvent::StateSaveFailed { detail: &chain });
                self.counters.last_error = Some(chain);
            }
        }
        self.sink.release_held();
        self.journal_finished_catch_ups();
        // 5. Run artifacts.
        self.sink.journal().append(
            Some(now.as_ms()),
            &JournalEvent::SessionStopped {
                stopped_reason: reason,
                errors: self.counters.errors,
            },
        );
        self.sink.flush();
        let _ = self.sink.journal().sync();
        if let Some(counters) = &feed_counters {
            rejected.insert("duplicates_dropped".into(), counters.duplicates_dropped);
            rejected.insert("out_of_order_dropped".into(), counters.out_of_order_dropped);
        }
        let quality = feed_counters
            .as_ref()
            .map(|c| FeedQuality {
                frames_normalized: c.frames_normalized.clone(),
                rest_rows_rejected: c.rest_rows_rejected.clone(),
                rest_rows_normalized: c.rest_rows_normalized.clone(),
            })
            .unwrap_or_default();
        let report = self.report(
            reason,
            rejected,
            feed_counters.as_ref().map_or(0, |c| c.reconnects),
            quality,
        );
        self.write_artifacts(&report);
        let mut beat = final_beat;
        beat.stopping = Some(reason.as_str().to_owned());
        let _ = write_json_replace(&self.workspace.heartbeat(), &beat);
        self.alert(
            la_ops::alerts::AlertKind::SessionStopped,
            if reason.is_clean() {
                la_ops::alerts::Severity::Info
            } else {
                la_ops::alerts::Severity::Critical
            },
            "session stopped",
            format!("stopped_reason: {}", reason.as_str()),
            super::alerting::fields(&[("stopped_reason", reason.as_str().into())]),
        );
        let grace = deadline.min(Duration::from_secs(1));
        self.operator.stop_http(grace).await;
        // Queued alerts get `grace` to reach the file and the webhook; a webhook that hangs
        // is cut off, never awaited.
        self.alerter.close(grace).await;
        tracing::info!(symbol = %self.config.symbol, stopped_reason = reason.as_str(), trades = report.results.trades, "session stopped");
        report
    }

    fn report(
        &self,
        reason: StopReason,
        rejected_frames: BTreeMap<String, u64>,
        feed_reconnects: u64,
        feed: FeedQuality,
    ) -> RunSummary {
        let broker_stats = self.engine.broker().stats();
        let counters = self.engine.counters();
        let results = compute_results(&RunLedger {
            starting_equity: self.session_start_equity,
            funding_at_start: self.session_start_funding,
            account: (&broker_stats).into(),
            trades: &self.sink.trades,
            curve: &self.sink.equity_curve,
            exposure_bars: self.counters.exposure_bars,
        });
        RunSummary {
            run_id: self.run.run_id.clone(),
            source: self.config.source.as_str().to_owned(),
            symbol: self.config.symbol.to_string(),
            interval: self.config.interval.to_string(),
            strategy: self.engine.strategy_name().to_owned(),
            dry_run: self.config.dry_run,
            data: None,
            started_at: ms_to_rfc3339(self.run.started_wall_ms),
            ended_at: now_rfc3339(),
            duration_s: self.started.elapsed().as_secs_f64(),
            stopped_reason: Some(reason),
            candles_closed: counters.candles_closed,
            results,
            fills: counters.fills,
            orders_rejected: counters.orders_rejected,
            ambiguous_bars: broker_stats.ambiguous_bars,
            errors: self.counters.errors,
            last_error: self.counters.last_error.clone(),
            reconnects: feed_reconnects.max(self.counters.reconnects),
            rejected_frames,
            rejected_rows: BTreeMap::new(),
            frames_normalized: feed.frames_normalized,
            rest_rows_rejected: feed.rest_rows_rejected,
            rest_rows_normalized: feed.rest_rows_normalized,
            rows_normalized: BTreeMap::new(),
            candle_file: None,
            funding_model: la_run_schema::inputs::FundingModel::Exchange,
            implausible_price: counters.implausible_price,
            implausible_refused: broker_stats.implausible_refused,
            backfilled_candles: counters.candles_backfilled,
            funding_events: counters.funding_events,
            funding_skipped: self.funding.skipped,
            state_save_failures: self.counters.save_failures,
            decisions: self.sink.decision_counts().clone(),
            funding_settlements: self.sink.funding_settlements.clone(),
            downtime: self.downtimes.clone(),
            covered_by_catch_up: self.counters.covered_by_catch_up,
            run_dir: self.run.run_dir.display().to_string(),
            config: serde_json::Value::Object(self.config.config_keys()),
        }
    }

    fn write_artifacts(&mut self, report: &RunSummary) {
        let results = [
            write_trades_csv(&self.run.run_dir.join("trades.csv"), &self.sink.trades),
            write_equity_csv(
                &self.run.run_dir.join("equity.csv"),
                &self.sink.equity_curve,
            ),
            write_json(&self.run.run_dir.join("summary.json"), "summary", report),
        ];
        for result in results {
            if let Err(err) = result {
                tracing::error!(symbol = %self.config.symbol, error = &err as &dyn std::error::Error, "cannot write run artifact");
            }
        }
    }
}
