//! `POST /v1/services/{service_id}/api-keys`: issuing a key, retry-safe with Idempotency-Key.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName};
use axum::response::Response;
use zeroize::Zeroizing;

use super::issued::{Running, answer_issued, issued, record_of, refuse_run, replayed_error};
use super::keys::to_wire;
use super::{Actor, Attempt, detached, new_id, record_failure};
use crate::credential::{self, Kind};
use crate::policy::{Policy, RateLimit, Scope, validate_cidrs, validate_scopes};
use crate::server::error::ApiError;
use crate::server::extract::{Admin, Peer, ServicePath, parse_json, validate_field};
use crate::server::idempotency::{self, Begin, Issued, RECORD_RETENTION_SECS, RunningGuard};
use crate::server::state::{AppState, SharedState};
use crate::server::store::{IdempotencyRecord, NewKey, UnixTime};
use crate::wire::{
    AuditAction, ErrorBody, ErrorCode, IssueApiKey, IssuedKey, KeyState, Timestamp, limits,
};

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// What an issue request asks for, once checked.
struct IssueRequest {
    name: Option<String>,
    expires_at: Option<UnixTime>,
    policy: Policy,
    /// (scope, request hash) when an Idempotency-Key came with it.
    idempotency: Option<(idempotency::Scope, [u8; 32])>,
}

/// (scope, request hash) for a request with an Idempotency-Key: the scope is the token, the
/// service and the header; the hash covers `operation` (which route, which key) and the
/// canonical body, so that one header value used for another request is `idempotency_key_reused`.
pub(super) fn idempotency_of(
    admin: &Admin,
    service_id: &str,
    headers: &HeaderMap,
    operation: &str,
    canonical_body: &[u8],
) -> Result<Option<(idempotency::Scope, [u8; 32])>, ApiError> {
    let key = match headers.get(IDEMPOTENCY_KEY) {
        None => return Ok(None),
        Some(v) if idempotency::valid_key(v.as_bytes()) => String::from_utf8_lossy(v.as_bytes()),
        Some(_) => {
            return Err(ApiError::invalid(
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            ));
        }
    };
    // Issue hashes its body alone, as before, so that records written by older builds match.
    let mut hashed = operation.as_bytes().to_vec();
    hashed.extend_from_slice(canonical_body);
    Ok(Some((
        idempotency::scope(admin.token_id, service_id, &key),
        idempotency::request_hash(&hashed),
    )))
}

/// Checks an `expires_at` of a request at `now` (docs/api.md, Key lifecycle): in the future, at
/// most 366 days ahead. Returns unix seconds.
pub(super) fn check_expiry(at: Timestamp, now: UnixTime) -> Result<UnixTime, ApiError> {
    let at = at.unix();
    if at <= now {
        return Err(ApiError::invalid("expires_at must be in the future"));
    }
    if at - now > limits::MAX_EXPIRY_AHEAD_SECS {
        return Err(ApiError::invalid(
            "expires_at must be at most 366 days ahead",
        ));
    }
    Ok(at)
}

/// The expiry a request asks for (docs/api.md, Time): `expires_at`, checked as above, or
/// `lifetime_seconds` (60 to 31622400) counted from the service's `now`; never both.
pub(super) fn check_lifetime(
    at: Option<Timestamp>,
    lifetime_seconds: Option<u32>,
    now: UnixTime,
) -> Result<Option<UnixTime>, ApiError> {
    match (at, lifetime_seconds) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "give expires_at or lifetime_seconds, not both",
        )),
        (Some(at), None) => check_expiry(at, now).map(Some),
        (None, Some(n)) if (limits::LIFETIME_MIN_SECS..=limits::LIFETIME_MAX_SECS).contains(&n) => {
            Ok(Some(now + i64::from(n)))
        }
        (None, Some(_)) => Err(ApiError::invalid(
            "lifetime_seconds must be 60 to 31622400 (1 minute to 366 days)",
        )),
        (None, None) => Ok(None),
    }
}

/// Checks the scopes of a request (docs/api.md, Keys that carry their own policy): non-empty,
/// known, each once; returns them in the API's order.
pub(super) fn check_scopes(scopes: &[Scope]) -> Result<Vec<Scope>, ApiError> {
    validate_scopes(scopes).map_err(ApiError::invalid)
}

/// Checks a rate limit: 1 to 1,000,000 requests per 1, 60 or 3600 seconds.
pub(super) fn check_rate(rate: RateLimit) -> Result<RateLimit, ApiError> {
    rate.validate().map_err(ApiError::invalid)?;
    Ok(rate)
}

