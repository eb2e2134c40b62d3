//! `ragkeys backup`: a consistent copy of a live SQLite store (docs/operating.md),
//! through SQLite's online backup API, while `ragkeys serve` keeps answering.
//!
//! The copy is taken in one step under one read transaction: in WAL mode that blocks no writer,
//! and a step-by-step copy would restart from scratch whenever the service commits between steps.
//! It is written to a 0600 temp file beside FILE, checked, synced, then hard-linked to FILE, which
//! fails if FILE exists: FILE is never overwritten and never seen half-written.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, ErrorCode, OpenFlags};

/// How long the copy waits for a lock the service holds (a checkpoint), as its queries do.
const BUSY_WAIT: Duration = Duration::from_secs(30);

/// Why a backup was not written; FILE is left as it was (absent, or someone else's).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} has no ragkeys store (no such file); is --data-dir right?")]
    NoStore(PathBuf),
    #[error("{0} is not a ragkeys store")]
    NotAStore(PathBuf),
    #[error("{0} exists; not overwritten (choose a new file name)")]
    Exists(PathBuf),
    #[error("no space left in {0} for the backup")]
    NoSpace(PathBuf),
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the backup failed: {0}")]
    Sqlite(String),
    #[error("the copy failed its integrity check: {0}")]
    Corrupt(String),
}

/// What was written.
#[derive(Debug, Clone, Copy)]
pub struct BackupDone {
    /// Size of FILE in bytes.
    pub bytes: u64,
}

/// The temp file, removed (with any journal SQLite left beside it) unless linked into place.
struct Temp(PathBuf);

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        for suffix in ["-journal", "-wal", "-shm"] {
            let mut side = self.0.clone().into_os_string();
            side.push(suffix);
            let _ = std::fs::remove_file(side);
        }
    }
}

fn is_no_space(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOSPC) || e.raw_os_error() == Some(libc::EDQUOT)
}

fn io(what: &'static str, path: &Path, dir: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let (path, dir) = (path.to_path_buf(), dir.to_path_buf());
    move |source| {
        if is_no_space(&source) {
            BackupError::NoSpace(dir)
        } else {
            BackupError::Io { what, path, source }
        }
    }
}

fn sqlite(dir: &Path) -> impl Fn(rusqlite::Error) -> BackupError + '_ {
    move |e| match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => BackupError::NoSpace(dir.to_path_buf()),
        _ => BackupError::Sqlite(e.to_string()),
    }
}

/// Copies the store `db` (the data dir's database, possibly in use by `ragkeys serve`) into the
/// new file `dest`, created 0600. Blocking. The pepper is not in the copy (it never is in the
/// database): a restore needs the same pepper file.
///
/// Errors: `db` missing or not a ragkeys store, `dest` existing, no space, or SQLite's failure;
/// in every case nothing is left behind at `dest`.
pub fn backup_to(db: &Path, dest: &Path) -> Result<BackupDone, BackupError> {
    if !db.is_file() {
        return Err(BackupError::NoStore(db.to_path_buf()));
    }
    if dest.symlink_metadata().is_ok() {
        return Err(BackupError::Exists(dest.to_path_buf()));
    }
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .ok_or_else(|| BackupError::Io {
            what: "write",
            path: dest.to_path_buf(),
            source: std::io::Error::other("not a file name"),
        })?
        .to_string_lossy()
        .into_owned();
    let tmp = Temp(dir.join(format!(
        ".{name}.{}.{:08x}.tmp",
        std::process::id(),
        rand::random::<u32>()
    )));
    // 0600 from the first byte: the digests and the audit trail are for the owner only.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp.0)
        .map_err(io("create a file in", &dir, &dir))?;

    // Read-write without create: a reader of a WAL database takes part in its shared memory.
    let src = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| BackupError::Sqlite(format!("cannot open {}: {e}", db.display())))?;
    src.busy_timeout(BUSY_WAIT).map_err(sqlite(&dir))?;
    let is_store: bool = src
        .query_row(
            "SELECT count(*) = 2 FROM sqlite_master \
             WHERE type = 'table' AND name IN ('api_keys', 'meta')",
            [],
            |r| r.get(0),
        )
        .map_err(|_| BackupError::NotAStore(db.to_path_buf()))?;
    if !is_store {
        return Err(BackupError::NotAStore(db.to_path_buf()));
    }

    let mut dst = Connection::open(&tmp.0).map_err(sqlite(&dir))?;
    {
        let backup = Backup::new(&src, &mut dst).map_err(sqlite(&dir))?;
        let deadline = Instant::now() + BUSY_WAIT;
        loop {
            match backup.step(-1).map_err(sqlite(&dir))? {
                StepResult::Done => break,
                StepResult::More => {}
                // A checkpoint or another writer holds a lock: wait, as the service's queries do.
                StepResult::Busy | StepResult::Locked if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {
                    return Err(BackupError::Sqlite(format!(
                        "the store stayed locked for {} s",
                        BUSY_WAIT.as_secs()
                    )));
                }
            }
        }
    }
    drop(src);
    let check: String = dst
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(sqlite(&dir))?;
    if check != "ok" {
        return Err(BackupError::Corrupt(check));
    }
    dst.close().map_err(|(_, e)| sqlite(&dir)(e))?;
    let file = File::open(&tmp.0).map_err(io("read", &tmp.0, &dir))?;
    file.sync_all().map_err(io("sync", &tmp.0, &dir))?;
    let bytes = file.metadata().map_err(io("read", &tmp.0, &dir))?.len();
    // The one step that names FILE: link(2) fails if it exists, whoever made it meanwhile.
    std::fs::hard_link(&tmp.0, dest).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            BackupError::Exists(dest.to_path_buf())
        } else {
            io("create", dest, &dir)(e)
        }
    })?;
    drop(tmp);
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(BackupDone { bytes })
}
