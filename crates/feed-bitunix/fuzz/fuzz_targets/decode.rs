//! Fuzz target: arbitrary bytes through both decoder back ends. Neither may panic, and
//! whenever one accepts a frame the other must decode it to the same value.

#![no_main]

use la_core::{Interval, Symbol};
use la_feed_bitunix::decode::{FrameDecoder, JsonBackend};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(symbol) = Symbol::new("BTCUSDT") else {
        return;
    };
    let mut simd_bytes = data.to_vec();
    let mut serde_bytes = data.to_vec();
    let simd = FrameDecoder::with_backend(Interval::M1, JsonBackend::SimdJson)
        .decode(&mut simd_bytes, symbol);
    let serde = FrameDecoder::with_backend(Interval::M1, JsonBackend::SerdeJson)
        .decode(&mut serde_bytes, symbol);
    if simd.is_ok() || serde.is_ok() {
        assert_eq!(simd, serde, "back ends disagree");
    }
});
