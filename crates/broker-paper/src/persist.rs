//! Crash-safe JSON persistence, generic so the session reuses it for its own state file.
//!
//! **Save** ([`save_json_atomic`]): serialize first (nothing is touched if that fails); write
//! a temp file `.<name>.tmp-<pid>-<seq>` in the *same directory*; fsync it; if a main file
//! exists, make it the new `<name>.bak` (hard link to a temp name, falling back to a copy,
//! then rename over the old `.bak`, so the old backup stays whole until the new one is in
//! place); rename the temp over the main file; fsync the directory. On any failure the temp
//! file is removed and a typed [`BrokerError`] is returned; the previous main file is never
//! opened for writing, so it cannot be damaged — disk full (`EFBIG`/`ENOSPC`) or a read-only
//! directory (`EROFS`) leaves it exactly as it was. The caller (the session) logs an alert
//! and keeps trading on the in-memory state; it never swallows the error.
//!
//! Every file is opened through [`open_private`]: created `0600`, never through a symbolic
//! link. The temp file is created exclusively (`O_CREAT | O_EXCL | O_NOFOLLOW`), and the main
//! file must be a regular file or absent before the temp is renamed over it: a link, a
//! directory or a device there is an error naming the path.
//!
//! **Integrity.** [`save_json_atomic`] ends the object with a `"checksum"` member: the
//! SHA-256 of the bytes before it, as they would read without it (the pretty JSON of the
//! value). [`load_json`] recomputes it; a file whose bytes changed after they were written — a
//! digit edited, a block of zeros from a bad sector, half a file — fails the check and is
//! treated exactly like a file that does not parse. A file without the member (written by an
//! older build) is read as it is and reported in [`Loaded::unchecked`].
//!
//! **Load** ([`load_json`]): main → `.bak` → nothing. A file that exists but does not parse
//! as the expected type, or fails its checksum, is renamed to `<name>.corrupt-<unix_ms>`, logged at `warn`, and listed
//! in [`Loaded::quarantined`] — it is never overwritten silently. If it cannot be moved aside
//! the load fails with [`BrokerError::Corrupt`] rather than let a later save replace the good
//! backup with it. A non-empty `quarantined` list is an alert for the caller even when a value
//! was loaded.

use std::{
    fs::{self, File},
    io::{self, Write},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use serde::{Serialize, de::DeserializeOwned};

use crate::error::BrokerError;

pub use la_private_fs::{
    PRIVATE_FILE_MODE, PrivateOpen, ensure_regular_or_absent, open_private, open_read_no_follow,
};

/// Makes temp names unique within a process.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Which file a [`load_json`] value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadSource {
    /// The main file.
    Main,
    /// The `.bak` file (the main file was missing or corrupt).
    Backup,
    /// Neither file held a value.
    Missing,
}

/// The outcome of [`load_json`].
#[derive(Debug)]
pub struct Loaded<T> {
    /// The value, if a readable file was found.
    pub value: Option<T>,
    /// Where it came from.
    pub source: LoadSource,
    /// Corrupt files moved aside during this load (their new paths).
    pub quarantined: Vec<PathBuf>,
    /// Whether the value came from a file without a checksum (an older build's).
    pub unchecked: bool,
}

/// What precedes the digest at the end of a checked file.
const CHECKSUM_MEMBER: &[u8] = b",\n  \"checksum\": \"sha256:";

/// The lowercase hex SHA-256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Appends the checksum member to the pretty JSON of an object (`{ ... \n}`); other values
/// are returned as they are.
fn with_checksum(pretty: Vec<u8>) -> Vec<u8> {
    let Some(body) = pretty.strip_suffix(b"\n}") else {
        return pretty;
    };
    let digest = sha256_hex(&pretty);
    let mut out = Vec::with_capacity(pretty.len() + 96);
    out.extend_from_slice(body);
    out.extend_from_slice(CHECKSUM_MEMBER);
    out.extend_from_slice(digest.as_bytes());
    out.extend_from_slice(b"\"\n}");
    out
}

/// What a file's checksum says about it.
enum Integrity<'a> {
    /// The digest matches: the value is these bytes (the file without the member).
    Intact(Vec<u8>),
    /// No checksum member: an older build's file, read as it is.
    Unchecked(&'a [u8]),
    /// The member is there and the digest does not match.
    Mismatch,
}

