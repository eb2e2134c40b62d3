//! Storage behind one trait, so that the service never sees SQL: SQLite now, PostgreSQL for
//! several replicas later. Every method is a boxed future so that `Arc<dyn Store>` works without
//! extra crates; implementations keep blocking I/O off the async runtime themselves.

mod fault;
pub mod postgres;
mod rules;
pub mod sqlite;
mod stored_policy;

use futures_util::future::BoxFuture;

pub use self::fault::{PROBE_EVERY, RETRY_AFTER_SECS, WriteFault, WriteHealth};
/// The body of every notice, the store's own and the service's (docs/api.md, Notifications).
pub use self::rules::{key_data, notice, notice_of};

use crate::credential::Digest;
use crate::policy::{Policy, RateLimit, Scope};
use crate::wire::{AuditAction, AuditEvent, KeyState, Role, WebhookData, WebhookEventType};

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
    /// The process of the console whose embedded service made it; `None` for every token a
    /// person made (docs/console.md, Who did it).
    pub console_pid: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    pub digest: Digest,
    pub masked: String,
    pub created_at: UnixTime,
    /// Set for a console's own token: such tokens may share a name with each other.
    pub console_pid: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRecord {
    pub id: String,
    pub name: String,
    pub description: String,
    pub key_count: u32,
    pub created_at: UnixTime,
}

/// A service with how many of its keys need attention at one moment (docs/api.md, Service:
/// `attention`), read in one query with the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSummary {
    pub service: ServiceRecord,
    pub attention: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: String,
    pub service_id: String,
    pub masked: String,
    pub name: Option<String>,
    pub created_at: UnixTime,
    pub created_by: String,
    pub enabled: bool,
    /// When it stops verifying; for a rotated key, the end of its grace.
    pub expires_at: Option<UnixTime>,
    pub last_used_at: Option<UnixTime>,
    /// The successor, once rotated.
    pub replaced_by: Option<String>,
    /// What the key may do (docs/api.md, Keys that carry their own policy).
    pub policy: Policy,
    /// Set once the key is reported leaked, never cleared (docs/api.md, Leaked keys).
    pub leak: Option<LeakRecord>,
}

/// A leak report as stored (docs/api.md, Leaked keys): the latest report replaces an earlier one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeakRecord {
    pub reported_at: UnixTime,
    /// `github`, or the name of the admin token that reported it.
    pub by: String,
    /// Where it was found; `None` when the report gave none or an empty one.
    pub url: Option<String>,
    /// GitHub's `source`; `None` for an admin's report.
    pub source: Option<String>,
}

/// What is kept of a deleted or retired key for 400 days, so that a leak report of it is still
/// known (`true_positive`) with nothing to do: its digest, service and id, never a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tombstone {
    pub service_id: String,
    pub key_id: String,
    /// When the key was deleted or retired (unix seconds).
    pub gone_at: UnixTime,
}

/// How long a tombstone is kept: 400 days, in seconds (docs/api.md, Leaked keys).
pub const TOMBSTONE_KEEP_SECS: UnixTime = 400 * 86_400;

/// How long a sent notice's dedup key stays taken: longer than any rule it enforces (an
/// `api_key.expiring` is due at most 7 days before the expiry it names; `still_called` for one
/// UTC day), so a notice is never sent twice (docs/api.md, Notifications).
pub const NOTICE_DEDUP_KEEP_SECS: UnixTime = 8 * 86_400;

/// One reported key of a leak report: its digest and what the report says.
#[derive(Clone, Debug)]
pub struct LeakReport {
    pub digest: Digest,
    pub leak: LeakRecord,
}

/// What a leak report did to one key (docs/api.md, Leaked keys), in the order of the reports.
#[derive(Clone, Debug)]
pub enum LeakOutcome {
    /// No key has this digest: its tombstone if it was deleted or retired within 400 days.
    Gone(Option<Tombstone>),
    /// Already reported and not active: nothing written. The key as it is.
    Unchanged(FoundKey),
    /// Was active (or leaked before and enabled again): disabled now, `leak` set, with its
    /// `api_key.leak` event and one `api_key.leaked` notice. The key afterwards.
    Disabled(FoundKey),
    /// Was rotating: retired at once (`api_key.leak`, then `api_key.retire`, a tombstone, one
    /// `api_key.leaked` notice); its successor untouched. The key as it was, `leak` set and its
    /// grace ended at the report (`expires_at`).
    Retired(FoundKey),
    /// Was disabled or expired and not yet reported: `leak` set, state kept, with its event and
    /// one notice. The key afterwards.
    Marked(FoundKey),
}

