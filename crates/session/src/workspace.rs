//! The workspace directory: where every file of a session lives, and the session lock.
//!
//! All paths hang off one root (default `./.workspace`), never off the current directory —
//! the Python program's split roots meant its dashboard read files nobody wrote.

use std::{
    fs::{self, File, TryLockError},
    io::{Read, Seek, SeekFrom, Write},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use la_broker_paper::persist::{PrivateOpen, open_private, open_read_no_follow};

use crate::error::SessionError;

/// Every path a session reads or writes, derived from the workspace root.
#[derive(Clone, Debug)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// A workspace rooted at `root` (not created yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Creates `logs/`, `paper/` and `runs/`.
    ///
    /// # Errors
    /// The directory that could not be created.
    pub fn create_dirs(&self) -> Result<(), SessionError> {
        for dir in [self.logs_dir(), self.paper_dir(), self.runs_dir()] {
            la_private_fs::create_private_dir_all(&dir)
                .map_err(|e| SessionError::io("cannot create directory", &dir, e))?;
        }
        Ok(())
    }

    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `logs/`.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// `logs/system.jsonl`.
    pub fn system_log(&self) -> PathBuf {
        self.logs_dir().join("system.jsonl")
    }
    /// `paper/`.
    pub fn paper_dir(&self) -> PathBuf {
        self.root.join("paper")
    }
    /// `paper/broker_state.json`.
    pub fn broker_state(&self) -> PathBuf {
        self.paper_dir().join("broker_state.json")
    }
    /// `paper/unified_state.json`.
    pub fn unified_state(&self) -> PathBuf {
        self.paper_dir().join("unified_state.json")
    }
    /// `paper/events.jsonl`.
    pub fn events_journal(&self) -> PathBuf {
        self.paper_dir().join("events.jsonl")
    }
    /// `runs/`.
    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }
    /// `runs/latest` (a symlink to the newest run directory).
    pub fn latest_run(&self) -> PathBuf {
        self.runs_dir().join("latest")
    }
    /// `heartbeat.json`.
    pub fn heartbeat(&self) -> PathBuf {
        self.root.join("heartbeat.json")
    }
    /// `session.lock`.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("session.lock")
    }
    /// `kill.txt`: its presence engages the kill switch.
    pub fn kill_file(&self) -> PathBuf {
        self.root.join("kill.txt")
    }
    /// `stop.request`: written by `laptop-agents stop` to ask for a graceful stop.
    pub fn stop_request_file(&self) -> PathBuf {
        self.root.join("stop.request")
    }

    /// Asks the session with `pid` to stop: writes `stop.request` naming it (`0600`, never
    /// through a symbolic link).
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write_stop_request(&self, pid: u32) -> Result<(), SessionError> {
        let path = self.stop_request_file();
        open_private(&path, PrivateOpen::Truncate)
            .and_then(|mut file| file.write_all(stop_request_text(pid).as_bytes()))
            .map_err(|e| SessionError::io("cannot write", &path, e))
    }

    /// Creates `runs/<run_id>/` and points `runs/latest` at it.
    ///
    /// # Errors
    /// The directory or link that could not be created.
    pub fn create_run_dir(&self, run_id: &str) -> Result<PathBuf, SessionError> {
        let dir = self.runs_dir().join(run_id);
        la_private_fs::create_private_dir_all(&dir)
            .map_err(|e| SessionError::io("cannot create run directory", &dir, e))?;
        let latest = self.latest_run();
        let _ = fs::remove_file(&latest);
        let _ = fs::remove_dir_all(&latest);
        std::os::unix::fs::symlink(run_id, &latest)
            .map_err(|e| SessionError::io("cannot link", &latest, e))?;
        Ok(dir)
    }
}

