//! Engine tests: the warm-up gate, duplicate protection across a restart, exits that keep
//! working when trading is halted, and sizing that uses the configured costs.

use std::sync::{Arc, Mutex};

use la_broker_paper::BrokerState;
use la_core::{
    Broker, BrokerEvent, Candle, Decimal, Interval, OrderKind, Price, Provenance, Qty, Side,
    Symbol, Tick, TimestampMs,
};
use la_strategy::{
    Decision, Gate, Indicators, OrderPlan, Signal, Strategy, StrategyContext, Verdict,
};

use crate::{
    engine::{
        DecisionRecord, Engine, EngineSettings, EngineSink, EventContext, Outcome, RestoredState,
        build_engine_with_strategy,
    },
    mock_feed::CandleGenerator,
};

/// Goes long on every candle while flat: stop 100 below the close, target 200 above.
pub(super) struct AlwaysLong;

impl Strategy for AlwaysLong {
    fn name(&self) -> &'static str {
        "always-long"
    }
    fn on_candle(&mut self, candle: &Candle, ctx: &StrategyContext) -> Decision {
        if ctx.position_open {
            return Decision::blocked(Gate::PositionOpen, Indicators::default());
        }
        let close = candle.close().get();
        let order = OrderPlan {
            side: Side::Long,
            kind: OrderKind::Market,
            qty: Qty::new(Decimal::new(1, 2)).expect("qty"),
            entry_reference: candle.close(),
            stop_loss: Price::new(close - Decimal::from(100)).expect("stop"),
            take_profit: Some(Price::new(close + Decimal::from(200)).expect("target")),
            leverage: la_core::Leverage::new(10).expect("leverage"),
            setup: "test",
        };
        Decision {
            signal: Signal::Long,
            setup: Some("test"),
            indicators: Indicators::default(),
            verdict: Verdict::Order(order),
        }
    }
    fn warmup_bars(&self) -> usize {
        0
    }
}

#[derive(Default)]
pub(super) struct Recorder {
    pub(super) events: Vec<BrokerEvent>,
    contexts: Vec<EventContext>,
    pub(super) outcomes: Vec<Outcome>,
    catch_up_decisions: Vec<bool>,
}

impl EngineSink for Recorder {
    fn broker_event(&mut self, event: &BrokerEvent, context: EventContext) {
        self.events.push(event.clone());
        self.contexts.push(context);
    }
    fn decision(&mut self, record: &DecisionRecord<'_>) {
        self.outcomes.push(record.outcome);
        self.catch_up_decisions.push(record.catch_up);
    }
}

pub(super) fn symbol() -> Symbol {
    Symbol::new("BTCUSDT").expect("symbol")
}

/// The test engine's settings: no trailing stop, a small queue.
fn settings(warmup_bars: usize) -> EngineSettings {
    let mut settings = EngineSettings::new(symbol(), la_strategy::StrategyKind::Setups);
    settings.broker.trailing = None;
    settings.warmup_bars = warmup_bars;
    settings.order_queue_capacity = 4;
    settings
}

pub(super) fn engine_with(
    saved_broker: Option<BrokerState>,
    warmup_bars: usize,
    last_candle: Option<TimestampMs>,
) -> Engine {
    build_engine_with_strategy(
        &settings(warmup_bars),
        Box::new(AlwaysLong),
        RestoredState {
            broker: saved_broker,
            last_candle_open: last_candle,
            ..RestoredState::default()
        },
    )
    .expect("engine")
}

pub(super) fn candles(n: usize) -> Vec<Candle> {
    let start = TimestampMs::new(1_786_579_200_000).expect("ts");
    let mut generator = CandleGenerator::new(11, Interval::M1, start, Decimal::from(60_000));
    (0..n)
        .map(|_| generator.next_candle().expect("candle"))
        .collect()
}

pub(super) fn fills(events: &[BrokerEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, BrokerEvent::Filled(_)))
        .count()
}

