//! The PostgreSQL store: what several `ragkeys serve` replicas share (docs/api.md, Several
//! replicas). sqlx (see Cargo.toml): one well-kept crate gives the pool, `PgListener` for the
//! change feed, libpq's URL and `sslmode` spelling, and rustls with the system roots; queries
//! are runtime strings, so nothing needs a database at compile time.
//!
//! Every call is bounded ([`CALL_BOUND`]; a pool acquire gives up after [`ACQUIRE_BOUND`]), and
//! every error that means "the database cannot be reached now" is `StoreError::Unavailable`,
//! answered 503 `unavailable` with `Retry-After`: nothing hangs and nothing is a 500 when the
//! database goes away. Files mirror `store/sqlite/`; `feed.rs` is the change feed's writing half.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

mod admin;
mod catalog;
mod common;
pub mod feed;
mod leaks;
mod lifecycle;
// The replica protocol's SQL (PGR; its logic is server/replicas/).
pub mod replica;
mod scan;
pub mod schema;
mod trail;
mod usage;

use self::schema::MigrationError;
use super::{
    AuditQuery, Delivery, DeliveryResult, FoundKey, Fut, IdempotencyRecord, KeyChange, KeyCounts,
    KeyDigest, KeyRecord, KeyRotated, KeyUpdated, KeyUsage, KeyUse, LeakOutcome, LeakReport,
    NewKey, NewToken, Notice, Retired, ServiceRecord, ServiceSummary, Store, StoreError,
    StoreResult, StoredEvent, TokenRecord, UnixTime, UsageCount, WriteFault, WriteHealth,
};
use crate::credential::Digest;
use crate::wire::{AuditEvent, Timestamp, WebhookData};

/// How long a call may wait for a pooled connection before it is `Unavailable`.
pub const ACQUIRE_BOUND: Duration = Duration::from_secs(2);
/// The longest any store call takes before it is `Unavailable` (a database host that vanished
/// without closing its sockets would otherwise hold a call until TCP gives up, minutes later).
pub const CALL_BOUND: Duration = Duration::from_secs(5);
/// The longest a transaction of ours may sit idle between its statements before the database
/// ends it (`idle_in_transaction_session_timeout`). A replica that vanishes between a
/// statement and its COMMIT (a cut network, a killed host) leaves a backend idle in its
/// transaction, holding the row locks it took; without this bound every writer of those rows
/// would wait out its own [`CALL_BOUND`] and answer 503 (docs/operating.md, PgBouncer). Our
/// transactions never pause between statements for anything but a round trip.
pub const IDLE_IN_TRANSACTION_BOUND: Duration = Duration::from_secs(2);
/// How every transaction begins: one simple-query round trip that also cancels its statements
/// server-side after [`CALL_BOUND`] and ends it when idle for [`IDLE_IN_TRANSACTION_BOUND`] (a
/// setting per transaction: a pooler in transaction mode refuses the
/// `options=-c statement_timeout=…` start-up parameter, and a session `SET` would stay on the
/// server connection for whoever gets it next).
const BEGIN: &str = "BEGIN; SET LOCAL idle_in_transaction_session_timeout = 2000; \
                     SET LOCAL statement_timeout = 5000";
/// [`BEGIN`] for a read-only transaction that sees one snapshot.
const BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; \
                          SET LOCAL idle_in_transaction_session_timeout = 2000; \
                          SET LOCAL statement_timeout = 5000";
/// Connections per replica: enough for 32 concurrent admin calls waiting on row locks.
const MAX_CONNECTIONS: u32 = 16;

