//! `POST /v1/whois`: whose is this API key? For a key found where it should not be (a log, a
//! ticket, a repository): names its service and key in any state (docs/api.md, Whois).

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::keys::to_wire;
use super::{Actor, Attempt, detached, json};
use crate::credential::{self, Kind};
use crate::server::error::ApiError;
use crate::server::extract::{Admin, Peer, parse_json};
use crate::server::state::{AppState, SharedState};
use crate::server::store::FoundKey;
use crate::wire::{AuditAction, ErrorBody, ErrorCode, Timestamp, WhoisAnswer, WhoisRequest};

/// The one answer for an unknown, malformed or deleted key, so that none can be told apart.
fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::ApiKeyNotFound,
        "no API key matches (unknown, malformed or deleted keys get this same answer)",
    )
}

/// Names the service and key a presented API key belongs to (viewer).
#[utoipa::path(post, path = "/v1/whois", operation_id = "whois", tag = "api-keys", security(("admin_token" = [])),
    request_body(content = WhoisRequest, content_type = "application/json",
        description = "`{\"key\":\"ragk_…\"}`: the plaintext key found somewhere. Its format and checksum are checked \
            first (a malformed key touches no storage). Disabled, expired and rotating keys are found."),
    responses(
        (status = 200, description = "Whose key it is; never the key or its digest. Audited as `api_key.whois` with the masked key", body = WhoisAnswer),
        (status = 400, description = "`invalid_request`: malformed JSON, unknown field, no `key`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`api_key_not_found`: unknown, malformed or deleted (one answer for all); counts toward the per-address failure limit", body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many failed lookups or verifications from this address; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until lookups are accepted again"))),
    ))]
pub async fn whois(
    State(state): State<SharedState>,
    admin: Admin,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Detached: a client that hangs up after the lookup still leaves its audit event.
    detached(async move {
        let now = Instant::now();
        // Failed lookups and failed verifications share one budget.
        if let Err(e) = state.check_failure_limit(peer, now) {
            return e.into_response();
        }
        let req: WhoisRequest = match parse_json(&headers, &body) {
            Ok(r) => r,
            Err(e) => return e.into_response(),
        };
        let key = req.key.expose();
        // Format and checksum first: garbage is answered from memory, no lookup, no write.
        if credential::parse(Kind::ApiKey, key).is_err() {
            state.limiter.record_failure(peer, now);
            return not_found().into_response();
        }
        let actor = Actor::new(admin, peer);
        let masked = credential::mask(key);
        let digest = credential::digest(&state.pepper, key);
        let found = state.store.find_key_by_digest(digest).await;
        let at = Timestamp::now().unix();
        match found {
            // A rotated key whose grace ended is retired, as good as deleted, even before the
            // next retirement pass removes it.
            Ok(Some(f)) if !f.key.rotated_out(at) => {
                found_answer(&state, &actor, &masked, f, at).await
            }
            Ok(_) => {
                state.limiter.record_failure(peer, now);
                let what = Attempt {
                    action: AuditAction::ApiKeyWhois,
                    service_id: "",
                    key_id: None,
                };
                let e = not_found();
                let event = actor.event(what, Some(&masked), e.code.as_str());
                match state.store.record_audit(event).await {
                    Ok(()) => e.into_response(),
                    Err(se) => ApiError::from_store(se, state.key_limit).into_response(),
                }
            }
            Err(e) => ApiError::from_store(e, state.key_limit).into_response(),
        }
    })
    .await
}

/// 200 with the owner, once its audit event is written: a lookup that cannot be audited is
/// not answered.
async fn found_answer(
    state: &AppState,
    actor: &Actor,
    masked: &str,
    f: FoundKey,
    at: i64,
) -> Response {
    let what = Attempt {
        action: AuditAction::ApiKeyWhois,
        service_id: &f.key.service_id,
        key_id: Some(&f.key.id),
    };
    let event = actor.event(what, Some(masked), "ok");
    if let Err(e) = state.store.record_audit(event).await {
        return ApiError::from_store(e, state.key_limit).into_response();
    }
    let answer = WhoisAnswer {
        service_id: f.key.service_id.clone(),
        service_name: f.service_name,
        api_key: to_wire(f.key, at),
    };
    json(StatusCode::OK, &answer)
}
