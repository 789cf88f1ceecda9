//! Integration tests of la-strategy through its public API: indicator tables, the setups
//! and SMA-crossover strategies on crafted and generated candles, their gates, property
//! tests, and the real-candle check against `../shared/data`.

// Helpers outside `#[test]` functions unwrap freely too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod costs;
mod gates;
mod indicators;
mod leverage;
mod props;
mod real_candles;
mod scenarios;
mod setups;
mod sma_cross;
mod support;
