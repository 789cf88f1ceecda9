//! Tests of the walk-forward: fold planning and its refusals, window runs, the objective,
//! and the invariant that a fold's choice never sees a candle of its test window.

use la_core::{Candle, Decimal, Interval, Symbol, TimestampMs};
use la_strategy::{SmaCrossConfig, StrategyKind};

use super::{
    Candidate, Fold, Objective, ObjectiveMetric, TimeWindow, WindowLengths, evaluate_in_turn,
    plan_folds, run_window, run_window_recording, walk_forward,
};
use crate::{
    backtest::HistoryReplay, engine::EngineSettings, error::SessionError, funding_source::Funding,
    mock_feed::CandleGenerator,
};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// 2026-08-13T00:00:00Z.
const START: i64 = 1_786_579_200_000;

/// `days` of generated 1-minute candles from [`START`].
fn candles(days: i64) -> Vec<Candle> {
    let start = TimestampMs::new(START).expect("ts");
    let mut generator = CandleGenerator::new(11, Interval::M1, start, Decimal::from(60_000));
    (0..days * 24 * 60)
        .map(|_| generator.next_candle().expect("candle"))
        .collect()
}

/// An SMA-crossover candidate (it trades often on generated data).
fn sma(fast: usize, slow: usize) -> Candidate {
    let mut settings = EngineSettings::new(
        Symbol::new("BTCUSDT").expect("symbol"),
        StrategyKind::SmaCross,
    );
    settings.strategy_config.sma_cross = SmaCrossConfig {
        fast,
        slow,
        ..SmaCrossConfig::default()
    };
    settings.warmup_bars = slow;
    Candidate {
        label: format!("sma_cross.fast={fast} sma_cross.slow={slow}"),
        settings,
    }
}

/// Waypoint ticks, funding not modelled.
fn unfunded() -> HistoryReplay<'static> {
    HistoryReplay {
        intrabar: crate::intrabar::IntrabarTicks::Waypoints,
        funding: &Funding::NotModelled,
    }
}

fn lengths(train: i64, test: i64, step: i64) -> WindowLengths {
    WindowLengths {
        train_ms: train,
        test_ms: test,
        step_ms: step,
    }
}

fn window_error(result: Result<Vec<Fold>, SessionError>) -> (&'static str, String) {
    match result {
        Err(SessionError::Window { window, message }) => (window, message),
        other => panic!("expected a window error, got {other:?}"),
    }
}

#[test]
fn folds_train_then_test_right_after_and_step_on_while_a_whole_test_fits() {
    let folds = plan_folds(&candles(3), lengths(DAY, 12 * HOUR, 12 * HOUR)).expect("folds");
    let windows: Vec<(i64, i64, i64)> = folds
        .iter()
        .map(|f| {
            assert_eq!(
                f.train.end_ms, f.test.start_ms,
                "the test follows its training"
            );
            (
                (f.train.start_ms - START) / HOUR,
                (f.test.start_ms - START) / HOUR,
                (f.test.end_ms - START) / HOUR,
            )
        })
        .collect();
    assert_eq!(
        windows,
        [(0, 24, 36), (12, 36, 48), (24, 48, 60), (36, 60, 72)]
    );
}

#[test]
fn bad_windows_are_refused_naming_the_window() {
    let data = candles(2);
    let (window, message) = window_error(plan_folds(&data, lengths(DAY, 12 * HOUR, 6 * HOUR)));
    assert_eq!(window, "step");
    assert!(message.contains("overlap"), "{message}");
    let (window, message) = window_error(plan_folds(&data, lengths(DAY, 3 * DAY, 3 * DAY)));
    assert_eq!(window, "test");
    assert!(message.contains("longer than the data"), "{message}");
    let (window, _) = window_error(plan_folds(&data, lengths(3 * DAY, HOUR, HOUR)));
    assert_eq!(window, "train");
    let (window, message) = window_error(plan_folds(&data, lengths(DAY + HOUR, DAY, DAY)));
    assert_eq!(window, "train");
    assert!(message.contains("with --test 1d"), "{message}");
    let (window, _) = window_error(plan_folds(&data, lengths(0, HOUR, HOUR)));
    assert_eq!(window, "train");
    let (window, message) = window_error(plan_folds(&data, lengths(DAY, HOUR + 30_000, 2 * HOUR)));
    assert_eq!(window, "test");
    assert!(message.contains("whole number"), "{message}");
}