fn check_integrity(bytes: &[u8]) -> Integrity<'_> {
    let text = bytes.trim_ascii_end();
    let Some(start) = text
        .windows(CHECKSUM_MEMBER.len())
        .rposition(|w| w == CHECKSUM_MEMBER)
    else {
        return Integrity::Unchecked(bytes);
    };
    let rest = &text[start + CHECKSUM_MEMBER.len()..];
    let Some(digest) = rest.strip_suffix(b"\"\n}") else {
        return Integrity::Mismatch;
    };
    let mut original = text[..start].to_vec();
    original.extend_from_slice(b"\n}");
    if sha256_hex(&original).as_bytes() == digest {
        Integrity::Intact(original)
    } else {
        Integrity::Mismatch
    }
}

/// `<path>.bak`.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".bak");
    PathBuf::from(name)
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> BrokerError + '_ {
    move |source| BrokerError::Io {
        path: path.to_owned(),
        source,
    }
}

fn split(path: &Path) -> Result<(PathBuf, String), BrokerError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| BrokerError::Io {
            path: path.to_owned(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "path has no UTF-8 file name"),
        })?
        .to_owned();
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name))
}

/// Writes `value` as pretty JSON to `path` atomically, keeping the previous file as
/// `<path>.bak`. See the module docs for the exact sequence.
///
/// # Errors
/// [`BrokerError::Serialize`] (nothing written) or [`BrokerError::Io`] (temp removed, the
/// previous main file untouched).
pub fn save_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), BrokerError> {
    let pretty = serde_json::to_vec_pretty(value).map_err(|source| BrokerError::Serialize {
        path: path.to_owned(),
        source,
    })?;
    let mut bytes = with_checksum(pretty);
    bytes.push(b'\n');
    save_bytes_atomic(path, &bytes)
}

/// Writes `bytes` to `path` with the same atomic sequence as [`save_json_atomic`] (temp file,
/// fsync, `.bak`, rename, directory fsync); used for other files that must never be torn.
///
/// # Errors
/// [`BrokerError::Io`] (temp removed, the previous main file untouched).
pub fn save_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<(), BrokerError> {
    let (dir, name) = split(path)?;
    let tag = format!(
        "{}-{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    );
    let tmp = dir.join(format!(".{name}.tmp-{tag}"));
    let result = write_and_replace(path, &dir, &name, &tmp, &tag, bytes);
    if result.is_err() {
        remove_quietly(&tmp);
    }
    result
}

fn write_and_replace(
    path: &Path,
    dir: &Path,
    name: &str,
    tmp: &Path,
    tag: &str,
    bytes: &[u8],
) -> Result<(), BrokerError> {
    let mut file = open_private(tmp, PrivateOpen::CreateNew).map_err(io_error(tmp))?;
    file.write_all(bytes).map_err(io_error(tmp))?;
    file.sync_all().map_err(io_error(tmp))?;
    drop(file);
    ensure_regular_or_absent(path).map_err(io_error(path))?;
    if path.exists() {
        refresh_backup(path, dir, name, tag)?;
    }
    fs::rename(tmp, path).map_err(io_error(path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

/// Points `<name>.bak` at the current main file without ever leaving no backup.
fn refresh_backup(path: &Path, dir: &Path, name: &str, tag: &str) -> Result<(), BrokerError> {
    let bak = backup_path(path);
    let bak_tmp = dir.join(format!(".{name}.bak-tmp-{tag}"));
    if fs::hard_link(path, &bak_tmp).is_err()
        && let Err(err) = copy_synced(path, &bak_tmp)
    {
        remove_quietly(&bak_tmp);
        return Err(io_error(&bak_tmp)(err));
    }
    let renamed = fs::rename(&bak_tmp, &bak);
    // rename() between two links of one inode succeeds without removing the source.
    remove_quietly(&bak_tmp);
    renamed.map_err(io_error(&bak))
}

fn copy_synced(from: &Path, to: &Path) -> io::Result<()> {
    let mut target = open_private(to, PrivateOpen::CreateNew)?;
    io::copy(&mut open_read_no_follow(from)?, &mut target)?;
    target.sync_all()
}

fn remove_quietly(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "could not remove a temp file");
        }
    }
}

enum Candidate<T> {
    Missing,
    Parsed { value: T, unchecked: bool },
    Corrupt(String),
}

fn read_candidate<T: DeserializeOwned>(path: &Path) -> Result<Candidate<T>, BrokerError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Candidate::Missing),
        Err(err) => return Err(io_error(path)(err)),
    };
    let (parsed, unchecked) = match check_integrity(&bytes) {
        Integrity::Intact(original) => (serde_json::from_slice(&original), false),
        Integrity::Unchecked(all) => (serde_json::from_slice(all), true),
        Integrity::Mismatch => {
            return Ok(Candidate::Corrupt(
                "checksum mismatch: the file changed after it was written".to_owned(),
            ));
        }
    };
    Ok(match parsed {
        Ok(value) => Candidate::Parsed { value, unchecked },
        Err(err) => Candidate::Corrupt(err.to_string()),
    })
}

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// Renames a corrupt file to `<name>.corrupt-<unix_ms>[-n]`.
fn quarantine(path: &Path, reason: &str) -> Result<PathBuf, BrokerError> {
    let base = format!("{}.corrupt-{}", path.display(), unix_ms());
    let mut target = PathBuf::from(&base);
    let mut n = 1u32;
    while fs::symlink_metadata(&target).is_ok() {
        target = PathBuf::from(format!("{base}-{n}"));
        n += 1;
    }
    fs::rename(path, &target).map_err(|err| BrokerError::Corrupt {
        path: path.to_owned(),
        reason: format!("{reason}; could not be moved aside: {err}"),
    })?;
    tracing::warn!(
        path = %path.display(),
        quarantined_to = %target.display(),
        reason,
        "corrupt state file quarantined"
    );
    Ok(target)
}