#[test]
fn strategy_waits_for_warmup() {
    let mut engine = engine_with(None, 5, None);
    let mut sink = Recorder::default();
    for candle in candles(6) {
        engine
            .on_candle_closed(&candle, Provenance::Live, candle.close_time(), &mut sink)
            .expect("candle");
    }
    assert_eq!(
        &sink.outcomes[..4],
        &[Outcome::Warmup; 4],
        "no order before the warm-up gate opens"
    );
    assert_eq!(sink.outcomes[4], Outcome::Submitted);
    assert_eq!(fills(&sink.events), 1);
}

#[test]
fn a_duplicate_client_order_id_is_never_submitted_twice() {
    let bars = candles(3);
    let mut first = engine_with(None, 0, None);
    let mut sink = Recorder::default();
    first
        .on_candle_closed(&bars[0], Provenance::Live, bars[0].close_time(), &mut sink)
        .expect("candle");
    assert_eq!(fills(&sink.events), 1);
    // Close the position so the strategy would trade the same candle again.
    let entry = bars[0].close().get();
    let exit_price = Price::new(entry + Decimal::from(500)).expect("price");
    let tick = Tick::new(symbol(), bars[1].open_time(), exit_price, None, None).expect("tick");
    first.on_tick(&tick, &mut sink).expect("tick");
    assert!(
        first.broker().position().is_none(),
        "target must have been hit"
    );
    // Restart from the saved broker state but with the session state lost: the same candle
    // is replayed, and its order id must be refused.
    let mut second = engine_with(Some(first.broker().state()), 0, None);
    let mut replay = Recorder::default();
    second
        .on_candle_closed(
            &bars[0],
            Provenance::Live,
            bars[0].close_time(),
            &mut replay,
        )
        .expect("candle");
    assert_eq!(replay.outcomes, vec![Outcome::Duplicate]);
    assert_eq!(
        second.counters().orders_submitted,
        0,
        "a processed id never reaches the broker a second time"
    );
    assert_eq!(fills(&replay.events), 0);
    assert!(second.broker().position().is_none());
}

#[test]
fn exit_on_tick_survives_a_broker_error() {
    let bars = candles(2);
    let mut engine = engine_with(None, 0, None);
    let mut sink = Recorder::default();
    engine
        .on_candle_closed(&bars[0], Provenance::Live, bars[0].close_time(), &mut sink)
        .expect("candle");
    let position = engine.broker().position().expect("position open");
    engine.halt("simulated invariant breach");
    let crash = Price::new(position.stop_loss.get() - Decimal::from(50)).expect("price");
    let tick = Tick::new(symbol(), bars[1].open_time(), crash, None, None).expect("tick");
    engine.on_tick(&tick, &mut sink).expect("tick after halt");
    assert!(
        engine.broker().position().is_none(),
        "the stop must still fire while halted"
    );
    assert!(
        sink.events
            .iter()
            .any(|e| matches!(e, BrokerEvent::Exited(_)))
    );
    engine
        .on_candle_closed(&bars[1], Provenance::Live, bars[1].close_time(), &mut sink)
        .expect("candle");
    assert!(
        sink.events.iter().any(|e| matches!(
            e,
            BrokerEvent::OrderRejected {
                reason: la_core::OrderRejectReason::TradingHalted,
                ..
            }
        )),
        "new entries are refused while halted"
    );
}

#[test]
fn a_late_candle_is_recorded_as_out_of_order_and_a_repeat_is_dropped() {
    let bars = candles(2);
    let mut engine = engine_with(None, 0, Some(bars[1].open_time()));
    let mut sink = Recorder::default();
    engine
        .on_candle_closed(
            &bars[0],
            Provenance::Backfilled,
            bars[0].close_time(),
            &mut sink,
        )
        .expect("candle");
    engine
        .on_candle_closed(&bars[1], Provenance::Live, bars[1].close_time(), &mut sink)
        .expect("candle");
    // The earlier candle is recorded (never traded on), the repeat of the last is not.
    assert_eq!(sink.outcomes, vec![Outcome::OutOfOrder]);
    assert!(
        sink.events.is_empty(),
        "the broker never sees a late candle"
    );
    assert_eq!(engine.counters().candles_out_of_order, 2);
    assert_eq!(engine.counters().candles_closed, 0);
}

