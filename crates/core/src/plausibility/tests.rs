//! The plausibility band and guard on hand-made sequences: 1000× and 1/1000 prints, elapsed
//! time, volatility, confirmation by prints and by a read, refutation.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use proptest::prelude::{Just, Strategy, prop_oneof};

use super::*;
use crate::{Interval, Symbol, Tick, Volume};

const T0: i64 = 1_704_067_200_000;

fn p(text: &str) -> Price {
    text.parse().expect("test price")
}

fn ts(ms: i64) -> TimestampMs {
    TimestampMs::new(ms).expect("test time")
}

fn bar(minute: i64, o: &str, h: &str, l: &str, c: &str) -> Candle {
    Candle::new(
        Interval::M1,
        ts(T0 + minute * 60_000),
        p(o),
        p(h),
        p(l),
        p(c),
        Volume::ZERO,
    )
    .expect("test candle")
}

/// A guard seeded with a flat market at 94 862.7 ending at minute 0.
fn seeded() -> PriceGuard {
    let mut guard = PriceGuard::new(PlausibilityConfig::default());
    let verdict = guard.check_candle(&bar(-1, "94862.7", "94862.7", "94862.7", "94862.7"));
    assert_eq!(
        verdict,
        PriceVerdict::Accepted,
        "the first price is accepted"
    );
    guard
}

fn tick(price: &str, at: i64) -> Tick {
    Tick::new(
        Symbol::new("BTCUSDT").expect("symbol"),
        ts(at),
        p(price),
        None,
        None,
    )
    .expect("test tick")
}

#[test]
fn the_band_is_symmetric_in_ratio_and_capped() {
    let band = PriceBand::new(dec!(0.5));
    assert!(band.contains(p("100"), p("150")));
    assert!(!band.contains(p("100"), p("150.1")));
    assert!(band.contains(p("100"), p("66.7")));
    assert!(!band.contains(p("100"), p("66.6")));
    let config = PlausibilityConfig::default();
    // No time, no volatility: the floor. A week later: the ceiling, never more.
    assert_eq!(config.band_at(0, Decimal::ZERO).half_width(), dec!(0.05));
    assert_eq!(
        config.band_at(7 * 86_400_000, dec!(0.01)).half_width(),
        dec!(0.5)
    );
    // One minute at 1 % volatility: 5 % + (1 % + 6 × 1 %) × 1.
    assert_eq!(config.band_at(60_000, dec!(0.01)).half_width(), dec!(0.12));
}

#[test]
fn thousandfold_and_thousandth_ticks_are_quarantined_whatever_the_elapsed_time() {
    for elapsed in [0, 1_000, 3_600_000, 30 * 86_400_000] {
        for bad in ["94.9", "94862700"] {
            let mut guard = seeded();
            let verdict = guard.check_tick(&tick(bad, T0 + elapsed));
            assert!(
                matches!(verdict, PriceVerdict::Quarantined { price, started: true, .. } if price == p(bad)),
                "{bad} after {elapsed} ms: {verdict:?}"
            );
            assert_eq!(guard.reference().map(|(r, _)| r), Some(p("94862.7")));
            assert_eq!(guard.counters().implausible_prices(), 1);
        }
    }
}

#[test]
fn a_candle_closing_at_a_thousandth_after_a_real_open_is_quarantined() {
    // The adversarial kline: open 94 862.7, close 94.9.
    let mut guard = seeded();
    let verdict = guard.check_candle(&bar(0, "94862.7", "94870", "94.9", "94.9"));
    assert!(matches!(verdict, PriceVerdict::Quarantined { price, .. } if price == p("94.9")));
    assert_eq!(guard.counters().candles_quarantined, 1);
    // A wick at 1000× with a sane close is just as implausible.
    let verdict = guard.check_candle(&bar(1, "94862.7", "94862700", "94800", "94850"));
    assert!(!verdict.is_usable());
    assert_eq!(guard.counters().candles_quarantined, 2);
}

