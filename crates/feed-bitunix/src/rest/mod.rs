//! [`RestClient`]: the Bitunix public market REST endpoints.
//!
//! All requests of one client (and of its clones, and of the [`crate::BitunixFeed`] that
//! created it) share one rate limiter and one retry policy (module `transport`). Results are
//! always validated core values, oldest-first for candles.
//!
//! REST has no 3-minute klines; for [`Interval::M3`] the client fetches 1-minute candles and
//! aggregates complete triples (open of the first, close of the last, extreme high/low, summed
//! volume). A triple with a missing minute is not produced.

pub(crate) mod transport;
pub(crate) mod wire;

use std::{collections::BTreeMap, sync::Arc};

use la_core::{Candle, Clock, FundingInfo, Interval, Price, Symbol, TimestampMs, Volume};

use crate::{
    clock::SystemClock,
    config::{FeedConfig, rest_interval},
    counters::{Counters, CountersSnapshot},
    error::FeedError,
};
pub use wire::{InstrumentInfo, SettledFunding, SymbolStatus};

/// Most rows the kline endpoint returns per request.
pub const MAX_KLINE_LIMIT: u16 = 200;

/// Rows asked for per funding-history request (the exchange documents no maximum).
const FUNDING_HISTORY_LIMIT: u16 = 100;

/// Pages fetched at most by one paged call (40 000 candles), so a misbehaving server that
/// keeps answering cannot loop a caller forever.
const MAX_PAGES: usize = 200;

/// The exchange's clock as one REST answer showed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerDate {
    /// The HTTP `Date` header (whole seconds: the server's time lay in `[server,
    /// server + 1 s)`); `None` when the answer had none.
    pub server: Option<TimestampMs>,
    /// The client's clock when the answer arrived.
    pub received: TimestampMs,
}

/// Parses an IMF-fixdate HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, the only form RFC 9110
/// lets a server send).
fn parse_http_date(value: &str) -> Option<TimestampMs> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value.trim(), format)
        .ok()?
        .assume_utc();
    TimestampMs::new(at.unix_timestamp().checked_mul(1_000)?).ok()
}

/// The public REST client. Cheap to clone; clones share the limiter and counters.
#[derive(Clone)]
pub struct RestClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: transport::Transport,
    clock: Arc<dyn Clock>,
    counters: Counters,
    symbol: Symbol,
}

impl std::fmt::Debug for RestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClient")
            .field("transport", &self.inner.transport)
            .finish_non_exhaustive()
    }
}

impl RestClient {
    /// A client on the local wall clock ([`SystemClock`]).
    ///
    /// # Errors
    /// [`FeedError::Config`], [`FeedError::InvalidUrl`] or [`FeedError::Tls`] for a bad
    /// configuration.
    pub fn new(config: &FeedConfig) -> Result<Self, FeedError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A client whose "now" (for dropping still-forming bars) comes from `clock`; use the
    /// simulator's or a replay's clock there.
    ///
    /// # Errors
    /// As [`RestClient::new`].
    pub fn with_clock(config: &FeedConfig, clock: Arc<dyn Clock>) -> Result<Self, FeedError> {
        Self::with_counters(config, clock, Counters::default())
    }

    pub(crate) fn with_counters(
        config: &FeedConfig,
        clock: Arc<dyn Clock>,
        counters: Counters,
    ) -> Result<Self, FeedError> {
        Ok(Self {
            inner: Arc::new(Inner {
                transport: transport::Transport::new(config, counters.clone())?,
                clock,
                counters,
                symbol: config.symbol,
            }),
        })
    }

    /// The counters (REST outcomes and rejected rows; shared with the feed that owns it).
    pub fn counters(&self) -> CountersSnapshot {
        self.inner.counters.snapshot()
    }