/// Checks an allowlist (1 to 16 addresses or CIDRs, no host bits) and returns it canonical.
pub(super) fn check_cidrs(cidrs: &[String]) -> Result<Vec<String>, ApiError> {
    validate_cidrs(cidrs).map_err(ApiError::invalid)
}

fn check_issue(
    admin: &Admin,
    service_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<IssueRequest, ApiError> {
    admin.require_manager()?;
    // The header is checked before the body, as it always was.
    idempotency_of(admin, service_id, headers, "", b"")?;
    let mut req: IssueApiKey = parse_json(headers, body)?;
    if let Some(name) = &req.name {
        validate_field("name", name, limits::KEY_NAME_MIN, limits::KEY_NAME_MAX)?;
    }
    let expires_at = check_lifetime(
        req.expires_at,
        req.lifetime_seconds,
        Timestamp::now().unix(),
    )?;
    // Canonical before hashing: a retry that spells the same policy otherwise is the same
    // request; one with another policy is `idempotency_key_reused`.
    req.scopes = req.scopes.as_deref().map(check_scopes).transpose()?;
    req.rate_limit = req.rate_limit.map(check_rate).transpose()?;
    req.allowed_cidrs = req.allowed_cidrs.as_deref().map(check_cidrs).transpose()?;
    let policy = Policy {
        scopes: req.scopes.clone().unwrap_or_else(|| Scope::ALL.to_vec()),
        rate_limit: req.rate_limit,
        allowed_cidrs: req.allowed_cidrs.clone(),
    };
    let canonical = serde_json::to_vec(&req).map_err(|_| ApiError::internal())?;
    Ok(IssueRequest {
        name: req.name,
        expires_at,
        policy,
        idempotency: idempotency_of(admin, service_id, headers, "", &canonical)?,
    })
}

/// Issues a key (manager): the plaintext is in this response only.
#[utoipa::path(post, path = "/v1/services/{service_id}/api-keys", operation_id = "issue_api_key", tag = "api-keys", security(("admin_token" = [])),
    params(
        ("service_id" = String, Path, description = "Id of the service (`svc_…`)"),
        ("Idempotency-Key" = Option<String>, Header,
            description = "1 to 255 visible ASCII characters, scoped to the admin token and the service. \
                A retry with the same key and body within 15 minutes gets the same answer (the same key), \
                marked `Idempotent-Replayed: true`; once the plaintext is gone (15 minutes, or a restart) \
                it gets 409 `idempotency_secret_unavailable` naming the key id, as does a replay whose key has \
                been deleted, disabled or retired since (404 `service_not_found` once the service is gone): a replay never hands out \
                a dead key. The scope is the token itself, not its name. Records are kept 24 hours."),
    ),
    request_body(content = IssueApiKey, content_type = "application/json",
        description = "`{}`, `{\"name\":\"…\"}` (1 to 50 characters) and/or `{\"expires_at\":\"…\"}` (RFC 3339, in the future, at most 366 days ahead; absent or null: never) \
            or `{\"lifetime_seconds\":N}` (60 to 31622400: the key expires N seconds after the service's now; never together with `expires_at`); an empty body counts as `{}`. \
            Its policy: `scopes` (a non-empty subset of `query`, `ingest`, `manage`; absent: all three), `rate_limit` \
            (`{\"requests\":N,\"per_seconds\":S}`, 1 ≤ N ≤ 1000000, S one of 1, 60, 3600; absent or null: none) and `allowed_cidrs` \
            (1 to 16 IPv4/IPv6 CIDRs or bare addresses, no host bits; absent or null: anywhere), returned canonical."),
    responses(
        (status = 201, description = "The new key, with its plaintext", body = IssuedKey,
            headers(
                ("Cache-Control" = String, description = "`no-store`"),
                ("Idempotent-Replayed" = String, description = "`true` on a replay"),
            )),
        (status = 400, description = "`invalid_request`: malformed JSON, unknown field, bad name, expiry or Idempotency-Key, both `expires_at` and `lifetime_seconds`, \
            empty or unknown scopes, a rate limit out of range, a bad CIDR, one with host bits set, or more than 16; the message names the field", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer token", body = ErrorBody),
        (status = 404, description = "`service_not_found`", body = ErrorBody),
        (status = 409, description = "`api_key_limit_exceeded`, `idempotency_in_progress` or `idempotency_secret_unavailable`", body = ErrorBody),
        (status = 422, description = "`idempotency_key_reused`: the same Idempotency-Key with another body (another policy included)", body = ErrorBody),
    ))]
