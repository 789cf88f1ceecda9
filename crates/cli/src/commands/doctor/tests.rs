//! Unit tests of the doctor checks that need no network: the clock verdict, the local clock
//! range, the lock and workspace probes, and the `run` argument defaults.

use super::*;

#[test]
fn clock_verdict_passes_within_five_seconds_and_fails_beyond() {
    let at = |ms: i64| TimestampMs::new(ms).unwrap();
    let server = at(1_800_000_000_000);
    let near = at(1_800_000_003_000);
    let far = at(1_800_000_009_000);
    assert_eq!(clock_verdict(server, near).status, Status::Pass);
    let verdict = clock_verdict(server, far);
    assert_eq!(verdict.status, Status::Fail);
    assert!(verdict.detail.contains("+8.5 s"), "{}", verdict.detail);
}

#[test]
fn local_clock_outside_2010_to_2100_fails() {
    let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    assert_eq!(check_local_clock(now).status, Status::Pass);
    let past = OffsetDateTime::from_unix_timestamp(0).unwrap();
    assert_eq!(check_local_clock(past).status, Status::Fail);
}

#[test]
fn stale_lock_warns_with_its_pid() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("session.lock");
    assert_eq!(check_lock(&lock).status, Status::Pass);
    // pid_max on Linux is at most 2^22, so this pid is never alive.
    std::fs::write(&lock, "4194305\n").unwrap();
    let check = check_lock(&lock);
    assert_eq!(check.status, Status::Warn);
    assert!(check.detail.contains("pid 4194305"), "{}", check.detail);
    // A live PID (this process) in a file nobody locks is still stale: the kernel's lock,
    // not the PID, says who runs.
    std::fs::write(&lock, format!("{}\n", std::process::id())).unwrap();
    assert_eq!(check_lock(&lock).status, Status::Warn);
    std::fs::remove_file(&lock).unwrap();
    let (_held, _) = la_session::workspace::SessionLock::acquire(&lock).unwrap();
    let check = check_lock(&lock);
    assert_eq!(check.status, Status::Pass, "{}", check.detail);
    assert!(
        check
            .detail
            .contains(&format!("pid {}", std::process::id()))
    );
}

#[test]
fn missing_workspace_is_checked_through_its_parent_without_creating_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("a").join("b");
    let check = check_workspace(&root);
    assert_eq!(check.status, Status::Pass, "{}", check.detail);
    assert!(!root.exists());
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "probe removed"
    );
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    assert_eq!(check_workspace(&file).status, Status::Fail);
}

#[test]
fn empty_run_arguments_resolve_through_the_run_layering() {
    let args = DoctorArgs {
        workspace: crate::args::WorkspaceArgs {
            workspace: Some(PathBuf::from("/tmp/x")),
        },
        layers: crate::args::ConfigArgs::default(),
        rest_url: Some("http://127.0.0.1:9".to_owned()),
        json: false,
    };
    let run = run_args(&args).unwrap();
    assert_eq!(run.engine.workspace.as_deref(), Some(Path::new("/tmp/x")));
    assert_eq!(run.engine.rest_url.as_deref(), Some("http://127.0.0.1:9"));
    assert!(run.source.is_none() && run.faults.is_empty());
}