/// The UTC stamp a run directory's name starts with (after an optional `backtest-`):
/// `YYYYMMDDTHHMMSSZ`. A name without one was not made by a session and is never pruned.
fn run_stamp_of(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("backtest-").unwrap_or(name);
    let stamp = rest.get(..16)?;
    let bytes = stamp.as_bytes();
    let shaped = bytes.iter().enumerate().all(|(i, b)| match i {
        8 => *b == b'T',
        15 => *b == b'Z',
        _ => b.is_ascii_digit(),
    });
    (shaped && rest.as_bytes().get(16) == Some(&b'-')).then_some(stamp)
}

/// What [`Workspace::prune_runs`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneOutcome {
    /// Run directories deleted, oldest first.
    pub removed: Vec<String>,
    /// Run directories kept.
    pub kept: usize,
    /// Directories that could not be deleted, with the reason.
    pub failed: Vec<(String, String)>,
}

impl Workspace {
    /// Deletes the oldest run directories under `runs/` until `keep` remain (by the stamp
    /// in their names). Only real directories whose name is a run id are touched: a
    /// symbolic link (`latest` among them, or one planted to point outside the workspace)
    /// or anything else is left alone, as are the runs named in `protected` (the current
    /// run, the one `latest` points at) whatever their age. `keep` = 0 deletes nothing.
    ///
    /// # Errors
    /// `runs/` cannot be listed.
    pub fn prune_runs(
        &self,
        keep: usize,
        protected: &[&str],
    ) -> Result<PruneOutcome, SessionError> {
        let runs = self.runs_dir();
        let mut outcome = PruneOutcome::default();
        let entries = match fs::read_dir(&runs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(outcome),
            Err(e) => return Err(SessionError::io("cannot list", &runs, e)),
        };
        let latest = fs::read_link(self.latest_run()).ok();
        let latest = latest.as_deref().and_then(Path::to_str);
        let mut candidates: Vec<(String, String)> = Vec::new();
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            // `file_type` does not follow links: a link to a directory is not a directory.
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let Some(stamp) = run_stamp_of(&name).filter(|_| is_dir) else {
                continue;
            };
            candidates.push((stamp.to_owned(), name));
        }
        candidates.sort();
        outcome.kept = candidates.len();
        if keep == 0 || candidates.len() <= keep {
            return Ok(outcome);
        }
        let excess = candidates.len() - keep;
        for (_, name) in candidates.into_iter().take(excess) {
            if protected.contains(&name.as_str()) || latest == Some(name.as_str()) {
                continue;
            }
            let path = runs.join(&name);
            match fs::remove_dir_all(&path) {
                Ok(()) => {
                    outcome.kept -= 1;
                    outcome.removed.push(name);
                }
                Err(e) => outcome.failed.push((name, e.to_string())),
            }
        }
        Ok(outcome)
    }
}

/// What `laptop-agents stop` writes into `stop.request` for the session with `pid`: only
/// that session obeys it (see `live/stop_files.rs`).
pub(crate) fn stop_request_text(pid: u32) -> String {
    format!("pid {pid}\n")
}

/// The PID a stop request names, if it names one (a request written by hand names none).
pub(crate) fn requested_pid(text: &str) -> Option<u32> {
    text.lines()
        .next()?
        .strip_prefix("pid ")?
        .trim()
        .parse()
        .ok()
}

/// How long [`SessionLock::acquire`] keeps retrying a lock that is held: a `status` or
/// `stop` probe holds it for microseconds, a session for its whole life.
const PROBE_PATIENCE: Duration = Duration::from_millis(200);

/// Holds `session.lock` for the life of the session: an exclusive advisory lock (`flock`)
/// on the open file. The kernel releases it when the process dies, however it dies, so the
/// lock — not the PID written inside for humans — is the truth about who owns the
/// workspace. A PID that was reused by an unrelated process after a crash cannot keep a
/// workspace locked, and two sessions starting at the same instant cannot both win.
///
/// Dropping it (or [`SessionLock::release`]) removes the file while the lock is still held,
/// then closes it; an acquirer checks after locking that the path still names the file it
/// locked, so a file removed under it is never mistaken for the lock.
#[derive(Debug)]
pub struct SessionLock {
    path: PathBuf,
    file: Option<File>,
}

