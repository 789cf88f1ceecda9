//! The one place an [`Engine`] is built.
//!
//! The live session, the backtest, the benchmarks and the parity test all build their
//! engine here, from one [`EngineSettings`] value: the strategy and its parameters, the
//! broker's costs (fees in the instrument spec, slippage, latency, seed, starting balance),
//! the warm-up gate, the circuit breaker and the order queue. So a cost or a parameter can
//! never differ between two modes by accident, and the strategy's sizing always uses the
//! costs the broker will really charge (see [`sizing_for`]).

use la_broker_paper::{BrokerConfig, BrokerError, BrokerState, MarketFillModel, PaperBroker};
use la_core::{Decimal, PlausibilityConfig, PriceGuard, Symbol, TimestampMs};
use la_strategy::{SizingSpec, Strategy, StrategyConfig, StrategyKind};

use super::{Engine, EngineConfig};
use crate::{
    breaker::{BreakerLimits, BreakerState},
    error::SessionError,
};

/// Everything that decides how an engine trades, resolved from configuration.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// Instrument.
    pub symbol: Symbol,
    /// Which strategy.
    pub strategy: StrategyKind,
    /// Strategy parameters.
    pub strategy_config: StrategyConfig,
    /// The paper broker: instrument spec (tick, step, fees), starting balance, slippage,
    /// latency, seed, market-fill model and risk limits.
    pub broker: BrokerConfig,
    /// Closed candles the strategy must see before an order is allowed.
    pub warmup_bars: usize,
    /// Log orders, never submit.
    pub dry_run: bool,
    /// Circuit breaker thresholds.
    pub breaker: BreakerLimits,
    /// Capacity of the order queue between strategy and execution.
    pub order_queue_capacity: usize,
    /// The price-plausibility band every tick and candle is judged against.
    pub plausibility: PlausibilityConfig,
}

impl EngineSettings {
    /// Settings with every default: the broker's documented defaults with market orders
    /// priced at the decision price (what both the live session and the backtest use), a
    /// 50-candle warm-up, the circuit breaker off, a 16-order queue and the default
    /// plausibility band.
    pub fn new(symbol: Symbol, strategy: StrategyKind) -> Self {
        Self {
            symbol,
            strategy,
            strategy_config: StrategyConfig::default(),
            broker: BrokerConfig {
                market_fill: MarketFillModel::DecisionPrice,
                ..BrokerConfig::default()
            },
            warmup_bars: 50,
            dry_run: false,
            breaker: BreakerLimits::OFF,
            order_queue_capacity: 16,
            plausibility: PlausibilityConfig::default(),
        }
    }
}

impl EngineSettings {
    /// These settings under their configuration keys (the TOML names of
    /// [`crate::RawRunConfig`]), for run summaries and reports: what a user would write in a
    /// `--config` file to get this engine. Only the chosen strategy's table is included.
    pub fn config_keys(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::json;
        let broker = &self.broker;
        let mut keys = serde_json::Map::new();
        for (key, value) in [
            ("symbol", json!(self.symbol.as_str())),
            ("strategy", json!(self.strategy.as_str())),
            ("starting_balance", json!(broker.starting_balance)),
            ("taker_fee", json!(broker.spec.taker_fee)),
            ("maker_fee", json!(broker.spec.maker_fee)),
            ("slippage_bps", json!(broker.slippage_bps)),
            ("slippage_jitter_bps", json!(broker.slippage_jitter_bps)),
            ("latency_ms", json!(broker.latency_ms)),
            ("seed", json!(broker.seed)),
            ("warmup_bars", json!(self.warmup_bars)),
            ("dry_run", json!(self.dry_run)),
            ("max_daily_drawdown", json!(self.breaker.max_daily_drawdown)),
            (
                "max_consecutive_losses",
                json!(self.breaker.max_consecutive_losses),
            ),
        ] {
            keys.insert(key.to_owned(), value);
        }
        keys.insert("margin".to_owned(), json!(broker.margin));
        keys.insert("plausibility".to_owned(), json!(self.plausibility));
        let (table, parameters) = match self.strategy {
            StrategyKind::Setups => ("setups", json!(self.strategy_config.setups)),
            StrategyKind::SmaCross => ("sma_cross", json!(self.strategy_config.sma_cross)),
        };
        keys.insert(table.to_owned(), parameters);
        keys
    }
}

/// What a restarted live session carries over; [`RestoredState::default`] is a fresh start.
#[derive(Clone, Debug, Default)]
pub struct RestoredState {
    /// The saved account, if any.
    pub broker: Option<BrokerState>,
    /// The saved circuit breaker.
    pub breaker: BreakerState,
    /// Open time of the newest candle processed before the restart: never traded again.
    pub last_candle_open: Option<TimestampMs>,
}

/// Builds the engine `settings` describe, restoring `restored`.
///
/// # Errors
/// An invalid strategy section or broker configuration, or a saved account the broker
/// refuses.
pub fn build_engine(
    settings: &EngineSettings,
    restored: RestoredState,
) -> Result<Engine, SessionError> {
    let strategy = la_strategy::build(settings.strategy, &settings.strategy_config)?;
    Ok(build_engine_with_strategy(settings, strategy, restored)?)
}

/// [`build_engine`] around a strategy object the caller made (benchmark probes, tests);
/// `settings.strategy` and `settings.strategy_config` are not used.
///
/// # Errors
/// An invalid broker configuration or a saved account the broker refuses.
pub fn build_engine_with_strategy(
    settings: &EngineSettings,
    strategy: Box<dyn Strategy>,
    restored: RestoredState,
) -> Result<Engine, BrokerError> {
    let broker = match restored.broker {
        Some(state) => PaperBroker::from_state(settings.broker.clone(), state)?,
        None => PaperBroker::new(settings.broker.clone())?,
    };
    let sizing = sizing_for(&settings.broker);
    Ok(Engine::new(
        EngineConfig {
            symbol: settings.symbol,
            warmup_bars: settings.warmup_bars,
            dry_run: settings.dry_run,
            order_queue_capacity: settings.order_queue_capacity,
            breaker: settings.breaker,
        },
        broker,
        strategy,
        sizing,
        restored.breaker,
        restored.last_candle_open,
        PriceGuard::new(settings.plausibility),
    ))
}

/// The strategy's sizing inputs from the broker that will execute its orders.
///
/// The round-trip cost is a market entry and a stop exit, the costliest pair: two taker
/// fees plus two fills' adverse slippage (the configured slippage and the mean of the
/// seeded jitter, which is uniform in `[0, jitter]`). Taking it from the broker's own
/// configuration is what keeps sizing honest when slippage or fees are configured.
pub fn sizing_for(broker: &BrokerConfig) -> SizingSpec {
    let spec = &broker.spec;
    let slippage_bps = broker.slippage_bps + broker.slippage_jitter_bps / Decimal::TWO;
    SizingSpec {
        qty_step: spec.qty_step,
        min_qty: spec.min_qty,
        tick_size: spec.tick_size,
        // An overflow (impossible for a validated broker config) leaves a cost the strategy
        // rejects as an invalid spec: every order blocked, never sized cost-blind.
        round_trip_cost_frac: SizingSpec::round_trip_cost(
            spec.taker_fee,
            slippage_bps / Decimal::from(10_000),
        )
        .unwrap_or(Decimal::MAX),
        margin: broker.margin,
    }
}