    /// Up to `limit` (≤ 200; larger values are capped) complete candles ending at `end_time`
    /// (default: now), oldest-first. A still-forming bar is dropped by the client's clock.
    ///
    /// "Now" is read when the question is asked and sent as `endTime`: an answer that comes
    /// back after bar boundaries (a slow exchange, a fast simulator) still holds the bars
    /// that were complete when it was asked, instead of only bars newer than that moment,
    /// which the forming-bar rule would all drop.
    ///
    /// # Errors
    /// A typed [`FeedError`] after the retry budget.
    pub async fn klines(
        &self,
        symbol: Symbol,
        interval: Interval,
        limit: u16,
        end_time: Option<TimestampMs>,
    ) -> Result<Vec<Candle>, FeedError> {
        let now = self.inner.clock.now();
        let limit = limit.clamp(1, MAX_KLINE_LIMIT);
        if rest_interval(interval).is_none() {
            let end = end_time.unwrap_or(now);
            let to = interval.next_open(end).unwrap_or(end);
            let from = to
                .checked_add_ms(-interval.as_ms() * i64::from(limit))
                .unwrap_or(TimestampMs::MIN);
            return self.klines_range(symbol, interval, from, to, now).await;
        }
        // One extra row makes up for a forming bar the exchange may include.
        let ask = limit.saturating_add(1).min(MAX_KLINE_LIMIT);
        let end = end_time.unwrap_or(now);
        let page = self
            .page(symbol, interval, ask, None, Some(end), now)
            .await?;
        Ok(last_n(
            page.candles.into_values().collect(),
            usize::from(limit),
        ))
    }

