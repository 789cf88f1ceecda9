//! `laptop-agents sweep`: every parameter set of a grid (or `--random N` of them, or the
//! `--shard K/N` slice of those) backtested over the same candles in parallel (rayon, one
//! task per set, all reading one shared copy of the candles), ranked into a leaderboard
//! (`sweeps/<id>/leaderboard.csv`, `leaderboard.html`, `sweep.json`), and the best set run
//! again as a full `backtest` (its run directory under `runs/`, linked as `best`).
//! `sweep merge DIR...` joins the directories of all the shards of one sweep into the
//! leaderboard the unsharded sweep writes.
//!
//! Every set is validated as a configuration before anything runs; a bad grid, sample or
//! shard is a usage error (exit 2) and nothing is written.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use la_core::Candle;
use la_session::{
    RunConfig, error_chain,
    logging::WarningsOnly,
    time_fmt::run_stamp,
    walk_forward::{TimeWindow, run_window},
};
use rand::SeedableRng;
use rayon::prelude::*;

use crate::{
    Failure,
    args::{SweepArgs, SweepCommand},
    commands::{backtest::backtest_with_report, history},
    console::outln,
    grid::{Grid, GridPoint},
    leaderboard::{RandomSample, Row, Shard, SweepRecord, rank},
    output_dir::{create_private_dir, write_private},
};

pub(crate) fn run(
    args: &SweepArgs,
    workspace: &crate::args::WorkspaceArgs,
) -> Result<ExitCode, Failure> {
    if let Some(SweepCommand::Merge(merge)) = &args.command {
        return run_merge(&merge.dirs, &workspace.resolve(), merge.json);
    }
    let grid_path = args.grid.as_deref().ok_or_else(|| {
        Failure::config(
            "`--grid`: sweep needs a grid file".into(),
            "e.g. --grid grid.toml",
        )
    })?;
    let grid = Grid::load(grid_path)?;
    let shard = args.shard.as_deref().map(Shard::parse).transpose()?;
    let experiment = history::resolve(&args.experiment)?;
    let points = grid.points();
    let random = args.random.map(|sets| RandomSample {
        sets,
        seed: experiment.config.seed,
    });
    let selected = select(points.len(), random)?;
    let mine: Vec<usize> = selected
        .iter()
        .enumerate()
        .filter(|(position, _)| shard.is_none_or(|s| s.owns(*position)))
        .map(|(_, set)| *set)
        .collect();
    // Every set of this slice validated before anything runs or is written.
    let configs: Vec<(usize, &GridPoint, RunConfig)> = mine
        .iter()
        .map(|&set| Ok((set, &points[set], points[set].config(&args.experiment)?)))
        .collect::<Result<_, Failure>>()?;
    let candles = experiment.load_candles()?;
    let started = std::time::Instant::now();
    let (rows, funding_missing) = evaluate(&configs, &candles, &experiment, args.objective)?;
    let elapsed = started.elapsed();

    let id = format!(
        "sweep-{}-{}{}",
        run_stamp(),
        std::process::id(),
        shard.map_or_else(String::new, |s| format!(
            "-shard-{}-of-{}",
            s.index, s.count
        ))
    );
    let dir = create_private_dir(&experiment.config.workspace, "sweeps", &id)?;
    let best_run = match rows.first() {
        Some(best) => {
            let config = configs
                .iter()
                .find(|(set, _, _)| *set == best.set)
                .map(|(_, _, config)| config)
                .ok_or_else(|| Failure::runtime("the best set has no configuration".into()))?;
            let (stats, _report) = backtest_with_report(&experiment.backtest_config(config))?;
            link_best(&dir, Path::new(&stats.run_dir));
            Some(stats.run_dir)
        }
        None => None,
    };
    let record = SweepRecord {
        keys: grid.keys(),
        objective: args.objective,
        grid_sets: points.len(),
        random,
        selected: selected.len(),
        shard,
        candles: candles.len(),
        funding_modelled: experiment.funding.is_modelled(),
        best_run,
        rows,
    };
    write_record(&dir, &record, &id)?;
    let funding = SweepFunding {
        model: experiment.funding.model(),
        missing: funding_missing,
    };
    report(&record, &dir, args.json, Some(elapsed), Some(&funding))
}

/// Where a sweep's funding rates came from, and the funding times they had no rate for
/// (the same for every set: they all replay the same candles).
struct SweepFunding {
    model: la_session::FundingModel,
    missing: u64,
}

