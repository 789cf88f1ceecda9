//! Exits: every-tick stop/target on the right side of the book, level fills and slippage,
//! conservative candle rules, trailing stops, max bars and the forced close.

use la_core::{Broker, BrokerEvent, ExitReason, Side};

use super::*;
use crate::{BrokerConfig, TrailingConfig};

fn trailing(activation: &str, distance: &str) -> BrokerConfig {
    BrokerConfig {
        trailing: Some(TrailingConfig {
            activation_r: d(activation),
            distance_r: d(distance),
        }),
        ..quiet_config()
    }
}

#[test]
fn long_stop_checked_on_bid_short_on_ask() {
    let mut long = long_at_100k(quiet_config());
    // The last trade printed below the stop, but the bid (what a seller gets) did not.
    let t = Tick::new(
        btc(),
        ts(1),
        px("99600"),
        Some(px("99700.1")),
        Some(px("99700.2")),
    )
    .unwrap();
    assert!(on_tick(&mut long, t).is_empty());
    let events = on_tick(&mut long, quote(2, "99700", "99700.5"));
    let exit = only_exit(&events);
    assert_eq!(
        (exit.reason, exit.exit_price),
        (ExitReason::StopLoss, px("99700"))
    );

    let mut short = short_at_100k(quiet_config());
    let t = Tick::new(
        btc(),
        ts(1),
        px("100400"),
        Some(px("100299.8")),
        Some(px("100299.9")),
    )
    .unwrap();
    assert!(on_tick(&mut short, t).is_empty(), "ask below the stop");
    let events = on_tick(&mut short, quote(2, "100299.9", "100300"));
    assert_eq!(only_exit(&events).reason, ExitReason::StopLoss);
}

#[test]
fn a_tick_without_a_book_is_checked_on_its_last_price() {
    let mut long = long_at_100k(quiet_config());
    let events = on_tick(&mut long, last_only(1, "100450"));
    assert_eq!(only_exit(&events).reason, ExitReason::TakeProfit);
    let mut short = short_at_100k(quiet_config());
    let events = on_tick(&mut short, last_only(1, "100300"));
    assert_eq!(only_exit(&events).reason, ExitReason::StopLoss);
}

#[test]
fn a_tick_stop_fills_at_the_level_then_slips_adversely() {
    let mut b = long_at_100k(BrokerConfig {
        slippage_bps: d("1"),
        ..quiet_config()
    });
    // Entry 100000 × 1.0001 = 100010. The bid gapped to 99650, but the fill is at the level.
    let exit = only_exit(&on_tick(&mut b, quote(1, "99650", "99651")));
    // 99700 × 0.9999 = 99690.03 → down to 99690.0; taker fees on both sides.
    assert_eq!(exit.exit_price, px("99690"));
    let entry_fee = d("100010") * d("0.01") * d("0.0006");
    let exit_fee = d("99690") * d("0.01") * d("0.0006");
    assert_eq!(exit.fees, entry_fee + exit_fee);
    assert_eq!(exit.pnl_net, d("-3.2") - entry_fee - exit_fee);
    assert_eq!(exit.r_multiple, exit.pnl_net / d("3.1"));
}

#[test]
fn a_take_profit_fills_at_the_level_without_slippage_at_the_maker_fee() {
    let mut b = long_at_100k(quiet_config());
    let exit = only_exit(&on_tick(&mut b, quote(1, "100460", "100461")));
    assert_eq!(
        (exit.reason, exit.exit_price),
        (ExitReason::TakeProfit, px("100450"))
    );
    // gross 4.5; fees 0.6 (taker entry) + 0.2009 (maker exit).
    assert_eq!(exit.pnl_net, d("3.6991"));
    assert_eq!(exit.r_multiple, d("3.6991") / d("3"));
    assert_eq!(b.equity(), d("10003.6991"));
}

#[test]
fn both_levels_in_one_bar_exits_at_stop_and_counts_ambiguous() {
    let mut b = long_at_100k(quiet_config());
    on_candle(
        &mut b,
        candle(0, "100000", "100100", "99900", "100000", "1"),
    );
    let exit = only_exit(&on_candle(
        &mut b,
        candle(1, "100000", "100500", "99600", "100100", "1"),
    ));
    assert_eq!(
        (exit.reason, exit.exit_price),
        (ExitReason::CandleAmbiguousStop, px("99700"))
    );
    assert_eq!(exit.ts, ts(2 * MINUTE));
    assert_eq!(b.stats().ambiguous_bars, 1);
}