/// A `postgres://` URL as libpq spells it (`sslmode=disable|prefer|require|verify-ca|
/// verify-full`, …). Its password is never shown: `Debug` and [`DatabaseUrl::redacted`] print
/// the URL without it, so that logs, `--help` and panics never carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL itself, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Takes any text as given, for clap: checked later by [`DatabaseUrl::check`], so that a
    /// bad URL's error never echoes its password (clap's would print the value).
    pub fn accept(s: &str) -> Result<DatabaseUrl, std::convert::Infallible> {
        Ok(DatabaseUrl(s.to_owned()))
    }

    /// Refuses what is not a `postgres://` URL sqlx can read, naming it without its password.
    pub fn check(&self) -> Result<(), String> {
        self.0.parse::<DatabaseUrl>().map(|_| ())
    }

    /// Whether the URL carries a password (in the authority or a `password=` parameter).
    pub fn has_password(&self) -> bool {
        redact_url(&self.0) != self.0
    }

    /// The URL with its password (in the authority or a `password=` parameter) replaced by
    /// `***`: what logs and errors show.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        if !(lower.starts_with("postgres://") || lower.starts_with("postgresql://")) {
            return Err(format!(
                "{} is not a PostgreSQL URL: expected postgres://user:password@host:port/database",
                redact_url(s)
            ));
        }
        PgConnectOptions::from_str(s).map_err(|_| {
            format!(
                "cannot read the database URL {}: expected \
                 postgres://user:password@host:port/database[?sslmode=…]",
                redact_url(s)
            )
        })?;
        Ok(DatabaseUrl(s.to_owned()))
    }
}

fn redact_url(s: &str) -> String {
    let (head, query) = match s.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (s, None),
    };
    let mut out = match head.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _)) => format!("{user}:***@{host}"),
                    None => format!("{userinfo}@{host}"),
                },
                None => authority.to_owned(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => head.to_owned(),
    };
    if let Some(q) = query {
        let params: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => p.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot use the database {url}: {reason}")]
    Config { url: String, reason: String },
    #[error("cannot reach the database {url} after trying for {waited} s: {reason}")]
    Unreachable {
        url: String,
        waited: u64,
        reason: String,
    },
    #[error("cannot set up the database {url}: {source}")]
    Migrate { url: String, source: MigrationError },
}

struct Inner {
    pool: PgPool,
    options: PgConnectOptions,
    listen_options: PgConnectOptions,
    replica_id: String,
    host: String,
    closed: AtomicBool,
    /// A write met a database that cannot take it (read-only, disk full, I/O error) and no
    /// probe has written since (docs/operating.md, Store faults).
    health: WriteHealth,
}

/// The PostgreSQL store of one process (one replica). Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

/// Where to connect and how long to keep trying at start.
pub struct PgTarget<'a> {
    pub url: &'a DatabaseUrl,
    /// Root certificates (PEM) for `sslmode=verify-ca|verify-full`; `None`: the system roots.
    pub ca: Option<&'a Path>,
    /// How long to retry while the database is not reachable yet before giving up.
    pub wait: Duration,
    /// `--database-listen`: where the change feed's LISTEN goes (default: `url`).
    pub listen: Option<&'a DatabaseUrl>,
}

/// What the start-up check of the change feed found ([`PgStore::check_feed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedCheck {
    /// A notification sent through `--database` reached the listener.
    Heard,
    /// The database is a hot standby in recovery: no LISTEN, no NOTIFY until it is promoted.
    InRecovery,
}

/// A pooler's refusal of a start-up parameter (PgBouncer: SQLSTATE 08P01 "unsupported startup
/// parameter: …"): class 08, yet a setting to fix, not a database to wait for.
fn is_refused_parameter(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.message().starts_with("unsupported startup parameter"))
}

/// True for the errors worth retrying at start: the database is not there yet (refused,
/// reset, starting up, too many connections); not a password, a database name or TLS.
fn is_unreachable(e: &sqlx::Error) -> bool {
    !is_tls_failure(e) && matches!(StoreError::from(clone_kind(e)), StoreError::Unavailable(_))
}

/// True when the TLS handshake itself failed (a certificate that does not verify, a protocol
/// the server refuses): sqlx reports it as I/O, wrapping rustls's error, but it will fail the
/// same way in 30 s, so it is a setting to fix rather than a database to wait for.
fn is_tls_failure(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Tls(_) => true,
        sqlx::Error::Io(io) => io
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()),
        _ => false,
    }
}

