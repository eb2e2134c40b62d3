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
use crate::policy::{self, Scope};
use crate::server::error::ApiError;
use crate::server::extract::{Admin, NoQuery, Peer, bearer};
use crate::server::rate_limit::share;
use crate::server::state::{AppState, SharedState};
use crate::server::token_bucket::Taken;
use crate::server::usage::counters::Outcome;
use crate::server::verify_index::{Entry, rate_policy_header};
use crate::wire::{ErrorBody, ErrorCode, Health, Me, Verified};

/// A verified key's service and key ids as headers (docs/api.md, Identity for the gateway).
pub const RAGKEYS_SERVICE_ID: HeaderName = HeaderName::from_static("ragkeys-service-id");
pub const RAGKEYS_KEY_ID: HeaderName = HeaderName::from_static("ragkeys-key-id");
/// A verified key's scopes, comma-separated (docs/api.md, Keys that carry their own policy).
pub const RAGKEYS_SCOPES: HeaderName = HeaderName::from_static("ragkeys-scopes");
/// A key's rate limit and what is left of it (draft-ietf-httpapi-ratelimit-headers-11).
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

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
    params(("scope" = Option<Scope>, Query, description = "The scope the call needs: 200 only if the key has it, else 403 `insufficient_scope`. Without it the answer does not depend on scopes")),
    responses(
        (status = 200, description = "The key is live; the answer is also in the headers, for gateways that read only heads", body = Verified,
            headers(
                ("Ragkeys-Service-Id" = String, description = "The key's service id, as in the body"),
                ("Ragkeys-Key-Id" = String, description = "The key's id, as in the body"),
                ("Ragkeys-Scopes" = String, description = "The key's scopes, comma-separated, as in the body"),
                ("RateLimit-Policy" = String, description = "A key with a rate limit: `\"key\";q=N;w=S`, this replica's share N of the limit over S seconds"),
                ("RateLimit" = String, description = "A key with a rate limit: `\"key\";r=R;t=T`, R whole tokens left, T seconds until the next one (absent while the bucket is full)"),
            )),
        (status = 400, description = "`invalid_request`: an unknown, empty or repeated `scope`, or another query parameter; before any lookup, counted toward nothing", body = ErrorBody),
        (status = 401, description = "`invalid_api_key`: missing, malformed, unknown, deleted, disabled, expired or retired (one answer for all)", body = ErrorBody),
        (status = 403, description = "`address_not_allowed`: a valid key from a client address outside its `allowed_cidrs`; `insufficient_scope`: a valid key without the `scope` asked for. Spends no token of its rate limit", body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many failures from this address (Retry-After only), or the key over its own rate limit (with RateLimit-Policy and RateLimit, whose t equals Retry-After)", body = ErrorBody,
            headers(
                ("Retry-After" = u64, description = "Seconds until verifications are accepted again"),
                ("RateLimit-Policy" = String, description = "The key's own limit only"),
                ("RateLimit" = String, description = "The key's own limit only"),
            )),
        (status = 503, description = "`unavailable`: this replica cannot confirm any key now (its database link or lease is lost); see Retry-After. Never for a malformed key", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds before trying again"))),
    ))]
