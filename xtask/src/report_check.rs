//! `cargo xtask report-check`: the run report as a user gets it, checked twice.
//!
//! A short accelerated mock session writes a run directory; `laptop-agents report` renders
//! it. The HTML structure is always checked (two inline SVG charts, the trades and stats
//! tables with their keys, the configuration fingerprint, the decision counts, and no URL,
//! script or external resource). Where Chromium is installed (Debian's `chromium` package),
//! the page is also rendered headless and offline: the DOM Chromium builds must still hold
//! both charts with their drawn shapes, and the full-page screenshot must be a real image
//! (> 10 KB). Without Chromium the rendering step is skipped with a message and the
//! structure check alone decides.

use std::{
    fs,
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::Duration,
};

use anyhow::{Context, Result, bail, ensure};
use xshell::{Shell, cmd};

use crate::{
    read_echoed,
    reliability::{build_binary, read_text, target_dir, wait_with_deadline},
};

/// Longest a Chromium invocation may take.
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(90);
/// Smallest plausible screenshot of the report page.
const MIN_SCREENSHOT_BYTES: u64 = 10 * 1024;

pub(crate) fn run(sh: &Shell) -> Result<()> {
    let binary = build_binary(sh, "debug")?;
    let workspace = target_dir(&sh.current_dir()).join("report-check");
    sh.remove_path(&workspace)?;
    read_echoed(cmd!(
        sh,
        "{binary} run --source mock --speed 600 --duration 5s --workspace {workspace}"
    ))?;
    let printed = read_echoed(cmd!(sh, "{binary} report --workspace {workspace}"))?;
    let report = PathBuf::from(printed.trim());
    let html = read_text(&report)?;
    check_structure(&html).with_context(|| report.display().to_string())?;
    println!(
        "report-check: HTML structure ok ({} bytes, 2 charts, tables, stats keys)",
        html.len()
    );
    match chromium() {
        Some(chromium) => render(&chromium, &report, &workspace),
        None => {
            println!("report-check: chromium not installed; rendering check skipped");
            Ok(())
        }
    }
}

/// Checks what the page must contain, whatever renders it.
fn check_structure(html: &str) -> Result<()> {
    let count = |needle: &str| html.matches(needle).count();
    ensure!(
        count("<svg") == 3 && count("</svg>") == 3,
        "expected 3 inline SVG charts, found {} <svg and {} </svg>",
        count("<svg"),
        count("</svg>")
    );
    for needle in [
        "id=\"equity-chart\"",
        "id=\"drawdown-chart\"",
        "<polyline",
        "<table class=\"kv\" id=\"stats-table\"",
        "<table id=\"trades-table\"",
        "id=\"config-fingerprint\">fnv1a64:",
        "id=\"decision-outcomes\"",
        "id=\"decision-blocked-by\"",
        "id=\"quality-table\"",
        "data-key=\"trades\"",
        "data-key=\"net_pnl\"",
        "data-key=\"starting_equity\"",
        "data-key=\"ending_equity\"",
        "data-key=\"max_drawdown\"",
        "data-key=\"fees\"",
        "data-key=\"reconnects\"",
        "data-key=\"rejected_frames\"",
        "data-key=\"backfilled_candles\"",
    ] {
        ensure!(html.contains(needle), "the page lacks {needle}");
    }
    // Self-contained: nothing that loads a resource. URLs may appear as escaped text (the
    // configuration shows the exchange URLs), never as something a browser fetches.
    for banned in [
        "<script",
        " src=",
        "<link",
        "@import",
        "url(",
        "href=\"http",
        "href='http",
    ] {
        ensure!(
            !html.contains(banned),
            "the page is not self-contained: it contains {banned:?}"
        );
    }
    Ok(())
}

/// `/usr/bin/chromium`, or `chromium` on `PATH`.
fn chromium() -> Option<PathBuf> {
    let standard = PathBuf::from("/usr/bin/chromium");
    if standard.is_file() {
        return Some(standard);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|candidate| candidate.is_file())
    })
}