    /// The last `n` complete candles before `now`, paged backwards (≤ 200 per request),
    /// de-duplicated, oldest-first. Fewer are returned when the exchange has no older data.
    ///
    /// # Errors
    /// A typed [`FeedError`] after the retry budget.
    pub async fn klines_back(
        &self,
        symbol: Symbol,
        interval: Interval,
        n: usize,
        now: TimestampMs,
    ) -> Result<Vec<Candle>, FeedError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        if rest_interval(interval).is_none() {
            let to = interval.open_time_of(now);
            let span = interval
                .as_ms()
                .saturating_mul(i64::try_from(n).unwrap_or(i64::MAX));
            let from = to.checked_add_ms(-span).unwrap_or(TimestampMs::MIN);
            let all = self.klines_range(symbol, interval, from, to, now).await?;
            return Ok(last_n(all, n));
        }
        let mut out = BTreeMap::new();
        let mut end = Some(now);
        for _ in 0..MAX_PAGES {
            let want = n.saturating_sub(out.len()).saturating_add(1);
            let limit = u16::try_from(want)
                .unwrap_or(MAX_KLINE_LIMIT)
                .min(MAX_KLINE_LIMIT);
            let page = self.page(symbol, interval, limit, None, end, now).await?;
            let before = out.len();
            let oldest = page.oldest;
            out.extend(page.candles);
            if out.len() >= n || page.rows == 0 || (out.len() == before && oldest.is_none()) {
                break;
            }
            match oldest.and_then(|o| o.checked_add_ms(-1)) {
                Some(next_end) if end.is_none_or(|e| next_end < e) => end = Some(next_end),
                _ => break,
            }
        }
        Ok(last_n(out.into_values().collect(), n))
    }

    /// Complete candles with `from <= open_time < to`, oldest-first, paged backwards from
    /// `to` (≤ 200 per request).
    ///
    /// # Errors
    /// A typed [`FeedError`] after the retry budget.
    pub async fn klines_range(
        &self,
        symbol: Symbol,
        interval: Interval,
        from: TimestampMs,
        to: TimestampMs,
        now: TimestampMs,
    ) -> Result<Vec<Candle>, FeedError> {
        if from >= to {
            return Ok(Vec::new());
        }
        if rest_interval(interval).is_none() {
            let minutes = Box::pin(self.klines_range(symbol, Interval::M1, from, to, now)).await?;
            return Ok(aggregate(&minutes, interval));
        }
        let mut out = BTreeMap::new();
        let mut end = to.checked_add_ms(-1).unwrap_or(to);
        for _ in 0..MAX_PAGES {
            let page = self
                .page(
                    symbol,
                    interval,
                    MAX_KLINE_LIMIT,
                    Some(from),
                    Some(end),
                    now,
                )
                .await?;
            out.extend(page.candles.range(from..to).map(|(k, v)| (*k, *v)));
            let Some(oldest) = page.oldest else { break };
            if page.rows < usize::from(MAX_KLINE_LIMIT) || oldest <= from {
                break;
            }
            match oldest.checked_add_ms(-1) {
                Some(next_end) if next_end < end => end = next_end,
                _ => break,
            }
        }
        Ok(out.into_values().collect())
    }

    /// The current funding rate, as a **fraction** (the wire value is in percent).
    ///
    /// # Errors
    /// A typed [`FeedError`] after the retry budget.
    pub async fn funding_rate(&self, symbol: Symbol) -> Result<FundingInfo, FeedError> {
        let path = format!("/api/v1/futures/market/funding_rate?symbol={symbol}");
        let data = self.inner.transport.get(&path).await?;
        wire::funding(&data, symbol, self.inner.clock.now())
    }

    /// The funding rates that settled at funding times in `[from, to]`, oldest first, as
    /// **fractions** (the history's wire unit; unlike [`RestClient::funding_rate`]). Paged
    /// backwards from `to` (the start parameter is spelled `starTime`, as the exchange
    /// documents it); rows failing validation are counted in `rest_rows_rejected` and
    /// logged, never repaired.
    ///
    /// # Errors
    /// A typed [`FeedError`] after the retry budget.
    pub async fn funding_rate_history(
        &self,
        symbol: Symbol,
        from: TimestampMs,
        to: TimestampMs,
    ) -> Result<Vec<SettledFunding>, FeedError> {
        if from > to {
            return Ok(Vec::new());
        }
        let mut out = BTreeMap::new();
        let mut end = to;
        for _ in 0..MAX_PAGES {
            let path = format!(
                "/api/v1/futures/market/get_funding_rate_history?symbol={symbol}&starTime={from}&endTime={end}&limit={FUNDING_HISTORY_LIMIT}"
            );
            let data = self.inner.transport.get(&path).await?;
            let page = wire::funding_history_page(&data)?;
            self.count_rejected_rows(&page.rejected, "funding history");
            out.extend(page.settled.range(from..=to).map(|(k, v)| (*k, *v)));
            let Some(oldest) = page.oldest else { break };
            if page.rows < usize::from(FUNDING_HISTORY_LIMIT) || oldest <= from {
                break;
            }
            match oldest.checked_add_ms(-1) {
                Some(next_end) if next_end < end => end = next_end,
                _ => break,
            }
        }
        Ok(out.into_values().collect())
    }

    /// Counts and logs rejected REST rows (never repaired).
    fn count_rejected_rows(&self, rejected: &[wire::RowRejection], what: &str) {
        if rejected.is_empty() {
            return;
        }
        for reason in rejected {
            self.inner
                .counters
                .bump(|c| &mut c.rest_rows_rejected, reason);
        }
        tracing::warn!(
            symbol = %self.inner.symbol,
            rejected = rejected.len(),
            reasons = ?rejected,
            what,
            "REST rows rejected (not clamped)"
        );
    }

    /// Tick size, quantity step, minimum quantity and status of `symbol`.
    ///
    /// # Errors
    /// A typed [`FeedError`] after the retry budget.
    pub async fn trading_pair(&self, symbol: Symbol) -> Result<InstrumentInfo, FeedError> {
        let path = format!("/api/v1/futures/market/trading_pairs?symbols={symbol}");
        let data = self.inner.transport.get(&path).await?;
        wire::trading_pair(&data, symbol)
    }

    /// The last traded price from `tickers`.
    ///
    /// # Errors
    /// A typed [`FeedError`] after the retry budget.
    pub async fn last_price(&self, symbol: Symbol) -> Result<Price, FeedError> {
        let path = format!("/api/v1/futures/market/tickers?symbols={symbol}");
        let data = self.inner.transport.get(&path).await?;
        wire::last_price(&data, symbol)
    }

    /// The last traded price from `tickers`, with the exchange's clock as the same answer
    /// showed it: the HTTP `Date` header (whole seconds) and this client's clock when the
    /// answer arrived. `doctor` compares the two; the `tickers` body carries no server time.
    ///
    /// # Errors
    /// A typed [`FeedError`] after the retry budget.
    pub async fn last_price_with_server_date(
        &self,
        symbol: Symbol,
    ) -> Result<(Price, ServerDate), FeedError> {
        let path = format!("/api/v1/futures/market/tickers?symbols={symbol}");
        let answer = self.inner.transport.get_answer(&path).await?;
        let received = self.inner.clock.now();
        let price = wire::last_price(&answer.data, symbol)?;
        let server = match answer.date {
            None => None,
            Some(text) => Some(parse_http_date(&text).ok_or(FeedError::Decode(format!(
                "unparsable Date header {text:?}"
            )))?),
        };
        Ok((price, ServerDate { server, received }))
    }

    /// One kline request, parsed; rejected and normalised rows are counted and logged.
    async fn page(
        &self,
        symbol: Symbol,
        interval: Interval,
        limit: u16,
        start: Option<TimestampMs>,
        end: Option<TimestampMs>,
        now: TimestampMs,
    ) -> Result<wire::KlinePage, FeedError> {
        let wire_interval = rest_interval(interval)
            .ok_or_else(|| FeedError::Unsupported(format!("{interval} klines over REST")))?;
        let mut path = format!(
            "/api/v1/futures/market/kline?symbol={symbol}&interval={wire_interval}&limit={limit}"
        );
        if let Some(start) = start {
            path.push_str(&format!("&startTime={start}"));
        }
        if let Some(end) = end {
            path.push_str(&format!("&endTime={end}"));
        }
        let data = self.inner.transport.get(&path).await?;
        let page = wire::kline_page(&data, interval, now)?;
        for normalization in &page.normalized {
            self.inner
                .counters
                .bump(|c| &mut c.rest_rows_normalized, normalization.as_str());
        }
        if !page.normalized.is_empty() {
            tracing::info!(
                symbol = %self.inner.symbol,
                normalized = page.normalized.len(),
                "REST kline rows normalised: range widened to include the open"
            );
        }
        self.count_rejected_rows(&page.rejected, "kline");
        Ok(page)
    }
}

