//! Indicator values against hand-computed tables (the definitions in
//! `la_strategy::indicators`).

use la_core::Decimal;
use la_strategy::indicators::{
    Atr, Cvd, CvdDivergence, Divergence, Ema, EqualLevels, Sma, SweepDetector, SweepSide,
    SwingHighLow, Vwap,
};

use crate::support::{candle, dec, flat};

fn some(text: &str) -> Option<Decimal> {
    Some(dec(text))
}

#[test]
fn ema_is_seeded_by_the_sma_of_the_first_n_closes() {
    let mut ema = Ema::new(3).unwrap();
    let expected = [None, None, some("2"), some("3"), some("4"), some("5")];
    for (i, want) in expected.iter().enumerate() {
        ema.update(&flat(i as i64, &(i + 1).to_string()));
        assert_eq!(ema.value(), *want, "after close {}", i + 1);
    }
}

#[test]
fn ema_applies_two_over_n_plus_one() {
    // EMA(4): seed (10+11+12+13)/4 = 11.5; then 11.5 + (20 − 11.5) × 0.4 = 14.9;
    // then 14.9 + (9 − 14.9) × 0.4 = 12.54.
    let mut ema = Ema::new(4).unwrap();
    for (i, close) in ["10", "11", "12", "13"].iter().enumerate() {
        ema.update(&flat(i as i64, close));
    }
    assert_eq!(ema.value(), some("11.5"));
    ema.update(&flat(4, "20"));
    assert_eq!(ema.value(), some("14.9"));
    ema.update(&flat(5, "9"));
    assert_eq!(ema.value(), some("12.54"));
}

#[test]
fn ema_rounds_each_step_at_twelve_decimals() {
    // EMA(2): alpha 2/3. Seed (1+2)/2 = 1.5; 1.5 + (2 − 1.5) × 2/3 = 1.833333333333.
    let mut ema = Ema::new(2).unwrap();
    for (i, close) in ["1", "2", "2"].iter().enumerate() {
        ema.update(&flat(i as i64, close));
    }
    assert_eq!(ema.value(), some("1.833333333333"));
}

#[test]
fn sma_is_the_plain_mean_of_the_window() {
    let mut sma = Sma::new(3).unwrap();
    let expected = [None, None, some("2"), some("3"), some("5")];
    for (i, (close, want)) in ["1", "2", "3", "4", "8"].iter().zip(expected).enumerate() {
        sma.update(&flat(i as i64, close));
        assert_eq!(sma.value(), want);
    }
}

#[test]
fn atr_is_the_simple_mean_of_true_ranges_and_needs_period_plus_one_candles() {
    let mut atr = Atr::new(3).unwrap();
    // TRs: c2 max(2, 2, 0) = 2; c3 gap up max(2, 4, 2) = 4; c4 max(6, 0, 6) = 6;
    // c5 max(0.5, 1, 0.5) = 1.
    let candles = [
        candle(0, "9", "10", "8", "9", "1"),
        candle(1, "10", "11", "9", "10", "1"),
        candle(2, "13", "14", "12", "13", "1"),
        candle(3, "13", "13", "7", "8", "1"),
        candle(4, "9", "9", "8.5", "9", "1"),
    ];
    let expected = [None, None, None, some("4"), some("3.666666666667")];
    for (c, want) in candles.iter().zip(expected) {
        atr.update(c);
        assert_eq!(atr.value(), want, "at {:?}", c.open_time());
    }
}

#[test]
fn atr14_needs_fifteen_candles() {
    let mut atr = Atr::new(14).unwrap();
    for i in 0..14 {
        atr.update(&candle(i, "100", "101", "99", "100", "1"));
        assert_eq!(atr.value(), None, "after {} candles", i + 1);
    }
    atr.update(&candle(14, "100", "101", "99", "100", "1"));
    assert_eq!(atr.value(), some("2"));
}

#[test]
fn vwap_weights_typical_price_by_volume_over_a_rolling_window() {
    let mut vwap = Vwap::new(2).unwrap();
    assert_eq!(vwap.value(), None);
    // TP = (12 + 9 + 9) / 3 = 10.
    vwap.update(&candle(0, "10", "12", "9", "9", "2"));
    assert_eq!(vwap.value(), some("10"));
    // TP 20 × 3: (20 + 60) / 5 = 16.
    vwap.update(&candle(1, "20", "22", "18", "20", "3"));
    assert_eq!(vwap.value(), some("16"));
    // Window (c1, c2): c2 has no volume: 60 / 3 = 20.
    vwap.update(&candle(2, "30", "31", "29", "30", "0"));
    assert_eq!(vwap.value(), some("20"));
}

