//! [`ReportError`]: every way rendering a report can fail, each naming the file involved, so
//! a user knows which artifact of the run is missing or damaged.

use std::path::{Path, PathBuf};

/// Why a run report could not be rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A required file or directory does not exist.
    #[error("{what} not found: {}", path.display())]
    Missing {
        /// The path that was looked for.
        path: PathBuf,
        /// What it should have been (e.g. "run summary").
        what: &'static str,
    },
    /// A file exists but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file's content is not what the run writes.
    #[error("{}:{line}: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number (1 for whole-file problems such as invalid JSON).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// plotters failed to draw a chart.
    #[error("cannot draw the {chart} chart: {message}")]
    Chart {
        /// Which chart.
        chart: &'static str,
        /// The backend's error.
        message: String,
    },
    /// Several run directories are missing or damaged (a comparison names them all).
    #[error("{} run directories cannot be read:\n  {}", errors.len(), errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Several {
        /// One error per bad directory, in the order given.
        errors: Vec<ReportError>,
    },
    /// The report file cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl ReportError {
    /// The file or directory the error is about (none for chart errors).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Missing { path, .. }
            | Self::Read { path, .. }
            | Self::Malformed { path, .. }
            | Self::Write { path, .. } => Some(path),
            Self::Chart { .. } | Self::Several { .. } => None,
        }
    }

    pub(crate) fn malformed(path: &Path, line: usize, message: impl Into<String>) -> Self {
        Self::Malformed {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    /// Maps a read error: "not found" becomes [`ReportError::Missing`].
    pub(crate) fn from_read(path: &Path, what: &'static str, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            Self::Missing {
                path: path.to_path_buf(),
                what,
            }
        } else {
            Self::Read {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}
