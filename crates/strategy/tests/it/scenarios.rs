//! Crafted candle sequences that put the setups strategy in a known state: a steady trend
//! that then dips into the EMA band (pullback), and a quiet tape under a heavy-volume VWAP
//! that is swept and reclaimed (sweep). Each can be mirrored to get the short side.

use la_core::{Decimal, OrderKind};
use la_strategy::{Decision, Gate, Indicators, SizingSpec, Strategy, StrategyContext};

use crate::support::{candle_dec, ctx, dec};

/// Feeds candles one at a time to a strategy, numbering minutes.
pub(crate) struct Feed<S: Strategy> {
    pub(crate) strategy: S,
    pub(crate) ctx: StrategyContext,
    pub(crate) index: i64,
    pub(crate) last_close: Decimal,
}

impl<S: Strategy> Feed<S> {
    pub(crate) fn new(strategy: S) -> Self {
        Self {
            strategy,
            ctx: ctx(),
            index: 0,
            last_close: Decimal::ZERO,
        }
    }

    pub(crate) fn with_ctx(mut self, ctx: StrategyContext) -> Self {
        self.ctx = ctx;
        self
    }

    pub(crate) fn bar(
        &mut self,
        open: Decimal,
        high: Decimal,
        low: Decimal,
        close: Decimal,
        volume: Decimal,
    ) -> Decision {
        let candle = candle_dec(self.index, open, high, low, close, volume);
        self.index += 1;
        self.last_close = close;
        self.strategy.on_candle(&candle, &self.ctx)
    }

    /// Same as [`Feed::bar`], mirrored around `axis` when `mirror` (highs become lows).
    pub(crate) fn bar_mirrored(
        &mut self,
        mirror: bool,
        axis: Decimal,
        [open, high, low, close, volume]: [Decimal; 5],
    ) -> Decision {
        if mirror {
            let m = |p: Decimal| axis - p;
            self.bar(m(open), m(low), m(high), m(close), volume)
        } else {
            self.bar(open, high, low, close, volume)
        }
    }
}

/// A context with a fine tick for prices around 100 (tick 0.01, step/min 0.001) and a
/// low-cost venue (a round trip costs 0.02 %, 1 bp per leg), so the sweep tape's small
/// geometry (stops 0.07–0.25 % away) clears the default three-costs stop gate.
pub(crate) fn fine_ctx() -> StrategyContext {
    StrategyContext {
        spec: SizingSpec {
            qty_step: dec("0.001"),
            min_qty: dec("0.001"),
            tick_size: dec("0.01"),
            round_trip_cost_frac: dec("0.0002"),
            ..SizingSpec::BITUNIX_BTCUSDT
        },
        ..ctx()
    }
}

/// Trend step per candle of [`trend`]: large enough that 1.5 ATR clears three Bitunix
/// round-trip costs (ATR ≈ 200 at ~57,000: stop ≈ 300 vs 3 × 80 = 240).
pub(crate) const TREND_STEP: &str = "100";

/// A trend of `bars` candles: +[`TREND_STEP`] per candle from 50,000 (or minus when
/// `down`), each with a 50-point wick either side, volume 5. Returns the last decision.
pub(crate) fn trend<S: Strategy>(feed: &mut Feed<S>, bars: usize, down: bool) -> Decision {
    trend_by(feed, bars, down, dec(TREND_STEP), dec("50"))
}

/// [`trend`] with a chosen step and wick.
pub(crate) fn trend_by<S: Strategy>(
    feed: &mut Feed<S>,
    bars: usize,
    down: bool,
    step: Decimal,
    wick: Decimal,
) -> Decision {
    let step = if down { -step } else { step };
    let mut close = if feed.index == 0 {
        dec("50000")
    } else {
        feed.last_close
    };
    let mut last = Decision::blocked(Gate::Warmup, Indicators::default());
    for _ in 0..bars {
        let open = close;
        close = open + step;
        last = feed.bar(
            open,
            open.max(close) + wick,
            open.min(close) - wick,
            close,
            dec("5"),
        );
    }
    last
}

/// One candle continuing the trend (+[`TREND_STEP`], or minus when `down`) whose low (high)
/// reaches the trend EMA of `previous` (plus 10 toward the price): a pullback into the band.
pub(crate) fn dip<S: Strategy>(feed: &mut Feed<S>, previous: &Decision, down: bool) -> Decision {
    let ema = previous.indicators.ema_fast.unwrap();
    let open = feed.last_close;
    let step = dec(TREND_STEP);
    if down {
        let close = open - step;
        feed.bar(open, ema - dec("10"), close - dec("3"), close, dec("5"))
    } else {
        let close = open + step;
        feed.bar(open, close + dec("3"), ema + dec("10"), close, dec("5"))
    }
}

/// Options for the sweep scenario.
#[derive(Clone, Copy)]
pub(crate) struct SweepTape {
    /// Mirror around 200 (a HIGH sweep and a short).
    pub(crate) mirror: bool,
    /// Quiet closes fall instead of rise before the sweep (EMA9 below EMA20).
    pub(crate) falling: bool,
    /// Heavy-volume wicks point down instead of up (VWAP below the price).
    pub(crate) vwap_below: bool,
    /// Volume of the sweep candle.
    pub(crate) sweep_volume: &'static str,
    /// How far above the swept level the sweep candle closes; close to the level puts the
    /// close in the lower part of its range, a negative CVD delta.
    pub(crate) close_above_level: &'static str,
}

impl Default for SweepTape {
    fn default() -> Self {
        Self {
            mirror: false,
            falling: false,
            vwap_below: false,
            sweep_volume: "30",
            close_above_level: "0.15",
        }
    }
}

/// 46 heavy-volume candles around 100 with long wicks (they set the VWAP), 14 quiet
/// candles drifting by 0.02, then a candle that sweeps the previous 10 lows by 0.2 and
/// closes `close_above_level` (0.15) above that level. Returns the sweep candle's decision.
pub(crate) fn sweep<S: Strategy>(feed: &mut Feed<S>, tape: SweepTape) -> Decision {
    let axis = dec("200");
    let mut close = dec("100");
    for i in 0..46 {
        let open = close;
        close = if i % 2 == 0 {
            dec("100.02")
        } else {
            dec("100")
        };
        let (high, low) = if tape.vwap_below {
            (dec("100.2"), dec("97"))
        } else {
            (dec("103"), dec("99.8"))
        };
        feed.bar_mirrored(tape.mirror, axis, [open, high, low, close, dec("100")]);
    }
    let drift = if tape.falling {
        dec("-0.02")
    } else {
        dec("0.02")
    };
    close = dec("99.9");
    let mut lows = Vec::new();
    for _ in 0..14 {
        let open = close;
        close = open + drift;
        let (high, low) = (open.max(close) + dec("0.03"), open.min(close) - dec("0.03"));
        lows.push(low);
        feed.bar_mirrored(tape.mirror, axis, [open, high, low, close, dec("1")]);
    }
    let level = lows[lows.len() - 10..].iter().copied().min().unwrap();
    let open = close;
    let sweep_close = level + dec(tape.close_above_level);
    let high = open.max(sweep_close) + dec("0.02");
    feed.bar_mirrored(
        tape.mirror,
        axis,
        [
            open,
            high,
            level - dec("0.2"),
            sweep_close,
            dec(tape.sweep_volume),
        ],
    )
}

/// Asserts the decision carries a market order.
pub(crate) fn expect_market(decision: &Decision) {
    let order = decision
        .order()
        .unwrap_or_else(|| panic!("no order: {decision:#?}"));
    assert_eq!(order.kind, OrderKind::Market);
}
