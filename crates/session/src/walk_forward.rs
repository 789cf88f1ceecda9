//! Walk-forward validation: choose parameters on a training window, trade the choice on the
//! window that follows, move on, and judge the strategy only by those following windows.
//!
//! - [`plan_folds`] cuts the data into folds: fold `k` trains on `[s + k·step, s + k·step +
//!   train)` and tests on the `test` that follows, for as long as a whole test window fits.
//!   Windows are on candle open times, whole multiples of the candle interval. A test window
//!   never overlaps another (`step ≥ test`), so every out-of-sample candle counts once.
//! - [`run_window`] runs one parameter set on one window: the up to `warmup_bars` candles
//!   just before the window are fed as history (indicators warm up, nothing trades), the
//!   window's candles are traded, and a position still open at its end is closed there.
//! - [`walk_forward`] evaluates every candidate on each fold's training window, chooses one
//!   by an [`Objective`], and runs the choice on the test window with the account carried
//!   over from the previous test window, so the stitched out-of-sample curve is one account.
//!
//! **Invariant: a fold's choice never sees a test candle.** The training evaluation is handed
//! only the candles that open before the fold's test window (a slice that ends there), and
//! every run records the candles its engine processed ([`SeenCandles`]); the outcome keeps
//! the newest one any training run read for each fold, which the tests check against the
//! test window's start.

use la_core::{Candle, Decimal, Exit, Provenance};
use la_run_schema::RunResults;
use serde::{Deserialize, Serialize};

use crate::{
    backtest::{HistoryReplay, replay_history},
    config::duration_key,
    engine::{
        DecisionRecord, EngineSettings, EngineSink, EventContext, RestoredState, build_engine,
    },
    error::SessionError,
    run_files::EquityPoint,
    stats::{AccountFigures, RunLedger, compute_results, max_drawdown},
};

/// The three window lengths, in ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowLengths {
    /// Training window.
    pub train_ms: i64,
    /// Test window.
    pub test_ms: i64,
    /// How far the next fold starts after this one.
    pub step_ms: i64,
}

/// A half-open span of candle open times, `[start_ms, end_ms)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeWindow {
    /// First open time inside.
    pub start_ms: i64,
    /// First open time after it.
    pub end_ms: i64,
}

impl TimeWindow {
    /// The candles of `candles` (sorted by open time) that open inside, as index bounds.
    fn bounds(&self, candles: &[Candle]) -> (usize, usize) {
        let index = |t: i64| candles.partition_point(|c| c.open_time().as_ms() < t);
        (index(self.start_ms), index(self.end_ms))
    }
}

/// One fold: a training window and the test window right after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fold {
    /// 0-based.
    pub index: usize,
    /// Where the candidates are evaluated.
    pub train: TimeWindow,
    /// Where the choice is traded.
    pub test: TimeWindow,
}

fn show(ms: i64) -> String {
    u64::try_from(ms).map_or_else(
        |_| format!("{ms} ms"),
        |ms| duration_key(std::time::Duration::from_millis(ms)),
    )
}

/// Cuts `candles` (sorted by open time) into folds.
///
/// # Errors
/// [`SessionError::Window`] naming the window: a length that is not positive or not a whole
/// number of candle intervals, a step shorter than the test window (test windows would
/// overlap), or windows longer than the data. Nothing is run.
pub fn plan_folds(candles: &[Candle], lengths: WindowLengths) -> Result<Vec<Fold>, SessionError> {
    let (Some(first), Some(last)) = (candles.first(), candles.last()) else {
        return Err(SessionError::Window {
            window: "train",
            message: "there are no candles to walk forward over".into(),
        });
    };
    let interval = first.interval().as_ms();
    for (window, length) in [
        ("train", lengths.train_ms),
        ("test", lengths.test_ms),
        ("step", lengths.step_ms),
    ] {
        if length <= 0 {
            return Err(SessionError::Window {
                window,
                message: format!("{} must be longer than zero", show(length)),
            });
        }
        if length % interval != 0 {
            return Err(SessionError::Window {
                window,
                message: format!(
                    "{} is not a whole number of {} candles",
                    show(length),
                    first.interval()
                ),
            });
        }
    }
    if lengths.step_ms < lengths.test_ms {
        return Err(SessionError::Window {
            window: "step",
            message: format!(
                "{} is shorter than --test {}: the test windows would overlap and an out-of-sample candle would count twice",
                show(lengths.step_ms),
                show(lengths.test_ms)
            ),
        });
    }
    let start = first.open_time().as_ms();
    let end = last.close_time().as_ms();
    let span = end - start;
    let too_long = |window: &'static str, what: String| SessionError::Window {
        window,
        message: format!(
            "{what} is longer than the data, which runs from {} to {}",
            crate::time_fmt::ms_to_rfc3339(start),
            crate::time_fmt::ms_to_rfc3339(end)
        ),
    };
    if lengths.test_ms > span {
        return Err(too_long("test", show(lengths.test_ms)));
    }
    if lengths.train_ms > span {
        return Err(too_long("train", show(lengths.train_ms)));
    }
    if lengths.train_ms + lengths.test_ms > span {
        return Err(too_long(
            "train",
            format!(
                "{} with --test {}",
                show(lengths.train_ms),
                show(lengths.test_ms)
            ),
        ));
    }
    let mut folds = Vec::new();
    let mut train_start = start;
    while train_start + lengths.train_ms + lengths.test_ms <= end {
        let test_start = train_start + lengths.train_ms;
        folds.push(Fold {
            index: folds.len(),
            train: TimeWindow {
                start_ms: train_start,
                end_ms: test_start,
            },
            test: TimeWindow {
                start_ms: test_start,
                end_ms: test_start + lengths.test_ms,
            },
        });
        train_start += lengths.step_ms;
    }
    Ok(folds)
}