pub async fn verify(
    State(state): State<SharedState>,
    Peer(peer): Peer,
    // The request itself rather than `HeaderMap`, which would clone every header.
    req: Request,
) -> Response {
    match verify_from_memory(&state, peer, req.headers(), req.uri().query()) {
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
    scope: Option<Scope>,
}

/// `/v1/verify` as far as memory can answer it, without waiting: the answer, or a [`Miss`]
/// to look up. The router answers GET and HEAD of `/v1/verify` through this before routing
/// (docs/performance.md). The checks run in the order of docs/api.md, Verify: the address's
/// failure limit, the `scope` asked for, the key, its networks, its scopes, its rate limit.
pub fn verify_from_memory(
    state: &SharedState,
    peer: IpAddr,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Response, Miss> {
    let now = Instant::now();
    if let Err(e) = state.check_failure_limit(peer, now) {
        return Ok(e.into_response());
    }
    // A malformed question is the caller's mistake whatever the key: no lookup, no count.
    let scope = match requested_scope(query) {
        Ok(scope) => scope,
        Err(e) => return Ok(e.into_response()),
    };
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
            let ask = Ask {
                at,
                now,
                from: peer,
                scope,
            };
            match state.index.with(&digest, |e| verdict(state, e, &ask)) {
                Some(found) => Some(found),
                None if state.replica.is_shared() => {
                    return Err(Miss {
                        digest,
                        peer,
                        now,
                        at,
                        scope,
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
        scope,
    } = miss;
    let ask = Ask {
        at,
        now,
        from: peer,
        scope,
    };
    let answer = match look_up_miss(&state, digest).await {
        Ok(e) => e.map(|e| verdict(&state, &e, &ask)),
        Err(e) => return e.into_response(),
    };
    answered(&state, answer, peer, now)
}

/// The `scope` of `/v1/verify?scope=NAME`, read without allocating: none, or one known scope.
/// An unknown, empty or repeated `scope`, or any other parameter, is 400 `invalid_request`
/// (docs/api.md, Verify). Empty pieces (`?`, a trailing `&`) are no parameter. The value is
/// compared as sent: scope names need no percent-encoding.
fn requested_scope(query: Option<&str>) -> Result<Option<Scope>, ApiError> {
    let mut scope = None;
    for piece in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        if name != "scope" {
            return Err(ApiError::invalid(
                "/v1/verify takes one query parameter, scope=query, ingest or manage",
            ));
        }
        let Some(s) = Scope::parse(value) else {
            return Err(ApiError::invalid(
                "scope must be one of query, ingest or manage",
            ));
        };
        if scope.replace(s).is_some() {
            return Err(ApiError::invalid("scope may be given only once"));
        }
    }
    Ok(scope)
}

/// The answer of a verify (`None`: no such key, a failure counted against `peer`).
fn answered(state: &AppState, answer: Option<Verdict>, peer: IpAddr, now: Instant) -> Response {
    let answer = match answer {
        Some(Verdict::Pass(pass)) => pass,
        // A key that exists but was stopped: the same 401, but the address's budget is for
        // guessing, not for a client still sending a key it was told to stop using.
        Some(Verdict::Stopped) => return ApiError::invalid_api_key().into_response(),
        Some(Verdict::Denied(e)) => return e.into_response(),
        Some(Verdict::Limited { rate, taken }) => {
            let retry = taken.reset.unwrap_or(1);
            let mut resp = ApiError {
                retry_after: Some(retry),
                ..ApiError::new(
                    ErrorCode::RateLimited,
                    format!("the API key is over its rate limit; retry in {retry} s"),
                )
            }
            .into_response();
            rate_headers(resp.headers_mut(), rate, taken);
            return resp;
        }
        None => {
            state.limiter.record_failure(peer, now);
            return ApiError::invalid_api_key().into_response();
        }
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
    if let Some((rate, taken)) = answer.rate {
        rate_headers(h, rate, taken);
    }
    resp
}

/// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-11): this
/// replica's share, the whole tokens left and, unless the bucket is full, the seconds until
/// the next one.
fn rate_headers(h: &mut HeaderMap, policy: HeaderValue, taken: Taken) {
    h.insert(RATELIMIT_POLICY, policy);
    let value = match taken.reset {
        Some(t) => format!("\"key\";r={};t={t}", taken.remaining),
        None => format!("\"key\";r={}", taken.remaining),
    };
    if let Ok(v) = HeaderValue::try_from(value) {
        h.insert(RATELIMIT, v);
    }
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

/// One verification as the key's checks see it.
struct Ask {
    /// Unix seconds (expiry, usage buckets).
    at: i64,
    /// The monotonic clock (the rate limit).
    now: Instant,
    /// The trusted client address.
    from: IpAddr,
    scope: Option<Scope>,
}

/// What a known key's checks decided.
enum Verdict {
    Pass(Pass),
    /// Disabled, expired or retired: the one uniform 401.
    Stopped,
    /// Outside its networks or scopes: 403.
    Denied(ApiError),
    /// Over its rate limit: 429 with the rate-limit headers.
    Limited {
        rate: HeaderValue,
        taken: Taken,
    },
}

/// The 200 of `/v1/verify`: the body and, as headers, the same answer for gateways.
struct Pass {
    body: Bytes,
    service: HeaderValue,
    key: HeaderValue,
    scopes: HeaderValue,
    /// `RateLimit-Policy` and what the bucket says, for a key with a rate limit.
    rate: Option<(HeaderValue, Taken)>,
}

/// Checks a known key in the order of docs/api.md (Verify): valid now, then its networks, its
/// scope, its rate limit (a 403 spends no token). Each attempt counts in the key's usage by
/// its outcome (docs/api.md, Usage by reason). Runs under the index's read lock.
fn verdict(state: &SharedState, entry: &Entry, ask: &Ask) -> Verdict {
    let &Ask {
        at,
        now,
        from,
        scope,
    } = ask;
    if !entry.valid_at(at) {
        entry.usage.record(at, Outcome::Refused, scope, from);
        return Verdict::Stopped;
    }
    let grant = &entry.grant;
    if let Some(allowed) = &grant.allowed
        && !policy::allows(allowed, from)
    {
        entry.usage.record(at, Outcome::Denied, scope, from);
        return Verdict::Denied(ApiError::new(
            ErrorCode::AddressNotAllowed,
            "the API key may not be used from this address",
        ));
    }
    if let Some(s) = scope
        && !grant.scopes.contains(s)
    {
        entry.usage.record(at, Outcome::Denied, scope, from);
        return Verdict::Denied(ApiError::new(
            ErrorCode::InsufficientScope,
            format!("the API key does not have the scope {s}"),
        ));
    }
    let rate = match (&entry.bucket, grant.rate_limit) {
        (Some(bucket), Some(limit)) => {
            // This replica's share of the limit (docs/api.md, Rate limit).
            let quota = share(limit.requests, state.replica.live_replicas());
            let taken = bucket.take(now, quota, limit.per_seconds);
            let policy_header = match &grant.rate_policy_header {
                Some(h) if quota == limit.requests => h.clone(),
                _ => rate_policy_header(quota, limit.per_seconds),
            };
            if !taken.allowed {
                entry.usage.record(at, Outcome::Limited, scope, from);
                return Verdict::Limited {
                    rate: policy_header,
                    taken,
                };
            }
            Some((policy_header, taken))
        }
        _ => None,
    };
    entry.usage.record(at, Outcome::Ok, scope, from);
    if entry.claim_touch(at) {
        state.record_use(entry, at, from);
    }
    // The `Verified` body encoded when the key entered the index, copied: a few dozen bytes
    // into this thread's allocator, where sharing the one buffer would make every core write
    // its reference count (docs/performance.md). The headers are shared all the same: a copy
    // would be two more allocations, where a clone is an atomic add.
    Verdict::Pass(Pass {
        body: Bytes::copy_from_slice(&entry.answer),
        service: entry.service_header.clone(),
        key: entry.key_header.clone(),
        scopes: grant.scopes_header.clone(),
        rate,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_is_one_known_name_or_nothing() {
        assert_eq!(requested_scope(None).unwrap(), None);
        assert_eq!(requested_scope(Some("")).unwrap(), None);
        assert_eq!(requested_scope(Some("&")).unwrap(), None);
        assert_eq!(
            requested_scope(Some("scope=query")).unwrap(),
            Some(Scope::Query)
        );
        assert_eq!(
            requested_scope(Some("scope=manage&")).unwrap(),
            Some(Scope::Manage)
        );
        for bad in [
            "scope=",
            "scope",
            "scope=admin",
            "scope=Query",
            "scope=query&scope=query",
            "scope=query&scope=ingest",
            "scope=query&key=x",
            "scopes=query",
            "scope=qu%65ry",
        ] {
            let e = requested_scope(Some(bad)).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequest, "{bad}");
        }
    }
}
