//! Unit, table and property tests for the domain types.

use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::{
    Candle, CandleNormalization, ClientOrderId, DataError, Interval, Leverage, ManualClock, Ohlc,
    OrderIntent, OrderKind, OrderSpec, Price, Qty, RejectReason, Side, Symbol, Tick, TimestampMs,
    Volume, number::parse_decimal, time::Clock,
};

fn price(text: &str) -> Price {
    Price::parse("price", text).expect("test price")
}

fn ts(ms: i64) -> TimestampMs {
    TimestampMs::new(ms).expect("test timestamp")
}

#[track_caller]
fn check_price_rejected(text: &str, reason: RejectReason) {
    match Price::parse("price", text) {
        Ok(value) => panic!("{text:?} was accepted as {value}"),
        Err(err) => assert_eq!(err.reason, reason, "{text:?}: {err}"),
    }
}

#[test]
fn price_rejects_every_bad_exchange_string_with_its_reason() {
    let cases = [
        ("NaN", RejectReason::NotANumber),
        ("nan", RejectReason::NotANumber),
        ("-NaN", RejectReason::NotANumber),
        ("Infinity", RejectReason::Infinite),
        ("-Infinity", RejectReason::Infinite),
        ("inf", RejectReason::Infinite),
        ("+inf", RejectReason::Infinite),
        ("1e999", RejectReason::ExponentNotation),
        ("1E5", RejectReason::ExponentNotation),
        ("6.3e4", RejectReason::ExponentNotation),
        ("", RejectReason::Empty),
        ("   ", RejectReason::Empty),
        ("63,404.6", RejectReason::Malformed),
        ("63 404.6", RejectReason::Malformed),
        (" 1", RejectReason::Malformed),
        ("1.2.3", RejectReason::Malformed),
        ("abc", RejectReason::Malformed),
        ("+1", RejectReason::Malformed),
        ("0x10", RejectReason::Malformed),
        (".", RejectReason::Malformed),
        ("-", RejectReason::Malformed),
        ("-1", RejectReason::Negative),
        ("-0.5", RejectReason::Negative),
        ("0", RejectReason::Zero),
        ("0.000", RejectReason::Zero),
        ("-0", RejectReason::Zero),
        ("99999999999999999999999999999999", RejectReason::OutOfRange),
        ("79228162514264337593543950336", RejectReason::OutOfRange),
        ("1000000000000.1", RejectReason::OutOfRange),
        ("0.0000000000001", RejectReason::TooPrecise),
        ("1.00000000000000000000000000001", RejectReason::TooPrecise),
    ];
    for (text, reason) in cases {
        check_price_rejected(text, reason);
    }
}

#[test]
fn price_accepts_plain_exchange_strings() {
    for (text, expected) in [
        ("63404.6", dec!(63404.6)),
        ("61837.63000000", dec!(61837.63)),
        ("68590", dec!(68590)),
        ("0.0001", dec!(0.0001)),
        ("000123.5", dec!(123.5)),
        (".5", dec!(0.5)),
        ("1000000000000", dec!(1000000000000)),
    ] {
        assert_eq!(price(text).get(), expected, "{text}");
    }
}

#[test]
fn data_error_display_names_field_reason_and_sample() {
    let err = Price::parse("high", "NaN").expect_err("NaN must fail");
    assert_eq!(err.to_string(), "invalid high: not_a_number (got \"NaN\")");
}

#[test]
fn data_error_sample_is_truncated_for_huge_inputs() {
    let huge = "9".repeat(10_000);
    let err = parse_decimal("price", &huge).expect_err("too many digits");
    assert_eq!(err.reason, RejectReason::OutOfRange);
    assert!(err.sample.chars().count() <= crate::error::MAX_SAMPLE_LEN + 1);
}

#[test]
fn qty_and_volume_follow_their_sign_rules() {
    assert_eq!(
        Qty::parse("qty", "0").map_err(|e| e.reason),
        Err(RejectReason::Zero)
    );
    assert_eq!(
        Qty::parse("qty", "-2").map_err(|e| e.reason),
        Err(RejectReason::Negative)
    );
    assert_eq!(
        Volume::parse("volume", "0").map(Volume::get),
        Ok(Decimal::ZERO)
    );
    assert_eq!(
        Volume::parse("volume", "-0.1").map_err(|e| e.reason),
        Err(RejectReason::Negative)
    );
    assert_eq!(
        Volume::parse("volume", "NaN").map_err(|e| e.reason),
        Err(RejectReason::NotANumber)
    );
}