#[test]
fn vwap_falls_back_to_the_close_at_zero_volume() {
    let mut vwap = Vwap::new(2).unwrap();
    vwap.update(&candle(0, "30", "31", "29", "30", "0"));
    assert_eq!(vwap.value(), some("30"));
    vwap.update(&candle(1, "30", "33", "29", "32.5", "0"));
    assert_eq!(vwap.value(), some("32.5"));
}

#[test]
fn cvd_accumulates_close_location_times_volume_and_ignores_flat_candles() {
    let mut cvd = Cvd::new();
    assert_eq!(cvd.value(), None);
    // ((10 − 8) − (10 − 10)) / 2 × 5 = 5.
    cvd.update(&candle(0, "9", "10", "8", "10", "5"));
    assert_eq!(cvd.value(), some("5"));
    // H == L: adds 0.
    cvd.update(&candle(1, "9", "9", "9", "9", "7"));
    assert_eq!(cvd.value(), some("5"));
    // ((7 − 6) − (10 − 7)) / 4 × 4 = −2.
    cvd.update(&candle(2, "8", "10", "6", "7", "4"));
    assert_eq!(cvd.value(), some("3"));
    // ((2 − 0.5) − (3.5 − 2)) / 3 × 1 = 0; then (2 − 1) / 3 × 1 = 0.33333333 (8 decimals).
    cvd.update(&candle(3, "2", "3.5", "0.5", "2", "1"));
    assert_eq!(cvd.value(), some("3"));
    cvd.update(&candle(4, "1", "3", "0.0001", "2", "1"));
    let delta = (dec("1.9999") - dec("1")) / dec("2.9999");
    assert_eq!(cvd.value(), Some(dec("3") + delta.round_dp(8)));
}

#[test]
fn sweep_of_the_high_needs_a_close_back_below_the_previous_max() {
    let mut sweep = SweepDetector::new(3).unwrap();
    for (i, (h, l)) in [("10", "9"), ("11", "9.5"), ("10.5", "9.2")]
        .iter()
        .enumerate()
    {
        sweep.update(&candle(i as i64, l, h, l, l, "1"));
        assert_eq!(sweep.sweep(), None, "needs 3 previous candles");
    }
    let mut reclaimed = sweep.clone();
    reclaimed.update(&candle(3, "10.5", "11.5", "10.2", "10.8", "1"));
    let hit = reclaimed.sweep().unwrap();
    assert_eq!(hit.side, SweepSide::High);
    assert_eq!(hit.level, dec("11"));
    assert_eq!(reclaimed.value(), some("11"));

    let mut broke_out = sweep.clone();
    broke_out.update(&candle(3, "10.5", "11.5", "10.2", "11.2", "1"));
    assert_eq!(
        broke_out.sweep(),
        None,
        "a close above the level is a breakout"
    );
}

#[test]
fn sweep_of_the_low_needs_a_close_back_above_the_previous_min() {
    let mut sweep = SweepDetector::new(3).unwrap();
    for (i, (h, l)) in [("10", "9"), ("11", "9.5"), ("10.5", "9.2")]
        .iter()
        .enumerate()
    {
        sweep.update(&candle(i as i64, l, h, l, l, "1"));
    }
    let mut reclaimed = sweep.clone();
    reclaimed.update(&candle(3, "9.5", "9.6", "8.8", "9.1", "1"));
    let hit = reclaimed.sweep().unwrap();
    assert_eq!((hit.side, hit.level), (SweepSide::Low, dec("9")));

    let mut broke_down = sweep.clone();
    broke_down.update(&candle(3, "9.5", "9.6", "8.8", "8.9", "1"));
    assert_eq!(broke_down.sweep(), None);

    // An outside bar reclaiming both levels counts as a HIGH sweep, as in the reference.
    let mut outside = sweep;
    outside.update(&candle(3, "10", "11.5", "8.8", "10", "1"));
    assert_eq!(outside.sweep().unwrap().side, SweepSide::High);
}

#[test]
fn sweep_level_rolls_with_the_lookback() {
    let mut sweep = SweepDetector::new(2).unwrap();
    sweep.update(&candle(0, "20", "20", "19", "19", "1")); // old high 20 drops out
    sweep.update(&candle(1, "12", "12", "11", "11", "1"));
    sweep.update(&candle(2, "11", "11", "10", "10", "1"));
    sweep.update(&candle(3, "11", "13", "10.5", "11.5", "1"));
    assert_eq!(
        sweep.sweep().map(|s| (s.side, s.level)),
        Some((SweepSide::High, dec("12")))
    );
}

