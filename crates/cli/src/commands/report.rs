//! `laptop-agents report [RUN_DIR]`: renders the self-contained HTML report of a run
//! (default: the workspace's `runs/latest`) with `la-report`, and prints its path.
//! [`render_after_run`] is the one-call hook a finished live session uses to write its
//! report at shutdown.

use std::{path::Path, process::ExitCode};

use la_report::{ReportError, render_run_report};
use la_session::workspace::Workspace;

use crate::{
    Failure,
    args::ReportArgs,
    console::{errln, outln},
};

pub(crate) fn run(args: &ReportArgs) -> Result<ExitCode, Failure> {
    let run_dir = args
        .run_dir
        .clone()
        .unwrap_or_else(|| Workspace::new(args.workspace.resolve()).latest_run());
    let path = render_run_report(&run_dir).map_err(|err| failure(&run_dir, &err))?;
    outln!("{}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn failure(run_dir: &Path, err: &ReportError) -> Failure {
    let help = match err {
        ReportError::Missing {
            what: "run directory",
            ..
        } => format!(
            "no run at {}: run `laptop-agents run` or `laptop-agents backtest` first, or pass a run directory",
            run_dir.display()
        ),
        ReportError::Missing { .. } => {
            "the run did not finish writing its files (crashed or still running?)".to_owned()
        }
        ReportError::Malformed { .. } | ReportError::Read { .. } => {
            "the run's files are damaged; the other files of the run directory are untouched"
                .to_owned()
        }
        _ => "see the error above".to_owned(),
    };
    Failure {
        report: miette::miette!(help = help, "cannot render the report: {err}"),
        code: 1,
    }
}

/// Writes `report.html` into a finished run's directory and prints where it is; a failure is
/// logged and printed as a warning, never turned into a failed run.
pub(crate) fn render_after_run(run_dir: &Path) {
    match render_run_report(run_dir) {
        Ok(path) => {
            tracing::info!(path = %path.display(), "run report written");
            outln!("  {:<16} {}", "report", path.display());
        }
        Err(err) => {
            tracing::warn!(
                run_dir = %run_dir.display(),
                error = &err as &dyn std::error::Error,
                "cannot write the run report"
            );
            errln!("warning: cannot write the run report: {err}");
        }
    }
}
