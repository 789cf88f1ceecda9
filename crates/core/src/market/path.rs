//! A candle's intrabar path: the prices a closed bar is replayed as (open → the extreme
//! nearer the open → the farther extreme → close), shared by the simulator, the mock feed
//! and the backtest so that they agree, and its sampler, built once per candle from what the
//! candle derived when it was built.

use rust_decimal::Decimal;

use super::{Candle, Tick};
use crate::{
    time::TimestampMs,
    value::{Price, Symbol},
};

impl Candle {
    /// The explicit intrabar path used wherever a bar must be replayed as prices: open →
    /// the extreme nearer the open → the farther extreme → close (ties go to the low first,
    /// the conservative order for longs). The backtest and the simulator both use it, which
    /// is what makes backtest and live runs agree.
    pub const fn path_waypoints(&self) -> [Price; 4] {
        // `high - open < open - low`, decided when the candle was built.
        if self.derived.high_first {
            [self.open, self.high, self.low, self.close]
        } else {
            [self.open, self.low, self.high, self.close]
        }
    }

    /// Offsets (ms into the bucket) of the four waypoints when the path ends at
    /// `last_offset_ms`: `0, L/3, 2L/3, L`.
    pub const fn path_offsets(last_offset_ms: i64) -> [i64; 4] {
        [
            0,
            last_offset_ms / 3,
            2 * last_offset_ms / 3,
            last_offset_ms,
        ]
    }

    /// The price on the intrabar path `elapsed_ms` after the open, for a path that reaches
    /// the close at `last_offset_ms` (the simulator's last kline push of the bucket):
    /// piecewise linear between the waypoints at [`path_offsets`](Self::path_offsets),
    /// rounded to the candle's own decimal places (at least one, the BTCUSDT tick), so it
    /// stays inside `[low, high]`. Before the open it is the open; from `last_offset_ms` on,
    /// the close. To sample one candle many times, build its [`PathSampler`] once.
    pub fn path_price_at(&self, elapsed_ms: i64, last_offset_ms: i64) -> Price {
        self.path(last_offset_ms).price_at(elapsed_ms)
    }

    /// The candle's intrabar path ending at `last_offset_ms`, with its waypoints, offsets
    /// and rounding scale computed once.
    pub const fn path(&self, last_offset_ms: i64) -> PathSampler {
        let [open, high, low, close] = self.derived.fixed;
        PathSampler {
            points: self.path_waypoints(),
            fixed: if self.derived.high_first {
                [open, high, low, close]
            } else {
                [open, low, high, close]
            },
            offsets: Self::path_offsets(last_offset_ms),
            scale: self.derived.path_scale,
        }
    }
}

/// One candle's intrabar path, ready to be sampled ([`Candle::path`]): what
/// [`Candle::path_price_at`] would recompute on every call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathSampler {
    points: [Price; 4],
    /// `points` as [`Price::to_fixed`].
    fixed: [i128; 4],
    offsets: [i64; 4],
    scale: u32,
}

impl PathSampler {
    /// See [`Candle::path_price_at`].
    pub fn price_at(&self, elapsed_ms: i64) -> Price {
        self.sample(elapsed_ms).0
    }

    /// The path's tick at `ts`, `elapsed_ms` after the open: a tick with only a last price,
    /// [`Self::price_at`]. On a waypoint (every tick of the waypoint model) its fixed-point
    /// value is the candle's, computed when the candle was built.
    pub fn tick_at(&self, symbol: Symbol, ts: TimestampMs, elapsed_ms: i64) -> Tick {
        match self.sample(elapsed_ms) {
            (last, Some(waypoint)) => Tick {
                symbol,
                ts,
                last,
                last_fixed: self.fixed[waypoint],
                bid: None,
                ask: None,
            },
            (last, None) => Tick::last_only(symbol, ts, last),
        }
    }

    /// [`Self::tick_at`] the `index`-th waypoint's offset ([`Candle::path_offsets`]): the
    /// waypoint model's ticks, without looking for the segment.
    pub fn waypoint_tick(&self, symbol: Symbol, ts: TimestampMs, index: usize) -> Tick {
        let offsets = &self.offsets;
        let (Some(&point), true) = (
            self.points.get(index),
            0 < offsets[1] && offsets[1] < offsets[2] && offsets[2] < offsets[3],
        ) else {
            // A path shorter than three milliseconds: waypoints share offsets.
            return self.tick_at(symbol, ts, offsets.get(index).copied().unwrap_or(0));
        };
        // The first and last are returned as they are; the two extremes as `sample` rounds
        // a waypoint (its value unchanged).
        let last = if index == 0 || index == 3 || point.get().scale() <= self.scale {
            point
        } else {
            Price::new(point.get().round_dp(self.scale)).unwrap_or(point)
        };
        Tick {
            symbol,
            ts,
            last,
            last_fixed: self.fixed[index],
            bid: None,
            ask: None,
        }
    }

    /// The price at `elapsed_ms`, and which waypoint it equals in value (a waypoint's
    /// price may come back with fewer trailing zeros), if it is one.
    fn sample(&self, elapsed_ms: i64) -> (Price, Option<usize>) {
        let (points, offsets) = (&self.points, &self.offsets);
        if elapsed_ms <= 0 {
            return (points[0], Some(0));
        }
        if elapsed_ms >= offsets[3] {
            return (points[3], Some(3));
        }
        let segment = (0..3)
            .find(|&seg| elapsed_ms < offsets[seg + 1])
            .unwrap_or(2);
        let (start, end) = (offsets[segment], offsets[segment + 1]);
        let (from, to) = (points[segment], points[segment + 1]);
        if end <= start {
            return (to, Some(segment + 1));
        }
        if elapsed_ms == start {
            // On a waypoint the path is that waypoint: what the interpolation below computes
            // (it moves by zero) without a `Decimal` product, quotient and rounding. The
            // waypoint-tick backtest samples only these offsets. Rounded like it, so the
            // representation (trailing zeros, shown in fills and logs) is the same too.
            // `round_dp` returns a value with no more decimals than it keeps unchanged, so
            // such a waypoint (nearly every one) is returned as it is, without the rounding
            // and the revalidation of a price that is already one.
            if from.get().scale() <= self.scale {
                return (from, Some(segment));
            }
            // Rounding to at least the waypoint's own decimals keeps its value.
            return (
                Price::new(from.get().round_dp(self.scale)).unwrap_or(from),
                Some(segment),
            );
        }
        (self.interpolate(segment, elapsed_ms), None)
    }

    /// The price `elapsed_ms` into `segment`, linear between its two waypoints, rounded to
    /// the candle's scale.
    pub(crate) fn interpolate(&self, segment: usize, elapsed_ms: i64) -> Price {
        let (start, end) = (self.offsets[segment], self.offsets[segment + 1]);
        let (from, to) = (self.points[segment], self.points[segment + 1]);
        let moved = (to.get() - from.get()) * Decimal::from(elapsed_ms - start)
            / Decimal::from((end - start).max(1));
        // A convex combination of two valid prices, rounded to their scale, stays between them.
        Price::new((from.get() + moved).round_dp(self.scale)).unwrap_or(from)
    }
}

/// The offset (ms into a bucket of `interval_ms`) of the last kline push when pushes come
/// every `push_ms`: the largest multiple of `push_ms` below the interval.
pub const fn last_push_offset(interval_ms: i64, push_ms: i64) -> i64 {
    if push_ms <= 0 || interval_ms <= 0 {
        return 0;
    }
    ((interval_ms - 1) / push_ms) * push_ms
}