#[test]
fn swing_high_low_tracks_the_last_n_candles() {
    let mut swing = SwingHighLow::new(3).unwrap();
    assert_eq!(swing.value(), None);
    let bars = [
        ("10", "5"),
        ("12", "6"),
        ("11", "7"),
        ("9", "8"),
        ("9.5", "8.5"),
    ];
    let expected = [
        ("10", "5"),
        ("12", "5"),
        ("12", "5"),
        ("12", "6"),
        ("11", "7"),
    ];
    for (i, ((h, l), (want_h, want_l))) in bars.iter().zip(expected).enumerate() {
        swing.update(&candle(i as i64, l, h, l, l, "1"));
        let levels = swing.value().unwrap();
        assert_eq!(
            (levels.high, levels.low),
            (dec(want_h), dec(want_l)),
            "candle {i}"
        );
    }
}

#[test]
fn equal_levels_average_the_last_value_with_earlier_values_within_tolerance() {
    let mut levels = EqualLevels::new(12, 6, dec("0.001")).unwrap();
    let highs = ["100", "105", "100.05", "103", "104", "100.08"];
    let lows = ["90", "80", "70", "60", "50", "40"];
    for (i, (h, l)) in highs.iter().zip(lows).enumerate() {
        assert_eq!(levels.value(), None, "needs 6 values");
        levels.update(&candle(i as i64, l, h, l, l, "1"));
    }
    // tol = 100.08 × 0.001 = 0.10008: 100 and 100.05 match, 103/104/105 do not.
    let value = levels.value().unwrap();
    assert_eq!(value.high, some("100.043333333333"));
    assert_eq!(value.low, None, "no earlier low within tolerance");
}

#[test]
fn equal_levels_only_look_at_the_window() {
    let mut levels = EqualLevels::new(6, 6, dec("0.001")).unwrap();
    let highs = ["100", "110", "120", "130", "140", "150", "160", "100"];
    for (i, h) in highs.iter().enumerate() {
        levels.update(&candle(i as i64, "50", h, "50", "50", "1"));
    }
    assert_eq!(
        levels.value().unwrap().high,
        None,
        "the first 100 left the window"
    );
    assert_eq!(levels.value().unwrap().low, some("50"));
}

#[test]
fn cvd_divergence_flags_a_lower_low_with_higher_cvd_and_the_mirror() {
    let mut bullish = CvdDivergence::new(5).unwrap();
    // Four candles closing at the low (CVD falls), then a lower low closing at the high.
    for i in 0..4 {
        let low = format!("{}", 100 - i);
        let high = format!("{}", 102 - i);
        bullish.update(&candle(i, &high, &high, &low, &low, "1"));
        assert_eq!(bullish.value(), None);
    }
    bullish.update(&candle(4, "96", "99", "95", "99", "3"));
    assert_eq!(bullish.value(), Some(Divergence::Bullish));

    let mut bearish = CvdDivergence::new(5).unwrap();
    for i in 0..4 {
        let low = format!("{}", 100 + i);
        let high = format!("{}", 102 + i);
        bearish.update(&candle(i, &low, &high, &low, &high, "1"));
    }
    bearish.update(&candle(4, "106", "107", "104", "104", "3"));
    assert_eq!(bearish.value(), Some(Divergence::Bearish));

    let mut none = CvdDivergence::new(5).unwrap();
    for i in 0..5 {
        none.update(&candle(i, "100", "101", "99", "100", "1"));
    }
    assert_eq!(none.value(), Some(Divergence::None));
}

#[test]
fn cvd_divergence_waits_for_its_lookback() {
    let mut divergence = CvdDivergence::new(20).unwrap();
    for i in 0..19 {
        divergence.update(&candle(i, "100", "101", "99", "100", "1"));
        assert_eq!(divergence.value(), None);
    }
    divergence.update(&candle(19, "100", "101", "99", "100", "1"));
    assert_eq!(divergence.value(), Some(Divergence::None));
}

#[test]
fn indicators_reject_zero_and_huge_periods() {
    assert!(Ema::new(0).is_err());
    assert!(Sma::new(0).is_err());
    assert!(Atr::new(10_001).is_err());
    assert!(Vwap::new(0).is_err());
    assert!(SweepDetector::new(0).is_err());
    assert!(EqualLevels::new(12, 13, dec("0.001")).is_err());
    assert!(EqualLevels::new(12, 6, dec("-0.001")).is_err());
    let message = Ema::new(0).unwrap_err().to_string();
    assert!(
        message.contains("ema period") && message.contains("between 1 and"),
        "{message}"
    );
}