/// The candles a run's engine processed (history and traded), by open time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenCandles {
    /// How many.
    pub count: u64,
    /// The oldest.
    pub first_open_ms: Option<i64>,
    /// The newest.
    pub last_open_ms: Option<i64>,
}

impl SeenCandles {
    fn saw(&mut self, open_ms: i64) {
        self.count += 1;
        self.first_open_ms = Some(self.first_open_ms.map_or(open_ms, |t| t.min(open_ms)));
        self.last_open_ms = Some(self.last_open_ms.map_or(open_ms, |t| t.max(open_ms)));
    }

    fn merge(&mut self, other: &Self) {
        self.count += other.count;
        self.first_open_ms = [self.first_open_ms, other.first_open_ms]
            .into_iter()
            .flatten()
            .min();
        self.last_open_ms = [self.last_open_ms, other.last_open_ms]
            .into_iter()
            .flatten()
            .max();
    }
}

/// Collects a window run's trades and the candles its engine processed.
#[derive(Debug, Default)]
struct WindowSink {
    trades: Vec<Exit>,
    seen: SeenCandles,
}

impl EngineSink for WindowSink {
    fn broker_event(&mut self, event: &la_core::BrokerEvent, _context: EventContext) {
        if let la_core::BrokerEvent::Exited(exit) = event {
            self.trades.push(exit.clone());
        }
    }

    fn decision(&mut self, record: &DecisionRecord<'_>) {
        self.seen.saw(record.candle.open_time().as_ms());
    }
}

/// One parameter set run on one window.
#[derive(Clone, Debug)]
pub struct WindowRun {
    /// Its statistics (the run's own account: starting balance of its settings).
    pub results: RunResults,
    /// Equity after every traded candle.
    pub curve: Vec<EquityPoint>,
    /// Its closed trades.
    pub trades: Vec<Exit>,
    /// Traded candles closed with a position open.
    pub exposure_bars: u64,
    /// Every candle its engine processed, warm-up history included.
    pub seen: SeenCandles,
    /// Funding times passed that the funding source had no rate for (nothing settled).
    pub funding_missing: u64,
}

/// Runs `settings` on the candles of `candles` (sorted by open time) that open inside
/// `window`, after feeding the up to `warmup_bars` candles just before it as history.
///
/// # Errors
/// An invalid strategy or broker configuration, or a broker invariant breach.
pub fn run_window(
    settings: &EngineSettings,
    candles: &[Candle],
    window: TimeWindow,
    replay: HistoryReplay<'_>,
) -> Result<WindowRun, SessionError> {
    // The window's decisions are only counted (`WindowSink`), never written: their indicator
    // values would be computed for nothing.
    run_window_recording(settings, candles, window, replay, false)
}

