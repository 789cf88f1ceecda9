//! How a closed bar is replayed as ticks: the explicit intrabar path of la-core (open →
//! nearer extreme → farther extreme → close), sampled either at its four waypoints (fast;
//! the backtest default) or at the simulator's ticker cadence (every `ticker_ms` plus the
//! waypoints — what a live session on the simulator sees).
//!
//! Both models give the same exit *prices* (exits fill at their levels and the waypoints
//! carry every extreme); they differ only in the millisecond an exit is stamped with,
//! which is why the parity check runs with the cadence model.

use la_core::{Candle, Symbol, Tick, last_push_offset};
use serde::{Deserialize, Serialize};

/// The simulator's (and Bitunix's documented) kline push cadence.
pub const KLINE_PUSH_MS: i64 = 500;

/// Which ticks a bar is replayed as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntrabarTicks {
    /// The four waypoints only.
    #[default]
    Waypoints,
    /// Every `ticker_ms` of the bucket plus the waypoints, as the simulator streams them.
    Cadence {
        /// Ticker push interval in ms.
        ticker_ms: i64,
    },
}

/// Calls `emit` for every tick of `candle`'s path under `model`, in time order: ticks of
/// `symbol` with only a last price, as Bitunix's ticker sends them.
pub fn for_each_path_tick(
    candle: &Candle,
    model: IntrabarTicks,
    symbol: Symbol,
    mut emit: impl FnMut(Tick),
) {
    let interval_ms = candle.interval().as_ms();
    let last = last_push_offset(interval_ms, KLINE_PUSH_MS);
    let open = candle.open_time();
    let waypoints = Candle::path_offsets(last);
    // One sampler per candle: the waypoints and the rounding scale are computed once, not
    // once per tick (the cadence model samples a 1m bar ~120 times).
    let path = candle.path(last);
    let mut at = |offset: i64| {
        if let Some(ts) = open.checked_add_ms(offset) {
            emit(path.tick_at(symbol, ts, offset));
        }
    };
    match model {
        IntrabarTicks::Waypoints => {
            for (index, offset) in waypoints.into_iter().enumerate() {
                if let Some(ts) = open.checked_add_ms(offset) {
                    emit(path.waypoint_tick(symbol, ts, index));
                }
            }
        }
        IntrabarTicks::Cadence { ticker_ms } => {
            let step = ticker_ms.max(1);
            let mut next_cadence = 0;
            let mut next_waypoint = 0;
            loop {
                let cadence = (next_cadence < interval_ms).then_some(next_cadence);
                let waypoint = waypoints.get(next_waypoint).copied();
                let offset = match (cadence, waypoint) {
                    (Some(c), Some(w)) => c.min(w),
                    (Some(c), None) => c,
                    (None, Some(w)) => w,
                    (None, None) => break,
                };
                if cadence == Some(offset) {
                    next_cadence += step;
                }
                if waypoint == Some(offset) {
                    next_waypoint += 1;
                }
                at(offset);
            }
        }
    }
}
