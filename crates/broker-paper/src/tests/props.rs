//! Property tests: over random price paths (with jumps that liquidate) and order sequences
//! at random leverage, the invariants always hold (checked by the broker *and* recomputed
//! here from the events: the equity identity including liquidations, a liquidation never
//! losing more than its margin), ids never fill twice, snapshots restore identically; and
//! realized PnL does not depend on how a fill is split.

use std::collections::HashMap;

use la_core::{
    Broker, BrokerEvent, Candle, ExitReason, Interval, Leverage, OrderIntent, OrderKind, OrderSpec,
    Side,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::{BrokerConfig, BrokerState, MarketFillModel, PaperBroker, TrailingConfig};

#[derive(Clone, Debug)]
enum Action {
    Tick {
        dollars: i32,
        spread_ticks: u8,
        gap_ms: u16,
    },
    Candle {
        gap: i32,
        body: i32,
        up: u16,
        down: u16,
        volume_milli: u16,
    },
    Order {
        long: bool,
        limit_offset: Option<i16>,
        qty_steps: u16,
        stop: u16,
        target: Option<u16>,
        leverage: u8,
    },
    Resubmit {
        pick: u8,
    },
    Funding {
        rate_bp: i8,
    },
    Close,
    Cancel,
    Restart,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (-150i32..150, 0u8..20, 1u16..20_000)
            .prop_map(|(dollars, spread_ticks, gap_ms)| Action::Tick { dollars, spread_ticks, gap_ms }),
        2 => (-20_000i32..20_000, 0u8..20, 1u16..20_000)
            .prop_map(|(dollars, spread_ticks, gap_ms)| Action::Tick { dollars, spread_ticks, gap_ms }),
        3 => (prop_oneof![3 => Just(0i32), 1 => -20_000i32..20_000], -400i32..400, 0u16..400, 0u16..400, 0u16..200)
            .prop_map(|(gap, body, up, down, volume_milli)| Action::Candle { gap, body, up, down, volume_milli }),
        4 => (
            any::<bool>(),
            prop::option::of(-300i16..300),
            1u16..400,
            prop_oneof![20u16..1000, 20u16..9000],
            prop::option::of(20u16..2500),
            prop_oneof![1u8..25, 15u8..25],
        )
            .prop_map(|(long, limit_offset, qty_steps, stop, target, leverage)| Action::Order {
                long, limit_offset, qty_steps, stop, target, leverage,
            }),
        1 => any::<u8>().prop_map(|pick| Action::Resubmit { pick }),
        1 => (-20i8..20).prop_map(|rate_bp| Action::Funding { rate_bp }),
        2 => Just(Action::Close),
        1 => Just(Action::Cancel),
        1 => Just(Action::Restart),
    ]
}

fn config() -> impl Strategy<Value = BrokerConfig> {
    (
        prop::sample::select(vec![0i64, 700]),
        prop::option::of(prop::sample::select(vec!["0.05", "0.2", "1"])),
        prop::sample::select(vec!["0", "3"]),
        prop::sample::select(vec!["0", "1"]),
        any::<bool>(),
        prop::option::of(1u32..6),
        any::<bool>(),
        any::<u64>(),
        prop::sample::select(vec!["200", "100000"]),
    )
        .prop_map(
            |(latency_ms, cap, jitter, slip, trail, max_bars, latest, seed, risk_cap)| {
                BrokerConfig {
                    latency_ms,
                    liquidity_cap_frac: cap.map(d),
                    slippage_jitter_bps: d(jitter),
                    slippage_bps: d(slip),
                    trailing: trail.then(|| TrailingConfig {
                        activation_r: d("0.5"),
                        distance_r: d("1"),
                    }),
                    max_bars_open: max_bars,
                    market_fill: if latest {
                        MarketFillModel::LatestTick
                    } else {
                        MarketFillModel::DecisionPrice
                    },
                    seed,
                    max_risk_per_trade: d(risk_cap),
                    max_orders_per_minute: 1_000,
                    daily_loss_limit_frac: d("1"),
                    ..BrokerConfig::default()
                }
            },
        )
}

