//! `backtest --source bitunix --days N`: downloads candles over the public REST API (paged
//! backwards, ≤ 200 rows a request, through the client's rate limiter) and caches them under
//! the workspace as a candle CSV, so a repeated backtest does not download again.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    sync::Arc,
};

use la_core::{Clock, Interval, Symbol};
use la_feed_bitunix::{FeedConfig, RestClient};

use la_feed_bitunix::SystemClock;

use crate::error::SessionError;

/// Where the candles of one download are cached.
pub fn cache_path(
    workspace: &Path,
    symbol: Symbol,
    interval: Interval,
    days: u32,
    end_ms: i64,
) -> PathBuf {
    let day_ms = 86_400_000;
    let end_day = end_ms.div_euclid(day_ms);
    workspace.join("data").join(format!(
        "bitunix_{}_{}_{}d_until_day{}.csv",
        symbol.as_str(),
        interval.as_str(),
        days,
        end_day
    ))
}

/// Downloads the last `days` days of closed candles from `rest_url` (cached per UTC day).
///
/// # Errors
/// The download failed (typed feed error) or the cache could not be written.
pub async fn download_candles(
    rest_url: &str,
    symbol: Symbol,
    interval: Interval,
    days: u32,
    workspace: &Path,
) -> Result<PathBuf, SessionError> {
    let mut config = FeedConfig::new(symbol, interval);
    config.rest_url = rest_url.to_owned();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let path = cache_path(workspace, symbol, interval, days, now.as_ms());
    if path.is_file() {
        tracing::info!(symbol = %symbol, path = %path.display(), "using cached candles");
        return Ok(path);
    }
    let rest = RestClient::with_clock(&config, clock)?;
    let per_day = 86_400_000 / interval.as_ms();
    let wanted = usize::try_from(i64::from(days) * per_day).unwrap_or(usize::MAX);
    let candles = rest.klines_back(symbol, interval, wanted, now).await?;
    if candles.is_empty() {
        return Err(SessionError::Data {
            path: path.clone(),
            message: format!("{} returned no candles", la_core::redact_url(rest_url)),
        });
    }
    let mut text = String::from("ts_ms,open,high,low,close,volume\n");
    for candle in &candles {
        let _ = writeln!(
            text,
            "{},{},{},{},{},{}",
            candle.open_time().as_ms(),
            candle.open(),
            candle.high(),
            candle.low(),
            candle.close(),
            candle.volume()
        );
    }
    if let Some(dir) = path.parent() {
        la_private_fs::create_private_dir_all(dir)
            .map_err(|e| SessionError::io("cannot create", dir, e))?;
    }
    la_broker_paper::persist::save_bytes_atomic(&path, text.as_bytes())?;
    tracing::info!(symbol = %symbol, candles = candles.len(), path = %path.display(), "downloaded candles");
    Ok(path)
}

/// Downloads the funding rates that settled over the span of the downloaded candle file
/// `candles` (`get_funding_rate_history`) into a `ts_ms,rate` file next to it (`…_funding.csv`,
/// cached with it), for the backtest to read as its funding file.
///
/// # Errors
/// The candle file is unreadable, the download failed (typed feed error) or the cache could
/// not be written.
pub async fn download_funding_history(
    rest_url: &str,
    symbol: Symbol,
    interval: Interval,
    candles: &Path,
) -> Result<PathBuf, SessionError> {
    let name = candles
        .file_name()
        .map(|n| n.to_string_lossy().replace(".csv", "_funding.csv"))
        .unwrap_or_default();
    let path = candles.with_file_name(name);
    if path.is_file() {
        tracing::info!(symbol = %symbol, path = %path.display(), "using cached funding rates");
        return Ok(path);
    }
    let bars = crate::candle_file::load_candles(candles, interval)?.candles;
    let (Some(first), Some(last)) = (bars.first(), bars.last()) else {
        return Err(SessionError::Data {
            path: candles.to_path_buf(),
            message: "no candles to download funding rates for".to_owned(),
        });
    };
    let mut config = FeedConfig::new(symbol, interval);
    config.rest_url = rest_url.to_owned();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let rest = RestClient::with_clock(&config, clock)?;
    let settled = rest
        .funding_rate_history(symbol, first.open_time(), last.close_time())
        .await?;
    let mut text = String::from("ts_ms,rate\n");
    for row in &settled {
        let _ = writeln!(text, "{},{}", row.funding_time.as_ms(), row.rate);
    }
    la_broker_paper::persist::save_bytes_atomic(&path, text.as_bytes())?;
    tracing::info!(symbol = %symbol, rates = settled.len(), path = %path.display(), "downloaded the funding-rate history");
    Ok(path)
}