/// Renders the page headless, offline, and checks the DOM and the screenshot.
fn render(chromium: &Path, report: &Path, workspace: &Path) -> Result<()> {
    let url = format!("file://{}", report.display());
    let profile = workspace.join("chromium-profile");
    let screenshot = workspace.join("report.png");
    let flags = |extra: Vec<String>| -> Vec<String> {
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.extend(extra);
        args.push(url.clone());
        args
    };
    let dom = run_with_deadline(chromium, &flags(vec!["--dump-dom".to_owned()]))?;
    let svgs = dom.matches("<svg").count();
    ensure!(
        svgs == 3 && dom.contains("<polyline") && dom.contains("<polygon"),
        "Chromium's DOM of {} has {svgs} <svg elements (expected 3 with their lines and area)",
        report.display()
    );
    ensure!(
        dom.contains("id=\"trades-table\"") && dom.contains("id=\"stats-table\""),
        "Chromium's DOM lacks the trades or stats table"
    );
    let _ = fs::remove_file(&screenshot);
    run_with_deadline(
        chromium,
        &flags(vec![
            format!("--screenshot={}", screenshot.display()),
            "--window-size=1200,1600".to_owned(),
        ]),
    )?;
    let bytes = fs::metadata(&screenshot)
        .with_context(|| format!("Chromium wrote no screenshot {}", screenshot.display()))?
        .len();
    ensure!(
        bytes > MIN_SCREENSHOT_BYTES,
        "the screenshot {} is only {bytes} bytes: the page did not render",
        screenshot.display()
    );
    println!(
        "report-check: Chromium rendered the page offline: DOM has both charts, screenshot {} ({bytes} bytes)",
        screenshot.display()
    );
    Ok(())
}

/// Runs `program args`, kills it after [`CHROMIUM_DEADLINE`], and returns its stdout.
fn run_with_deadline(program: &Path, args: &[String]) -> Result<String> {
    println!("$ {} {}", program.display(), args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    // Read both pipes on threads so a large DOM cannot fill a pipe and stall the child.
    let read_all = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let out = read_all(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = read_all(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = wait_with_deadline(&mut child, CHROMIUM_DEADLINE)
        .with_context(|| format!("{} did not finish", program.display()))?;
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    if !status.success() {
        bail!("{} exited with {status}:\n{err}", program.display());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::check_structure;

    const GOOD: &str = "<svg p></svg><svg a><polyline/></svg><svg b></svg> id=\"equity-chart\" id=\"drawdown-chart\" \
        <table class=\"kv\" id=\"stats-table\"><table id=\"trades-table\" id=\"config-fingerprint\">fnv1a64: \
        id=\"decision-outcomes\" id=\"decision-blocked-by\" id=\"quality-table\" data-key=\"trades\" \
        data-key=\"net_pnl\" data-key=\"starting_equity\" data-key=\"ending_equity\" data-key=\"max_drawdown\" \
        data-key=\"fees\" data-key=\"reconnects\" data-key=\"rejected_frames\" data-key=\"backfilled_candles\"";

    #[test]
    fn structure_check_accepts_a_complete_page() {
        check_structure(GOOD).unwrap();
    }

    #[test]
    fn structure_check_rejects_a_missing_chart_a_missing_key_and_a_url() {
        let one_chart = GOOD.replacen("<svg b></svg>", "", 1);
        assert!(
            check_structure(&one_chart)
                .unwrap_err()
                .to_string()
                .contains("3 inline SVG")
        );
        let no_pnl = GOOD.replace("data-key=\"net_pnl\"", "");
        assert!(
            check_structure(&no_pnl)
                .unwrap_err()
                .to_string()
                .contains("net_pnl")
        );
        let with_url = format!("{GOOD}<img src=\"https://cdn.example/x.png\">");
        assert!(
            check_structure(&with_url)
                .unwrap_err()
                .to_string()
                .contains("self-contained")
        );
    }
}
