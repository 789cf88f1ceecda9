//! `laptop-agents compare RUN_DIR...`: several runs side by side — the statistics as a table
//! on stdout, and a self-contained page with the equity curves overlaid (`la-report`'s
//! [`Comparison`]). A run directory that is missing or damaged is a usage error (exit 2)
//! naming it, and nothing is written.

use std::process::ExitCode;

use la_report::{Comparison, ReportError, write_page};

use crate::{
    Failure,
    args::CompareArgs,
    console::{outln, write_stdout},
};

pub(crate) fn run(args: &CompareArgs) -> Result<ExitCode, Failure> {
    let comparison = Comparison::load(&args.run_dirs).map_err(|err| {
        Failure::config(
            format!("cannot compare: {err}"),
            "pass run directories written by `laptop-agents run` or `laptop-agents backtest` (each holds summary.json, trades.csv and equity.csv)",
        )
    })?;
    let html = comparison.html().map_err(|err| runtime(&err))?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.workspace.resolve().join("compare.html"));
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        la_private_fs::create_private_dir_all(parent).map_err(|err| {
            Failure::runtime(format!("cannot create {}: {err}", parent.display()))
        })?;
    }
    write_page(&out, &html).map_err(|err| runtime(&err))?;
    write_stdout(format_args!("{}", comparison.text_table()));
    outln!("\n  {:<16} {}", "html", out.display());
    Ok(ExitCode::SUCCESS)
}

fn runtime(err: &ReportError) -> Failure {
    Failure::runtime(format!("cannot write the comparison: {err}"))
}
