//! Shared by the `tick_to_exit` bench and the `bench_probe` example (included with
//! `#[path]`): an [`Engine`] whose strategy opens a long on every closed candle while flat,
//! with its stop a fixed distance below the close, and a sink that timestamps the moment an
//! exit event comes out of the engine. A tick through the stop is then one measured sample of
//! P2 (tick → exit).
//!
//! The engine, broker and event path are the production ones (`Engine::on_tick` →
//! `PaperBroker::on_tick` → `BrokerEvent::Exited` → `EngineSink`); only the strategy is a
//! probe, because the measurement needs a position open on demand.

// Each including target uses a different part of this file.
#![allow(dead_code)]

use std::time::Instant;

use la_core::{BrokerEvent, Candle, Decimal, OrderKind, Price, Qty, Side, Symbol, TimestampMs};
use la_session::engine::{
    DecisionRecord, Engine, EngineSettings, EngineSink, EventContext, RestoredState,
    build_engine_with_strategy,
};
use la_strategy::{
    Decision, Gate, Indicators, OrderPlan, Signal, Strategy, StrategyContext, StrategyKind, Verdict,
};

/// Distance of the stop below the close (quote units): 0.1 % of the probe price.
pub(crate) const STOP_DISTANCE: i64 = 60;

/// The probe strategy: long at market on every closed candle while flat.
#[derive(Debug, Default)]
pub(crate) struct StopProbeStrategy;

impl Strategy for StopProbeStrategy {
    fn name(&self) -> &'static str {
        "stop-probe"
    }

    fn on_candle(&mut self, candle: &Candle, ctx: &StrategyContext) -> Decision {
        if ctx.position_open {
            return Decision::blocked(Gate::PositionOpen, Indicators::default());
        }
        let close = candle.close().get();
        let (Ok(stop_loss), Ok(take_profit), Ok(qty)) = (
            Price::new(close - Decimal::from(STOP_DISTANCE)),
            Price::new(close + Decimal::from(10 * STOP_DISTANCE)),
            Qty::new(Decimal::new(1, 3)),
        ) else {
            return Decision::blocked(Gate::StopNotPositive, Indicators::default());
        };
        Decision {
            signal: Signal::Long,
            setup: Some("stop_probe"),
            indicators: Indicators::default(),
            verdict: Verdict::Order(OrderPlan {
                side: Side::Long,
                kind: OrderKind::Market,
                qty,
                entry_reference: candle.close(),
                stop_loss,
                take_profit: Some(take_profit),
                leverage: la_core::Leverage::new(10).unwrap_or(la_core::Leverage::ONE),
                setup: "stop_probe",
            }),
        }
    }

    fn warmup_bars(&self) -> usize {
        0
    }
}

/// The engine factory's settings around the probe strategy: the live market-fill model, no
/// warm-up, the breaker off, and a balance large enough that months of losing probe trades
/// never reach the broker's daily-loss limit.
///
/// # Errors
/// An invalid broker configuration (a bug in this function).
pub(crate) fn probe_engine(symbol: Symbol) -> Result<Engine, la_broker_paper::BrokerError> {
    let mut settings = EngineSettings::new(symbol, StrategyKind::Setups);
    settings.broker.starting_balance = Decimal::from(10_000_000);
    settings.warmup_bars = 0;
    build_engine_with_strategy(
        &settings,
        Box::new(StopProbeStrategy),
        RestoredState::default(),
    )
}

/// A sink that timestamps the moment the `Exited` event comes out of the engine.
#[derive(Debug, Default)]
pub(crate) struct ExitStamp {
    /// Instant the latest `Exited` event reached this sink.
    pub(crate) decided_at: Option<Instant>,
    /// Its event time.
    pub(crate) ts: Option<TimestampMs>,
    /// Fills seen.
    pub(crate) fills: u64,
    /// Exits seen.
    pub(crate) exits: u64,
}

impl EngineSink for ExitStamp {
    fn broker_event(&mut self, event: &BrokerEvent, _context: EventContext) {
        match event {
            BrokerEvent::Exited(exit) => {
                self.decided_at = Some(Instant::now());
                self.ts = Some(exit.ts);
                self.exits += 1;
            }
            BrokerEvent::Filled(_) => self.fills += 1,
            _ => {}
        }
    }

    fn decision(&mut self, _record: &DecisionRecord<'_>) {}
}
