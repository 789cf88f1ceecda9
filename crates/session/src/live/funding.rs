//! Settling funding in the live session.
//!
//! When exchange time crosses a funding time (see [`crate::funding::FundingSchedule`]), the
//! rate comes from the latest price-channel observation, else from a REST lookup made off
//! the data path. When no rate can be had, the session warns, journals `funding_skipped`
//! and settles nothing: a missing rate is never treated as zero, because settling zero
//! would silently hide a cost the account really pays.

use la_core::{FundingInfo, Price, TimestampMs};

use super::{Live, supervisor::Aux};
use crate::{error::error_chain, journal::JournalEvent};

impl Live {
    /// Settles funding if exchange time crossed a funding time.
    pub(super) fn maybe_settle_funding(&mut self) {
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
        match self.rest.clone() {
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

    pub(super) fn on_funding_lookup(
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
            Some(funding_time.as_ms()),
            &JournalEvent::FundingSkipped {
                funding_time: funding_time.as_ms(),
                reason,
            },
        );
    }
}
