//! `laptop-agents walk-forward`: the grid's parameter sets evaluated on each training
//! window, the objective's choice traded on the test window right after it, every fold
//! reported (choice, in-sample vs out-of-sample), and the out-of-sample windows judged as
//! one stitched account. Configured like `backtest`; every grid point is a configuration
//! layer, validated before anything runs. The stitched curve, the fold table and a page are
//! written to `walk-forward/<id>/` once the walk-forward has run ([`files`]).

mod files;

use std::process::ExitCode;

use la_session::{
    FundingModel, RunResults,
    config::parse_duration,
    error_chain,
    time_fmt::{ms_to_rfc3339, run_stamp},
    walk_forward::{
        Candidate, Objective, WalkForward, WindowLengths, evaluate_in_turn, plan_folds,
        walk_forward,
    },
};
use serde::Serialize;

use crate::{
    Failure,
    args::WalkForwardArgs,
    commands::{
        backtest::{fmt_ratio, risk_rows},
        history,
    },
    console::outln,
    grid::Grid,
};

/// One fold as `--json` prints it.
#[derive(Serialize)]
struct FoldJson<'a> {
    index: usize,
    train_from: String,
    train_to: String,
    test_from: String,
    test_to: String,
    evaluated: usize,
    qualified: usize,
    /// The newest candle any training run of the fold processed.
    training_last_candle: Option<String>,
    chosen: Option<&'a str>,
    in_sample: Option<&'a RunResults>,
    out_of_sample: Option<&'a RunResults>,
}

/// How often each parameter set was chosen, and what it made out of sample.
#[derive(Serialize)]
struct LeaderboardRow<'a> {
    parameters: &'a str,
    folds_chosen: usize,
    out_of_sample_net_pnl: la_core::Decimal,
    out_of_sample_trades: u64,
}

#[derive(Serialize)]
struct WalkForwardJson<'a> {
    data: String,
    candles: usize,
    parameter_sets: usize,
    objective: Objective,
    folds: Vec<FoldJson<'a>>,
    leaderboard: Vec<LeaderboardRow<'a>>,
    /// The stitched out-of-sample account: the only figures that judge the strategy.
    out_of_sample: &'a RunResults,
    out_of_sample_curve_points: usize,
    /// Where the funding rates came from (`not_modelled` without a source).
    funding_model: &'a FundingModel,
    /// Funding times of the test windows the source had no rate for (nothing settled then).
    funding_missing: u64,
    /// The directory and its files: `oos_equity.csv`, `folds.csv`, `walk_forward.html`.
    files: &'a files::WalkForwardFiles,
}

fn window_ms(name: &str, text: &str) -> Result<i64, Failure> {
    parse_duration(text)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .ok_or_else(|| {
            Failure::config(
                format!("`--{name}`: {text:?} is not a window length"),
                "e.g. 14d, 36h, 90m",
            )
        })
}

