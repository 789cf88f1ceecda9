//! Funding settlement for the perpetual.
//!
//! Sign convention (the exchange's): a **positive rate means longs pay and shorts receive**.
//! The cash flow to the account is `amount = −sign(side) × rate × qty × mark_price`
//! (sign = +1 long, −1 short), on the mark-price notional of the whole position. The Python
//! program subtracted the cost for either side, so shorts never received.
//!
//! - **Idempotent per `funding_time`:** a second call for a settled time is a no-op with no
//!   event. Settled times are kept (newest [`FUNDING_RETENTION`], about 11 months at three a
//!   day) and persisted; a time at or before the newest pruned one counts as settled, so a
//!   settlement can never be charged twice.
//! - **Flat, or opened after the funding time:** nothing is owed; the time is still marked
//!   settled and no event is emitted.
//! - **No rate available:** the *session* logs a warning and does not call this — a missing
//!   rate is never settled as "zero by accident".
//! - **Sanity bound:** `|rate| >` [`MAX_ABS_FUNDING_RATE`] (5 % per period, far beyond any
//!   BTC funding cap; a percent value passed as a fraction trips it) is refused with a warning
//!   and counted in `funding_skipped`; the time is *not* marked settled, so a corrected call
//!   can still settle it.

use std::collections::BTreeSet;

use la_core::{BrokerEvent, Price, TimestampMs};
use rust_decimal::Decimal;

use crate::{
    PaperBroker,
    accounting::{checked, record_equity},
    error::BrokerError,
    risk::roll_day,
};

/// How many settled funding times are remembered.
pub const FUNDING_RETENTION: usize = 1024;

/// Largest funding rate magnitude accepted, as a fraction per period (5 %).
pub const MAX_ABS_FUNDING_RATE: Decimal = Decimal::from_parts(5, 0, 0, false, 2);

/// The settled funding times.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FundingLedger {
    settled: BTreeSet<TimestampMs>,
    pruned_through: Option<TimestampMs>,
}

impl FundingLedger {
    pub(crate) fn restore(settled: Vec<TimestampMs>, pruned_through: Option<TimestampMs>) -> Self {
        let mut ledger = Self {
            settled: settled.into_iter().collect(),
            pruned_through,
        };
        ledger.prune();
        ledger
    }

    pub(crate) fn is_settled(&self, time: TimestampMs) -> bool {
        self.settled.contains(&time) || self.pruned_through.is_some_and(|p| time <= p)
    }

    pub(crate) fn mark(&mut self, time: TimestampMs) {
        self.settled.insert(time);
        self.prune();
    }

    fn prune(&mut self) {
        while self.settled.len() > FUNDING_RETENTION {
            if let Some(oldest) = self.settled.pop_first() {
                self.pruned_through = Some(self.pruned_through.map_or(oldest, |p| p.max(oldest)));
            }
        }
    }

    pub(crate) fn settled_vec(&self) -> Vec<TimestampMs> {
        self.settled.iter().copied().collect()
    }

    pub(crate) fn pruned_through(&self) -> Option<TimestampMs> {
        self.pruned_through
    }
}

impl PaperBroker {
    pub(crate) fn settle_funding(
        &mut self,
        funding_time: TimestampMs,
        rate: Decimal,
        mark_price: Price,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), BrokerError> {
        let symbol = self.config.spec.symbol;
        if rate.abs() > MAX_ABS_FUNDING_RATE {
            self.counters.funding_skipped += 1;
            tracing::warn!(
                symbol = %symbol,
                %funding_time,
                %rate,
                "funding rate outside the sanity bound (fraction expected); not settled"
            );
            return Ok(());
        }
        if self.funding.is_settled(funding_time) {
            tracing::debug!(symbol = %symbol, %funding_time, "funding already settled");
            return Ok(());
        }
        self.funding.mark(funding_time);
        let Some(position) = &mut self.position else {
            tracing::debug!(symbol = %symbol, %funding_time, "flat at funding time; nothing owed");
            return Ok(());
        };
        if position.state.opened_at > funding_time {
            tracing::debug!(symbol = %symbol, %funding_time, "position opened after the funding time");
            return Ok(());
        }
        let notional = checked(
            position.cache.qty.checked_mul(mark_price.get()),
            "funding notional",
        )?;
        let owed = checked(rate.checked_mul(notional), "funding amount")?;
        let amount = -(position.state.side.sign() * owed);
        roll_day(&mut self.day, funding_time, self.balance);
        self.balance = checked(self.balance.checked_add(amount), "balance")?;
        self.funding_total = checked(self.funding_total.checked_add(amount), "funding total")?;
        position.state.funding = checked(
            position.state.funding.checked_add(amount),
            "position funding",
        )?;
        record_equity(&mut self.counters, self.balance);
        tracing::info!(
            symbol = %symbol,
            %funding_time,
            %rate,
            mark_price = %mark_price,
            %amount,
            side = position.state.side.as_str(),
            "funding settled"
        );
        events.push(BrokerEvent::FundingApplied {
            funding_time,
            rate,
            mark_price,
            amount,
        });
        Ok(())
    }
}