#[test]
fn serde_cannot_bypass_price_validation() {
    let bad: Result<Price, _> = serde_json::from_str("\"-1\"");
    assert!(bad.is_err());
    let zero: Result<Price, _> = serde_json::from_str("0");
    assert!(zero.is_err());
    let good: Price = serde_json::from_str("\"63404.6\"").expect("valid price");
    assert_eq!(good.get(), dec!(63404.6));
}

#[test]
fn symbol_requires_upper_case_alphanumerics() {
    assert_eq!(
        Symbol::new("BTCUSDT").map(|s| s.to_string()),
        Ok("BTCUSDT".to_owned())
    );
    for bad in [
        "",
        "B",
        "btcusdt",
        "BTC-USDT",
        "BTCUSDT\n",
        "ABCDEFGHIJKLMNOPQRSTU",
    ] {
        assert_eq!(
            Symbol::new(bad).map_err(|e| e.reason),
            Err(RejectReason::InvalidSymbol),
            "{bad:?}"
        );
    }
    assert_eq!(
        Symbol::normalize("btc/usdt").map(|s| s.to_string()),
        Ok("BTCUSDT".to_owned())
    );
    assert_eq!(
        Symbol::normalize("btc-usdt").map(|s| s.to_string()),
        Ok("BTCUSDT".to_owned())
    );
}

#[test]
fn timestamp_rejects_seconds_and_nanoseconds() {
    assert!(TimestampMs::new(1_786_650_732_204).is_ok());
    for bad in [
        0,
        -1,
        1_786_650_732,
        1_786_650_732_204_000,
        i64::MAX,
        i64::MIN,
    ] {
        assert_eq!(
            TimestampMs::new(bad).map_err(|e| e.reason),
            Err(RejectReason::TimestampOutOfBounds),
            "{bad}"
        );
    }
}

#[test]
fn interval_labels_round_trip_and_unknown_labels_fail() {
    for interval in Interval::ALL {
        assert_eq!(interval.as_str().parse::<Interval>(), Ok(interval));
    }
    for bad in ["1min", "60m", "1H", "", "1w"] {
        assert_eq!(
            bad.parse::<Interval>().map_err(|e| e.reason),
            Err(RejectReason::UnknownInterval),
            "{bad}"
        );
    }
}

#[test]
fn interval_bucket_math_floors_to_open_and_steps_to_next() {
    // 2026-08-13 kline push from the protocol document.
    let push = ts(1_786_650_732_204);
    assert_eq!(Interval::M1.open_time_of(push), ts(1_786_650_720_000));
    assert_eq!(Interval::M1.next_open(push), Some(ts(1_786_650_780_000)));
    assert_eq!(Interval::H1.open_time_of(push).as_ms() % 3_600_000, 0);
    assert_eq!(Interval::D1.open_time_of(push).as_ms() % 86_400_000, 0);
    let aligned = ts(1_786_650_720_000);
    assert_eq!(Interval::M1.open_time_of(aligned), aligned);
    assert!(Interval::M1.is_aligned(aligned));
    assert!(!Interval::M1.is_aligned(push));
}

fn candle(o: &str, h: &str, l: &str, c: &str) -> Result<Candle, DataError> {
    Candle::new(
        Interval::M1,
        ts(1_786_650_720_000),
        price(o),
        price(h),
        price(l),
        price(c),
        Volume::parse("volume", "1.5").expect("volume"),
    )
}

#[test]
fn candle_rejects_inconsistent_ohlc_and_misalignment() {
    assert!(candle("100", "110", "90", "105").is_ok());
    let cases = [
        (("100", "90", "110", "100"), "high"), // high < low
        (("120", "110", "90", "100"), "open"), // open above high
        (("100", "110", "90", "80"), "close"), // close below low
        // The real Bitunix REST row with open outside [low, high].
        (("76389", "76383.1", "76269.8", "76345.5"), "open"),
    ];
    for ((o, h, l, c), field) in cases {
        let err = candle(o, h, l, c).expect_err("inconsistent OHLC must fail");
        assert_eq!(
            (err.reason, err.field),
            (RejectReason::OhlcInconsistent, field)
        );
    }
    let misaligned = Candle::new(
        Interval::M1,
        ts(1_786_650_732_204),
        price("1"),
        price("1"),
        price("1"),
        price("1"),
        Volume::ZERO,
    );
    assert_eq!(
        misaligned.map_err(|e| e.reason),
        Err(RejectReason::Misaligned)
    );
}

