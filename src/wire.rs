//! The HTTP API's request, response and error types: the only language the console, the CLI and
//! the key service share. Field names and codes here are the contract of `docs/api.md`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

use crate::credential::Secret;
use crate::policy::{Policy, RateLimit, Scope};

/// A point in time on the wire: RFC 3339, UTC, whole seconds, with a `Z`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    pub fn now() -> Self {
        Timestamp::from_unix(Utc::now().timestamp())
    }

    pub fn from_unix(secs: i64) -> Self {
        Timestamp(DateTime::from_timestamp(secs, 0).unwrap_or_default())
    }

    pub fn unix(&self) -> i64 {
        self.0.timestamp()
    }
}

/// The Unix epoch: only what a default-built value holds before it is filled in.
impl Default for Timestamp {
    fn default() -> Self {
        Timestamp::from_unix(0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Secs, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| Timestamp(t.with_timezone(&Utc)))
            .map_err(serde::de::Error::custom)
    }
}

/// The role of an admin token. A viewer may make every GET; a manager everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Manager,
    /// Only in the audit trail: the service itself or a scanner acting through it (a leak report
    /// from GitHub, docs/api.md, Leaked keys). No admin token has it.
    System,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Manager => "manager",
            Role::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "manager" => Some(Role::Manager),
            "system" => Some(Role::System),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every stable machine code an error response may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    Unauthorized,
    InvalidApiKey,
    Forbidden,
    ServiceNotFound,
    ApiKeyNotFound,
    NotFound,
    ApiKeyLimitExceeded,
    ServiceLimitExceeded,
    ServiceNameTaken,
    IdempotencyInProgress,
    IdempotencySecretUnavailable,
    IdempotencyKeyReused,
    /// The operation needs an active key (docs/api.md, Key lifecycle).
    ApiKeyNotActive,
    /// `/v1/verify?scope=…` with a valid key that lacks that scope (docs/api.md, Keys that carry
    /// their own policy).
    InsufficientScope,
    /// `/v1/verify` with a valid key from a client address outside its `allowed_cidrs`.
    AddressNotAllowed,
    /// `POST /v1/leaks/github` whose signature is missing, bad, or made with a key not in the
    /// keys file (docs/api.md, Leaked keys).
    InvalidSignature,
    PayloadTooLarge,
    /// The request body did not fully arrive within 30 s (docs/api.md, Conventions).
    RequestTimeout,
    RateLimited,
    Internal,
    /// The store cannot be reached now (PostgreSQL down or cut off); retry after `Retry-After`
    /// seconds (docs/api.md, Several replicas). Never a 500.
    Unavailable,
    /// A code this client does not know yet (a newer service); kept so that it can still be shown.
    /// Never sent, so it is not part of the documented API.
    #[serde(other, skip_serializing)]
    Unknown,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InvalidApiKey => "invalid_api_key",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::ServiceNotFound => "service_not_found",
            ErrorCode::ApiKeyNotFound => "api_key_not_found",
            ErrorCode::NotFound => "not_found",
            ErrorCode::ApiKeyLimitExceeded => "api_key_limit_exceeded",
            ErrorCode::ServiceLimitExceeded => "service_limit_exceeded",
            ErrorCode::ServiceNameTaken => "service_name_taken",
            ErrorCode::IdempotencyInProgress => "idempotency_in_progress",
            ErrorCode::IdempotencySecretUnavailable => "idempotency_secret_unavailable",
            ErrorCode::IdempotencyKeyReused => "idempotency_key_reused",
            ErrorCode::ApiKeyNotActive => "api_key_not_active",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::AddressNotAllowed => "address_not_allowed",
            ErrorCode::InvalidSignature => "invalid_signature",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Unknown => "unknown",
        }
    }

    /// The HTTP status the service answers with for this code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest => 400,
            ErrorCode::Unauthorized | ErrorCode::InvalidApiKey | ErrorCode::InvalidSignature => 401,
            ErrorCode::Forbidden | ErrorCode::InsufficientScope | ErrorCode::AddressNotAllowed => {
                403
            }
            ErrorCode::ServiceNotFound | ErrorCode::ApiKeyNotFound | ErrorCode::NotFound => 404,
            ErrorCode::ApiKeyLimitExceeded
            | ErrorCode::ServiceLimitExceeded
            | ErrorCode::ServiceNameTaken
            | ErrorCode::IdempotencyInProgress
            | ErrorCode::IdempotencySecretUnavailable
            | ErrorCode::ApiKeyNotActive => 409,
            ErrorCode::IdempotencyKeyReused => 422,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::RateLimited => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal | ErrorCode::Unknown => 500,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `{"error":{"code":…,"message":…}}`: the one shape of every error.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// Who the presented admin token belongs to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub name: String,
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub description: String,
    pub key_count: u32,
    pub key_limit: u32,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// How many of its keys need attention now ([`ApiKey::needs_attention`]): what the console
    /// marks with `!` beside Keys (docs/api.md, Service). Only in answers to `GET /v1/services`
    /// and `GET /v1/services/{id}` asked with `include=attention`, so the Service object stays
    /// the six fields every other client knows; absent means unknown, never 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = u32, required = false, minimum = 0)]
    pub attention: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceList {
    pub services: Vec<Service>,
}