/// A stand-in of the same kind for classification (sqlx errors are not Clone).
fn clone_kind(e: &sqlx::Error) -> sqlx::Error {
    match e {
        sqlx::Error::Database(d) => match d.code() {
            Some(c)
                if c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03" | "53300") =>
            {
                sqlx::Error::PoolTimedOut
            }
            _ => sqlx::Error::RowNotFound,
        },
        // A TLS failure at start is a certificate or sslmode to fix, not a database to wait for.
        sqlx::Error::PoolTimedOut
        | sqlx::Error::Io(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => sqlx::Error::PoolTimedOut,
        _ => sqlx::Error::RowNotFound,
    }
}

impl PgStore {
    /// Connects and migrates (under the advisory lock), retrying with backoff (250 ms doubling
    /// to 4 s, each attempt logged without the password) while the database is unreachable,
    /// for at most `target.wait`; a wrong password, a missing database, a bad certificate or a
    /// newer schema fail at once.
    pub async fn open(target: PgTarget<'_>) -> Result<PgStore, OpenError> {
        let url = target.url.redacted();
        let config = |reason: String| OpenError::Config {
            url: url.clone(),
            reason,
        };
        let mut options = PgConnectOptions::from_str(target.url.expose())
            .map_err(|e| config(format!("{e}")))?
            .application_name("ragkeys")
            // No start-up parameter a pooler refuses: PgBouncer answers `extra_float_digits`
            // (sqlx sends 2 by default; ragkeys reads no floats) and `options` with "unsupported
            // startup parameter". statement_timeout is set per transaction ([`BEGIN`]).
            .extra_float_digits(None);
        if let Some(ca) = target.ca {
            if !ca.is_file() {
                return Err(config(format!(
                    "--database-ca {} is not a readable file",
                    ca.display()
                )));
            }
            options = options.ssl_root_cert(PathBuf::from(ca));
        }
        let listen_options = match target.listen {
            None => options.clone(),
            Some(l) => {
                let mut o = PgConnectOptions::from_str(l.expose())
                    .map_err(|e| config(format!("--database-listen: {e}")))?
                    .application_name("ragkeys-listen")
                    .extra_float_digits(None);
                if let Some(ca) = target.ca {
                    o = o.ssl_root_cert(PathBuf::from(ca));
                }
                o
            }
        };
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_BOUND)
            .idle_timeout(Duration::from_secs(60))
            .connect_lazy_with(options.clone());
        let started = Instant::now();
        let mut pause = Duration::from_millis(250);
        let mut attempt = 1u32;
        loop {
            let now = Timestamp::now().unix();
            // One plain connection first: its error says why (refused, DNS, TLS, password),
            // where the pool's would only say it timed out.
            let attempt_once = async {
                use sqlx::{ConnectOptions, Connection};
                let conn = options.connect().await.map_err(MigrationError::Sql)?;
                let _ = conn.close().await;
                schema::migrate(&pool, now).await
            };
            match tokio::time::timeout(CALL_BOUND, attempt_once).await {
                Ok(Ok(_)) => break,
                Ok(Err(MigrationError::Sql(e))) if is_refused_parameter(&e) => {
                    return Err(config(format!(
                        "{e}: a connection pooler in front of PostgreSQL refuses a start-up \
                         parameter (list it in PgBouncer's ignore_startup_parameters)"
                    )));
                }
                Ok(Err(MigrationError::Sql(e))) if !is_unreachable(&e) => {
                    return Err(config(e.to_string()));
                }
                Ok(Err(e @ MigrationError::TooNew { .. })) => {
                    return Err(OpenError::Migrate { url, source: e });
                }
                Ok(Err(e)) => {
                    let reason = e.to_string();
                    if started.elapsed() >= target.wait {
                        return Err(OpenError::Unreachable {
                            url,
                            waited: started.elapsed().as_secs(),
                            reason,
                        });
                    }
                    tracing::warn!(
                        database = %url, attempt, error = %reason,
                        "the database is not reachable yet; retrying in {} ms (giving up {} s after start)",
                        pause.as_millis(), target.wait.as_secs()
                    );
                }
                Err(_) => {
                    if started.elapsed() >= target.wait {
                        return Err(OpenError::Unreachable {
                            url,
                            waited: started.elapsed().as_secs(),
                            reason: format!("no answer within {} s", CALL_BOUND.as_secs()),
                        });
                    }
                    tracing::warn!(database = %url, attempt, "the database did not answer; retrying");
                }
            }
            tokio::time::sleep(pause.min(target.wait.saturating_sub(started.elapsed()))).await;
            pause = (pause * 2).min(Duration::from_secs(4));
            attempt += 1;
        }
        let replica_id: String = (0..16)
            .map(|_| format!("{:x}", rand::random::<u8>() & 0xf))
            .collect();
        let host = format!("{}:{}", hostname(), std::process::id());
        Ok(PgStore {
            inner: Arc::new(Inner {
                pool,
                options,
                listen_options,
                replica_id,
                host,
                closed: AtomicBool::new(false),
                health: WriteHealth::default(),
            }),
        })
    }

    /// The pool, for the replica protocol's SQL (`replica.rs`).
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The connection options (URL, TLS), for a dedicated `PgListener` connection.
    pub fn connect_options(&self) -> &PgConnectOptions {
        &self.inner.options
    }

    /// The options of `--database-listen` (default: those of `--database`), for `PgListener`.
    pub fn listen_options(&self) -> &PgConnectOptions {
        &self.inner.listen_options
    }

    /// The start-up check (docs/operating.md, PgBouncer): a NOTIFY sent through `--database`
    /// must reach a listener on `--database-listen` within [`feed::PROBE_WAIT`]; else the error
    /// says to set `--database-listen`. A database in recovery refuses LISTEN and NOTIFY: that
    /// is [`FeedCheck::InRecovery`], neither a refusal nor a pass.
    pub async fn check_feed(&self) -> Result<FeedCheck, String> {
        let in_recovery = async {
            let mut tx = common::begin(self.pool()).await?;
            let r: bool = common::qs("SELECT pg_is_in_recovery()")
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            StoreResult::Ok(r)
        };
        match tokio::time::timeout(CALL_BOUND, in_recovery).await {
            Ok(Ok(true)) => return Ok(FeedCheck::InRecovery),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => {
                return Err(format!(
                    "cannot ask the database whether it is in recovery: {e}"
                ));
            }
            Err(_) => {
                return Err(format!(
                    "no answer from the database within {} s",
                    CALL_BOUND.as_secs()
                ));
            }
        }
        let channel = format!("ragkeys_probe_{}", self.replica_id());
        let heard = tokio::time::timeout(
            CALL_BOUND + feed::PROBE_WAIT,
            feed::probe(self.pool(), self.listen_options(), &channel),
        )
        .await
        .unwrap_or(Ok(false))?;
        if heard {
            return Ok(FeedCheck::Heard);
        }
        Err(format!(
            "a NOTIFY sent through --database (host {}) did not reach the change feed's listener \
             (host {}) within {} s: --database is probably a pooler in transaction mode \
             (PgBouncer), where LISTEN does not last; set --database-listen to a URL that reaches \
             PostgreSQL directly or through a session-mode pool (docs/operating.md, PgBouncer)",
            self.inner.options.get_host(),
            self.inner.listen_options.get_host(),
            feed::PROBE_WAIT.as_secs()
        ))
    }

    /// This process's id among the replicas: random per start (the `replicas` row's key).
    pub fn replica_id(&self) -> &str {
        &self.inner.replica_id
    }

    /// `hostname:pid`, for operators reading the `replicas` table.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// Runs one store call within [`CALL_BOUND`].
    async fn bounded<T>(&self, call: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        match tokio::time::timeout(CALL_BOUND, call).await {
            Ok(Err(StoreError::CannotWrite { fault, detail })) => {
                self.inner.health.failed(fault, &detail);
                Err(StoreError::CannotWrite { fault, detail })
            }
            Ok(r) => r,
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer from the database within {} s",
                CALL_BOUND.as_secs()
            ))),
        }
    }

    fn me(&self) -> &str {
        &self.inner.replica_id
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into a buffer this function owns.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

impl Store for PgStore {
    fn find_token(&self, digest: Digest) -> Fut<'_, Option<TokenRecord>> {
        Box::pin(self.bounded(async move { admin::find_token(self.pool(), &digest).await }))
    }

    fn create_token(&self, token: NewToken) -> Fut<'_, TokenRecord> {
        Box::pin(self.bounded(async move { admin::create_token(self.pool(), &token).await }))
    }

    fn list_tokens(&self) -> Fut<'_, Vec<TokenRecord>> {
        Box::pin(self.bounded(admin::list_tokens(self.pool())))
    }

    fn bootstrap_token(&self, token: NewToken) -> Fut<'_, Option<TokenRecord>> {
        Box::pin(self.bounded(async move { admin::bootstrap_token(self.pool(), &token).await }))
    }

    fn revoke_token(&self, name: String) -> Fut<'_, ()> {
        Box::pin(self.bounded(async move { admin::revoke_token(self.pool(), &name).await }))
    }

    fn revoke_listed_token(&self, token: TokenRecord) -> Fut<'_, ()> {
        Box::pin(self.bounded(async move { admin::revoke_listed_token(self.pool(), &token).await }))
    }

    fn list_services(&self) -> Fut<'_, Vec<ServiceRecord>> {
        Box::pin(self.bounded(catalog::list_services(self.pool())))
    }

    fn list_service_summaries(&self, now: UnixTime) -> Fut<'_, Vec<ServiceSummary>> {
        Box::pin(self.bounded(catalog::list_service_summaries(self.pool(), now)))
    }

    fn get_service_summary(&self, id: String, now: UnixTime) -> Fut<'_, Option<ServiceSummary>> {
        Box::pin(
            self.bounded(async move { catalog::get_service_summary(self.pool(), &id, now).await }),
        )
    }

    fn get_service(&self, id: String) -> Fut<'_, Option<ServiceRecord>> {
        Box::pin(self.bounded(async move {
            let mut tx = common::begin(self.pool()).await?;
            let found = catalog::get_service(&mut tx, &id).await?;
            tx.commit().await?;
            Ok(found)
        }))
    }

    fn create_service(
        &self,
        service: ServiceRecord,
        max_services: u32,
        audit: AuditEvent,
    ) -> Fut<'_, ServiceRecord> {
        Box::pin(self.bounded(async move {
            catalog::create_service(self.pool(), &service, max_services, &audit).await
        }))
    }

    fn seed_service(
        &self,
        once: &'static str,
        service: ServiceRecord,
        audit: AuditEvent,
    ) -> Fut<'_, bool> {
        Box::pin(self.bounded(async move {
            catalog::seed_service(self.pool(), once, &service, &audit).await
        }))
    }

    fn delete_service(&self, id: String, audit: AuditEvent) -> Fut<'_, Vec<Digest>> {
        Box::pin(self.bounded(async move {
            catalog::delete_service(self.pool(), self.me(), &id, &audit).await
        }))
    }

    fn list_keys(&self, service_id: String) -> Fut<'_, Vec<KeyRecord>> {
        Box::pin(self.bounded(async move { catalog::list_keys(self.pool(), &service_id).await }))
    }

    fn issue_key(
        &self,
        key: NewKey,
        key_limit: u32,
        idempotency: Option<IdempotencyRecord>,
        audit: AuditEvent,
    ) -> Fut<'_, KeyRecord> {
        Box::pin(self.bounded(async move {
            catalog::issue_key(self.pool(), &key, key_limit, idempotency.as_ref(), &audit).await
        }))
    }

    fn delete_key(&self, service_id: String, key_id: String, audit: AuditEvent) -> Fut<'_, Digest> {
        Box::pin(self.bounded(async move {
            catalog::delete_key(self.pool(), self.me(), &service_id, &key_id, &audit).await
        }))
    }

    fn get_key(&self, service_id: String, key_id: String) -> Fut<'_, Option<KeyRecord>> {
        Box::pin(
            self.bounded(async move { catalog::get_key(self.pool(), &service_id, &key_id).await }),
        )
    }

    fn all_key_digests(&self) -> Fut<'_, Vec<KeyDigest>> {
        // The whole index: a large deployment may take longer than one call's bound.
        Box::pin(scan::all_key_digests(self.pool()))
    }

    fn update_key(
        &self,
        service_id: String,
        key_id: String,
        change: KeyChange,
        now: UnixTime,
        audit: AuditEvent,
    ) -> Fut<'_, KeyUpdated> {
        Box::pin(self.bounded(async move {
            lifecycle::update_key(
                self.pool(),
                self.me(),
                &service_id,
                &key_id,
                &change,
                now,
                &audit,
            )
            .await
        }))
    }

    fn rotate_key(
        &self,
        successor: NewKey,
        old_key_id: String,
        grace_secs: u32,
        idempotency: Option<IdempotencyRecord>,
        audit: AuditEvent,
    ) -> Fut<'_, KeyRotated> {
        Box::pin(self.bounded(async move {
            lifecycle::rotate_key(
                self.pool(),
                self.me(),
                &successor,
                &old_key_id,
                grace_secs,
                idempotency.as_ref(),
                &audit,
            )
            .await
        }))
    }

    fn retire_due(&self, service_id: Option<String>, now: UnixTime) -> Fut<'_, Vec<Retired>> {
        Box::pin(self.bounded(async move {
            lifecycle::retire_due(self.pool(), self.me(), service_id.as_deref(), now).await
        }))
    }

    fn count_keys_by_state(&self, now: UnixTime) -> Fut<'_, KeyCounts> {
        Box::pin(self.bounded(async move { scan::count_keys_by_state(self.pool(), now).await }))
    }

    fn touch_keys(&self, used: Vec<KeyUse>) -> Fut<'_, ()> {
        Box::pin(self.bounded(async move { usage::touch_keys(self.pool(), &used).await }))
    }

    fn record_usage(
        &self,
        counts: Vec<UsageCount>,
        keep_hours_from: UnixTime,
        keep_days_from: UnixTime,
    ) -> Fut<'_, ()> {
        Box::pin(self.bounded(async move {
            usage::record_usage(self.pool(), &counts, keep_hours_from, keep_days_from).await
        }))
    }

    fn key_usage(
        &self,
        service_id: String,
        key_id: String,
        hours_from: UnixTime,
        days_from: UnixTime,
    ) -> Fut<'_, Option<KeyUsage>> {
        Box::pin(self.bounded(async move {
            usage::key_usage(self.pool(), &service_id, &key_id, hours_from, days_from).await
        }))
    }

    fn record_failure(
        &self,
        audit: AuditEvent,
        idempotency: Option<IdempotencyRecord>,
    ) -> Fut<'_, ()> {
        Box::pin(self.bounded(async move {
            trail::record_failure(self.pool(), &audit, idempotency.as_ref()).await
        }))
    }

    fn list_audit(&self, service_id: String, limit: u32) -> Fut<'_, Vec<AuditEvent>> {
        Box::pin(
            self.bounded(async move { trail::list_audit(self.pool(), &service_id, limit).await }),
        )
    }

    fn list_audit_page(&self, query: AuditQuery) -> Fut<'_, Vec<StoredEvent>> {
        Box::pin(self.bounded(async move { trail::list_audit_page(self.pool(), &query).await }))
    }

    fn report_leaks(
        &self,
        reports: Vec<LeakReport>,
        audit: AuditEvent,
        now: UnixTime,
    ) -> Fut<'_, Vec<LeakOutcome>> {
        Box::pin(self.bounded(async move {
            leaks::report_leaks(self.pool(), self.me(), &reports, &audit, now).await
        }))
    }

    fn add_notice(&self, dedup: String, notice: Notice) -> Fut<'_, bool> {
        Box::pin(self.bounded(async move { leaks::add_notice(self.pool(), &dedup, &notice).await }))
    }

    fn claim_deliveries(
        &self,
        urls: Vec<String>,
        now: UnixTime,
        claim_secs: u32,
        limit: u32,
    ) -> Fut<'_, Vec<Delivery>> {
        Box::pin(self.bounded(async move {
            leaks::claim_deliveries(self.pool(), &urls, now, claim_secs, limit).await
        }))
    }

    fn finish_delivery(
        &self,
        notice_id: String,
        url: String,
        result: DeliveryResult,
    ) -> Fut<'_, ()> {
        Box::pin(self.bounded(async move {
            leaks::finish_delivery(self.pool(), &notice_id, &url, result).await
        }))
    }

    fn pending_deliveries(&self) -> Fut<'_, u64> {
        Box::pin(self.bounded(leaks::pending_deliveries(self.pool())))
    }

    fn record_audit(&self, audit: AuditEvent) -> Fut<'_, ()> {
        Box::pin(
            self.bounded(async move { trail::record_failure(self.pool(), &audit, None).await }),
        )
    }

    fn find_key_by_digest(&self, digest: Digest) -> Fut<'_, Option<FoundKey>> {
        Box::pin(
            self.bounded(async move { catalog::find_key_by_digest(self.pool(), &digest).await }),
        )
    }

    fn find_idempotency(&self, scope: [u8; 32]) -> Fut<'_, Option<IdempotencyRecord>> {
        Box::pin(self.bounded(async move { trail::find_idempotency(self.pool(), &scope).await }))
    }

    fn prune_idempotency(&self, created_before: UnixTime) -> Fut<'_, ()> {
        Box::pin(self.bounded(async move {
            trail::prune_idempotency(self.pool(), created_before).await?;
            // The same chore keeps the change feed short: a day of changes is plenty for a
            // replica catching up; one away longer reloads its whole index.
            feed::prune(self.pool(), created_before).await
        }))
    }

    fn get_meta(&self, key: &'static str) -> Fut<'_, Option<String>> {
        Box::pin(self.bounded(admin::get_meta(self.pool(), key)))
    }

    fn set_meta(&self, key: &'static str, value: String) -> Fut<'_, ()> {
        Box::pin(self.bounded(async move { admin::set_meta(self.pool(), key, &value).await }))
    }

    fn init_meta(&self, key: &'static str, value: String) -> Fut<'_, String> {
        Box::pin(self.bounded(async move { admin::init_meta(self.pool(), key, &value).await }))
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn changes_since(&self, after: i64) -> Fut<'_, Vec<(i64, Vec<Digest>)>> {
        Box::pin(self.bounded(feed::changes_since(self.pool(), after)))
    }

    fn key_digests(&self, digests: Vec<Digest>) -> Fut<'_, Vec<KeyDigest>> {
        Box::pin(self.bounded(async move { scan::key_digests(self.pool(), &digests).await }))
    }

    fn retired_key(&self, service_id: String, key_id: String) -> Fut<'_, Option<WebhookData>> {
        Box::pin(
            self.bounded(
                async move { leaks::retired_key(self.pool(), &service_id, &key_id).await },
            ),
        )
    }

    fn live_digest(&self, digest: Digest) -> Fut<'_, Option<KeyDigest>> {
        Box::pin(self.bounded(async move {
            Ok(scan::key_digests(self.pool(), &[digest])
                .await?
                .into_iter()
                .next())
        }))
    }

    fn write_fault(&self) -> Option<WriteFault> {
        self.inner.health.fault()
    }

    fn probe_write(&self) -> Fut<'_, ()> {
        Box::pin(async move {
            self.bounded(admin::probe_write(self.pool(), self.me()))
                .await?;
            self.inner.health.probed_ok();
            Ok(())
        })
    }

    fn close(&self) -> Fut<'_, ()> {
        Box::pin(async move {
            self.inner.closed.store(true, Ordering::Release);
            self.inner.pool.close().await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_cancelled_when_a_call_gives_up() {
        let ms = format!("statement_timeout = {}", CALL_BOUND.as_millis());
        assert!(BEGIN.ends_with(&ms) && BEGIN_READ.ends_with(&ms));
        let idle = format!(
            "SET LOCAL idle_in_transaction_session_timeout = {}; ",
            IDLE_IN_TRANSACTION_BOUND.as_millis()
        );
        assert!(BEGIN.contains(&idle) && BEGIN_READ.contains(&idle));
    }

    #[test]
    fn the_password_never_shows() {
        let u: DatabaseUrl = "postgres://app:s3cr3t@db.example:5432/keys?sslmode=verify-full"
            .parse()
            .unwrap();
        assert_eq!(
            u.redacted(),
            "postgres://app:***@db.example:5432/keys?sslmode=verify-full"
        );
        assert!(!format!("{u:?}").contains("s3cr3t"));
        let q: DatabaseUrl = "postgresql://db/keys?user=app&password=s3cr3t"
            .parse()
            .unwrap();
        assert!(!q.redacted().contains("s3cr3t"), "{}", q.redacted());
        let err = "mysql://app:s3cr3t@db/keys"
            .parse::<DatabaseUrl>()
            .unwrap_err();
        assert!(
            !err.contains("s3cr3t") && err.contains("not a PostgreSQL URL"),
            "{err}"
        );
    }

    #[test]
    fn a_failed_handshake_is_permanent_and_a_refused_connection_is_not() {
        let cert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let tls = sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, cert));
        assert!(!is_unreachable(&tls));
        let refused = sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert!(is_unreachable(&refused));
    }
}
