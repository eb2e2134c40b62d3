//! What issuing a key and rotating one share once the request runs: the durable idempotency
//! record of its outcome, the 201 IssuedKey answer (kept for replays), and the refusal.

use std::time::Instant;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use zeroize::Zeroizing;

use super::{Actor, Attempt, json_bytes, no_store};
use crate::credential::Secret;
use crate::server::error::ApiError;
use crate::server::idempotency::{self, Issued, RunningGuard};
use crate::server::state::AppState;
use crate::server::store::{IdempotencyRecord, StoreError, UnixTime};
use crate::wire::{ApiKey, ErrorCode, IssuedKey};

/// Marks an answer replayed from an earlier request (docs/api.md, Retry-safe issuance).
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The IssuedKey answer with `status` (201, or as recorded), marked when replayed.
pub(super) fn issued(status: u16, body: Vec<u8>, replayed: bool) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED);
    let mut resp = no_store(json_bytes(status, body));
    if replayed {
        resp.headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
    resp
}

/// A refusal replayed as itself.
pub(super) fn replayed_error(e: ApiError) -> Response {
    let mut resp = e.into_response();
    resp.headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    resp
}

/// The idempotency side of a running issue or rotation: (scope, request hash, the guard that
/// holds duplicates off), or `None` without an Idempotency-Key.
pub(super) type Running = Option<(idempotency::Scope, [u8; 32], RunningGuard)>;

/// The durable record of an outcome made at `now` (unix seconds), when the request replays.
pub(super) fn record_of(
    running: &Running,
    now: UnixTime,
    key_id: Option<&str>,
    status: u16,
    outcome: &str,
) -> Option<IdempotencyRecord> {
    running.as_ref().map(|(scope, hash, _)| IdempotencyRecord {
        scope: *scope,
        request_hash: *hash,
        key_id: key_id.map(str::to_owned),
        status,
        outcome: outcome.to_owned(),
        created_at: now,
    })
}

/// The 201 with the plaintext (`Cache-Control: no-store`); with an Idempotency-Key the guard
/// is completed with the same bytes, so that a retry replays this very answer.
pub(super) fn answer_issued(
    api_key: ApiKey,
    key: Secret,
    service_id: &str,
    running: Running,
) -> Response {
    let key_id = api_key.id.clone();
    let body = IssuedKey { api_key, key };
    let bytes = match serde_json::to_vec(&body) {
        Ok(b) => Zeroizing::new(b),
        Err(_) => return ApiError::internal().into_response(),
    };
    let resp = issued(201, bytes.to_vec(), false);
    if let Some((_, _, guard)) = running {
        let who = Issued {
            service_id: service_id.to_owned(),
            key_id,
        };
        guard.complete(201, bytes, who, Instant::now());
    }
    resp
}

/// A run the store refused: audited under `what`; the codes in `replayable` depend on the
/// request alone and replay as themselves, other failures (storage) may be retried.
pub(super) async fn refuse_run(
    state: &AppState,
    actor: &Actor,
    what: Attempt<'_>,
    e: StoreError,
    running: &Running,
    now: UnixTime,
    replayable: &[ErrorCode],
) -> Response {
    let e = ApiError::from_store(e, state.key_limit);
    let rec = if replayable.contains(&e.code) {
        record_of(running, now, None, e.code.status(), e.code.as_str())
    } else {
        None
    };
    actor.refuse(state, what, e, rec).await
}
