//! The data dir: created private, holding the database and (by default) the pepper; and the
//! first admin token when there is none.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::store::sqlite::SqliteStore;
use super::store::{NewToken, Store, StoreError, TokenRecord};
use crate::credential::{self, Kind, Pepper, Secret};
use crate::wire::{Role, Timestamp};

pub const DB_FILE: &str = "ragkeys.db";
pub const PEPPER_FILE: &str = "pepper";
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
/// A digest of a fixed string under the pepper: tells a wrong pepper from a right one.
const PEPPER_CHECK: &str = "pepper_check";

/// An opened data dir.
pub struct DataDir {
    pub path: PathBuf,
    pub store: SqliteStore,
    pub pepper: Pepper,
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

/// Writes `contents` to a new file readable by its owner only, replacing any earlier one.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents)?;
    f.sync_all()
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

/// Opens the data dir: creates it (0700), the database and the pepper (0600) on first use,
/// refuses a pepper others can read or one that does not belong to this database.
pub async fn open(dir: &Path, pepper_file: Option<&Path>) -> anyhow::Result<DataDir> {
    let dir = dir.to_path_buf();
    let pepper_path = pepper_file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.join(PEPPER_FILE));
    let store = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<SqliteStore> {
            ensure_dir(&dir)?;
            let db = dir.join(DB_FILE);
            // Created 0600 here: SQLite gives its -wal and -shm files the database's mode.
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&db)
                .with_context(|| format!("cannot create the database {}", db.display()))?;
            Ok(SqliteStore::open(&db)?)
        })
        .await
        .context("setup task failed")??
    };
    let recorded = store.get_meta(PEPPER_CHECK).await.map_err(store_failure)?;
    let pepper = match (pepper_path.exists(), &recorded) {
        (true, _) => read_pepper(&pepper_path)?,
        (false, None) => {
            let pepper = Pepper::generate();
            write_private(&pepper_path, pepper.as_bytes()).with_context(|| {
                format!("cannot create the pepper file {}", pepper_path.display())
            })?;
            pepper
        }
        (false, Some(_)) => anyhow::bail!(
            "the pepper file {} is missing, but this database was set up with one; \
             restore it (or pass --pepper-file)",
            pepper_path.display()
        ),
    };
    let check = check_value(&pepper);
    match recorded {
        Some(r) if r != check => anyhow::bail!(
            "the pepper {} does not belong to the database in {}",
            pepper_path.display(),
            dir.display()
        ),
        Some(_) => {}
        None => store
            .set_meta(PEPPER_CHECK, check)
            .await
            .map_err(store_failure)?,
    }
    Ok(DataDir {
        path: dir,
        store,
        pepper,
    })
}

/// Creates an admin token and returns its plaintext (the store keeps only its digest).
pub async fn create_token(
    store: &dyn Store,
    pepper: &Pepper,
    name: &str,
    role: Role,
) -> Result<(Secret, TokenRecord), StoreError> {
    let token = credential::generate(Kind::AdminToken);
    let record = store
        .create_token(NewToken {
            name: name.to_owned(),
            role,
            digest: credential::digest(pepper, token.expose()),
            masked: credential::mask(token.expose()),
            created_at: Timestamp::now().unix(),
        })
        .await?;
    Ok((token, record))
}

/// With no admin token at all, creates the manager token `admin` into `<data-dir>/admin.token`.
pub async fn bootstrap_admin(data: &DataDir) -> anyhow::Result<Option<PathBuf>> {
    if !data
        .store
        .list_tokens()
        .await
        .map_err(store_failure)?
        .is_empty()
    {
        return Ok(None);
    }
    let path = data.path.join(ADMIN_TOKEN_FILE);
    let (token, _) = create_token(&data.store, &data.pepper, "admin", Role::Manager)
        .await
        .map_err(store_failure)?;
    let mut contents = zeroize::Zeroizing::new(format!("{}\n", token.expose()).into_bytes());
    let written = write_private(&path, &contents);
    zeroize::Zeroize::zeroize(&mut *contents);
    if let Err(e) = written {
        // Nobody could ever use that token: take it back.
        let _ = data.store.revoke_token("admin".into()).await;
        return Err(anyhow::anyhow!(
            "cannot write the first admin token to {}: {e}",
            path.display()
        ));
    }
    Ok(Some(path))
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
