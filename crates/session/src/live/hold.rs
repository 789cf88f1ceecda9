//! Holding market data back while the account must not move yet.
//!
//! Three things make the session hold ticks and closed candles instead of applying them:
//! the warm-up history is still being fetched (`seeding`), a downtime is being caught up
//! (`catching_up`: the missed candles must be replayed first, in time order), or a funding
//! time passed with a position open and its rate has not arrived yet (`funding`: the
//! position that owes funding must not exit before the settlement is booked). Everything
//! else (funding observations, connection changes, gap notices) is handled at once.
//!
//! When the last hold ends the buffer is applied in arrival order; applying an event may
//! start a new hold, which stops the draining until it ends. The buffer is bounded: past
//! [`MAX_HELD_EVENTS`] ticks are dropped (counted and logged; candles are always kept, so
//! exits on the bar are still checked when it closes).

use std::collections::VecDeque;

use la_core::{Candle, Provenance, Tick, TimestampMs};

use super::Live;

/// Events held at most before ticks are dropped.
pub(super) const MAX_HELD_EVENTS: usize = 200_000;

/// One held event: a tick or a closed candle.
#[derive(Clone, Debug)]
pub(super) enum Held {
    Tick(Tick),
    Candle(Candle, Provenance),
}

/// Why the session is holding data back (several reasons can overlap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Holds {
    /// The warm-up history (and any restart catch-up) is being fetched.
    pub(super) seeding: bool,
    /// A downtime is being caught up.
    pub(super) catching_up: bool,
    /// A funding time passed with a position open and waits for its rate.
    pub(super) funding: bool,
}

impl Holds {
    pub(super) fn any(self) -> bool {
        self.seeding || self.catching_up || self.funding
    }
}

/// The held events, oldest first.
#[derive(Debug, Default)]
pub(super) struct EventBuffer {
    events: VecDeque<Held>,
    /// Ticks dropped because the buffer was full.
    pub(super) ticks_dropped: u64,
}

impl EventBuffer {
    /// Holds `event`; a tick beyond the bound is dropped and counted instead.
    pub(super) fn push(&mut self, event: Held) -> bool {
        if self.events.len() >= MAX_HELD_EVENTS && matches!(event, Held::Tick(_)) {
            self.ticks_dropped += 1;
            return false;
        }
        self.events.push_back(event);
        true
    }

    pub(super) fn pop_front(&mut self) -> Option<Held> {
        self.events.pop_front()
    }

    /// The open time of the first held closed candle.
    pub(super) fn first_candle_open(&self) -> Option<TimestampMs> {
        self.events.iter().find_map(|event| match event {
            Held::Candle(candle, _) => Some(candle.open_time()),
            Held::Tick(_) => None,
        })
    }
}

impl Live {
    /// Routes a tick or a closed candle: held while anything holds, applied otherwise.
    pub(super) fn tick_or_candle(&mut self, event: Held) {
        if self.holds.any() {
            if !self.buffer.push(event) && self.buffer.ticks_dropped.is_power_of_two() {
                tracing::warn!(symbol = %self.config.symbol, dropped = self.buffer.ticks_dropped, "held-event buffer full; ticks dropped");
            }
            return;
        }
        if !self.already_caught_up(&event) {
            self.apply_held(event);
        }
    }

    /// Applies one event to the engine.
    fn apply_held(&mut self, event: Held) {
        match event {
            Held::Tick(tick) => self.apply_tick(&tick),
            Held::Candle(candle, provenance) => {
                self.process_closed_candle(&candle, provenance);
                self.maybe_settle_funding();
            }
        }
    }

    /// Applies held events in order until the buffer is empty or a new hold starts.
    pub(super) fn drain_held(&mut self) {
        while !self.holds.any() {
            let Some(event) = self.buffer.pop_front() else {
                break;
            };
            if self.already_caught_up(&event) {
                continue;
            }
            self.apply_held(event);
        }
    }
}