#[test]
fn a_window_run_reads_its_warm_up_and_its_window_and_nothing_after() {
    let data = candles(2);
    let candidate = sma(5, 30);
    let window = TimeWindow {
        start_ms: START + 6 * HOUR,
        end_ms: START + 12 * HOUR,
    };
    let run = run_window(&candidate.settings, &data, window, unfunded()).expect("run");
    assert_eq!(
        run.seen.first_open_ms,
        Some(window.start_ms - 30 * MINUTE),
        "30 warm-up candles"
    );
    assert_eq!(run.seen.last_open_ms, Some(window.end_ms - MINUTE));
    assert_eq!(run.seen.count, 30 + 6 * 60);
    assert_eq!(run.curve.len(), 6 * 60, "only the window is traded");
    assert!(run.results.trades > 0, "the candidate trades");
    assert!(
        run.trades
            .iter()
            .all(|t| t.opened_at.as_ms() >= window.start_ms && t.ts.as_ms() <= window.end_ms),
        "no trade outside the window"
    );
}

#[test]
fn no_folds_choice_ever_sees_a_candle_of_its_test_window() {
    let outcome = walk_three(&candles(3));
    assert_eq!(outcome.folds.len(), 4);
    for fold in &outcome.folds {
        let test_start = fold.fold.test.start_ms;
        let newest = fold
            .training_seen
            .last_open_ms
            .expect("training read candles");
        assert!(
            newest < test_start,
            "fold {}: a training run read the candle of {newest}, inside the test window from {test_start}",
            fold.fold.index
        );
        // Not vacuous: training reads right up to the test window.
        assert_eq!(newest, test_start - MINUTE, "fold {}", fold.fold.index);
        let choice = fold.choice.as_ref().expect("a candidate qualifies");
        let tested = choice.out_of_sample.seen;
        assert!(
            tested.first_open_ms.expect("test run") < test_start,
            "warm-up before the test"
        );
        assert_eq!(tested.last_open_ms, Some(fold.fold.test.end_ms - MINUTE));
        assert!(
            choice
                .out_of_sample
                .trades
                .iter()
                .all(|t| t.opened_at.as_ms() >= test_start),
            "the warm-up candles are never traded on"
        );
    }
}

/// A walk-forward of three SMA candidates over `data` in 1-day/12-hour folds.
fn walk_three(data: &[Candle]) -> super::WalkForward {
    let folds = plan_folds(data, lengths(DAY, 12 * HOUR, 12 * HOUR)).expect("folds");
    let candidates = [sma(5, 30), sma(10, 30), sma(20, 60)];
    let objective = Objective {
        metric: ObjectiveMetric::NetPnl,
        min_trades: 1,
    };
    let options = unfunded();
    walk_forward(
        data,
        &folds,
        &candidates,
        objective,
        options,
        &|c, candles, w| evaluate_in_turn(c, candles, w, options),
    )
    .expect("walk forward")
}

#[test]
fn rewriting_the_future_never_changes_a_choice_made_before_it() {
    let original = candles(3);
    // From 48 h on, a different market: fold 2 tests there, fold 3 trains on part of it.
    let cut = original
        .iter()
        .position(|c| c.open_time().as_ms() == START + 48 * HOUR)
        .expect("cut");
    let mut generator = CandleGenerator::new(
        99,
        Interval::M1,
        TimestampMs::new(START + 48 * HOUR).expect("ts"),
        original[cut - 1].close().get() * Decimal::new(12, 1),
    );
    let mut rewritten = original[..cut].to_vec();
    rewritten.extend((cut..original.len()).map(|_| generator.next_candle().expect("candle")));
    let (before, after) = (walk_three(&original), walk_three(&rewritten));
    for (a, b) in before.folds.iter().zip(&after.folds) {
        let (a_choice, b_choice) = (
            a.choice.as_ref().expect("chosen"),
            b.choice.as_ref().expect("chosen"),
        );
        if a.fold.test.start_ms <= START + 48 * HOUR {
            assert_eq!(
                (a_choice.candidate, &a_choice.in_sample.results),
                (b_choice.candidate, &b_choice.in_sample.results),
                "fold {}: its choice changed with candles after its training window",
                a.fold.index
            );
        } else {
            assert_ne!(
                a_choice.in_sample.results, b_choice.in_sample.results,
                "fold {} trains on rewritten candles: the rewrite must show",
                a.fold.index
            );
        }
    }
    assert_ne!(
        before.folds[2]
            .choice
            .as_ref()
            .map(|c| &c.out_of_sample.results),
        after.folds[2]
            .choice
            .as_ref()
            .map(|c| &c.out_of_sample.results),
        "fold 2 tests on rewritten candles"
    );
}