/// The test's own ledger, rebuilt from events only.
#[derive(Default)]
struct Ledger {
    realized: Decimal,
    funding: Decimal,
    filled: HashMap<String, Decimal>,
    requested: HashMap<String, Decimal>,
    exited: HashMap<String, u32>,
    liquidations: u64,
}

impl Ledger {
    fn absorb(&mut self, events: &[BrokerEvent]) {
        for event in events {
            match event {
                BrokerEvent::Filled(fill) => {
                    let key = fill.client_order_id.to_string();
                    assert_eq!(self.exited.get(&key), None, "{key} filled after its exit");
                    *self.filled.entry(key).or_default() += fill.qty.get();
                }
                BrokerEvent::Exited(exit) => {
                    self.realized += exit.pnl_net;
                    if exit.reason == ExitReason::Liquidation {
                        self.liquidations += 1;
                        assert_eq!(exit.exit_price, exit.liquidation_price, "{exit:?}");
                        let margin = exit.entry_price * exit.qty.get() / exit.leverage.as_decimal();
                        assert!(
                            -exit.pnl_net <= margin,
                            "lost more than the margin: {exit:?}"
                        );
                    }
                    *self
                        .exited
                        .entry(exit.client_order_id.to_string())
                        .or_default() += 1;
                }
                BrokerEvent::FundingApplied { amount, .. } => self.funding += *amount,
                _ => {}
            }
        }
    }
}

struct World {
    broker: PaperBroker,
    config: BrokerConfig,
    now: i64,
    mid: Decimal,
    orders: Vec<OrderIntent>,
    ledger: Ledger,
}