/// The selected sets (grid positions, ascending): all of them, or `random.sets` distinct
/// ones drawn with ChaCha8 seeded by `random.seed` (the same draw on every machine).
fn select(total: usize, random: Option<RandomSample>) -> Result<Vec<usize>, Failure> {
    let Some(random) = random else {
        return Ok((0..total).collect());
    };
    if random.sets == 0 || random.sets > total {
        return Err(Failure::config(
            format!(
                "`--random`: {} is not between 1 and the grid's {total} sets",
                random.sets
            ),
            "sample fewer sets than the grid holds, or drop --random to run them all",
        ));
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(random.seed);
    let mut sets = rand::seq::index::sample(&mut rng, total, random.sets).into_vec();
    sets.sort_unstable();
    Ok(sets)
}

/// Runs every set over `candles` on rayon's pool (each task borrows the one copy of the
/// candles; a run's curve and trades are dropped as soon as its row is made) and ranks the
/// rows, with the most funding times any set's funding source had no rate for. The first
/// failure in grid order is reported, whichever thread met it first.
fn evaluate(
    configs: &[(usize, &GridPoint, RunConfig)],
    candles: &[Candle],
    experiment: &history::Experiment,
    objective: la_session::walk_forward::ObjectiveMetric,
) -> Result<(Vec<Row>, u64), Failure> {
    let (Some(first), Some(last)) = (candles.first(), candles.last()) else {
        return Ok((Vec::new(), 0));
    };
    let window = TimeWindow {
        start_ms: first.open_time().as_ms(),
        end_ms: last.open_time().as_ms() + 1,
    };
    let replay = experiment.replay();
    // The sets' own fills and exits are not logged (warnings and errors are): see
    // `WarningsOnly`. The best set's full backtest, run afterwards, logs as usual.
    let quiet = WarningsOnly::of_current();
    let outcomes: Vec<Result<(Row, u64), Failure>> = configs
        .par_iter()
        .map(|(set, point, config)| {
            tracing::dispatcher::with_default(&quiet, || {
                run_window(&config.engine_settings(), candles, window, replay)
            })
            .map(|run| {
                (
                    Row::new(*set, point.values.clone(), objective, &run.results),
                    run.funding_missing,
                )
            })
            .map_err(|e| {
                Failure::runtime(format!(
                    "grid set `{}` failed: {}",
                    point.label,
                    error_chain(&e)
                ))
            })
        })
        .collect();
    let (mut rows, missing): (Vec<Row>, Vec<u64>) = outcomes
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    rank(&mut rows);
    Ok((rows, missing.into_iter().max().unwrap_or(0)))
}

/// Points `<dir>/best` at the best set's run directory (relative, so the workspace can move).
fn link_best(dir: &Path, run_dir: &Path) {
    let Some(name) = run_dir.file_name() else {
        return;
    };
    let target = Path::new("..").join("..").join("runs").join(name);
    if let Err(err) = std::os::unix::fs::symlink(&target, dir.join("best")) {
        tracing::warn!(error = %err, "cannot link the best set's run directory");
    }
}

/// Writes the three files of a sweep directory.
fn write_record(dir: &Path, record: &SweepRecord, id: &str) -> Result<(), Failure> {
    let json = serde_json::to_vec_pretty(record)
        .map_err(|e| Failure::runtime(format!("cannot serialise the sweep: {e}")))?;
    write_private(&dir.join("sweep.json"), &json)?;
    write_private(&dir.join("leaderboard.csv"), record.csv().as_bytes())?;
    write_private(
        &dir.join("leaderboard.html"),
        record.html(&format!("laptop-agents {id}")).as_bytes(),
    )
}

/// Prints the top of the leaderboard (or the record as JSON) and where the files are.
fn report(
    record: &SweepRecord,
    dir: &Path,
    json: bool,
    elapsed: Option<std::time::Duration>,
    funding: Option<&SweepFunding>,
) -> Result<ExitCode, Failure> {
    let inert = record.inert_keys();
    for key in &inert {
        tracing::warn!(key, "a grid key changed no set's results");
    }
    if json {
        let mut value = serde_json::to_value(record)
            .map_err(|e| Failure::runtime(format!("cannot serialise the sweep: {e}")))?;
        value["dir"] = serde_json::json!(dir);
        if let Some(funding) = funding {
            value["funding_model"] = serde_json::json!(funding.model);
            value["funding_missing"] = serde_json::json!(funding.missing);
        }
        outln!("{value}");
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "sweep: {} sets over {} candles{}, ranked by {}",
        record.rows.len(),
        record.candles,
        elapsed.map_or_else(String::new, |e| format!(" in {:.2} s", e.as_secs_f64())),
        record.objective.as_str()
    );
    for (rank, row) in record.rows.iter().take(10).enumerate() {
        let parameters: Vec<String> = record
            .keys
            .iter()
            .zip(&row.values)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        outln!(
            "  {:>3}. net {:>10}  sharpe {:>6}  trades {:>4}  {}",
            rank + 1,
            row.net_pnl.round_dp(2),
            crate::commands::backtest::fmt_ratio(row.sharpe),
            row.trades,
            parameters.join(" ")
        );
    }
    if let Some(funding) = funding {
        outln!(
            "  {:<16} {}",
            "best set funding",
            history::funding_figure(
                record
                    .rows
                    .first()
                    .map_or(la_core::Decimal::ZERO, |r| r.funding),
                &funding.model,
                funding.missing
            )
        );
    }
    for key in inert {
        outln!(
            "  warning: `{key}` changed no set's results (net pnl, trades, fees, drawdown): does the configured strategy read it?"
        );
    }
    outln!(
        "  {:<16} {}",
        "leaderboard",
        dir.join("leaderboard.csv").display()
    );
    outln!(
        "  {:<16} {}",
        "html",
        dir.join("leaderboard.html").display()
    );
    if let Some(best) = &record.best_run {
        outln!("  {:<16} {best}", "best run");
    }
    Ok(ExitCode::SUCCESS)
}

/// `sweep merge DIR...`: the shard directories of one sweep joined into one leaderboard.
fn run_merge(dirs: &[PathBuf], workspace: &Path, json: bool) -> Result<ExitCode, Failure> {
    let records: Vec<(PathBuf, SweepRecord)> = dirs
        .iter()
        .map(|dir| read_record(dir).map(|record| (dir.clone(), record)))
        .collect::<Result<_, _>>()?;
    let merged = merge(&records)?;
    let id = format!("sweep-{}-{}-merged", run_stamp(), std::process::id());
    let dir = create_private_dir(workspace, "sweeps", &id)?;
    write_record(&dir, &merged, &id)?;
    report(&merged, &dir, json, None, None)
}

fn read_record(dir: &Path) -> Result<SweepRecord, Failure> {
    let path = dir.join("sweep.json");
    let text = std::fs::read(&path).map_err(|e| {
        Failure::config(
            format!("`{}`: cannot read sweep.json: {e}", dir.display()),
            "pass the sweeps/<id> directories the shards wrote",
        )
    })?;
    serde_json::from_slice(&text).map_err(|e| {
        Failure::config(
            format!("`{}`: sweep.json is damaged: {e}", path.display()),
            "pass the sweeps/<id> directories the shards wrote",
        )
    })
}

/// Checks that `records` are every shard of one sweep, exactly once, and joins their rows.
fn merge(records: &[(PathBuf, SweepRecord)]) -> Result<SweepRecord, Failure> {
    const HELP: &str =
        "pass the directories of every shard (--shard 0/N … N-1/N) of one sweep, each once";
    let Some((first_dir, first)) = records.first() else {
        return Err(Failure::config(
            "`sweep merge`: no directories".into(),
            HELP,
        ));
    };
    let Some(count) = first.shard.map(|s| s.count) else {
        return Err(Failure::config(
            format!(
                "`{}` is not a shard (it was swept whole)",
                first_dir.display()
            ),
            HELP,
        ));
    };
    let mut owners: Vec<Option<&Path>> = vec![None; count];
    let mut rows = Vec::new();
    for (dir, record) in records {
        let same = record.keys == first.keys
            && record.objective == first.objective
            && record.grid_sets == first.grid_sets
            && record.random == first.random
            && record.selected == first.selected
            && record.candles == first.candles
            && record.funding_modelled == first.funding_modelled
            && record.shard.map(|s| s.count) == Some(count);
        if !same {
            return Err(Failure::config(
                format!(
                    "`{}` is not a shard of the same sweep as `{}` (grid, objective, sample, data or shard count differ)",
                    dir.display(),
                    first_dir.display()
                ),
                HELP,
            ));
        }
        let index = record.shard.map_or(0, |s| s.index);
        if let Some(other) = owners[index] {
            return Err(Failure::config(
                format!(
                    "shard {index}/{count} is given twice: `{}` and `{}`",
                    other.display(),
                    dir.display()
                ),
                HELP,
            ));
        }
        owners[index] = Some(dir);
        rows.extend(record.rows.iter().cloned());
    }
    if let Some(missing) = owners.iter().position(Option::is_none) {
        return Err(Failure::config(
            format!("shard {missing}/{count} is missing"),
            HELP,
        ));
    }
    if rows.len() != first.selected {
        return Err(Failure::config(
            format!(
                "the shards hold {} rows, the sweep selected {} sets",
                rows.len(),
                first.selected
            ),
            HELP,
        ));
    }
    rank(&mut rows);
    let best_run = rows.first().and_then(|best| {
        records
            .iter()
            .find(|(_, r)| r.rows.first().is_some_and(|row| row.set == best.set))
            .and_then(|(_, r)| r.best_run.clone())
    });
    Ok(SweepRecord {
        shard: None,
        best_run,
        rows,
        ..first.clone()
    })
}
