//! `PATCH …/api-keys/{key_id}` and `POST …/api-keys/{key_id}/rotate`: rename, disable, enable,
//! new expiry, and rotation with a grace period (docs/api.md, Key lifecycle).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::issue::{
    check_cidrs, check_lifetime, check_rate, check_scopes, idempotency_of, run_idempotent,
};
use super::issued::{Running, answer_issued, record_of, refuse_run};
use super::keys::to_wire;
use super::{Actor, Attempt, detached, json, new_id};
use crate::credential::{self, Kind};
use crate::server::error::ApiError;
use crate::server::extract::{Admin, KeyPath, Peer, parse_json, validate_field};
use crate::server::idempotency;
use crate::server::state::{AppState, SharedState};
use crate::server::store::{KeyChange, NewKey};
use crate::wire::{
    ApiKey, AuditAction, ErrorBody, ErrorCode, IssuedKey, RotateApiKey, Timestamp, UpdateApiKey,
    limits,
};

/// Whether the body sets `scopes` to `null`: it cannot be cleared (a key does something), and
/// the typed body reads `null` as absent.
fn scopes_null(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|v| v.get("scopes").is_some_and(serde_json::Value::is_null))
}

fn check_update(admin: &Admin, headers: &HeaderMap, body: &[u8]) -> Result<KeyChange, ApiError> {
    admin.require_manager()?;
    let req: UpdateApiKey = parse_json(headers, body)?;
    if scopes_null(body) {
        return Err(ApiError::invalid(
            "scopes cannot be null: name at least one of query, ingest, manage",
        ));
    }
    if req.is_empty() {
        return Err(ApiError::invalid(
            "the body must set at least one of name, enabled, expires_at, lifetime_seconds, \
             scopes, rate_limit, allowed_cidrs",
        ));
    }
    if let Some(Some(name)) = &req.name {
        validate_field("name", name, limits::KEY_NAME_MIN, limits::KEY_NAME_MAX)?;
    }
    let now = Timestamp::now().unix();
    let expires_at = match (req.expires_at, req.lifetime_seconds) {
        // `null` (never) is an expiry too: with a lifetime, that is both.
        (Some(None), Some(_)) => {
            return Err(ApiError::invalid(
                "give expires_at or lifetime_seconds, not both",
            ));
        }
        (Some(None), None) => Some(None),
        (Some(at), n) => Some(check_lifetime(at, n, now)?),
        (None, n) => check_lifetime(None, n, now)?.map(Some),
    };
    Ok(KeyChange {
        name: req.name,
        enabled: req.enabled,
        expires_at,
        scopes: req.scopes.as_deref().map(check_scopes).transpose()?,
        rate_limit: req
            .rate_limit
            .map(|r| r.map(check_rate).transpose())
            .transpose()?,
        allowed_cidrs: req
            .allowed_cidrs
            .map(|c| c.as_deref().map(check_cidrs).transpose())
            .transpose()?,
    })
}

