//! When funding is due and which rate settles it: the pure funding schedule both the live
//! session and the backtest use.
//!
//! Funding is settled when **exchange time** crosses a funding time: 00:00, 08:00 and 16:00
//! UTC, or the next funding time the exchange announced on its price channel.
//!
//! **The rate charged at funding time T is the rate that settled at T.** On the only live
//! evidence, the price channel's `fr` is the last *settled* rate (it changes at each funding
//! time) and REST `funding_rate` the *upcoming* one. So the rate for T is, in order of
//! preference: the first `fr` pushed at or after T ([`FundingRateSource::PriceChannel`]);
//! the exchange's funding-rate history ([`FundingRateSource::History`]); and only when
//! neither arrives, the REST upcoming rate read shortly before T
//! ([`FundingRateSource::RestUpcoming`], logged as a fallback). An `fr` seen *before* T is
//! the previous period's rate and is never used for T. This module reads no clock and does
//! no I/O; the session fetches, the backtest assumes a constant
//! ([`FundingRateSource::Assumed`]).

use la_core::{FundingInfo, TimestampMs};
pub use la_run_schema::downtime::{FundingRateSource, FundingSettlement};

/// Length of one funding period (8 h).
pub const FUNDING_PERIOD_MS: i64 = 8 * 3_600_000;

/// How long before a funding time the session reads the REST upcoming rate (the fallback
/// for that time), in exchange milliseconds.
pub const UPCOMING_READ_LEAD_MS: i64 = 10 * 60_000;

/// The next 00/08/16 UTC boundary strictly after `ts`.
pub fn next_funding_after(ts: TimestampMs) -> Option<TimestampMs> {
    let ms = ts.as_ms();
    TimestampMs::new(ms - ms.rem_euclid(FUNDING_PERIOD_MS) + FUNDING_PERIOD_MS).ok()
}

/// Tracks the next funding time and the rate observations that can settle it.
#[derive(Clone, Debug, Default)]
pub struct FundingSchedule {
    next_due: Option<TimestampMs>,
    /// The newest price-channel observation.
    latest: Option<FundingInfo>,
    /// The newest REST upcoming-rate read that named its funding time.
    upcoming: Option<FundingInfo>,
    /// The funding time whose upcoming rate was last asked for (one read per time).
    upcoming_requested: Option<TimestampMs>,
    /// Settlements applied this run.
    pub settled: u64,
    /// Funding times passed without a rate.
    pub skipped: u64,
}

impl FundingSchedule {
    /// A schedule whose next due funding time is the first one strictly after `ts` (a
    /// replay that resumes after `ts`).
    pub fn starting_after(ts: TimestampMs) -> Self {
        Self {
            next_due: next_funding_after(ts),
            ..Self::default()
        }
    }

    /// Moves the next due time to the first funding time strictly after `ts`, keeping the
    /// observations (a catch-up settled everything up to `ts`).
    pub fn rearm_after(&mut self, ts: TimestampMs) {
        self.next_due = next_funding_after(ts);
    }

    /// Records a price-channel observation; an announced next funding time overrides the
    /// default grid.
    pub fn observe(&mut self, info: FundingInfo) {
        if let Some(next) = info.next_funding_time
            && next > info.ts
        {
            self.next_due = Some(self.next_due.map_or(next, |due| due.min(next)));
        }
        if self.latest.is_none_or(|latest| info.ts >= latest.ts) {
            self.latest = Some(info);
        }
    }

    /// If exchange time `now` has reached the next funding time, returns it and schedules the
    /// following one; call until `None` to get every time passed. The first call on a
    /// default schedule only arms it.
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

    /// The rate that settled at `funding_time` as the price channel showed it: an
    /// observation at or after `funding_time` and before the next funding time. An
    /// observation from before `funding_time` is the previous period's rate: `None`.
    pub fn settled_rate_for(&self, funding_time: TimestampMs) -> Option<FundingInfo> {
        self.latest.filter(|info| {
            let age = info.ts.ms_since(funding_time);
            (0..FUNDING_PERIOD_MS).contains(&age)
        })
    }

    /// The funding time whose upcoming rate should be read now over REST (at most once per
    /// funding time, within [`UPCOMING_READ_LEAD_MS`] before it), if any.
    pub fn upcoming_read_due(&mut self, now: TimestampMs) -> Option<TimestampMs> {
        let due = self.next_due?;
        let lead = due.ms_since(now);
        if !(0..=UPCOMING_READ_LEAD_MS).contains(&lead) || self.upcoming_requested == Some(due) {
            return None;
        }
        self.upcoming_requested = Some(due);
        Some(due)
    }

    /// Records a REST upcoming-rate read.
    pub fn record_upcoming(&mut self, info: FundingInfo) {
        if info.next_funding_time.is_some() {
            self.upcoming = Some(info);
        }
    }

    /// The upcoming rate read before `funding_time` that names it, if any (the fallback).
    pub fn upcoming_for(&self, funding_time: TimestampMs) -> Option<FundingInfo> {
        self.upcoming
            .filter(|info| info.next_funding_time == Some(funding_time))
    }
}