#[test]
fn gap_through_stop_fills_at_open() {
    let mut b = long_at_100k(quiet_config());
    on_candle(
        &mut b,
        candle(0, "100000", "100100", "99900", "100000", "1"),
    );
    let exit = only_exit(&on_candle(
        &mut b,
        candle(1, "99500", "99800", "99400", "99600", "1"),
    ));
    assert_eq!(
        (exit.reason, exit.exit_price),
        (ExitReason::CandleStopLoss, px("99500"))
    );
    // A short gapped through from below.
    let mut s = short_at_100k(quiet_config());
    on_candle(
        &mut s,
        candle(0, "100000", "100100", "99900", "100000", "1"),
    );
    let exit = only_exit(&on_candle(
        &mut s,
        candle(1, "100400", "100500", "100350", "100450", "1"),
    ));
    assert_eq!(
        (exit.reason, exit.exit_price),
        (ExitReason::CandleStopLoss, px("100400"))
    );
    assert_eq!(s.stats().ambiguous_bars, 0);
}

#[test]
fn gap_beyond_target_fills_at_open_and_a_touch_at_the_target() {
    let mut b = long_at_100k(quiet_config());
    on_candle(
        &mut b,
        candle(0, "100000", "100100", "99900", "100000", "1"),
    );
    let exit = only_exit(&on_candle(
        &mut b,
        candle(1, "100600", "100700", "100550", "100650", "1"),
    ));
    assert_eq!(
        (exit.reason, exit.exit_price),
        (ExitReason::CandleTakeProfit, px("100600"))
    );
    let mut t = long_at_100k(quiet_config());
    on_candle(
        &mut t,
        candle(0, "100000", "100100", "99900", "100000", "1"),
    );
    let exit = only_exit(&on_candle(
        &mut t,
        candle(1, "100100", "100500", "100050", "100400", "1"),
    ));
    assert_eq!(
        (exit.reason, exit.exit_price),
        (ExitReason::CandleTakeProfit, px("100450"))
    );
}

#[test]
fn a_stop_on_a_candle_slips_like_a_tick_stop() {
    let config = BrokerConfig {
        slippage_bps: d("1"),
        ..quiet_config()
    };
    let mut b = long_at_100k(config);
    on_candle(
        &mut b,
        candle(0, "100010", "100100", "99900", "100000", "1"),
    );
    let exit = only_exit(&on_candle(
        &mut b,
        candle(1, "100000", "100100", "99650", "99800", "1"),
    ));
    assert_eq!(
        (exit.reason, exit.exit_price),
        (ExitReason::CandleStopLoss, px("99690"))
    );
}

#[test]
fn on_the_entry_bar_only_the_stop_is_checked() {
    // Target touched in the bar that filled the limit: the touch may have come first.
    let mut b = broker(quiet_config());
    submit(
        &mut b,
        limit("e1", Side::Long, "0.01", "99900", "99600", Some("100100")),
        0,
    );
    let events = on_candle(
        &mut b,
        candle(0, "100000", "100200", "99850", "100000", "1"),
    );
    assert_eq!(fills(&events).len(), 1);
    assert!(exits(&events).is_empty(), "{events:?}");
    // The next full bar takes the target.
    let exit = only_exit(&on_candle(
        &mut b,
        candle(1, "100000", "100200", "99950", "100000", "1"),
    ));
    assert_eq!(exit.reason, ExitReason::CandleTakeProfit);

    // The stop in the entry bar is assumed to follow the fill.
    let mut s = broker(quiet_config());
    submit(
        &mut s,
        limit("e2", Side::Long, "0.01", "99900", "99600", Some("100100")),
        0,
    );
    let exit = only_exit(&on_candle(
        &mut s,
        candle(0, "100000", "100000", "99550", "99700", "1"),
    ));
    assert_eq!(
        (exit.reason, exit.exit_price),
        (ExitReason::CandleStopLoss, px("99600"))
    );
    // Both in the entry bar: the stop, counted as ambiguous.
    let mut a = broker(quiet_config());
    submit(
        &mut a,
        limit("e3", Side::Long, "0.01", "99900", "99600", Some("100100")),
        0,
    );
    let exit = only_exit(&on_candle(
        &mut a,
        candle(0, "100000", "100200", "99550", "99700", "1"),
    ));
    assert_eq!(exit.reason, ExitReason::CandleAmbiguousStop);
    assert_eq!(a.stats().ambiguous_bars, 1);
}