/// Body of `POST /v1/services`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateService {
    /// 3 to 20 characters (Unicode scalar values), unique; no control or bidi characters.
    // Literals because utoipa takes no constants here; tests/api/spec_audit.rs checks them
    // against `limits` and the service.
    #[schema(min_length = 3, max_length = 20)]
    pub name: String,
    /// Up to 50 characters; absent: empty.
    #[serde(default)]
    #[schema(max_length = 50)]
    pub description: String,
}

/// Where a key is in its life (docs/api.md, Key lifecycle): only `active` keys verify, and a
/// `rotating` one until its grace ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Also what a client assumes of a service older than the lifecycle, which sends no state.
    #[default]
    Active,
    Disabled,
    Expired,
    Rotating,
    /// A state this client does not know yet (a newer service). Never sent.
    #[serde(other, skip_serializing)]
    Unknown,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Disabled => "disabled",
            KeyState::Expired => "expired",
            KeyState::Rotating => "rotating",
            KeyState::Unknown => "unknown",
        }
    }
}

/// An issued key as listed: never the key, never its digest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub masked: String,
    /// Always present; `null` when the key has no name.
    #[schema(required = true)]
    pub name: Option<String>,
    // The lifecycle fields default when absent, so that this client still reads an older service.
    #[serde(default)]
    #[schema(required = true)]
    pub state: KeyState,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// The name of the admin token that issued it (empty for keys issued before schema 3 whose
    /// audit trail did not say).
    #[serde(default)]
    #[schema(required = true)]
    pub created_by: String,
    /// Always present; `null` for a key that never expires. For a `rotating` key: the end of
    /// its grace.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub expires_at: Option<Timestamp>,
    /// Always present; `null` until the key is first used.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub last_used_at: Option<Timestamp>,
    /// Always present; the successor's id once the key has been rotated, else `null`.
    #[serde(default)]
    #[schema(required = true)]
    pub replaced_by: Option<String>,
    /// `scopes`, `rate_limit` and `allowed_cidrs` (docs/api.md, Keys that carry their own
    /// policy); a service older than policies sends none, which reads as [`Policy::full`].
    #[serde(flatten)]
    pub policy: Policy,
    /// Always present; `null` unless the key was ever reported leaked. Never cleared: enabling
    /// the key again keeps it as the record of what happened (docs/api.md, Leaked keys).
    #[serde(default)]
    #[schema(required = true)]
    pub leak: Option<Leak>,
}

/// An expiry closer than this needs attention (docs/api.md, Service: "within 7 days").
pub const ATTENTION_EXPIRY_SECS: i64 = 7 * 86_400;

