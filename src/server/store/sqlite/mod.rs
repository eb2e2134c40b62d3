//! The SQLite store. rusqlite, because it is synchronous and direct: no macros, no database at
//! compile time, a bundled SQLite with nothing to install; the `Store` trait leaves room for a
//! PostgreSQL driver when several replicas share one database.
//!
//! One writer connection (SQLite has one writer anyway) and a few readers, every call on
//! tokio's blocking pool so that no query ever stalls the async runtime.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

mod admin;
mod backup;
mod catalog;
mod common;
mod leaks;
mod lifecycle;
mod schema;
mod trail;
mod usage;

pub use self::backup::{BackupDone, BackupError, backup_to};
use self::schema::MigrationError;
use super::{
    AuditQuery, Delivery, DeliveryResult, FoundKey, Fut, IdempotencyRecord, KeyChange, KeyCounts,
    KeyDigest, KeyRecord, KeyRotated, KeyUpdated, KeyUsage, KeyUse, LeakOutcome, LeakReport,
    NewKey, NewToken, Notice, Retired, ServiceRecord, ServiceSummary, Store, StoreError,
    StoreResult, StoredEvent, TokenRecord, UnixTime, UsageCount, WriteFault, WriteHealth,
};
use crate::credential::Digest;
use crate::wire::{AuditEvent, WebhookData};

/// Idle reader connections kept open; more are opened under load and closed afterwards.
const READERS_KEPT: usize = 8;
/// How long a statement waits for a lock held by another process (the `tokens` command).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot set up the database {path}: {source}")]
    Migrate {
        path: PathBuf,
        source: MigrationError,
    },
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Option<Connection>>,
    readers: Mutex<Vec<Connection>>,
    closed: AtomicBool,
    /// Whether writes can be taken now: every call's fault is reported here.
    health: WriteHealth,
}

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a connection leaves nothing half-done: SQLite rolls back.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // FULL: a 201 or 204 is only sent once the change is on disk, WAL included.
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database. Blocking: call it off the runtime.
    pub fn open(path: &Path) -> Result<SqliteStore, OpenError> {
        let open_err = |source| OpenError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut writer = connect(path).map_err(open_err)?;
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(open_err(rusqlite::Error::InvalidParameterName(format!(
                "journal mode {mode} instead of WAL"
            ))));
        }
        schema::migrate(&mut writer).map_err(|source| OpenError::Migrate {
            path: path.to_path_buf(),
            source,
        })?;
        // A write now, so that a read-only directory or file is refused at start, not later.
        writer
            .execute(
                "INSERT INTO meta (key, value) VALUES ('opened_at', strftime('%s','now')) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [],
            )
            .map_err(open_err)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                writer: Mutex::new(Some(writer)),
                readers: Mutex::new(Vec::new()),
                closed: AtomicBool::new(false),
                health: WriteHealth::default(),
            }),
        })
    }

    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = lock(&inner.writer);
            let conn = guard.as_mut().ok_or(StoreError::Closed)?;
            let result = f(conn);
            noted(&inner.health, Some(conn), result)
        })
        .await
        .map_err(|e| StoreError::Failed(format!("store task failed: {e}")))?
    }

    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            if inner.closed.load(Ordering::Acquire) {
                return Err(StoreError::Closed);
            }
            let pooled = lock(&inner.readers).pop();
            let conn = match pooled {
                Some(c) => c,
                None => match connect(&inner.path) {
                    Ok(c) => c,
                    Err(e) => return noted(&inner.health, None, Err(e.into())),
                },
            };
            let result = noted(&inner.health, Some(&conn), f(&conn));
            let mut readers = lock(&inner.readers);
            if readers.len() < READERS_KEPT && !inner.closed.load(Ordering::Acquire) {
                readers.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Failed(format!("store task failed: {e}")))?
    }
}