#[test]
fn decision_lines_carry_the_candle_the_decision_and_the_outcome_as_exact_strings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sink = crate::run_files::FileSink::open(
        &dir.path().join("events.jsonl"),
        false,
        dir.path(),
        "BTCUSDT",
        None,
    )
    .expect("sink");
    let bars = candles(3);
    let mut engine = engine_with(None, 0, None);
    engine
        .on_candle_closed(&bars[0], Provenance::Live, bars[0].close_time(), &mut sink)
        .expect("candle");
    engine
        .on_candle_closed(&bars[2], Provenance::Live, bars[2].close_time(), &mut sink)
        .expect("candle");
    // Late: recorded, not traded on.
    engine
        .on_candle_closed(
            &bars[1],
            Provenance::Backfilled,
            bars[1].close_time(),
            &mut sink,
        )
        .expect("candle");
    sink.flush();
    let text = std::fs::read_to_string(dir.path().join("decisions.jsonl")).expect("read");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 3);
    let first = &lines[0];
    assert_eq!(first["open_time"], bars[0].open_time().as_ms());
    assert_eq!(first["close"], bars[0].close().to_string());
    assert_eq!(first["volume"], bars[0].volume().to_string());
    assert_eq!(first["provenance"], "live");
    assert_eq!(first["bar_index"], 1);
    assert_eq!(first["setup"], "test", "decision fields are inline");
    assert_eq!(first["outcome"], "submitted");
    assert!(first["client_order_id"].is_string());
    assert!(first["equity"].is_string());
    let late = &lines[2];
    assert_eq!(late["open_time"], bars[1].open_time().as_ms());
    assert_eq!(late["outcome"], "out_of_order");
    assert_eq!(late["blocked_by"], "stale_candle");
    assert_eq!(late["provenance"], "backfilled");
    assert!(late["client_order_id"].is_null());
    let counts = sink.decision_counts();
    assert_eq!(counts.get("outcome:out_of_order"), Some(&1));
    assert_eq!(counts.get("blocked_by:stale_candle"), Some(&1));
}

#[test]
fn events_saved_but_not_journaled_before_a_crash_are_recovered_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("events.jsonl");
    let open = || {
        crate::run_files::FileSink::open(&journal, false, dir.path(), "BTCUSDT", None)
            .expect("sink")
    };
    let mut sink = open();
    sink.hold_broker_events();
    let mut engine = engine_with(None, 0, None);
    for bar in candles(2) {
        engine
            .on_candle_closed(&bar, Provenance::Live, bar.close_time(), &mut sink)
            .expect("candle");
    }
    assert!(sink.holds_state_changes(), "the entry fill is held");
    // The write-ahead save stored these; the process dies before journaling them.
    let saved: Vec<BrokerEvent> = sink.held_events().to_vec();
    drop(sink);
    let mut restarted = open();
    assert_eq!(restarted.recover_unjournaled(&saved), saved.len());
    restarted.flush();
    let mut again = open();
    assert_eq!(
        again.recover_unjournaled(&saved),
        0,
        "never journaled twice"
    );
    again.flush();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&journal)
        .expect("journal")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), saved.len());
    assert!(lines.iter().all(|l| l["recovered"] == true));
    let fill = lines
        .iter()
        .find(|l| l["kind"] == "fill")
        .expect("a fill line");
    assert!(fill["client_order_id"].is_string() && fill["qty"].is_string());
}

/// Records the round-trip cost the engine hands the strategy for sizing.
struct CostProbe(Arc<Mutex<Vec<Decimal>>>);

impl Strategy for CostProbe {
    fn name(&self) -> &'static str {
        "cost-probe"
    }
    fn on_candle(&mut self, _candle: &Candle, ctx: &StrategyContext) -> Decision {
        if let Ok(mut seen) = self.0.lock() {
            seen.push(ctx.spec.round_trip_cost_frac);
        }
        Decision::blocked(Gate::NoConditions, Indicators::default())
    }
    fn warmup_bars(&self) -> usize {
        0
    }
}