impl ApiKey {
    /// Whether the key needs someone's attention at `now` (docs/api.md, Service: `attention`):
    /// disabled, reported leaked and no longer verifying, or active with an expiry within
    /// [`ATTENTION_EXPIRY_SECS`]. A plainly expired or a rotating key does not: nothing is left
    /// to do about it. The store's count (`store::rules::attention_sql`) is checked against this
    /// by the store contract suite.
    pub fn needs_attention(&self, now: Timestamp) -> bool {
        let expires_soon = self.state == KeyState::Active
            && self
                .expires_at
                .is_some_and(|e| (0..=ATTENTION_EXPIRY_SECS).contains(&(e.unix() - now.unix())));
        self.state == KeyState::Disabled || self.leaked_and_stopped() || expires_soon
    }

    /// True for a reported key that does not verify now (disabled or expired): what the console
    /// and the CLI show as `Leaked`, and what rotates without a grace (docs/api.md, Leaked keys).
    pub fn leaked_and_stopped(&self) -> bool {
        self.leak.is_some() && matches!(self.state, KeyState::Disabled | KeyState::Expired)
    }
}

/// When, by whom and where a key was reported leaked (docs/api.md, Leaked keys).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Leak {
    #[schema(value_type = String, format = DateTime)]
    pub reported_at: Timestamp,
    /// `github` for GitHub's secret scanning, else the name of the admin token that reported it.
    pub by: String,
    /// Where it was found; `null` when the report gave none (GitHub may send an empty one).
    #[schema(required = true)]
    pub url: Option<String>,
    /// GitHub's `source` (`content`, `commit`, `issue_comment`, …); `null` for an admin's report.
    #[schema(required = true)]
    pub source: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKey>,
    pub key_limit: u32,
}

/// How many of the service's `key_limit` slots `keys` hold: every key but the old one of a
/// rotation in its grace, which holds none (docs/api.md, Key lifecycle).
pub fn slots_used(keys: &[ApiKey]) -> u32 {
    keys.iter().filter(|k| k.replaced_by.is_none()).count() as u32
}

/// Body of `POST /v1/services/{service_id}/api-keys`: `{}`, `{"name":"…"}`, `{"expires_at":"…"}`
/// or `{"lifetime_seconds":N}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueApiKey {
    /// 1 to 50 characters; absent or `null`: no name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 50)]
    pub name: Option<String>,
    /// RFC 3339, in the future, at most 366 days ahead; absent or `null` (and no
    /// `lifetime_seconds`): never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// The alternative to `expires_at`: the key expires this many seconds after the service's
    /// now (docs/api.md, Time), 60 to 31622400 (366 days). Never both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 60, maximum = 31622400)]
    pub lifetime_seconds: Option<u32>,
    /// A non-empty subset of `query`, `ingest`, `manage`; absent: all three.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1)]
    pub scopes: Option<Vec<Scope>>,
    /// Absent or `null`: no rate limit of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// 1 to 16 IPv4/IPv6 CIDRs or bare addresses; absent or `null`: from anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 16)]
    pub allowed_cidrs: Option<Vec<String>>,
}

/// Tells a field that is absent (`None`) from one set to `null` (`Some(None)`).
fn present<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Body of `PATCH /v1/services/{service_id}/api-keys/{key_id}`: any of the fields, at least one
/// (docs/api.md, Key lifecycle). `name: null` clears the name, `expires_at: null` makes the key
/// never expire; `lifetime_seconds` is the alternative to `expires_at` (docs/api.md, Time).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApiKey {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    /// 1 to 50 characters, or `null` to clear the name.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 50)]
    pub name: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Option<Timestamp>>,
    /// A new expiry this many seconds after the service's now, 60 to 31622400 (366 days);
    /// never together with `expires_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 60, maximum = 31622400)]
    pub lifetime_seconds: Option<u32>,
    /// A non-empty subset of `query`, `ingest`, `manage` (`null` is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1)]
    pub scopes: Option<Vec<Scope>>,
    /// A new rate limit, or `null` to remove it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<RateLimit>)]
    pub rate_limit: Option<Option<RateLimit>>,
    /// A new allowlist (1 to 16 CIDRs), or `null` for anywhere.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Vec<String>>, min_items = 1, max_items = 16)]
    pub allowed_cidrs: Option<Option<Vec<String>>>,
}

