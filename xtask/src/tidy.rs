//! Tidiness of the sources (rust-analyzer's `tidy.rs`), in two strengths.
//!
//! Gates, run as tests so plain `cargo test` enforces them: every `.rs` file under `crates/`
//! opens with a `//!` paragraph; nobody reaches for the should-panic or ignore test
//! attributes; and no comment cites a document the repository does not hold (a numbered
//! defect or issue, a section of a reference or of another file that is not here), which a
//! reader cannot follow. `cargo xtask tidy` (and so `cargo xtask ci`) fails on the last one
//! too, listing every offending line.
//!
//! A guideline, printed as a warning: files longer than [`LONG_FILE_LINES`] (cohesion decides
//! where a file ends; a long file is a smell to look at, not a failure).

use std::{
    fs,
    path::{Path, PathBuf},
};

use crate::project_root;

/// Files longer than this are listed as a guideline warning.
const LONG_FILE_LINES: usize = 600;

/// Every `.rs` file under `dir`, `target/` directories skipped.
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

/// The Rust sources of the project under `root`: `crates/`, `xtask/` and `tests/`.
fn all_sources(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "tests"] {
        rust_files(&root.join(dir), &mut files);
    }
    files.sort();
    files
}

/// `path` relative to `root`, for messages.
fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The files under `root` longer than [`LONG_FILE_LINES`], with their line counts.
pub(crate) fn long_files(root: &Path) -> Vec<(String, usize)> {
    all_sources(root)
        .into_iter()
        .filter_map(|path| {
            let lines = fs::read_to_string(&path).ok()?.lines().count();
            (lines > LONG_FILE_LINES).then(|| (shown(root, &path), lines))
        })
        .collect()
}

/// The comment part of a source line: the whole line for `//`, `///` and `//!` lines, the
/// text after ` // ` for a trailing comment, nothing otherwise.
fn comment_of(line: &str) -> Option<&str> {
    let trimmed = line.trim_start();
    if trimmed.starts_with("//") {
        return Some(trimmed);
    }
    line.find(" // ").map(|at| &line[at..])
}

/// What in `comment` cites a document absent from the repository at `root`, if anything:
/// `defect` or `issue` and a number, `reference` and a section sign, or a section sign and
/// a number unless the comment names a Markdown file the repository holds (a section of
/// `RELIABILITY.md` can be followed) or an RFC.
fn absent_citation(comment: &str, root: &Path) -> Option<&'static str> {
    let lower = comment.to_lowercase();
    let followed_by_digit = |word: &str| {
        lower.match_indices(word).any(|(at, _)| {
            lower[at + word.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        })
    };
    if followed_by_digit("defect ") {
        return Some("defect N");
    }
    if lower.contains("reference §") {
        return Some("reference §");
    }
    if followed_by_digit("issue ") {
        return Some("issue N");
    }
    if followed_by_digit("§") {
        let names_a_repository_document = comment
            .split(|c: char| c.is_whitespace() || matches!(c, '`' | '(' | ')' | ','))
            .filter(|word| word.ends_with(".md"))
            .any(|doc| root.join(doc).is_file());
        // A section of a published standard (`RFC 9110 §5.6.7`) can be followed too.
        if !names_a_repository_document && !followed_by_digit("rfc ") {
            return Some("§N");
        }
    }
    None
}

/// One comment that cites an absent document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Citation {
    /// `path:line`, relative to the root.
    pub(crate) place: String,
    /// Which kind of citation: `defect N`, `issue N`, a reference section, a section `N`.
    pub(crate) kind: &'static str,
    pub(crate) line: String,
}

/// Every comment under `root` that cites a document the repository does not hold.
pub(crate) fn absent_document_citations(root: &Path) -> Vec<Citation> {
    let mut found = Vec::new();
    for path in all_sources(root) {
        let text = fs::read_to_string(&path).unwrap_or_default();
        for (index, line) in text.lines().enumerate() {
            if let Some(kind) = comment_of(line).and_then(|c| absent_citation(c, root)) {
                found.push(Citation {
                    place: format!("{}:{}", shown(root, &path), index + 1),
                    kind,
                    line: line.trim().to_owned(),
                });
            }
        }
    }
    found
}

