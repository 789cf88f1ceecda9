//! Run configuration: the raw, user-facing shape ([`RawRunConfig`], what TOML files, `LA_*`
//! variables and flags deserialize into) and the validated [`RunConfig`] the session uses.
//!
//! Two stages, as in ripgrep's low/high arguments: the raw shape only mirrors what a user
//! can type (unknown keys are rejected by serde), and [`RawRunConfig::validate`] turns it into
//! typed values, reporting **every** problem at once with the key and what is allowed.

use std::{net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use la_broker_paper::BrokerConfig;
use la_core::{Decimal, Interval, MarginRates, PlausibilityConfig, Symbol, TimestampMs};
use la_strategy::{SetupsConfig, SmaCrossConfig, StrategyConfig, StrategyKind};
use serde::{Deserialize, Serialize};

use crate::{breaker::BreakerLimits, engine::EngineSettings, rotation::RotationPolicy};

/// Where market data comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The live Bitunix exchange.
    Bitunix,
    /// The simulator, started in-process, reached over real loopback sockets.
    Sim,
    /// An in-process generator; no sockets.
    Mock,
}

impl FromStr for Source {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "bitunix" => Ok(Self::Bitunix),
            "sim" => Ok(Self::Sim),
            "mock" => Ok(Self::Mock),
            other => Err(format!(
                "unknown source {other:?}; allowed: bitunix, sim, mock"
            )),
        }
    }
}

impl Source {
    /// Stable label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Bitunix => "bitunix",
            Self::Sim => "sim",
            Self::Mock => "mock",
        }
    }
}

/// The configuration as typed by a user: every field optional-with-default, strings for
/// durations so errors can name the key. Unknown keys are an error.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawRunConfig {
    /// `live-session` (the only mode today).
    pub mode: String,
    /// `bitunix`, `sim` or `mock`.
    pub source: String,
    /// Instrument, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Candle interval, e.g. `1m`.
    pub interval: String,
    /// Session length (`10` = minutes, `90s`, `10m`, `2h`, or `off` for no limit).
    #[serde(deserialize_with = "string_or_number")]
    pub duration: String,
    /// Log decisions and would-be orders, never fill.
    pub dry_run: bool,
    /// Workspace directory.
    pub workspace: PathBuf,
    /// WebSocket URL.
    pub ws_url: String,
    /// REST base URL.
    pub rest_url: String,
    /// Stop after this long without market data.
    #[serde(deserialize_with = "string_or_number")]
    pub stale_timeout: String,
    /// Exchange-vs-local clock tolerance, or `off`.
    #[serde(deserialize_with = "string_or_number")]
    pub max_clock_skew: String,
    /// Longest downtime the session replays when it comes back; beyond it, it stops with
    /// `catch_up_too_long`.
    #[serde(deserialize_with = "string_or_number")]
    pub max_catch_up: String,
    /// Paper account starting balance (USDT).
    pub starting_balance: Decimal,
    /// `setups` or `sma-cross`.
    pub strategy: String,
    /// Closed candles before the strategy may trade.
    pub warmup_bars: usize,
    /// Candle file replayed by the `sim` source (generated data if absent).
    pub data: Option<PathBuf>,
    /// Simulator speed (virtual ms per real ms).
    pub speed: f64,
    /// Seed for the simulator, the mock feed and the broker.
    pub seed: u64,
    /// Errors tolerated before the session stops.
    pub error_budget: u32,
    /// Resident memory ceiling in MiB.
    pub max_rss_mb: u64,
    /// Daily drawdown (fraction of the day's starting equity) that trips the breaker.
    pub max_daily_drawdown: Decimal,
    /// Consecutive losing trades that trip the breaker.
    pub max_consecutive_losses: u32,
    /// Close any open position at the last price when the session stops.
    pub force_close_on_stop: bool,
    /// Simulated order latency in milliseconds (event time).
    pub latency_ms: i64,
    /// Adverse slippage in basis points.
    pub slippage_bps: Decimal,
    /// Extra adverse slippage, uniform in `[0, x]` bps from the seeded generator; 0 = none.
    pub slippage_jitter_bps: Decimal,
    /// Fee rate of market entries and stop, trailing and forced exits (fraction: 0.0006 =
    /// 0.06 %).
    pub taker_fee: Decimal,
    /// Fee rate of resting limit fills and take-profit exits (fraction).
    pub maker_fee: Decimal,
    /// Simulator fault scenarios for the `sim` source, as `AT@SPEC` (see `laptop-agents sim
    /// --help`).
    pub faults: Vec<String>,
    /// Record every frame the in-process simulator sends to this JSON-lines file (`sim`
    /// source; used by the soak test to prove nothing was silently lost).
    pub sim_record: Option<PathBuf>,
    /// Virtual start time (epoch ms) of the `mock` source; default: now.
    pub mock_start_ms: Option<i64>,
    /// Whether the `mock` source announces a funding rate (0.01 % per period).
    pub mock_funding: bool,
    /// Address of the read-only HTTP surface (dashboard, `/metrics`, `/healthz`), or `off`.
    pub http: String,
    /// Allow `http` to bind a non-loopback address (the dashboard is unauthenticated).
    pub http_allow_remote: bool,
    /// Parameters of the `setups` strategy (TOML table `[setups]`).
    pub setups: SetupsConfig,
    /// Parameters of the `sma-cross` strategy (TOML table `[sma_cross]`).
    pub sma_cross: SmaCrossConfig,
    /// Alert delivery (TOML table `[alerts]`).
    pub alerts: RawAlerts,
    /// Log rotation (TOML table `[logs]`).
    pub logs: RawLogs,
    /// Run directories kept under `runs/`: older ones are deleted when a session starts
    /// (the current run and anything outside `runs/` never are); 0 keeps every run.
    pub keep_runs: u32,
    /// The price-plausibility band (TOML table `[plausibility]`).
    pub plausibility: PlausibilityConfig,
    /// Isolated-margin rates (TOML table `[margin]`: `maintenance_margin_rate`,
    /// `liquidation_fee_rate`); default Bitunix BTCUSDT's first tier and an assumed fee.
    pub margin: MarginRates,
}