impl UpdateApiKey {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.enabled.is_none()
            && self.expires_at.is_none()
            && self.lifetime_seconds.is_none()
            && self.scopes.is_none()
            && self.rate_limit.is_none()
            && self.allowed_cidrs.is_none()
    }
}

/// Body of `POST /v1/services/{service_id}/api-keys/{key_id}/rotate`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateApiKey {
    /// How long the old key keeps verifying, in seconds: 0 to 604800 (7 days).
    #[schema(minimum = 0, maximum = 604800)]
    pub grace_seconds: u32,
    /// The successor's expiry (RFC 3339, in the future, at most 366 days ahead). With neither
    /// this nor `lifetime_seconds`, the successor gets the old key's lifetime counted from now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// The successor expires this many seconds after the service's now, 60 to 31622400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 60, maximum = 31622400)]
    pub lifetime_seconds: Option<u32>,
}

/// The answer to an issue: the listed fields plus the plaintext key, in this response only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IssuedKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    #[schema(value_type = String)]
    pub key: Secret,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum AuditAction {
    #[serde(rename = "service.create")]
    ServiceCreate,
    #[serde(rename = "service.delete")]
    ServiceDelete,
    #[serde(rename = "api_key.issue")]
    ApiKeyIssue,
    #[serde(rename = "api_key.delete")]
    ApiKeyDelete,
    #[serde(rename = "api_key.update")]
    ApiKeyUpdate,
    #[serde(rename = "api_key.disable")]
    ApiKeyDisable,
    #[serde(rename = "api_key.enable")]
    ApiKeyEnable,
    #[serde(rename = "api_key.rotate")]
    ApiKeyRotate,
    /// A rotated key's grace ended (actor `system`).
    #[serde(rename = "api_key.retire")]
    ApiKeyRetire,
    /// A lookup of a presented key by `POST /v1/whois`, found or not (docs/api.md, Key lifecycle).
    #[serde(rename = "api_key.whois")]
    ApiKeyWhois,
    /// A key reported leaked, by GitHub's secret scanning (actor `github`, role `system`) or by an
    /// admin; carries `url` and `source` (docs/api.md, Leaked keys).
    #[serde(rename = "api_key.leak")]
    ApiKeyLeak,
}

impl AuditAction {
    /// Every action, in the order docs/api.md lists them.
    pub const ALL: [AuditAction; 11] = [
        AuditAction::ServiceCreate,
        AuditAction::ServiceDelete,
        AuditAction::ApiKeyIssue,
        AuditAction::ApiKeyDelete,
        AuditAction::ApiKeyUpdate,
        AuditAction::ApiKeyDisable,
        AuditAction::ApiKeyEnable,
        AuditAction::ApiKeyRotate,
        AuditAction::ApiKeyRetire,
        AuditAction::ApiKeyWhois,
        AuditAction::ApiKeyLeak,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::ServiceCreate => "service.create",
            AuditAction::ServiceDelete => "service.delete",
            AuditAction::ApiKeyIssue => "api_key.issue",
            AuditAction::ApiKeyDelete => "api_key.delete",
            AuditAction::ApiKeyUpdate => "api_key.update",
            AuditAction::ApiKeyDisable => "api_key.disable",
            AuditAction::ApiKeyEnable => "api_key.enable",
            AuditAction::ApiKeyRotate => "api_key.rotate",
            AuditAction::ApiKeyRetire => "api_key.retire",
            AuditAction::ApiKeyWhois => "api_key.whois",
            AuditAction::ApiKeyLeak => "api_key.leak",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// One issue or delete, failed or not. Never a secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: String,
    pub role: Role,
    pub action: AuditAction,
    pub service_id: String,
    /// Always present; `null` for service events.
    #[schema(required = true)]
    pub key_id: Option<String>,
    #[schema(required = true)]
    pub masked: Option<String>,
    pub remote_addr: String,
    /// `ok`, or the error code the request was answered with.
    pub outcome: String,
    /// `api_key.update` only: each changed field with its old and new value
    /// (`{"scopes":{"from":["query","ingest","manage"],"to":["query"]}}`); absent on other events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<BTreeMap<String, FieldChange>>,
    /// `api_key.leak` only: where the key was found (may be `null` there); absent on other events.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub url: Option<Option<String>>,
    /// `api_key.leak` only: GitHub's `source`, `null` for an admin's report; absent on other events.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub source: Option<Option<String>>,
}

/// One field of an `api_key.update`: its value before and after, as the API shows that field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldChange {
    /// The field's value before, as the API shows the field (`null` included).
    #[schema(value_type = Value)]
    pub from: serde_json::Value,
    /// The field's value after.
    #[schema(value_type = Value)]
    pub to: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditList {
    pub events: Vec<AuditEvent>,
}

/// `GET /v1/audit`: one page of the whole trail, newest first (docs/api.md, Endpoints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// The `before` of the next (older) page; `null` on the last page. Opaque: pass it back as is.
    #[schema(required = true)]
    pub next: Option<String>,
}

