//! The one locator of the real recorded data that tests and benchmarks read: the folder
//! `shared/data` beside the repository (`../shared/data` from its root), or the folder named
//! by `LA_SHARED_DATA` when that variable is set (a checkout that does not sit beside
//! `shared/`, such as a git worktree elsewhere).
//!
//! The data is never copied into the repository. A test that needs it fails loudly, naming
//! the path it looked for and how to provide it: it must not skip silently, or it would pass
//! without proving anything. A dev-dependency only: no production code reads it.

use std::path::{Path, PathBuf};

/// The variable that overrides the location of the shared data folder.
pub const ENV_VAR: &str = "LA_SHARED_DATA";

/// Where the shared data folder is expected, whether or not it exists.
pub fn root() -> PathBuf {
    match std::env::var_os(ENV_VAR) {
        Some(dir) => PathBuf::from(dir),
        // crates/shared-data → the repository root → its sibling `shared/`.
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

/// The shared data folder.
///
/// # Panics
/// When it does not exist, with a message naming the path and how to provide it.
pub fn dir() -> PathBuf {
    let dir = root();
    assert!(
        dir.is_dir(),
        "the shared real-data folder {} is missing: this test reads real recorded data from \
         ../shared/data beside the repository (or the folder named by {ENV_VAR}) and must not \
         skip without it",
        dir.display()
    );
    dir
}

/// A file or folder under the shared data folder, e.g. `candles/….csv.gz`.
///
/// # Panics
/// When it does not exist, with a message naming the path and how to provide it.
pub fn path(relative: &str) -> PathBuf {
    let path = dir().join(relative);
    assert!(
        path.exists(),
        "real data {} is missing: this test needs it in ../shared/data beside the repository \
         (or the folder named by {ENV_VAR})",
        path.display()
    );
    path
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_file_fails_loudly_naming_it_and_the_override() {
        let Err(panic) = std::panic::catch_unwind(|| super::path("no-such-folder/no-such.csv"))
        else {
            unreachable!("a file that does not exist was found");
        };
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains(super::ENV_VAR), "{message}");
        assert!(message.contains("missing"), "{message}");
    }
}
