//! Stop conditions the user sets from outside the process, checked every 500 ms: the kill
//! switch (`kill.txt` in the workspace, or `LA_KILL_SWITCH=1`) and the stop-request file
//! that `laptop-agents stop` writes. Both are read on every check and each file is removed
//! once read, so a later run does not stop at once; when both are present the kill switch
//! is the one reason recorded and the stop request is logged as superseded.

use super::Live;
use crate::stop::StopReason;

impl Live {
    /// Checks the kill switch and the stop-request file.
    pub(super) fn stop_files(&mut self) -> Option<StopReason> {
        let kill = self.kill_switch_requested();
        let request_file = self.workspace.stop_request_file();
        let requested = request_file.exists();
        if requested {
            let _ = std::fs::remove_file(&request_file);
        }
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
