//! The data dir: created private, holding the database and (by default) the pepper; and the
//! first admin token when there is none.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::store::postgres::{PgStore, PgTarget};
use super::store::sqlite::SqliteStore;
use super::store::{NewToken, ServiceRecord, Store, StoreError, TokenRecord};
use crate::args::StoreArgs;
use crate::credential::{self, Kind, Pepper, Secret};
use crate::wire::{AuditAction, AuditEvent, Role, Timestamp};

pub const DB_FILE: &str = "ragkeys.db";
pub const PEPPER_FILE: &str = "pepper";
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
/// Locked by whoever opens the data dir (see [`open`]); empty, kept.
pub const LOCK_FILE: &str = "ragkeys.lock";
/// How long opening waits for another process that holds the data dir lock.
const LOCK_WAIT: Duration = Duration::from_secs(30);
/// A digest of a fixed string under the pepper: tells a wrong pepper from a right one.
const PEPPER_CHECK: &str = "pepper_check";

/// An opened data dir: its store (SQLite in it, or the PostgreSQL database of `--database`)
/// and the pepper checked against that store.
pub struct DataDir {
    /// Where `admin.token` goes (and, with SQLite, the database and the default pepper).
    pub path: PathBuf,
    pub store: Arc<dyn Store>,
    pub pepper: Pepper,
    /// The same store when it is PostgreSQL: the replica protocol needs its pool.
    pub postgres: Option<PgStore>,
}

fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the data dir {}", dir.display()))?;
    if !dir.is_dir() {
        anyhow::bail!("the data dir {} is not a directory", dir.display());
    }
    Ok(())
}

/// Writes `contents` to `path` readable by its owner only (0600), replacing any earlier file
/// at once: the bytes go to a temp file beside it that is then renamed over `path`, so that a
/// reader never sees a partial file.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = write_temp(path, contents)?;
    let renamed = std::fs::rename(&tmp, path);
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    renamed?;
    sync_parent(path)
}

/// Creates `path` (0600) holding `contents` unless it exists; true if this call created it.
/// Complete or absent, never partial: the bytes are written and synced to a temp file first,
/// then hard-linked to `path`, which fails if another process got there first.
fn create_private(path: &Path, contents: &[u8]) -> std::io::Result<bool> {
    let tmp = write_temp(path, contents)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => sync_parent(path).map(|()| true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(_) => {
            // A file system without hard links: an exclusive create, still never a replace
            // (a reader could then see a partial file, but the data dir lock keeps ours out).
            let mut f = match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
                Err(e) => return Err(e),
            };
            f.write_all(contents)?;
            f.sync_all()?;
            Ok(true)
        }
    }
}

/// A new 0600 file beside `path`, named for this process and a random tag, holding `contents`.
fn write_temp(path: &Path, contents: &[u8]) -> std::io::Result<PathBuf> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tag: u64 = rand::random();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}-{tag:016x}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(contents)?;
            f.sync_all()
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(tmp)
}

/// Makes a new name in a directory durable (the file's own data is synced already).
fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

fn read_pepper(path: &Path) -> anyhow::Result<Pepper> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read the pepper file {}", path.display()))?;
    if !meta.is_file() {
        anyhow::bail!("the pepper file {} is not a regular file", path.display());
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        anyhow::bail!(
            "the pepper file {} is readable by group or others (mode {mode:04o}); \
             refusing to start. Fix it with: chmod 600 {}",
            path.display(),
            path.display()
        );
    }
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the pepper file {}", path.display()))?;
    Pepper::from_bytes(bytes).with_context(|| {
        format!(
            "the pepper file {} is shorter than {} bytes",
            path.display(),
            Pepper::LEN
        )
    })
}

fn check_value(pepper: &Pepper) -> String {
    credential::digest(pepper, "ragkeys pepper check")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn store_failure(e: StoreError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Held (an exclusive `flock`) by the process that opens the data dir, from creating the
/// database to recording the pepper's check value: whatever mix of `serve`, `tokens` and
/// consoles starts together on a fresh data dir, one sets it up and the others use its work.
struct DirLock {
    _file: std::fs::File,
}

fn lock_dir(dir: &Path) -> anyhow::Result<DirLock> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    let deadline = Instant::now() + LOCK_WAIT;
    let mut pause = Duration::from_millis(1);
    loop {
        // SAFETY: flock on a descriptor this function owns; the lock goes with the descriptor.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r == 0 {
            return Ok(DirLock { _file: file });
        }
        let e = std::io::Error::last_os_error();
        if !matches!(
            e.raw_os_error(),
            Some(libc::EWOULDBLOCK) | Some(libc::EINTR)
        ) {
            anyhow::bail!("cannot lock {}: {e}", path.display());
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "another ragkeys process has held {} for {} s while opening the data dir; \
                 is one stuck?",
                path.display(),
                LOCK_WAIT.as_secs()
            );
        }
        // Polled rather than blocking, so that a stuck holder ends in an error, not a hang.
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Creates the data dir (0700) and the database, migrated, under the data dir lock.
fn open_store(dir: &Path) -> anyhow::Result<(SqliteStore, DirLock)> {
    ensure_dir(dir)?;
    let lock = lock_dir(dir)?;
    let db = dir.join(DB_FILE);
    // Created 0600 here: SQLite gives its -wal and -shm files the database's mode. Only a new
    // file is opened: closing any descriptor of a database file drops every POSIX lock this
    // process holds on it, so opening an existing one beside a live connection (a second
    // store in this process) would let other processes write under it and corrupt it.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&db)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context(format!("cannot create the database {}", db.display())));
        }
    }
    Ok((SqliteStore::open(&db)?, lock))
}

