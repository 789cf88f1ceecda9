//! `cargo xtask smoke`: runs the real, built binary the way a user would and checks what it
//! prints. Later issues extend it to a short real session against the simulator.

use std::{path::Path, process::Command};

use crate::cargo;

pub(crate) fn run(root: &Path) -> Result<(), String> {
    cargo(&["build", "--package", "laptop-agents"])?;
    let binary = root.join("target").join("debug").join("laptop-agents");
    let version = output(&binary, &["--version"])?;
    let expected = format!("laptop-agents {}", env!("CARGO_PKG_VERSION"));
    if !version.trim().starts_with(&expected) {
        return Err(format!(
            "--version printed {version:?}, expected {expected:?}"
        ));
    }
    let help = output(&binary, &["--help"])?;
    for subcommand in [
        "run", "backtest", "report", "status", "stop", "doctor", "sim",
    ] {
        if !help
            .lines()
            .any(|line| line.trim_start().starts_with(subcommand))
        {
            return Err(format!(
                "--help does not list the `{subcommand}` subcommand:\n{help}"
            ));
        }
        output(&binary, &[subcommand, "--help"])?;
    }
    println!("smoke: --version, --help and every subcommand's --help work");
    Ok(())
}

fn output(binary: &Path, args: &[&str]) -> Result<String, String> {
    println!("$ {} {}", binary.display(), args.join(" "));
    let out = Command::new(binary)
        .args(args)
        .output()
        .map_err(|err| format!("could not run {}: {err}", binary.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`{} {}` exited with {}: {}",
            binary.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
