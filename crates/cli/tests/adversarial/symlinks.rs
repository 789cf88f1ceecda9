//! Symbolic links planted in a workspace and file modes: a link where the log or the journal
//! should be is refused with a message naming it (the session does not start rather than
//! append to the link's target); a link at the heartbeat is replaced by the file, never
//! written through; and every file and directory a run creates is the owner's alone
//! (`0600` / `0700`).

use std::{
    os::unix::fs::{PermissionsExt, symlink},
    path::Path,
    process::Output,
};

use crate::process::{command, output_text, sim_run_args};

/// A ten-virtual-second session on the simulator, dashboard off.
fn short_run(workspace: &Path) -> Output {
    command()
        .args(sim_run_args(workspace, "1200", "10s", &["--http", "off"]))
        .output()
        .expect("binary runs")
}

/// A file outside the workspace a planted link points at.
fn outside_target(dir: &Path) -> std::path::PathBuf {
    let target = dir.join("outside.txt");
    std::fs::write(&target, "precious").unwrap();
    target
}

#[test]
fn links_planted_at_the_log_and_the_journal_are_refused_and_their_targets_untouched() {
    for planted in ["logs/system.jsonl", "paper/events.jsonl"] {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        let target = outside_target(dir.path());
        let link = ws.join(planted);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        symlink(&target, &link).unwrap();
        let output = short_run(&ws);
        let text = output_text(&output);
        assert_ne!(output.status.code(), Some(0), "{planted}: {text}");
        assert!(
            text.contains("symbolic link") && text.contains(planted.rsplit('/').next().unwrap()),
            "{planted}: the refusal names the link: {text}"
        );
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "precious",
            "{planted}: the link's target was written"
        );
    }
}

#[test]
fn links_planted_at_the_heartbeat_and_its_temp_name_are_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let target = outside_target(dir.path());
    std::fs::create_dir_all(&ws).unwrap();
    symlink(&target, ws.join("heartbeat.json")).unwrap();
    // The temp name earlier builds wrote the heartbeat through before renaming it.
    symlink(&target, ws.join("heartbeat.json.tmp")).unwrap();
    let output = short_run(&ws);
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    let beat = std::fs::symlink_metadata(ws.join("heartbeat.json")).unwrap();
    assert!(
        beat.file_type().is_file(),
        "the link was replaced by the file"
    );
}

#[test]
fn every_file_and_directory_a_run_creates_is_private_to_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let output = short_run(&ws);
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    let (mut files, mut dirs) = (0, 0);
    let mut stack = vec![ws.clone()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            dirs += 1;
            assert_eq!(mode, 0o700, "{} is {mode:o}", path.display());
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else if meta.is_file() {
            files += 1;
            assert_eq!(mode, 0o600, "{} is {mode:o}", path.display());
        }
    }
    assert!(
        ws.join("runs/latest/report.html").is_file() && files >= 8 && dirs >= 4,
        "the run wrote its files ({files} files, {dirs} directories)"
    );
}