pub async fn issue(
    State(state): State<SharedState>,
    admin: Admin,
    Peer(peer): Peer,
    ServicePath(service_id): ServicePath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    detached(async move {
        let actor = Actor::new(admin, peer);
        let req = match check_issue(&actor.admin, &service_id, &headers, &body) {
            Ok(r) => r,
            Err(e) => return actor.refuse(&state, issuing(&service_id), e, None).await,
        };
        let what = issuing(&service_id);
        state.retire_due(Some(&service_id)).await;
        run_idempotent(&state, &actor, what, req.idempotency, |idem| {
            let asked = Asked {
                name: req.name,
                expires_at: req.expires_at,
                policy: req.policy,
            };
            issue_now(&state, &actor, &service_id, asked, idem)
        })
        .await
    })
    .await
}

/// Runs `run` under the rules of Retry-safe issuance (docs/api.md): a request without an
/// Idempotency-Key runs as is; with one, a duplicate in flight, a reused key, a replay from
/// memory or from the durable record are answered here, and only a fresh one runs, holding
/// the guard it completes on success. `what` names the audit events of the refusals.
pub(super) async fn run_idempotent<F, Fut>(
    state: &AppState,
    actor: &Actor,
    what: Attempt<'_>,
    idem: Option<(idempotency::Scope, [u8; 32])>,
    run: F,
) -> Response
where
    F: FnOnce(Option<(idempotency::Scope, [u8; 32], RunningGuard)>) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let Some((scope, hash)) = idem else {
        return run(None).await;
    };
    let guard = match state.idempotency.begin(scope, hash, Instant::now()) {
        Begin::Fresh(guard) => guard,
        Begin::Replay {
            status,
            body,
            issued: who,
        } => return replay_if_alive(state, actor, what, scope, status, body, who).await,
        Begin::InProgress => {
            let e = ApiError::new(
                ErrorCode::IdempotencyInProgress,
                "a request with this Idempotency-Key is still running; retry shortly",
            );
            return actor.refuse(state, what, e, None).await;
        }
        Begin::Reused => return actor.refuse(state, what, reused(), None).await,
    };
    let record = match find_record(state, actor.admin.token_id, scope).await {
        Ok(r) => r,
        Err(e) => {
            let e = ApiError::from_store(e, state.key_limit);
            return actor.refuse(state, what, e, None).await;
        }
    };
    match record {
        None => run(Some((scope, hash, guard))).await,
        Some(r) if r.request_hash != hash => actor.refuse(state, what, reused(), None).await,
        Some(r) => {
            drop(guard);
            answer_from_record(state, actor, what, r).await
        }
    }
}

/// The durable record of `scope` if it is within its retention and was made by this very
/// token. Token ids are never reused since schema 2; one freed before that upgrade could be,
/// and a token cannot have made a record older than itself.
async fn find_record(
    state: &AppState,
    token_id: i64,
    scope: idempotency::Scope,
) -> Result<Option<IdempotencyRecord>, crate::server::store::StoreError> {
    let oldest = Timestamp::now().unix() - RECORD_RETENTION_SECS;
    let Some(record) = state
        .store
        .find_idempotency(scope)
        .await?
        .filter(|r| r.created_at > oldest)
    else {
        return Ok(None);
    };
    let tokens = state.store.list_tokens().await?;
    let born = tokens
        .iter()
        .find(|t| t.id == token_id)
        .map(|t| t.created_at);
    Ok(born.filter(|b| *b <= record.created_at).map(|_| record))
}

/// Whether the key a replay would name still lives: `Err` is the answer instead (404 once
/// its service is gone, 409 once the key is deleted, disabled or retired, or the store's
/// failure).
async fn key_alive(state: &AppState, service_id: &str, key_id: &str) -> Result<(), ApiError> {
    let now = Timestamp::now().unix();
    let dead = |how: &str| {
        ApiError::new(
            ErrorCode::IdempotencySecretUnavailable,
            format!(
                "this request was answered before with API key {key_id}, which has since been \
                 {how}; it is not shown again. Retry with a new Idempotency-Key for a new key"
            ),
        )
    };
    match state
        .store
        .get_key(service_id.to_owned(), key_id.to_owned())
        .await
    {
        Ok(Some(k)) if k.state(now) == KeyState::Disabled => Err(dead("disabled")),
        Ok(Some(k)) if k.rotated_out(now) => Err(dead("retired")),
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(dead("deleted or retired")),
        Err(e) => Err(ApiError::from_store(e, state.key_limit)),
    }
}