/// Body of `POST /v1/whois`: the presented API key. `Debug` never shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhoisRequest {
    /// The plaintext `ragk_…` key to look up.
    #[schema(value_type = String)]
    pub key: Secret,
}

/// The answer of `POST /v1/whois`: whose key it is (never the key or its digest).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WhoisAnswer {
    pub service_id: String,
    pub service_name: String,
    pub api_key: ApiKey,
}

/// Body of `POST /v1/leaks`: a key an admin found where it should not be (docs/api.md, Leaked
/// keys). `Debug` never shows the key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeakRequest {
    /// The plaintext `ragk_…` key that leaked.
    #[schema(value_type = String)]
    pub key: Secret,
    /// Where it was found (a ticket, a log, a chat); optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The answer of `POST /v1/leaks`: the key afterwards, with its `leak` set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LeakAnswer {
    pub service_id: String,
    pub api_key: ApiKey,
}

/// One entry of a report from GitHub's secret scanning partner program, read leniently: members
/// GitHub adds later are ignored, and a missing one reads as empty (docs/api.md, Leaked keys).
/// `Debug` never shows the token.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GithubLeak {
    /// The string GitHub found: ours or anything else that matched the registered pattern.
    #[serde(default)]
    #[schema(value_type = String)]
    pub token: Secret,
    /// The token type registered with GitHub.
    #[serde(default, rename = "type")]
    pub token_type: String,
    /// Where it was found; may be empty.
    #[serde(default)]
    pub url: String,
    /// `content`, `commit`, `pull_request_description`, `issue_comment`, …
    #[serde(default)]
    pub source: String,
}

/// How GitHub should label a reported token (the partner program's feedback).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeakLabel {
    /// One of our keys: one that exists, or one deleted or retired within 400 days.
    TruePositive,
    /// Garbage, another vendor's token, or a forged key.
    FalsePositive,
}

/// One entry of the answer to `POST /v1/leaks/github`, in the order of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LeakFeedback {
    /// Lowercase hex SHA-256 of the token as sent.
    pub token_hash: String,
    /// The entry's `type`, as sent.
    pub token_type: String,
    pub label: LeakLabel,
}

/// What a webhook tells (docs/api.md, Notifications): event types name what happened, while audit
/// actions stay verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum WebhookEventType {
    #[serde(rename = "api_key.leaked")]
    ApiKeyLeaked,
    /// 7 days and 1 day before `expires_at`.
    #[serde(rename = "api_key.expiring")]
    ApiKeyExpiring,
    /// A disabled, expired or retired key presented to verify: at most once per key per UTC day.
    #[serde(rename = "api_key.disabled_still_called")]
    ApiKeyDisabledStillCalled,
    /// A rotated or leaked key left the list.
    #[serde(rename = "api_key.retired")]
    ApiKeyRetired,
}

