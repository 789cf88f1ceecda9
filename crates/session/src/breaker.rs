//! The trading circuit breaker: stops new entries after a daily drawdown or a run of losing
//! trades.
//!
//! Measured in **event time** (the UTC day of the exchange timestamps), so a replay trips it
//! exactly as a live run would. The trip is persisted *with its day*, so — unlike the Python
//! program, whose persisted trip never cleared — a new UTC day resets a trip (and the loss streak) instead of
//! blocking forever.
//! Every exit updates it, including exits on ticks.

use la_core::{Decimal, TimestampMs};
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;

/// Breaker thresholds.
#[derive(Clone, Copy, Debug)]
pub struct BreakerLimits {
    /// Drawdown from the day's starting equity, as a fraction (0.05 = 5 %).
    pub max_daily_drawdown: Decimal,
    /// Consecutive losing trades.
    pub max_consecutive_losses: u32,
}

impl BreakerLimits {
    /// Never trips: a drawdown of the whole day's equity, and no loss-streak limit (0).
    pub const OFF: Self = Self {
        max_daily_drawdown: Decimal::ONE,
        max_consecutive_losses: 0,
    };
}

/// Persisted breaker state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerState {
    /// UTC day number (epoch days) the day-start equity belongs to.
    pub day: Option<i64>,
    /// Equity at the start of `day`.
    pub day_start_equity: Option<Decimal>,
    /// Losing trades in a row.
    pub consecutive_losses: u32,
    /// Why it tripped, if it did.
    pub tripped: Option<String>,
    /// The UTC day it tripped on.
    pub tripped_day: Option<i64>,
}

/// The breaker.
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    limits: BreakerLimits,
    state: BreakerState,
}

impl CircuitBreaker {
    /// A breaker with restored state.
    pub fn new(limits: BreakerLimits, state: BreakerState) -> Self {
        Self { limits, state }
    }

    /// The persisted shape.
    pub fn state(&self) -> &BreakerState {
        &self.state
    }

    /// The trip reason, if tripped.
    pub fn tripped(&self) -> Option<&str> {
        self.state.tripped.as_deref()
    }

    /// Rolls the day forward at event time `now`; a new day resets a drawdown trip and
    /// re-bases the day's starting equity.
    pub fn observe_time(&mut self, now: TimestampMs, equity: Decimal) {
        let day = now.as_ms().div_euclid(DAY_MS);
        if self.state.day != Some(day) {
            self.state.day = Some(day);
            self.state.day_start_equity = Some(equity);
            if self.state.tripped.is_some() {
                self.state.tripped = None;
                self.state.tripped_day = None;
                self.state.consecutive_losses = 0;
            }
        }
    }

    /// Records a closed trade's net PnL and the equity after it; returns the new trip reason
    /// if this exit tripped the breaker.
    pub fn record_exit(
        &mut self,
        now: TimestampMs,
        pnl_net: Decimal,
        equity: Decimal,
    ) -> Option<&str> {
        self.observe_time(now, equity - pnl_net);
        if pnl_net < Decimal::ZERO {
            self.state.consecutive_losses = self.state.consecutive_losses.saturating_add(1);
        } else {
            self.state.consecutive_losses = 0;
        }
        if self.state.tripped.is_some() {
            return None;
        }
        let reason = if self.limits.max_consecutive_losses > 0
            && self.state.consecutive_losses >= self.limits.max_consecutive_losses
        {
            Some("consecutive_losses")
        } else {
            match self.state.day_start_equity {
                Some(start) if start > Decimal::ZERO => {
                    let drawdown = (start - equity) / start;
                    (drawdown >= self.limits.max_daily_drawdown).then_some("daily_drawdown")
                }
                _ => None,
            }
        };
        if let Some(reason) = reason {
            self.state.tripped = Some(reason.to_owned());
            self.state.tripped_day = self.state.day;
        }
        reason
    }
}