/// Reports a fault that keeps the store from taking writes to `health`, and names it better
/// from the operating system's error where SQLite only says "disk I/O error" (a read-only
/// mount, a quota).
fn noted<T>(
    health: &WriteHealth,
    conn: Option<&Connection>,
    result: StoreResult<T>,
) -> StoreResult<T> {
    let Err(StoreError::CannotWrite { fault, detail }) = result else {
        return result;
    };
    // SQLite's own "full" and "read-only" are exact; only its I/O error needs the errno, which
    // it keeps fresh for that one.
    if fault != WriteFault::Io {
        health.failed(fault, &detail);
        return Err(StoreError::CannotWrite { fault, detail });
    }
    // SAFETY: the handle is the live connection's, and this only reads its last errno.
    let errno = conn.map_or(0, |c| unsafe {
        rusqlite::ffi::sqlite3_system_errno(c.handle())
    });
    let fault = match errno {
        libc::EROFS => WriteFault::ReadOnly,
        libc::ENOSPC | libc::EDQUOT => WriteFault::DiskFull,
        _ => fault,
    };
    let detail = if errno != 0 {
        format!("{detail} ({})", std::io::Error::from_raw_os_error(errno))
    } else {
        detail
    };
    health.failed(fault, &detail);
    Err(StoreError::CannotWrite { fault, detail })
}

