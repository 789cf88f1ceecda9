//! What the session shows an operator: [`SessionView`], a self-contained picture of one
//! moment of a live session, published by the supervisor and read by the HTTP surface.
//!
//! It is plain data (no handles into the session), so a reader can hold it as long as it
//! likes without holding anything up. Money stays `Decimal` and is serialized as an exact
//! string; the page and the metrics convert for display only.

use std::{collections::BTreeMap, sync::Arc};

use la_core::{Exit, Position};
use la_run_schema::downtime::{CatchingUp, DowntimeRecord};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::health::{Health, HealthInputs};

/// One moment of a live session.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SessionView {
    /// Publication number, increasing by one per publication.
    pub seq: u64,
    /// Run id.
    pub run_id: String,
    /// Instrument.
    pub symbol: String,
    /// Data source (`bitunix`, `sim`, `mock`).
    pub source: String,
    /// Process id.
    pub pid: u32,
    /// Session start (RFC 3339, wall clock).
    pub started_at: String,
    /// Seconds since start (monotonic).
    pub uptime_s: u64,
    /// Exchange time of the newest market event (epoch ms): the session's event clock.
    pub event_ts_ms: Option<i64>,
    /// The newest price.
    pub price: Option<Decimal>,
    /// Realized equity.
    pub equity: Decimal,
    /// Equity with the open position marked at the newest price.
    pub mark_equity: Decimal,
    /// Equity when this run started.
    pub session_start_equity: Decimal,
    /// `mark_equity - session_start_equity`.
    pub equity_change: Decimal,
    /// The open position.
    pub position: Option<PositionView>,
    /// Today's (UTC, event time) equity change split by the broker's ledger.
    pub today: DayPnl,
    /// Closed trades this run.
    pub trades: u64,
    /// Fills this run.
    pub fills: u64,
    /// Closed candles processed this run.
    pub candles_closed: u64,
    /// The most recent decisions, newest last.
    pub recent_decisions: Vec<DecisionView>,
    /// The most recent closed trades, newest last.
    pub recent_trades: Vec<TradeView>,
    /// Decision counts: `outcome:<label>` and `blocked_by:<gate>`.
    pub decision_counts: BTreeMap<String, u64>,
    /// Market-data feed health.
    pub feed: FeedView,
    /// The stale-data ladder's stage (`fresh`, `warned`, `reconnect_requested`, `polling_rest`).
    pub stale_stage: String,
    /// The catch-up in progress, while the session replays a downtime before trading on:
    /// its cause and the exchange time the account had reached (the interval runs from there
    /// to `event_ts_ms`).
    pub catching_up: Option<CatchingUp>,
    /// The downtimes detected this run (start, end, cause, and what catching up booked),
    /// in the shape `summary.json` lists them.
    pub downtime: Vec<DowntimeRecord>,
    /// The circuit breaker's trip reason.
    pub breaker_tripped: Option<String>,
    /// Why trading is halted (a broker invariant breach).
    pub halted: Option<String>,
    /// Whether the kill switch was engaged.
    pub kill_switch: bool,
    /// The stop reason once the session is shutting down.
    pub stopping: Option<String>,
    /// Failed state saves this run.
    pub state_save_failures: u64,
    /// Errors counted against the error budget.
    pub errors: u32,
    /// Resident memory in bytes.
    pub rss_bytes: Option<u64>,
    /// Data older than this is stale (ms): the first rung of the stale-data ladder.
    pub stale_after_ms: u64,
    /// The equity curve (per closed candle, thinned to a bounded length); shared, not copied,
    /// between publications that did not change it.
    #[serde(skip)]
    pub curve: Arc<Vec<CurvePoint>>,
}

impl SessionView {
    /// The health verdict with the data age measured now (`data_age_ms`: `None` before the
    /// first market data).
    pub fn health(&self, data_age_ms: Option<u64>) -> Health {
        Health::assess(&HealthInputs {
            data_age_ms,
            stale_after_ms: self.stale_after_ms,
            halted: self.halted.clone(),
            breaker_tripped: self.breaker_tripped.clone(),
            kill_switch: self.kill_switch,
            stopping: self.stopping.clone(),
        })
    }
}

/// The open position.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PositionView {
    /// `long` or `short`.
    pub side: String,
    /// Quantity.
    pub qty: Decimal,
    /// Average entry price.
    pub avg_entry: Decimal,
    /// Current stop.
    pub stop_loss: Decimal,
    /// Target, if any.
    pub take_profit: Option<Decimal>,
    /// PnL at the newest price, net of the entry fees already paid.
    pub unrealized_pnl: Decimal,
    /// Leverage, when the broker models margin.
    pub leverage: Option<Decimal>,
    /// Liquidation price, when the broker models margin.
    pub liquidation_price: Option<Decimal>,
}

impl PositionView {
    /// The broker's open position, with its PnL at the newest price (`unrealized_pnl`, net of
    /// the entry fees already paid).
    pub fn of(position: &Position, unrealized_pnl: Decimal) -> Self {
        Self {
            side: position.side.as_str().to_owned(),
            qty: position.qty.get(),
            avg_entry: position.avg_entry,
            stop_loss: position.stop_loss.get(),
            take_profit: position.take_profit.map(|t| t.get()),
            unrealized_pnl,
            leverage: Some(position.leverage.as_decimal()),
            liquidation_price: Some(position.liquidation_price.get()),
        }
    }
}