impl Default for RawRunConfig {
    /// The broker's costs (starting balance, slippage, latency, seed) default to the paper
    /// broker's own documented defaults, so the live session and the backtest start equal.
    fn default() -> Self {
        let broker = BrokerConfig::default();
        Self {
            mode: "live-session".into(),
            source: "mock".into(),
            symbol: "BTCUSDT".into(),
            interval: "1m".into(),
            duration: "10m".into(),
            dry_run: false,
            workspace: PathBuf::from(".workspace"),
            ws_url: "wss://fapi.bitunix.com/public/".into(),
            rest_url: "https://fapi.bitunix.com".into(),
            stale_timeout: "120s".into(),
            max_clock_skew: "5m".into(),
            max_catch_up: "7d".into(),
            starting_balance: broker.starting_balance,
            strategy: "setups".into(),
            warmup_bars: 50,
            data: None,
            speed: 1.0,
            seed: broker.seed,
            error_budget: 20,
            max_rss_mb: 512,
            max_daily_drawdown: Decimal::new(5, 2),
            max_consecutive_losses: 5,
            force_close_on_stop: false,
            latency_ms: broker.latency_ms,
            slippage_bps: broker.slippage_bps,
            slippage_jitter_bps: broker.slippage_jitter_bps,
            taker_fee: broker.spec.taker_fee,
            maker_fee: broker.spec.maker_fee,
            faults: Vec::new(),
            sim_record: None,
            mock_start_ms: None,
            mock_funding: true,
            http: DEFAULT_HTTP.into(),
            http_allow_remote: false,
            setups: SetupsConfig::default(),
            sma_cross: SmaCrossConfig::default(),
            alerts: RawAlerts::default(),
            logs: RawLogs::default(),
            keep_runs: DEFAULT_KEEP_RUNS,
            plausibility: PlausibilityConfig::default(),
            margin: broker.margin,
        }
    }
}