/// What happened when the lock was taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockOutcome {
    /// No lock file existed.
    Fresh,
    /// A lock file nobody held (its owner died) was taken over.
    TookOverStale {
        /// The PID the old file named (0 when it named none).
        previous_pid: u32,
    },
}

/// What [`SessionLock::probe`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockState {
    /// No lock file.
    Absent,
    /// A lock file that no process holds: its owner is gone, whatever PID it names.
    Stale {
        /// The PID the file names, if any.
        pid: Option<u32>,
    },
    /// A live session holds the lock.
    Held {
        /// The PID it wrote (absent for the instant between locking and writing it).
        pid: Option<u32>,
    },
}

impl LockState {
    /// Whether a session holds the lock.
    pub const fn is_held(self) -> bool {
        matches!(self, Self::Held { .. })
    }
}

impl SessionLock {
    /// Takes the lock for the current process.
    ///
    /// # Errors
    /// [`SessionError::AlreadyRunning`] when another process holds it; I/O errors otherwise
    /// (a symbolic link at `path` among them).
    pub fn acquire(path: &Path) -> Result<(Self, LockOutcome), SessionError> {
        let started = Instant::now();
        loop {
            let file = open_private(path, PrivateOpen::ReadWrite)
                .map_err(|e| SessionError::io("cannot open lock", path, e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    if started.elapsed() < PROBE_PATIENCE {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                    return Err(SessionError::AlreadyRunning {
                        pid: read_pid(&file).unwrap_or(0),
                        path: path.to_path_buf(),
                    });
                }
                Err(TryLockError::Error(e)) => {
                    return Err(SessionError::io("cannot lock", path, e));
                }
            }
            if !still_named_by(&file, path) {
                // The previous owner removed this file after we opened it: lock the new one.
                continue;
            }
            let outcome = if file
                .metadata()
                .map_err(|e| SessionError::io("cannot read lock", path, e))?
                .len()
                == 0
            {
                LockOutcome::Fresh
            } else {
                LockOutcome::TookOverStale {
                    previous_pid: read_pid(&file).unwrap_or(0),
                }
            };
            write_pid(&file).map_err(|e| SessionError::io("cannot write lock", path, e))?;
            return Ok((
                Self {
                    path: path.to_path_buf(),
                    file: Some(file),
                },
                outcome,
            ));
        }
    }

    /// Whether a session holds the lock at `path`, asked of the kernel (a shared lock tried
    /// and released at once), never of the PID in the file.
    ///
    /// # Errors
    /// The file exists but cannot be opened or locked (a symbolic link among them).
    pub fn probe(path: &Path) -> std::io::Result<LockState> {
        let file = match open_read_no_follow(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LockState::Absent),
            Err(e) => return Err(e),
        };
        let pid = read_pid(&file);
        match file.try_lock_shared() {
            Ok(()) => Ok(LockState::Stale { pid }),
            Err(TryLockError::WouldBlock) => Ok(LockState::Held { pid }),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    /// Removes the lock file now and releases the lock.
    pub fn release(mut self) {
        self.remove();
    }

    fn remove(&mut self) {
        if let Some(file) = self.file.take() {
            if still_named_by(&file, &self.path) {
                let _ = fs::remove_file(&self.path);
            }
            drop(file);
        }
    }
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Whether `path` still names the open `file` (same device and inode).
fn still_named_by(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::symlink_metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

/// The PID written in a lock file, for messages (never for deciding ownership).
fn read_pid(mut file: &File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(64).read_to_string(&mut text).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn write_pid(mut file: &File) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(format!("{}\n", std::process::id()).as_bytes())?;
    file.sync_all()
}