impl LeakOutcome {
    /// The key concerned, when it still existed at the report.
    pub fn key(&self) -> Option<&FoundKey> {
        match self {
            LeakOutcome::Gone(_) => None,
            LeakOutcome::Unchanged(k)
            | LeakOutcome::Disabled(k)
            | LeakOutcome::Retired(k)
            | LeakOutcome::Marked(k) => Some(k),
        }
    }
}

/// A webhook event waiting in the store's outbox (docs/api.md, Notifications). The store writes
/// `api_key.leaked` and `api_key.retired` in the transaction of what they tell; the service adds
/// `api_key.expiring` and `api_key.disabled_still_called` with [`Store::add_notice`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The event's id (`msg_…`): `webhook-id` on every attempt.
    pub id: String,
    pub event_type: WebhookEventType,
    /// The JSON body, exactly as sent: a [`crate::wire::WebhookEvent`], never a secret.
    pub body: String,
    pub created_at: UnixTime,
}

/// One notice to one URL, claimed for delivery by this replica until `claimed_until`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub notice: Notice,
    pub url: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// What became of one delivery attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryResult {
    /// A 2xx: done, removed from the outbox.
    Delivered,
    /// Try again at this time (unix seconds).
    RetryAt(UnixTime),
    /// The schedule ran out: removed from the outbox.
    Dropped,
}

impl KeyRecord {
    /// The state at `now` (docs/api.md, Key lifecycle): rotated beats disabled beats expired.
    pub fn state(&self, now: UnixTime) -> KeyState {
        if self.replaced_by.is_some() {
            KeyState::Rotating
        } else if !self.enabled {
            KeyState::Disabled
        } else if self.expires_at.is_some_and(|e| now >= e) {
            KeyState::Expired
        } else {
            KeyState::Active
        }
    }

    /// True for a rotated key that no longer verifies at `now` (its grace ended, or it was
    /// disabled during it): the API shows it as retired, as good as deleted, even before the
    /// next retirement pass removes it.
    pub fn rotated_out(&self, now: UnixTime) -> bool {
        self.replaced_by.is_some() && self.valid_until() <= now
    }

    /// The first second at which it no longer verifies: `i64::MIN` when disabled,
    /// `i64::MAX` when it never expires.
    pub fn valid_until(&self) -> UnixTime {
        valid_until(self.enabled, self.expires_at)
    }
}

/// See [`KeyRecord::valid_until`].
pub fn valid_until(enabled: bool, expires_at: Option<UnixTime>) -> UnixTime {
    match (enabled, expires_at) {
        (false, _) => UnixTime::MIN,
        (true, None) => UnixTime::MAX,
        (true, Some(e)) => e,
    }
}

#[derive(Clone, Debug)]
pub struct NewKey {
    pub id: String,
    pub service_id: String,
    pub digest: Digest,
    pub masked: String,
    pub name: Option<String>,
    pub created_at: UnixTime,
    /// The name of the admin token issuing it.
    pub created_by: String,
    pub expires_at: Option<UnixTime>,
    pub policy: Policy,
}

/// What the verify index is loaded from.
#[derive(Clone, Debug)]
pub struct KeyDigest {
    pub digest: Digest,
    pub service_id: String,
    pub key_id: String,
    pub last_used_at: Option<UnixTime>,
    /// See [`KeyRecord::valid_until`].
    pub valid_until: UnixTime,
    /// What the verify path checks besides validity.
    pub policy: Policy,
}

/// A successful verification, as the background writer records it once a minute per key:
/// `last_used_at` and `last_used_from` (docs/api.md, Key lifecycle; Usage).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyUse {
    pub key_id: String,
    pub at: UnixTime,
    pub from: std::net::IpAddr,
}

/// Verifications of one key in one hour, counted in memory and not yet written (docs/api.md, Usage;
/// Usage by reason, scope and network).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageCount {
    pub key_id: String,
    /// Start of the hour (unix seconds, a multiple of 3600).
    pub hour: UnixTime,
    /// Start of its UTC day (unix seconds, a multiple of 86400).
    pub day: UnixTime,
    pub ok: u64,
    pub refused: u64,
    /// The valid key outside its scopes or allowed networks (403).
    pub denied: u64,
    /// The valid key over its rate limit (429).
    pub limited: u64,
    /// Successful calls by the scope they asked for (`query`, `ingest`, `manage`, `none`);
    /// only scopes with calls.
    pub scopes: Vec<(String, u64)>,
    /// Successful calls by client network (/24 or /64).
    pub networks: Vec<NetworkCount>,
}