impl World {
    fn step(&mut self, action: &Action) {
        let mut events = Vec::new();
        match action {
            Action::Tick {
                dollars,
                spread_ticks,
                gap_ms,
            } => {
                self.now += i64::from(*gap_ms);
                self.mid = (self.mid + Decimal::from(*dollars)).max(d("1000"));
                let ask = self.mid + Decimal::new(i64::from(*spread_ticks), 1);
                let tick = Tick::new(
                    btc(),
                    ts(self.now),
                    Price::new(self.mid).unwrap(),
                    Some(Price::new(self.mid).unwrap()),
                    Some(Price::new(ask).unwrap()),
                )
                .unwrap();
                self.broker.on_tick(&tick, &mut events).unwrap();
            }
            Action::Candle {
                gap,
                body,
                up,
                down,
                volume_milli,
            } => {
                let open_time = self.now - self.now.rem_euclid(MINUTE);
                let open = (self.mid + Decimal::from(*gap)).max(d("1000"));
                let close = (open + Decimal::from(*body)).max(d("1000"));
                let high = open.max(close) + Decimal::from(*up);
                let low = (open.min(close) - Decimal::from(*down)).max(d("500"));
                let candle = Candle::new(
                    Interval::M1,
                    TimestampMs::new(T0 + open_time).unwrap(),
                    Price::new(open).unwrap(),
                    Price::new(high).unwrap(),
                    Price::new(low).unwrap(),
                    Price::new(close).unwrap(),
                    Volume::new(Decimal::new(i64::from(*volume_milli), 3)).unwrap(),
                )
                .unwrap();
                self.now = open_time + MINUTE;
                self.mid = close;
                self.broker.on_candle(&candle, &mut events).unwrap();
            }
            Action::Order {
                long,
                limit_offset,
                qty_steps,
                stop,
                target,
                leverage,
            } => {
                let side = if *long { Side::Long } else { Side::Short };
                let entry = match limit_offset {
                    Some(offset) => self.mid + Decimal::from(*offset),
                    None => self.mid,
                };
                let sign = side.sign();
                let stop_price = (entry - sign * Decimal::from(*stop)).max(d("1"));
                // A short's target below zero is no price: floored like the stop.
                let target_price = target
                    .map(|t| Price::new((entry + sign * Decimal::from(t)).max(d("1"))).unwrap());
                let kind = match limit_offset {
                    Some(_) => OrderKind::Limit {
                        price: Price::new(entry).unwrap(),
                    },
                    None => OrderKind::Market,
                };
                let order_id = format!("o{}", self.orders.len());
                let quantity = Decimal::new(i64::from(*qty_steps), 4);
                let order = OrderIntent::new(OrderSpec {
                    client_order_id: id(&order_id),
                    side,
                    kind,
                    qty: Qty::new(quantity).unwrap(),
                    entry_reference: Price::new(entry).unwrap(),
                    stop_loss: Price::new(stop_price).unwrap(),
                    take_profit: target_price,
                    leverage: Leverage::new(u32::from(*leverage)).unwrap(),
                })
                .unwrap();
                self.ledger.requested.insert(order_id, quantity);
                self.orders.push(order.clone());
                self.broker
                    .submit(order, ts(self.now), &mut events)
                    .unwrap();
            }
            Action::Resubmit { pick } => {
                if !self.orders.is_empty() {
                    let order = self.orders[usize::from(*pick) % self.orders.len()].clone();
                    self.broker
                        .submit(order, ts(self.now), &mut events)
                        .unwrap();
                    assert_eq!(
                        rejections(&events),
                        vec![la_core::OrderRejectReason::DuplicateClientOrderId]
                    );
                }
            }
            Action::Funding { rate_bp } => {
                self.now += 1;
                let rate = Decimal::new(i64::from(*rate_bp), 4);
                let mark = Price::new(self.mid).unwrap();
                self.broker
                    .apply_funding(ts(self.now), rate, mark, &mut events)
                    .unwrap();
            }
            Action::Close => {
                let price = Price::new(self.mid).unwrap();
                self.broker
                    .close_position(price, ts(self.now), ExitReason::ForceClose, &mut events)
                    .unwrap();
            }
            Action::Cancel => self.broker.cancel_all(ts(self.now), &mut events),
            Action::Restart => {
                let json = serde_json::to_string(&self.broker.state()).unwrap();
                let state: BrokerState = serde_json::from_str(&json).unwrap();
                assert_eq!(state, self.broker.state());
                let restored = PaperBroker::from_state(self.config.clone(), state).unwrap();
                assert_eq!(restored.state(), self.broker.state());
                self.broker = restored;
            }
        }
        self.ledger.absorb(&events);
        self.check();
    }