#[test]
fn sizing_uses_the_configured_fees_and_slippage() {
    let mut settings = settings(0);
    settings.broker.slippage_bps = Decimal::from(10);
    settings.broker.spec.taker_fee = Decimal::new(5, 4);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut engine = build_engine_with_strategy(
        &settings,
        Box::new(CostProbe(Arc::clone(&seen))),
        RestoredState::default(),
    )
    .expect("engine");
    let mut sink = Recorder::default();
    for candle in candles(2) {
        engine
            .on_candle_closed(&candle, Provenance::Live, candle.close_time(), &mut sink)
            .expect("candle");
    }
    // A market entry and a stop exit: 2 × 0.05 % taker + 2 × 10 bp slippage = 0.3 %.
    let expected = Decimal::new(3, 3);
    assert_eq!(*seen.lock().expect("probe"), vec![expected, expected]);
}

#[test]
fn no_entry_is_placed_from_a_candle_older_than_one_interval_when_decided() {
    let mut engine = engine_with(None, 0, None);
    let mut sink = Recorder::default();
    let bars = candles(3);
    let interval = bars[0].interval().as_ms();
    // Decided more than one interval after its close: history, never traded on.
    let late = bars[0]
        .close_time()
        .checked_add_ms(interval + 1)
        .expect("ts");
    engine
        .on_candle_closed(&bars[0], Provenance::Backfilled, late, &mut sink)
        .expect("candle");
    assert_eq!(sink.outcomes, [Outcome::Stale]);
    assert_eq!(fills(&sink.events), 0);
    // Exactly one interval old is still fresh.
    let in_time = bars[1].close_time().checked_add_ms(interval).expect("ts");
    engine
        .on_candle_closed(&bars[1], Provenance::RestConfirmed, in_time, &mut sink)
        .expect("candle");
    assert_eq!(sink.outcomes[1], Outcome::Submitted);
    assert_eq!(fills(&sink.events), 1);
}

#[test]
fn catch_up_mode_runs_exits_but_places_no_entry_and_marks_every_event() {
    let mut engine = engine_with(None, 0, None);
    let mut sink = Recorder::default();
    let bars = candles(40);
    engine
        .on_candle_closed(&bars[0], Provenance::Live, bars[0].close_time(), &mut sink)
        .expect("entry");
    assert_eq!(fills(&sink.events), 1);
    assert!(sink.contexts.iter().all(|c| !c.catch_up));
    let before = sink.events.len();
    engine.begin_catch_up();
    // A tick through the long's stop (100 below its entry), then bars the strategy would
    // enter on.
    let through = Price::new(bars[0].close().get() - Decimal::from(150)).expect("price");
    let tick = Tick::new(symbol(), bars[1].open_time(), through, None, None).expect("tick");
    engine.on_tick(&tick, &mut sink).expect("tick");
    for bar in &bars[1..] {
        engine
            .on_candle_closed(bar, Provenance::Backfilled, bar.close_time(), &mut sink)
            .expect("catch-up bar");
    }
    engine.end_catch_up();
    let exits = sink.events[before..]
        .iter()
        .filter(|e| matches!(e, BrokerEvent::Exited(_)))
        .count();
    assert_eq!(exits, 1, "the open long still exits during catch-up");
    assert_eq!(fills(&sink.events), 1, "no entry while catching up");
    assert!(sink.contexts[before..].iter().all(|c| c.catch_up));
    assert!(
        sink.outcomes[1..]
            .iter()
            .all(|o| matches!(o, Outcome::CatchUp | Outcome::NoOrder))
    );
    assert!(sink.outcomes[1..].contains(&Outcome::CatchUp));
    assert!(sink.catch_up_decisions[1..].iter().all(|c| *c));
    // Back to live: entries resume.
    let next = candles(41).pop().expect("bar");
    engine
        .on_candle_closed(&next, Provenance::Live, next.close_time(), &mut sink)
        .expect("live bar");
    assert_eq!(sink.outcomes.last(), Some(&Outcome::Submitted));
    assert!(!sink.catch_up_decisions.last().expect("decision"));
}