impl WebhookEventType {
    pub const ALL: [WebhookEventType; 4] = [
        WebhookEventType::ApiKeyLeaked,
        WebhookEventType::ApiKeyExpiring,
        WebhookEventType::ApiKeyDisabledStillCalled,
        WebhookEventType::ApiKeyRetired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEventType::ApiKeyLeaked => "api_key.leaked",
            WebhookEventType::ApiKeyExpiring => "api_key.expiring",
            WebhookEventType::ApiKeyDisabledStillCalled => "api_key.disabled_still_called",
            WebhookEventType::ApiKeyRetired => "api_key.retired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// The body of every webhook: `{"type","timestamp","data"}` (docs/api.md, Notifications).
/// Never a secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookEvent {
    #[serde(rename = "type")]
    pub event_type: WebhookEventType,
    /// When it happened.
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: Timestamp,
    pub data: WebhookData,
}

/// Which key an event is about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookData {
    pub service_id: String,
    pub service_name: String,
    pub key_id: String,
    pub masked: String,
    /// `null` when the key has no name.
    #[schema(required = true)]
    pub name: Option<String>,
    /// Present when the key has an expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// Present when the key was ever reported leaked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leak: Option<Leak>,
}

/// `GET /v1/verify` with a valid key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Verified {
    pub valid: bool,
    pub service_id: String,
    pub key_id: String,
    /// The key's scopes (docs/api.md, Keys that carry their own policy).
    #[serde(default)]
    #[schema(required = true)]
    pub scopes: Vec<Scope>,
}

/// `GET /v1/services/{service_id}/api-keys/{key_id}/usage` (docs/api.md, Usage): how much a key is
/// used, at coarse granularity. Never the key or its digest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    pub key_id: String,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub last_used_at: Option<Timestamp>,
    /// The client address of the last successful verification (as recorded with
    /// `last_used_at`, at most once a minute).
    #[schema(required = true)]
    pub last_used_from: Option<String>,
    /// 24 hourly buckets, oldest first; the last is the current hour (UTC).
    pub hours: Vec<Bucket>,
    /// 30 daily buckets, oldest first; the last is the current day (UTC).
    pub days: Vec<Bucket>,
    /// Successful calls of the last 30 days by the scope they asked for (`none`: without one).
    #[serde(default)]
    #[schema(required = true)]
    pub scopes_used: BTreeMap<String, u64>,
    /// Up to 16 client networks (/24 or /64) of successful calls in 30 days, most calls first.
    #[serde(default)]
    #[schema(required = true)]
    pub networks: Vec<NetworkSeen>,
    /// True when more networks were seen than `networks` holds.
    #[serde(default)]
    #[schema(required = true)]
    pub networks_truncated: bool,
    /// Since when `denied`, `limited`, `scopes_used` and `networks` are recorded for this key;
    /// `null` only from a service older than policies.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub recorded_since: Option<Timestamp>,
}

/// A client network a key was used from (docs/api.md, Usage by reason, scope and network).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NetworkSeen {
    /// `10.0.4.0/24` or `2001:db8:1:2::/64`.
    pub network: String,
    pub calls: u64,
    #[schema(value_type = String, format = DateTime)]
    pub last_seen: Timestamp,
}

/// Verifications of one key in one hour or one UTC day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Bucket {
    /// When the hour or day starts.
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    /// Successful verifications.
    pub ok: u64,
    /// Verifications that presented this key while it was disabled, expired or retired.
    pub refused: u64,
    /// Verifications of the valid key outside its scopes or allowed networks (403).
    #[serde(default)]
    #[schema(required = true)]
    pub denied: u64,
    /// Verifications of the valid key over its rate limit (429).
    #[serde(default)]
    #[schema(required = true)]
    pub limited: u64,
}