/// The `[alerts]` table as typed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAlerts {
    /// Webhook URL (also `LA_ALERT_WEBHOOK`); alerts go to `logs/alerts.jsonl` either way.
    pub webhook: Option<String>,
    /// Body shape: `generic` (default), `slack`, `discord` or `ntfy`.
    pub format: Option<String>,
    /// UTC hour (0–23, event clock) of the daily digest; default 0.
    pub digest_hour_utc: Option<u8>,
}

/// The `[logs]` table as typed.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawLogs {
    /// `logs/system.jsonl` is rotated before it passes this many MiB (and at UTC midnight).
    pub max_mb: u64,
    /// Rotated copies of `system.jsonl` kept (`system.jsonl.1` … `.N`).
    pub keep: u32,
    /// A live run's `decisions.jsonl` is rotated before it passes this many MiB.
    pub decisions_max_mb: u64,
    /// Rotated copies of `decisions.jsonl` kept per run.
    pub decisions_keep: u32,
}

impl Default for RawLogs {
    fn default() -> Self {
        Self {
            max_mb: 32,
            keep: 7,
            decisions_max_mb: 64,
            decisions_keep: 3,
        }
    }
}

/// Bytes in a MiB, the unit of the `[logs]` size keys.
const MIB: u64 = 1024 * 1024;

/// Run directories kept by default: weeks of daily restarts, a bounded amount of disk.
pub const DEFAULT_KEEP_RUNS: u32 = 30;

/// Validated log and run-directory limits.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LogLimits {
    /// `logs/system.jsonl`: by size and by UTC day.
    pub system: RotationPolicy,
    /// A live run's `decisions.jsonl`: by size.
    pub decisions: RotationPolicy,
    /// Run directories kept (0: all).
    pub keep_runs: u32,
}

impl Default for LogLimits {
    fn default() -> Self {
        RawLogs::default().limits(DEFAULT_KEEP_RUNS)
    }
}

impl RawLogs {
    fn limits(&self, keep_runs: u32) -> LogLimits {
        LogLimits {
            system: RotationPolicy {
                max_bytes: self.max_mb.saturating_mul(MIB),
                keep: self.keep,
                daily: true,
            },
            decisions: RotationPolicy {
                max_bytes: self.decisions_max_mb.saturating_mul(MIB),
                keep: self.decisions_keep,
                daily: false,
            },
            keep_runs,
        }
    }
}

/// Validated alert settings.
#[derive(Clone, Debug)]
pub struct AlertSettings {
    /// The webhook (a secret: shown only as scheme and host).
    pub webhook: Option<la_ops::alerts::WebhookUrl>,
    /// Its body shape.
    pub shape: la_ops::alerts::BodyShape,
    /// UTC hour of the daily digest.
    pub digest_hour_utc: u8,
}

/// Where the HTTP surface listens unless configured otherwise (loopback only).
pub const DEFAULT_HTTP: &str = "127.0.0.1:8787";

/// Parses the `http` key: `off`, or a socket address; a non-loopback address needs
/// `allow_remote` (the surface has no authentication).
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_http(text: &str, allow_remote: bool) -> Result<Option<SocketAddr>, String> {
    let text = text.trim();
    if matches!(text, "off" | "none" | "false") {
        return Ok(None);
    }
    let addr: SocketAddr = text.parse().map_err(|_| {
        format!("{text:?} is not an address; use e.g. 127.0.0.1:8787, [::1]:8787 or off")
    })?;
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(format!(
            "{addr} is not a loopback address: the dashboard has no authentication; pass --http-allow-remote (http_allow_remote = true) to expose it"
        ));
    }
    Ok(Some(addr))
}

/// Accepts `"10m"`, `10` or `1.5` for duration-like keys (environment variables and TOML
/// numbers arrive as numbers).
fn string_or_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct Visitor;
    impl serde::de::Visitor<'_> for Visitor {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a duration such as 10 (minutes), 90s, 10m or 2h")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    deserializer.deserialize_any(Visitor)
}

/// One invalid key: which, and what is allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The key as typed in TOML, dotted for tables, e.g. `duration` or `setups.risk_frac`.
    pub key: String,
    /// What was wrong and what is allowed.
    pub message: String,
}