#[test]
fn a_position_opened_mid_bar_is_not_judged_on_the_bar_before_its_entry() {
    let mut b = broker(quiet_config());
    submit(
        &mut b,
        market("mid", Side::Long, "0.01", "100000", "99700", Some("100450")),
        30_000,
    );
    // This bar's high reached the target, possibly before the entry at 0:30.
    let events = on_candle(
        &mut b,
        candle(0, "100400", "100500", "99950", "100000", "1"),
    );
    assert!(exits(&events).is_empty());
    // A candle that closed before the entry is ignored entirely.
    let mut late = broker(quiet_config());
    submit(
        &mut late,
        market("late", Side::Long, "0.01", "100000", "99700", None),
        5 * MINUTE,
    );
    let events = on_candle(
        &mut late,
        candle(2, "100000", "100000", "99000", "99500", "1"),
    );
    assert!(exits(&events).is_empty());
    assert_eq!(late.state().position.unwrap().bars_open, 0);
}

#[test]
fn trailing_stop_activates_and_only_ratchets_forward() {
    let mut b = broker(trailing("1", "1"));
    submit(
        &mut b,
        market("tr", Side::Long, "0.01", "100000", "99700", None),
        0,
    );
    assert!(
        on_tick(&mut b, quote(1, "100200", "100201")).is_empty(),
        "0.67 R: not yet"
    );
    let events = on_tick(&mut b, quote(2, "100300", "100301"));
    assert!(
        matches!(events.as_slice(), [BrokerEvent::TrailingActivated { stop, .. }] if *stop == px("100000")),
        "{events:?}"
    );
    assert!(
        on_tick(&mut b, quote(3, "100500", "100501")).is_empty(),
        "no second activation"
    );
    assert_eq!(b.position().unwrap().stop_loss, px("100200"));
    on_tick(&mut b, quote(4, "100400", "100401"));
    assert_eq!(
        b.position().unwrap().stop_loss,
        px("100200"),
        "never moves back"
    );
    assert!(on_tick(&mut b, quote(5, "100250", "100251")).is_empty());
    let exit = only_exit(&on_tick(&mut b, quote(6, "100200", "100201")));
    assert_eq!(
        (exit.reason, exit.exit_price),
        (ExitReason::TrailingStop, px("100200"))
    );
    assert!(exit.pnl_net > d("0"));
}

#[test]
fn a_short_trailing_stop_rounds_up_to_the_tick() {
    let mut b = broker(trailing("1", "0.5"));
    submit(
        &mut b,
        market("ts", Side::Short, "0.01", "100000", "100333.3", None),
        0,
    );
    // R = 333.3: activation at 99666.7, distance 166.65.
    on_tick(&mut b, quote(1, "99599", "99600"));
    assert_eq!(
        b.position().unwrap().stop_loss,
        px("99766.7"),
        "99766.65 rounded up"
    );
    on_tick(&mut b, quote(2, "99699", "99700"));
    assert_eq!(b.position().unwrap().stop_loss, px("99766.7"));
    on_tick(&mut b, quote(3, "99499", "99500"));
    assert_eq!(b.position().unwrap().stop_loss, px("99666.7"));
    let exit = only_exit(&on_tick(&mut b, quote(4, "99666.6", "99666.7")));
    assert_eq!(
        (exit.reason, exit.exit_price),
        (ExitReason::TrailingStop, px("99666.7"))
    );
}

#[test]
fn trailing_ratchets_from_the_candle_close() {
    let mut b = broker(trailing("1", "1"));
    submit(
        &mut b,
        market("tc", Side::Long, "0.01", "100000", "99700", None),
        0,
    );
    // The high reached 1 R, but the close did not: not activated (conservative).
    on_candle(
        &mut b,
        candle(0, "100000", "100400", "99900", "100100", "1"),
    );
    assert_eq!(b.position().unwrap().stop_loss, px("99700"));
    let events = on_candle(
        &mut b,
        candle(1, "100100", "100500", "100050", "100400", "1"),
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, BrokerEvent::TrailingActivated { .. }))
    );
    assert_eq!(b.position().unwrap().stop_loss, px("100100"));
}