pub(crate) fn run(args: &WalkForwardArgs) -> Result<ExitCode, Failure> {
    let grid = Grid::load(&args.grid)?;
    let experiment = history::resolve(&args.experiment)?;
    let points = grid.points();
    let mut candidates = Vec::new();
    for point in &points {
        let config = point.config(&args.experiment)?;
        candidates.push(Candidate {
            label: point.label.clone(),
            settings: config.engine_settings(),
        });
    }
    let test_ms = window_ms("test", &args.test)?;
    let lengths = WindowLengths {
        train_ms: window_ms("train", &args.train)?,
        test_ms,
        step_ms: args
            .step
            .as_deref()
            .map_or(Ok(test_ms), |s| window_ms("step", s))?,
    };
    let candles = experiment.load_candles()?;
    let folds = plan_folds(&candles, lengths).map_err(|e| {
        Failure::config(error_chain(&e), "--train and --test are lengths such as 14d or 36h that fit the data together; --step is at least --test")
    })?;
    let objective = Objective {
        metric: args.objective,
        min_trades: args.min_trades,
    };
    let replay = experiment.replay();
    let outcome = walk_forward(
        &candles,
        &folds,
        &candidates,
        objective,
        replay,
        &|c, before_test, window| evaluate_in_turn(c, before_test, window, replay),
    )
    .map_err(|e| Failure::runtime(format!("walk-forward failed: {}", error_chain(&e))))?;
    let leaderboard = leaderboard(&outcome, &candidates);
    let funding_model = experiment.funding.model();
    let id = format!("walk-forward-{}-{}", run_stamp(), std::process::id());
    let facts = [
        format!("{} candles of {}", candles.len(), experiment.data.display()),
        format!(
            "train {} · test {} · step {}",
            args.train,
            args.test,
            args.step.as_deref().unwrap_or(&args.test)
        ),
        format!(
            "{} parameter sets, objective {} (at least {} training trades)",
            candidates.len(),
            args.objective.as_str(),
            args.min_trades
        ),
    ];
    let values: Vec<Vec<String>> = points.iter().map(|p| p.values.clone()).collect();
    let labels: Vec<&str> = candidates.iter().map(|c| c.label.as_str()).collect();
    let files = files::write(
        &experiment.config.workspace,
        &outcome,
        &files::Described {
            id: &id,
            keys: &grid.keys(),
            values: &values,
            labels: &labels,
            facts: &facts,
            funding: &funding_model,
        },
    )?;
    if args.json {
        let json = WalkForwardJson {
            data: experiment.data.display().to_string(),
            candles: candles.len(),
            parameter_sets: candidates.len(),
            objective,
            folds: outcome
                .folds
                .iter()
                .map(|f| FoldJson {
                    index: f.fold.index,
                    train_from: ms_to_rfc3339(f.fold.train.start_ms),
                    train_to: ms_to_rfc3339(f.fold.train.end_ms),
                    test_from: ms_to_rfc3339(f.fold.test.start_ms),
                    test_to: ms_to_rfc3339(f.fold.test.end_ms),
                    evaluated: f.evaluated,
                    qualified: f.qualified,
                    training_last_candle: f.training_seen.last_open_ms.map(ms_to_rfc3339),
                    chosen: f
                        .choice
                        .as_ref()
                        .map(|c| candidates[c.candidate].label.as_str()),
                    in_sample: f.choice.as_ref().map(|c| &c.in_sample.results),
                    out_of_sample: f.choice.as_ref().map(|c| &c.out_of_sample.results),
                })
                .collect(),
            leaderboard,
            out_of_sample: &outcome.out_of_sample.results,
            out_of_sample_curve_points: outcome.out_of_sample.curve.len(),
            funding_model: &funding_model,
            funding_missing: outcome.out_of_sample.funding_missing,
            files: &files,
        };
        let text = serde_json::to_string(&json)
            .map_err(|e| Failure::runtime(format!("cannot serialise the walk-forward: {e}")))?;
        outln!("{text}");
    } else {
        print_table(
            args,
            &experiment.data,
            candles.len(),
            &candidates,
            &outcome,
            &leaderboard,
            &funding_model,
        );
        for (name, path) in [
            ("stitched curve", &files.oos_equity),
            ("folds", &files.folds),
            ("page", &files.html),
        ] {
            outln!("  {name:<16} {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every parameter set chosen at least once: how often, and its out-of-sample net PnL and
/// trades summed over those folds; most chosen first, then by net PnL.
fn leaderboard<'a>(outcome: &WalkForward, candidates: &'a [Candidate]) -> Vec<LeaderboardRow<'a>> {
    let mut rows: Vec<LeaderboardRow<'a>> = Vec::new();
    for choice in outcome.folds.iter().filter_map(|f| f.choice.as_ref()) {
        let label = candidates[choice.candidate].label.as_str();
        let results = &choice.out_of_sample.results;
        if let Some(row) = rows.iter_mut().find(|r| r.parameters == label) {
            row.folds_chosen += 1;
            row.out_of_sample_net_pnl += results.net_pnl;
            row.out_of_sample_trades += results.trades;
        } else {
            rows.push(LeaderboardRow {
                parameters: label,
                folds_chosen: 1,
                out_of_sample_net_pnl: results.net_pnl,
                out_of_sample_trades: results.trades,
            });
        }
    }
    rows.sort_by(|a, b| {
        b.folds_chosen
            .cmp(&a.folds_chosen)
            .then(b.out_of_sample_net_pnl.cmp(&a.out_of_sample_net_pnl))
    });
    rows
}

fn print_table(
    args: &WalkForwardArgs,
    data: &std::path::Path,
    candles: usize,
    candidates: &[Candidate],
    outcome: &WalkForward,
    leaderboard: &[LeaderboardRow<'_>],
    funding: &FundingModel,
) {
    outln!(
        "walk-forward over {candles} candles ({}): {} folds, {} parameter sets, objective {} (at least {} training trades)",
        data.display(),
        outcome.folds.len(),
        candidates.len(),
        args.objective.as_str(),
        args.min_trades
    );
    outln!(
        "{:>4}  {:<17} {:<17} {:>10} {:>7} {:>6}  {:>10} {:>7} {:>6}  chosen",
        "fold",
        "train from",
        "test from",
        "IS net",
        "IS shp",
        "IS n",
        "OOS net",
        "OOS shp",
        "OOS n"
    );
    let minute = |ms: i64| ms_to_rfc3339(ms).chars().take(16).collect::<String>();
    for fold in &outcome.folds {
        let head = format!(
            "{:>4}  {:<17} {:<17}",
            fold.fold.index,
            minute(fold.fold.train.start_ms),
            minute(fold.fold.test.start_ms)
        );
        match &fold.choice {
            Some(choice) => {
                let (is, oos) = (&choice.in_sample.results, &choice.out_of_sample.results);
                outln!(
                    "{head} {:>10} {:>7} {:>6}  {:>10} {:>7} {:>6}  {}",
                    is.net_pnl.round_dp(2),
                    fmt_ratio(is.sharpe),
                    is.trades,
                    oos.net_pnl.round_dp(2),
                    fmt_ratio(oos.sharpe),
                    oos.trades,
                    candidates[choice.candidate].label
                );
            }
            None => outln!(
                "{head} no set qualified ({} evaluated): the fold does not trade",
                fold.evaluated
            ),
        }
    }
    let s = &outcome.out_of_sample.results;
    outln!("out of sample (the test windows stitched into one account):");
    for (name, value) in [
        (
            "net pnl",
            format!(
                "{} ({} → {})",
                s.net_pnl.round_dp(2),
                s.starting_equity.round_dp(2),
                s.ending_equity.round_dp(2)
            ),
        ),
        ("trades", format!("{} ({} won)", s.trades, s.wins)),
        ("fees", s.fees.round_dp(2).to_string()),
        (
            "funding",
            history::funding_figure(s.funding, funding, outcome.out_of_sample.funding_missing),
        ),
    ]
    .into_iter()
    .chain(risk_rows(s))
    {
        outln!("  {name:<16} {value}");
    }
    outln!("leaderboard (sets chosen, by folds won, then out-of-sample net pnl):");
    for row in leaderboard {
        outln!(
            "  {:>2} folds  {:>10}  {:>4} trades  {}",
            row.folds_chosen,
            row.out_of_sample_net_pnl.round_dp(2),
            row.out_of_sample_trades,
            row.parameters
        );
    }
}
