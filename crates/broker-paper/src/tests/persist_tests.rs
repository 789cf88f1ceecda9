//! Atomic JSON persistence: round trip, `.bak` rotation, quarantine of corrupt files, and
//! failures that leave the previous file intact. (Real OS faults — a full disk and a read-only
//! directory — are in `tests/disk_faults.rs`, which runs a writer in a child process.)

use std::{collections::BTreeMap, fs, path::Path};

use serde::{Deserialize, Serialize};

use crate::{
    BrokerError,
    persist::{LoadSource, backup_path, load_json, save_json_atomic},
};

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    label: String,
    n: u32,
}

fn doc(label: &str, n: u32) -> Doc {
    Doc {
        label: label.to_owned(),
        n,
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn save_then_load_round_trips_from_the_main_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    save_json_atomic(&path, &doc("one", 1)).unwrap();
    let loaded = load_json::<Doc>(&path).unwrap();
    assert_eq!(
        (loaded.value, loaded.source),
        (Some(doc("one", 1)), LoadSource::Main)
    );
    assert!(loaded.quarantined.is_empty());
    assert_eq!(
        names(dir.path()),
        vec!["state.json"],
        "no temp left, no backup yet"
    );
}

#[test]
fn each_save_keeps_the_previous_file_as_bak() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    save_json_atomic(&path, &doc("one", 1)).unwrap();
    save_json_atomic(&path, &doc("two", 2)).unwrap();
    save_json_atomic(&path, &doc("three", 3)).unwrap();
    let bak = load_json::<Doc>(&backup_path(&path))
        .unwrap()
        .value
        .unwrap();
    assert_eq!(bak, doc("two", 2));
    assert_eq!(
        load_json::<Doc>(&path).unwrap().value,
        Some(doc("three", 3))
    );
    assert_eq!(names(dir.path()), vec!["state.json", "state.json.bak"]);
}

#[test]
fn corrupt_state_file_is_quarantined_and_backup_used() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    save_json_atomic(&path, &doc("old", 1)).unwrap();
    save_json_atomic(&path, &doc("new", 2)).unwrap();
    // A torn write: half a JSON document.
    fs::write(&path, b"{\"label\": \"new\", \"n").unwrap();
    let loaded = load_json::<Doc>(&path).unwrap();
    assert_eq!(
        (loaded.value, loaded.source),
        (Some(doc("old", 1)), LoadSource::Backup)
    );
    assert_eq!(loaded.quarantined.len(), 1);
    let moved = &loaded.quarantined[0];
    assert!(
        moved.to_string_lossy().contains("state.json.corrupt-"),
        "{}",
        moved.display()
    );
    assert_eq!(
        fs::read(moved).unwrap(),
        b"{\"label\": \"new\", \"n",
        "kept byte for byte"
    );
    assert!(
        !path.exists(),
        "the corrupt main file was moved, not left to be overwritten"
    );
    // The next save does not rotate the quarantined file into the backup.
    save_json_atomic(&path, &doc("next", 3)).unwrap();
    let bak = load_json::<Doc>(&backup_path(&path))
        .unwrap()
        .value
        .unwrap();
    assert_eq!(bak, doc("old", 1));
}

#[test]
fn a_wrong_shape_counts_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    fs::write(&path, br#"{"label": "x", "n": 1, "extra": true}"#).unwrap();
    let loaded = load_json::<Doc>(&path).unwrap();
    assert_eq!(loaded.source, LoadSource::Missing);
    assert_eq!(loaded.quarantined.len(), 1);
}

#[test]
fn both_files_corrupt_loads_nothing_and_quarantines_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    fs::write(&path, b"").unwrap();
    fs::write(backup_path(&path), b"not json").unwrap();
    let loaded = load_json::<Doc>(&path).unwrap();
    assert_eq!((loaded.value, loaded.source), (None, LoadSource::Missing));
    assert_eq!(loaded.quarantined.len(), 2);
    for moved in &loaded.quarantined {
        assert!(moved.exists(), "{}", moved.display());
    }
}

#[test]
fn nothing_on_disk_is_missing_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = load_json::<Doc>(&dir.path().join("absent.json")).unwrap();
    assert_eq!((loaded.value, loaded.source), (None, LoadSource::Missing));
    assert!(loaded.quarantined.is_empty());
}

#[test]
fn a_value_that_cannot_serialize_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    save_json_atomic(&path, &doc("good", 1)).unwrap();
    // JSON object keys must be strings.
    let bad: BTreeMap<(u8, u8), u8> = BTreeMap::from([((1, 2), 3)]);
    let err = save_json_atomic(&path, &bad).unwrap_err();
    assert!(matches!(err, BrokerError::Serialize { .. }), "{err}");
    assert_eq!(load_json::<Doc>(&path).unwrap().value, Some(doc("good", 1)));
    assert_eq!(names(dir.path()), vec!["state.json"]);
}

#[test]
fn a_missing_directory_is_a_typed_io_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("state.json");
    let err = save_json_atomic(&path, &doc("x", 1)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[test]
fn a_file_in_place_of_the_directory_fails_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("blocker");
    fs::write(&blocker, b"precious").unwrap();
    let err = save_json_atomic(&blocker.join("state.json"), &doc("x", 1)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR), "{err}");
    assert_eq!(fs::read(&blocker).unwrap(), b"precious");
}

#[test]
fn an_unreadable_main_path_is_an_error_not_a_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be: reading fails with EISDIR, which is not corruption.
    let path = dir.path().join("state.json");
    fs::create_dir(&path).unwrap();
    let err = load_json::<Doc>(&path).unwrap_err();
    assert!(matches!(err, BrokerError::Io { .. }), "{err}");
    assert!(path.is_dir(), "left in place");
}

#[test]
fn a_digit_changed_after_the_save_fails_the_checksum_and_the_backup_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    save_json_atomic(&path, &doc("one", 1)).unwrap();
    save_json_atomic(&path, &doc("two", 524)).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"checksum\": \"sha256:"), "{text}");
    // Still a valid document of the right shape: only the checksum can tell.
    fs::write(&path, text.replace("524", "5240")).unwrap();
    let loaded = load_json::<Doc>(&path).unwrap();
    assert_eq!(
        (loaded.value, loaded.source),
        (Some(doc("one", 1)), LoadSource::Backup)
    );
    assert_eq!(
        loaded.quarantined.len(),
        1,
        "the edited file is moved aside"
    );
    assert!(!loaded.unchecked);
}

#[test]
fn a_file_without_a_checksum_is_read_as_an_older_builds_and_flagged_unchecked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    fs::write(&path, serde_json::to_vec_pretty(&doc("old", 7)).unwrap()).unwrap();
    let loaded = load_json::<Doc>(&path).unwrap();
    assert_eq!(loaded.value, Some(doc("old", 7)));
    assert!(loaded.unchecked);
    assert!(loaded.quarantined.is_empty());
}