#[test]
fn a_lone_bad_print_is_refuted_by_the_next_good_one() {
    let mut guard = seeded();
    assert!(!guard.check_tick(&tick("94.9", T0 + 1_000)).is_usable());
    assert!(guard.in_quarantine());
    assert_eq!(
        guard.check_tick(&tick("94860", T0 + 2_000)),
        PriceVerdict::Accepted
    );
    assert!(!guard.in_quarantine());
    assert_eq!(guard.counters().refuted, 1);
    assert_eq!(guard.reference(), Some((p("94860"), ts(T0 + 2_000))));
}

#[test]
fn a_new_level_is_confirmed_by_enough_consistent_prints_over_enough_time() {
    let config = PlausibilityConfig::default();
    let mut guard = seeded();
    // A real crash of 40 % within a second (beyond the floor), then it stays there.
    let prints = [
        ("57000", 500),
        ("56990", 1_000),
        ("57010", 1_600),
        ("57005", 2_600),
    ];
    let mut verdicts = Vec::new();
    for (price, at) in prints {
        verdicts.push(guard.check_tick(&tick(price, T0 + at)));
    }
    // Three consistent prints, but spanning only 1.1 s: still quarantined; the fourth
    // (2.1 s after the first) confirms.
    assert!(verdicts[..3].iter().all(|v| !v.is_usable()), "{verdicts:?}");
    assert!(config.confirm_span_ms > 1_100);
    assert_eq!(
        verdicts[3],
        PriceVerdict::Confirmed {
            previous: p("94862.7")
        }
    );
    assert_eq!(guard.reference().map(|(r, _)| r), Some(p("57005")));
    assert_eq!(guard.counters().confirmed, 1);
    assert_eq!(guard.counters().ticks_quarantined, 3);
}

#[test]
fn a_read_of_the_last_price_confirms_or_refutes_the_quarantined_level() {
    let mut guard = seeded();
    assert!(!guard.check_tick(&tick("94.9", T0 + 1_000)).is_usable());
    assert_eq!(
        guard.on_reference_read(p("94850"), ts(T0 + 1_500)),
        ReadOutcome::Refuted
    );
    assert!(!guard.in_quarantine());
    let again = guard.check_tick(&tick("94.9", T0 + 2_000));
    assert!(
        matches!(again, PriceVerdict::Quarantined { reference, started: true, .. } if reference == p("94850")),
        "{again:?}"
    );
    assert_eq!(
        guard.on_reference_read(p("95"), ts(T0 + 2_500)),
        ReadOutcome::Confirmed
    );
    assert_eq!(guard.reference().map(|(r, _)| r), Some(p("95")));
    assert_eq!(
        guard.check_tick(&tick("94.8", T0 + 3_000)),
        PriceVerdict::Accepted
    );
    assert_eq!(
        guard.on_reference_read(p("94.8"), ts(T0 + 3_500)),
        ReadOutcome::NoQuarantine
    );
}

#[test]
fn elapsed_time_widens_the_band_so_a_gap_in_the_data_is_not_a_bad_print() {
    // 15 % away one second later is a bad print; after a 4-hour hole it is a market move.
    let mut guard = seeded();
    assert!(!guard.check_tick(&tick("80633", T0 + 1_000)).is_usable());
    let mut guard = seeded();
    assert!(
        guard
            .check_tick(&tick("80633", T0 + 4 * 3_600_000))
            .is_usable()
    );
}

#[test]
fn recent_volatility_widens_the_band() {
    // 20 s after ten quiet bars, an 8 % move is quarantined; after ten bars swinging 2 %
    // either way it is not.
    let run = |swing: &str| {
        let mut guard = seeded();
        let swing: Decimal = swing.parse().expect("swing");
        let base = dec!(94862.7);
        for minute in 0..10 {
            let high = Price::new(base * (Decimal::ONE + swing)).expect("high");
            let low = Price::new(base * (Decimal::ONE - swing)).expect("low");
            let candle = Candle::new(
                Interval::M1,
                ts(T0 + minute * 60_000),
                p("94862.7"),
                high,
                low,
                p("94862.7"),
                Volume::ZERO,
            )
            .expect("candle");
            assert!(guard.check_candle(&candle).is_usable());
        }
        guard.check_tick(&tick("87273.7", T0 + 10 * 60_000 + 20_000))
    };
    assert!(!run("0.0001").is_usable());
    assert!(run("0.02").is_usable());
}

