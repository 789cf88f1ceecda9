//! The engine behind its plausibility guard: a 1/1000 or 1000× tick fires no exit, a kline
//! closing at 1/1000 is never decided, sized, filled or used for a bar exit, a funding mark
//! price at 1/1000 is not settled at, everything is counted, and trading goes on after.

use la_core::{
    Broker, BrokerEvent, Candle, Decimal, Interval, Price, Provenance, ReadOutcome, Tick, Volume,
};

use super::engine_tests::{AlwaysLong, Recorder, candles, engine_with, fills, symbol};
use crate::{
    engine::{Engine, Outcome},
    funding::FundingRateSource,
};

fn exits(events: &[BrokerEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, BrokerEvent::Exited(_)))
        .count()
}

fn times(price: Price, factor: Decimal) -> Price {
    Price::new((price.get() * factor).round_dp(1)).expect("price")
}

/// An engine that went long on the first of `bars` (AlwaysLong), with the sink.
fn long_position(bars: &[Candle]) -> (Engine, Recorder) {
    let _ = AlwaysLong;
    let mut engine = engine_with(None, 0, None);
    let mut sink = Recorder::default();
    engine
        .on_candle_closed(&bars[0], Provenance::Live, bars[0].close_time(), &mut sink)
        .expect("candle");
    assert_eq!(fills(&sink.events), 1);
    (engine, sink)
}

#[test]
fn thousandth_and_thousandfold_ticks_fire_no_stop_and_no_target() {
    let bars = candles(3);
    let (mut engine, mut sink) = long_position(&bars);
    let entry = Price::new(engine.broker().position().expect("position").avg_entry).expect("entry");
    let at = |ms: i64| bars[1].open_time().checked_add_ms(ms).expect("ts");
    for (ms, factor) in [(1_000, Decimal::new(1, 3)), (2_000, Decimal::ONE_THOUSAND)] {
        let tick = Tick::new(symbol(), at(ms), times(entry, factor), None, None).expect("tick");
        engine.on_tick(&tick, &mut sink).expect("tick");
    }
    assert_eq!(exits(&sink.events), 0, "no exit at an implausible price");
    assert!(engine.broker().position().is_some());
    assert_eq!(engine.counters().implausible_price, 2);
    assert_ne!(
        engine.last_price(),
        Some(times(entry, Decimal::ONE_THOUSAND))
    );
    // A real move to the stop still exits, at the stop.
    let stop = engine.broker().position().expect("position").stop_loss;
    let real = Price::new(stop.get() - Decimal::ONE).expect("price");
    engine
        .on_tick(
            &Tick::new(symbol(), at(3_000), real, None, None).expect("tick"),
            &mut sink,
        )
        .expect("tick");
    assert_eq!(exits(&sink.events), 1);
}

#[test]
fn a_kline_closing_at_a_thousandth_is_never_decided_sized_filled_or_used_for_a_bar_exit() {
    let bars = candles(4);
    let (mut engine, mut sink) = long_position(&bars);
    // The adversarial kline: a real open, a close (and low) at 1/1000: a bar exit at its low
    // would stop the long out.
    let real = bars[1];
    let bad_close = times(real.close(), Decimal::new(1, 3));
    let kline = Candle::new(
        Interval::M1,
        real.open_time(),
        real.open(),
        real.high(),
        bad_close,
        bad_close,
        Volume::ZERO,
    )
    .expect("kline");
    engine
        .on_candle_closed(&kline, Provenance::Live, kline.close_time(), &mut sink)
        .expect("candle");
    assert_eq!(sink.outcomes.last(), Some(&Outcome::ImplausiblePrice));
    assert_eq!(exits(&sink.events), 0, "no bar exit at the implausible low");
    assert_eq!(fills(&sink.events), 1, "no order sized or filled at it");
    assert_eq!(engine.counters().implausible_price, 1);
    assert_eq!(engine.counters().candles_closed, 1);
    // Flat, the same kline would have been traded on by a strategy that always buys.
    let mut flat = engine_with(None, 0, None);
    let mut flat_sink = Recorder::default();
    flat.on_candle_closed(
        &bars[0],
        Provenance::Live,
        bars[0].close_time(),
        &mut flat_sink,
    )
    .expect("candle");
    let stop = flat.broker().position().expect("position").stop_loss;
    let exit = Tick::new(
        symbol(),
        bars[1].open_time(),
        Price::new(stop.get() - Decimal::ONE).expect("p"),
        None,
        None,
    )
    .expect("tick");
    flat.on_tick(&exit, &mut flat_sink).expect("tick");
    assert!(flat.broker().position().is_none());
    flat.on_candle_closed(&kline, Provenance::Live, kline.close_time(), &mut flat_sink)
        .expect("candle");
    assert_eq!(
        fills(&flat_sink.events),
        1,
        "no entry sized from the implausible close"
    );
    // The next real candle is decided and traded as usual.
    flat.on_candle_closed(
        &bars[2],
        Provenance::Live,
        bars[2].close_time(),
        &mut flat_sink,
    )
    .expect("candle");
    assert_eq!(flat_sink.outcomes.last(), Some(&Outcome::Submitted));
    assert_eq!(fills(&flat_sink.events), 2);
}

#[test]
fn an_implausible_funding_mark_price_is_replaced_by_the_last_accepted_price() {
    let bars = candles(2);
    let (mut engine, mut sink) = long_position(&bars);
    let accepted = engine.last_price().expect("price");
    let bad = times(accepted, Decimal::new(1, 3));
    engine
        .settle_funding(
            bars[1].open_time(),
            Decimal::new(1, 4),
            bad,
            FundingRateSource::Assumed,
            &mut sink,
        )
        .expect("funding");
    let applied = sink.events.iter().find_map(|e| match e {
        BrokerEvent::FundingApplied { mark_price, .. } => Some(*mark_price),
        _ => None,
    });
    assert_eq!(applied, Some(accepted));
    assert_eq!(engine.counters().implausible_price, 1);
}

#[test]
fn a_quarantine_asks_for_a_rest_read_once_and_the_read_settles_it() {
    let bars = candles(2);
    let (mut engine, mut sink) = long_position(&bars);
    assert!(!engine.take_reference_read_request());
    let entry = engine.last_price().expect("price");
    let at = |ms: i64| bars[1].open_time().checked_add_ms(ms).expect("ts");
    let bad = Tick::new(
        symbol(),
        at(1_000),
        times(entry, Decimal::new(1, 3)),
        None,
        None,
    )
    .expect("tick");
    engine.on_tick(&bad, &mut sink).expect("tick");
    engine
        .on_tick(&bad_again(&bad, at(1_500)), &mut sink)
        .expect("tick");
    assert!(engine.take_reference_read_request(), "a quarantine started");
    assert!(
        !engine.take_reference_read_request(),
        "asked once per quarantine"
    );
    assert_eq!(engine.on_reference_read(entry), ReadOutcome::Refuted);
    assert_eq!(engine.counters().plausibility.refuted, 1);
    assert_eq!(engine.last_price(), Some(entry));
}

fn bad_again(bad: &Tick, at: la_core::TimestampMs) -> Tick {
    Tick::new(bad.symbol(), at, bad.last(), None, None).expect("tick")
}