/// Opens the data dir: creates it (0700), the database and the pepper (0600) on first use,
/// refuses a pepper others can read or one that does not belong to this database.
///
/// Safe to run from many processes at once on a fresh data dir: they take turns on
/// `<data-dir>/ragkeys.lock`, the pepper is created complete or not at all (never replaced),
/// and the check value recorded is the first one written, so every process ends up with the
/// same pepper or a clear error.
pub async fn open(dir: &Path, pepper_file: Option<&Path>) -> anyhow::Result<DataDir> {
    let dir = dir.to_path_buf();
    let pepper_path = pepper_file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.join(PEPPER_FILE));
    let (store, lock) = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || open_store(&dir))
            .await
            .context("setup task failed")??
    };
    let place = format!("the database in {}", dir.display());
    let pepper = settle_pepper(&store, &pepper_path, &place).await;
    drop(lock);
    Ok(DataDir {
        path: dir,
        store: Arc::new(store),
        pepper: pepper?,
        postgres: None,
    })
}

/// How long `serve` keeps trying to reach a PostgreSQL database that is not up yet.
pub const SERVE_DB_WAIT: Duration = Duration::from_secs(30);
/// How long `ragkeys tokens` keeps trying: a person is waiting.
pub const TOKENS_DB_WAIT: Duration = Duration::from_secs(10);

/// Opens the store `args` name: SQLite in `dir` without `--database` (exactly [`open`]), else
/// the PostgreSQL database (migrated, retrying for `--database-wait` or else `wait` while it is
/// unreachable) with the
/// pepper of `--pepper-file`, which is then required (docs/api.md, Several replicas): created 0600
/// by the first process that needs it, refused when it is not the one the database was set
/// up with (its check value).
pub async fn open_with(dir: &Path, args: &StoreArgs, wait: Duration) -> anyhow::Result<DataDir> {
    let Some(url) = &args.database else {
        if args.database_ca.is_some()
            || args.database_wait.is_some()
            || args.database_listen.is_some()
        {
            anyhow::bail!("--database-ca, --database-wait and --database-listen need --database");
        }
        return open(dir, args.pepper_file.as_deref()).await;
    };
    url.check().map_err(|e| anyhow::anyhow!(e))?;
    if let Some(listen) = &args.database_listen {
        listen
            .check()
            .map_err(|e| anyhow::anyhow!("--database-listen: {e}"))?;
    }
    let Some(pepper_path) = &args.pepper_file else {
        anyhow::bail!(
            "--pepper-file is required with --database: every replica must hash keys with the \
             same pepper (the first one creates the file; copy it to the other hosts)"
        );
    };
    let store = PgStore::open(PgTarget {
        url,
        ca: args.database_ca.as_deref(),
        wait: args.database_wait.map(Duration::from_secs).unwrap_or(wait),
        listen: args.database_listen.as_ref(),
    })
    .await?;
    let place = format!("the database {}", url.redacted());
    let pepper = match settle_pepper(&store, pepper_path, &place).await {
        Ok(p) => p,
        Err(e) => {
            let _ = store.close().await;
            return Err(e);
        }
    };
    Ok(DataDir {
        path: dir.to_path_buf(),
        store: Arc::new(store.clone()),
        pepper,
        postgres: Some(store),
    })
}

/// The pepper of `store`: creates `pepper_path` (0600, never replacing one) when the store has
/// no check value yet, records the first check value written (whoever wrote it), and refuses
/// a pepper whose check value differs. `place` names the store in errors.
async fn settle_pepper(
    store: &dyn Store,
    pepper_path: &Path,
    place: &str,
) -> anyhow::Result<Pepper> {
    let recorded = store.get_meta(PEPPER_CHECK).await.map_err(store_failure)?;
    if recorded.is_none() {
        let fresh = Pepper::generate();
        // Another process (sharing --pepper-file) may have made one first: then that one counts.
        create_private(pepper_path, fresh.as_bytes())
            .with_context(|| format!("cannot create the pepper file {}", pepper_path.display()))?;
    } else if !pepper_path.exists() {
        anyhow::bail!(
            "the pepper file {} is missing, but {place} was set up with one; \
             restore it or copy it from another replica (or pass --pepper-file)",
            pepper_path.display()
        );
    }
    let pepper = read_pepper(pepper_path)?;
    let check = check_value(&pepper);
    let recorded = match recorded {
        Some(r) => r,
        None => store
            .init_meta(PEPPER_CHECK, check.clone())
            .await
            .map_err(store_failure)?,
    };
    if recorded != check {
        anyhow::bail!(
            "the pepper {} does not belong to {place}; every replica needs the pepper file \
             the database was set up with (copy it from a replica that runs)",
            pepper_path.display()
        );
    }
    Ok(pepper)
}

