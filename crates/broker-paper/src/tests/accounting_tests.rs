//! Accounting: FIFO lots, PnL net of fees, R multiple, equity statistics, mark to market.

use la_core::{Broker, ExitReason, Side};

use super::*;
use crate::{
    BrokerConfig,
    accounting::{realize_fifo, record_equity},
    state::{Counters, LotState},
};

fn lot(price: &str, size: &str, fee: &str, at: i64) -> LotState {
    LotState {
        price: px(price),
        qty: qty(size),
        fee: d(fee),
        ts: ts(at),
    }
}

#[test]
fn fifo_consumes_the_oldest_lots_first_and_splits_a_fee_pro_rata() {
    let mut lots = vec![
        lot("100", "1", "0.06", 0),
        lot("110", "2", "0.132", 1),
        lot("120", "1", "0.072", 2),
    ];
    let realized = realize_fifo(&mut lots, Side::Long, px("90"), px("130"), d("2")).unwrap();
    // 1 @ 100 and 1 @ 110: gross 30 + 20.
    assert_eq!(realized.qty, d("2"));
    assert_eq!(realized.gross, d("50"));
    assert_eq!(realized.entry_fees, d("0.06") + d("0.066"));
    assert_eq!(realized.cost, d("210"));
    assert_eq!(realized.risk, d("10") + d("20"));
    assert_eq!(lots.len(), 2);
    assert_eq!(
        (lots[0].price, lots[0].qty, lots[0].fee),
        (px("110"), qty("1"), d("0.066"))
    );
    // The total fee is preserved exactly across the split.
    let left: rust_decimal::Decimal = lots.iter().map(|l| l.fee).sum();
    assert_eq!(
        left + realized.entry_fees,
        d("0.06") + d("0.132") + d("0.072")
    );
}

#[test]
fn fifo_for_a_short_and_an_oversized_close_is_a_breach() {
    let mut lots = vec![lot("100", "1", "0", 0)];
    let realized = realize_fifo(&mut lots, Side::Short, px("110"), px("95"), d("1")).unwrap();
    assert_eq!(realized.gross, d("5"));
    assert!(lots.is_empty());
    let mut one = vec![lot("100", "1", "0", 0)];
    assert!(realize_fifo(&mut one, Side::Long, px("90"), px("95"), d("2")).is_err());
}

#[test]
fn realized_equity_peak_and_drawdown_follow_each_exit() {
    let mut b = broker(quiet_config());
    // Win: TP at 100450 → +3.6991.
    submit(
        &mut b,
        market("w", Side::Long, "0.01", "100000", "99700", Some("100450")),
        0,
    );
    on_tick(&mut b, quote(1, "100450", "100451"));
    // Loss: stop at 99700 → −3 − 0.6 − 0.5982 = −4.1982.
    submit(
        &mut b,
        market("l", Side::Long, "0.01", "100000", "99700", Some("100450")),
        2,
    );
    on_tick(&mut b, quote(3, "99700", "99701"));
    let stats = b.stats();
    assert_eq!((stats.trades, stats.wins, stats.losses), (2, 1, 1));
    assert_eq!(stats.realized_pnl, d("3.6991") - d("4.1982"));
    assert_eq!(stats.peak_equity, d("10003.6991"));
    assert_eq!(stats.max_drawdown, d("4.1982"));
    assert_eq!(stats.max_drawdown_frac, d("4.1982") / d("10003.6991"));
    assert_eq!(
        stats.fees_paid,
        d("0.6") + d("0.2009") + d("0.6") + d("0.5982")
    );
    assert_eq!(b.equity(), d("10000") + stats.realized_pnl);
    assert_eq!(b.closed_trades().len(), 2);
    b.check_invariants().unwrap();
}

#[test]
fn breakeven_trades_are_counted_apart() {
    let mut b = broker(BrokerConfig {
        spec: crate::InstrumentSpec {
            maker_fee: d("0"),
            taker_fee: d("0"),
            ..crate::InstrumentSpec::btcusdt()
        },
        ..quiet_config()
    });
    submit(
        &mut b,
        market("be", Side::Long, "0.01", "100000", "99700", None),
        0,
    );
    let mut events = Vec::new();
    b.close_position(px("100000"), ts(1), ExitReason::ForceClose, &mut events)
        .unwrap();
    let stats = b.stats();
    assert_eq!(
        (stats.trades, stats.wins, stats.losses, stats.breakeven),
        (1, 0, 0, 1)
    );
}

#[test]
fn drawdown_statistics_track_the_peak() {
    let mut counters = Counters {
        peak_equity: d("100"),
        ..Counters::default()
    };
    record_equity(&mut counters, d("120"));
    record_equity(&mut counters, d("90"));
    record_equity(&mut counters, d("130"));
    record_equity(&mut counters, d("110"));
    assert_eq!(counters.peak_equity, d("130"));
    assert_eq!(counters.max_drawdown, d("30"));
    assert_eq!(counters.max_drawdown_frac, d("0.25"));
}

#[test]
fn mark_to_market_adds_open_pnl_net_of_entry_fees() {
    let b = long_at_100k(quiet_config());
    assert_eq!(
        b.mark_to_market(px("100100")),
        d("10000") + d("1") - d("0.6")
    );
    let s = short_at_100k(quiet_config());
    assert_eq!(
        s.mark_to_market(px("100100")),
        d("10000") - d("1") - d("0.6")
    );
    assert_eq!(broker(quiet_config()).mark_to_market(px("1")), d("10000"));
}

#[test]
fn the_position_view_reports_average_entry_and_protection() {
    let b = long_at_100k(quiet_config());
    let position = b.position().unwrap();
    assert_eq!(position.side, Side::Long);
    assert_eq!(position.avg_entry, d("100000"));
    assert_eq!(position.qty, qty("0.01"));
    assert_eq!(position.client_order_id, id("long-1"));
    assert_eq!(position.opened_at, ts(0));
}
