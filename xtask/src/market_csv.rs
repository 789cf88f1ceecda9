//! A seeded random-walk candle series written as the simulator's CSV
//! (`ts_ms,open,high,low,close,volume`), so that every crash round can continue the market
//! where the killed round left it instead of replaying the same hours again.
//!
//! A restarted session against the real exchange sees time move on; the simulator, started
//! afresh, would rewind to its first candle. Serving each round a slice of one long series
//! that starts after the previous round's last candle keeps exchange time monotonic across
//! restarts. Prices are integers of 0.1 USDT (the BTCUSDT tick), so no floating point is
//! involved.

use std::path::Path;

use anyhow::Result;

use crate::reliability::{Lcg, write_file};

/// 2024-01-01T00:00:00Z, the first candle's open time.
pub(crate) const FIRST_OPEN_MS: i64 = 1_704_067_200_000;
/// One minute.
pub(crate) const MINUTE_MS: i64 = 60_000;

/// One candle in tenths of a USDT (prices) and thousandths of a BTC (volume).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bar {
    pub(crate) open_ms: i64,
    pub(crate) open: i64,
    pub(crate) high: i64,
    pub(crate) low: i64,
    pub(crate) close: i64,
    pub(crate) volume_milli: i64,
}

/// `n` one-minute bars from 60 000 USDT, deterministic per `seed`. Moves are a few tens of
/// USDT a minute with occasional trends, so moving-average strategies trade often.
pub(crate) fn series(seed: u64, n: usize) -> Vec<Bar> {
    let mut rng = Lcg::new(seed);
    let mut bars = Vec::with_capacity(n);
    let mut price: i64 = 600_000;
    let mut drift: i64 = 0;
    for i in 0..n {
        if rng.below(40) == 0 {
            drift = i64::try_from(rng.below(61)).unwrap_or(0) - 30;
        }
        let step = i64::try_from(rng.below(401)).unwrap_or(0) - 200 + drift;
        let open = price;
        let close = (open + step).max(10_000);
        let high = open.max(close) + i64::try_from(rng.below(120)).unwrap_or(0);
        let low = (open.min(close) - i64::try_from(rng.below(120)).unwrap_or(0)).max(1);
        bars.push(Bar {
            open_ms: FIRST_OPEN_MS + i64::try_from(i).unwrap_or(0) * MINUTE_MS,
            open,
            high,
            low,
            close,
            volume_milli: 1 + i64::try_from(rng.below(50_000)).unwrap_or(0),
        });
        price = close;
    }
    bars
}

fn tenths(value: i64) -> String {
    format!("{}.{}", value / 10, value % 10)
}

/// Writes `bars` as the simulator's CSV.
pub(crate) fn write_csv(path: &Path, bars: &[Bar]) -> Result<()> {
    let mut out = String::with_capacity(bars.len() * 60 + 40);
    out.push_str("ts_ms,open,high,low,close,volume\n");
    for b in bars {
        out.push_str(&format!(
            "{},{},{},{},{},{}.{:03}\n",
            b.open_ms,
            tenths(b.open),
            tenths(b.high),
            tenths(b.low),
            tenths(b.close),
            b.volume_milli / 1000,
            b.volume_milli % 1000
        ));
    }
    write_file(path, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_series_is_deterministic_contiguous_and_consistent() {
        let bars = series(7, 2_000);
        assert_eq!(bars, series(7, 2_000));
        assert_ne!(bars, series(8, 2_000));
        for pair in bars.windows(2) {
            assert_eq!(pair[1].open_ms - pair[0].open_ms, MINUTE_MS);
            assert_eq!(pair[1].open, pair[0].close);
        }
        for b in &bars {
            assert!(
                b.low <= b.open.min(b.close) && b.high >= b.open.max(b.close),
                "{b:?}"
            );
            assert!(b.low > 0 && b.volume_milli > 0);
        }
    }

    #[test]
    fn the_csv_has_the_simulator_header_and_tick_prices() {
        let path = std::env::temp_dir().join(format!("xtask-bars-{}.csv", std::process::id()));
        write_csv(&path, &series(1, 3)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "ts_ms,open,high,low,close,volume");
        assert!(
            lines[1].starts_with("1704067200000,60000.0,"),
            "{}",
            lines[1]
        );
        assert_eq!(lines.len(), 4);
        std::fs::remove_file(&path).unwrap();
    }
}
