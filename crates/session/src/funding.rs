//! Funding settlement scheduling for the live session.
//!
//! Funding is settled when **exchange time** crosses a funding time: 00:00, 08:00 and 16:00
//! UTC, or the next funding time the exchange announced on its price channel. The rate comes
//! from the latest price-channel observation, else from a REST lookup made off the data
//! path. When no rate can be had, the session warns and settles nothing — a missing rate is
//! never treated as zero (the Python program never applied funding at all, defect 2).

use la_core::{FundingInfo, Price, TimestampMs};
use serde::Serialize;

use crate::live_loop::{Aux, Live, error_chain};

const FUNDING_PERIOD_MS: i64 = 8 * 3_600_000;

/// The next 00/08/16 UTC boundary strictly after `ts`.
pub fn next_funding_after(ts: TimestampMs) -> Option<TimestampMs> {
    let ms = ts.as_ms();
    TimestampMs::new(ms - ms.rem_euclid(FUNDING_PERIOD_MS) + FUNDING_PERIOD_MS).ok()
}

/// Tracks the next funding time and the freshest rate observation.
#[derive(Clone, Debug, Default)]
pub struct FundingSchedule {
    next_due: Option<TimestampMs>,
    latest: Option<FundingInfo>,
    /// Settlements applied this run.
    pub settled: u64,
    /// Funding times passed without a rate.
    pub skipped: u64,
}

impl FundingSchedule {
    /// Records a rate observation; an announced next funding time overrides the default grid.
    pub fn observe(&mut self, info: FundingInfo) {
        if let Some(next) = info.next_funding_time
            && next > info.ts
        {
            self.next_due = Some(self.next_due.map_or(next, |due| due.min(next)));
        }
        self.latest = Some(info);
    }

    /// If exchange time `now` has reached the next funding time, returns it and schedules the
    /// following one. The first call only arms the schedule.
    pub fn due(&mut self, now: TimestampMs) -> Option<TimestampMs> {
        match self.next_due {
            None => {
                self.next_due = next_funding_after(now);
                None
            }
            Some(due) if now >= due => {
                self.next_due = next_funding_after(due);
                Some(due)
            }
            Some(_) => None,
        }
    }

    /// The observed rate applicable to `funding_time`: observed within one period before it.
    pub fn rate_for(&self, funding_time: TimestampMs) -> Option<FundingInfo> {
        self.latest.filter(|info| {
            let age = funding_time.ms_since(info.ts);
            (-FUNDING_PERIOD_MS..=FUNDING_PERIOD_MS).contains(&age)
        })
    }
}

#[derive(Serialize)]
struct FundingSkipped<'a> {
    funding_time: i64,
    reason: &'a str,
}

impl Live {
    /// Settles funding if exchange time crossed a funding time.
    pub(crate) fn maybe_settle_funding(&mut self) {
        let Some(now) = self.engine.last_event_time() else {
            return;
        };
        let Some(funding_time) = self.funding.due(now) else {
            return;
        };
        if let Some(info) = self.funding.rate_for(funding_time) {
            self.settle(funding_time, info);
            return;
        }
        match self.rest_for_funding() {
            Some(rest) => {
                let (symbol, tx) = (self.config.symbol, self.aux_tx.clone());
                tokio::spawn(async move {
                    let looked_up = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        rest.funding_rate(symbol),
                    )
                    .await;
                    let result = match looked_up {
                        Ok(Ok(info)) => Ok(info),
                        Ok(Err(err)) => Err(error_chain(&err)),
                        Err(_) => Err("timed out after 10s".to_owned()),
                    };
                    let _ = tx.send(Aux::FundingRate {
                        funding_time,
                        result,
                    });
                });
            }
            None => self.skip_funding(funding_time, "no funding rate source"),
        }
    }

    pub(crate) fn on_funding_lookup(
        &mut self,
        funding_time: TimestampMs,
        result: Result<FundingInfo, String>,
    ) {
        match result {
            Ok(info) => self.settle(funding_time, info),
            Err(message) => self.skip_funding(funding_time, &message),
        }
    }

    fn settle(&mut self, funding_time: TimestampMs, info: FundingInfo) {
        let mark: Option<Price> = info.mark_price.or(self.engine.last_price());
        let Some(mark) = mark else {
            self.skip_funding(funding_time, "no mark price");
            return;
        };
        match self
            .engine
            .settle_funding(funding_time, info.rate, mark, &mut self.sink)
        {
            Ok(()) => self.funding.settled += 1,
            Err(err) => {
                let chain = error_chain(&err);
                tracing::error!(symbol = %self.config.symbol, error = &err as &dyn std::error::Error, "funding settlement failed");
                self.record_error(chain);
            }
        }
    }

    fn skip_funding(&mut self, funding_time: TimestampMs, reason: &str) {
        self.funding.skipped += 1;
        tracing::warn!(symbol = %self.config.symbol, funding_time = funding_time.as_ms(), reason, "funding time passed without a rate; nothing settled");
        self.sink.journal().append(
            "funding_skipped",
            Some(funding_time.as_ms()),
            &FundingSkipped {
                funding_time: funding_time.as_ms(),
                reason,
            },
        );
    }

    fn rest_for_funding(&self) -> Option<std::sync::Arc<la_feed_bitunix::RestClient>> {
        self.rest.clone()
    }
}
