//! `cargo xtask report-check`: the pages users get, checked twice.
//!
//! A short accelerated mock session and two backtests over three days of the shared month
//! (which trade, so the price chart has entry and exit markers) write run directories;
//! `laptop-agents report` renders each run's page, `laptop-agents compare` compares the two
//! backtests, and `walk-forward` over the same three days writes its page (the stitched
//! out-of-sample curve with its fold boundaries). Every page's HTML structure is always
//! checked (its charts with their drawn shapes, its tables and keys, and no URL, script or external resource). Where Chromium is
//! installed (Debian's `chromium` package), each page is also rendered headless and offline:
//! the DOM Chromium builds must still hold every chart with the shapes it is made of (the
//! close line, the entry triangles and exit circles, one line per compared run), and the
//! full-page screenshot must be a real image (> 10 KB). Without Chromium the rendering step
//! is skipped with a message and the structure check alone decides.

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
    reliability::{build_binary, read_text, shared_month, target_dir, wait_with_deadline},
};

/// Longest a Chromium invocation may take.
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(90);
/// Smallest plausible screenshot of a page.
const MIN_SCREENSHOT_BYTES: u64 = 10 * 1024;

/// A chart that must be drawn: the figure's id and, inside it, how many of each SVG element
/// it needs at least (the line of a series, a marker's shape).
struct Figure {
    id: &'static str,
    at_least: &'static [(&'static str, usize)],
}

/// What one kind of page must contain.
struct PageSpec {
    what: &'static str,
    charts: usize,
    figures: Vec<Figure>,
    needles: &'static [&'static str],
}

/// A run report; `traded` says whether the run closed trades (so markers must be drawn).
fn report_spec(traded: bool) -> PageSpec {
    // The close line; with trades also the entry triangles and the exit circles.
    const PRICE_TRADED: &[(&str, usize)] = &[("<polyline", 1), ("<polygon", 1), ("<circle", 1)];
    const PRICE_QUIET: &[(&str, usize)] = &[("<polyline", 1)];
    PageSpec {
        what: "run report",
        charts: 3,
        figures: vec![
            Figure {
                id: "price-chart",
                at_least: if traded { PRICE_TRADED } else { PRICE_QUIET },
            },
            Figure {
                id: "equity-chart",
                at_least: &[("<polyline", 2)],
            },
            Figure {
                id: "drawdown-chart",
                at_least: &[("<polygon", 1)],
            },
        ],
        needles: &[
            "<table class=\"kv\" id=\"stats-table\"",
            "<table id=\"trades-table\"",
            "<table id=\"monthly-returns\"",
            "\" data-month=\"",
            "<table id=\"breakdown-side\"",
            "<table id=\"breakdown-exit-reason\"",
            "data-group=\"liquidation\"",
            "id=\"config-fingerprint\">fnv1a64:",
            "<table class=\"kv\" id=\"config-table\"",
            "data-key=\"setups.risk_frac\"",
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
        ],
    }
}

/// The comparison of two runs: one line per run, in its colour, in each chart.
fn compare_spec() -> PageSpec {
    const ONE_LINE_PER_RUN: &[(&str, usize)] = &[
        ("stroke=\"#1F77B4\" stroke-width=\"2\"", 1),
        ("stroke=\"#FF7F0E\" stroke-width=\"2\"", 1),
    ];
    PageSpec {
        what: "comparison",
        charts: 2,
        figures: vec![
            Figure {
                id: "compare-equity-chart",
                at_least: ONE_LINE_PER_RUN,
            },
            Figure {
                id: "compare-drawdown-chart",
                at_least: ONE_LINE_PER_RUN,
            },
        ],
        needles: &[
            "<table id=\"compare-runs\"",
            "<table id=\"compare-table\"",
            "<tr data-key=\"net_pnl\">",
            "<table id=\"compare-config-diff\"",
            "<tr data-key=\"setups.risk_frac\">",
        ],
    }
}

/// The walk-forward page: the stitched curve (a stretch per traded fold) with a dashed line
/// at each test window's start, the stitched statistics and the fold table.
fn walk_forward_spec() -> PageSpec {
    PageSpec {
        what: "walk-forward page",
        charts: 1,
        figures: vec![Figure {
            id: "walk-forward-equity-chart",
            at_least: &[("stroke-width=\"2\"", 1), ("stroke=\"#7F7F7F\"", 1)],
        }],
        needles: &[
            "<table class=\"kv\" id=\"walk-forward-stats\"",
            "<table id=\"walk-forward-folds\"",
            "<tr data-fold=\"0\"",
            "<tr data-key=\"ending_equity\">",
        ],
    }
}

