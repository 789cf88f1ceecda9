//! Command-line arguments (clap). This module only describes what a user can type; turning
//! it into a validated configuration happens elsewhere, before any socket opens.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Autonomous BTC perpetual-futures paper-trading agent for Bitunix.
#[derive(Debug, Parser)]
#[command(name = "laptop-agents", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every subcommand shares.
#[derive(Debug, Args)]
pub(crate) struct WorkspaceArgs {
    /// Workspace directory for state, logs and runs.
    #[arg(long, env = "LA_WORKSPACE", default_value = ".workspace")]
    pub(crate) workspace: PathBuf,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the autonomous live paper-trading session.
    Run(RunArgs),
    /// Backtest a strategy over historical candles.
    Backtest(BacktestArgs),
    /// Render a self-contained HTML report of a run.
    Report(ReportArgs),
    /// Show whether a session is running and how it is doing.
    Status(StatusArgs),
    /// Ask the running session to stop, and wait for it.
    Stop(StopArgs),
    /// Check the workspace, configuration, clock and exchange reachability.
    Doctor(DoctorArgs),
    /// Start the local Bitunix exchange simulator.
    Sim(SimArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) workspace: WorkspaceArgs,
    /// Market data source: bitunix, sim or mock.
    #[arg(long)]
    pub(crate) source: Option<String>,
    /// Session length: a bare number is minutes; 90s, 10m, 2h accepted.
    #[arg(long)]
    pub(crate) duration: Option<String>,
    /// Configuration file (TOML).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct BacktestArgs {
    #[command(flatten)]
    pub(crate) workspace: WorkspaceArgs,
    /// Candle CSV (`ts_ms,open,high,low,close,volume`, `.gz` allowed).
    #[arg(long)]
    pub(crate) data: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    #[command(flatten)]
    pub(crate) workspace: WorkspaceArgs,
    /// Run directory (default: runs/latest).
    pub(crate) run_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) workspace: WorkspaceArgs,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StopArgs {
    #[command(flatten)]
    pub(crate) workspace: WorkspaceArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    pub(crate) workspace: WorkspaceArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub(crate) listen: String,
}
