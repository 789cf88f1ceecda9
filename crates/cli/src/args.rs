//! Command-line arguments (clap). This module only describes what a user can type; turning
//! it into a validated configuration happens in `settings.rs`, before any socket opens.

use std::path::PathBuf;

use clap::{
    Args, Parser, Subcommand, ValueEnum,
    builder::{PossibleValuesParser, TypedValueParser},
};
use la_core::Interval;
use la_session::{intrabar::IntrabarTicks, walk_forward::ObjectiveMetric};
use la_strategy::StrategyKind;
use serde::Serialize;

/// A value parser that accepts exactly a type's own labels (`ALL` mapped through `as_str`,
/// so `--help` and the error list them from the one definition) and yields the typed value.
fn labelled<T>(labels: impl IntoIterator<Item = &'static str>) -> impl TypedValueParser<Value = T>
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
    T::Err: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    PossibleValuesParser::new(labels).try_map(|label| label.parse::<T>())
}

/// How `backtest` replays a bar as ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum IntrabarArg {
    /// The four path waypoints (fast).
    Waypoints,
    /// The simulator's 1 s ticker cadence along the path (backtest/live parity).
    Cadence,
}

impl From<IntrabarArg> for IntrabarTicks {
    fn from(arg: IntrabarArg) -> Self {
        match arg {
            IntrabarArg::Waypoints => Self::Waypoints,
            IntrabarArg::Cadence => Self::Cadence { ticker_ms: 1_000 },
        }
    }
}

/// Autonomous BTC perpetual-futures paper-trading agent for Bitunix.
#[derive(Debug, Parser)]
#[command(name = "laptop-agents", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) workspace: WorkspaceArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every subcommand shares; accepted before or after the subcommand.
#[derive(Clone, Debug, Default, Args)]
pub(crate) struct WorkspaceArgs {
    /// Workspace directory for state, logs and runs [env: LA_WORKSPACE] [default: .workspace]
    #[arg(long, global = true)]
    pub(crate) workspace: Option<PathBuf>,
}

