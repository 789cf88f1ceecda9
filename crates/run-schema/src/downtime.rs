//! The downtime and funding part of the run-file schema: the downtime intervals a live
//! session detected with what catching up booked, and every funding settlement with where
//! its rate came from. Written to `summary.json` and `heartbeat.json` by the session, read by
//! the report and `status`.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Why the market went on without the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DowntimeCause {
    /// The session was not running (found at start-up).
    Restart,
    /// The machine slept or the process was stopped.
    Suspend,
    /// The process ran but market data did not arrive.
    Outage,
}

impl DowntimeCause {
    /// Stable label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::Suspend => "suspend",
            Self::Outage => "outage",
        }
    }
}

/// What revealed a downtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DowntimeSignal {
    /// At start-up, the saved state was behind the exchange.
    Startup,
    /// The wall clock jumped against the monotonic clock: the machine slept.
    WallClockJump,
    /// The supervisor loop did not run for a while: the process was stopped.
    LoopStalled,
    /// SIGCONT arrived: the process had been stopped.
    Sigcont,
    /// Consecutive market events were more than two intervals apart.
    ExchangeTimeJump,
}

impl DowntimeSignal {
    /// The cause this signal stands for.
    pub const fn cause(self) -> DowntimeCause {
        match self {
            Self::Startup => DowntimeCause::Restart,
            Self::WallClockJump | Self::LoopStalled | Self::Sigcont => DowntimeCause::Suspend,
            Self::ExchangeTimeJump => DowntimeCause::Outage,
        }
    }

    /// Stable label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Startup => "startup",
            Self::WallClockJump => "wall_clock_jump",
            Self::LoopStalled => "loop_stalled",
            Self::Sigcont => "sigcont",
            Self::ExchangeTimeJump => "exchange_time_jump",
        }
    }
}

/// How a detected downtime ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUpOutcome {
    /// The missed market was replayed.
    CaughtUp,
    /// The exchange had no complete candle the session had not seen.
    NothingMissed,
    /// Longer than `max_catch_up`: not replayed, the session stopped.
    TooLong,
    /// The missed market could not be downloaded: not replayed (logged, counted).
    Failed,
    /// The source has no REST history to catch up from.
    NoSource,
}

impl CatchUpOutcome {
    /// Stable label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CaughtUp => "caught_up",
            Self::NothingMissed => "nothing_missed",
            Self::TooLong => "too_long",
            Self::Failed => "failed",
            Self::NoSource => "no_source",
        }
    }
}

/// An exit booked while catching up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatchUpExit {
    /// The position's order.
    pub client_order_id: String,
    /// Why it closed (`stop_loss`, `candle_stop_loss`, `take_profit`, ...).
    pub reason: String,
    /// The fill price of the exit.
    pub exit_price: Decimal,
    /// When (exchange time, ms): inside the candle that crossed the level.
    pub ts_ms: i64,
    /// Net PnL, fees included.
    pub pnl_net: Decimal,
}

/// One downtime the session detected, and what it booked catching up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DowntimeRecord {
    /// Restart, suspend or outage.
    pub cause: DowntimeCause,
    /// What revealed it.
    pub detected_by: DowntimeSignal,
    /// The exchange time the account had reached (epoch ms).
    pub start_ms: i64,
    /// The exchange time it caught up to (epoch ms).
    pub end_ms: i64,
    /// `end_ms − start_ms`.
    pub length_ms: i64,
    /// How long the local clocks say the session was away, when they could tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub away_local_ms: Option<u64>,
    /// How it ended.
    pub outcome: CatchUpOutcome,
    /// Candles replayed.
    pub candles_replayed: u64,
    /// Candles the interval should hold but the exchange did not return.
    pub candles_missing: u64,
    /// Exits booked while catching up.
    pub exits: Vec<CatchUpExit>,
    /// Funding settled while catching up.
    pub funding: Vec<FundingSettlement>,
    /// Funding times passed without a settled rate.
    pub funding_skipped: u64,
    /// Why the catch-up did not run, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the heartbeat shows while a catch-up runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatchingUp {
    /// Restart, suspend or outage.
    pub cause: DowntimeCause,
    /// What revealed it.
    pub detected_by: DowntimeSignal,
    /// The exchange time the account had reached (epoch ms).
    pub since_ms: i64,
    /// Seconds the catch-up has been running.
    pub running_s: u64,
}

/// Where the rate of one settlement came from (recorded in the journal's funding event and
/// the summary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FundingRateSource {
    /// The first price-channel `fr` pushed at or after the funding time.
    PriceChannel,
    /// The exchange's funding-rate history.
    History,
    /// The REST upcoming rate read shortly before the funding time: the fallback when
    /// neither of the above arrived.
    RestUpcoming,
    /// A constant rate assumed by the configuration (backtests).
    Assumed,
    /// A backtest's funding-rate file (`--funding FILE`).
    File,
}

impl FundingRateSource {
    /// Stable label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PriceChannel => "price_channel",
            Self::History => "history",
            Self::RestUpcoming => "rest_upcoming",
            Self::Assumed => "assumed",
            Self::File => "file",
        }
    }
}

/// One funding settlement booked by the account, as the summary lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundingSettlement {
    /// The funding time (epoch ms).
    pub funding_time_ms: i64,
    /// The rate, as a fraction per period.
    pub rate: Decimal,
    /// The mark price the notional was taken at.
    pub mark_price: Decimal,
    /// The cash flow to the account (negative = paid).
    pub amount: Decimal,
    /// Where the rate came from (always known for settlements this build books).
    pub source: Option<FundingRateSource>,
    /// Booked while replaying a downtime.
    pub catch_up: bool,
}
