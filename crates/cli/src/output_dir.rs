//! Where the research commands put what they write: a private directory per invocation
//! under the workspace (`sweeps/<id>/`, `walk-forward/<id>/`), files written whole and
//! private, and CSV fields quoted when they must be.

use std::path::{Path, PathBuf};

use crate::Failure;

/// Creates `<workspace>/<kind>/<id>/` private (`0700`), like every workspace directory.
///
/// # Errors
/// A runtime failure naming the directory.
pub(crate) fn create_private_dir(
    workspace: &Path,
    kind: &str,
    id: &str,
) -> Result<PathBuf, Failure> {
    let dir = workspace.join(kind).join(id);
    la_private_fs::create_private_dir_all(&dir)
        .map_err(|e| Failure::runtime(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

/// Writes `bytes` to `path` as the run files are written: created private (0600), never
/// through a symbolic link, whole or not at all.
///
/// # Errors
/// A runtime failure naming the file.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    la_private_fs::write_replace(path, bytes, la_private_fs::Durability::Synced)
        .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
pub(crate) fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// One CSV line of `fields` (quoted as needed), with its line break.
pub(crate) fn csv_line<S: AsRef<str>>(fields: impl IntoIterator<Item = S>) -> String {
    let fields: Vec<String> = fields.into_iter().map(|f| csv_field(f.as_ref())).collect();
    let mut line = fields.join(",");
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_with_a_comma_or_quote_is_quoted() {
        assert_eq!(csv_field("5"), "5");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"x\""), "\"say \"\"x\"\"\"");
    }
}