/// Walks the crossover forward over `days` (two fast and two slow averages, 1-day training
/// and 12-hour test windows) and returns the page it wrote.
fn walk_forward_page(sh: &Shell, binary: &Path, data: &Path, workspace: &Path) -> Result<PathBuf> {
    let grid = workspace.join("walk-forward-grid.toml");
    fs::write(
        &grid,
        "[sma_cross]\nfast = [5, 10]\nslow = { from = 30, to = 60, step = 30 }\n",
    )?;
    let out = read_echoed(cmd!(
        sh,
        "{binary} walk-forward --json --data {data} --from 2021-04-21T00:00:00Z --to 2021-04-24T00:00:00Z --strategy sma-cross --grid {grid} --train 1d --test 12h --objective net_pnl --min-trades 1 --workspace {workspace}"
    ))?;
    let report: serde_json::Value =
        serde_json::from_str(&out).context("walk-forward --json printed no JSON")?;
    let page = report["files"]["html"]
        .as_str()
        .context("walk-forward --json names no page")?;
    Ok(PathBuf::from(page))
}

pub(crate) fn run(sh: &Shell) -> Result<()> {
    let binary = build_binary(sh, "debug")?;
    let workspace = target_dir(&sh.current_dir()).join("report-check");
    sh.remove_path(&workspace)?;
    // Three days of the shared month trade a few dozen times.
    let data = shared_month("report-check")?;
    read_echoed(cmd!(
        sh,
        "{binary} run --source mock --speed 600 --duration 5s --workspace {workspace}"
    ))?;
    let live =
        PathBuf::from(read_echoed(cmd!(sh, "{binary} report --workspace {workspace}"))?.trim());
    let mut backtests = Vec::new();
    for risk in ["0.01", "0.005"] {
        let stats = read_echoed(cmd!(
            sh,
            "{binary} backtest --json --data {data} --from 2021-04-21T00:00:00Z --to 2021-04-24T00:00:00Z --set setups.risk_frac={risk} --workspace {workspace}"
        ))?;
        let stats: serde_json::Value =
            serde_json::from_str(&stats).context("backtest --json printed no JSON")?;
        let run_dir = stats["run_dir"]
            .as_str()
            .context("backtest --json has no run_dir")?;
        ensure!(
            stats["trades"].as_u64().unwrap_or(0) > 0,
            "the backtest over three days of {} closed no trades",
            data.display()
        );
        backtests.push(PathBuf::from(run_dir));
    }
    let compare = workspace.join("compare.html");
    let (first, second) = (&backtests[0], &backtests[1]);
    read_echoed(cmd!(
        sh,
        "{binary} compare {first} {second} --out {compare} --workspace {workspace}"
    ))?;
    let walk_forward = walk_forward_page(sh, &binary, &data, &workspace)?;
    let pages = [
        (live, report_spec(false)),
        (first.join("report.html"), report_spec(true)),
        (compare, compare_spec()),
        (walk_forward, walk_forward_spec()),
    ];
    for (path, spec) in &pages {
        let html = read_text(path)?;
        check_structure(spec, &html).with_context(|| path.display().to_string())?;
        println!(
            "report-check: {} structure ok ({} bytes, {} charts with their shapes, tables)",
            spec.what,
            html.len(),
            spec.charts
        );
    }
    match chromium() {
        Some(chromium) => {
            for (i, (path, spec)) in pages.iter().enumerate() {
                render(
                    &chromium,
                    path,
                    spec,
                    &workspace.join(format!("page-{i}.png")),
                    &workspace,
                )?;
            }
            Ok(())
        }
        None => {
            println!("report-check: chromium not installed; rendering check skipped");
            Ok(())
        }
    }
}

/// The markup of the `<figure id="{id}">` element of `html`, if any.
fn figure<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let start = html.find(&format!("<figure id=\"{id}\""))?;
    let rest = &html[start..];
    Some(&rest[..rest.find("</figure>")?])
}

/// Checks that every chart of `spec` is in `html` with the shapes it is drawn with.
fn check_figures(spec: &PageSpec, html: &str) -> Result<()> {
    let count = |needle: &str| html.matches(needle).count();
    ensure!(
        count("<svg") == spec.charts && count("</svg>") == spec.charts,
        "expected {} inline SVG charts, found {} <svg and {} </svg>",
        spec.charts,
        count("<svg"),
        count("</svg>")
    );
    for wanted in &spec.figures {
        let markup = figure(html, wanted.id)
            .with_context(|| format!("the page lacks the {} figure", wanted.id))?;
        ensure!(
            markup.contains("<svg"),
            "the {} figure has no chart",
            wanted.id
        );
        for (element, least) in wanted.at_least {
            let found = markup.matches(element).count();
            ensure!(
                found >= *least,
                "the {} chart has {found} {element} (at least {least} expected)",
                wanted.id
            );
        }
    }
    Ok(())
}

