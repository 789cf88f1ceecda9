//! When funding is due: the pure funding schedule both the live session and the backtest use.
//!
//! Funding is settled when **exchange time** crosses a funding time: 00:00, 08:00 and 16:00
//! UTC, or the next funding time the exchange announced on its price channel. This module
//! only answers "which funding time is due now, and which observed rate applies to it"; it
//! reads no clock and does no I/O. Where the rate comes from when none was observed (a REST
//! lookup in the live session, a constant in the backtest) is the caller's business.

use la_core::{FundingInfo, TimestampMs};

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