    fn check(&self) {
        self.broker.check_invariants().unwrap();
        assert!(!self.broker.is_halted());
        let expected = self.config.starting_balance + self.ledger.realized + self.ledger.funding;
        assert_eq!(self.broker.equity(), expected, "equity from events");
        assert_eq!(self.broker.stats().liquidations, self.ledger.liquidations);
        for (order_id, filled) in &self.ledger.filled {
            let requested = self.ledger.requested[order_id];
            assert!(
                *filled <= requested,
                "{order_id} filled {filled} of {requested}"
            );
            assert!(self.ledger.exited.get(order_id).copied().unwrap_or(0) <= 1);
        }
        let state = self.broker.state();
        if let Some(position) = &state.position {
            let lots: Decimal = position.lots.iter().map(|l| l.qty.get()).sum();
            let view = self.broker.position().unwrap();
            assert_eq!(view.qty.get(), lots, "qty == Σ lots");
            assert_eq!(view.stop_loss, position.stop, "the stop is always there");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_over_random_paths_and_orders(
        config in config(),
        actions in prop::collection::vec(action(), 1..80),
    ) {
        let mut world = World {
            broker: PaperBroker::new(config.clone()).unwrap(),
            config,
            now: 0,
            mid: d("100000"),
            orders: Vec::new(),
            ledger: Ledger::default(),
        };
        for action in &actions {
            world.step(action);
        }
    }

    #[test]
    fn pnl_does_not_depend_on_how_a_fill_is_split(
        long in any::<bool>(),
        qty_steps in 1i64..200,
        limit_dollars in 20_000i64..150_000,
        cap_pct in 5i64..100,
        volume_milli in 5i64..50,
        exit_offset in -3_000i64..3_000,
        jitter in prop::sample::select(vec!["0", "4"]),
        seed in any::<u64>(),
    ) {
        let side = if long { Side::Long } else { Side::Short };
        let limit_price = Decimal::from(limit_dollars);
        let base = BrokerConfig {
            slippage_jitter_bps: d(jitter),
            seed,
            trailing: None,
            max_risk_per_trade: d("100000"),
            ..BrokerConfig::default()
        };
        let split = BrokerConfig { liquidity_cap_frac: Some(Decimal::new(cap_pct, 2)), ..base.clone() };
        let mut whole = PaperBroker::new(base).unwrap();
        let mut parts = PaperBroker::new(split).unwrap();
        let stop = limit_price - side.sign() * d("500");
        let order = OrderIntent::new(OrderSpec {
                client_order_id: id("split"),
                side,
                kind: OrderKind::Limit { price: Price::new(limit_price).unwrap() },
                qty: Qty::new(Decimal::new(qty_steps, 4)).unwrap(),
                entry_reference: Price::new(limit_price).unwrap(),
                stop_loss: Price::new(stop).unwrap(),
                take_profit: None,
                leverage: leverage(),
            }).unwrap();
        let mut events = Vec::new();
        whole.submit(order.clone(), ts(0), &mut events).unwrap();
        parts.submit(order, ts(0), &mut events).unwrap();
        // Candles that touch the limit exactly and stay far from the stop.
        let away = side.sign() * d("5");
        let (o, h, l, c) = if long {
            (limit_price + away, limit_price + d("10"), limit_price, limit_price + away)
        } else {
            (limit_price + away, limit_price, limit_price - d("10"), limit_price + away)
        };
        let mut n_fills = 0;
        let mut k = 0;
        while parts.working_order_id().is_some() && k < 400 {
            let candle = Candle::new(
                Interval::M1, ts(k * MINUTE), Price::new(o).unwrap(), Price::new(h).unwrap(),
                Price::new(l).unwrap(), Price::new(c).unwrap(),
                Volume::new(Decimal::new(volume_milli, 3)).unwrap(),
            ).unwrap();
            let mut ev = Vec::new();
            whole.on_candle(&candle, &mut ev).unwrap();
            let mut pv = Vec::new();
            parts.on_candle(&candle, &mut pv).unwrap();
            n_fills += fills(&pv).len();
            k += 1;
        }
        prop_assert!(parts.working_order_id().is_none(), "split order never completed");
        prop_assert_eq!(whole.position().unwrap().qty, parts.position().unwrap().qty);
        let exit = Price::new(limit_price + Decimal::from(exit_offset)).unwrap();
        let mut a = Vec::new();
        whole.close_position(exit, ts((k + 1) * MINUTE), ExitReason::EndOfData, &mut a).unwrap();
        let mut b = Vec::new();
        parts.close_position(exit, ts((k + 1) * MINUTE), ExitReason::EndOfData, &mut b).unwrap();
        let (ea, eb) = (only_exit(&a), only_exit(&b));
        prop_assert_eq!(ea.pnl_net, eb.pnl_net, "split into {} fills", n_fills);
        prop_assert_eq!(ea.fees, eb.fees);
        prop_assert_eq!(ea.r_multiple, eb.r_multiple);
        prop_assert_eq!(ea.entry_price, eb.entry_price);
        prop_assert_eq!(whole.equity(), parts.equity());
        prop_assert_eq!(whole.stats().fees_paid, parts.stats().fees_paid);
    }
}
