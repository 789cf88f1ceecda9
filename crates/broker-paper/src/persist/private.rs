//! Opening workspace files the way every writer must: private to the owner (`0600`) and
//! never through a symbolic link.
//!
//! A symlink planted where a workspace file should be (`logs/system.jsonl` pointing at a
//! file outside the workspace, say) would otherwise make the session append to or overwrite
//! the link's target. Every open here carries `O_NOFOLLOW`, so the kernel refuses a link in
//! the last path component (`ELOOP`); that refusal is turned into an error that names the
//! path and says why. Files are created `0600` (the umask can only narrow it) and an
//! existing file found wider is narrowed, because account state, the journal and the logs
//! are nobody else's business.

use std::{
    fs::{self, File, OpenOptions},
    io,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::Path,
};

/// The permission bits of every file the session creates.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

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
