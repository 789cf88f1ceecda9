//! Market data: [`Candle`], [`Tick`], [`FundingInfo`] and the [`MarketEvent`] stream that
//! feeds produce.
//!
//! Constructors check the composite invariants (OHLC ordering, interval alignment,
//! bid <= ask), so a `Candle` or `Tick` that exists is consistent.
//!
//! Exchange and file data go through one documented normalisation first
//! ([`Ohlc::normalize`], used by [`Candle::normalized`]): a bar whose `open` lies outside
//! `[low, high]` is real (Bitunix opens a bar at the previous close even when no trade in
//! the bar reaches that price), so its range is widened to include the open and the caller
//! is told, to count it. What no exchange convention explains (`high < low`, a close outside
//! the range) stays a rejection.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{
    error::{DataError, RejectReason},
    time::{Interval, TimestampMs},
    value::{Price, Symbol, Volume},
};

mod path;

pub use path::{PathSampler, last_push_offset};

/// Where a closed candle came from. Reports and decision records carry it, so a trade can
/// always be traced to live or repaired data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provenance {
    /// Closed by a WebSocket push landing in a later bucket.
    Live,
    /// The bucket ended with no later push; its values were confirmed over REST.
    RestConfirmed,
    /// Missing from the live stream; fetched over REST to fill a gap.
    Backfilled,
    /// Read from a file (backtests, simulator replays).
    Historical,
    /// Produced by an in-process generator (the mock source).
    Generated,
}

impl Provenance {
    /// Stable snake_case label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::RestConfirmed => "rest_confirmed",
            Self::Backfilled => "backfilled",
            Self::Historical => "historical",
            Self::Generated => "generated",
        }
    }
}

/// A documented repair applied to a bar from an exchange or a file. The caller counts it
/// under [`CandleNormalization::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CandleNormalization {
    /// `open` lay outside `[low, high]`; the range was widened to include it. Bitunix opens
    /// every bar at the previous bar's close, even when no trade in the new bar reaches that
    /// price, so such bars are systematic on real data and rejecting them would lose real
    /// candles (REST is also the backfill path). The widened range is still a price that
    /// traded: the open is the previous close.
    OpenOutsideRange,
}

impl CandleNormalization {
    /// Stable snake_case label (a counter key).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OpenOutsideRange => "open_outside_range",
        }
    }
}

impl std::fmt::Display for CandleNormalization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The four prices of a bar as the exchange (or a file) gave them, before the candle
/// invariants are enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ohlc {
    /// Opening price.
    pub open: Price,
    /// Highest price.
    pub high: Price,
    /// Lowest price.
    pub low: Price,
    /// Closing (or latest) price.
    pub close: Price,
}

impl Ohlc {
    /// Applies the one rule every reader of exchange or file bars shares (the WebSocket
    /// decoder, the REST kline parser, the backtest's candle file and the simulator's data
    /// reader): an `open` outside `[low, high]` widens the range to include it, and the
    /// normalisation is returned so the caller can count it.
    ///
    /// # Errors
    /// `OhlcInconsistent` for `high < low` (field `high`) or a close outside `[low, high]`
    /// (field `close`): no exchange convention explains those.
    pub fn normalize(self) -> Result<(Self, Option<CandleNormalization>), DataError> {
        let Self {
            open,
            high,
            low,
            close,
        } = self;
        if high < low {
            return Err(DataError::new(
                "high",
                RejectReason::OhlcInconsistent,
                format_args!("high {high} < low {low}"),
            ));
        }
        if close < low || close > high {
            return Err(DataError::new(
                "close",
                RejectReason::OhlcInconsistent,
                format_args!("close {close} outside [{low}, {high}]"),
            ));
        }
        if open >= low && open <= high {
            return Ok((self, None));
        }
        let widened = Self {
            open,
            high: high.max(open),
            low: low.min(open),
            close,
        };
        Ok((widened, Some(CandleNormalization::OpenOutsideRange)))
    }
}

/// One OHLCV bar. Invariants: `low <= min(open, close)`, `high >= max(open, close)`,
/// `volume >= 0`, `open_time` aligned to `interval`.
///
/// A candle also keeps what every replay of it needs and [`Candle::new`] derives once from
/// the fields above: its close time, its prices in fixed point ([`Price::to_fixed`]) and
/// its intrabar path's shape (which extreme comes first, the rounding scale). A parameter
/// sweep replays one shared copy of the candles once per parameter set, so these are
/// computed once per candle instead of once per set and use (several times per candle in
/// the plausibility guards, the paper broker and the path sampler).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candle {
    interval: Interval,
    open_time: TimestampMs,
    open: Price,
    high: Price,
    low: Price,
    close: Price,
    volume: Volume,
    derived: Derived,
}