fn normalized(
    o: &str,
    h: &str,
    l: &str,
    c: &str,
) -> Result<(Candle, Option<CandleNormalization>), DataError> {
    let ohlc = Ohlc {
        open: price(o),
        high: price(h),
        low: price(l),
        close: price(c),
    };
    Candle::normalized(
        Interval::M1,
        ts(1_789_482_180_000),
        ohlc,
        Volume::parse("volume", "35.6805").expect("volume"),
    )
}

#[test]
fn an_open_outside_the_range_widens_it_and_says_so() {
    // The real Bitunix REST row: open = the previous close, above this bar's high.
    let (bar, normalization) =
        normalized("76389", "76383.1", "76269.8", "76345.5").expect("a real row is kept");
    assert_eq!(normalization, Some(CandleNormalization::OpenOutsideRange));
    assert_eq!(
        normalization.map(CandleNormalization::as_str),
        Some("open_outside_range")
    );
    assert_eq!(
        [bar.open(), bar.high(), bar.low(), bar.close()],
        [
            price("76389"),
            price("76389"),
            price("76269.8"),
            price("76345.5")
        ]
    );
    // Below the low: the low is widened instead.
    let (bar, normalization) = normalized("89.5", "110", "90", "100").expect("kept");
    assert_eq!(normalization, Some(CandleNormalization::OpenOutsideRange));
    assert_eq!((bar.low(), bar.high()), (price("89.5"), price("110")));
    // A consistent bar is untouched and not counted.
    let (bar, normalization) = normalized("100", "110", "90", "105").expect("kept");
    assert_eq!(normalization, None);
    assert_eq!(
        Ok(bar),
        candle_at(1_789_482_180_000, "100", "110", "90", "105")
    );
}

#[test]
fn normalisation_still_rejects_what_no_exchange_convention_explains() {
    let cases = [
        (("100", "90", "110", "100"), "high"),  // high < low
        (("100", "110", "90", "80"), "close"),  // close below low
        (("100", "110", "90", "111"), "close"), // close above high
        (("200", "90", "110", "100"), "high"),  // open outside and high < low
    ];
    for ((o, h, l, c), field) in cases {
        let err = normalized(o, h, l, c).expect_err("must stay rejected");
        assert_eq!(
            (err.reason, err.field),
            (RejectReason::OhlcInconsistent, field),
            "{o} {h} {l} {c}"
        );
    }
}

fn candle_at(open_ms: i64, o: &str, h: &str, l: &str, c: &str) -> Result<Candle, DataError> {
    Candle::new(
        Interval::M1,
        ts(open_ms),
        price(o),
        price(h),
        price(l),
        price(c),
        Volume::parse("volume", "35.6805").expect("volume"),
    )
}

#[test]
fn tick_rejects_crossed_book_and_falls_back_to_last() {
    let symbol = Symbol::new("BTCUSDT").expect("symbol");
    let crossed = Tick::new(
        symbol,
        ts(1_786_650_732_204),
        price("100"),
        Some(price("101")),
        Some(price("100")),
    );
    assert_eq!(
        crossed.map_err(|e| e.reason),
        Err(RejectReason::CrossedBook)
    );
    let bare = Tick::new(symbol, ts(1_786_650_732_204), price("100"), None, None).expect("tick");
    assert_eq!(
        (bare.buy_price(), bare.sell_price()),
        (price("100"), price("100"))
    );
}

fn order(side: Side, stop: &str, target: Option<&str>) -> Result<OrderIntent, DataError> {
    OrderIntent::new(OrderSpec {
        client_order_id: ClientOrderId::new("t-1").expect("id"),
        side,
        kind: OrderKind::Market,
        qty: Qty::parse("qty", "0.01").expect("qty"),
        entry_reference: price("100"),
        stop_loss: price(stop),
        take_profit: target.map(price),
        leverage: Leverage::ONE,
    })
}

