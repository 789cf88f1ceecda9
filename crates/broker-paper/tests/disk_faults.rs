//! Disk faults with real OS errors, not mocks: the persistence writer runs in a child process
//! (a) under `RLIMIT_FSIZE` with `SIGXFSZ` ignored, so `write()` fails with `EFBIG` exactly as
//! on a full disk, and (b) inside a private mount namespace where the state directory is a
//! read-only bind mount (`EROFS`). Each test proves the save returns a typed error and that the
//! previous good file and its `.bak` are intact and loadable, with no temp file left behind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    fs,
    path::Path,
    process::{Command, Output},
};

use la_broker_paper::persist::{LoadSource, backup_path, load_json};
use serde::Deserialize;

const WRITER: &str = env!("CARGO_BIN_EXE_la-broker-persist-writer");

#[derive(Debug, Deserialize)]
struct Probe {
    label: String,
    payload: String,
}

fn write_unrestricted(path: &Path, label: &str, size: usize) {
    let out = Command::new(WRITER)
        .arg(path)
        .arg(label)
        .arg(size.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "writer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Main holds `main_label`, `.bak` holds `bak_label`, both parse, nothing else in the dir.
#[track_caller]
fn assert_intact(dir: &Path, path: &Path, main_label: &str, bak_label: &str) {
    let loaded = load_json::<Probe>(path).unwrap();
    assert_eq!(loaded.source, LoadSource::Main);
    assert!(loaded.quarantined.is_empty());
    let main = loaded.value.unwrap();
    assert_eq!(main.label, main_label);
    assert_eq!(main.payload.len(), 100);
    let bak = load_json::<Probe>(&backup_path(path))
        .unwrap()
        .value
        .unwrap();
    assert_eq!(bak.label, bak_label);
    assert_eq!(
        entries(dir),
        vec!["state.json", "state.json.bak"],
        "no temp file left"
    );
}

fn os_error_of(out: &Output) -> Option<i32> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rest = stderr.split("os_error=").nth(1)?;
    rest.split(':').next()?.trim().parse().ok()
}

#[test]
fn full_disk_save_fails_and_the_previous_files_survive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    write_unrestricted(&path, "v1", 100);
    write_unrestricted(&path, "v2", 100);

    // Control: the same large document saves fine without the limit (elsewhere).
    let control = tempfile::tempdir().unwrap();
    write_unrestricted(&control.path().join("state.json"), "big", 200_000);

    // `ulimit -f 1` caps files at one block; the ignored SIGXFSZ survives exec, so write()
    // returns EFBIG instead of killing the writer.
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"trap "" XFSZ; ulimit -f 1 && exec "$0" "$@""#)
        .arg(WRITER)
        .arg(&path)
        .arg("v3")
        .arg("200000")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        os_error_of(&out),
        Some(libc::EFBIG),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_intact(dir.path(), &path, "v2", "v1");

    // After the fault clears, saving works again and rotates the backup normally.
    write_unrestricted(&path, "v4", 100);
    assert_intact(dir.path(), &path, "v4", "v2");
}

#[test]
fn read_only_directory_save_fails_and_the_previous_files_survive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    write_unrestricted(&path, "v1", 100);
    write_unrestricted(&path, "v2", 100);

    // A private mount namespace: the read-only bind mount exists only for the child and
    // disappears with it. Exit 97 means the mount itself was refused.
    let script = r#"mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 97
exec "$0" "$2" v3 100"#;
    let result = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            WRITER,
        ])
        .arg(dir.path())
        .arg(&path)
        .output();
    match result {
        Ok(out) if out.status.code() == Some(3) => {
            assert_eq!(
                os_error_of(&out),
                Some(libc::EROFS),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out) => {
            assert_ne!(
                out.status.code(),
                Some(0),
                "a save into a read-only mount cannot succeed"
            );
            eprintln!(
                "SKIPPED the read-only part: could not set up a read-only bind mount here \
                 (status {:?}, stderr: {}). Only the no-damage assertions ran.",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Err(err) => eprintln!(
            "SKIPPED the read-only part: `unshare` is not available ({err}). \
             Only the no-damage assertions ran."
        ),
    }
    assert_intact(dir.path(), &path, "v2", "v1");
}