/// Successful calls of one key from one client network (docs/api.md, Usage by reason, scope
/// and network).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkCount {
    /// Canonical, `10.0.4.0/24` or `2001:db8:1:2::/64`.
    pub network: String,
    pub calls: u64,
    /// The last of those calls (unix seconds).
    pub last_seen: UnixTime,
}

/// One stored bucket of a key's usage: verifications from `start` for an hour or a day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsageBucket {
    pub start: UnixTime,
    pub ok: u64,
    pub refused: u64,
    pub denied: u64,
    pub limited: u64,
}

/// What the store holds of one key's usage; `digest` finds its unwritten counts in the verify
/// index and never leaves the service.
#[derive(Clone, Debug)]
pub struct KeyUsage {
    pub digest: Digest,
    pub last_used_at: Option<UnixTime>,
    pub last_used_from: Option<String>,
    /// Stored hourly buckets, oldest first (only those with a row).
    pub hours: Vec<UsageBucket>,
    /// Stored daily buckets, oldest first (only those with a row).
    pub days: Vec<UsageBucket>,
    /// Successful calls by scope in the days from `days_from`, summed; only scopes with calls.
    pub scopes: Vec<(String, u64)>,
    /// Successful calls by network in the days from `days_from`, summed, with the last seen;
    /// every network with calls, in no particular order.
    pub networks: Vec<NetworkCount>,
    /// Since when denied and limited calls, scopes and networks are recorded for this key: its
    /// creation, or when the store began recording them if the key is older.
    pub recorded_since: UnixTime,
}

/// Since when a key's usage by reason, scope and network is recorded: its creation, or, for a key
/// older than the schema that records them, the time that schema was applied (`applied`, as
/// stored: unix seconds in text).
pub fn recorded_since(created_at: UnixTime, applied: Option<&str>) -> UnixTime {
    let applied = applied.and_then(|s| s.trim().parse::<UnixTime>().ok());
    applied.map_or(created_at, |a| a.max(created_at))
}

/// What a PATCH changes; `None` leaves a field as it is (docs/api.md, Key lifecycle; Keys that
/// carry their own policy). Policy fields come checked and canonical.
#[derive(Clone, Debug, Default)]
pub struct KeyChange {
    pub name: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub expires_at: Option<Option<UnixTime>>,
    /// Non-empty, in the API's order.
    pub scopes: Option<Vec<Scope>>,
    /// `Some(None)` removes the limit.
    pub rate_limit: Option<Option<RateLimit>>,
    /// `Some(None)`: from anywhere.
    pub allowed_cidrs: Option<Option<Vec<String>>>,
}

/// The outcome of a PATCH: the key afterwards, its digest (for the verify index) and which
/// audit actions were written (none when every field already had its value).
#[derive(Clone, Debug)]
pub struct KeyUpdated {
    pub key: KeyRecord,
    pub digest: Digest,
    pub actions: Vec<AuditAction>,
}

/// The outcome of a rotation.
#[derive(Clone, Debug)]
pub struct KeyRotated {
    /// The old key afterwards (`rotating`), or as it was before it was retired at once.
    pub old: KeyRecord,
    pub old_digest: Digest,
    /// True when the grace was 0 and the old key is gone already.
    pub old_retired: bool,
    pub successor: KeyRecord,
}

/// A rotated key whose grace ended and that has been deleted (with its `api_key.retire` event).
#[derive(Clone, Debug)]
pub struct Retired {
    pub service_id: String,
    pub key_id: String,
    pub digest: Digest,
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

/// What `GET /v1/audit` asks of the whole trail (docs/api.md, Endpoints): every service, deleted
/// ones included, newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only this service's events.
    pub service_id: Option<String>,
    /// Only events of this action.
    pub action: Option<AuditAction>,
    /// Only events past this one in the page's order (older when newest first, newer when
    /// oldest first): the [`StoredEvent::id`] of the previous page's last.
    pub before: Option<i64>,
    /// At most this many events.
    pub limit: u32,
    /// Oldest first (`order=oldest`) instead of newest first.
    pub oldest_first: bool,
}

/// An audit event with its place in the trail: ids only grow, so paging by id is stable while
/// new events arrive.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub id: i64,
    pub event: AuditEvent,
}

