//! Scripted markets for tests that need the account to do something known at a known time.
//!
//! [`stop_after_two_fundings`] is the downtime scenario: a flat warm-up, one rising candle
//! on which a fast simple-moving-average cross (e.g. `sma-cross` with periods 2 and 3)
//! enters long, a flat stretch across two funding times, one candle whose low goes far
//! through any sensible stop of that long, and a flat tail. A test suspends or kills the
//! client during the flat stretch and checks what the account books when it comes back.

use la_core::{Candle, Decimal, Interval, Price, TimestampMs, Volume};

use crate::funding::FUNDING_PERIOD_MS;

const MINUTE_MS: i64 = 60_000;

/// The downtime scenario's candles and the times that matter.
#[derive(Clone, Debug)]
pub struct StopAfterFundings {
    /// One-minute candles, contiguous, oldest first.
    pub candles: Vec<Candle>,
    /// Open time of the rising candle: a fast SMA cross enters long at its close.
    pub entry_candle: TimestampMs,
    /// The two funding times the long is held across.
    pub funding_times: [TimestampMs; 2],
    /// Open time of the candle whose low (55 000, about 8 % below the entry) crosses the
    /// long's stop; it is the first candle after the second funding time that does.
    pub crossing_candle: TimestampMs,
}

/// The scenario around `first_funding` (a funding time: 00, 08 or 16 UTC): 40 flat
/// candles at 60 000 from `first_funding − 45 min`, the rising candle (60 000 → 60 060)
/// at `first_funding − 5 min`, flat at 60 060 (range 60 050–60 070) until 30 minutes after
/// the second funding time, the crossing candle (low 55 000, close 58 000), then two flat
/// hours at 58 000.
///
/// # Errors
/// A message when `first_funding` is not a funding time or the times leave the sane range.
pub fn stop_after_two_fundings(first_funding: TimestampMs) -> Result<StopAfterFundings, String> {
    let t1 = first_funding.as_ms();
    if t1.rem_euclid(FUNDING_PERIOD_MS) != 0 {
        return Err(format!("{t1} is not a funding time (00, 08 or 16 UTC)"));
    }
    let entry = t1 - 5 * MINUTE_MS;
    let start = entry - 40 * MINUTE_MS;
    let t2 = t1 + FUNDING_PERIOD_MS;
    let crossing = t2 + 30 * MINUTE_MS;
    let end = crossing + 121 * MINUTE_MS;
    let mut candles = Vec::new();
    let mut open = start;
    while open < end {
        let (o, h, l, c) = if open < entry {
            (60_000, 60_010, 59_990, 60_000)
        } else if open == entry {
            (60_000, 60_070, 59_995, 60_060)
        } else if open < crossing {
            (60_060, 60_070, 60_050, 60_060)
        } else if open == crossing {
            (60_060, 60_065, 55_000, 58_000)
        } else {
            (58_000, 58_010, 57_990, 58_000)
        };
        candles.push(candle(open, o, h, l, c)?);
        open += MINUTE_MS;
    }
    let ts = |ms: i64| TimestampMs::new(ms).map_err(|e| e.to_string());
    Ok(StopAfterFundings {
        candles,
        entry_candle: ts(entry)?,
        funding_times: [first_funding, ts(t2)?],
        crossing_candle: ts(crossing)?,
    })
}

fn candle(open_ms: i64, o: i64, h: i64, l: i64, c: i64) -> Result<Candle, String> {
    let price = |v: i64| Price::new(Decimal::from(v)).map_err(|e| e.to_string());
    Candle::new(
        Interval::M1,
        TimestampMs::new(open_ms).map_err(|e| e.to_string())?,
        price(o)?,
        price(h)?,
        price(l)?,
        price(c)?,
        Volume::new(Decimal::from(3)).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scenario_is_contiguous_and_only_the_crossing_candle_goes_below_the_flat_range() {
        let first = TimestampMs::new(1_704_067_200_000 + FUNDING_PERIOD_MS).unwrap();
        let s = stop_after_two_fundings(first).unwrap();
        for pair in s.candles.windows(2) {
            assert_eq!(pair[1].open_time().ms_since(pair[0].open_time()), MINUTE_MS);
        }
        let below: Vec<_> = s
            .candles
            .iter()
            .filter(|c| c.open_time() > s.entry_candle && c.low().get() < Decimal::from(60_000))
            .map(Candle::open_time)
            .collect();
        assert_eq!(below.first(), Some(&s.crossing_candle));
        assert!(s.funding_times[1] < s.crossing_candle);
        assert!(s.entry_candle < s.funding_times[0]);
        assert!(stop_after_two_fundings(TimestampMs::new(1_704_067_200_001).unwrap()).is_err());
    }
}
