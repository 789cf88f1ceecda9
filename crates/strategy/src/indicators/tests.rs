//! Unit tests of the crate-private building blocks: fixed-point arithmetic, the reciprocal
//! divisor, and the ring buffers.

use std::cmp::Ordering;

use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::{
    fixed::{self, Divisor, ONE},
    ring::{Extreme, MonotonicWindow, Ring},
};

#[test]
fn div_round_rounds_half_away_from_zero_in_both_widths() {
    for (n, d, want) in [
        (5, 2, 3),
        (-5, 2, -3),
        (4, 3, 1),
        (-4, 3, -1),
        (7, 7, 1),
        (0, 3, 0),
    ] {
        assert_eq!(fixed::div_round(n, d), want, "{n}/{d}");
        let wide = n * (1i128 << 80);
        let wide_want = fixed::div_round(wide, d * (1i128 << 80));
        assert_eq!(wide_want, want, "wide {n}/{d}");
    }
    assert_eq!(
        fixed::div_round(10, 0),
        0,
        "a zero divisor yields 0, not a panic"
    );
}

#[test]
fn to_fixed_is_exact_for_prices_and_rounds_finer_digits() {
    assert_eq!(
        fixed::to_fixed(dec!(63404.6), 12),
        Some(63_404_600_000_000_000)
    );
    assert_eq!(
        fixed::to_fixed(dec!(1.500000000000000000), 12),
        Some(1_500_000_000_000)
    );
    assert_eq!(fixed::to_fixed(dec!(0.123456785), 8), Some(12_345_679));
    assert_eq!(fixed::to_fixed(dec!(-0.123456785), 8), Some(-12_345_679));
    assert_eq!(fixed::to_decimal(1_500_000_000_000, 12), Some(dec!(1.5)));
    assert_eq!(fixed::to_decimal(i128::MAX, 12), None);
}

#[test]
fn mul_fraction_and_cmp_scaled_agree_and_never_overflow() {
    let half = ONE / 2;
    assert_eq!(fixed::mul_fraction(10 * ONE, half), 5 * ONE);
    assert_eq!(fixed::mul_fraction(i128::MAX, 2 * ONE), i128::MAX);
    assert_eq!(fixed::mul_fraction(i128::MIN, 2 * ONE), i128::MIN);
    assert_eq!(fixed::cmp_scaled(5 * ONE, 10 * ONE, half), Ordering::Equal);
    assert_eq!(
        fixed::cmp_scaled(i128::MAX, i128::MAX, ONE),
        Ordering::Equal
    );
    assert_eq!(fixed::mul_fraction_floor_u64(7, ONE as u64), Some(7));
    assert_eq!(fixed::mul_fraction_floor_u64(u64::MAX, 1), None);
}

#[test]
fn divisor_matches_hardware_division_at_the_edges() {
    for d in (1..=70u64).chain([99, 1_000, 4_097, 10_001, u64::MAX / 3, u64::MAX]) {
        let divisor = Divisor::new(d);
        for n in [
            0,
            1,
            d - 1,
            d,
            d.saturating_add(1),
            2 * d.min(u64::MAX / 2),
            u64::MAX - 1,
            u64::MAX,
        ] {
            assert_eq!(divisor.div_floor(n), n / d, "{n} / {d}");
        }
    }
}

proptest! {
    #[test]
    fn divisor_matches_hardware_division(d in 1u64..=20_002, n in any::<u64>()) {
        prop_assert_eq!(Divisor::new(d).div_floor(n), n / d);
    }

    #[test]
    fn divisor_rounds_like_div_round(d in 1u64..=20_002, n in any::<i128>()) {
        prop_assert_eq!(Divisor::new(d).div_round(n), fixed::div_round(n, i128::from(d)));
    }

    #[test]
    fn mul_fraction_floor_is_exact(a in 0u64..=(i64::MAX as u64), t in 0u64..=(ONE as u64)) {
        let exact = u128::from(a) * u128::from(t) / (ONE as u128);
        prop_assert_eq!(fixed::mul_fraction_floor_u64(a, t).map(u128::from), Some(exact));
    }

    #[test]
    fn monotonic_window_tracks_the_window_extreme(
        values in prop::collection::vec(-1_000i128..1_000, 1..200),
        window in 1usize..20,
    ) {
        let mut max = MonotonicWindow::new(window, Extreme::Max);
        let mut min = MonotonicWindow::new(window, Extreme::Min);
        for (i, value) in values.iter().enumerate() {
            max.push(*value);
            min.push(*value);
            let slice = &values[(i + 1).saturating_sub(window)..=i];
            prop_assert_eq!(max.value(), slice.iter().max().copied());
            prop_assert_eq!(min.value(), slice.iter().min().copied());
        }
    }

    #[test]
    fn ring_keeps_the_last_values_in_order(
        values in prop::collection::vec(any::<i64>(), 0..50),
        capacity in 1usize..10,
    ) {
        let mut ring = Ring::new(capacity, 0i64);
        for (i, value) in values.iter().enumerate() {
            let evicted = ring.push(*value);
            let want_evicted = (i >= capacity).then(|| values[i - capacity]);
            prop_assert_eq!(evicted, want_evicted);
            let kept: Vec<i64> = ring.iter().collect();
            prop_assert_eq!(&kept[..], &values[(i + 1).saturating_sub(capacity)..=i]);
            prop_assert_eq!(ring.last(), Some(*value));
        }
    }
}

#[test]
fn decimal_round_trip_keeps_the_value() {
    let value = Decimal::new(123_456_789, 4);
    let fixed_value = fixed::to_fixed(value, 12).unwrap();
    assert_eq!(fixed::to_decimal(fixed_value, 12), Some(value));
}
