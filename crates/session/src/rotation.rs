//! Size- and day-bounded append-only files: `logs/system.jsonl` and a live run's
//! `decisions.jsonl` must not grow without bound during a session left alone for days.
//!
//! A [`RotatingFile`] appends whole lines. Before a line that would take the file past its
//! size cap, or the first line written on a new UTC day (by the injected [`Clock`], so a test
//! drives a day in milliseconds), the file is renamed to `<name>.1`, older copies shift to
//! `<name>.2` … `<name>.<keep>`, the one past `keep` is deleted, and a fresh file is opened.
//! A line is never split across two files. Every file is opened `0600` without following a
//! symbolic link ([`open_private`]); `rename` moves a link itself, never its target, and a
//! link found at a rotated name is removed rather than kept as if it were a log.

use std::{
    fs::{self, File},
    io::{self, BufWriter, Write},
    path::{Path, PathBuf},
    sync::Arc,
};

use la_broker_paper::persist::{PrivateOpen, open_private};
use la_core::Clock;
use la_run_schema::rotated_name;

const DAY_MS: i64 = 86_400_000;

/// When a file is rotated and how many old copies are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RotationPolicy {
    /// Rotate before a line would take the file past this many bytes.
    pub max_bytes: u64,
    /// Rotated copies kept (`<name>.1` … `<name>.<keep>`); 0 keeps none.
    pub keep: u32,
    /// Also rotate at each UTC midnight (the first line of a new day starts a new file).
    pub daily: bool,
}

impl RotationPolicy {
    /// The most bytes the file and its kept copies can hold together (plus one line each
    /// past the cap, for a line longer than the cap itself).
    pub const fn cap_bytes(self) -> u64 {
        self.max_bytes.saturating_mul(self.keep as u64 + 1)
    }
}

/// An append-only line file that rotates per a [`RotationPolicy`] (or never, for files a
/// backtest writes whole).
pub struct RotatingFile {
    path: PathBuf,
    policy: Option<RotationPolicy>,
    clock: Arc<dyn Clock>,
    file: BufWriter<File>,
    size: u64,
    /// The UTC day (days since the epoch) of the file's current contents.
    day: i64,
    rotations: u64,
}

impl std::fmt::Debug for RotatingFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatingFile")
            .field("path", &self.path)
            .field("policy", &self.policy)
            .field("size", &self.size)
            .field("rotations", &self.rotations)
            .finish_non_exhaustive()
    }
}

impl RotatingFile {
    /// Opens `path` for appending (`0600`, never through a link). An existing file counts
    /// toward the cap, and one last written on an earlier UTC day is rotated before the
    /// first new line when `daily` is set.
    ///
    /// # Errors
    /// The file cannot be opened (a symbolic link at `path` among the reasons).
    pub fn open(
        path: &Path,
        policy: Option<RotationPolicy>,
        clock: Arc<dyn Clock>,
    ) -> io::Result<Self> {
        let file = open_private(path, PrivateOpen::Append)?;
        let meta = file.metadata()?;
        let today = day_of(clock.now().as_ms());
        let day = meta
            .modified()
            .ok()
            .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|since| i64::try_from(since.as_millis()).ok())
            .filter(|_| meta.len() > 0)
            .map_or(today, day_of);
        Ok(Self {
            path: path.to_path_buf(),
            policy,
            clock,
            file: BufWriter::new(file),
            size: meta.len(),
            day,
            rotations: 0,
        })
    }

    /// A file truncated to empty that never rotates (a backtest's `decisions.jsonl`).
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn create_unbounded(path: &Path, clock: Arc<dyn Clock>) -> io::Result<Self> {
        let file = open_private(path, PrivateOpen::Truncate)?;
        Ok(Self {
            path: path.to_path_buf(),
            policy: None,
            day: day_of(clock.now().as_ms()),
            clock,
            file: BufWriter::new(file),
            size: 0,
            rotations: 0,
        })
    }

    /// Appends `line` (which should end in `\n`) to the buffer, rotating first when the
    /// policy says so; [`RotatingFile::flush`] hands buffered lines to the OS.
    ///
    /// # Errors
    /// The rotation or the write failed; the next call tries again.
    pub fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        if let Some(policy) = self.policy {
            let today = day_of(self.clock.now().as_ms());
            let too_big = self.size > 0 && self.size + line.len() as u64 > policy.max_bytes;
            let new_day = policy.daily && self.size > 0 && today != self.day;
            if too_big || new_day {
                self.rotate(policy)?;
            }
            self.day = today;
        }
        self.file.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    /// Rotations done since opening.
    pub const fn rotations(&self) -> u64 {
        self.rotations
    }

    /// The path of the live file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hands buffered lines to the OS.
    ///
    /// # Errors
    /// The OS error.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    fn rotate(&mut self, policy: RotationPolicy) -> io::Result<()> {
        self.file.flush()?;
        let _ = self.file.get_ref().sync_data();
        if policy.keep == 0 {
            remove_if_present(&self.path)?;
        } else {
            remove_if_present(&rotated_name(&self.path, policy.keep))?;
            for n in (1..policy.keep).rev() {
                let from = rotated_name(&self.path, n);
                match fs::symlink_metadata(&from) {
                    Ok(meta) if meta.file_type().is_file() => {
                        fs::rename(&from, rotated_name(&self.path, n + 1))?;
                    }
                    Ok(_) => remove_if_present(&from)?,
                    Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                    Err(err) => return Err(err),
                }
            }
            fs::rename(&self.path, rotated_name(&self.path, 1))?;
        }
        self.file = BufWriter::new(open_private(&self.path, PrivateOpen::Append)?);
        self.size = 0;
        self.rotations += 1;
        Ok(())
    }
}

/// Removes a file or a link (never what a link points at); absent is fine. A directory
/// planted at a rotated name is an error, not something to delete.
fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

const fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}
