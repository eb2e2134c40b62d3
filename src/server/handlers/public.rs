//! Health, the OpenAPI document, `/v1/me`, `/v1/verify`, and what answers unknown routes.

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::json;
use crate::credential::{self, Kind};
use crate::server::error::ApiError;
use crate::server::extract::{Admin, NoQuery, Peer, bearer};
use crate::server::state::{AppState, SharedState};
use crate::server::verify_index::Entry;
use crate::wire::{ErrorBody, ErrorCode, Health, Me, Verified};

/// A verified key's service and key ids as headers (docs/api.md, Identity for the gateway).
pub const RAGKEYS_SERVICE_ID: HeaderName = HeaderName::from_static("ragkeys-service-id");
pub const RAGKEYS_KEY_ID: HeaderName = HeaderName::from_static("ragkeys-key-id");
/// A verified key's scopes, comma-separated (docs/api.md, Keys that carry their own policy).
pub const RAGKEYS_SCOPES: HeaderName = HeaderName::from_static("ragkeys-scopes");

/// Whether the service is up.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "service",
    responses((status = 200, description = "The service is up", body = Health)))]
pub async fn healthz() -> Response {
    json(
        StatusCode::OK,
        &Health {
            status: "ok".into(),
        },
    )
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", tag = "service",
    responses((status = 200, description = "The OpenAPI 3 document of this API", content_type = "application/json")))]
/// The document is rendered once by the router (`openapi::document`) and put on this route's
/// requests as an extension, so that it, which names every handler, is not reached from the
/// handlers' side (docs/architecture.md, Habits: no import circle).
pub async fn openapi(req: Request) -> Response {
    match req.extensions().get::<OpenApiDocument>() {
        Some(OpenApiDocument(doc)) => super::json_bytes(StatusCode::OK, doc.to_vec()),
        None => ApiError::internal().into_response(),
    }
}

/// The rendered `/openapi.json`, as the router hands it to [`openapi`].
#[derive(Clone)]
pub struct OpenApiDocument(pub Bytes);

/// Who the presented admin token belongs to.
#[utoipa::path(get, path = "/v1/me", operation_id = "me", tag = "admin", security(("admin_token" = [])),
    responses(
        (status = 200, description = "The token's name and role", body = Me),
        (status = 401, description = "`unauthorized`: no valid admin token", body = ErrorBody),
    ))]
pub async fn me(admin: Admin, _: NoQuery) -> Response {
    json(
        StatusCode::OK,
        &Me {
            name: admin.name,
            role: admin.role,
        },
    )
}

/// Whether this replica can serve: for load balancers (docs/api.md, Endpoints).
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "service",
    responses(
        (status = 200, description = "Ready: the store answers and takes writes, this replica is not draining and (several replicas) its lease is valid and its index in sync", body = Health),
        (status = 503, description = "`unavailable`, the message naming the cause: the database cannot be reached, this replica is starting or resyncing, it is draining (shutting down), or the store cannot take writes (disk full, read-only, I/O error); see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds before asking again"))),
    ))]
pub async fn readyz(State(state): State<SharedState>) -> Response {
    if let Some(cause) = verify_not_ready(&state) {
        return not_ready(cause);
    }
    // A store that cannot take writes: not ready, naming why (verify still answers).
    if let Some(fault) = state.store_fault() {
        return ApiError::cannot_write(fault).into_response();
    }
    ready()
}

/// Whether this replica can answer `/v1/verify` correctly, whether or not its store takes
/// writes: the health check of verify traffic (docs/api.md, Endpoints).
#[utoipa::path(get, path = "/readyz/verify", operation_id = "readyz_verify", tag = "service",
    responses(
        (status = 200, description = "Verify is answered correctly here: the index is in sync, (several replicas) the lease is valid, and this replica is not draining", body = Health),
        (status = 503, description = "`unavailable`, the message naming the cause: this replica is starting, resyncing or cut off from its database, or it is draining (shutting down); see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds before asking again"))),
    ))]
pub async fn readyz_verify(State(state): State<SharedState>) -> Response {
    match verify_not_ready(&state) {
        Some(cause) => not_ready(cause),
        None => ready(),
    }
}