#[test]
fn max_bars_open_exits_at_the_close() {
    let mut b = long_at_100k(BrokerConfig {
        max_bars_open: Some(3),
        ..quiet_config()
    });
    assert!(
        exits(&on_candle(
            &mut b,
            candle(0, "100000", "100100", "99900", "100010", "1")
        ))
        .is_empty()
    );
    assert!(
        exits(&on_candle(
            &mut b,
            candle(1, "100000", "100100", "99900", "100020", "1")
        ))
        .is_empty()
    );
    let exit = only_exit(&on_candle(
        &mut b,
        candle(2, "100000", "100100", "99900", "100030", "1"),
    ));
    assert_eq!(
        (exit.reason, exit.exit_price),
        (ExitReason::MaxBarsOpen, px("100030"))
    );
}

#[test]
fn close_position_force_closes_with_adverse_slippage() {
    let mut b = long_at_100k(BrokerConfig {
        slippage_bps: d("1"),
        ..quiet_config()
    });
    let mut events = Vec::new();
    b.close_position(px("100000"), ts(5), ExitReason::ForceClose, &mut events)
        .unwrap();
    let exit = only_exit(&events);
    assert_eq!(
        (exit.reason, exit.exit_price),
        (ExitReason::ForceClose, px("99990"))
    );
    assert!(b.position().is_none());
    // Flat: nothing to do, no event.
    let mut none = Vec::new();
    b.close_position(px("100000"), ts(6), ExitReason::EndOfData, &mut none)
        .unwrap();
    assert!(none.is_empty());
}

#[test]
fn ticks_for_another_symbol_are_ignored_and_counted() {
    let mut b = long_at_100k(quiet_config());
    let eth = Tick::new(
        Symbol::new("ETHUSDT").unwrap(),
        ts(1),
        px("3000"),
        None,
        None,
    )
    .unwrap();
    assert!(on_tick(&mut b, eth).is_empty());
    assert!(b.position().is_some());
    assert_eq!(b.stats().ignored_ticks, 1);
}

#[test]
fn a_quiet_tick_with_an_open_position_leaves_the_event_buffer_untouched() {
    let mut b = long_at_100k(BrokerConfig {
        trailing: None,
        ..quiet_config()
    });
    let mut events = Vec::with_capacity(4);
    let capacity = events.capacity();
    for i in 1..100 {
        b.on_tick(&quote(i, "100010", "100011"), &mut events)
            .unwrap();
    }
    assert!(events.is_empty());
    assert_eq!(events.capacity(), capacity);
    assert_eq!(b.last_price(), Some(px("100010")));
}

#[test]
fn a_trail_wider_than_the_initial_stop_never_loosens_it() {
    // Activation at 0.5 R (100150) with a 2 R distance: the raw trail (99550) would sit below
    // the initial stop (99700), so the stop stays where it is.
    let mut b = broker(trailing("0.5", "2"));
    submit(
        &mut b,
        market("wide", Side::Long, "0.01", "100000", "99700", None),
        0,
    );
    let events = on_tick(&mut b, quote(1, "100150", "100151"));
    assert!(
        matches!(events.as_slice(), [BrokerEvent::TrailingActivated { stop, .. }] if *stop == px("99700")),
        "{events:?}"
    );
    on_tick(&mut b, quote(2, "100200", "100201"));
    assert_eq!(b.position().unwrap().stop_loss, px("99700"));
    on_tick(&mut b, quote(3, "100400", "100401"));
    assert_eq!(
        b.position().unwrap().stop_loss,
        px("99800"),
        "moves once the trail passes it"
    );
    let mut s = broker(trailing("0.5", "2"));
    submit(
        &mut s,
        market("wide-s", Side::Short, "0.01", "100000", "100300", None),
        0,
    );
    on_tick(&mut s, quote(1, "99849", "99850"));
    assert_eq!(s.position().unwrap().stop_loss, px("100300"));
}
