//! The intrabar price path: how a candle from the data unfolds into cumulative kline
//! pushes and ticker prices during its bucket.
//!
//! The path visits four waypoints, open → nearer extreme → farther extreme → close, at
//! offsets `0, L/3, 2L/3, L` of the bucket, where `L` is the offset of the **last** kline
//! push in the bucket, and is piecewise linear in between (rounded to the candle's own
//! price precision, so it never leaves `[low, high]`). Cumulative high/low are the extremes
//! visited so far, and volume grows pro rata with time. At offset `L` every value equals
//! the data candle exactly: the last push of a bucket carries the final candle, and the
//! waypoint ticker pushes make live ticks visit the exact extremes, so a backtest on the
//! same data and a live session see the same bars and the same extremes.

use la_core::{Candle, Decimal};
use rust_decimal::RoundingStrategy;

/// The cumulative state of a forming candle at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Forming {
    pub(crate) open: Decimal,
    pub(crate) high: Decimal,
    pub(crate) low: Decimal,
    /// The current path price (`c` of the kline, `la` of the ticker).
    pub(crate) close: Decimal,
    /// Cumulative base-coin volume (`b`).
    pub(crate) base_volume: Decimal,
    /// Cumulative quote turnover (`q`).
    pub(crate) quote_turnover: Decimal,
}

/// The offset (ms into the bucket) of the last kline push (shared with the backtest).
pub(crate) fn last_push_offset(interval_ms: i64, push_ms: i64) -> i64 {
    la_core::last_push_offset(interval_ms, push_ms)
}

/// Offsets of the four waypoints for a last-push offset `last`.
pub(crate) fn waypoint_offsets(last: i64) -> [i64; 4] {
    Candle::path_offsets(last)
}

/// Quote turnover for `base_volume` of this candle: volume × (o+h+l+c)/4, 5 decimals.
pub(crate) fn quote_turnover(candle: &Candle, base_volume: Decimal) -> Decimal {
    let sum = candle.open().get() + candle.high().get() + candle.low().get() + candle.close().get();
    let typical = sum / Decimal::from(4);
    base_volume
        .checked_mul(typical)
        .unwrap_or(Decimal::MAX)
        .round_dp(5)
}

/// The waypoint prices: open, nearer extreme, farther extreme, close (la-core's path, the
/// one the backtest replays).
pub(crate) fn waypoint_prices(candle: &Candle) -> [Decimal; 4] {
    candle.path_waypoints().map(|p| p.get())
}

/// The forming state `offset` ms into the candle's bucket, given the last-push offset.
pub(crate) fn forming_at(candle: &Candle, offset: i64, last: i64) -> Forming {
    let volume = candle.volume().get();
    if offset >= last {
        return Forming {
            open: candle.open().get(),
            high: candle.high().get(),
            low: candle.low().get(),
            close: candle.close().get(),
            base_volume: volume,
            quote_turnover: quote_turnover(candle, volume),
        };
    }
    let offset = offset.max(0);
    let offsets = waypoint_offsets(last);
    let prices = waypoint_prices(candle);
    let price = candle.path_price_at(offset, last).get();
    let (mut high, mut low) = (prices[0].max(price), prices[0].min(price));
    for (waypoint, waypoint_price) in offsets.iter().zip(prices).skip(1) {
        if offset >= *waypoint {
            high = high.max(waypoint_price);
            low = low.min(waypoint_price);
        }
    }
    let volume_scale = volume.normalize().scale().max(4);
    let base_volume = volume
        .checked_mul(Decimal::from(offset))
        .and_then(|v| v.checked_div(Decimal::from(last)))
        .unwrap_or(Decimal::ZERO)
        .round_dp_with_strategy(volume_scale, RoundingStrategy::ToZero);
    Forming {
        open: prices[0],
        high,
        low,
        close: price,
        base_volume,
        quote_turnover: quote_turnover(candle, base_volume),
    }
}

#[cfg(test)]
mod tests;
