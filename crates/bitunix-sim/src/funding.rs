//! The simulator's funding-rate series: one seeded, deterministic rate per 8-hour period,
//! different from its neighbours, that every funding surface reads.
//!
//! On the live evidence the exchange shows three views of one series, and the simulator
//! keeps them consistent by computing all three from [`FundingSeries::settling_at`]:
//! - the `price` channel's `fr` is the rate that **settled** at the last funding time
//!   (`ft`), with `nft` the next one;
//! - REST `funding_rate` gives the **upcoming** rate, the one that will settle at
//!   `nextFundingTime`;
//! - REST `get_funding_rate_history` lists settled rates by `fundingTime`, as fractions.
//!
//! Rates are `base × (2j − 5) / 4` for a seeded `j` in `0..12` whose parity alternates with
//! the period, so two consecutive periods never share a rate (unless the base is zero, which
//! turns funding off), some are negative, and none is zero: a test can tell which period's
//! rate an account was charged and with which sign.

use la_core::Decimal;

/// Funding settles every 8 hours at 00:00, 08:00 and 16:00 UTC.
pub(crate) const FUNDING_PERIOD_MS: i64 = 8 * 3_600_000;

/// The last funding time at or before `t`, and the next one.
pub(crate) fn funding_times(t: i64) -> (i64, i64) {
    let last = t - t.rem_euclid(FUNDING_PERIOD_MS);
    (last, last + FUNDING_PERIOD_MS)
}

/// The seeded series of settled funding rates, in percent (the wire unit of `fr` and REST
/// `funding_rate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FundingSeries {
    base_percent: Decimal,
    seed: u64,
}

impl FundingSeries {
    /// A series scaled by `base_percent` (0.01 = 0.01 % per period) and drawn from `seed`.
    pub(crate) fn new(base_percent: Decimal, seed: u64) -> Self {
        Self { base_percent, seed }
    }

    /// The rate, in percent, that settles at the funding time at or before `t`.
    pub(crate) fn settling_at(&self, t: i64) -> Decimal {
        let (funding_time, _) = funding_times(t);
        let period = funding_time.div_euclid(FUNDING_PERIOD_MS);
        // `period` may be negative in principle; its bits are just hash input.
        let draw = splitmix64(self.seed ^ period as u64) % 6;
        let parity = u64::from(period.rem_euclid(2) == 1);
        let j = i64::try_from(2 * draw + parity).unwrap_or(0);
        self.base_percent * Decimal::from(2 * j - 5) / Decimal::from(4)
    }

    /// What the `price` channel shows at `t`: the rate settled at the last funding time.
    pub(crate) fn last_settled(&self, t: i64) -> Decimal {
        self.settling_at(t)
    }

    /// What REST `funding_rate` shows at `t`: the rate that will settle at the next
    /// funding time.
    pub(crate) fn upcoming(&self, t: i64) -> Decimal {
        let (_, next) = funding_times(t);
        self.settling_at(next)
    }
}

/// SplitMix64: a tiny, well-mixed hash, so neighbouring periods draw unrelated values.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_704_067_200_000;

    #[test]
    fn consecutive_periods_never_share_a_rate_and_no_rate_is_zero() {
        for seed in [0, 1, 7, 42, u64::MAX] {
            let series = FundingSeries::new(Decimal::new(1, 2), seed);
            let mut signs = [false, false];
            for k in 0..500 {
                let t = T0 + k * FUNDING_PERIOD_MS;
                let (now, next) = (
                    series.settling_at(t),
                    series.settling_at(t + FUNDING_PERIOD_MS),
                );
                assert_ne!(now, next, "seed {seed} period {k}");
                assert!(!now.is_zero());
                signs[usize::from(now > Decimal::ZERO)] = true;
            }
            assert_eq!(signs, [true, true], "seed {seed}: both signs occur");
        }
    }

    #[test]
    fn the_price_channel_shows_the_settled_rate_and_rest_the_upcoming_one() {
        let series = FundingSeries::new(Decimal::new(1, 2), 7);
        let inside = T0 + 3 * 3_600_000;
        assert_eq!(series.last_settled(inside), series.settling_at(T0));
        assert_eq!(
            series.upcoming(inside),
            series.settling_at(T0 + FUNDING_PERIOD_MS)
        );
        // At the funding time itself the new rate has settled.
        assert_eq!(
            series.last_settled(T0 + FUNDING_PERIOD_MS),
            series.upcoming(inside)
        );
        // The same seed gives the same series; another seed another one.
        let again = FundingSeries::new(Decimal::new(1, 2), 7);
        let other = FundingSeries::new(Decimal::new(1, 2), 8);
        let rates = |s: &FundingSeries| -> Vec<Decimal> {
            (0..20)
                .map(|k| s.settling_at(T0 + k * FUNDING_PERIOD_MS))
                .collect()
        };
        assert_eq!(rates(&series), rates(&again));
        assert_ne!(rates(&series), rates(&other));
    }

    #[test]
    fn a_zero_base_turns_funding_off() {
        let series = FundingSeries::new(Decimal::ZERO, 7);
        assert!(series.settling_at(T0).is_zero());
        assert!(series.upcoming(T0).is_zero());
    }
}
