//! Risk rules applied at submit, all measured in **event time** (the `now` the caller passes),
//! never the wall clock, so a backtest or a fast replay behaves exactly like live
//! (the Python throttles used wall time and a replay got about one trade).
//!
//! - Orders per minute: a sliding window `(now − 60 s, now]` of counted submissions. A
//!   submission is counted once it passes the duplicate, halt and rate checks — even if a
//!   later rule rejects it (it reached the venue). One refused *by* the rate rule is not
//!   counted, so a noisy strategy cannot lock itself out for ever.
//! - Daily loss: the UTC day is `floor(event_ms / 86 400 000)`. The first event of a day
//!   records the realized equity as the day's baseline; new entries are refused while
//!   `baseline − equity > daily_loss_limit_frac × baseline` (realized PnL and funding count;
//!   open PnL does not). A new UTC day resets the baseline.
//! - Exposure: notional ≤ `max_notional`; notional ≤ `max_leverage × equity` (no division,
//!   and a non-positive equity refuses every entry); loss at the stop
//!   `|entry − stop| × qty ≤ max_risk_per_trade`. The entry used is the expected fill price
//!   (limit price, or the market base price with the deterministic slippage).

use std::collections::VecDeque;

use la_core::{OrderRejectReason, Price, Qty, TimestampMs};
use rust_decimal::Decimal;

use crate::{config::BrokerConfig, state::DayState};

/// Length of the orders-per-minute window.
pub(crate) const MINUTE_MS: i64 = 60_000;
/// Length of a UTC day.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// Drops submissions outside `(now − 60 s, now]`'s lower bound and says whether one more fits.
pub(crate) fn rate_allows(times: &mut VecDeque<TimestampMs>, now: TimestampMs, max: u32) -> bool {
    let floor = now.as_ms() - MINUTE_MS;
    // Times are normally ordered; `retain` also copes with event time stepping back.
    times.retain(|t| t.as_ms() > floor);
    times.len() < max as usize
}

/// The UTC day index of an event time.
pub(crate) fn day_index(now: TimestampMs) -> i64 {
    now.as_ms().div_euclid(DAY_MS)
}

/// Starts a new day baseline when `now` is on a later UTC day than the current one.
pub(crate) fn roll_day(day: &mut Option<DayState>, now: TimestampMs, equity: Decimal) {
    let index = day_index(now);
    match day {
        Some(current) if index <= current.day_index => {}
        _ => {
            *day = Some(DayState {
                day_index: index,
                start_equity: equity,
            });
        }
    }
}

/// Whether the day's realized loss is past the limit.
pub(crate) fn daily_loss_exceeded(day: &DayState, equity: Decimal, frac: Decimal) -> bool {
    let loss = day.start_equity - equity;
    match frac.checked_mul(day.start_equity) {
        Some(limit) => loss > limit,
        None => true,
    }
}

/// Notional, leverage and per-trade risk checks for an entry at `entry` with `stop`.
pub(crate) fn check_exposure(
    config: &BrokerConfig,
    entry: Price,
    qty: Qty,
    stop: Price,
    equity: Decimal,
) -> Result<(), OrderRejectReason> {
    let notional = entry
        .get()
        .checked_mul(qty.get())
        .ok_or(OrderRejectReason::MaxNotional)?;
    if notional > config.max_notional {
        return Err(OrderRejectReason::MaxNotional);
    }
    let leverage_room = config
        .max_leverage
        .checked_mul(equity)
        .ok_or(OrderRejectReason::MaxLeverage)?;
    if equity <= Decimal::ZERO || notional > leverage_room {
        return Err(OrderRejectReason::MaxLeverage);
    }
    let risk = (entry.get() - stop.get())
        .abs()
        .checked_mul(qty.get())
        .ok_or(OrderRejectReason::RiskCap)?;
    if risk > config.max_risk_per_trade {
        return Err(OrderRejectReason::RiskCap);
    }
    Ok(())
}