/// Renames, disables, enables, sets a new expiry or a new policy (manager). A field already at
/// its value is no change (200, no audit event).
#[utoipa::path(patch, path = "/v1/services/{service_id}/api-keys/{key_id}", operation_id = "update_api_key", tag = "api-keys", security(("admin_token" = [])),
    params(
        ("service_id" = String, Path, description = "Id of the service (`svc_…`)"),
        ("key_id" = String, Path, description = "Id of the key (`key_…`)"),
    ),
    request_body(content = UpdateApiKey, content_type = "application/json",
        description = "Any of `name` (1 to 50 characters, or null to clear), `enabled`, `expires_at` \
            (RFC 3339, in the future, at most 366 days ahead, or null: never) or instead `lifetime_seconds` \
            (60 to 31622400, counted from the service's now), `scopes` (a non-empty subset of `query`, `ingest`, `manage`; never null), \
            `rate_limit` (`{\"requests\":N,\"per_seconds\":S}` or null to remove it) and `allowed_cidrs` (1 to 16 CIDRs, or null: anywhere); at least one. \
            `{\"enabled\":false}` takes effect as a delete does: once the 200 has left, the key no longer verifies; so does a change \
            that narrows the policy (a scope removed, an allowlist added or shrunk, a limit lowered). \
            `api_key.update` lists the changed fields in `changes`. \
            Enabling an expired key needs a new future `expires_at` (or a `lifetime_seconds`) in the same body."),
    responses(
        (status = 200, description = "The key afterwards", body = ApiKey),
        (status = 400, description = "`invalid_request`: empty body, unknown field, bad name or expiry, `scopes` empty, unknown or null, \
            a rate limit out of range, a bad CIDR, one with host bits set, or more than 16; the message names the field", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer token", body = ErrorBody),
        (status = 404, description = "`service_not_found` or `api_key_not_found`", body = ErrorBody),
        (status = 409, description = "`api_key_not_active`: enabling an expired key without a new expiry, or a new expiry on a rotating key", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<SharedState>,
    admin: Admin,
    Peer(peer): Peer,
    KeyPath(service_id, key_id): KeyPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    detached(async move {
        let actor = Actor::new(admin, peer);
        let what = Attempt {
            action: AuditAction::ApiKeyUpdate,
            service_id: &service_id,
            key_id: Some(&key_id),
        };
        let change = match check_update(&actor.admin, &headers, &body) {
            Ok(c) => c,
            Err(e) => return actor.refuse(&state, what, e, None).await,
        };
        state.retire_due(Some(&service_id)).await;
        let now = Timestamp::now().unix();
        let updated = {
            let _gate = state.write_gate.lock().await;
            let r = state
                .store
                .update_key(
                    service_id.clone(),
                    key_id.clone(),
                    change,
                    now,
                    actor.event(what, None, "ok"),
                )
                .await;
            // Before the answer leaves: a disable or a narrowed policy holds from the next
            // request on.
            if let Ok(u) = &r {
                let valid_until = u.key.valid_until();
                state
                    .follow(&[u.digest], |index| {
                        index.set_valid_until(&u.digest, valid_until);
                        index.set_policy(&u.digest, service_id.clone(), &u.key.policy);
                    })
                    .await;
            }
            r
        };
        match updated {
            Ok(u) => {
                if !u.key.enabled {
                    // A replay never hands out a disabled key: its plaintext has no reason to stay.
                    state.idempotency.forget_keys(&service_id, Some(&key_id));
                }
                json(StatusCode::OK, &to_wire(u.key, now))
            }
            Err(e) => {
                let e = ApiError::from_store(e, state.key_limit);
                actor.refuse(&state, what, e, None).await
            }
        }
    })
    .await
}

/// A rotation as asked: its grace, the successor's expiry when the body gives one (else the
/// store gives it the old key's lifetime from now), and its idempotency claim.
struct RotateRequest {
    grace: u32,
    expires_at: Option<i64>,
    idem: Option<idempotency::Claim>,
}

fn check_rotate(
    admin: &Admin,
    service_id: &str,
    key_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<RotateRequest, ApiError> {
    admin.require_manager()?;
    idempotency_of(admin, service_id, headers, "", b"")?;
    let req: RotateApiKey = parse_json(headers, body)?;
    if req.grace_seconds > limits::MAX_GRACE_SECS {
        return Err(ApiError::invalid(
            "grace_seconds must be 0 to 604800 (7 days)",
        ));
    }
    let expires_at = check_lifetime(
        req.expires_at,
        req.lifetime_seconds,
        Timestamp::now().unix(),
    )?;
    let canonical = serde_json::to_vec(&req).map_err(|_| ApiError::internal())?;
    // The hash names the route and the key: the same header on another request is "reused".
    let operation = format!("rotate {key_id}\n");
    let idem = idempotency_of(admin, service_id, headers, &operation, &canonical)?;
    Ok(RotateRequest {
        grace: req.grace_seconds,
        expires_at,
        idem,
    })
}

/// Rotates an active key (manager): a successor in the same slot, shown once; the old key
/// keeps verifying for `grace_seconds`, then retires.
#[utoipa::path(post, path = "/v1/services/{service_id}/api-keys/{key_id}/rotate", operation_id = "rotate_api_key", tag = "api-keys", security(("admin_token" = [])),
    params(
        ("service_id" = String, Path, description = "Id of the service (`svc_…`)"),
        ("key_id" = String, Path, description = "Id of the key to rotate (`key_…`)"),
        ("Idempotency-Key" = Option<String>, Header,
            description = "As for issuing a key: a retry with the same header and body within 15 minutes gets \
                the same successor, marked `Idempotent-Replayed: true`; never one deleted, disabled or retired since."),
    ),
    request_body(content = RotateApiKey, content_type = "application/json",
        description = "`{\"grace_seconds\":N}`, 0 to 604800, and optionally the successor's `expires_at` or \
            `lifetime_seconds` (60 to 31622400, from the service's now; not both). The successor gets the same name and, \
            unless the body sets its expiry, the old key's lifetime (if it had an expiry) counted from now; the old key becomes `rotating` with `expires_at` = \
            now + N and `replaced_by` = the successor. The two share one slot, so rotation works at the limit. \
            N = 0 ends the old key at once, with the guarantee of a delete."),
    responses(
        (status = 201, description = "The successor, with its plaintext", body = IssuedKey,
            headers(
                ("Cache-Control" = String, description = "`no-store`"),
                ("Idempotent-Replayed" = String, description = "`true` on a replay"),
            )),
        (status = 400, description = "`invalid_request`: malformed JSON, unknown field, grace out of range, bad Idempotency-Key", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer token", body = ErrorBody),
        (status = 404, description = "`service_not_found` or `api_key_not_found`", body = ErrorBody),
        (status = 409, description = "`api_key_not_active` (disabled, expired or rotating), `idempotency_in_progress` or `idempotency_secret_unavailable`", body = ErrorBody),
        (status = 422, description = "`idempotency_key_reused`", body = ErrorBody),
    ))]
pub async fn rotate(
    State(state): State<SharedState>,
    admin: Admin,
    Peer(peer): Peer,
    KeyPath(service_id, key_id): KeyPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    detached(async move {
        let actor = Actor::new(admin, peer);
        let what = Attempt {
            action: AuditAction::ApiKeyRotate,
            service_id: &service_id,
            key_id: Some(&key_id),
        };
        let req = match check_rotate(&actor.admin, &service_id, &key_id, &headers, &body) {
            Ok(r) => r,
            Err(e) => return actor.refuse(&state, what, e, None).await,
        };
        state.retire_due(Some(&service_id)).await;
        let (grace, expires_at) = (req.grace, req.expires_at);
        run_idempotent(&state, &actor, what, req.idem, |idem| {
            rotate_now(&state, &actor, what, grace, expires_at, idem)
        })
        .await
    })
    .await
}

async fn rotate_now(
    state: &AppState,
    actor: &Actor,
    what: Attempt<'_>,
    grace: u32,
    expires_at: Option<i64>,
    running: Running,
) -> Response {
    let service_id = what.service_id;
    let old_key_id = what.key_id.unwrap_or_default();
    let secret = credential::generate(Kind::ApiKey);
    let digest = credential::digest(&state.pepper, secret.expose());
    let key_id = new_id("key_");
    let now = Timestamp::now().unix();
    let successor = NewKey {
        id: key_id.clone(),
        service_id: service_id.to_owned(),
        digest,
        masked: credential::mask(secret.expose()),
        // The store gives it the old key's name, and its lifetime unless the body set one.
        name: None,
        created_at: now,
        created_by: actor.admin.name.clone(),
        expires_at,
        // The store gives it the old key's policy, as its name.
        policy: crate::policy::Policy::full(),
    };
    let outcome = {
        let _gate = state.write_gate.lock().await;
        let r = state
            .store
            .rotate_key(
                successor,
                old_key_id.to_owned(),
                grace,
                record_of(&running, now, Some(&key_id), 201, "ok"),
                actor.event(what, None, "ok"),
            )
            .await;
        // Before the answer leaves: the successor verifies, and the old key stops at its end
        // (at once with grace 0, as a delete).
        if let Ok(r) = &r {
            state
                .follow(&[digest, r.old_digest], |index| {
                    index.insert(
                        digest,
                        service_id.to_owned(),
                        key_id.clone(),
                        r.successor.valid_until(),
                        &r.successor.policy,
                    );
                    if r.old_retired {
                        index.retire(&[r.old_digest]);
                    } else {
                        index.set_valid_until(&r.old_digest, now + i64::from(grace));
                    }
                })
                .await;
        }
        r
    };
    match outcome {
        Ok(r) => {
            if r.old_retired {
                state.idempotency.forget_keys(service_id, Some(old_key_id));
            }
            answer_issued(to_wire(r.successor, now), secret, service_id, running)
        }
        Err(e) => {
            let replayable = [
                ErrorCode::ApiKeyNotActive,
                ErrorCode::ApiKeyNotFound,
                ErrorCode::ServiceNotFound,
            ];
            refuse_run(state, actor, what, e, &running, now, &replayable).await
        }
    }
}
