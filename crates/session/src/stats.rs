//! Run statistics shared by backtests and live reports.
//!
//! Definitions (also in the README):
//! - `win_rate` = wins / trades, a win being net PnL > 0 (zero counts as a loss).
//! - `max_drawdown` = largest peak-to-trough fall of realized equity, in quote currency and
//!   as a fraction of the peak (from the broker).
//! - `sharpe` / `sortino`: over **daily** (UTC) returns of mark-to-market equity, annualised
//!   with √365 (crypto trades every day); Sortino's denominator is the downside deviation
//!   (root mean square of negative daily returns). `null` when fewer than two days or a zero
//!   denominator. Ratios are dimensionless, so they are computed in `f64`; money stays
//!   `Decimal`.
//! - `profit_factor` = gross profit / |gross loss| of closed trades (`null` without losses).
//! - `exposure` = fraction of candles that closed with a position open.
//! - `liquidations` = closed trades whose exit reason is `liquidation`.

use la_broker_paper::BrokerStats;
use la_core::{Decimal, Exit, ExitReason};
use serde::Serialize;

use crate::run_files::EquityPoint;

const DAY_MS: i64 = 86_400_000;

/// Trade and risk statistics of a run.
#[derive(Clone, Debug, Serialize)]
pub struct RunStats {
    /// Closed trades.
    pub trades: u64,
    /// Trades with net PnL > 0.
    pub wins: u64,
    /// The rest.
    pub losses: u64,
    /// wins / trades (0 without trades).
    pub win_rate: Decimal,
    /// Equity at the start.
    pub starting_equity: Decimal,
    /// Equity at the end.
    pub ending_equity: Decimal,
    /// Σ net PnL of closed trades.
    pub net_pnl: Decimal,
    /// Σ fees of closed trades.
    pub fees: Decimal,
    /// Funding cash flow (ending − starting − Σ pnl).
    pub funding: Decimal,
    /// Maximum drawdown (quote).
    pub max_drawdown: Decimal,
    /// Maximum drawdown as a fraction of the peak.
    pub max_drawdown_frac: Decimal,
    /// Annualised Sharpe ratio of daily returns.
    pub sharpe: Option<f64>,
    /// Annualised Sortino ratio of daily returns.
    pub sortino: Option<f64>,
    /// Gross profit / |gross loss|.
    pub profit_factor: Option<Decimal>,
    /// Fraction of candles closed in a position.
    pub exposure: Decimal,
    /// Trades closed by liquidation (counted in `trades` too).
    pub liquidations: u64,
}

/// How many of `trades` were closed by liquidation.
pub fn count_liquidations(trades: &[Exit]) -> u64 {
    trades
        .iter()
        .filter(|t| t.reason == ExitReason::Liquidation)
        .count() as u64
}

/// Daily returns from the equity curve (last mark-to-market value of each UTC day).
pub fn daily_returns(starting_equity: Decimal, curve: &[EquityPoint]) -> Vec<f64> {
    let mut closes: Vec<Decimal> = Vec::new();
    let mut current_day = None;
    for point in curve {
        let day = (point.ts_ms - 1).div_euclid(DAY_MS);
        if current_day == Some(day) {
            if let Some(last) = closes.last_mut() {
                *last = point.mark_equity;
            }
        } else {
            current_day = Some(day);
            closes.push(point.mark_equity);
        }
    }
    let mut previous = starting_equity;
    let mut returns = Vec::with_capacity(closes.len());
    for close in closes {
        if previous > Decimal::ZERO {
            let r = (close - previous) / previous;
            returns.push(r.to_string().parse::<f64>().unwrap_or(0.0));
        }
        previous = close;
    }
    returns
}

fn annualised(mean: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0 && denominator.is_finite()).then(|| mean / denominator * 365f64.sqrt())
}

/// Sharpe and Sortino of a return series.
pub fn sharpe_sortino(returns: &[f64]) -> (Option<f64>, Option<f64>) {
    if returns.len() < 2 {
        return (None, None);
    }
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let variance = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let downside = (returns.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n).sqrt();
    (
        annualised(mean, variance.sqrt()),
        annualised(mean, downside),
    )
}

/// Computes [`RunStats`].
pub fn compute_stats(
    starting_equity: Decimal,
    ending_equity: Decimal,
    trades: &[Exit],
    curve: &[EquityPoint],
    exposure_bars: u64,
    broker: &BrokerStats,
) -> RunStats {
    let wins = trades.iter().filter(|t| t.pnl_net > Decimal::ZERO).count() as u64;
    let n = trades.len() as u64;
    let net_pnl: Decimal = trades.iter().map(|t| t.pnl_net).sum();
    let gross_profit: Decimal = trades
        .iter()
        .filter(|t| t.pnl_net > Decimal::ZERO)
        .map(|t| t.pnl_net)
        .sum();
    let gross_loss: Decimal = trades
        .iter()
        .filter(|t| t.pnl_net < Decimal::ZERO)
        .map(|t| -t.pnl_net)
        .sum();
    let (sharpe, sortino) = sharpe_sortino(&daily_returns(starting_equity, curve));
    RunStats {
        trades: n,
        wins,
        losses: n - wins,
        win_rate: if n == 0 {
            Decimal::ZERO
        } else {
            (Decimal::from(wins) / Decimal::from(n)).round_dp(4)
        },
        starting_equity,
        ending_equity,
        net_pnl,
        fees: trades.iter().map(|t| t.fees).sum(),
        funding: ending_equity - starting_equity - net_pnl,
        max_drawdown: broker.max_drawdown,
        max_drawdown_frac: broker.max_drawdown_frac,
        sharpe,
        sortino,
        profit_factor: (gross_loss > Decimal::ZERO)
            .then(|| (gross_profit / gross_loss).round_dp(4)),
        exposure: if curve.is_empty() {
            Decimal::ZERO
        } else {
            (Decimal::from(exposure_bars) / Decimal::from(curve.len() as u64)).round_dp(4)
        },
        liquidations: count_liquidations(trades),
    }
}