#[test]
fn the_first_price_is_accepted_and_becomes_the_reference() {
    let mut guard = PriceGuard::new(PlausibilityConfig::default());
    assert_eq!(
        guard.check_tick(&tick("94862.7", T0)),
        PriceVerdict::Accepted
    );
    assert!(!guard.check_tick(&tick("94.9", T0 + 1)).is_usable());
}

#[test]
fn settings_out_of_range_are_refused() {
    let good = PlausibilityConfig::default();
    good.validate().expect("defaults are valid");
    for bad in [
        PlausibilityConfig {
            floor: Decimal::ZERO,
            ..good
        },
        PlausibilityConfig {
            ceiling: dec!(0.01),
            ..good
        },
        PlausibilityConfig {
            confirm_prints: 0,
            ..good
        },
        PlausibilityConfig {
            volatility_weight: dec!(1.5),
            ..good
        },
        PlausibilityConfig {
            confirm_span_ms: -1,
            ..good
        },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
}

#[test]
fn a_tick_with_a_sane_last_but_an_implausible_bid_is_quarantined() {
    let mut guard = seeded();
    let symbol = Symbol::new("BTCUSDT").expect("symbol");
    let bad_bid =
        Tick::new(symbol, ts(T0 + 1_000), p("94862.7"), Some(p("94.8")), None).expect("tick");
    assert!(!guard.check_tick(&bad_bid).is_usable());
    let good = Tick::new(
        symbol,
        ts(T0 + 2_000),
        p("94862.7"),
        Some(p("94862.6")),
        Some(p("94862.8")),
    )
    .expect("tick");
    assert!(guard.check_tick(&good).is_usable());
}

#[test]
fn the_read_only_check_judges_without_moving_the_reference() {
    let guard = seeded();
    assert!(guard.is_plausible(p("94000"), ts(T0 + 1_000)));
    assert!(!guard.is_plausible(p("94.9"), ts(T0 + 1_000)));
    assert_eq!(guard.reference().map(|(r, _)| r), Some(p("94862.7")));
    assert_eq!(guard.counters().implausible_prices(), 0);
    let fresh = PriceGuard::new(PlausibilityConfig::default());
    assert!(fresh.is_plausible(p("94.9"), ts(T0)), "no reference yet");
}

/// A valid price from a mantissa and a scale (0..=12), optionally written with `pad` extra
/// trailing zeros (a finer representation of the same value, as computed prices carry).
fn price_of(mantissa: i64, scale: u32, pad: u32) -> Option<Price> {
    let value = Decimal::new(mantissa, scale);
    let padded =
        Decimal::from_i128_with_scale(value.mantissa() * 10i128.pow(pad), value.scale() + pad);
    Price::new(padded).ok()
}

/// The floor band's answer as the `Decimal` code gives it: inside the band around the span's
/// low, around its high, or between them.
fn decimal_answer(band: PriceBand, low: Price, high: Price, price: Price) -> bool {
    band.contains(low, price) || band.contains(high, price) || (low <= price && price <= high)
}

proptest::proptest! {
    #[test]
    fn the_fixed_point_floor_window_accepts_exactly_what_the_decimal_band_accepts(
        width_thousandths in 1i64..=2_000,
        low_mantissa in 1i64..=999_999_999,
        spread in 0i64..=50_000_000,
        // A high of up to twelve decimals makes `H × n / d` fractional (the upper bound's
        // rounding then matters); a low's `L × d / n` is fractional for most widths.
        scales in (0u32..=8, 0u32..=12, 0u32..=12),
        pads in (0u32..=14, 0u32..=14),
        offset in -3i64..=3,
        target in 0usize..4,
        random_mantissa in 1i64..=1_999_999_999,
    ) {
        let half_width = Decimal::new(width_thousandths, 3);
        let factor = ExactFactor::new(half_width).expect("three decimals are exact");
        let band = PriceBand::new(half_width);
        let (low_scale, high_scale, price_scale) = scales;
        // Target 3: the span's low is exactly `f` times a price (that price is the edge).
        let exact_edge = Decimal::new(random_mantissa, low_scale.min(8));
        let low = if target == 3 {
            Price::new(exact_edge * (Decimal::ONE + half_width)).ok()
        } else {
            price_of(low_mantissa, low_scale, pads.0)
        };
        let Some(low) = low else { return Ok(()) };
        let Some(high) = Price::new(low.get() + Decimal::new(spread, high_scale)).ok() else {
            return Ok(());
        };
        let window = FixedWindow::new(factor, low.to_fixed(), high.to_fixed());
        // Prices a few units of the last of twelve decimals around the window's edges
        // (where an off-by-one would show), and anywhere.
        let (edge, scale) = match target {
            0 => (high.get() * (Decimal::ONE + half_width), 12),
            1 => (low.get() / (Decimal::ONE + half_width), 12),
            3 => (exact_edge, 12),
            _ => (Decimal::new(random_mantissa, price_scale), price_scale),
        };
        let candidate = edge.round_dp(scale) + Decimal::new(offset, scale);
        let Ok(price) = Price::new(candidate) else { return Ok(()) };
        proptest::prop_assert_eq!(
            window.contains(price.to_fixed()),
            decimal_answer(band, low, high, price),
            "w {} low {} high {} price {}", half_width, low, high, price
        );
    }

    #[test]
    fn the_largest_move_is_the_largest_of_the_three_relative_moves_to_twelve_decimals(
        previous in 1i64..=10_000_000,
        moves in proptest::collection::vec(-5_000_000i64..=5_000_000, 3),
        scale in 0u32..=6,
        minutes in 1i64..=240,
    ) {
        let previous = price_of(previous, scale, 0).expect("positive");
        let prices: Vec<Price> = moves
            .iter()
            .map(|m| Price::new(previous.get() + Decimal::new(*m, scale)).ok())
            .collect::<Option<_>>()
            .unwrap_or_else(|| vec![previous; 3]);
        let (high, low) = (prices.iter().max().copied(), prices.iter().min().copied());
        let (Some(high), Some(low)) = (high, low) else { return Ok(()) };
        let Ok(candle) = Candle::new(Interval::M1, ts(T0), prices[2], high, low, prices[2], Volume::ZERO) else {
            return Ok(());
        };
        let root = (minutes > 1).then(|| Decimal::from(minutes).sqrt().expect("root"));
        // Each move divided separately in `Decimal`, as the guard once computed it, then cut
        // to the twelve decimals the guard keeps (the full quotient's rounding at 28 digits
        // cannot cross a 10^-12 step for these prices: their quotients are at least 10^-25
        // away from one).
        let expected = [candle.high(), candle.low(), candle.close()]
            .iter()
            .map(|p| ((p.get() - previous.get()) / previous.get()).abs().trunc_with_scale(12))
            .max()
            .and_then(|m| m.checked_div(root.unwrap_or(Decimal::ONE)))
            .map_or(Decimal::ZERO, |m| m.round_dp(12));
        let computed = Decimal::from_i128_with_scale(largest_relative_move(previous.to_fixed(), &candle, root), 12);
        proptest::prop_assert_eq!(computed, expected);
    }
}

#[test]
fn a_band_width_with_many_decimals_keeps_the_decimal_path() {
    assert!(ExactFactor::new(dec!(0.05)).is_some());
    assert!(ExactFactor::new(dec!(0.5)).is_some());
    assert!(ExactFactor::new(dec!(0.123456789)).is_none());
    let mut guard = PriceGuard::new(PlausibilityConfig {
        floor: dec!(0.050000001),
        ..PlausibilityConfig::default()
    });
    assert!(guard.check_tick(&tick("100", T0)).is_usable());
    assert!(guard.span.is_some_and(|span| span.floor_window.is_none()));
    assert!(guard.check_tick(&tick("105.0000001", T0 + 1)).is_usable());
    assert!(!guard.check_tick(&tick("1000", T0 + 2)).is_usable());
}

#[test]
fn a_guard_whose_band_cannot_widen_with_volatility_does_not_track_it() {
    let fixed = PlausibilityConfig {
        volatility_multiple: Decimal::ZERO,
        ..PlausibilityConfig::default()
    };
    for (config, tracked) in [(PlausibilityConfig::default(), true), (fixed, false)] {
        let mut guard = PriceGuard::new(config);
        for (minute, close) in [(0, "100"), (1, "103"), (2, "99")] {
            assert!(
                guard
                    .check_candle(&bar(minute, close, close, close, close))
                    .is_usable()
            );
        }
        assert_eq!(guard.volatility() > Decimal::ZERO, tracked, "{config:?}");
    }
}

#[test]
fn a_move_of_a_trillion_times_the_price_counts_as_the_largest_tracked_move() {
    let previous = Price::new(dec!(0.000000000001)).expect("positive");
    let huge = Price::new(dec!(1000000000000)).expect("positive");
    let candle =
        Candle::new(Interval::M1, ts(T0), huge, huge, huge, huge, Volume::ZERO).expect("candle");
    assert_eq!(
        largest_relative_move(previous.to_fixed(), &candle, None),
        MAX_RELATIVE_MOVE
    );
    // The average stays inside its range however often such a candle is accepted.
    let mut guard = PriceGuard::new(PlausibilityConfig {
        volatility_weight: Decimal::ONE,
        ..PlausibilityConfig::default()
    });
    guard.accept_candle(
        &Candle::new(
            Interval::M1,
            ts(T0),
            previous,
            previous,
            previous,
            previous,
            Volume::ZERO,
        )
        .expect("candle"),
    );
    guard.accept_candle(&candle);
    assert_eq!(guard.volatility(), Decimal::from(1_000_000));
}

/// One minute of a generated market for the shortcut test: a move (basis points of the
/// last close, sometimes a jump far outside any band), the bar's range, and which odd
/// prints accompany it.
#[derive(Clone, Copy, Debug)]
struct Minute {
    move_bp: i64,
    range_bp: i64,
    jump: u8,
    stray_tick: bool,
    with_book: bool,
    gap_minutes: i64,
    /// The bar arrives without its ticks (a feed that delivers only candles for a while).
    without_ticks: bool,
    /// The bar's high is a broken print, 1000× its close.
    bad_wick: bool,
}

fn minute() -> impl Strategy<Value = Minute> {
    (
        (-300i64..=300, 0i64..=200, 0u8..40),
        (
            proptest::bool::weighted(0.1),
            proptest::bool::weighted(0.1),
            prop_oneof![9 => Just(0i64), 1 => 1i64..240],
        ),
        (
            proptest::bool::weighted(0.2),
            proptest::bool::weighted(0.05),
        ),
    )
        .prop_map(
            |(
                (move_bp, range_bp, jump),
                (stray_tick, with_book, gap_minutes),
                (without_ticks, bad_wick),
            )| Minute {
                move_bp,
                range_bp,
                jump,
                stray_tick,
                with_book,
                gap_minutes,
                without_ticks,
                bad_wick,
            },
        )
}

proptest::proptest! {
    /// The fixed-point shortcuts for ticks and candles decide exactly as the full judgement:
    /// the same verdict for every print, the same counters, reference and volatility, over
    /// random markets with gaps, jumps of 1000× and 1/1000, stray prints and quoted books.
    #[test]
    fn the_shortcuts_decide_every_print_as_the_full_judgement_does(
        minutes in proptest::collection::vec(minute(), 1..120),
        broker_band in proptest::bool::ANY,
    ) {
        let config = if broker_band {
            PlausibilityConfig { floor: dec!(0.5), per_sqrt_minute: Decimal::ZERO, volatility_multiple: Decimal::ZERO, ceiling: dec!(0.5), ..PlausibilityConfig::default() }
        } else {
            PlausibilityConfig::default()
        };
        let mut fast = PriceGuard::new(config);
        let mut full = PriceGuard::without_shortcuts(config);
        let symbol = Symbol::new("BTCUSDT").expect("symbol");
        let mut close = dec!(50000.0);
        let mut at = T0;
        for m in minutes {
            at += m.gap_minutes * 60_000;
            let factor = match m.jump { 0 => dec!(1000), 1 => dec!(0.001), 2 => dec!(1.3), _ => Decimal::ONE };
            let open = (close * factor).round_dp(1);
            let next = (open * (Decimal::ONE + Decimal::new(m.move_bp, 4))).round_dp(1);
            let spread = (open * Decimal::new(m.range_bp, 4)).round_dp(1);
            let high = if m.bad_wick { next * dec!(1000) } else { open.max(next) + spread };
            let low = (open.min(next) - spread).max(dec!(0.1));
            let prices = (Price::new(open), Price::new(high), Price::new(low), Price::new(next));
            let (Ok(o), Ok(h), Ok(l), Ok(c)) = prices else {
                close = dec!(50000.0);
                continue;
            };
            let Ok(candle) = Candle::new(Interval::M1, ts(at), o, h, l, c, Volume::ZERO) else {
                continue;
            };
            let path = candle.path(59_500);
            let offsets = if m.without_ticks { Vec::new() } else { Candle::path_offsets(59_500).to_vec() };
            for (i, offset) in offsets.into_iter().enumerate() {
                let last = path.price_at(offset);
                let (bid, ask) = if m.with_book && i == 1 {
                    (Price::new(last.get() - dec!(0.1)).ok(), Price::new(last.get() * dec!(1.0001)).ok())
                } else {
                    (None, None)
                };
                let Ok(tick) = Tick::new(symbol, ts(at + offset), last, bid, ask) else {
                    continue;
                };
                proptest::prop_assert_eq!(fast.check_tick(&tick), full.check_tick(&tick));
                if m.stray_tick
                    && i == 2
                    && let Ok(stray) = Price::new(last.get() * dec!(1000))
                {
                    let stray = Tick::new(symbol, ts(at + offset + 1), stray, None, None).expect("tick");
                    proptest::prop_assert_eq!(fast.check_tick(&stray), full.check_tick(&stray));
                }
            }
            proptest::prop_assert_eq!(fast.check_candle(&candle), full.check_candle(&candle));
            close = next;
            at += 60_000;
        }
        proptest::prop_assert_eq!(fast.counters(), full.counters());
        proptest::prop_assert_eq!(fast.reference(), full.reference());
        proptest::prop_assert_eq!(fast.volatility(), full.volatility());
        proptest::prop_assert_eq!(fast.in_quarantine(), full.in_quarantine());
    }
}

/// The recent volatility is the exponential average (weight 0.1) of each candle's largest
/// relative move from the previous close, worked by hand here.
#[test]
fn the_volatility_averages_each_candle_s_largest_move_from_the_previous_close() {
    let mut guard = PriceGuard::new(PlausibilityConfig::default());
    let mut after = |candle: Candle| {
        guard.accept_candle(&candle);
        guard.volatility()
    };
    assert_eq!(after(bar(0, "100", "100", "100", "100")), dec!(0));
    // |102 − 100| / 100 = 0.02; 0 + 0.1 × (0.02 − 0) = 0.002.
    assert_eq!(after(bar(1, "100", "102", "99", "101")), dec!(0.002));
    // |95.95 − 101| / 101 = 0.05; 0.002 + 0.1 × (0.05 − 0.002) = 0.0068.
    assert_eq!(after(bar(2, "101", "101", "95.95", "96")), dec!(0.0068));
    // No move: 0.0068 − 0.1 × 0.0068 = 0.00612.
    assert_eq!(after(bar(3, "96", "96", "96", "96")), dec!(0.00612));
}