/// Today's equity change (UTC day of the event clock), from the broker's ledger:
/// `net = price_pnl - fees + funding`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DayPnl {
    /// The UTC day (`YYYY-MM-DD`).
    pub day: String,
    /// Price movement on positions (realized and unrealized), before fees.
    pub price_pnl: Decimal,
    /// Fees paid (positive = cost).
    pub fees: Decimal,
    /// Funding received (negative = paid).
    pub funding: Decimal,
    /// The equity change.
    pub net: Decimal,
}

/// One decision record, as the dashboard lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DecisionView {
    /// Candle open time (epoch ms).
    pub open_time_ms: i64,
    /// Candle close.
    pub close: Decimal,
    /// What the session did (`no_order`, `submitted`, `warmup`, ...).
    pub outcome: String,
    /// The gate that blocked an order, if one did.
    pub blocked_by: Option<String>,
}

/// One closed trade.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TradeView {
    /// Client order id.
    pub id: String,
    /// `long` or `short`.
    pub side: String,
    /// Exit time (epoch ms).
    pub exit_ts_ms: i64,
    /// Entry price.
    pub entry_price: Decimal,
    /// Exit price.
    pub exit_price: Decimal,
    /// Quantity.
    pub qty: Decimal,
    /// Net PnL (fees included).
    pub pnl_net: Decimal,
    /// Why it closed.
    pub reason: String,
}

impl DecisionView {
    /// A decision record's fields, as the run files keep the recent ones.
    pub fn new(open_time_ms: i64, close: Decimal, outcome: &str, blocked_by: Option<&str>) -> Self {
        Self {
            open_time_ms,
            close,
            outcome: outcome.to_owned(),
            blocked_by: blocked_by.map(str::to_owned),
        }
    }
}

impl TradeView {
    /// A closed trade as the broker reported its exit.
    pub fn of(exit: &Exit) -> Self {
        Self {
            id: exit.client_order_id.to_string(),
            side: exit.side.as_str().to_owned(),
            exit_ts_ms: exit.ts.as_ms(),
            entry_price: exit.entry_price,
            exit_price: exit.exit_price.get(),
            qty: exit.qty.get(),
            pnl_net: exit.pnl_net,
            reason: exit.reason.as_str().to_owned(),
        }
    }
}

/// Market-data feed health.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FeedView {
    /// `connecting`, `connected`, `disconnected` or `reconnecting`.
    pub connection: String,
    /// Reconnects this run.
    pub reconnects: u64,
    /// Frames received, by channel.
    pub frames_by_channel: BTreeMap<String, u64>,
    /// Frames rejected, by reason.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Milliseconds since the last market data when this view was published.
    pub last_frame_age_ms: Option<u64>,
}

/// One point of the equity curve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CurvePoint {
    /// Event time (epoch ms).
    pub ts_ms: i64,
    /// Mark-to-market equity.
    pub equity: Decimal,
}

/// The equity curve, thinned to at most `capacity` points: when full, every other point is
/// dropped, so the curve always spans the whole run at a resolution that halves as it grows.
#[derive(Clone, Debug)]
pub struct Curve {
    points: Arc<Vec<CurvePoint>>,
    capacity: usize,
    /// Only every `stride`-th offered point is kept (doubles with each thinning).
    stride: u64,
    offered: u64,
}

impl Curve {
    /// An empty curve of at most `capacity` points (at least 2).
    pub fn new(capacity: usize) -> Self {
        Self {
            points: Arc::new(Vec::with_capacity(capacity.max(2))),
            capacity: capacity.max(2),
            stride: 1,
            offered: 0,
        }
    }

    /// Offers a point; kept when it falls on the current stride.
    pub fn push(&mut self, point: CurvePoint) {
        self.offered += 1;
        if !(self.offered - 1).is_multiple_of(self.stride) {
            return;
        }
        let points = Arc::make_mut(&mut self.points);
        if points.len() >= self.capacity {
            let mut index = 0;
            points.retain(|_| {
                index += 1;
                index % 2 == 1
            });
            self.stride *= 2;
        }
        points.push(point);
    }

    /// The points, shared.
    pub fn shared(&self) -> Arc<Vec<CurvePoint>> {
        Arc::clone(&self.points)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curve_stays_bounded_and_spans_the_whole_run() {
        let mut curve = Curve::new(8);
        for ts in 0..1_000 {
            curve.push(CurvePoint {
                ts_ms: ts,
                equity: Decimal::from(ts),
            });
        }
        let points = curve.shared();
        assert!(points.len() <= 8, "{} points", points.len());
        assert_eq!(points.first().map(|p| p.ts_ms), Some(0));
        assert!(
            points.last().map_or(0, |p| p.ts_ms) >= 1_000 - 256,
            "{points:?}"
        );
        assert!(points.windows(2).all(|w| w[0].ts_ms < w[1].ts_ms));
    }
}