/// Prints the guideline warnings for the project (nothing when there are none) and fails
/// when a comment cites a document that is not in the repository.
///
/// # Errors
/// Every such comment, one per line with its place and the kind of citation.
pub(crate) fn check() -> anyhow::Result<()> {
    let root = project_root();
    let long = long_files(&root);
    if !long.is_empty() {
        println!(
            "tidy: warning: {} files over {LONG_FILE_LINES} lines (a smell, not a failure: split where cohesion says):",
            long.len()
        );
        for (path, lines) in &long {
            println!("  {path}: {lines} lines");
        }
    }
    let citations = absent_document_citations(&root);
    anyhow::ensure!(
        citations.is_empty(),
        "tidy: {} comments cite a document that is not in the repository (say what it said \
         instead):\n{}",
        citations.len(),
        citations
            .iter()
            .map(|c| format!("  {} ({}): {}", c.place, c.kind, c.line))
            .collect::<Vec<_>>()
            .join("\n")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> Vec<PathBuf> {
        let root = project_root();
        let files = all_sources(&root);
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
        let offenders: Vec<_> = sources()
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
    fn no_should_panic_or_ignore_attributes() {
        let needles = [concat!("#[should", "_panic"), concat!("#[ig", "nore")];
        let offenders: Vec<_> = sources()
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

    /// A throwaway project tree under the system temp directory.
    fn tree(name: &str, files: &[(&str, String)]) -> PathBuf {
        let root = std::env::temp_dir().join(format!("xtask-tidy-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for (path, text) in files {
            let path = root.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        root
    }

    #[test]
    fn files_over_the_guideline_are_listed_with_their_line_counts() {
        let root = tree(
            "long",
            &[
                (
                    "crates/a/src/long.rs",
                    "//! x\n".repeat(LONG_FILE_LINES + 1),
                ),
                ("crates/a/src/fine.rs", "//! x\n".repeat(LONG_FILE_LINES)),
                ("crates/a/target/gen.rs", "x\n".repeat(2 * LONG_FILE_LINES)),
            ],
        );
        assert_eq!(
            long_files(&root),
            vec![("crates/a/src/long.rs".to_owned(), LONG_FILE_LINES + 1)]
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn no_comment_cites_a_document_that_is_not_in_the_repository() {
        let found = absent_document_citations(&project_root());
        assert!(found.is_empty(), "{found:#?}");
    }

    #[test]
    fn comments_citing_absent_documents_are_found_and_repository_documents_pass() {
        let source = [
            concat!("//! Kept from the old program (defect", " 16)."),
            concat!("/// Fees as in reference ", "§10.1."),
            concat!("let x = 1; /", "/ see issue", " 8"),
            "// The ping interval (`bitunix-protocol.md` §8).",
            "// Short runs: RELIABILITY.md §6.",
            "// An IMF-fixdate (RFC 9110 §5.6.7).",
            "let s = \"§1 of a string\";",
            "// A defect in general, an issue with no number, section signs alone: §.",
        ]
        .join("\n");
        let root = tree(
            "cite",
            &[
                ("crates/a/src/lib.rs", source),
                ("RELIABILITY.md", "# Reliability\n".to_owned()),
            ],
        );
        let found: Vec<(String, &str)> = absent_document_citations(&root)
            .into_iter()
            .map(|c| (c.place, c.kind))
            .collect();
        assert_eq!(
            found,
            vec![
                ("crates/a/src/lib.rs:1".to_owned(), "defect N"),
                ("crates/a/src/lib.rs:2".to_owned(), "reference §"),
                ("crates/a/src/lib.rs:3".to_owned(), "issue N"),
                ("crates/a/src/lib.rs:4".to_owned(), "§N"),
            ]
        );
        fs::remove_dir_all(&root).unwrap();
    }
}
