//! Opening and writing workspace files the way every writer must: private to the owner
//! (files `0600`, directories `0700`) and never through a symbolic link. The journal, the
//! account state, the logs, the heartbeat, a run's summary, CSVs and report all go through
//! this crate, so a rule about file safety is kept in one place.
//!
//! A symlink planted where a workspace file should be (`logs/system.jsonl` pointing at a
//! file outside the workspace, say) would otherwise make the session append to or overwrite
//! the link's target. Every open here carries `O_NOFOLLOW`, so the kernel refuses a link in
//! the last path component (`ELOOP`); that refusal is turned into an error that names the
//! path and says why. Files are created `0600` (the umask can only narrow it) and an
//! existing file found wider is narrowed, because account state, the journal and the logs
//! are nobody else's business.

use std::{
    fs::{self, DirBuilder, File, OpenOptions},
    io::{self, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
};

/// The permission bits of every file the session creates.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// The permission bits of every directory the session creates.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Makes temp names unique within a process.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Whether [`write_replace`] makes the new contents durable before it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file before the rename and the directory after it (a run's summary, a
    /// report: written once, wanted after a power loss).
    Synced,
    /// No fsync (the heartbeat, rewritten every second: disposable, and syncing it each time
    /// would wear the disk).
    Unsynced,
}

/// Creates `path` and any missing parents with mode `0700` (directories that exist are left
/// as they are).
///
/// # Errors
/// The OS error.
pub fn create_private_dir_all(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(path)
}

/// Replaces the whole content of `path` with `bytes`: written to a fresh temp file beside it
/// (created exclusively, `0600`, never through a link), then renamed over `path`. Readers
/// see the old or the new file, never half of one. A symbolic link at `path` is replaced by
/// the file (`rename` never follows it), so its target is never written; a directory there
/// is an error.
///
/// # Errors
/// The OS error, naming the path.
pub fn write_replace(path: &Path, bytes: &[u8], durability: Durability) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = open_private(&tmp, PrivateOpen::CreateNew)?;
        file.write_all(bytes)?;
        if durability == Durability::Synced {
            file.sync_all()?;
        }
        drop(file);
        fs::rename(&tmp, path)?;
        if durability == Durability::Synced {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
        .map_err(|err: io::Error| io::Error::new(err.kind(), format!("{}: {err}", path.display())))
}

/// How [`open_private`] opens a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrivateOpen {
    /// Write at the end, creating it if missing (journals and logs).
    Append,
    /// Create or empty it, then write (files rewritten whole, like a run's CSVs).
    Truncate,
    /// Create it; fail if anything (a file or a link) is already there (temp files).
    CreateNew,
    /// Read and write without truncating, creating it if missing (the lock file).
    ReadWrite,
}

/// Opens `path` for writing per `how`, with mode `0600` and without following a symbolic
/// link. An existing file with wider permissions is narrowed to `0600`.
///
/// # Errors
/// The OS error; a symbolic link at `path` is an [`io::ErrorKind::InvalidInput`] error whose
/// message names the path.
pub fn open_private(path: &Path, how: PrivateOpen) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .mode(PRIVATE_FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW);
    match how {
        PrivateOpen::Append => options.append(true).create(true),
        PrivateOpen::Truncate => options.write(true).create(true).truncate(true),
        PrivateOpen::CreateNew => options.write(true).create_new(true),
        PrivateOpen::ReadWrite => options.read(true).write(true).create(true),
    };
    let file = options.open(path).map_err(|err| explain_link(path, err))?;
    if how != PrivateOpen::CreateNew {
        narrow_mode(&file)?;
    }
    Ok(file)
}

/// Opens `path` read-only without following a symbolic link (a lock probe must not lock
/// some other file a link points at).
///
/// # Errors
/// As [`open_private`]; a missing file is [`io::ErrorKind::NotFound`].
pub fn open_read_no_follow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|err| explain_link(path, err))
}

/// Checks that `path` is a regular file or absent, before a temp file is renamed over it:
/// a link, a directory or a device there is an error naming the path, not something to
/// replace silently.
///
/// # Errors
/// [`io::ErrorKind::InvalidInput`] naming what is there; other OS errors as they come.
pub fn ensure_regular_or_absent(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => Ok(()),
        Ok(meta) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is a {}, not a regular file: refusing to replace it",
                path.display(),
                describe(&meta.file_type())
            ),
        )),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

fn describe(kind: &fs::FileType) -> &'static str {
    if kind.is_symlink() {
        "symbolic link"
    } else if kind.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

/// Narrows an already open file to `0600` if it is wider (a file left by an older build or
/// created by hand).
fn narrow_mode(file: &File) -> io::Result<()> {
    let mode = file.metadata()?.permissions().mode() & 0o777;
    if mode & !PRIVATE_FILE_MODE != 0 {
        file.set_permissions(fs::Permissions::from_mode(PRIVATE_FILE_MODE))?;
    }
    Ok(())
}

/// `O_NOFOLLOW` makes `open` fail with `ELOOP` on a link: say so in words.
fn explain_link(path: &Path, err: io::Error) -> io::Error {
    if err.raw_os_error() == Some(libc::ELOOP) {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is a symbolic link: refusing to follow it",
                path.display()
            ),
        )
    } else {
        err
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_link_at_the_replaced_path_is_replaced_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.txt");
        fs::write(&outside, "precious").unwrap();
        let path = dir.path().join("heartbeat.json");
        symlink(&outside, &path).unwrap();
        write_replace(&path, b"{}", Durability::Unsynced).unwrap();
        assert_eq!(fs::read_to_string(&outside).unwrap(), "precious");
        assert!(fs::symlink_metadata(&path).unwrap().file_type().is_file());
        assert_eq!(fs::read_to_string(&path).unwrap(), "{}");
        assert_eq!(mode(&path), PRIVATE_FILE_MODE);
    }

    #[test]
    fn replaced_files_are_private_and_leave_no_temp_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.json");
        write_replace(&path, b"one", Durability::Synced).unwrap();
        write_replace(&path, b"two", Durability::Synced).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(mode(&path), PRIVATE_FILE_MODE);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn a_directory_at_the_replaced_path_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        fs::create_dir(&path).unwrap();
        let err = write_replace(&path, b"x", Durability::Synced).unwrap_err();
        assert!(err.to_string().contains("report.html"), "{err}");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn created_directories_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs/20260101T000000Z-1");
        create_private_dir_all(&path).unwrap();
        assert_eq!(mode(&path), PRIVATE_DIR_MODE);
        assert_eq!(mode(&dir.path().join("runs")), PRIVATE_DIR_MODE);
    }

    #[test]
    fn a_link_is_never_opened_for_writing() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.txt");
        fs::write(&outside, "precious").unwrap();
        let path = dir.path().join("trades.csv");
        symlink(&outside, &path).unwrap();
        let err = open_private(&path, PrivateOpen::Truncate).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(fs::read_to_string(&outside).unwrap(), "precious");
    }
}