impl WorkspaceArgs {
    /// The workspace: flag, else `LA_WORKSPACE`, else `.workspace`.
    pub(crate) fn resolve(&self) -> PathBuf {
        self.workspace
            .clone()
            .or_else(|| std::env::var_os("LA_WORKSPACE").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(".workspace"))
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the autonomous live paper-trading session.
    Run(Box<RunArgs>),
    /// Backtest a strategy over historical candles.
    Backtest(BacktestArgs),
    /// Render a self-contained HTML report of a run.
    Report(ReportArgs),
    /// Compare runs: statistics side by side and equity curves overlaid (terminal + HTML).
    Compare(CompareArgs),
    /// Parameter sweep: backtest every set of a grid in parallel over the same candles and
    /// rank them in a leaderboard (`sweep merge DIR...` joins the shards of one sweep).
    Sweep(Box<SweepArgs>),
    /// Walk-forward validation: choose parameters from a grid on each training window, trade
    /// the choice on the test window after it, and judge only those test windows.
    WalkForward(WalkForwardArgs),
    /// Show whether a session is running and how it is doing.
    Status(StatusArgs),
    /// Ask the running session to stop, and wait for it.
    Stop(StopArgs),
    /// Delete old run directories under `runs/`, keeping the newest N and the current run.
    Clean(CleanArgs),
    /// Check the workspace, configuration, clock and exchange reachability.
    Doctor(DoctorArgs),
    /// Start the local Bitunix exchange simulator (WebSocket + REST on loopback).
    Sim(SimArgs),
    /// Print a shell completion script (e.g. `laptop-agents completions bash > /etc/bash_completion.d/laptop-agents`).
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

/// Where the configuration comes from, for every command that takes one: the same keys
/// for `run`, `backtest`, `sweep`, `walk-forward` and `doctor`.
#[derive(Clone, Debug, Default, Args)]
pub(crate) struct ConfigArgs {
    /// Configuration file (TOML; unknown keys are errors).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Override one configuration key, as KEY=VALUE; tables use dotted keys
    /// (`setups.risk_frac=0.005`). VALUE is read as TOML, else as a string. Repeatable;
    /// wins over the file and LA_* variables, loses to the named flags.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) set: Vec<String>,
}

/// Configuration keys every engine-running command also takes as named flags. Every flag is
/// optional so that only what the user typed overrides the configuration file and `LA_*`
/// variables (flags > `--set` > env > file > defaults).
#[derive(Debug, Default, Args, Serialize)]
pub(crate) struct EngineFlags {
    /// The global `--workspace`, copied here by `main` so that it layers over the file and
    /// `LA_*` variables like every other flag.
    #[arg(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) workspace: Option<PathBuf>,
    /// Instrument [default: BTCUSDT]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) symbol: Option<String>,
    /// Paper account starting balance in USDT [default: 10000]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) starting_balance: Option<String>,
    /// Candle file (`ts_ms,open,high,low,close,volume` CSV, `.gz` allowed): what a backtest
    /// replays, or what the sim source streams (generated data if absent).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) data: Option<PathBuf>,
    /// Seed for the simulator, mock feed and broker [default: 7]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) seed: Option<u64>,
    /// Closed candles before the strategy may trade [default: 50]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) warmup_bars: Option<usize>,
    /// REST base URL [default: https://fapi.bitunix.com]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rest_url: Option<String>,
}

/// `run` flags (see [`EngineFlags`] for the precedence). They stay text here: they are
/// configuration keys, validated together with the file and the environment so that every
/// problem is reported at once.
#[derive(Debug, Args, Serialize)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    #[serde(skip)]
    pub(crate) layers: ConfigArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) engine: EngineFlags,
    /// Strategy: setups or sma-cross [default: setups]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) strategy: Option<String>,
    /// Candle interval: 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d [default: 1m]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) interval: Option<String>,
    /// Mode: live-session [default: live-session]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mode: Option<String>,
    /// Market data: bitunix (live exchange), sim (in-process simulator over loopback), mock
    /// (in-process generator) [default: mock]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) source: Option<String>,
    /// Session length: a bare number is minutes; 90s, 10m, 2h, 1d accepted; off = until
    /// stopped (0 is an error)
    /// [default: 10m]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) duration: Option<String>,
    /// Log decisions and would-be orders; never fill.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) dry_run: bool,
    /// WebSocket URL [default: wss://fapi.bitunix.com/public/]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ws_url: Option<String>,
    /// Stop after this long without market data [default: 120s]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stale_timeout: Option<String>,
    /// Exchange-vs-local clock tolerance, or off (replays, accelerated simulators) [default: 5m]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_clock_skew: Option<String>,
    /// Longest downtime (suspend, restart, outage) replayed on coming back; beyond it the
    /// session stops with `catch_up_too_long` [default: 7d]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_catch_up: Option<String>,
    /// Simulator / mock speed: virtual ms per real ms [default: 1]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) speed: Option<f64>,
    /// Simulator fault, as `AT@SPEC` (sim source; repeatable; see `laptop-agents sim --help`).
    #[arg(long = "fault")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) faults: Vec<String>,
    /// Record every frame the in-process simulator sends (sim source) to this file.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sim_record: Option<PathBuf>,
    /// Close any open position at the last price when the session stops.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) force_close_on_stop: bool,
    /// Read-only HTTP surface (dashboard at /, /metrics, /healthz): an address such as
    /// 127.0.0.1:8787 (port 0 picks a free one), or off [default: 127.0.0.1:8787]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) http: Option<String>,
    /// Allow --http to bind a non-loopback address (the surface has no authentication).
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) http_allow_remote: bool,
    /// Start over with a fresh account: move the saved state files and the journal into
    /// paper/reset-<time>/ first (nothing is deleted). The way out of a refused start (exit 5).
    #[arg(long)]
    #[serde(skip)]
    pub(crate) reset_account: bool,
}

/// The engine keys `backtest`, `sweep` and `walk-forward` type-check in clap (their values
/// listed on a typo); they are still configuration keys, layered as strings over the file.
#[derive(Debug, Default, Args, Serialize)]
pub(crate) struct TypedEngineFlags {
    /// Strategy [default: setups]
    #[arg(long, value_parser = labelled::<StrategyKind>(StrategyKind::ALL.map(StrategyKind::as_str)))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) strategy: Option<StrategyKind>,
    /// Candle interval traded [default: 1m]; finer data is resampled to it
    #[arg(long, value_parser = labelled::<Interval>(Interval::ALL.map(Interval::as_str)))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) interval: Option<Interval>,
}

