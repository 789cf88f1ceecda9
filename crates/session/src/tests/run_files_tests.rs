//! The run files' number writing: `equity.csv` is written without the formatting machinery
//! (one row per candle), so its decimals must be exactly what `Display` writes — every
//! digit of the scale, the sign of a negative zero, mantissas past `u64`.

use la_core::Decimal;
use proptest::prelude::*;

use crate::run_files::{EquityPoint, push_decimal, write_equity_csv};

fn pushed(value: Decimal) -> String {
    let mut out = String::new();
    push_decimal(&mut out, value);
    out
}

#[test]
fn decimals_are_written_as_display_writes_them_at_the_edges() {
    let mut cases = vec![
        Decimal::ZERO,
        Decimal::new(0, 2),
        Decimal::new(5, 3),
        Decimal::new(-5, 3),
        Decimal::new(12_345, 2),
        Decimal::new(100, 2),
        Decimal::new(5_684_321, 2),
        Decimal::from_i128_with_scale(i128::from(u64::MAX), 4),
        Decimal::from_i128_with_scale(i128::from(u64::MAX) + 1, 4),
        Decimal::MAX,
        Decimal::MIN,
        Decimal::new(1, 28),
    ];
    let mut negative_zero = Decimal::new(0, 3);
    negative_zero.set_sign_negative(true);
    cases.push(negative_zero);
    for value in cases {
        assert_eq!(pushed(value), value.to_string(), "{value:?}");
    }
}

proptest! {
    #[test]
    fn any_decimal_is_written_as_display_writes_it(
        lo in any::<u32>(), mid in any::<u32>(), hi in prop_oneof![Just(0u32), any::<u32>()],
        negative in any::<bool>(), scale in 0u32..=28,
    ) {
        let value = Decimal::from_parts(lo, mid, hi, negative, scale);
        prop_assert_eq!(pushed(value), value.to_string());
    }
}

#[test]
fn equity_csv_has_one_row_per_point_with_every_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("equity.csv");
    let points = [
        EquityPoint {
            ts_ms: 1_618_876_859_999,
            equity: Decimal::new(10_000, 0),
            mark_equity: Decimal::new(99_995_123_456_789, 10),
            mark_price: Decimal::new(5_612_345, 2),
        },
        EquityPoint {
            ts_ms: 1_618_876_919_999,
            equity: Decimal::new(-25, 1),
            mark_equity: Decimal::new(0, 4),
            mark_price: Decimal::new(5_600_001, 2),
        },
    ];
    write_equity_csv(&path, &points).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "ts_ms,equity,mark_equity,mark_price\n\
         1618876859999,10000,9999.51234568,56123.45\n\
         1618876919999,-2.5,0.0000,56000.01\n"
    );
}