/// Why a narrowing proposal is partial or missing (docs/api.md, Narrowing, exactly).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NarrowingReason {
    /// No successful call since recording began: nothing to propose (`proposed` is null).
    NoCallsSinceRecording,
    /// Some calls asked for no scope: the scopes stay as they are.
    CalledWithoutScope,
    /// More networks were seen than are kept: the allowlist stays as it is.
    NetworksTruncated,
    /// Recording began less than 30 days ago: the figures cover less than 30 days.
    #[serde(rename = "history_shorter_than_30d")]
    HistoryShorterThan30d,
    /// A reason this client does not know (a newer service). Never sent.
    #[serde(other, skip_serializing)]
    Unknown,
}

/// `GET …/api-keys/{key_id}/narrowing`: the key's policy, the narrowest one its use of the last
/// 30 days allows (or the candidate asked about), and what that would have refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Narrowing {
    pub current: Policy,
    /// `null` when there is nothing to propose (reason `no_calls_since_recording`).
    #[schema(required = true)]
    pub proposed: Option<Policy>,
    pub reasons: Vec<NarrowingReason>,
    /// An upper bound of the calls of the last 30 days the proposal (or candidate) would have
    /// refused; `null` when that cannot be known (see `reasons`).
    #[schema(required = true)]
    pub would_refuse_30d: Option<u64>,
}

/// A candidate policy to judge with `GET …/narrowing?scopes=…&allowed_cidrs=…`: an absent field
/// keeps the key's current value; `allowed_cidrs: Some(None)` asks about no allowlist (`any`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NarrowingCandidate {
    pub scopes: Option<Vec<Scope>>,
    pub allowed_cidrs: Option<Option<Vec<String>>>,
}

impl NarrowingCandidate {
    /// The query string (without `?`), empty for no candidate.
    pub fn query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if let Some(s) = &self.scopes {
            let names: Vec<&str> = s.iter().map(|s| s.as_str()).collect();
            q.append_pair("scopes", &names.join(","));
        }
        match &self.allowed_cidrs {
            Some(Some(c)) => {
                q.append_pair("allowed_cidrs", &c.join(","));
            }
            Some(None) => {
                q.append_pair("allowed_cidrs", "any");
            }
            None => {}
        }
        q.finish()
    }
}

/// Limits of names, shared so that the console validates as the service does.
pub mod limits {
    pub const SERVICE_NAME_MIN: usize = 3;
    pub const SERVICE_NAME_MAX: usize = 20;
    pub const SERVICE_DESCRIPTION_MAX: usize = 50;
    pub const KEY_NAME_MIN: usize = 1;
    pub const KEY_NAME_MAX: usize = 50;
    pub const MAX_SERVICES: usize = 999;
    pub const DEFAULT_KEY_LIMIT: u32 = 5;
    pub const MAX_BODY_BYTES: usize = 16 * 1024;
    pub const IDEMPOTENCY_KEY_MAX: usize = 255;
    /// How far ahead `expires_at` may be (docs/api.md, Key lifecycle): 366 days, in seconds.
    pub const MAX_EXPIRY_AHEAD_SECS: i64 = 366 * 24 * 60 * 60;
    /// `lifetime_seconds` (docs/api.md, Time): a minute to 366 days.
    pub const LIFETIME_MIN_SECS: u32 = 60;
    pub const LIFETIME_MAX_SECS: u32 = 31_622_400;
    /// The longest rotation grace: 7 days, in seconds.
    pub const MAX_GRACE_SECS: u32 = 604_800;
    /// `limit` of `GET /v1/audit`: its default and its largest value (docs/api.md, Endpoints).
    pub const AUDIT_PAGE_DEFAULT: u32 = 100;
    pub const AUDIT_PAGE_MAX: u32 = 500;
}

