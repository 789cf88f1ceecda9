//! Tidiness checks as tests, so plain `cargo test` enforces them (rust-analyzer's `tidy.rs`):
//! every `.rs` file under `crates/` opens with a `//!` paragraph, no file passes 600 lines,
//! and nobody reaches for the should-panic or ignore test attributes.

use std::{
    fs,
    path::{Path, PathBuf},
};

use crate::project_root;

const MAX_LINES: usize = 600;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

fn all_sources() -> Vec<PathBuf> {
    let root = project_root();
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "tests"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(
        files.len() > 10,
        "found only {} source files under {}",
        files.len(),
        root.display()
    );
    files
}

#[test]
fn every_crate_source_file_opens_with_a_module_doc() {
    let offenders: Vec<_> = all_sources()
        .into_iter()
        .filter(|path| path.components().any(|c| c.as_os_str() == "crates"))
        .filter(|path| {
            !fs::read_to_string(path)
                .unwrap_or_default()
                .starts_with("//!")
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "files without a leading //! doc: {offenders:#?}"
    );
}

#[test]
fn no_source_file_exceeds_the_line_budget() {
    let offenders: Vec<_> = all_sources()
        .into_iter()
        .filter_map(|path| {
            let lines = fs::read_to_string(&path)
                .unwrap_or_default()
                .lines()
                .count();
            (lines > MAX_LINES).then_some((path, lines))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "files over {MAX_LINES} lines: {offenders:#?}"
    );
}

#[test]
fn no_should_panic_or_ignore_attributes() {
    let needles = [concat!("#[should", "_panic"), concat!("#[ig", "nore")];
    let offenders: Vec<_> = all_sources()
        .into_iter()
        .filter(|path| {
            let text = fs::read_to_string(path).unwrap_or_default();
            needles.iter().any(|needle| text.contains(needle))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "files using should_panic/ignore: {offenders:#?}"
    );
}