/// What [`Candle::new`] derives from a candle's fields (see [`Candle`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Derived {
    close_time: TimestampMs,
    /// Open, high, low and close as [`Price::to_fixed`].
    fixed: [i128; 4],
    /// The path visits the high before the low ([`Candle::path_waypoints`]).
    high_first: bool,
    /// The path's rounding scale ([`Candle::path`]).
    path_scale: u32,
}

impl Derived {
    fn of(interval: Interval, open_time: TimestampMs, prices: [Price; 4]) -> Self {
        let fixed = prices.map(Price::to_fixed);
        let [open, high, low, _] = fixed;
        Self {
            // open_time is aligned and <= MAX - one day in practice; saturate defensively.
            close_time: open_time
                .checked_add_ms(interval.as_ms())
                .unwrap_or(TimestampMs::MAX),
            fixed,
            // Exact: fixed point is an exact representation of every price.
            high_first: high - open < open - low,
            path_scale: prices
                .iter()
                .map(|p| crate::number::normalized_scale(p.get()))
                .max()
                .unwrap_or(1)
                .max(1),
        }
    }
}

impl Candle {
    /// Builds a candle, checking every invariant.
    ///
    /// # Errors
    /// `Misaligned` if `open_time` is not a bucket start; `OhlcInconsistent` if the prices
    /// do not nest.
    pub fn new(
        interval: Interval,
        open_time: TimestampMs,
        open: Price,
        high: Price,
        low: Price,
        close: Price,
        volume: Volume,
    ) -> Result<Self, DataError> {
        if !interval.is_aligned(open_time) {
            return Err(DataError::new(
                "open_time",
                RejectReason::Misaligned,
                open_time,
            ));
        }
        if high < low {
            return Err(DataError::new(
                "high",
                RejectReason::OhlcInconsistent,
                format_args!("high {high} < low {low}"),
            ));
        }
        for (field, value) in [("open", open), ("close", close)] {
            if value < low || value > high {
                return Err(DataError::new(
                    field,
                    RejectReason::OhlcInconsistent,
                    format_args!("{field} {value} outside [{low}, {high}]"),
                ));
            }
        }
        Ok(Self {
            interval,
            open_time,
            open,
            high,
            low,
            close,
            volume,
            derived: Derived::of(interval, open_time, [open, high, low, close]),
        })
    }

    /// Builds a candle from exchange or file data: [`Ohlc::normalize`] first, then every
    /// invariant of [`Candle::new`]. Returns the normalisation applied, if any, for the
    /// caller to count.
    ///
    /// # Errors
    /// As [`Candle::new`] and [`Ohlc::normalize`].
    pub fn normalized(
        interval: Interval,
        open_time: TimestampMs,
        ohlc: Ohlc,
        volume: Volume,
    ) -> Result<(Self, Option<CandleNormalization>), DataError> {
        let (ohlc, normalization) = ohlc.normalize()?;
        let candle = Self::new(
            interval, open_time, ohlc.open, ohlc.high, ohlc.low, ohlc.close, volume,
        )?;
        Ok((candle, normalization))
    }

    /// The bar's interval.
    pub const fn interval(&self) -> Interval {
        self.interval
    }
    /// Bucket start (UTC ms).
    pub const fn open_time(&self) -> TimestampMs {
        self.open_time
    }
    /// First millisecond after the bucket: when the bar is complete.
    pub const fn close_time(&self) -> TimestampMs {
        self.derived.close_time
    }
    /// Opening price.
    pub const fn open(&self) -> Price {
        self.open
    }
    /// Highest price.
    pub const fn high(&self) -> Price {
        self.high
    }
    /// Lowest price.
    pub const fn low(&self) -> Price {
        self.low
    }
    /// Closing (or latest, while forming) price.
    pub const fn close(&self) -> Price {
        self.close
    }
    /// Base-asset volume.
    pub const fn volume(&self) -> Volume {
        self.volume
    }
    /// Open, high, low and close as [`Price::to_fixed`], computed once.
    pub const fn fixed_ohlc(&self) -> [i128; 4] {
        self.derived.fixed
    }
    /// The high as [`Price::to_fixed`].
    pub const fn high_fixed(&self) -> i128 {
        self.derived.fixed[1]
    }
    /// The low as [`Price::to_fixed`].
    pub const fn low_fixed(&self) -> i128 {
        self.derived.fixed[2]
    }
    /// The close as [`Price::to_fixed`].
    pub const fn close_fixed(&self) -> i128 {
        self.derived.fixed[3]
    }
}