#[test]
fn order_rejects_stop_and_target_on_the_wrong_side() {
    assert!(order(Side::Long, "99", Some("102")).is_ok());
    assert!(order(Side::Short, "101", Some("98")).is_ok());
    assert!(order(Side::Long, "99", None).is_ok());
    let cases = [
        (
            Side::Long,
            "101",
            Some("102"),
            RejectReason::StopOnWrongSide,
        ),
        (
            Side::Long,
            "100",
            Some("102"),
            RejectReason::StopOnWrongSide,
        ),
        (
            Side::Long,
            "99",
            Some("98"),
            RejectReason::TakeProfitOnWrongSide,
        ),
        (Side::Short, "99", Some("98"), RejectReason::StopOnWrongSide),
        (
            Side::Short,
            "101",
            Some("102"),
            RejectReason::TakeProfitOnWrongSide,
        ),
        (
            Side::Short,
            "101",
            Some("100"),
            RejectReason::TakeProfitOnWrongSide,
        ),
    ];
    for (side, stop, target, reason) in cases {
        assert_eq!(
            order(side, stop, target).map_err(|e| e.reason),
            Err(reason),
            "{side} {stop} {target:?}"
        );
    }
}

#[test]
fn limit_order_validates_against_its_limit_price() {
    let limit = OrderIntent::new(OrderSpec {
        client_order_id: ClientOrderId::new("limit-1").expect("id"),
        side: Side::Long,
        kind: OrderKind::Limit { price: price("95") },
        qty: Qty::parse("qty", "1").expect("qty"),
        entry_reference: price("100"),
        stop_loss: price("96"),
        take_profit: None,
        leverage: Leverage::ONE,
    });
    assert_eq!(
        limit.map_err(|e| e.reason),
        Err(RejectReason::StopOnWrongSide)
    );
}

#[test]
fn client_order_id_rejects_empty_long_and_odd_characters() {
    assert!(ClientOrderId::new("setups-1786650720000-long").is_ok());
    for bad in ["", "has space", "semi;colon", &"x".repeat(65)] {
        assert_eq!(
            ClientOrderId::new(bad).map_err(|e| e.reason),
            Err(RejectReason::InvalidClientOrderId),
            "{bad:?}"
        );
    }
}

#[test]
fn manual_clock_moves_only_when_told() {
    let clock = ManualClock::new(ts(1_786_650_720_000));
    assert_eq!(clock.now(), ts(1_786_650_720_000));
    clock.advance_ms(1_500);
    assert_eq!(clock.now(), ts(1_786_650_721_500));
    clock.advance_ms(i64::MAX);
    assert_eq!(clock.now(), TimestampMs::MAX);
}

