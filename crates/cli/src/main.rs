//! The `laptop-agents` binary: parse arguments, resolve configuration, install logging, hand
//! over to the library crates, and map the outcome to an exit code. No trading logic lives
//! here (see ARCHITECTURE.md).
//!
//! Exit codes: 0 clean stop; 1 runtime failure or risk halt; 2 usage or configuration error;
//! 3 another session holds the workspace lock. `status` has its own (see
//! `commands/status.rs`).

// Console output goes through `console::outln!` / `errln!`, which survive a closed pipe;
// `println!` and friends panic on one.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod commands;
mod console;
mod grid;
mod leaderboard;
mod output_dir;
mod settings;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::{
    args::{Cli, Command},
    console::errln,
};

fn main() -> ExitCode {
    let help = commands::sim::scenario_help();
    let matches = Cli::command()
        .mut_subcommand("sim", |sim| sim.after_long_help(help))
        .get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    console::install_error_style();
    let workspace = cli.workspace;
    let outcome = match cli.command {
        Command::Run(mut args) => {
            args.engine.workspace = workspace.workspace;
            commands::run::run(&args)
        }
        Command::Backtest(mut args) => {
            args.experiment.flags.engine.workspace = workspace.workspace;
            commands::backtest::run(&args)
        }
        Command::Report(mut args) => {
            args.workspace = workspace;
            commands::report::run(&args)
        }
        Command::WalkForward(mut args) => {
            args.experiment.flags.engine.workspace = workspace.workspace;
            commands::walk_forward::run(&args)
        }
        Command::Sweep(mut args) => {
            args.experiment
                .flags
                .engine
                .workspace
                .clone_from(&workspace.workspace);
            commands::sweep::run(&args, &workspace)
        }
        Command::Compare(mut args) => {
            args.workspace = workspace;
            commands::compare::run(&args)
        }
        Command::Status(mut args) => {
            args.workspace = workspace;
            commands::status::status(&args)
        }
        Command::Stop(mut args) => {
            args.workspace = workspace;
            commands::status::stop(&args)
        }
        Command::Clean(mut args) => {
            args.workspace = workspace;
            commands::status::clean(&args)
        }
        Command::Doctor(mut args) => {
            args.workspace = workspace;
            commands::doctor::run(&args)
        }
        Command::Sim(args) => commands::sim::run(&args),
        Command::Completions(args) => completions(args.shell),
    };
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            // The one place a failure is printed: events logged on the way here carry the
            // `console::REPORTED` target, which the stderr log layer leaves out.
            errln!("{:?}", failure.report);
            ExitCode::from(failure.code)
        }
    }
}

/// Prints the completion script. It is generated into memory first: clap_complete panics
/// on a write error, and a closed pipe (`| head`) is not a failure.
fn completions(shell: clap_complete::Shell) -> Result<ExitCode, Failure> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "laptop-agents", &mut script);
    match std::io::Write::write_all(&mut std::io::stdout(), &script) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::runtime(format!(
            "cannot write the completion script: {err}"
        ))),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// An error on its way out: what to print and which exit code to use.
#[derive(Debug)]
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