/// Checks what the page must contain, whatever renders it.
fn check_structure(spec: &PageSpec, html: &str) -> Result<()> {
    check_figures(spec, html)?;
    for needle in spec.needles {
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
fn render(
    chromium: &Path,
    page: &Path,
    spec: &PageSpec,
    screenshot: &Path,
    workspace: &Path,
) -> Result<()> {
    let url = format!("file://{}", page.display());
    let profile = workspace.join("chromium-profile");
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
    check_figures(spec, &dom)
        .with_context(|| format!("Chromium's DOM of the {} {}", spec.what, page.display()))?;
    for needle in spec.needles.iter().filter(|n| n.starts_with("<table")) {
        ensure!(
            dom.contains(needle),
            "Chromium's DOM of the {} lacks {needle}",
            spec.what
        );
    }
    let _ = fs::remove_file(screenshot);
    run_with_deadline(
        chromium,
        &flags(vec![
            format!("--screenshot={}", screenshot.display()),
            "--window-size=1200,1600".to_owned(),
        ]),
    )?;
    let bytes = fs::metadata(screenshot)
        .with_context(|| format!("Chromium wrote no screenshot {}", screenshot.display()))?
        .len();
    ensure!(
        bytes > MIN_SCREENSHOT_BYTES,
        "the screenshot {} is only {bytes} bytes: the page did not render",
        screenshot.display()
    );
    println!(
        "report-check: Chromium rendered the {} offline: every chart in the DOM with its shapes, screenshot {} ({bytes} bytes)",
        spec.what,
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
    use super::{check_structure, compare_spec, report_spec, walk_forward_spec};

    /// A report page with every needle and three charts, the price chart with its markers.
    fn good_report() -> String {
        let spec = report_spec(true);
        let mut page = String::from(
            "<figure id=\"price-chart\"><svg><polyline/><polygon/><circle/></svg></figure>\
             <figure id=\"equity-chart\"><svg><polyline/><polyline/></svg></figure>\
             <figure id=\"drawdown-chart\"><svg><polygon/></svg></figure>",
        );
        for needle in spec.needles {
            page.push_str(needle);
        }
        page
    }

    #[test]
    fn structure_check_accepts_a_complete_page() {
        check_structure(&report_spec(true), &good_report()).unwrap();
    }

    #[test]
    fn structure_check_rejects_a_missing_chart_marker_key_or_a_url() {
        let error = |page: &str| {
            check_structure(&report_spec(true), page)
                .unwrap_err()
                .to_string()
        };
        let no_price = good_report().replacen(
            "<figure id=\"price-chart\"><svg><polyline/><polygon/><circle/></svg></figure>",
            "",
            1,
        );
        assert!(
            error(&no_price).contains("3 inline SVG"),
            "{}",
            error(&no_price)
        );
        let no_exits = good_report().replacen("<circle/>", "", 1);
        assert!(
            error(&no_exits).contains("price-chart chart has 0 <circle"),
            "{}",
            error(&no_exits)
        );
        let no_pnl = good_report().replace("data-key=\"net_pnl\"", "");
        assert!(error(&no_pnl).contains("net_pnl"));
        let no_months = good_report().replace("<table id=\"monthly-returns\"", "");
        assert!(error(&no_months).contains("monthly-returns"));
        let with_url = format!("{}<img src=\"https://cdn.example/x.png\">", good_report());
        assert!(error(&with_url).contains("self-contained"));
    }

    #[test]
    fn the_comparison_needs_one_line_per_run_in_each_chart() {
        let line = |colour: &str| format!("<polyline stroke=\"{colour}\" stroke-width=\"2\"/>");
        let both = format!("{}{}", line("#1F77B4"), line("#FF7F0E"));
        let mut page = format!(
            "<figure id=\"compare-equity-chart\"><svg>{both}</svg></figure><figure id=\"compare-drawdown-chart\"><svg>{both}</svg></figure>"
        );
        let spec = compare_spec();
        for needle in spec.needles {
            page.push_str(needle);
        }
        check_structure(&spec, &page).unwrap();
        let one_run = page.replacen(&line("#FF7F0E"), "", 1);
        let err = check_structure(&spec, &one_run).unwrap_err().to_string();
        assert!(err.contains("compare-equity-chart chart has 0"), "{err}");
    }

    #[test]
    fn the_walk_forward_page_needs_its_curve_and_fold_boundaries() {
        let curve = "<polyline stroke=\"#1F77B4\" stroke-width=\"2\"/>";
        let boundary = "<polyline stroke=\"#7F7F7F\" stroke-width=\"1\"/>";
        let mut page = format!(
            "<figure id=\"walk-forward-equity-chart\"><svg>{curve}{boundary}</svg></figure>"
        );
        let spec = walk_forward_spec();
        for needle in spec.needles {
            page.push_str(needle);
        }
        check_structure(&spec, &page).unwrap();
        let no_boundary = page.replacen(boundary, "", 1);
        let err = check_structure(&spec, &no_boundary)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("walk-forward-equity-chart chart has 0"),
            "{err}"
        );
    }
}