/// A replay of a success still in memory: the same response, unless its key has died since
/// (docs/api.md, Retry-safe issuance); then its plaintext is wiped and the refusal says why. A
/// replay has its audit event already (the issue's); a refusal writes one.
async fn replay_if_alive(
    state: &AppState,
    actor: &Actor,
    what: Attempt<'_>,
    scope: idempotency::Scope,
    status: u16,
    body: Zeroizing<Vec<u8>>,
    who: Issued,
) -> Response {
    match key_alive(state, &who.service_id, &who.key_id).await {
        Ok(()) => issued(status, body.to_vec(), true),
        Err(e) => {
            if matches!(
                e.code,
                ErrorCode::IdempotencySecretUnavailable | ErrorCode::ServiceNotFound
            ) {
                state.idempotency.forget(&scope);
            }
            actor.refuse(state, what, e, None).await
        }
    }
}

/// A request answered before whose response is no longer in memory (15 minutes passed, or
/// the service restarted): a success names its key instead of issuing another (or says it was
/// deleted since, or 404 once the service is gone); a refusal replays as itself.
async fn answer_from_record(
    state: &AppState,
    actor: &Actor,
    what: Attempt<'_>,
    record: IdempotencyRecord,
) -> Response {
    let service_id = what.service_id;
    if let (Some(key_id), 201) = (&record.key_id, record.status) {
        let e = key_alive(state, service_id, key_id).await.err();
        let e = e.unwrap_or_else(|| {
            ApiError::new(
                ErrorCode::IdempotencySecretUnavailable,
                format!(
                    "this request was answered before with API key {key_id}, whose plaintext \
                     can no longer be shown; delete key {key_id} if it is not in use"
                ),
            )
        });
        return actor.refuse(state, what, e, None).await;
    }
    let code = serde_json::from_value(serde_json::Value::String(record.outcome))
        .unwrap_or(ErrorCode::Internal);
    let e = ApiError::from_code(code, state.key_limit);
    let event = actor.event(what, None, code.as_str());
    record_failure(state, event, None).await;
    replayed_error(e)
}

pub(super) fn reused() -> ApiError {
    ApiError::new(
        ErrorCode::IdempotencyKeyReused,
        "this Idempotency-Key was used with a different request",
    )
}

/// Every audit event of an issue names the service; only a success names its key.
fn issuing(service_id: &str) -> Attempt<'_> {
    Attempt {
        action: AuditAction::ApiKeyIssue,
        service_id,
        key_id: None,
    }
}

/// The new key's own fields, as the request asked for them.
struct Asked {
    name: Option<String>,
    expires_at: Option<UnixTime>,
    policy: Policy,
}

async fn issue_now(
    state: &AppState,
    actor: &Actor,
    service_id: &str,
    asked: Asked,
    running: Running,
) -> Response {
    let Asked {
        name,
        expires_at,
        policy,
    } = asked;
    let secret = credential::generate(Kind::ApiKey);
    let digest = credential::digest(&state.pepper, secret.expose());
    let masked = credential::mask(secret.expose());
    let key_id = new_id("key_");
    let now = Timestamp::now().unix();
    let new_key = NewKey {
        id: key_id.clone(),
        service_id: service_id.to_owned(),
        digest,
        masked: masked.clone(),
        name,
        created_at: now,
        created_by: actor.admin.name.clone(),
        expires_at,
        policy,
    };
    let issued_key = Attempt {
        key_id: Some(&key_id),
        ..issuing(service_id)
    };
    let audit = actor.event(issued_key, Some(&masked), "ok");
    let outcome = {
        let _gate = state.write_gate.lock().await;
        let r = state
            .store
            .issue_key(
                new_key,
                state.key_limit,
                record_of(&running, now, Some(&key_id), 201, "ok"),
                audit,
            )
            .await;
        if let Ok(k) = &r {
            state
                .follow(&[digest], |index| {
                    index.insert(
                        digest,
                        service_id.to_owned(),
                        key_id.clone(),
                        k.valid_until(),
                        &k.policy,
                    )
                })
                .await;
        }
        r
    };
    match outcome {
        Ok(k) => answer_issued(to_wire(k, now), secret, service_id, running),
        Err(e) => {
            let replayable = [ErrorCode::ApiKeyLimitExceeded, ErrorCode::ServiceNotFound];
            let what = issuing(service_id);
            refuse_run(state, actor, what, e, &running, now, &replayable).await
        }
    }
}