/// Why this replica cannot answer `/v1/verify` correctly now, if it cannot.
fn verify_not_ready(state: &AppState) -> Option<&'static str> {
    if state.draining.is_on() {
        return Some("draining: this replica is shutting down; send requests to another replica");
    }
    if let Some(why) = state.replica.waiting() {
        return Some(why);
    }
    // A valid lease means a renewal reached the database less than a lease ago, after the
    // index had caught up with every change: "store reachable, index in sync" in one read.
    // Before the first sync (starting up) the lease is not valid either.
    if !state.replica.trust.trusted_at(Instant::now()) {
        return Some(
            "not in sync: this replica has not confirmed its verify index with the database \
             (starting, resyncing, or the database cannot be reached); retry in 1 s",
        );
    }
    None
}

fn ready() -> Response {
    json(
        StatusCode::OK,
        &Health {
            status: "ready".into(),
        },
    )
}

/// 503 `unavailable` with `Retry-After: 1`, the message naming the cause.
fn not_ready(cause: &'static str) -> Response {
    ApiError {
        retry_after: Some(1),
        ..ApiError::new(ErrorCode::Unavailable, cause)
    }
    .into_response()
}

/// Checks an API key, as the RAG service's clients and gateways do (HEAD: the same, no body).
#[utoipa::path(get, path = "/v1/verify", operation_id = "verify", tag = "verify", security(("api_key" = [])),
    responses(
        (status = 200, description = "The key is live; the answer is also in the headers, for gateways that read only heads", body = Verified,
            headers(
                ("Ragkeys-Service-Id" = String, description = "The key's service id, as in the body"),
                ("Ragkeys-Key-Id" = String, description = "The key's id, as in the body"),
                ("Ragkeys-Scopes" = String, description = "The key's scopes, comma-separated, as in the body"),
            )),
        (status = 401, description = "`invalid_api_key`: missing, malformed, unknown or deleted (one answer for all)", body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many failures from this address; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until verifications are accepted again"))),
        (status = 503, description = "`unavailable`: this replica cannot confirm any key now (its database link or lease is lost); see Retry-After. Never for a malformed key", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds before trying again"))),
    ))]
pub async fn verify(
    State(state): State<SharedState>,
    Peer(peer): Peer,
    // The request itself rather than `HeaderMap`, which would clone every header.
    req: Request,
) -> Response {
    match verify_from_memory(&state, peer, req.headers()) {
        Ok(resp) => resp,
        Err(miss) => verify_miss(state, miss).await,
    }
}

/// A well-formed key the index does not hold, on a shared store: the database must be asked
/// ([`verify_miss`]).
pub struct Miss {
    digest: credential::Digest,
    peer: IpAddr,
    now: Instant,
    at: i64,
}

/// `/v1/verify` as far as memory can answer it, without waiting: the answer, or a [`Miss`]
/// to look up. The router answers GET and HEAD of `/v1/verify` through this before routing
/// (docs/performance.md).
pub fn verify_from_memory(
    state: &SharedState,
    peer: IpAddr,
    headers: &HeaderMap,
) -> Result<Response, Miss> {
    let now = Instant::now();
    if let Err(retry_after) = state
        .limiter
        .check(peer, now, state.replica.live_replicas())
    {
        return Ok(ApiError::rate_limited(retry_after).into_response());
    }
    // Unix seconds straight from the clock: `Timestamp` goes through a calendar date.
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    // Format and checksum first: garbage never costs a digest or a lookup, and is 401 even
    // when the index cannot be trusted (no storage needed to refuse it).
    let key = bearer(headers).filter(|k| credential::parse(Kind::ApiKey, k).is_ok());
    let answer = match key {
        None => None,
        // One load against the clock read above; past the lease nothing is answered from
        // memory, neither 200 nor 401 (docs/api.md, Several replicas).
        Some(_) if !state.replica.trust.trusted_at(now) => {
            return Ok(ApiError::unavailable().into_response());
        }
        Some(k) => {
            let digest = credential::digest(&state.pepper, k);
            match state.index.with(&digest, |e| verdict(state, e, at, peer)) {
                Some(found) => found,
                None if state.replica.is_shared() => {
                    return Err(Miss {
                        digest,
                        peer,
                        now,
                        at,
                    });
                }
                None => None,
            }
        }
    };
    Ok(answered(state, answer, peer, now))
}

/// The rest of `/v1/verify` after an index miss on a shared store.
pub async fn verify_miss(state: SharedState, miss: Miss) -> Response {
    let Miss {
        digest,
        peer,
        now,
        at,
    } = miss;
    let answer = match look_up_miss(&state, digest).await {
        Ok(e) => e.and_then(|e| verdict(&state, &e, at, peer)),
        Err(e) => return e.into_response(),
    };
    answered(&state, answer, peer, now)
}

