//! Storage behind one trait, so that the service never sees SQL: SQLite now, PostgreSQL for
//! several replicas later. Every method is a boxed future so that `Arc<dyn Store>` works without
//! extra crates; implementations keep blocking I/O off the async runtime themselves.

pub mod sqlite;

use futures_util::future::BoxFuture;

use crate::credential::Digest;
use crate::wire::{AuditEvent, Role};

/// Unix seconds: what the store keeps for every point in time.
pub type UnixTime = i64;

/// An admin token as stored: never the token itself, only its digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub masked: String,
    pub created_at: UnixTime,
}

#[derive(Clone, Debug)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    pub digest: Digest,
    pub masked: String,
    pub created_at: UnixTime,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRecord {
    pub id: String,
    pub name: String,
    pub description: String,
    pub key_count: u32,
    pub created_at: UnixTime,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: String,
    pub service_id: String,
    pub masked: String,
    pub name: Option<String>,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}

#[derive(Clone, Debug)]
pub struct NewKey {
    pub id: String,
    pub service_id: String,
    pub digest: Digest,
    pub masked: String,
    pub name: Option<String>,
    pub created_at: UnixTime,
}

/// What the verify index is loaded from.
#[derive(Clone, Debug)]
pub struct KeyDigest {
    pub digest: Digest,
    pub service_id: String,
    pub key_id: String,
    pub last_used_at: Option<UnixTime>,
}

/// The durable half of an idempotent issue: never the plaintext, which lives only in memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// SHA-256 of (admin token, service, Idempotency-Key).
    pub scope: [u8; 32],
    /// SHA-256 of the canonical request body.
    pub request_hash: [u8; 32],
    pub key_id: Option<String>,
    pub status: u16,
    /// `ok` or the error code the request was answered with.
    pub outcome: String,
    pub created_at: UnixTime,
}

/// Outcomes the service turns into API errors, and real failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such service")]
    ServiceNotFound,
    #[error("no such API key")]
    KeyNotFound,
    #[error("the service already has its maximum number of keys")]
    KeyLimit,
    #[error("the maximum number of services is reached")]
    ServiceLimit,
    #[error("the name is already taken")]
    NameTaken,
    #[error("no such admin token")]
    TokenNotFound,
    #[error("the store is closed")]
    Closed,
    #[error("storage failure: {0}")]
    Failed(String),
}

pub type StoreResult<T> = Result<T, StoreError>;
type Fut<'a, T> = BoxFuture<'a, StoreResult<T>>;

pub trait Store: Send + Sync + 'static {
    // Admin tokens.
    fn find_token(&self, digest: Digest) -> Fut<'_, Option<TokenRecord>>;
    /// Adds a token; a name already in use is `NameTaken`.
    fn create_token(&self, token: NewToken) -> Fut<'_, TokenRecord>;
    fn list_tokens(&self) -> Fut<'_, Vec<TokenRecord>>;
    /// The data dir's first token: adds it only if no admin token exists at all, in one
    /// transaction, so that of several processes starting together exactly one creates it.
    /// `None` when a token existed.
    fn bootstrap_token(&self, token: NewToken) -> Fut<'_, Option<TokenRecord>>;
    fn revoke_token(&self, name: String) -> Fut<'_, ()>;
    /// Revokes this token only if it is still the one listed (same id, name, mask and creation
    /// time): never a newer token that took its name or its reused id.
    fn revoke_listed_token(&self, token: TokenRecord) -> Fut<'_, ()>;

    // Services.
    fn list_services(&self) -> Fut<'_, Vec<ServiceRecord>>;
    fn get_service(&self, id: String) -> Fut<'_, Option<ServiceRecord>>;
    /// Creates a service and its audit event atomically, keeping at most `max_services`.
    fn create_service(
        &self,
        service: ServiceRecord,
        max_services: u32,
        audit: AuditEvent,
    ) -> Fut<'_, ServiceRecord>;
    /// Creates `service` (with its audit event) only if the setting `once` is unset and no
    /// service exists, then sets `once`, all in one transaction: of several processes starting
    /// together on one data dir exactly one seeds it. True when this call created the service.
    fn seed_service(
        &self,
        once: &'static str,
        service: ServiceRecord,
        audit: AuditEvent,
    ) -> Fut<'_, bool>;
    /// Deletes a service with its keys and writes the audit event; returns the keys' digests.
    fn delete_service(&self, id: String, audit: AuditEvent) -> Fut<'_, Vec<Digest>>;

    // API keys.
    fn list_keys(&self, service_id: String) -> Fut<'_, Vec<KeyRecord>>;
    /// Takes a slot (never more than `key_limit`), inserts the key, its idempotency record and
    /// its audit event in one transaction.
    fn issue_key(
        &self,
        key: NewKey,
        key_limit: u32,
        idempotency: Option<IdempotencyRecord>,
        audit: AuditEvent,
    ) -> Fut<'_, KeyRecord>;
    /// Deletes a key, frees its slot and writes the audit event; returns its digest.
    fn delete_key(&self, service_id: String, key_id: String, audit: AuditEvent) -> Fut<'_, Digest>;
    /// One key of a service as it is now: `None` once deleted, `ServiceNotFound` once the
    /// service is gone (read together, so the two agree).
    fn get_key(&self, service_id: String, key_id: String) -> Fut<'_, Option<KeyRecord>>;
    fn all_key_digests(&self) -> Fut<'_, Vec<KeyDigest>>;
    /// Records successful verifications: (key id, when).
    fn touch_keys(&self, used: Vec<(String, UnixTime)>) -> Fut<'_, ()>;

    // Audit and idempotency.
    /// A failed issue or delete: its audit event, and the idempotency record if it replays.
    fn record_failure(
        &self,
        audit: AuditEvent,
        idempotency: Option<IdempotencyRecord>,
    ) -> Fut<'_, ()>;
    fn list_audit(&self, service_id: String, limit: u32) -> Fut<'_, Vec<AuditEvent>>;
    fn find_idempotency(&self, scope: [u8; 32]) -> Fut<'_, Option<IdempotencyRecord>>;
    fn prune_idempotency(&self, created_before: UnixTime) -> Fut<'_, ()>;

    // Settings of the data dir.
    fn get_meta(&self, key: &'static str) -> Fut<'_, Option<String>>;
    fn set_meta(&self, key: &'static str, value: String) -> Fut<'_, ()>;
    /// Sets `key` to `value` unless it is set already, and returns what it holds afterwards:
    /// the first writer's value, whoever that was.
    fn init_meta(&self, key: &'static str, value: String) -> Fut<'_, String>;

    /// Finishes pending work and closes every connection; later calls fail with `Closed`.
    fn close(&self) -> Fut<'_, ()>;
}
