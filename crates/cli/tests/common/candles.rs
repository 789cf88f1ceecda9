//! The recorded candles of `../shared/data` (read at run time, never copied into the
//! repository) and slices of them, for the binary's process tests (`#[path]` module).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// The path of a file under `candles/` in the shared data folder; fails loudly when it is
/// missing.
pub(crate) fn shared_candles(name: &str) -> PathBuf {
    la_shared_data::path(&format!("candles/{name}"))
}

/// The recorded month of 1-minute BTCUSDT candles (2021-04-20 .. 2021-05-20).
pub(crate) const MONTH: &str = "binance_spot_btcusdt_1m_2021-04-20_2021-05-20.csv.gz";

/// Writes `take` data rows of the recorded month after skipping `skip` (with the header) to
/// `dir/name` and returns the path.
pub(crate) fn month_slice(dir: &Path, name: &str, skip: usize, take: usize) -> PathBuf {
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(shared_candles(MONTH)).unwrap()),
        &mut text,
    )
    .unwrap();
    let mut lines = text.lines();
    let mut out = String::from(lines.next().unwrap());
    out.push('\n');
    for line in lines.skip(skip).take(take) {
        out.push_str(line);
        out.push('\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, out).unwrap();
    path
}

/// 400 real candles from a stretch of the recorded month where the default strategy trades.
pub(crate) fn real_slice(dir: &Path) -> PathBuf {
    month_slice(dir, "slice.csv", 2_800, 400)
}