/// Where a backtest's candles come from, the window, and how funding and bars are modelled;
/// shared by `backtest`, `sweep` and `walk-forward`. These are not configuration keys: they
/// describe the experiment, not the engine.
#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// Data source instead of --data: bitunix (paged REST download, cached in the workspace).
    #[arg(long, value_parser = ["bitunix"])]
    pub(crate) source: Option<String>,
    /// Days of history to download with --source bitunix.
    #[arg(long)]
    pub(crate) days: Option<u32>,
    /// First candle open time to include: epoch ms or RFC 3339.
    #[arg(long)]
    pub(crate) from: Option<String>,
    /// Last candle open time to include: epoch ms or RFC 3339.
    #[arg(long)]
    pub(crate) to: Option<String>,
    /// Assumed constant funding rate as a fraction per 8 h (e.g. 0.0001), settled at 00/08/16
    /// UTC. Without a funding source funding is not modelled (and every output says so).
    #[arg(long)]
    pub(crate) funding_rate: Option<String>,
    /// Funding-rate file: `ts_ms,rate` rows (epoch ms of a 00/08/16 UTC funding time, the
    /// rate that settled then as a fraction); each funding time is settled with its rate.
    /// Bad rows are rejected and counted by reason; a file with none usable is an error.
    /// With --source bitunix and neither this nor --funding-rate, the exchange's funding-rate
    /// history is downloaded and used.
    #[arg(long, value_name = "FILE", conflicts_with = "funding_rate")]
    pub(crate) funding: Option<PathBuf>,
    /// Intrabar tick model: waypoints (fast) or cadence (the simulator's 1 s ticker cadence,
    /// for exact backtest/live timestamp parity).
    #[arg(long, value_enum, default_value_t = IntrabarArg::Waypoints)]
    pub(crate) intrabar: IntrabarArg,
}

/// Everything `backtest`-like commands layer over the configuration file: the named engine
/// flags and the typed ones.
#[derive(Debug, Default, Args, Serialize)]
pub(crate) struct BacktestFlags {
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) engine: EngineFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) typed: TypedEngineFlags,
}