/// [`run_window`], with the strategy's indicator values recorded in its decisions or not.
fn run_window_recording(
    settings: &EngineSettings,
    candles: &[Candle],
    window: TimeWindow,
    replay: HistoryReplay<'_>,
    record_indicators: bool,
) -> Result<WindowRun, SessionError> {
    let (start, end) = window.bounds(candles);
    let history = &candles[start.saturating_sub(settings.warmup_bars)..start];
    let traded = &candles[start..end];
    let mut engine = build_engine(settings, RestoredState::default())?;
    engine.record_indicators(record_indicators);
    let mut sink = WindowSink::default();
    for candle in history {
        engine.on_history_candle(candle, Provenance::Historical, &mut sink);
    }
    let mut curve = Vec::with_capacity(traded.len());
    let counts = replay_history(
        &mut engine,
        settings.symbol,
        traded,
        replay,
        &mut sink,
        &mut curve,
    )?;
    let exposure_bars = counts.exposure_bars;
    let results = compute_results(&RunLedger {
        starting_equity: settings.broker.starting_balance,
        funding_at_start: Decimal::ZERO,
        account: (&engine.broker().stats()).into(),
        trades: &sink.trades,
        curve: &curve,
        exposure_bars,
    });
    Ok(WindowRun {
        results,
        curve,
        trades: sink.trades,
        exposure_bars,
        seen: sink.seen,
        funding_missing: counts.funding_missing,
    })
}

/// The statistic a fold's choice maximises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectiveMetric {
    /// Annualised Sharpe ratio of daily returns.
    Sharpe,
    /// Annualised Sortino ratio of daily returns.
    Sortino,
    /// Ending minus starting equity.
    NetPnl,
    /// Gross profit / |gross loss|.
    ProfitFactor,
}

impl ObjectiveMetric {
    /// Every metric, for help texts.
    pub const ALL: [Self; 4] = [
        Self::Sharpe,
        Self::Sortino,
        Self::NetPnl,
        Self::ProfitFactor,
    ];

    /// Stable label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sharpe => "sharpe",
            Self::Sortino => "sortino",
            Self::NetPnl => "net_pnl",
            Self::ProfitFactor => "profit_factor",
        }
    }

    /// The metric of `results`; `None` where it is undefined (fewer than two days, no
    /// losses).
    pub fn of(self, results: &RunResults) -> Option<f64> {
        match self {
            Self::Sharpe => results.sharpe,
            Self::Sortino => results.sortino,
            Self::NetPnl => f64::try_from(results.net_pnl).ok(),
            Self::ProfitFactor => results.profit_factor.and_then(|p| f64::try_from(p).ok()),
        }
        .filter(|v| v.is_finite())
    }
}

impl std::str::FromStr for ObjectiveMetric {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "unknown objective {text:?}; allowed: {}",
                    Self::ALL.map(Self::as_str).join(", ")
                )
            })
    }
}

/// How a fold chooses among the candidates: the highest `metric` among those with at least
/// `min_trades` trades on the training window (the first in grid order on a tie).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objective {
    /// What is maximised.
    pub metric: ObjectiveMetric,
    /// The fewest training trades a candidate needs to be chosen.
    pub min_trades: u64,
}

impl Objective {
    /// The index of the chosen result, if any candidate qualifies.
    pub fn choose(&self, results: &[&RunResults]) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for (i, results) in results.iter().enumerate() {
            if results.trades < self.min_trades {
                continue;
            }
            let Some(score) = self.metric.of(results) else {
                continue;
            };
            if best.is_none_or(|(_, top)| score > top) {
                best = Some((i, score));
            }
        }
        best.map(|(i, _)| i)
    }

    /// How many of `results` pass the trade floor and have the metric.
    fn qualified(&self, results: &[&RunResults]) -> usize {
        results
            .iter()
            .filter(|r| r.trades >= self.min_trades && self.metric.of(r).is_some())
            .count()
    }
}

/// A parameter set to try: a label naming what differs from the base configuration, and
/// the engine it describes.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// e.g. `sma_cross.fast=5 sma_cross.slow=30`.
    pub label: String,
    /// The engine.
    pub settings: EngineSettings,
}

/// What one fold chose and how the choice did.
#[derive(Clone, Debug)]
pub struct FoldChoice {
    /// Index into the candidates.
    pub candidate: usize,
    /// The choice on the training window.
    pub in_sample: WindowRun,
    /// The choice on the test window, with the carried account.
    pub out_of_sample: WindowRun,
}

/// One fold's outcome.
#[derive(Clone, Debug)]
pub struct FoldOutcome {
    /// The windows.
    pub fold: Fold,
    /// Candidates evaluated on the training window.
    pub evaluated: usize,
    /// Those that passed the objective's trade floor with a defined metric.
    pub qualified: usize,
    /// The newest candle any training run of this fold processed (before the test window).
    pub training_seen: SeenCandles,
    /// `None` when no candidate qualified: the fold does not trade.
    pub choice: Option<FoldChoice>,
}

