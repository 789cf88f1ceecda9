//! The heartbeat file (`heartbeat.json`, rewritten every second) and process resource
//! readings, shared by the live session (writer) and `laptop-agents status` (reader).

use std::{fs, io, path::Path};

use la_core::{Decimal, Position};
use la_ops::Health;

use crate::downtime::{CatchingUp, DowntimeRecord};
use serde::{Deserialize, Serialize};

/// The open position as shown in status output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionView {
    /// `long` or `short`.
    pub side: String,
    /// Quantity.
    pub qty: Decimal,
    /// Average entry.
    pub avg_entry: Decimal,
    /// Current stop.
    pub stop_loss: Decimal,
    /// Target, if any.
    pub take_profit: Option<Decimal>,
    /// Isolated leverage.
    pub leverage: u32,
    /// Isolated margin posted (quote currency): the most the position can lose.
    pub margin: Decimal,
    /// Price at which the position is liquidated.
    pub liquidation_price: Decimal,
}

impl From<&Position> for PositionView {
    fn from(p: &Position) -> Self {
        Self {
            side: p.side.as_str().to_owned(),
            qty: p.qty.get(),
            avg_entry: p.avg_entry,
            stop_loss: p.stop_loss.get(),
            take_profit: p.take_profit.map(|t| t.get()),
            leverage: p.leverage.get(),
            margin: p.margin,
            liquidation_price: p.liquidation_price.get(),
        }
    }
}

/// What a running session publishes every second.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Process id.
    pub pid: u32,
    /// Run id.
    pub run_id: String,
    /// Data source.
    pub source: String,
    /// Instrument.
    pub symbol: String,
    /// Candle interval.
    pub interval: String,
    /// Session start (RFC 3339).
    pub started_at: String,
    /// Time of this heartbeat (RFC 3339).
    pub updated_at: String,
    /// Wall-clock epoch ms of this heartbeat (for age checks).
    pub updated_at_ms: i64,
    /// Seconds since start.
    pub uptime_s: u64,
    /// Seconds left, if a duration is set.
    pub time_left_s: Option<u64>,
    /// Latest price.
    pub last_price: Option<Decimal>,
    /// Realized equity.
    pub equity: Decimal,
    /// Equity including unrealized PnL at the last price.
    pub mark_equity: Decimal,
    /// Net PnL since the account started.
    pub pnl: Decimal,
    /// The open position.
    pub position: Option<PositionView>,
    /// Closed candles processed this run.
    pub candles_closed: u64,
    /// Exchange open time of the newest candle.
    pub last_candle_open_ms: Option<i64>,
    /// Milliseconds since the last market data arrived.
    pub last_data_age_ms: u64,
    /// Reconnects this run.
    pub reconnects: u64,
    /// Closed trades this run.
    pub trades: u64,
    /// Errors this run.
    pub errors: u32,
    /// The last error message.
    pub last_error: Option<String>,
    /// Resident memory in bytes.
    pub rss_bytes: Option<u64>,
    /// Set once the session is stopping.
    pub stopping: Option<String>,
    /// Fresh and able to trade, or why not (absent in files of older versions).
    #[serde(default)]
    pub health: Option<Health>,
    /// The dashboard's URL while the HTTP surface is up (`/metrics`, `/healthz` beside it).
    #[serde(default)]
    pub http_url: Option<String>,
    /// Set while the session replays a downtime before trading on: its cause, what revealed
    /// it, and since when. New entries wait until it clears.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catching_up: Option<CatchingUp>,
    /// The downtimes this run detected: start, end, cause, and what catching up booked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub downtime: Vec<DowntimeRecord>,
}

impl Heartbeat {
    /// The one-line console status.
    pub fn status_line(&self) -> String {
        let price = self
            .last_price
            .map_or_else(|| "-".to_owned(), |p| p.to_string());
        let position = self.position.as_ref().map_or_else(
            || "flat".to_owned(),
            |p| {
                format!(
                    "{} {} @ {} ({}x, margin {}, liq {})",
                    p.side,
                    p.qty,
                    p.avg_entry.round_dp(2),
                    p.leverage,
                    p.margin.round_dp(2),
                    p.liquidation_price
                )
            },
        );
        let left = self
            .time_left_s
            .map_or_else(|| "∞".to_owned(), |s| format!("{}:{:02}", s / 60, s % 60));
        format!(
            "{} {} | {} | equity {} | pnl {} | candles {} | trades {} | reconnects {} | left {}",
            self.symbol,
            price,
            position,
            self.mark_equity.round_dp(2),
            self.pnl.round_dp(2),
            self.candles_closed,
            self.trades,
            self.reconnects,
            left
        )
    }
}

impl Heartbeat {
    /// One line per detected downtime, and one for a catch-up in progress (for `status`).
    pub fn downtime_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(now) = &self.catching_up {
            lines.push(format!(
                "catching up: {} ({}) since {}, for {}s; no new entries until done",
                now.cause.as_str(),
                now.detected_by.as_str(),
                crate::time_fmt::ms_to_rfc3339(now.since_ms),
                now.running_s
            ));
        }
        for record in &self.downtime {
            lines.push(crate::downtime::summary_line(record));
        }
        lines
    }
}

/// Writes `value` as JSON via a private temp file and a rename, so readers never see half a
/// file and a link planted at either name is never written through. No fsync: a heartbeat is
/// disposable, and fsyncing every second would wear disks.
///
/// # Errors
/// The write or rename failed.
pub fn write_json_replace<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    la_private_fs::write_replace(path, &bytes, la_private_fs::Durability::Unsynced)
}

/// Reads the heartbeat file.
///
/// # Errors
/// Missing or unparsable file.
pub fn read_heartbeat(path: &Path) -> io::Result<Heartbeat> {
    let bytes = fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(io::Error::other)
}

/// Resident set size of this process, from `/proc/self/status`.
pub fn rss_bytes() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Number of open file descriptors of this process.
pub fn open_fds() -> Option<usize> {
    Some(fs::read_dir("/proc/self/fd").ok()?.count())
}
