//! Stop conditions the user sets from outside the process, checked every 500 ms: the kill
//! switch (`kill.txt` in the workspace, or `LA_KILL_SWITCH=1`) and the stop-request file
//! that `laptop-agents stop` writes. Both are read on every check and each file is removed
//! once read, so a later run does not stop at once; when both are present the kill switch
//! is the one reason recorded and the stop request is logged as superseded.
//!
//! A stop request is for the session that holds the lock when it is written. One found at
//! start-up, older than this session's lock, was meant for a session that is gone: it is
//! removed and logged, never obeyed. One that names a PID (`laptop-agents stop` writes
//! `pid <n>`) is obeyed only by that PID; a request without a PID (written by hand or by a
//! script) is obeyed by whoever runs.

use std::{path::Path, time::SystemTime};

use super::Live;
use crate::{stop::StopReason, workspace::requested_pid};

/// Removes a stop request written before `locked_at` (for a session that no longer runs);
/// returns whether one was removed.
pub(super) fn discard_stale_stop_request(path: &Path, locked_at: SystemTime) -> bool {
    let Ok(modified) = std::fs::symlink_metadata(path).and_then(|m| m.modified()) else {
        return false;
    };
    if modified >= locked_at {
        return false;
    }
    let removed = std::fs::remove_file(path).is_ok();
    if removed {
        tracing::warn!(path = %path.display(), "removed a stop request left from before this session started; not obeyed");
    }
    removed
}

impl Live {
    /// Checks the kill switch and the stop-request file.
    pub(super) fn stop_files(&mut self) -> Option<StopReason> {
        let kill = self.kill_switch_requested();
        let requested = self.stop_request_for_this_session();
        if kill {
            self.kill_switch_engaged = true;
            if requested {
                tracing::info!(symbol = %self.config.symbol, "stop requested as well; the kill switch is the recorded reason");
            }
            self.alert(
                la_ops::alerts::AlertKind::KillSwitch,
                la_ops::alerts::Severity::Critical,
                "kill switch engaged",
                "the session is stopping".into(),
                serde_json::Map::new(),
            );
            return Some(StopReason::KillSwitch);
        }
        if requested {
            tracing::info!(symbol = %self.config.symbol, "stop requested");
            return Some(StopReason::StopRequested);
        }
        None
    }

    /// Reads and removes the stop-request file; true when it asks this session to stop
    /// (it names this PID, or no PID at all).
    fn stop_request_for_this_session(&self) -> bool {
        let request = self.workspace.stop_request_file();
        let Ok(text) = std::fs::read_to_string(&request) else {
            return false;
        };
        let _ = std::fs::remove_file(&request);
        match requested_pid(&text) {
            Some(pid) if pid != std::process::id() => {
                tracing::warn!(symbol = %self.config.symbol, requested_pid = pid, "removed a stop request addressed to another session; not obeyed");
                false
            }
            _ => true,
        }
    }

    fn kill_switch_requested(&mut self) -> bool {
        let env = std::env::var("LA_KILL_SWITCH")
            .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "TRUE" | "yes"));
        let kill_file = self.workspace.kill_file();
        let file = kill_file.exists();
        if file {
            let _ = std::fs::remove_file(&kill_file);
        }
        if env || file {
            tracing::warn!(symbol = %self.config.symbol, from_file = file, "kill switch engaged");
        }
        env || file
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::stop_request_text;

    #[test]
    fn a_stop_request_names_the_pid_it_was_written_for() {
        assert_eq!(requested_pid(&stop_request_text(4321)), Some(4321));
        assert_eq!(requested_pid("stop requested by hand\n"), None);
        assert_eq!(requested_pid(""), None);
    }

    #[test]
    fn a_stop_request_older_than_the_lock_is_discarded_and_a_newer_one_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("stop.request");
        std::fs::write(&path, "stop").expect("write");
        let written = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .expect("mtime");
        assert!(!discard_stale_stop_request(&path, written));
        assert!(path.exists(), "a request written after the lock is kept");
        let later = written + std::time::Duration::from_secs(1);
        assert!(discard_stale_stop_request(&path, later));
        assert!(!path.exists(), "a request from before the lock is removed");
    }
}