fn last_n(mut candles: Vec<Candle>, n: usize) -> Vec<Candle> {
    let skip = candles.len().saturating_sub(n);
    candles.drain(..skip);
    candles
}

/// Aggregates 1-minute candles into `interval` buckets, keeping only complete buckets.
fn aggregate(minutes: &[Candle], interval: Interval) -> Vec<Candle> {
    let per_bucket = usize::try_from(interval.as_ms() / Interval::M1.as_ms()).unwrap_or(usize::MAX);
    let mut buckets: BTreeMap<TimestampMs, Vec<&Candle>> = BTreeMap::new();
    for candle in minutes {
        buckets
            .entry(interval.open_time_of(candle.open_time()))
            .or_default()
            .push(candle);
    }
    buckets
        .into_iter()
        .filter(|(_, parts)| parts.len() == per_bucket)
        .filter_map(|(open_time, parts)| {
            let first = parts.first()?;
            let last = parts.last()?;
            let high = parts.iter().map(|c| c.high()).max()?;
            let low = parts.iter().map(|c| c.low()).min()?;
            let volume = parts
                .iter()
                .try_fold(la_core::Decimal::ZERO, |acc, c| {
                    acc.checked_add(c.volume().get())
                })
                .and_then(|v| Volume::new(v).ok())?;
            Candle::new(
                interval,
                open_time,
                first.open(),
                high,
                low,
                last.close(),
                volume,
            )
            .ok()
        })
        .collect()
}

#[cfg(test)]
mod tests;
