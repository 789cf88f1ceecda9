//! The `laptop-agents` binary: parse arguments, resolve configuration, install logging, hand
//! over to the library crates, and map the outcome to an exit code. No trading logic lives
//! here (see ARCHITECTURE.md).
//!
//! Exit codes: 0 clean stop; 1 runtime failure or risk halt; 2 usage or configuration error;
//! 3 another session holds the workspace lock.

mod args;
mod commands;
mod console;
mod settings;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    let help = commands::sim::scenario_help();
    let matches = Cli::command()
        .mut_subcommand("sim", |sim| sim.after_long_help(help))
        .get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let outcome = match cli.command {
        Command::Run(args) => commands::run::run(&args),
        Command::Backtest(args) => commands::backtest::run(&args),
        Command::Report(args) => commands::report::run(&args),
        Command::Status(args) => commands::status::status(&args),
        Command::Stop(args) => commands::status::stop(&args),
        Command::Doctor(args) => commands::doctor::run(&args),
        Command::Sim(args) => commands::sim::run(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("{:?}", failure.report);
            ExitCode::from(failure.code)
        }
    }
}

/// An error on its way out: what to print and which exit code to use.
pub(crate) struct Failure {
    pub(crate) report: miette::Report,
    pub(crate) code: u8,
}

impl Failure {
    pub(crate) fn config(message: String, help: &str) -> Self {
        Self {
            report: miette::miette!(help = help.to_owned(), "{message}"),
            code: 2,
        }
    }

    pub(crate) fn runtime(message: String) -> Self {
        Self {
            report: miette::miette!("{message}"),
            code: 1,
        }
    }
}