proptest! {
    #[test]
    fn parsers_never_panic_on_arbitrary_strings(text in ".{0,64}") {
        let _ = parse_decimal("x", &text);
        let _ = Price::parse("price", &text);
        let _ = Qty::parse("qty", &text);
        let _ = Volume::parse("volume", &text);
        let _ = Symbol::new(&text);
        let _ = Symbol::normalize(&text);
        let _ = text.parse::<Interval>();
        let _ = ClientOrderId::new(&text);
    }

    #[test]
    fn parsers_never_panic_on_number_like_strings(text in "[-+]?[0-9]{0,40}(\\.[0-9]{0,40})?([eE][-+]?[0-9]{0,5})?") {
        if let Ok(value) = Price::parse("price", &text) {
            prop_assert!(value.get() > Decimal::ZERO);
        }
    }

    #[test]
    fn accepted_candles_satisfy_their_invariants(
        open_time in 1_262_304_000_000i64..4_000_000_000_000,
        prices in proptest::collection::vec(1u64..10_000_000, 4),
        volume in 0u64..1_000_000,
        interval_idx in 0usize..12,
    ) {
        let interval = Interval::ALL[interval_idx];
        let to_price = |v: u64| Price::new(Decimal::new(v as i64, 1));
        let (Ok(o), Ok(h), Ok(l), Ok(c)) = (to_price(prices[0]), to_price(prices[1]), to_price(prices[2]), to_price(prices[3])) else {
            return Err(TestCaseError::fail("prices are positive"));
        };
        let Ok(open_time) = TimestampMs::new(open_time) else { return Ok(()); };
        let volume = Volume::new(Decimal::new(volume as i64, 3)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Ok(candle) = Candle::new(interval, open_time, o, h, l, c, volume) {
            prop_assert!(candle.low() <= candle.open().min(candle.close()));
            prop_assert!(candle.high() >= candle.open().max(candle.close()));
            prop_assert!(candle.volume().get() >= Decimal::ZERO);
            prop_assert!(interval.is_aligned(candle.open_time()));
        }
    }

    #[test]
    fn bucket_open_is_aligned_and_contains_the_timestamp(ms in 1_262_304_000_000i64..4_000_000_000_000, interval_idx in 0usize..12) {
        let interval = Interval::ALL[interval_idx];
        let Ok(ts) = TimestampMs::new(ms) else { return Ok(()); };
        let open = interval.open_time_of(ts);
        prop_assert!(interval.is_aligned(open));
        prop_assert!(open <= ts);
        if let Some(next) = interval.next_open(ts) {
            prop_assert!(ts < next);
            prop_assert_eq!(next.as_ms() - open.as_ms(), interval.as_ms());
        }
    }
}

proptest! {
    /// What a candle derives once when it is built (see `Candle`) is what its prices and
    /// times give, whatever their decimal representations.
    #[test]
    fn a_candle_s_derived_values_are_those_of_its_fields(
        prices in proptest::collection::vec((1u64..2_000, 0u32..2, 0u32..4), 4),
        interval_idx in 0usize..12,
    ) {
        let interval = Interval::ALL[interval_idx];
        let [o, h, l, c] = [0, 1, 2, 3].map(|i| {
            let (units, scale, padded) = prices[i];
            let mut d = Decimal::new(units as i64, scale);
            d.rescale(scale + padded);
            Price::new(d).unwrap()
        });
        let open_time = interval.open_time_of(ts(1_786_650_720_000));
        let Ok(candle) = Candle::new(interval, open_time, o, h, l, c, Volume::ZERO) else {
            return Ok(());
        };
        prop_assert_eq!(candle.close_time().as_ms(), open_time.as_ms() + interval.as_ms());
        prop_assert_eq!(candle.fixed_ohlc(), [o, h, l, c].map(Price::to_fixed));
        prop_assert_eq!(
            [candle.high_fixed(), candle.low_fixed(), candle.close_fixed()],
            [h.to_fixed(), l.to_fixed(), c.to_fixed()]
        );
        let high_first = h.get() - o.get() < o.get() - l.get();
        let expected = if high_first { [o, h, l, c] } else { [o, l, h, c] };
        prop_assert_eq!(candle.path_waypoints(), expected);
        // The path's rounding scale: the most decimals any price needs, at least one.
        let scale = [o, h, l, c].iter().map(|p| p.get().normalize().scale()).max().unwrap_or(0).max(1);
        let (from, to) = (expected[0].get(), expected[1].get());
        let between = (from + (to - from) * Decimal::from(10_000) / Decimal::from(19_833)).round_dp(scale);
        prop_assert_eq!(candle.path(59_500).price_at(10_000).get(), between);
    }
}

proptest! {
    /// A path's tick is its price at that offset, with that price's fixed-point value (taken
    /// from the candle on a waypoint) and no book.
    #[test]
    fn a_path_tick_is_the_path_price_with_its_fixed_point_value(
        prices in proptest::collection::vec((1u64..2_000, 0u32..2, 0u32..3), 4),
        last in prop_oneof![0i64..6, 0i64..70_000],
        pick in 0usize..8,
        elapsed in -100i64..70_000,
    ) {
        let [o, h, l, c] = [0, 1, 2, 3].map(|i| {
            let (units, scale, padded) = prices[i];
            let mut d = Decimal::new(units as i64, scale);
            d.rescale(scale + padded);
            Price::new(d).unwrap()
        });
        let Ok(candle) = Candle::new(Interval::M1, ts(1_786_650_720_000), o, h, l, c, Volume::ZERO) else {
            return Ok(());
        };
        let symbol = Symbol::new("BTCUSDT").unwrap();
        let path = candle.path(last);
        // Every waypoint offset, one before and after the path, and anywhere.
        let offsets = Candle::path_offsets(last);
        let at = [offsets[0], offsets[1], offsets[2], offsets[3], -1, last + 1, elapsed, offsets[1] + 1][pick];
        let tick = path.tick_at(symbol, ts(1_786_650_720_000), at);
        let price = path.price_at(at);
        prop_assert_eq!(tick.last().get().serialize(), price.get().serialize());
        prop_assert_eq!(tick.last_fixed(), price.to_fixed());
        prop_assert_eq!((tick.bid(), tick.ask(), tick.symbol()), (None, None, symbol));
        // A waypoint's tick taken by its index is the tick at its offset, short paths too.
        for (index, offset) in offsets.into_iter().enumerate() {
            let by_index = path.waypoint_tick(symbol, ts(1_786_650_720_000), index);
            let by_offset = path.tick_at(symbol, ts(1_786_650_720_000), offset);
            prop_assert_eq!(by_index.last().get().serialize(), by_offset.last().get().serialize());
            prop_assert_eq!(by_index.last_fixed(), by_offset.last_fixed());
        }
    }
}

proptest! {
    /// Adding milliseconds stays inside the timestamps `TimestampMs::new` accepts.
    #[test]
    fn checked_addition_gives_exactly_the_valid_timestamps(
        start in 1_262_304_000_000i64..=4_102_444_800_000,
        delta in prop_oneof![-5_000_000_000_000i64..5_000_000_000_000, Just(i64::MAX), Just(i64::MIN)],
    ) {
        let start = ts(start);
        let expected = start.as_ms().checked_add(delta).and_then(|ms| TimestampMs::new(ms).ok());
        prop_assert_eq!(start.checked_add_ms(delta), expected);
        // Landing on either bound, and one past it.
        for target in [TimestampMs::MIN.as_ms() - 1, TimestampMs::MIN.as_ms(), TimestampMs::MAX.as_ms(), TimestampMs::MAX.as_ms() + 1] {
            prop_assert_eq!(start.checked_add_ms(target - start.as_ms()), TimestampMs::new(target).ok());
        }
    }
}

#[test]
fn path_visits_the_nearer_extreme_first() {
    let up = candle("100", "101", "90", "95").expect("candle");
    assert_eq!(
        up.path_waypoints(),
        [price("100"), price("101"), price("90"), price("95")]
    );
    let down = candle("100", "110", "99", "105").expect("candle");
    assert_eq!(
        down.path_waypoints(),
        [price("100"), price("99"), price("110"), price("105")]
    );
    let tie = candle("100", "105", "95", "100").expect("candle");
    assert_eq!(tie.path_waypoints()[1], price("95"));
}

#[test]
fn path_price_moves_linearly_between_waypoints() {
    let bar = candle("100", "110", "99", "105").expect("candle");
    assert_eq!(bar.path_price_at(0, 60_000), price("100"));
    assert_eq!(bar.path_price_at(20_000, 60_000), price("99"));
    assert_eq!(bar.path_price_at(40_000, 60_000), price("110"));
    assert_eq!(bar.path_price_at(60_000, 60_000), price("105"));
    assert_eq!(bar.path_price_at(10_000, 60_000), price("99.5"));
    assert_eq!(bar.path_price_at(-5, 60_000), price("100"));
    assert_eq!(
        bar.path_price_at(59_700, 59_500),
        price("105"),
        "after the last push: the close"
    );
    assert_eq!(crate::market::last_push_offset(60_000, 500), 59_500);
    assert_eq!(Candle::path_offsets(59_500), [0, 19_833, 39_666, 59_500]);
}

proptest! {
    #[test]
    fn path_prices_stay_inside_the_bar(elapsed in -1_000i64..70_000, lo in 1u32..1000, spread in 0u32..1000, o in 0u32..1000, c in 0u32..1000) {
        let low = Decimal::new(i64::from(lo) * 10 + 1, 1);
        let high = low + Decimal::new(i64::from(spread), 1);
        let open = low + (high - low) * Decimal::new(i64::from(o), 3);
        let close = low + (high - low) * Decimal::new(i64::from(c), 3);
        let bar = Candle::new(Interval::M1, ts(1_786_650_720_000), Price::new(open.round_dp(4)).unwrap(), Price::new(high).unwrap(), Price::new(low).unwrap(), Price::new(close.round_dp(4)).unwrap(), Volume::ZERO);
        if let Ok(bar) = bar {
            let p = bar.path_price_at(elapsed, 59_500);
            prop_assert!(p >= bar.low() && p <= bar.high());
        }
    }
}

proptest! {
    /// The sampler's waypoint shortcut returns exactly what the interpolation computes there
    /// (value and representation: trailing zeros show in fills and logs).
    #[test]
    fn a_waypoint_sample_is_the_interpolation_at_that_offset(
        lo in 1u32..100_000, spread in 0u32..100_000, o in 0u32..1000, c in 0u32..1000,
        scale in 0u32..4, padded in 0u32..3, last in 3i64..70_000,
    ) {
        let low = Decimal::new(i64::from(lo), scale);
        let high = low + Decimal::new(i64::from(spread), scale);
        let pad = |d: Decimal| {
            let mut d = d;
            d.rescale(d.scale() + padded);
            d
        };
        let open = pad((low + (high - low) * Decimal::new(i64::from(o), 3)).round_dp(scale));
        let close = pad((low + (high - low) * Decimal::new(i64::from(c), 3)).round_dp(scale));
        let bar = Candle::new(Interval::M1, ts(1_786_650_720_000), Price::new(open).unwrap(), Price::new(pad(high)).unwrap(), Price::new(pad(low)).unwrap(), Price::new(close).unwrap(), Volume::ZERO);
        if let Ok(bar) = bar {
            let path = bar.path(last);
            let offsets = Candle::path_offsets(last);
            for segment in 0..3 {
                if offsets[segment + 1] <= offsets[segment] || offsets[segment] <= 0 {
                    continue;
                }
                let sampled = path.price_at(offsets[segment]).get();
                let computed = path.interpolate(segment, offsets[segment]).get();
                prop_assert_eq!(sampled.serialize(), computed.serialize(), "{} vs {}", sampled, computed);
            }
        }
    }
}

#[test]
fn a_duration_needs_a_unit_or_is_minutes_and_nothing_else_parses() {
    use std::time::Duration;

    use crate::parse_duration;
    for (text, expected) in [
        ("10", Duration::from_secs(600)),
        (" 10 ", Duration::from_secs(600)),
        ("500ms", Duration::from_millis(500)),
        ("90s", Duration::from_secs(90)),
        ("10m", Duration::from_secs(600)),
        ("10min", Duration::from_secs(600)),
        ("2h", Duration::from_secs(7_200)),
        ("1d", Duration::from_secs(86_400)),
        ("0s", Duration::ZERO),
    ] {
        assert_eq!(parse_duration(text), Ok(expected), "{text:?}");
    }
    for (text, reason) in [
        ("", RejectReason::Empty),
        ("  ", RejectReason::Empty),
        ("m", RejectReason::Malformed),
        ("10x", RejectReason::Malformed),
        ("-5", RejectReason::Malformed),
        ("1.5h", RejectReason::Malformed),
        ("10 m", RejectReason::Malformed),
        ("ten", RejectReason::Malformed),
        ("99999999999999999999s", RejectReason::OutOfRange),
        ("999999999999999d", RejectReason::OutOfRange),
    ] {
        assert_eq!(
            parse_duration(text).map_err(|e| e.reason),
            Err(reason),
            "{text:?}"
        );
    }
}

proptest! {
    /// The fast normalized scale is `normalize().scale()` for every value: narrow and wide
    /// mantissas, trailing zeros or none, zero, negative.
    #[test]
    fn the_normalized_scale_is_what_normalize_gives(
        mantissa in prop_oneof![any::<i64>().prop_map(i128::from), -(1i128 << 95)..(1i128 << 95)],
        zeros in 0u32..20,
        scale in 0u32..=28,
    ) {
        let mantissa = mantissa.checked_mul(10i128.pow(zeros)).filter(|m| m.unsigned_abs() < (1u128 << 96)).unwrap_or(mantissa);
        let value = Decimal::from_i128_with_scale(mantissa, scale);
        prop_assert_eq!(crate::number::normalized_scale(value), value.normalize().scale(), "{}", value);
    }
}
