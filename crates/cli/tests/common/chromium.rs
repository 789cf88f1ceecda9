//! Debian's headless Chromium as the pages' user: the DOM it builds from a page (after any
//! inline script ran), for the binary's process tests (`#[path]` module).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{path::Path, process::Command};

/// The page as headless Chromium builds it after its script ran, opened at `fragment`.
pub(crate) fn rendered_dom(page: &Path, fragment: &str) -> String {
    let chromium = Path::new("/usr/bin/chromium");
    assert!(
        chromium.exists(),
        "this test needs Debian's chromium (apt-get install chromium; .ci/run installs it)"
    );
    let profile = tempfile::tempdir().unwrap();
    let out_path = profile.path().join("dom.html");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--dump-dom",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("p").display()
        ))
        .arg(format!("file://{}{fragment}", page.display()))
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("chromium did not render {} within 60 s", page.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::fs::read_to_string(out_path).unwrap()
}