/// A key found by its digest (`POST /v1/whois`), with the name of its service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundKey {
    pub service_name: String,
    pub key: KeyRecord,
}

/// How many keys are in each state at one moment, across all services (docs/operating.md,
/// Metrics: `ragkeys_api_keys{state}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyCounts {
    pub active: u64,
    pub disabled: u64,
    pub expired: u64,
    pub rotating: u64,
}

impl KeyCounts {
    /// Counts one key in its state.
    pub fn add(&mut self, state: KeyState) {
        match state {
            KeyState::Active => self.active += 1,
            KeyState::Disabled => self.disabled += 1,
            KeyState::Expired => self.expired += 1,
            KeyState::Rotating => self.rotating += 1,
            // Only a client reads a state it does not know; the store never makes one.
            KeyState::Unknown => {}
        }
    }
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
    /// The operation needs an active key; the message says why.
    #[error("{0}")]
    KeyNotActive(String),
    #[error("the maximum number of services is reached")]
    ServiceLimit,
    #[error("the name is already taken")]
    NameTaken,
    #[error("no such admin token")]
    TokenNotFound,
    #[error("the store is closed")]
    Closed,
    /// Another replica wrote the durable record of this Idempotency-Key while this request
    /// ran: it is rolled back (never a second key) and answered 409 `idempotency_in_progress`.
    #[error("another request with this Idempotency-Key was answered meanwhile")]
    IdempotencyTaken,
    /// The database cannot be reached now (connection refused or lost, pool timeout, the
    /// server shutting down, a call past its time bound): answered 503 `unavailable` with
    /// `Retry-After`, never 500 (docs/api.md, Several replicas). The text is for the log only.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The store cannot take writes now (disk full, read-only, I/O error): answered 503
    /// `unavailable` with `Retry-After`, never 500, and `/readyz` is not ready until a probe
    /// writes again (docs/api.md, Shutting down and starting up). The store has logged it once
    /// already; `detail` is its own words, for that log.
    #[error("the store cannot take writes ({fault}): {detail}")]
    CannotWrite { fault: WriteFault, detail: String },
    #[error("storage failure: {0}")]
    Failed(String),
}

/// A JSON value the store keeps (a retired key's notice data) that cannot be written or read
/// back: a storage failure, as a corrupt row would be.
impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Failed(format!("a stored JSON value: {e}"))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
type Fut<'a, T> = BoxFuture<'a, StoreResult<T>>;