/// A whole walk-forward.
#[derive(Clone, Debug)]
pub struct WalkForward {
    /// Every fold, in time order.
    pub folds: Vec<FoldOutcome>,
    /// The out-of-sample windows only, as one account: the stitched curve, all their trades
    /// and their statistics.
    pub out_of_sample: WindowRun,
}

/// Evaluates `candidates` on `window` of `candles`: one run per candidate, in order.
pub type Evaluate<'a> =
    dyn Fn(&[Candidate], &[Candle], TimeWindow) -> Result<Vec<WindowRun>, SessionError> + 'a;

/// Evaluates each candidate on the window in turn with [`run_window`].
///
/// # Errors
/// The first run that fails.
pub fn evaluate_in_turn(
    candidates: &[Candidate],
    candles: &[Candle],
    window: TimeWindow,
    replay: HistoryReplay<'_>,
) -> Result<Vec<WindowRun>, SessionError> {
    candidates
        .iter()
        .map(|c| run_window(&c.settings, candles, window, replay))
        .collect()
}

/// Walks `folds` forward over `candles` (see the module docs). `evaluate` runs the
/// candidates on a training window; it is handed only the candles before the fold's test
/// window. The first test window starts from the first candidate's starting balance.
///
/// # Errors
/// A run that fails; `candidates` empty.
pub fn walk_forward(
    candles: &[Candle],
    folds: &[Fold],
    candidates: &[Candidate],
    objective: Objective,
    replay: HistoryReplay<'_>,
    evaluate: &Evaluate<'_>,
) -> Result<WalkForward, SessionError> {
    let Some(base) = candidates.first() else {
        return Err(SessionError::Window {
            window: "train",
            message: "no parameter sets to choose from".into(),
        });
    };
    let starting_equity = base.settings.broker.starting_balance;
    let mut equity = starting_equity;
    let mut outcomes = Vec::with_capacity(folds.len());
    let (mut curve, mut trades) = (Vec::new(), Vec::new());
    let (mut exposure_bars, mut seen) = (0, SeenCandles::default());
    let (mut funding, mut funding_missing) = (Decimal::ZERO, 0);
    for fold in folds {
        let (test_start, _) = fold.test.bounds(candles);
        let before_test = &candles[..test_start];
        let runs = evaluate(candidates, before_test, fold.train)?;
        let mut training_seen = SeenCandles::default();
        for run in &runs {
            training_seen.merge(&run.seen);
        }
        let results: Vec<&RunResults> = runs.iter().map(|r| &r.results).collect();
        let chosen = objective.choose(&results);
        let qualified = objective.qualified(&results);
        let choice = match chosen {
            None => None,
            Some(index) => {
                let mut settings = candidates[index].settings.clone();
                settings.broker.starting_balance = equity;
                let out_of_sample = run_window(&settings, candles, fold.test, replay)?;
                equity = out_of_sample.results.ending_equity;
                funding += out_of_sample.results.funding;
                funding_missing += out_of_sample.funding_missing;
                curve.extend_from_slice(&out_of_sample.curve);
                trades.extend_from_slice(&out_of_sample.trades);
                exposure_bars += out_of_sample.exposure_bars;
                seen.merge(&out_of_sample.seen);
                Some(FoldChoice {
                    candidate: index,
                    in_sample: runs[index].clone(),
                    out_of_sample,
                })
            }
        };
        outcomes.push(FoldOutcome {
            fold: *fold,
            evaluated: runs.len(),
            qualified,
            training_seen,
            choice,
        });
    }
    let (drawdown, drawdown_frac) = max_drawdown(starting_equity, &curve);
    let results = compute_results(&RunLedger {
        starting_equity,
        funding_at_start: Decimal::ZERO,
        account: AccountFigures {
            equity,
            funding_total: funding,
            max_drawdown: drawdown,
            max_drawdown_frac: drawdown_frac,
        },
        trades: &trades,
        curve: &curve,
        exposure_bars,
    });
    Ok(WalkForward {
        folds: outcomes,
        out_of_sample: WindowRun {
            results,
            curve,
            trades,
            exposure_bars,
            seen,
            funding_missing,
        },
    })
}

#[cfg(test)]
mod tests;