/// What `backtest`, `sweep` and `walk-forward` take to set up an experiment: the
/// configuration layers, the engine flags layered over them, and the history options.
#[derive(Debug, Args)]
pub(crate) struct ExperimentArgs {
    #[command(flatten)]
    pub(crate) layers: ConfigArgs,
    #[command(flatten)]
    pub(crate) flags: BacktestFlags,
    #[command(flatten)]
    pub(crate) history: HistoryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct BacktestArgs {
    #[command(flatten)]
    pub(crate) experiment: ExperimentArgs,
    /// Print the statistics as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also write decisions.jsonl: one record per candle (indicators, blocking gate,
    /// outcome), about 30 MB per month of 1m candles. The decision counts are in
    /// summary.json and the report either way.
    #[arg(long)]
    pub(crate) decisions: bool,
}

#[derive(Debug, Args)]
pub(crate) struct WalkForwardArgs {
    #[command(flatten)]
    pub(crate) experiment: ExperimentArgs,
    /// Parameter grid: TOML with the configuration's tables and keys, each key an array of
    /// candidates or a range table `{ from = 30, to = 90, step = 30 }`.
    #[arg(long)]
    pub(crate) grid: PathBuf,
    /// Training window (in-sample), e.g. 14d, 36h.
    #[arg(long)]
    pub(crate) train: String,
    /// Test window (out-of-sample) right after each training window, e.g. 7d.
    #[arg(long)]
    pub(crate) test: String,
    /// How far each fold moves on [default: the test window]; at least the test window, so
    /// no out-of-sample candle counts twice.
    #[arg(long)]
    pub(crate) step: Option<String>,
    /// What a fold's choice maximises on its training window.
    #[arg(long, default_value = "sharpe", value_parser = labelled::<ObjectiveMetric>(ObjectiveMetric::ALL.map(ObjectiveMetric::as_str)))]
    pub(crate) objective: ObjectiveMetric,
    /// The fewest training trades a parameter set needs to be chosen.
    #[arg(long, default_value_t = 5)]
    pub(crate) min_trades: u64,
    /// Print the folds and the out-of-sample aggregate as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct SweepArgs {
    #[command(subcommand)]
    pub(crate) command: Option<SweepCommand>,
    #[command(flatten)]
    pub(crate) experiment: ExperimentArgs,
    /// Parameter grid: TOML with the configuration's tables and keys, each key an array of
    /// candidates or a range table `{ from = 30, to = 90, step = 30 }`.
    #[arg(long, required = true)]
    pub(crate) grid: Option<PathBuf>,
    /// Run N distinct sets drawn from the grid instead of all of them, drawn with the
    /// configuration's `seed` (`--seed S`): the same N on every run and machine.
    #[arg(long, value_name = "N")]
    pub(crate) random: Option<usize>,
    /// Evaluate only slice K of N (K from 0): every N-th selected set from the K-th. Join
    /// the N directories with `sweep merge`.
    #[arg(long, value_name = "K/N")]
    pub(crate) shard: Option<String>,
    /// What ranks the leaderboard (best first; ties in grid order).
    #[arg(long, default_value = "sharpe", value_parser = labelled::<ObjectiveMetric>(ObjectiveMetric::ALL.map(ObjectiveMetric::as_str)))]
    pub(crate) objective: ObjectiveMetric,
    /// Print the leaderboard record as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SweepCommand {
    /// Join the directories of every shard of one sweep into one leaderboard (the one the
    /// unsharded sweep writes), in a new sweeps/<id>/.
    Merge(SweepMergeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SweepMergeArgs {
    /// The sweeps/<id> directory of each shard.
    #[arg(required = true, num_args = 1..)]
    pub(crate) dirs: Vec<PathBuf>,
    /// Print the merged record as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// The global `--workspace` (set by `main` after parsing).
    #[arg(skip)]
    pub(crate) workspace: WorkspaceArgs,
    /// Run directory (default: runs/latest).
    pub(crate) run_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct CompareArgs {
    /// The global `--workspace` (set by `main` after parsing).
    #[arg(skip)]
    pub(crate) workspace: WorkspaceArgs,
    /// Two or more run directories (live sessions or backtests).
    #[arg(required = true, num_args = 2..)]
    pub(crate) run_dirs: Vec<PathBuf>,
    /// Where to write the comparison page [default: <workspace>/compare.html]
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The global `--workspace` (set by `main` after parsing).
    #[arg(skip)]
    pub(crate) workspace: WorkspaceArgs,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CleanArgs {
    /// The global `--workspace` (set by `main` after parsing).
    #[arg(skip)]
    pub(crate) workspace: WorkspaceArgs,
    /// Run directories to keep (the newest by the time in their names); at least 1.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) keep: u32,
}

#[derive(Debug, Args)]
pub(crate) struct StopArgs {
    /// The global `--workspace` (set by `main` after parsing).
    #[arg(skip)]
    pub(crate) workspace: WorkspaceArgs,
    /// Seconds to wait for the session to exit.
    #[arg(long, default_value_t = 30)]
    pub(crate) wait: u64,
}

#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// The global `--workspace` (set by `main` after parsing).
    #[arg(skip)]
    pub(crate) workspace: WorkspaceArgs,
    /// The configuration to validate, as `run` reads it.
    #[command(flatten)]
    pub(crate) layers: ConfigArgs,
    /// REST base URL to probe [default: the configured rest_url, https://fapi.bitunix.com]
    #[arg(long)]
    pub(crate) rest_url: Option<String>,
    /// Print the checks as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub(crate) listen: String,
    /// Candle file to replay (generated data if absent).
    #[arg(long)]
    pub(crate) data: Option<PathBuf>,
    /// Virtual ms per real ms.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) speed: f64,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 7)]
    pub(crate) seed: u64,
    /// Candles already history when the simulator starts: served over REST (a client's
    /// warm-up fetch), never pushed.
    #[arg(long, default_value_t = 0)]
    pub(crate) history_candles: u64,
    /// Fault to schedule, as `AT@SPEC` (AT: virtual time from start, e.g. 90s or 2m) or
    /// `SPEC` (at start); repeatable. See the scenario list below.
    #[arg(long = "fault")]
    pub(crate) faults: Vec<String>,
    /// Record every frame sent to this JSON-lines file.
    #[arg(long)]
    pub(crate) record: Option<PathBuf>,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub(crate) seconds: Option<u64>,
}