/// The validated configuration of a live session.
#[derive(Clone, Debug, Serialize)]
pub struct RunConfig {
    /// Data source.
    pub source: Source,
    /// Instrument.
    pub symbol: Symbol,
    /// Candle interval.
    pub interval: Interval,
    /// Session length; `None` runs until stopped.
    pub duration: Option<Duration>,
    /// Decisions only, no fills.
    pub dry_run: bool,
    /// Workspace directory.
    pub workspace: PathBuf,
    /// WebSocket URL (serialised redacted: it may carry credentials).
    #[serde(serialize_with = "la_core::redact::serialize_redacted_url")]
    pub ws_url: String,
    /// REST base URL (serialised redacted).
    #[serde(serialize_with = "la_core::redact::serialize_redacted_url")]
    pub rest_url: String,
    /// Stale-data timeout.
    pub stale_timeout: Duration,
    /// Clock-skew tolerance; `None` = off.
    pub max_clock_skew: Option<Duration>,
    /// Longest downtime replayed on coming back.
    pub max_catch_up: Duration,
    /// Starting balance.
    pub starting_balance: Decimal,
    /// Strategy.
    pub strategy: StrategyKind,
    /// Strategy parameters.
    pub strategy_config: StrategyConfig,
    /// Warm-up gate.
    pub warmup_bars: usize,
    /// Replay file for the simulator.
    pub data: Option<PathBuf>,
    /// Simulator speed.
    pub speed: f64,
    /// Seed.
    pub seed: u64,
    /// Error budget.
    pub error_budget: u32,
    /// Memory ceiling in bytes.
    pub max_rss_bytes: u64,
    /// Circuit breaker: daily drawdown fraction.
    pub max_daily_drawdown: Decimal,
    /// Circuit breaker: consecutive losses.
    pub max_consecutive_losses: u32,
    /// Force-close at stop.
    pub force_close_on_stop: bool,
    /// Order latency (ms, event time).
    pub latency_ms: i64,
    /// Adverse slippage (bps).
    pub slippage_bps: Decimal,
    /// Seeded extra slippage, uniform in `[0, x]` bps.
    pub slippage_jitter_bps: Decimal,
    /// Taker fee rate (fraction).
    pub taker_fee: Decimal,
    /// Maker fee rate (fraction).
    pub maker_fee: Decimal,
    /// Simulator faults.
    #[serde(skip)]
    pub faults: Vec<la_bitunix_sim::ScheduledFault>,
    /// Simulator record file.
    pub sim_record: Option<PathBuf>,
    /// Mock start time.
    pub mock_start: Option<TimestampMs>,
    /// Mock funding announcements.
    pub mock_funding: bool,
    /// The price-plausibility band.
    pub plausibility: PlausibilityConfig,
    /// Isolated-margin rates.
    pub margin: MarginRates,
    /// Where the read-only HTTP surface listens; `None` = off.
    pub http: Option<SocketAddr>,
    /// Alert delivery (never serialized: the webhook is a secret).
    #[serde(skip)]
    pub alerts: AlertSettings,
    /// Log rotation and the run-directory limit.
    pub logs: LogLimits,
}

/// Parses a duration with [`la_core::parse_duration`] (a bare number is minutes; `90s`,
/// `10m`, `2h`, `1d`), as a message naming the accepted forms.
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    la_core::parse_duration(text).map_err(|_| {
        format!(
            "{:?} is not a duration; use e.g. 10 (minutes), 90s, 10m, 2h",
            text.trim()
        )
    })
}

/// A limit that can be switched off: `off` (or `none`) is no limit; anything else is a
/// [`parse_duration`] longer than zero. Zero is an error rather than a synonym of `off`:
/// `--duration 0` reads as "stop at once" as much as "never stop", so neither is guessed.
fn parse_optional_duration(text: &str) -> Result<Option<Duration>, String> {
    if matches!(text.trim(), "off" | "none") {
        return Ok(None);
    }
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err(format!("{:?} is zero; write off for no limit", text.trim()));
    }
    Ok(Some(duration))
}

