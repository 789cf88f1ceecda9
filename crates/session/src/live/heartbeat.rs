//! The once-a-second arm: the stale-data ladder, the memory ceiling (every 5 s), the error
//! budget, `heartbeat.json`, the front end's status callback, and a journal flush (every
//! 10 s). The heartbeat is also what `laptop-agents status` reads.

use super::{Live, SessionHooks, stale::stale_after};
use crate::{
    sources::LiveFeed,
    status::{Heartbeat, PositionView, rss_bytes},
    stop::StopReason,
    time_fmt::{ms_to_rfc3339, now_rfc3339, wall_now_ms},
};

impl Live {
    pub(super) fn on_heartbeat(
        &mut self,
        feed: &mut LiveFeed,
        hooks: &mut SessionHooks,
    ) -> Option<StopReason> {
        self.counters.heartbeats += 1;
        // Before the stale-data ladder: time the process did not run is not stale data.
        self.check_suspend();
        if std::mem::take(&mut self.reconnect_wanted) {
            feed.request_reconnect();
        }
        if let Some(reason) = self.stale_ladder(feed) {
            return Some(reason);
        }
        if self.counters.heartbeats.is_multiple_of(5)
            && let Some(rss) = rss_bytes()
            && rss > self.config.max_rss_bytes
        {
            tracing::error!(symbol = %self.config.symbol, rss, limit = self.config.max_rss_bytes, "memory ceiling exceeded");
            return Some(StopReason::MemoryLimit);
        }
        if self.counters.errors > self.config.error_budget {
            tracing::error!(symbol = %self.config.symbol, errors = self.counters.errors, budget = self.config.error_budget, "error budget exhausted");
            return Some(StopReason::ErrorBudget);
        }
        let beat = self.heartbeat(feed, None);
        if let Err(err) = crate::status::write_json_replace(&self.workspace.heartbeat(), &beat) {
            tracing::warn!(symbol = %self.config.symbol, error = &err as &dyn std::error::Error, "cannot write heartbeat");
        }
        if let Some(status) = hooks.on_status.as_mut() {
            status(&beat);
        }
        self.roll_operator_day();
        self.publish_heartbeat_view(feed);
        let health = self.health(None);
        self.service.on_health(&health);
        let fresh = self.stale == super::stale::StaleStage::Fresh && self.data_seen;
        self.digest_tick(fresh, beat.reconnects);
        if self.counters.heartbeats.is_multiple_of(10) {
            self.sink.flush();
        }
        None
    }

    /// The heartbeat as of now.
    pub(super) fn heartbeat(&self, feed: &LiveFeed, stopping: Option<StopReason>) -> Heartbeat {
        let broker = self.engine.broker();
        let equity = la_core::Broker::equity(broker);
        let last_price = self.engine.last_price();
        let mark_equity = last_price.map_or(equity, |p| broker.mark_to_market(p));
        let uptime = self.started.elapsed();
        let reconnects = feed.counters().map_or(self.counters.reconnects, |c| {
            c.reconnects.max(self.counters.reconnects)
        });
        Heartbeat {
            pid: std::process::id(),
            run_id: self.run.run_id.clone(),
            source: self.config.source.as_str().to_owned(),
            symbol: self.config.symbol.to_string(),
            interval: self.config.interval.to_string(),
            started_at: ms_to_rfc3339(self.run.started_wall_ms),
            updated_at: now_rfc3339(),
            updated_at_ms: wall_now_ms(),
            uptime_s: uptime.as_secs(),
            time_left_s: self
                .config
                .duration
                .map(|d| d.saturating_sub(uptime).as_secs()),
            last_price: last_price.map(|p| p.get()),
            equity,
            mark_equity,
            pnl: mark_equity - self.starting_equity,
            position: la_core::Broker::position(broker)
                .as_ref()
                .map(PositionView::from),
            candles_closed: self.engine.counters().candles_closed,
            last_candle_open_ms: self.engine.last_candle_open().map(|t| t.as_ms()),
            last_data_age_ms: u64::try_from(self.last_data.elapsed().as_millis())
                .unwrap_or(u64::MAX),
            reconnects,
            trades: self.engine.counters().exits,
            errors: self.counters.errors,
            last_error: self.counters.last_error.clone(),
            rss_bytes: rss_bytes(),
            stopping: stopping.map(|r| r.as_str().to_owned()),
            health: Some(self.health(stopping)),
            http_url: self.operator.url.clone(),
            catching_up: self.catching_up(),
            downtime: self.downtimes.clone(),
        }
    }

    /// The health verdict as of now (see [`la_ops::Health::assess`]).
    pub(super) fn health(&self, stopping: Option<StopReason>) -> la_ops::Health {
        let broker = self.engine.broker();
        la_ops::Health::assess(&la_ops::HealthInputs {
            data_age_ms: self
                .data_seen
                .then(|| u64::try_from(self.last_data.elapsed().as_millis()).unwrap_or(u64::MAX)),
            stale_after_ms: u64::try_from(stale_after(self.config.stale_timeout).as_millis())
                .unwrap_or(u64::MAX),
            halted: broker.halt_reason().map(str::to_owned),
            breaker_tripped: self.engine.breaker().tripped().map(str::to_owned),
            kill_switch: self.kill_switch_engaged,
            stopping: stopping.map(|r| r.as_str().to_owned()),
        })
    }
}