/// The 200 of a live key, or the one uniform 401 (a failure counted against `peer`).
fn answered(state: &AppState, answer: Option<Verdict>, peer: IpAddr, now: Instant) -> Response {
    let Some(answer) = answer else {
        state.limiter.record_failure(peer, now);
        return ApiError::invalid_api_key().into_response();
    };
    let length = content_length(answer.body.len());
    let mut resp = Response::new(Body::from(answer.body));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(RAGKEYS_SERVICE_ID, answer.service);
    h.insert(RAGKEYS_KEY_ID, answer.key);
    h.insert(RAGKEYS_SCOPES, answer.scopes);
    // Set here, axum's router leaves it: it would format the number into a new allocation.
    h.insert(CONTENT_LENGTH, length);
    resp
}

/// `Content-Length: len` without an allocation: verify's answers are a few dozen bytes, whose
/// lengths are written once into static values (clones of which touch no reference count).
fn content_length(len: usize) -> HeaderValue {
    const SHORT: usize = 256;
    static LENGTHS: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    let lengths = LENGTHS.get_or_init(|| {
        (0..SHORT)
            .map(|n| HeaderValue::from_static(String::leak(n.to_string())))
            .collect()
    });
    lengths
        .get(len)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from(len))
}

/// The 200 of `/v1/verify`: the body and, as headers, the same answer for gateways.
struct Verdict {
    body: Bytes,
    service: HeaderValue,
    key: HeaderValue,
    scopes: HeaderValue,
}

/// The 200 answer for a live key found at `at` (unix seconds), or `None` for a disabled, expired
/// or retired one, which gets the one uniform refusal (docs/api.md, Key lifecycle). Either way the
/// attempt counts in the key's usage (docs/api.md, Usage). Runs under the index's read lock.
fn verdict(state: &SharedState, entry: &Entry, at: i64, from: IpAddr) -> Option<Verdict> {
    if !entry.check(at, from) {
        return None;
    }
    if entry.claim_touch(at) {
        state.record_use(entry, at, from);
    }
    // The `Verified` body encoded when the key entered the index, copied: a few dozen bytes
    // into this thread's allocator, where sharing the one buffer would make every core write
    // its reference count (docs/performance.md). The headers are shared all the same: a copy
    // would be two more allocations, where a clone is an atomic add.
    Some(Verdict {
        body: Bytes::copy_from_slice(&entry.answer),
        service: entry.service_header.clone(),
        key: entry.key_header.clone(),
        scopes: entry.grant.scopes_header.clone(),
    })
}

/// How many times an index miss reads the database again when a concurrent change of the same
/// index stripe kept its read from being kept.
const MISS_ROUNDS: usize = 3;

/// An index miss on a shared store: the key may have been issued on another replica a moment
/// ago (docs/api.md: it verifies on every replica on the very next request). Reads it from the
/// database and keeps it in the index, through the same stamped refresh as every change, so a
/// read that a delete overtook is never kept. `None`: no such key (a failure, counted by the
/// caller against the address); `unavailable` when the database cannot say.
async fn look_up_miss(
    state: &SharedState,
    digest: credential::Digest,
) -> Result<Option<std::sync::Arc<Entry>>, ApiError> {
    for _ in 0..MISS_ROUNDS {
        let stamp = state.index.stamp(&digest);
        let found = match state.store.live_digest(digest).await {
            Ok(found) => found,
            Err(e) => return Err(ApiError::from_store(e, state.key_limit)),
        };
        let Some(found) = found else {
            return Ok(None);
        };
        let stale = state
            .index
            .apply_if_unchanged(&[(digest, stamp)], vec![found]);
        if stale.is_empty() {
            return Ok(state.index.lookup(&digest));
        }
    }
    Err(ApiError::unavailable())
}

pub async fn no_route() -> ApiError {
    ApiError::not_found()
}

/// A known path with a method it does not take: 404 `not_found`, a code of docs/api.md's table
/// (Conventions: every error has "a stable machine code" from it, and the table has no 405 row);
/// axum adds `Allow` naming the methods the path does take.
pub async fn wrong_method() -> ApiError {
    ApiError::new(
        crate::wire::ErrorCode::NotFound,
        "this route does not take that method (see the Allow header)",
    )
}
