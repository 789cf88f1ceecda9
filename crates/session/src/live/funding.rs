//! Settling funding in the live session, with the rate that settled at the funding time.
//!
//! When applied exchange time crosses a funding time T (see
//! [`crate::funding::FundingSchedule`]), T becomes *pending*. It is settled with, in order:
//! the first price-channel `fr` pushed at or after T; else the exchange's funding-rate
//! history, looked up off the data path after [`FUNDING_RATE_WAIT`]; else the REST upcoming
//! rate read shortly before T (a logged fallback). With none of them the session warns,
//! journals `funding_skipped` and settles nothing: a missing rate is never treated as zero.
//!
//! While T is pending with a position open, ticks and candles are held (see `hold`), so
//! the position that owes funding at T cannot exit before the settlement is booked: the
//! account sees funding, then the exit, in exchange-time order.

use std::{sync::Arc, time::Duration};

use la_core::{Decimal, FundingInfo, Price, TimestampMs};
use la_feed_bitunix::{RestClient, SettledFunding};
use tokio::time::Instant;

use super::{Live, supervisor::Aux, within};
use crate::{error::error_chain, funding::FundingRateSource, journal::JournalEvent};

/// How long a pending funding time waits for the price channel before the funding-rate
/// history is asked (real time; the exchange pushes `fr` about three times a second).
pub(super) const FUNDING_RATE_WAIT: Duration = Duration::from_secs(3);

/// Time limit of one REST funding lookup.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Funding times passed whose rate has not been settled yet.
#[derive(Debug, Default)]
pub(super) struct PendingFunding {
    /// Pending funding times, oldest first, with whether a history lookup is in flight.
    times: std::collections::BTreeMap<TimestampMs, bool>,
    /// When the price channel's grace ends and the history is asked.
    pub(super) wait_until: Option<Instant>,
}

impl PendingFunding {
    /// Drops pending funding times at or before `through`: a catch-up replayed them (settled
    /// from the funding-rate history, or skipped and journaled).
    pub(super) fn forget_through(&mut self, through: TimestampMs) {
        self.times.retain(|time, _| *time > through);
        if self.times.is_empty() {
            self.wait_until = None;
        }
    }
}

impl Live {
    /// After applied exchange time moved: reads the upcoming rate before a funding time,
    /// and makes every funding time passed pending.
    pub(super) fn maybe_settle_funding(&mut self) {
        let Some(now) = self.engine.last_event_time() else {
            return;
        };
        if let Some(funding_time) = self.funding.upcoming_read_due(now) {
            self.spawn_upcoming_read(funding_time);
        }
        while let Some(funding_time) = self.funding.due(now) {
            self.pending_funding
                .times
                .entry(funding_time)
                .or_insert(false);
            if la_core::Broker::position(self.engine.broker()).is_some() {
                // The position owes funding at `funding_time`: hold data until it is booked.
                self.holds.funding = true;
            }
        }
        self.resolve_from_price_channel();
    }

    /// A price-channel observation arrived.
    pub(super) fn on_funding_observed(&mut self, info: FundingInfo) {
        self.funding.observe(info);
        self.engine.observe_funding_rate(info.rate);
        self.resolve_from_price_channel();
    }

    /// Settles every pending time the price channel has shown the settled rate of; arms
    /// the wait for the others.
    fn resolve_from_price_channel(&mut self) {
        let times: Vec<TimestampMs> = self.pending_funding.times.keys().copied().collect();
        for funding_time in times {
            self.settle_from_price_channel(funding_time);
        }
        if self.pending_funding.times.is_empty() {
            self.pending_funding.wait_until = None;
        } else if self.pending_funding.wait_until.is_none() {
            self.pending_funding.wait_until = Some(Instant::now() + FUNDING_RATE_WAIT);
        }
        self.funding_settled_or_skipped();
    }

    /// Settles `funding_time` if the price channel has shown the rate that settled then.
    fn settle_from_price_channel(&mut self, funding_time: TimestampMs) -> bool {
        let Some(info) = self.funding.settled_rate_for(funding_time) else {
            return false;
        };
        self.settle(
            funding_time,
            info.rate,
            info.mark_price,
            FundingRateSource::PriceChannel,
        );
        true
    }

    /// The price channel's grace ended: ask the funding-rate history for each pending time.
    pub(super) fn on_funding_wait_over(&mut self) {
        self.pending_funding.wait_until = None;
        let Some(rest) = self.rest.clone() else {
            let times: Vec<TimestampMs> = self.pending_funding.times.keys().copied().collect();
            for funding_time in times {
                self.fall_back(funding_time, "no funding-rate history source");
            }
            return;
        };
        let (symbol, tx) = (self.config.symbol, self.aux_tx.clone());
        for (funding_time, in_flight) in &mut self.pending_funding.times {
            if !*in_flight {
                *in_flight = true;
                spawn_history_lookup(Arc::clone(&rest), symbol, tx.clone(), *funding_time);
            }
        }
    }

