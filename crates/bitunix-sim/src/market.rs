//! The market as a pure function of virtual time: which candle is forming at `t`, its
//! cumulative state, 24-hour ticker statistics, and index/mark prices (the funding-rate
//! series is in `funding`).
//!
//! Nothing here depends on what was pushed, so the engine, WebSocket snapshots and REST all
//! agree on the same market. With [`crate::EndBehaviour::Loop`] the series repeats, each
//! pass shifted forward by the series length so time keeps increasing.

use std::sync::Mutex;

use la_core::{Candle, Decimal, Interval, TimestampMs};

use crate::{
    path::{self, Forming},
    state::lock,
};

const DAY_MS: i64 = 86_400_000;

/// 24-hour rolling statistics plus the current price, for `ticker` pushes and REST tickers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TickerData {
    pub(crate) last: Decimal,
    pub(crate) open24: Decimal,
    pub(crate) high24: Decimal,
    pub(crate) low24: Decimal,
    pub(crate) base24: Decimal,
    pub(crate) quote24: Decimal,
    /// (last − open24) / open24 × 100, 10 decimals.
    pub(crate) change_pct: Decimal,
}

/// Statistics of the completed candles in the 24 h before a bucket.
#[derive(Clone, Copy, Debug, Default)]
struct DayStats {
    open: Option<Decimal>,
    high: Option<Decimal>,
    low: Option<Decimal>,
    base: Decimal,
    quote: Decimal,
}

/// The candle series and its timeline.
#[derive(Debug)]
pub(crate) struct Market {
    interval: Interval,
    interval_ms: i64,
    candles: Vec<Candle>,
    first_open: i64,
    looping: bool,
    last_offset: i64,
    day_cache: Mutex<Option<(i64, DayStats)>>,
}

impl Market {
    /// `candles` are contiguous and non-empty (see `data::load`).
    pub(crate) fn new(
        candles: Vec<Candle>,
        interval: Interval,
        kline_push_ms: u64,
        looping: bool,
    ) -> Self {
        let interval_ms = interval.as_ms();
        let first_open = candles.first().map_or(0, |c| c.open_time().as_ms());
        let push = i64::try_from(kline_push_ms).unwrap_or(i64::MAX);
        Self {
            interval,
            interval_ms,
            candles,
            first_open,
            looping,
            last_offset: path::last_push_offset(interval_ms, push),
            day_cache: Mutex::new(None),
        }
    }

    pub(crate) fn interval(&self) -> Interval {
        self.interval
    }

    pub(crate) fn interval_ms(&self) -> i64 {
        self.interval_ms
    }

    /// Offset of the last kline push in every bucket.
    pub(crate) fn last_offset(&self) -> i64 {
        self.last_offset
    }

    /// Open time of the first candle.
    pub(crate) fn first_open(&self) -> i64 {
        self.first_open
    }

    /// The first millisecond after the data (`None` when looping).
    pub(crate) fn data_end(&self) -> Option<i64> {
        if self.looping {
            return None;
        }
        Some(self.first_open + self.span())
    }

    /// Length of one pass over the data.
    pub(crate) fn span(&self) -> i64 {
        i64::try_from(self.candles.len())
            .unwrap_or(i64::MAX)
            .saturating_mul(self.interval_ms)
    }

    /// The bucket start containing `t`.
    pub(crate) fn bucket_of(&self, t: i64) -> i64 {
        t - t.rem_euclid(self.interval_ms)
    }

    /// The candle opening at `open_time`, if the data has one.
    pub(crate) fn candle_at(&self, open_time: i64) -> Option<Candle> {
        if open_time < self.first_open || self.candles.is_empty() {
            return None;
        }
        let k = usize::try_from((open_time - self.first_open) / self.interval_ms).ok()?;
        if let Some(candle) = self.candles.get(k) {
            return (candle.open_time().as_ms() == open_time).then_some(*candle);
        }
        if !self.looping {
            return None;
        }
        let n = self.candles.len();
        let base = self.candles.get(k % n)?;
        let shift = i64::try_from(k / n).ok()?.checked_mul(self.span())?;
        let open = TimestampMs::new(base.open_time().as_ms().checked_add(shift)?).ok()?;
        Candle::new(
            self.interval,
            open,
            base.open(),
            base.high(),
            base.low(),
            base.close(),
            base.volume(),
        )
        .ok()
    }

    /// The candle forming at `t` and its cumulative state.
    pub(crate) fn forming_at(&self, t: i64) -> Option<(Candle, Forming)> {
        let bucket = self.bucket_of(t);
        let candle = self.candle_at(bucket)?;
        Some((
            candle,
            path::forming_at(&candle, t - bucket, self.last_offset),
        ))
    }

    /// Ticker statistics at `t`: the 24 h before the forming candle plus its state so far.
    pub(crate) fn ticker_at(&self, t: i64) -> Option<TickerData> {
        let (_, forming) = self.forming_at(t)?;
        let stats = self.day_stats(self.bucket_of(t));
        let open24 = stats.open.unwrap_or(forming.open);
        let change_pct = if open24.is_zero() {
            Decimal::ZERO
        } else {
            ((forming.close - open24) / open24 * Decimal::ONE_HUNDRED).round_dp(10)
        };
        Some(TickerData {
            last: forming.close,
            open24,
            high24: stats.high.map_or(forming.high, |h| h.max(forming.high)),
            low24: stats.low.map_or(forming.low, |l| l.min(forming.low)),
            base24: stats.base + forming.base_volume,
            quote24: stats.quote + forming.quote_turnover,
            change_pct,
        })
    }

    fn day_stats(&self, bucket: i64) -> DayStats {
        let mut cache = lock(&self.day_cache);
        if let Some((cached_bucket, stats)) = *cache
            && cached_bucket == bucket
        {
            return stats;
        }
        let mut stats = DayStats::default();
        let window = (DAY_MS / self.interval_ms).max(1);
        for back in (1..window).rev() {
            let Some(candle) = self.candle_at(bucket - back * self.interval_ms) else {
                continue;
            };
            stats.open.get_or_insert(candle.open().get());
            let (h, l) = (candle.high().get(), candle.low().get());
            stats.high = Some(stats.high.map_or(h, |x| x.max(h)));
            stats.low = Some(stats.low.map_or(l, |x| x.min(l)));
            stats.base += candle.volume().get();
            stats.quote += path::quote_turnover(&candle, candle.volume().get());
        }
        *cache = Some((bucket, stats));
        stats
    }

    /// Index and mark price at `t`: mark = last path price, index 0.005 % below it.
    pub(crate) fn index_and_mark(&self, t: i64) -> Option<(Decimal, Decimal)> {
        let (_, forming) = self.forming_at(t)?;
        let mark = forming.close;
        let scale = mark.normalize().scale().max(1);
        let index = (mark * Decimal::new(99_995, 5)).round_dp(scale);
        Some((index, mark))
    }
}

/// `2026-09-23T08:00:00Z` for an epoch-ms instant (whole seconds).
pub(crate) fn iso_utc(ms: i64) -> String {
    use time::{OffsetDateTime, macros::format_description};
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|dt| dt.format(&format).ok())
        .unwrap_or_default()
}
