//! The stale-data ladder, climbed on every heartbeat while no market data arrives:
//! warn (15 s) → ask the feed to reconnect (30 s) → poll the last price over REST every
//! 10 s (45 s) → stop with `stale_data` at the stale timeout. Each rung is capped at a
//! fraction of the timeout (¼, ½, ¾) so a short timeout still climbs every rung. Data
//! arriving again resets the ladder and is journaled.

use std::time::Duration;

use tokio::time::Instant;

use la_ops::alerts::{AlertKind, Severity};

use super::{Live, alerting::fields, supervisor::Aux};
use crate::{journal::JournalEvent, sources::LiveFeed, stop::StopReason};

/// The stage of the stale-data ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum StaleStage {
    Fresh,
    Warned,
    ReconnectRequested,
    PollingRest,
}

impl StaleStage {
    /// Stable label.
    pub(super) const fn as_str(self) -> &'static str {
        match self {
            Self::Fresh => "fresh",
            Self::Warned => "warned",
            Self::ReconnectRequested => "reconnect_requested",
            Self::PollingRest => "polling_rest",
        }
    }
}

/// The first rung of the ladder: data older than this is stale (warned about, and
/// `/healthz`, `status` and the systemd watchdog report it).
pub(super) fn stale_after(timeout: Duration) -> Duration {
    Duration::from_secs(15).min(timeout / 4)
}

impl Live {
    /// Market data arrived: leave the ladder if it was climbed.
    pub(super) fn stale_recovered(&mut self) {
        if self.stale != StaleStage::Fresh {
            tracing::info!(symbol = %self.config.symbol, "market data resumed");
            self.journal(JournalEvent::StaleDataRecovered {
                detail: "market data resumed",
            });
            self.stale = StaleStage::Fresh;
            self.alert(
                AlertKind::DataResumed,
                Severity::Info,
                "market data resumed",
                "the stale-data ladder is reset".into(),
                serde_json::Map::new(),
            );
        }
    }

    fn stale_alert(&mut self, stage: StaleStage, age: Duration) {
        self.digest.data_gaps += u64::from(stage == StaleStage::Warned);
        let severity = if stage == StaleStage::Warned {
            Severity::Warning
        } else {
            Severity::Critical
        };
        self.alert(
            AlertKind::StaleData,
            severity,
            "no market data",
            format!("no market data for {} s: {}", age.as_secs(), stage.as_str()),
            fields(&[
                ("stage", stage.as_str().into()),
                ("data_age_s", age.as_secs().into()),
            ]),
        );
    }

    pub(super) fn stale_ladder(&mut self, feed: &mut LiveFeed) -> Option<StopReason> {
        let timeout = self.config.stale_timeout;
        let age = self.last_data.elapsed();
        let warn_after = stale_after(timeout);
        let reconnect_after = Duration::from_secs(30).min(timeout / 2);
        let poll_after = Duration::from_secs(45).min(timeout * 3 / 4);
        if age >= timeout {
            tracing::error!(symbol = %self.config.symbol, age_s = age.as_secs(), "no market data for the stale timeout; stopping");
            self.journal(JournalEvent::StaleDataHalt {
                detail: &format!("no data for {}s", age.as_secs()),
            });
            return Some(StopReason::StaleData);
        }
        if age >= warn_after && self.stale < StaleStage::Warned {
            tracing::warn!(symbol = %self.config.symbol, age_s = age.as_secs(), "no market data");
            self.journal(JournalEvent::StaleDataWarning {
                detail: &format!("no data for {}s", age.as_secs()),
            });
            self.stale = StaleStage::Warned;
            self.stale_alert(StaleStage::Warned, age);
        }
        if age >= reconnect_after && self.stale < StaleStage::ReconnectRequested {
            tracing::warn!(symbol = %self.config.symbol, age_s = age.as_secs(), "stale data: asking the feed to reconnect");
            feed.request_reconnect();
            self.stale = StaleStage::ReconnectRequested;
            self.stale_alert(StaleStage::ReconnectRequested, age);
        }
        if age >= poll_after {
            if self.stale < StaleStage::PollingRest {
                self.stale = StaleStage::PollingRest;
                self.stale_alert(StaleStage::PollingRest, age);
            }
            let due = self
                .last_poll
                .is_none_or(|at| at.elapsed() >= Duration::from_secs(10));
            if let (true, Some(rest)) = (due, feed.rest()) {
                self.last_poll = Some(Instant::now());
                self.spawn_last_price_read(rest, Aux::PolledPrice);
            }
        }
        None
    }
}
