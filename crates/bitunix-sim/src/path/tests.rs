//! Unit tests for the intrabar path: waypoints, cumulative extremes, volume, and exact final
//! values.

use la_core::{Candle, Decimal, Interval, Price, TimestampMs, Volume};

use super::*;

fn candle(o: i64, h: i64, l: i64, c: i64, v: i64) -> Candle {
    let p = |x: i64| Price::new(Decimal::new(x, 1)).unwrap();
    Candle::new(
        Interval::M1,
        TimestampMs::new(1_704_067_200_000).unwrap(),
        p(o),
        p(h),
        p(l),
        p(c),
        Volume::new(Decimal::new(v, 4)).unwrap(),
    )
    .unwrap()
}

#[test]
fn last_push_offset_is_the_last_multiple_inside_the_bucket() {
    assert_eq!(last_push_offset(60_000, 500), 59_500);
    assert_eq!(last_push_offset(60_000, 700), 59_500);
    assert_eq!(last_push_offset(60_000, 60_000), 0);
    assert_eq!(last_push_offset(60_000, 90_000), 0);
}

#[test]
fn final_push_equals_the_candle_exactly() {
    let c = candle(600_000, 601_000, 599_000, 600_500, 123_456);
    let f = forming_at(&c, 59_500, 59_500);
    assert_eq!(f.open, c.open().get());
    assert_eq!(f.high, c.high().get());
    assert_eq!(f.low, c.low().get());
    assert_eq!(f.close, c.close().get());
    assert_eq!(f.base_volume, c.volume().get());
}

#[test]
fn path_visits_the_nearer_extreme_first_then_the_farther() {
    // Open 60000.0 is nearer the low (59990.0) than the high (60100.0).
    let c = candle(600_000, 601_000, 599_900, 600_500, 10_000);
    let [w0, w1, w2, w3] = waypoint_offsets(59_500);
    assert_eq!(forming_at(&c, w0, 59_500).close, c.open().get());
    let at1 = forming_at(&c, w1, 59_500);
    assert_eq!(at1.close, c.low().get());
    assert_eq!(at1.low, c.low().get());
    assert_eq!(at1.high, c.open().get());
    let at2 = forming_at(&c, w2, 59_500);
    assert_eq!(at2.close, c.high().get());
    assert_eq!(at2.high, c.high().get());
    assert_eq!(forming_at(&c, w3, 59_500).close, c.close().get());
}

#[test]
fn cumulative_values_never_shrink_and_stay_inside_the_candle() {
    let c = candle(600_000, 601_234, 598_765, 599_999, 987_654);
    let mut prev = forming_at(&c, 0, 59_500);
    for offset in (0..=59_500).step_by(250) {
        let f = forming_at(&c, offset, 59_500);
        assert!(f.high >= prev.high && f.low <= prev.low, "offset {offset}");
        assert!(f.base_volume >= prev.base_volume, "offset {offset}");
        assert!(f.quote_turnover >= prev.quote_turnover, "offset {offset}");
        assert!(f.close <= f.high && f.close >= f.low, "offset {offset}");
        assert!(
            f.high <= c.high().get() && f.low >= c.low().get(),
            "offset {offset}"
        );
        assert!(f.base_volume <= c.volume().get());
        assert!(f.close.normalize().scale() <= 1, "{}", f.close);
        prev = f;
    }
}

#[test]
fn quote_turnover_is_volume_times_typical_price() {
    let c = candle(100, 120, 80, 100, 20_000); // o 10, h 12, l 8, c 10, v 2
    assert_eq!(quote_turnover(&c, Decimal::new(2, 0)), Decimal::new(20, 0));
}