pub trait Store: Send + Sync + 'static {
    // Admin tokens.
    fn find_token(&self, digest: Digest) -> Fut<'_, Option<TokenRecord>>;
    /// Adds a token. A person's token (no `console_pid`) whose name any token already has is
    /// `NameTaken`; a console's token may share its name with other tokens.
    fn create_token(&self, token: NewToken) -> Fut<'_, TokenRecord>;
    fn list_tokens(&self) -> Fut<'_, Vec<TokenRecord>>;
    /// The data dir's first token: adds it only if no admin token exists at all, in one
    /// transaction, so that of several processes starting together exactly one creates it.
    /// `None` when a token existed.
    fn bootstrap_token(&self, token: NewToken) -> Fut<'_, Option<TokenRecord>>;
    /// Revokes the token a person made under this name; never a console's own token.
    fn revoke_token(&self, name: String) -> Fut<'_, ()>;
    /// Revokes this token only if it is still the one listed (same id, name, mask and creation
    /// time): never a newer token that took its name or its reused id.
    fn revoke_listed_token(&self, token: TokenRecord) -> Fut<'_, ()>;

    // Services.
    fn list_services(&self) -> Fut<'_, Vec<ServiceRecord>>;
    fn get_service(&self, id: String) -> Fut<'_, Option<ServiceRecord>>;
    /// Every service as [`Store::list_services`], each with the keys needing attention at `now`
    /// counted in the same query (one aggregate, not a query per service).
    fn list_service_summaries(&self, now: UnixTime) -> Fut<'_, Vec<ServiceSummary>>;
    /// One service with the keys needing attention at `now`.
    fn get_service_summary(&self, id: String, now: UnixTime) -> Fut<'_, Option<ServiceSummary>>;
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
    /// Every key for the verify index at start: the keys in any state, and the retired ones
    /// (from their tombstones) as disabled keys.
    fn all_key_digests(&self) -> Fut<'_, Vec<KeyDigest>>;
    /// Applies a PATCH at `now` in one transaction, writing one audit event per kind of change
    /// from `audit` (its action is replaced). A field already at its value is no change.
    /// Enabling an expired key without a new future expiry is `KeyNotActive`, as is a new
    /// expiry on a rotating key (its grace is fixed). The `api_key.update` event lists every
    /// changed field in `changes`. A change that narrows the key's policy is awaited by every
    /// replica, as a disable is.
    fn update_key(
        &self,
        service_id: String,
        key_id: String,
        change: KeyChange,
        now: UnixTime,
        audit: AuditEvent,
    ) -> Fut<'_, KeyUpdated>;
    /// Rotates an active key at `now` in one transaction: inserts `successor` in the old key's
    /// slot (same name and policy, same lifetime from now if the old one had an expiry), marks the old one
    /// rotating until `now + grace_secs` (retiring it at once when 0), writes the idempotency
    /// record and the audit events. A key that is not active is `KeyNotActive`.
    fn rotate_key(
        &self,
        successor: NewKey,
        old_key_id: String,
        grace_secs: u32,
        idempotency: Option<IdempotencyRecord>,
        audit: AuditEvent,
    ) -> Fut<'_, KeyRotated>;
    /// Deletes every rotated key (of `service_id`, or of all services) whose grace has ended by
    /// `now`, each with one `api_key.retire` event by `system`; each is returned exactly once.
    fn retire_due(&self, service_id: Option<String>, now: UnixTime) -> Fut<'_, Vec<Retired>>;
    /// Keys by their state at `now` ([`KeyRecord::state`]) across all services, for the metrics
    /// scrape. The default reads every service's list (one query per service); a store that can
    /// count in one query overrides it.
    fn count_keys_by_state(&self, now: UnixTime) -> Fut<'_, KeyCounts> {
        Box::pin(async move {
            let mut counts = KeyCounts::default();
            for service in self.list_services().await? {
                let keys = match self.list_keys(service.id).await {
                    Err(StoreError::ServiceNotFound) => continue, // deleted meanwhile
                    other => other?,
                };
                for key in keys {
                    counts.add(key.state(now));
                }
            }
            Ok(counts)
        })
    }
    /// Records successful verifications: `last_used_at` and `last_used_from` (never backwards).
    fn touch_keys(&self, used: Vec<KeyUse>) -> Fut<'_, ()>;

    // Usage (docs/api.md, Usage).
    /// Adds counts to their hourly and daily buckets and the scopes and networks to their day
    /// (skipping keys deleted meanwhile), and deletes the buckets, scopes and networks of
    /// hours and days that started before `keep_hours_from` / `keep_days_from`, in one
    /// transaction.
    fn record_usage(
        &self,
        counts: Vec<UsageCount>,
        keep_hours_from: UnixTime,
        keep_days_from: UnixTime,
    ) -> Fut<'_, ()>;
    /// A key's stored usage, buckets from `hours_from` / `days_from` on, scopes and networks
    /// summed over the days from `days_from`: `None` once deleted,
    /// `ServiceNotFound` once the service is gone (read together, as for `get_key`).
    fn key_usage(
        &self,
        service_id: String,
        key_id: String,
        hours_from: UnixTime,
        days_from: UnixTime,
    ) -> Fut<'_, Option<KeyUsage>>;

    // Audit and idempotency.
    /// A failed issue or delete: its audit event, and the idempotency record if it replays.
    fn record_failure(
        &self,
        audit: AuditEvent,
        idempotency: Option<IdempotencyRecord>,
    ) -> Fut<'_, ()>;
    fn list_audit(&self, service_id: String, limit: u32) -> Fut<'_, Vec<AuditEvent>>;
    /// One page of the whole trail (every service, deleted ones included), newest first.
    fn list_audit_page(&self, query: AuditQuery) -> Fut<'_, Vec<StoredEvent>>;
    /// Writes one audit event on its own (a whois lookup, which changes nothing else).
    fn record_audit(&self, audit: AuditEvent) -> Fut<'_, ()>;
    /// The key whose digest this is, in whatever state (disabled, expired, rotating), with its
    /// service's name; `None` for an unknown or deleted key.
    fn find_key_by_digest(&self, digest: Digest) -> Fut<'_, Option<FoundKey>>;
    fn find_idempotency(&self, scope: [u8; 32]) -> Fut<'_, Option<IdempotencyRecord>>;
    fn prune_idempotency(&self, created_before: UnixTime) -> Fut<'_, ()>;

    // Leaked keys (docs/api.md, Leaked keys).
    /// Applies a batch of leak reports in one transaction, each as [`LeakOutcome`] says, and
    /// returns one outcome per report, in order. `audit` is the `api_key.leak` event to write
    /// per key changed (its key id, mask, service, `url` and `source` filled per key). A rotating
    /// key is retired at once; a retired or deleted key leaves a tombstone. A key reported twice
    /// in one batch is changed once. Every changed digest must then be followed by the verify
    /// index with the guarantee of a disable.
    fn report_leaks(
        &self,
        reports: Vec<LeakReport>,
        audit: AuditEvent,
        now: UnixTime,
    ) -> Fut<'_, Vec<LeakOutcome>>;

    // Notifications (docs/api.md, Notifications).
    /// Adds a notice unless one with this `dedup` key was added already (across replicas: `dedup`
    /// is unique in the store), e.g. `expiring:7d:key_…` or `still_called:2026-12-07:key_…`.
    /// The key stays taken after the notice is sent, until it is older than
    /// [`NOTICE_DEDUP_KEEP_SECS`] at the new notice's `created_at` (pruned here). True when added.
    fn add_notice(&self, dedup: String, notice: Notice) -> Fut<'_, bool>;
    /// Claims up to `limit` deliveries due at `now` until `now + claim_secs`, so that no other
    /// replica sends them meanwhile. Notices not yet fanned out get one delivery per URL of
    /// `urls` first (due at once); when `urls` is empty a notice is removed, or, with a dedup
    /// key, kept as sent.
    fn claim_deliveries(
        &self,
        urls: Vec<String>,
        now: UnixTime,
        claim_secs: u32,
        limit: u32,
    ) -> Fut<'_, Vec<Delivery>>;
    /// Records the result of one attempt of `notice_id` to `url`; a retry counts one attempt
    /// more and releases the claim.
    fn finish_delivery(
        &self,
        notice_id: String,
        url: String,
        result: DeliveryResult,
    ) -> Fut<'_, ()>;
    /// Deliveries not yet delivered or dropped, plus notices not yet fanned out
    /// (`ragkeys_webhook_pending`).
    fn pending_deliveries(&self) -> Fut<'_, u64>;

    // Settings of the data dir.
    fn get_meta(&self, key: &'static str) -> Fut<'_, Option<String>>;
    fn set_meta(&self, key: &'static str, value: String) -> Fut<'_, ()>;
    /// Sets `key` to `value` unless it is set already, and returns what it holds afterwards:
    /// the first writer's value, whoever that was.
    fn init_meta(&self, key: &'static str, value: String) -> Fut<'_, String>;

    // The change feed of several replicas (docs/api.md, Several replicas; docs/architecture.md, The replica protocol).
    /// True when other processes may change the keys behind this one's back (PostgreSQL): an
    /// index miss must then ask the store. SQLite's index is complete, so false there.
    fn is_shared(&self) -> bool {
        false
    }
    /// Every change with a sequence number above `after`, oldest first: (seq, the digests of
    /// the keys it concerns). Always empty on SQLite, which has one process and no feed.
    fn changes_since(&self, after: i64) -> Fut<'_, Vec<(i64, Vec<Digest>)>>;
    /// The current state of these keys, for the verify index: one entry per key that still
    /// exists (in any state) or was retired (disabled for good); a digest without an entry is a
    /// deleted key.
    fn key_digests(&self, digests: Vec<Digest>) -> Fut<'_, Vec<KeyDigest>>;
    /// The key with this digest as the verify index wants it (any state; a retired key as a
    /// disabled one), `None` when no such key exists: what an index miss asks on a shared store.
    fn live_digest(&self, digest: Digest) -> Fut<'_, Option<KeyDigest>>;
    /// What notices say of the retired key `key_id` of `service_id` (its `api_key.retired`
    /// event's `data`), kept in its tombstone; `None` when no such key was retired, or it was
    /// deleted since (with its service) or forgotten (docs/api.md, Notifications).
    fn retired_key(&self, service_id: String, key_id: String) -> Fut<'_, Option<WebhookData>>;

    /// The fault that keeps the store from taking writes now, if any ([`WriteHealth`]).
    fn write_fault(&self) -> Option<WriteFault> {
        None
    }
    /// While [`Store::write_fault`] lasts, called every [`PROBE_EVERY`]: a real write, synced,
    /// that clears the fault when it succeeds.
    fn probe_write(&self) -> Fut<'_, ()> {
        Box::pin(async { Ok(()) })
    }

    /// Finishes pending work and closes every connection; later calls fail with `Closed`.
    fn close(&self) -> Fut<'_, ()>;
}