/// Creates an admin token and returns its plaintext (the store keeps only its digest).
pub async fn create_token(
    store: &dyn Store,
    pepper: &Pepper,
    name: &str,
    role: Role,
    console_pid: Option<u32>,
) -> Result<(Secret, TokenRecord), StoreError> {
    let token = credential::generate(Kind::AdminToken);
    let record = store
        .create_token(NewToken {
            name: name.to_owned(),
            role,
            digest: credential::digest(pepper, token.expose()),
            masked: credential::mask(token.expose()),
            created_at: Timestamp::now().unix(),
            console_pid,
        })
        .await?;
    Ok((token, record))
}

/// With no admin token at all, creates the manager token `admin` into `<data-dir>/admin.token`.
/// Of several processes starting together, exactly one creates it (the check and the insert
/// are one transaction); the others find a token and create none.
pub async fn bootstrap_admin(data: &DataDir) -> anyhow::Result<Option<PathBuf>> {
    let token = credential::generate(Kind::AdminToken);
    let created = data
        .store
        .bootstrap_token(NewToken {
            name: "admin".into(),
            role: Role::Manager,
            digest: credential::digest(&data.pepper, token.expose()),
            masked: credential::mask(token.expose()),
            created_at: Timestamp::now().unix(),
            console_pid: None,
        })
        .await
        .map_err(store_failure)?;
    let Some(record) = created else {
        return Ok(None);
    };
    // With PostgreSQL nothing else lives in the data dir: it may not exist yet.
    if let Err(e) = ensure_dir(&data.path) {
        let _ = data.store.revoke_listed_token(record).await;
        return Err(e);
    }
    let path = data.path.join(ADMIN_TOKEN_FILE);
    let mut contents = zeroize::Zeroizing::new(format!("{}\n", token.expose()).into_bytes());
    let written = write_private(&path, &contents);
    zeroize::Zeroize::zeroize(&mut *contents);
    if let Err(e) = written {
        // Nobody could ever use that token: take it back.
        let _ = data.store.revoke_listed_token(record).await;
        return Err(anyhow::anyhow!(
            "cannot write the first admin token to {}: {e}",
            path.display()
        ));
    }
    Ok(Some(path))
}

/// The setting that says the demo service was offered once on this data dir.
const DEMO_SEEDED: &str = "demo_seeded";

/// Creates the demo service `rag-demo` on the data dir's first embedded run, unless services
/// exist; exactly once per data dir, whatever starts together (one store transaction).
pub async fn seed_demo(store: &dyn Store, actor: &str) -> Result<(), StoreError> {
    if store.get_meta(DEMO_SEEDED).await?.is_some() {
        return Ok(());
    }
    let id = crate::server::handlers::new_id("svc_");
    let audit = AuditEvent {
        at: Timestamp::now(),
        actor: actor.into(),
        role: Role::Manager,
        action: AuditAction::ServiceCreate,
        service_id: id.clone(),
        key_id: None,
        masked: None,
        remote_addr: "127.0.0.1".into(),
        outcome: "ok".into(),
        changes: None,
        url: None,
        source: None,
    };
    let demo = ServiceRecord {
        id,
        name: "rag-demo".into(),
        description: "Demo retrieval service".into(),
        key_count: 0,
        created_at: Timestamp::now().unix(),
    };
    store.seed_service(DEMO_SEEDED, demo, audit).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_open_creates_private_files_and_a_wrong_pepper_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        let data = open(&dir, None).await.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(PEPPER_FILE)), 0o600);
        assert_eq!(mode(&dir.join(DB_FILE)), 0o600);
        let path = bootstrap_admin(&data).await.unwrap().unwrap();
        assert_eq!(mode(&path), 0o600);
        let token = std::fs::read_to_string(&path).unwrap();
        assert!(token.ends_with('\n'));
        assert!(credential::parse(Kind::AdminToken, token.trim()).is_ok());
        assert!(bootstrap_admin(&data).await.unwrap().is_none());
        data.store.close().await.unwrap();

        std::fs::set_permissions(
            dir.join(PEPPER_FILE),
            std::os::unix::fs::PermissionsExt::from_mode(0o640),
        )
        .unwrap();
        let err = open(&dir, None).await.err().unwrap().to_string();
        assert!(err.contains("readable by group or others"), "{err}");

        let other = tmp.path().join("other-pepper");
        write_private(&other, &[7u8; 32]).unwrap();
        let err = open(&dir, Some(&other)).await.err().unwrap().to_string();
        assert!(err.contains("does not belong"), "{err}");
    }
}
