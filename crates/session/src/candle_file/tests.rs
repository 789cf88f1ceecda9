//! The candle-file reader on real-shaped rows: the documented normalisation and the
//! rejections it keeps.

use std::io::Write;

use la_core::{Interval, Price};

use super::load_candles;

fn price(text: &str) -> Price {
    text.parse().expect("test price")
}

#[test]
fn an_open_outside_the_range_is_kept_widened_and_counted_while_bad_rows_are_rejected() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    // The real Bitunix row (open = the previous close, above this bar's high), a row whose
    // close lies outside its range, one with high below low, and a consistent row.
    write!(
        file,
        "ts_ms,open,high,low,close,volume\n\
         1789482180000,76389,76383.1,76269.8,76345.5,35.6805\n\
         1789482240000,76345.5,76400,76300,76500,1\n\
         1789482300000,76345.5,76300,76400,76350,1\n\
         1789482360000,76345.5,76400,76300,76350,1\n"
    )
    .expect("write");
    let loaded = load_candles(file.path(), Interval::M1).expect("readable");
    assert_eq!(loaded.candles.len(), 2);
    let bar = loaded.candles[0];
    assert_eq!(
        [bar.open(), bar.high(), bar.low(), bar.close()],
        [
            price("76389"),
            price("76389"),
            price("76269.8"),
            price("76345.5")
        ]
    );
    assert_eq!(loaded.normalized.get("open_outside_range"), Some(&1));
    assert_eq!(loaded.rejected.get("ohlc_inconsistent"), Some(&2));
}