#[test]
fn the_out_of_sample_windows_are_one_account_carried_from_fold_to_fold() {
    let outcome = walk_three(&candles(3));
    let tested: Vec<_> = outcome
        .folds
        .iter()
        .map(|f| &f.choice.as_ref().expect("chosen").out_of_sample.results)
        .collect();
    let start = sma(5, 30).settings.broker.starting_balance;
    assert_eq!(tested[0].starting_equity, start);
    for pair in tested.windows(2) {
        assert_eq!(
            pair[1].starting_equity, pair[0].ending_equity,
            "carried over"
        );
    }
    let aggregate = &outcome.out_of_sample.results;
    assert_eq!(aggregate.starting_equity, start);
    assert_eq!(aggregate.ending_equity, tested[3].ending_equity);
    assert_eq!(
        aggregate.net_pnl,
        tested.iter().map(|r| r.net_pnl).sum::<Decimal>()
    );
    assert_eq!(
        aggregate.trades,
        tested.iter().map(|r| r.trades).sum::<u64>()
    );
    assert_eq!(
        outcome.out_of_sample.curve.len(),
        4 * 12 * 60,
        "test candles only"
    );
}

fn results(trades: u64, sharpe: Option<f64>) -> la_run_schema::RunResults {
    la_run_schema::RunResults {
        trades,
        wins: 0,
        losses: trades,
        win_rate: Decimal::ZERO,
        starting_equity: Decimal::from(10_000),
        ending_equity: Decimal::from(10_000),
        net_pnl: Decimal::ZERO,
        trade_pnl: Decimal::ZERO,
        fees: Decimal::ZERO,
        funding: Decimal::ZERO,
        max_drawdown: Decimal::ZERO,
        max_drawdown_frac: Decimal::ZERO,
        sharpe,
        sortino: None,
        profit_factor: None,
        exposure: Decimal::ZERO,
        liquidations: 0,
    }
}

#[test]
fn the_objective_takes_the_best_metric_above_the_trade_floor_first_on_a_tie() {
    let objective = Objective {
        metric: ObjectiveMetric::Sharpe,
        min_trades: 5,
    };
    let few = results(4, Some(9.0));
    let undefined = results(50, None);
    let good = results(5, Some(1.5));
    let same = results(30, Some(1.5));
    let worse = results(30, Some(-2.0));
    assert_eq!(
        objective.choose(&[&few, &undefined, &worse, &good, &same]),
        Some(3)
    );
    assert_eq!(
        objective.qualified(&[&few, &undefined, &worse, &good, &same]),
        3
    );
    assert_eq!(
        objective.choose(&[&few, &undefined]),
        None,
        "nobody qualifies"
    );
    assert_eq!(
        "net_pnl".parse::<ObjectiveMetric>(),
        Ok(ObjectiveMetric::NetPnl)
    );
    assert!(
        "sharp"
            .parse::<ObjectiveMetric>()
            .unwrap_err()
            .contains("allowed: sharpe")
    );
}

/// A sweep's or a fold's window runs without the decisions' indicator values; the trades
/// and every result are those of a run that records them (the setups strategy on a week of
/// the real month, where it trades).
#[test]
fn a_window_run_without_indicator_values_trades_and_scores_like_one_with_them() {
    let path = la_shared_data::path("candles/binance_spot_btcusdt_1m_2021-04-20_2021-05-20.csv.gz");
    let month = crate::candle_file::load_candles(&path, Interval::M1)
        .expect("readable candle file")
        .candles;
    let week = &month[..7 * 24 * 60];
    let window = TimeWindow {
        start_ms: week[1_000].open_time().as_ms(),
        end_ms: week[week.len() - 1].open_time().as_ms() + 1,
    };
    let settings = EngineSettings::new(
        Symbol::new("BTCUSDT").expect("symbol"),
        StrategyKind::Setups,
    );
    let lean = run_window(&settings, week, window, unfunded()).expect("lean run");
    let recorded =
        run_window_recording(&settings, week, window, unfunded(), true).expect("recorded run");
    assert!(
        recorded.trades.len() >= 5,
        "{} trades",
        recorded.trades.len()
    );
    assert_eq!(lean.trades.len(), recorded.trades.len(), "trades");
    assert_eq!(lean.trades, recorded.trades);
    let points = |run: &super::WindowRun| -> Vec<(i64, Decimal, Decimal)> {
        run.curve
            .iter()
            .map(|p| (p.ts_ms, p.equity, p.mark_equity))
            .collect()
    };
    assert_eq!(points(&lean), points(&recorded));
    assert_eq!(lean.results, recorded.results);
}
