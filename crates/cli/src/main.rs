//! The `laptop-agents` binary: parse arguments, resolve configuration, install logging, hand
//! over to the library crates, and map the outcome to an exit code. No trading logic lives
//! here (see ARCHITECTURE.md).
//!
//! Exit codes: 0 clean stop; 1 runtime failure or risk halt; 2 usage or configuration error;
//! 3 another session holds the workspace lock; 4 subcommand not implemented yet.

mod args;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(_) => not_implemented("run", "session issue"),
        Command::Backtest(_) => not_implemented("backtest", "backtest issue"),
        Command::Report(_) => not_implemented("report", "backtest issue"),
        Command::Status(_) => not_implemented("status", "backtest issue"),
        Command::Stop(_) => not_implemented("stop", "backtest issue"),
        Command::Doctor(_) => not_implemented("doctor", "backtest issue"),
        Command::Sim(_) => not_implemented("sim", "feed-bitunix issue"),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{:?}", failure.report);
            ExitCode::from(failure.code)
        }
    }
}

/// An error on its way out: what to print and which exit code to use.
struct Failure {
    report: miette::Report,
    code: u8,
}

fn not_implemented(subcommand: &str, issue: &str) -> Result<(), Failure> {
    Err(Failure {
        report: miette::miette!(
            help = "this subcommand is part of the skeleton; see README.md for what works today",
            "`laptop-agents {subcommand}` is not implemented yet (tracked by the {issue})"
        ),
        code: 4,
    })
}
