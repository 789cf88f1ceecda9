//! The workspace directory: where every file of a session lives, and the session lock.
//!
//! All paths hang off one root (default `./.workspace`), never off the current directory —
//! the Python program's split roots (defect 10) meant its dashboard read files nobody wrote.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

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
            fs::create_dir_all(&dir)
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

    /// Creates `runs/<run_id>/` and points `runs/latest` at it.
    ///
    /// # Errors
    /// The directory or link that could not be created.
    pub fn create_run_dir(&self, run_id: &str) -> Result<PathBuf, SessionError> {
        let dir = self.runs_dir().join(run_id);
        fs::create_dir_all(&dir)
            .map_err(|e| SessionError::io("cannot create run directory", &dir, e))?;
        let latest = self.latest_run();
        let _ = fs::remove_file(&latest);
        let _ = fs::remove_dir_all(&latest);
        std::os::unix::fs::symlink(run_id, &latest)
            .map_err(|e| SessionError::io("cannot link", &latest, e))?;
        Ok(dir)
    }
}

/// Whether a process with `pid` is alive (Linux: `/proc/<pid>` exists and is not a zombie).
pub fn process_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state letter follows the parenthesised command name.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            state.is_some_and(|s| s != 'Z' && s != 'X')
        }
        Err(_) => false,
    }
}

/// Holds `session.lock` while alive; removes it on drop.
#[derive(Debug)]
pub struct SessionLock {
    path: PathBuf,
    released: bool,
}

/// What happened when the lock was taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockOutcome {
    /// No lock existed.
    Fresh,
    /// A lock of a dead process was taken over.
    TookOverStale {
        /// The dead owner's pid.
        previous_pid: u32,
    },
}

impl SessionLock {
    /// Takes the lock for the current process.
    ///
    /// # Errors
    /// [`SessionError::AlreadyRunning`] when a live process holds it; I/O errors otherwise.
    pub fn acquire(path: &Path) -> Result<(Self, LockOutcome), SessionError> {
        let own_pid = std::process::id();
        let mut outcome = LockOutcome::Fresh;
        for _attempt in 0..2 {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(mut file) => {
                    file.write_all(format!("{own_pid}\n").as_bytes())
                        .and_then(|()| file.sync_all())
                        .map_err(|e| SessionError::io("cannot write lock", path, e))?;
                    return Ok((
                        Self {
                            path: path.to_path_buf(),
                            released: false,
                        },
                        outcome,
                    ));
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = fs::read_to_string(path).unwrap_or_default();
                    match text.trim().parse::<u32>() {
                        Ok(pid) if process_alive(pid) => {
                            return Err(SessionError::AlreadyRunning {
                                pid,
                                path: path.to_path_buf(),
                            });
                        }
                        Ok(pid) => outcome = LockOutcome::TookOverStale { previous_pid: pid },
                        Err(_) => outcome = LockOutcome::TookOverStale { previous_pid: 0 },
                    }
                    fs::remove_file(path)
                        .map_err(|e| SessionError::io("cannot remove stale lock", path, e))?;
                }
                Err(err) => return Err(SessionError::io("cannot create lock", path, err)),
            }
        }
        Err(SessionError::io(
            "cannot take lock",
            path,
            std::io::Error::other("lock reappeared while taking over a stale lock"),
        ))
    }

    /// Reads the pid recorded in a lock file, if any.
    pub fn read_owner(path: &Path) -> Option<u32> {
        fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    /// Removes the lock file now.
    pub fn release(mut self) {
        self.remove();
    }

    fn remove(&mut self) {
        if !self.released {
            let _ = fs::remove_file(&self.path);
            self.released = true;
        }
    }
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        self.remove();
    }
}