/// A duration as the configuration keys take it, in its largest exact unit (`90s`, `10m`,
/// `2h`, `7d`), so [`parse_duration`] reads it back unchanged.
pub fn duration_key(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0 => "0s".to_owned(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

impl RunConfig {
    /// This configuration under its configuration keys (the TOML names of
    /// [`RawRunConfig`], tables as nested objects), for `summary.json` and the report: what a
    /// `--config` file would hold to run this session again. Secrets are left out (the
    /// alert webhook) or redacted (credentials in the server URLs), and so are the simulator's fault scenarios (a test set-up, not a
    /// trading parameter); only the chosen strategy's table is included.
    pub fn config_keys(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::json;
        let mut keys = self.engine_settings().config_keys();
        let optional_duration =
            |d: Option<Duration>| d.map_or_else(|| "off".to_owned(), duration_key);
        for (key, value) in [
            ("mode", json!("live-session")),
            ("source", json!(self.source.as_str())),
            ("interval", json!(self.interval.as_str())),
            ("duration", json!(optional_duration(self.duration))),
            ("workspace", json!(self.workspace)),
            ("ws_url", json!(la_core::redact_url(&self.ws_url))),
            ("rest_url", json!(la_core::redact_url(&self.rest_url))),
            ("stale_timeout", json!(duration_key(self.stale_timeout))),
            (
                "max_clock_skew",
                json!(optional_duration(self.max_clock_skew)),
            ),
            ("max_catch_up", json!(duration_key(self.max_catch_up))),
            ("data", json!(self.data)),
            ("speed", json!(self.speed)),
            ("error_budget", json!(self.error_budget)),
            ("max_rss_mb", json!(self.max_rss_bytes / (1024 * 1024))),
            ("force_close_on_stop", json!(self.force_close_on_stop)),
            ("sim_record", json!(self.sim_record)),
            (
                "mock_start_ms",
                json!(self.mock_start.map(TimestampMs::as_ms)),
            ),
            ("mock_funding", json!(self.mock_funding)),
            (
                "http",
                json!(
                    self.http
                        .map_or_else(|| "off".to_owned(), |a| a.to_string())
                ),
            ),
            (
                "http_allow_remote",
                json!(self.http.is_some_and(|a| !a.ip().is_loopback())),
            ),
            (
                "logs",
                json!({
                    "max_mb": self.logs.system.max_bytes / MIB,
                    "keep": self.logs.system.keep,
                    "decisions_max_mb": self.logs.decisions.max_bytes / MIB,
                    "decisions_keep": self.logs.decisions.keep,
                }),
            ),
            ("keep_runs", json!(self.logs.keep_runs)),
            (
                "alerts",
                json!({
                    "format": self.alerts.shape.as_str(),
                    "digest_hour_utc": self.alerts.digest_hour_utc,
                }),
            ),
        ] {
            keys.insert(key.to_owned(), value);
        }
        keys
    }

    /// The engine this configuration describes (see [`crate::engine::build_engine`]).
    pub fn engine_settings(&self) -> EngineSettings {
        let defaults = EngineSettings::new(self.symbol, self.strategy);
        EngineSettings {
            strategy_config: self.strategy_config.clone(),
            broker: BrokerConfig {
                spec: la_broker_paper::InstrumentSpec {
                    taker_fee: self.taker_fee,
                    maker_fee: self.maker_fee,
                    ..defaults.broker.spec
                },
                starting_balance: self.starting_balance,
                slippage_bps: self.slippage_bps,
                slippage_jitter_bps: self.slippage_jitter_bps,
                seed: self.seed,
                latency_ms: self.latency_ms,
                margin: self.margin,
                ..defaults.broker
            },
            warmup_bars: self.warmup_bars,
            dry_run: self.dry_run,
            breaker: BreakerLimits {
                max_daily_drawdown: self.max_daily_drawdown,
                max_consecutive_losses: self.max_consecutive_losses,
            },
            plausibility: self.plausibility,
            ..defaults
        }
    }
}

impl RawRunConfig {
    /// Validates every field, collecting all problems.
    ///
    /// # Errors
    /// Every [`ConfigIssue`] found.
    pub fn validate(&self) -> Result<RunConfig, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let mut check = |key: &str, result: Result<(), String>| {
            if let Err(message) = result {
                issues.push(ConfigIssue {
                    key: key.to_owned(),
                    message,
                });
            }
        };
        if self.mode != "live-session" {
            check(
                "mode",
                Err(format!(
                    "{:?} is not supported; allowed: live-session",
                    self.mode
                )),
            );
        }
        let source = self.source.parse::<Source>();
        check("source", source.as_ref().map(|_| ()).map_err(Clone::clone));
        let symbol = Symbol::normalize(&self.symbol);
        check(
            "symbol",
            symbol.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        );
        let interval = self.interval.parse::<Interval>();
        check(
            "interval",
            interval.as_ref().map(|_| ()).map_err(|_| {
                format!(
                    "{:?} is not an interval; allowed: 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d",
                    self.interval
                )
            }),
        );
        let duration = parse_optional_duration(&self.duration);
        check(
            "duration",
            duration.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        let stale_timeout = parse_duration(&self.stale_timeout);
        check(
            "stale_timeout",
            stale_timeout.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        if let Ok(stale) = &stale_timeout
            && *stale < Duration::from_secs(5)
        {
            check("stale_timeout", Err("must be at least 5s".into()));
        }
        let max_catch_up = parse_duration(&self.max_catch_up);
        check(
            "max_catch_up",
            max_catch_up.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        if max_catch_up.as_ref().is_ok_and(Duration::is_zero) {
            check("max_catch_up", Err("must be longer than 0".into()));
        }
        let max_clock_skew = parse_optional_duration(&self.max_clock_skew);
        check(
            "max_clock_skew",
            max_clock_skew.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        let strategy = self.strategy.parse::<StrategyKind>();
        check(
            "strategy",
            strategy
                .as_ref()
                .map(|_| ())
                .map_err(|_| format!("{:?} is unknown; allowed: setups, sma-cross", self.strategy)),
        );
        if self.starting_balance <= Decimal::ZERO {
            check("starting_balance", Err("must be greater than 0".into()));
        }
        if !(self.speed.is_finite() && self.speed > 0.0 && self.speed <= 100_000.0) {
            check("speed", Err("must be a number in (0, 100000]".into()));
        }
        for (key, url, schemes) in [
            ("ws_url", &self.ws_url, ["ws://", "wss://"]),
            ("rest_url", &self.rest_url, ["http://", "https://"]),
        ] {
            if !schemes.iter().any(|scheme| url.starts_with(scheme)) {
                check(
                    key,
                    Err(format!(
                        "{:?} must start with {} or {}",
                        la_core::redact_url(url),
                        schemes[0],
                        schemes[1]
                    )),
                );
            }
        }
        if self.max_daily_drawdown <= Decimal::ZERO || self.max_daily_drawdown >= Decimal::ONE {
            check(
                "max_daily_drawdown",
                Err("must be a fraction in (0, 1), e.g. 0.05".into()),
            );
        }
        if self.latency_ms < 0 {
            check("latency_ms", Err("must be >= 0".into()));
        }
        for (key, value) in [
            ("slippage_bps", self.slippage_bps),
            ("slippage_jitter_bps", self.slippage_jitter_bps),
        ] {
            if value < Decimal::ZERO || value > Decimal::from(1_000) {
                check(key, Err(format!("{value} must be in [0, 1000] bps")));
            }
        }
        for (key, value) in [("taker_fee", self.taker_fee), ("maker_fee", self.maker_fee)] {
            if value < Decimal::ZERO || value >= Decimal::new(1, 2) {
                check(
                    key,
                    Err(format!(
                        "{value} must be a fraction in [0, 0.01), e.g. 0.0006 for 0.06 %"
                    )),
                );
            }
        }
        let mut faults = Vec::new();
        for spec in &self.faults {
            match la_bitunix_sim::parse_scheduled_fault(spec) {
                Ok(fault) => faults.push(fault),
                Err(err) => check(
                    "faults",
                    Err(format!("{err}; see `laptop-agents sim --help`")),
                ),
            }
        }
        let mock_start = match self.mock_start_ms.map(TimestampMs::new) {
            Some(Err(err)) => {
                check("mock_start_ms", Err(err.to_string()));
                None
            }
            Some(Ok(ts)) => Some(ts),
            None => None,
        };
        let http = parse_http(&self.http, self.http_allow_remote);
        let webhook = self
            .alerts
            .webhook
            .as_deref()
            .filter(|url| !url.trim().is_empty())
            .map(la_ops::alerts::WebhookUrl::parse)
            .transpose();
        check(
            "alerts.webhook",
            webhook.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        let shape = self
            .alerts
            .format
            .as_deref()
            .map_or(Ok(la_ops::alerts::BodyShape::Generic), str::parse);
        check(
            "alerts.format",
            shape.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        let digest_hour_utc = self.alerts.digest_hour_utc.unwrap_or(0);
        if digest_hour_utc > 23 {
            check(
                "alerts.digest_hour_utc",
                Err("must be an hour from 0 to 23".into()),
            );
        }
        check("http", http.as_ref().map(|_| ()).map_err(Clone::clone));
        if self.logs.max_mb == 0 {
            check("logs.max_mb", Err("must be at least 1".into()));
        }
        if self.logs.decisions_max_mb == 0 {
            check("logs.decisions_max_mb", Err("must be at least 1".into()));
        }
        if self.max_rss_mb < 16 {
            check("max_rss_mb", Err("must be at least 16".into()));
        }
        check("plausibility", self.plausibility.validate());
        // Both strategy tables are checked, whichever strategy is chosen: a bad value in
        // the unused table is still a mistake in the file.
        for (table, result) in [
            ("setups", self.setups.validate()),
            ("sma_cross", self.sma_cross.validate()),
        ] {
            if let Err(err) = result {
                match err {
                    la_strategy::StrategyError::InvalidConfig { field, reason } => {
                        check(&format!("{table}.{field}"), Err(reason));
                    }
                    other => check(table, Err(other.to_string())),
                }
            }
        }
        match (
            source,
            symbol,
            interval,
            duration,
            stale_timeout,
            max_clock_skew,
            strategy,
            max_catch_up,
        ) {
            (
                Ok(source),
                Ok(symbol),
                Ok(interval),
                Ok(duration),
                Ok(stale),
                Ok(skew),
                Ok(strategy),
                Ok(max_catch_up),
            ) if issues.is_empty() => Ok(RunConfig {
                source,
                symbol,
                interval,
                duration,
                dry_run: self.dry_run,
                workspace: self.workspace.clone(),
                ws_url: self.ws_url.clone(),
                rest_url: self.rest_url.clone(),
                stale_timeout: stale,
                max_clock_skew: skew,
                max_catch_up,
                starting_balance: self.starting_balance,
                strategy,
                strategy_config: StrategyConfig {
                    setups: self.setups.clone(),
                    sma_cross: self.sma_cross.clone(),
                },
                warmup_bars: self.warmup_bars,
                data: self.data.clone(),
                speed: self.speed,
                seed: self.seed,
                error_budget: self.error_budget,
                max_rss_bytes: self.max_rss_mb.saturating_mul(1024 * 1024),
                max_daily_drawdown: self.max_daily_drawdown,
                max_consecutive_losses: self.max_consecutive_losses,
                force_close_on_stop: self.force_close_on_stop,
                latency_ms: self.latency_ms,
                slippage_bps: self.slippage_bps,
                slippage_jitter_bps: self.slippage_jitter_bps,
                taker_fee: self.taker_fee,
                maker_fee: self.maker_fee,
                faults,
                sim_record: self.sim_record.clone(),
                mock_start,
                mock_funding: self.mock_funding,
                plausibility: self.plausibility,
                margin: self.margin,
                http: http.ok().flatten(),
                alerts: AlertSettings {
                    webhook: webhook.ok().flatten(),
                    shape: shape.unwrap_or_default(),
                    digest_hour_utc,
                },
                logs: self.logs.limits(self.keep_runs),
            }),
            _ => Err(issues),
        }
    }
}