/// A market snapshot at one instant. Invariants: `bid <= ask` when both are present.
///
/// Bitunix's single-symbol `ticker` carries only the last price, so bid and ask are
/// optional; exit checks fall back to `last` when the relevant side is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tick {
    symbol: Symbol,
    ts: TimestampMs,
    last: Price,
    /// `last` as [`Price::to_fixed`], computed once: both plausibility guards (the session's
    /// and the paper broker's) judge every tick in fixed point.
    last_fixed: i128,
    bid: Option<Price>,
    ask: Option<Price>,
}

impl Tick {
    /// Builds a tick.
    ///
    /// # Errors
    /// `CrossedBook` if `bid > ask`.
    pub fn new(
        symbol: Symbol,
        ts: TimestampMs,
        last: Price,
        bid: Option<Price>,
        ask: Option<Price>,
    ) -> Result<Self, DataError> {
        if let (Some(bid), Some(ask)) = (bid, ask)
            && bid > ask
        {
            return Err(DataError::new(
                "bid",
                RejectReason::CrossedBook,
                format_args!("bid {bid} > ask {ask}"),
            ));
        }
        Ok(Self {
            symbol,
            ts,
            last,
            last_fixed: last.to_fixed(),
            bid,
            ask,
        })
    }

    /// Instrument.
    pub const fn symbol(&self) -> Symbol {
        self.symbol
    }
    /// Exchange timestamp.
    pub const fn ts(&self) -> TimestampMs {
        self.ts
    }
    /// A tick with only a last price (Bitunix's ticker): it has no book to be crossed, so
    /// it cannot fail.
    pub fn last_only(symbol: Symbol, ts: TimestampMs, last: Price) -> Self {
        Self {
            symbol,
            ts,
            last,
            last_fixed: last.to_fixed(),
            bid: None,
            ask: None,
        }
    }

    /// Last traded price.
    pub const fn last(&self) -> Price {
        self.last
    }
    /// The last traded price as [`Price::to_fixed`].
    pub const fn last_fixed(&self) -> i128 {
        self.last_fixed
    }
    /// Best bid, if known.
    pub const fn bid(&self) -> Option<Price> {
        self.bid
    }
    /// Best ask, if known.
    pub const fn ask(&self) -> Option<Price> {
        self.ask
    }
    /// The price a seller would get: the bid, else the last price.
    pub fn sell_price(&self) -> Price {
        self.bid.unwrap_or(self.last)
    }
    /// The price a buyer would pay: the ask, else the last price.
    pub fn buy_price(&self) -> Price {
        self.ask.unwrap_or(self.last)
    }
}

/// Funding information from the exchange, with the rate as a **fraction** (0.0001 = 0.01 %).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FundingInfo {
    /// Rate as a fraction per funding period. Positive: longs pay shorts.
    pub rate: Decimal,
    /// Mark price at the time of the observation, if known.
    pub mark_price: Option<Price>,
    /// The next settlement time announced by the exchange, if known.
    pub next_funding_time: Option<TimestampMs>,
    /// Exchange time of the observation.
    pub ts: TimestampMs,
}

/// Connection state changes of a streaming feed, emitted downstream so the session can react
/// and report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionEvent {
    /// A socket is open and subscriptions were sent.
    Connected,
    /// The socket was lost or closed, with a human-readable reason.
    Disconnected {
        /// Why (idle timeout, close frame, I/O error, planned rotation, ...).
        reason: String,
    },
    /// A reconnect attempt is scheduled.
    Reconnecting {
        /// 1-based attempt number since the last successful connection.
        attempt: u32,
        /// Delay before the attempt, in milliseconds.
        delay_ms: u64,
    },
}

/// Everything a market-data feed can tell the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MarketEvent {
    /// A new price snapshot; drives exits on every tick.
    Tick(Tick),
    /// The forming candle changed (cumulative values so far).
    CandleUpdate(Candle),
    /// A candle is complete.
    CandleClosed {
        /// The final bar.
        candle: Candle,
        /// How it was obtained.
        provenance: Provenance,
    },
    /// A funding-rate observation.
    Funding(FundingInfo),
    /// Connection state changed.
    Connection(ConnectionEvent),
    /// Candles are missing between two closed candles; a backfill may follow.
    Gap {
        /// Open time of the first missing candle.
        first_missing: TimestampMs,
        /// Number of missing candles.
        missing: u32,
    },
}
