//! Unit, table and property tests for the paper broker, one file per rule area, plus the
//! shared builders below (prices as strings, times as offsets from 2024-01-01T00:00Z).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounting_tests;
mod config_tests;
mod exits_tests;
mod funding_tests;
mod margin_props;
mod margin_tests;
mod orders_tests;
mod persist_tests;
mod price_band_tests;
mod props;
mod restore_tests;
mod risk_tests;
mod state_tests;

use la_core::{
    Broker, BrokerEvent, Candle, ClientOrderId, Exit, Fill, Interval, Leverage, OrderIntent,
    OrderKind, OrderRejectReason, OrderSpec, Price, Qty, Side, Symbol, Tick, TimestampMs, Volume,
};
use rust_decimal::Decimal;

use crate::{BrokerConfig, MarketFillModel, PaperBroker};

/// 2024-01-01T00:00:00Z.
pub(super) const T0: i64 = 1_704_067_200_000;
pub(super) const MINUTE: i64 = 60_000;
pub(super) const DAY: i64 = 86_400_000;

/// The leverage the order builders below carry: 20×, so even a 200 000 notional (the maximum)
/// needs no more than the 10 000 starting balance as margin, and the liquidation price lies
/// about 4 % from the entry, far beyond the stops the rule tests use.
pub(super) fn leverage() -> Leverage {
    Leverage::new(20).unwrap()
}

pub(super) fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

pub(super) fn px(text: &str) -> Price {
    Price::new(d(text)).unwrap()
}

pub(super) fn qty(text: &str) -> Qty {
    Qty::new(d(text)).unwrap()
}

pub(super) fn ts(offset_ms: i64) -> TimestampMs {
    TimestampMs::new(T0 + offset_ms).unwrap()
}

pub(super) fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

pub(super) fn id(text: &str) -> ClientOrderId {
    ClientOrderId::new(text).unwrap()
}

/// A tick with bid and ask; `last` is the bid.
pub(super) fn quote(at: i64, bid: &str, ask: &str) -> Tick {
    Tick::new(btc(), ts(at), px(bid), Some(px(bid)), Some(px(ask))).unwrap()
}

/// A tick with only a last price (the Bitunix ticker shape).
pub(super) fn last_only(at: i64, last: &str) -> Tick {
    Tick::new(btc(), ts(at), px(last), None, None).unwrap()
}

/// The `index`-th one-minute candle after T0.
pub(super) fn candle(index: i64, o: &str, h: &str, l: &str, c: &str, volume: &str) -> Candle {
    Candle::new(
        Interval::M1,
        ts(index * MINUTE),
        px(o),
        px(h),
        px(l),
        px(c),
        Volume::new(d(volume)).unwrap(),
    )
    .unwrap()
}

pub(super) fn market(
    order_id: &str,
    side: Side,
    size: &str,
    reference: &str,
    stop: &str,
    target: Option<&str>,
) -> OrderIntent {
    OrderIntent::new(OrderSpec {
        client_order_id: id(order_id),
        side,
        kind: OrderKind::Market,
        qty: qty(size),
        entry_reference: px(reference),
        stop_loss: px(stop),
        take_profit: target.map(px),
        leverage: leverage(),
    })
    .unwrap()
}

pub(super) fn limit(
    order_id: &str,
    side: Side,
    size: &str,
    price: &str,
    stop: &str,
    target: Option<&str>,
) -> OrderIntent {
    OrderIntent::new(OrderSpec {
        client_order_id: id(order_id),
        side,
        kind: OrderKind::Limit { price: px(price) },
        qty: qty(size),
        entry_reference: px(price),
        stop_loss: px(stop),
        take_profit: target.map(px),
        leverage: leverage(),
    })
    .unwrap()
}

/// No slippage, no spread, no trailing, decision-price fills: numbers a test can compute by
/// hand. Fees stay at the BTCUSDT defaults.
pub(super) fn quiet_config() -> BrokerConfig {
    BrokerConfig {
        slippage_bps: Decimal::ZERO,
        half_spread_bps: Decimal::ZERO,
        market_fill: MarketFillModel::DecisionPrice,
        trailing: None,
        ..BrokerConfig::default()
    }
}

pub(super) fn broker(config: BrokerConfig) -> PaperBroker {
    PaperBroker::new(config).unwrap()
}

/// Submits and returns the events.
pub(super) fn submit(broker: &mut PaperBroker, order: OrderIntent, at: i64) -> Vec<BrokerEvent> {
    let mut events = Vec::new();
    broker.submit(order, ts(at), &mut events).unwrap();
    events
}

pub(super) fn on_tick(broker: &mut PaperBroker, tick: Tick) -> Vec<BrokerEvent> {
    let mut events = Vec::new();
    broker.on_tick(&tick, &mut events).unwrap();
    events
}

pub(super) fn on_candle(broker: &mut PaperBroker, candle: Candle) -> Vec<BrokerEvent> {
    let mut events = Vec::new();
    broker.on_candle(&candle, &mut events).unwrap();
    events
}

pub(super) fn rejections(events: &[BrokerEvent]) -> Vec<OrderRejectReason> {
    events
        .iter()
        .filter_map(|e| match e {
            BrokerEvent::OrderRejected { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

pub(super) fn fills(events: &[BrokerEvent]) -> Vec<Fill> {
    events
        .iter()
        .filter_map(|e| match e {
            BrokerEvent::Filled(fill) => Some(fill.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn exits(events: &[BrokerEvent]) -> Vec<Exit> {
    events
        .iter()
        .filter_map(|e| match e {
            BrokerEvent::Exited(exit) => Some(exit.clone()),
            _ => None,
        })
        .collect()
}

/// The single exit in `events`.
#[track_caller]
pub(super) fn only_exit(events: &[BrokerEvent]) -> Exit {
    let all = exits(events);
    assert_eq!(all.len(), 1, "expected one exit in {events:#?}");
    all.into_iter().next().unwrap()
}

/// A quiet broker holding a long 0.01 BTC filled at 100 000 (stop 99 700, target 100 450),
/// opened at T0.
pub(super) fn long_at_100k(config: BrokerConfig) -> PaperBroker {
    let mut broker = broker(config);
    let events = submit(
        &mut broker,
        market(
            "long-1",
            Side::Long,
            "0.01",
            "100000",
            "99700",
            Some("100450"),
        ),
        0,
    );
    assert_eq!(fills(&events).len(), 1, "{events:#?}");
    broker
}

/// The mirror: a short 0.01 BTC at 100 000 (stop 100 300, target 99 550).
pub(super) fn short_at_100k(config: BrokerConfig) -> PaperBroker {
    let mut broker = broker(config);
    let events = submit(
        &mut broker,
        market(
            "short-1",
            Side::Short,
            "0.01",
            "100000",
            "100300",
            Some("99550"),
        ),
        0,
    );
    assert_eq!(fills(&events).len(), 1, "{events:#?}");
    broker
}