/// Whether a character is refused in names and descriptions: C0, C1, DEL, and bidi controls.
pub fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Checks a name or description the way the service does; the error says what is wrong.
pub fn validate_text(field: &str, value: &str, min: usize, max: usize) -> Result<(), String> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(if min == 0 {
            format!("{field} must be at most {max} characters")
        } else {
            format!("{field} must be {min} to {max} characters")
        });
    }
    if value.chars().any(is_forbidden_char) {
        return Err(format!(
            "{field} must not contain control or bidi characters"
        ));
    }
    // A required name of spaces only names nothing (docs/api.md is silent; an admin expects it refused).
    if min > 0 && value.chars().all(char::is_whitespace) {
        return Err(format!("{field} must not be blank"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_seconds_with_z() {
        let t = Timestamp::from_unix(1_795_671_470);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2026-11-26T05:37:50Z\"");
        let back: Timestamp = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn error_body_has_the_documented_shape() {
        let body = ErrorBody {
            error: ErrorDetail {
                code: ErrorCode::ApiKeyLimitExceeded,
                message: "m".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"error":{"code":"api_key_limit_exceeded","message":"m"}})
        );
        let unknown: ErrorBody =
            serde_json::from_str(r#"{"error":{"code":"brand_new","message":"x"}}"#).unwrap();
        assert_eq!(unknown.error.code, ErrorCode::Unknown);
    }

    #[test]
    fn issued_key_is_flat_and_debug_redacts() {
        let k = IssuedKey {
            api_key: ApiKey {
                id: "key_1".into(),
                masked: "ragk_AbCd********wXyZ".into(),
                name: None,
                state: KeyState::Active,
                created_at: Timestamp::from_unix(0),
                created_by: "admin".into(),
                expires_at: None,
                last_used_at: None,
                replaced_by: None,
                policy: Policy::full(),
                leak: None,
            },
            key: Secret::new("ragk_secret".into()),
        };
        let v = serde_json::to_value(&k).unwrap();
        assert_eq!(v["key"], "ragk_secret");
        assert_eq!(v["id"], "key_1");
        assert_eq!(
            v["scopes"],
            serde_json::json!(["query", "ingest", "manage"])
        );
        assert_eq!(v["rate_limit"], serde_json::Value::Null);
        assert_eq!(v["allowed_cidrs"], serde_json::Value::Null);
        assert!(!format!("{k:?}").contains("ragk_secret"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<IssueApiKey>(r#"{"nam":"x"}"#).is_err());
        assert!(serde_json::from_str::<CreateService>(r#"{"name":"abc","x":1}"#).is_err());
        assert_eq!(
            serde_json::from_str::<IssueApiKey>("{}").unwrap(),
            IssueApiKey::default()
        );
    }

    #[test]
    fn a_patch_tells_null_from_absent() {
        let p: UpdateApiKey = serde_json::from_str(r#"{"name":null}"#).unwrap();
        assert_eq!(p.name, Some(None));
        assert!(!p.is_empty());
        let p: UpdateApiKey = serde_json::from_str("{}").unwrap();
        assert!(p.is_empty());
        assert!(serde_json::from_str::<UpdateApiKey>(r#"{"nme":1}"#).is_err());
        assert_eq!(
            serde_json::to_value(UpdateApiKey {
                name: Some(None),
                ..Default::default()
            })
            .unwrap(),
            serde_json::json!({"name":null})
        );
    }

    #[test]
    fn validation_counts_scalars_and_refuses_controls() {
        assert!(validate_text("name", "서비스이름", 3, 20).is_ok());
        assert!(validate_text("name", "ab", 3, 20).is_err());
        assert!(validate_text("name", "abc\u{1b}[2J", 3, 20).is_err());
        assert!(validate_text("name", "abc\u{202E}", 3, 20).is_err());
        assert!(validate_text("name", "abc\u{85}", 3, 20).is_err());
        assert!(validate_text("name", "   ", 3, 20).is_err());
        assert!(validate_text("name", "\u{3000}", 1, 50).is_err());
        assert!(validate_text("name", "a b", 3, 20).is_ok());
        assert!(validate_text("description", "   ", 0, 50).is_ok());
    }
}