/// Loads `path`, falling back to `<path>.bak`; corrupt files are quarantined.
///
/// # Errors
/// [`BrokerError::Io`] when a file exists but cannot be read (permissions, I/O), or
/// [`BrokerError::Corrupt`] when a corrupt file cannot be moved aside.
pub fn load_json<T: DeserializeOwned>(path: &Path) -> Result<Loaded<T>, BrokerError> {
    load_with(path, quarantine)
}

/// [`load_json`] without touching anything: a corrupt copy is listed in
/// [`Loaded::quarantined`] under its own path and left where it is (for `doctor`, which must
/// not change the workspace it examines).
///
/// # Errors
/// [`BrokerError::Io`] when a file exists but cannot be read.
pub fn inspect_json<T: DeserializeOwned>(path: &Path) -> Result<Loaded<T>, BrokerError> {
    load_with(path, |candidate, reason| {
        tracing::debug!(path = %candidate.display(), reason, "corrupt state file (left in place)");
        Ok(candidate.to_path_buf())
    })
}

/// Main, then `.bak`; `on_corrupt` deals with a corrupt copy and says where it now is.
fn load_with<T: DeserializeOwned>(
    path: &Path,
    mut on_corrupt: impl FnMut(&Path, &str) -> Result<PathBuf, BrokerError>,
) -> Result<Loaded<T>, BrokerError> {
    let mut quarantined = Vec::new();
    for (candidate, source) in [
        (path.to_owned(), LoadSource::Main),
        (backup_path(path), LoadSource::Backup),
    ] {
        match read_candidate::<T>(&candidate)? {
            Candidate::Missing => {}
            Candidate::Parsed { value, unchecked } => {
                if source == LoadSource::Backup {
                    tracing::warn!(path = %candidate.display(), "state loaded from the backup file");
                }
                if unchecked {
                    tracing::warn!(path = %candidate.display(), "state file has no checksum (written by an older build); read as it is");
                }
                return Ok(Loaded {
                    value: Some(value),
                    source,
                    quarantined,
                    unchecked,
                });
            }
            Candidate::Corrupt(reason) => quarantined.push(on_corrupt(&candidate, &reason)?),
        }
    }
    Ok(Loaded {
        value: None,
        source: LoadSource::Missing,
        quarantined,
        unchecked: false,
    })
}
