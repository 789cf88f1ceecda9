//! Run statistics shared by backtests and live reports ([`RunResults`] in `summary.json`).
//!
//! Definitions (also in the README):
//! - `net_pnl` = ending − starting equity (trades and funding); `trade_pnl` = Σ net PnL of
//!   the closed trades; `funding` = the broker ledger's funding over the run.
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
use la_run_schema::RunResults;

use crate::run_files::EquityPoint;

const DAY_MS: i64 = 86_400_000;

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

/// The account figures a run's statistics read from the broker's ledger at its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountFigures {
    /// Realized equity.
    pub equity: Decimal,
    /// Cumulative funding (negative = paid).
    pub funding_total: Decimal,
    /// Largest peak-to-trough fall of realized equity (quote currency).
    pub max_drawdown: Decimal,
    /// The same as a fraction of that peak.
    pub max_drawdown_frac: Decimal,
}

impl From<&BrokerStats> for AccountFigures {
    fn from(stats: &BrokerStats) -> Self {
        Self {
            equity: stats.equity,
            funding_total: stats.funding_total,
            max_drawdown: stats.max_drawdown,
            max_drawdown_frac: stats.max_drawdown_frac,
        }
    }
}

/// The largest peak-to-trough fall of realized equity along `curve`, starting from
/// `starting_equity`: in quote currency and as a fraction of that peak (the broker's own
/// definition, for a curve stitched from several accounts).
pub fn max_drawdown(starting_equity: Decimal, curve: &[EquityPoint]) -> (Decimal, Decimal) {
    let mut peak = starting_equity;
    let (mut deepest, mut deepest_frac) = (Decimal::ZERO, Decimal::ZERO);
    for point in curve {
        peak = peak.max(point.equity);
        let fall = peak - point.equity;
        if fall > deepest {
            deepest = fall;
            deepest_frac = if peak > Decimal::ZERO {
                fall / peak
            } else {
                Decimal::ZERO
            };
        }
    }
    (deepest, deepest_frac)
}

/// What [`compute_results`] needs: the run's ledger figures, its trades and its curve.
#[derive(Clone, Copy, Debug)]
pub struct RunLedger<'a> {
    /// Realized equity when the run started.
    pub starting_equity: Decimal,
    /// The broker's cumulative funding (its ledger) when the run started.
    pub funding_at_start: Decimal,
    /// The account at the end (equity, funding ledger, drawdown).
    pub account: AccountFigures,
    /// Trades closed during the run.
    pub trades: &'a [Exit],
    /// Equity after every closed candle.
    pub curve: &'a [EquityPoint],
    /// Closed candles with a position open.
    pub exposure_bars: u64,
}

/// The run's money and trade statistics, identically for live sessions and backtests.
/// Funding is the broker ledger's change over the run, never a residual; `net_pnl` is
/// `ending − starting` (trades and funding).
pub fn compute_results(ledger: &RunLedger<'_>) -> RunResults {
    let trades = ledger.trades;
    let wins = trades.iter().filter(|t| t.pnl_net > Decimal::ZERO).count() as u64;
    let n = trades.len() as u64;
    let trade_pnl: Decimal = trades.iter().map(|t| t.pnl_net).sum();
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
    let (sharpe, sortino) = sharpe_sortino(&daily_returns(ledger.starting_equity, ledger.curve));
    let ending_equity = ledger.account.equity;
    RunResults {
        trades: n,
        wins,
        losses: n - wins,
        win_rate: if n == 0 {
            Decimal::ZERO
        } else {
            (Decimal::from(wins) / Decimal::from(n)).round_dp(4)
        },
        starting_equity: ledger.starting_equity,
        ending_equity,
        net_pnl: ending_equity - ledger.starting_equity,
        trade_pnl,
        fees: trades.iter().map(|t| t.fees).sum(),
        funding: ledger.account.funding_total - ledger.funding_at_start,
        max_drawdown: ledger.account.max_drawdown,
        max_drawdown_frac: ledger.account.max_drawdown_frac,
        sharpe,
        sortino,
        profit_factor: (gross_loss > Decimal::ZERO)
            .then(|| (gross_profit / gross_loss).round_dp(4)),
        exposure: if ledger.curve.is_empty() {
            Decimal::ZERO
        } else {
            (Decimal::from(ledger.exposure_bars) / Decimal::from(ledger.curve.len() as u64))
                .round_dp(4)
        },
        liquidations: count_liquidations(trades),
    }
}