    pub(super) fn on_funding_history(
        &mut self,
        funding_time: TimestampMs,
        result: Result<Vec<SettledFunding>, String>,
    ) {
        if !self.pending_funding.times.contains_key(&funding_time) {
            return;
        }
        match result {
            Ok(rows) => match rows.iter().find(|row| row.funding_time == funding_time) {
                Some(row) => self.settle(
                    funding_time,
                    row.rate,
                    row.mark_price,
                    FundingRateSource::History,
                ),
                None => self.fall_back(funding_time, "the funding-rate history has no row for it"),
            },
            Err(message) => self.fall_back(funding_time, &message),
        }
        self.funding_settled_or_skipped();
    }

    /// Neither the price channel nor the history gave the settled rate: the REST upcoming
    /// rate read before the funding time, else nothing.
    fn fall_back(&mut self, funding_time: TimestampMs, why: &str) {
        if !self.settle_from_price_channel(funding_time) {
            match self.funding.upcoming_for(funding_time) {
                Some(info) => {
                    tracing::warn!(symbol = %self.config.symbol, funding_time = funding_time.as_ms(), why, rate = %info.rate, "settled funding rate unavailable; falling back to the upcoming rate read before the funding time");
                    self.settle(
                        funding_time,
                        info.rate,
                        info.mark_price,
                        FundingRateSource::RestUpcoming,
                    );
                }
                None => {
                    let reason =
                        format!("no settled rate ({why}) and no upcoming rate read before it");
                    self.skip_funding(funding_time, &reason);
                }
            }
        }
        self.funding_settled_or_skipped();
    }

    /// Releases the funding hold once nothing is pending.
    fn funding_settled_or_skipped(&mut self) {
        if self.pending_funding.times.is_empty() && self.holds.funding {
            self.holds.funding = false;
            self.drain_held();
        }
    }

    /// The REST upcoming rate, read shortly before `funding_time` (the fallback).
    fn spawn_upcoming_read(&mut self, funding_time: TimestampMs) {
        let Some(rest) = self.rest.clone() else {
            return;
        };
        let (symbol, tx) = (self.config.symbol, self.aux_tx.clone());
        tokio::spawn(async move {
            let result = within(LOOKUP_TIMEOUT, rest.funding_rate(symbol)).await;
            let _ = tx.send(Aux::UpcomingRate {
                funding_time,
                result,
            });
        });
    }

    pub(super) fn on_upcoming_rate(
        &mut self,
        funding_time: TimestampMs,
        result: Result<FundingInfo, String>,
    ) {
        match result {
            Ok(info) => self.funding.record_upcoming(info),
            Err(message) => {
                tracing::warn!(symbol = %self.config.symbol, funding_time = funding_time.as_ms(), error = %message, "upcoming funding rate read failed");
            }
        }
    }

    /// Books `rate` at `funding_time` (the broker ignores a time already settled).
    pub(super) fn settle(
        &mut self,
        funding_time: TimestampMs,
        rate: Decimal,
        mark: Option<Price>,
        source: FundingRateSource,
    ) {
        self.pending_funding.times.remove(&funding_time);
        let Some(mark) = mark.or(self.engine.last_price()) else {
            self.skip_funding(funding_time, "no mark price");
            return;
        };
        match self
            .engine
            .settle_funding(funding_time, rate, mark, source, &mut self.sink)
        {
            Ok(()) => self.funding.settled += 1,
            Err(err) => {
                let chain = error_chain(&err);
                tracing::error!(symbol = %self.config.symbol, error = &err as &dyn std::error::Error, "funding settlement failed");
                self.record_error(chain);
            }
        }
    }

    pub(super) fn skip_funding(&mut self, funding_time: TimestampMs, reason: &str) {
        self.pending_funding.times.remove(&funding_time);
        self.funding.skipped += 1;
        tracing::warn!(symbol = %self.config.symbol, funding_time = funding_time.as_ms(), reason, "funding time passed without a rate; nothing settled");
        self.sink.journal().append(
            Some(funding_time.as_ms()),
            &JournalEvent::FundingSkipped {
                funding_time: funding_time.as_ms(),
                reason,
                catch_up: self.engine.is_catching_up(),
            },
        );
    }
}

/// Asks the funding-rate history for `funding_time`, off the data path.
fn spawn_history_lookup(
    rest: Arc<RestClient>,
    symbol: la_core::Symbol,
    tx: tokio::sync::mpsc::UnboundedSender<Aux>,
    funding_time: TimestampMs,
) {
    tokio::spawn(async move {
        let result = within(
            LOOKUP_TIMEOUT,
            rest.funding_rate_history(symbol, funding_time, funding_time),
        )
        .await;
        let _ = tx.send(Aux::FundingHistory {
            funding_time,
            result,
        });
    });
}