impl Store for SqliteStore {
    fn find_token(&self, digest: Digest) -> Fut<'_, Option<TokenRecord>> {
        Box::pin(self.read(move |c| admin::find_token(c, &digest)))
    }

    fn create_token(&self, token: NewToken) -> Fut<'_, TokenRecord> {
        Box::pin(self.write(move |c| admin::create_token(c, &token)))
    }

    fn list_tokens(&self) -> Fut<'_, Vec<TokenRecord>> {
        Box::pin(self.read(admin::list_tokens))
    }

    fn bootstrap_token(&self, token: NewToken) -> Fut<'_, Option<TokenRecord>> {
        Box::pin(self.write(move |c| admin::bootstrap_token(c, &token)))
    }

    fn revoke_token(&self, name: String) -> Fut<'_, ()> {
        Box::pin(self.write(move |c| admin::revoke_token(c, &name)))
    }

    fn revoke_listed_token(&self, token: TokenRecord) -> Fut<'_, ()> {
        Box::pin(self.write(move |c| admin::revoke_listed_token(c, &token)))
    }

    fn list_services(&self) -> Fut<'_, Vec<ServiceRecord>> {
        Box::pin(self.read(catalog::list_services))
    }

    fn get_service(&self, id: String) -> Fut<'_, Option<ServiceRecord>> {
        Box::pin(self.read(move |c| catalog::get_service(c, &id)))
    }

    fn list_service_summaries(&self, now: UnixTime) -> Fut<'_, Vec<ServiceSummary>> {
        Box::pin(self.read(move |c| catalog::list_service_summaries(c, now)))
    }

    fn get_service_summary(&self, id: String, now: UnixTime) -> Fut<'_, Option<ServiceSummary>> {
        Box::pin(self.read(move |c| catalog::get_service_summary(c, &id, now)))
    }

    fn create_service(
        &self,
        service: ServiceRecord,
        max_services: u32,
        audit: AuditEvent,
    ) -> Fut<'_, ServiceRecord> {
        Box::pin(self.write(move |c| catalog::create_service(c, &service, max_services, &audit)))
    }

    fn seed_service(
        &self,
        once: &'static str,
        service: ServiceRecord,
        audit: AuditEvent,
    ) -> Fut<'_, bool> {
        Box::pin(self.write(move |c| catalog::seed_service(c, once, &service, &audit)))
    }

    fn delete_service(&self, id: String, audit: AuditEvent) -> Fut<'_, Vec<Digest>> {
        Box::pin(self.write(move |c| catalog::delete_service(c, &id, &audit)))
    }

    fn list_keys(&self, service_id: String) -> Fut<'_, Vec<KeyRecord>> {
        Box::pin(self.read(move |c| catalog::list_keys(c, &service_id)))
    }

    fn issue_key(
        &self,
        key: NewKey,
        key_limit: u32,
        idempotency: Option<IdempotencyRecord>,
        audit: AuditEvent,
    ) -> Fut<'_, KeyRecord> {
        Box::pin(
            self.write(move |c| {
                catalog::issue_key(c, &key, key_limit, idempotency.as_ref(), &audit)
            }),
        )
    }

    fn delete_key(&self, service_id: String, key_id: String, audit: AuditEvent) -> Fut<'_, Digest> {
        Box::pin(self.write(move |c| catalog::delete_key(c, &service_id, &key_id, &audit)))
    }

    fn get_key(&self, service_id: String, key_id: String) -> Fut<'_, Option<KeyRecord>> {
        Box::pin(self.read(move |c| catalog::get_key(c, &service_id, &key_id)))
    }

    fn all_key_digests(&self) -> Fut<'_, Vec<KeyDigest>> {
        Box::pin(self.read(catalog::all_key_digests))
    }

    fn count_keys_by_state(&self, now: UnixTime) -> Fut<'_, KeyCounts> {
        Box::pin(self.read(move |c| catalog::count_keys_by_state(c, now)))
    }

    fn update_key(
        &self,
        service_id: String,
        key_id: String,
        change: KeyChange,
        now: UnixTime,
        audit: AuditEvent,
    ) -> Fut<'_, KeyUpdated> {
        Box::pin(
            self.write(move |c| {
                lifecycle::update_key(c, &service_id, &key_id, &change, now, &audit)
            }),
        )
    }

    fn rotate_key(
        &self,
        successor: NewKey,
        old_key_id: String,
        grace_secs: u32,
        idempotency: Option<IdempotencyRecord>,
        audit: AuditEvent,
    ) -> Fut<'_, KeyRotated> {
        Box::pin(self.write(move |c| {
            lifecycle::rotate_key(
                c,
                &successor,
                &old_key_id,
                grace_secs,
                idempotency.as_ref(),
                &audit,
            )
        }))
    }

    fn retire_due(&self, service_id: Option<String>, now: UnixTime) -> Fut<'_, Vec<Retired>> {
        Box::pin(self.write(move |c| lifecycle::retire_due(c, service_id.as_deref(), now)))
    }

    fn touch_keys(&self, used: Vec<KeyUse>) -> Fut<'_, ()> {
        Box::pin(self.write(move |c| usage::touch_keys(c, &used)))
    }

    fn record_usage(
        &self,
        counts: Vec<UsageCount>,
        keep_hours_from: UnixTime,
        keep_days_from: UnixTime,
    ) -> Fut<'_, ()> {
        Box::pin(
            self.write(move |c| usage::record_usage(c, &counts, keep_hours_from, keep_days_from)),
        )
    }

    fn key_usage(
        &self,
        service_id: String,
        key_id: String,
        hours_from: UnixTime,
        days_from: UnixTime,
    ) -> Fut<'_, Option<KeyUsage>> {
        Box::pin(
            self.read(move |c| usage::key_usage(c, &service_id, &key_id, hours_from, days_from)),
        )
    }

    fn record_failure(
        &self,
        audit: AuditEvent,
        idempotency: Option<IdempotencyRecord>,
    ) -> Fut<'_, ()> {
        Box::pin(self.write(move |c| trail::record_failure(c, &audit, idempotency.as_ref())))
    }

    fn list_audit(&self, service_id: String, limit: u32) -> Fut<'_, Vec<AuditEvent>> {
        Box::pin(self.read(move |c| trail::list_audit(c, &service_id, limit)))
    }

    fn list_audit_page(&self, query: AuditQuery) -> Fut<'_, Vec<StoredEvent>> {
        Box::pin(self.read(move |c| trail::list_audit_page(c, &query)))
    }

    fn report_leaks(
        &self,
        reports: Vec<LeakReport>,
        audit: AuditEvent,
        now: UnixTime,
    ) -> Fut<'_, Vec<LeakOutcome>> {
        Box::pin(self.write(move |c| leaks::report_leaks(c, &reports, &audit, now)))
    }

    fn add_notice(&self, dedup: String, notice: Notice) -> Fut<'_, bool> {
        Box::pin(self.write(move |c| leaks::add_notice(c, &dedup, &notice)))
    }

    fn claim_deliveries(
        &self,
        urls: Vec<String>,
        now: UnixTime,
        claim_secs: u32,
        limit: u32,
    ) -> Fut<'_, Vec<Delivery>> {
        Box::pin(self.write(move |c| leaks::claim_deliveries(c, &urls, now, claim_secs, limit)))
    }

    fn finish_delivery(
        &self,
        notice_id: String,
        url: String,
        result: DeliveryResult,
    ) -> Fut<'_, ()> {
        Box::pin(self.write(move |c| leaks::finish_delivery(c, &notice_id, &url, result)))
    }

    fn pending_deliveries(&self) -> Fut<'_, u64> {
        Box::pin(self.read(leaks::pending_deliveries))
    }

    fn record_audit(&self, audit: AuditEvent) -> Fut<'_, ()> {
        Box::pin(self.write(move |c| trail::record_failure(c, &audit, None)))
    }

    fn find_key_by_digest(&self, digest: Digest) -> Fut<'_, Option<FoundKey>> {
        Box::pin(self.read(move |c| catalog::find_key_by_digest(c, &digest)))
    }

    fn find_idempotency(&self, scope: [u8; 32]) -> Fut<'_, Option<IdempotencyRecord>> {
        Box::pin(self.read(move |c| trail::find_idempotency(c, &scope)))
    }

    fn prune_idempotency(&self, created_before: UnixTime) -> Fut<'_, ()> {
        Box::pin(self.write(move |c| trail::prune_idempotency(c, created_before)))
    }

    fn get_meta(&self, key: &'static str) -> Fut<'_, Option<String>> {
        Box::pin(self.read(move |c| admin::get_meta(c, key)))
    }

    fn set_meta(&self, key: &'static str, value: String) -> Fut<'_, ()> {
        Box::pin(self.write(move |c| admin::set_meta(c, key, &value)))
    }

    fn init_meta(&self, key: &'static str, value: String) -> Fut<'_, String> {
        Box::pin(self.write(move |c| admin::init_meta(c, key, &value)))
    }

    fn changes_since(&self, _after: i64) -> Fut<'_, Vec<(i64, Vec<Digest>)>> {
        // One process owns a SQLite store: its index sees every change as it is made.
        Box::pin(async { Ok(Vec::new()) })
    }

    fn key_digests(&self, digests: Vec<Digest>) -> Fut<'_, Vec<KeyDigest>> {
        Box::pin(self.read(move |c| catalog::key_digests(c, &digests)))
    }

    fn live_digest(&self, digest: Digest) -> Fut<'_, Option<KeyDigest>> {
        Box::pin(self.read(move |c| Ok(catalog::key_digests(c, &[digest])?.into_iter().next())))
    }

    fn retired_key(&self, service_id: String, key_id: String) -> Fut<'_, Option<WebhookData>> {
        Box::pin(self.read(move |c| leaks::retired_key(c, &service_id, &key_id)))
    }

    fn write_fault(&self) -> Option<WriteFault> {
        self.inner.health.fault()
    }

    fn probe_write(&self) -> Fut<'_, ()> {
        Box::pin(async move {
            self.write(admin::probe_write).await?;
            self.inner.health.probed_ok();
            Ok(())
        })
    }

    fn close(&self) -> Fut<'_, ()> {
        let inner = self.inner.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                inner.closed.store(true, Ordering::Release);
                lock(&inner.readers).clear();
                if let Some(conn) = lock(&inner.writer).take() {
                    // Fold the WAL back into the database so that the files left behind are one.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
                    conn.close().map_err(|(_, e)| StoreError::from(e))?;
                }
                Ok(())
            })
            .await
            .map_err(|e| StoreError::Failed(format!("store task failed: {e}")))?
        })
    }
}
