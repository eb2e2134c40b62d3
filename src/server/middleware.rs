//! What wraps every route (see `router`): the request id (the client's if sane, else a new one,
//! on every answer), a panic turned into a 500, duplicate credentials refused, the admin token
//! checked before a body is read, the 16 KiB body limit and the 30 s body deadline, and one log
//! line per request (at debug, or at error for a 5xx, with the request id as a field).
//!
//! These stay ours because tower-http's layers cannot give the contract's shape: its body limit
//! and body timeout answer in plain text (or leave it to the extractor), do not drain an
//! oversized body so that the client can read the 413, and its timeout is per frame, not for the
//! whole body (docs/api.md, Conventions).
//! The request id is ours too: tower-http's `SetRequestId` and `PropagateRequestId` (behind a
//! scrubbing `MapRequest`) hashed `x-request-id` four times, put an extension on the request
//! and a new extension map on every response; ours reads the header once and writes it once.
//! That took verify from 31,600 to 29,000 instructions (callgrind, 7 Dec 2026; about 12 % of
//! what verify costs beyond the bare axum handler; docs/performance.md).

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::Request;
use axum::http::header::{AUTHORIZATION, CONNECTION, CONTENT_LENGTH};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use futures_util::future::CatchUnwind;
use futures_util::{FutureExt, StreamExt};
use rand::Rng;

use super::error::ApiError;
use super::extract::authenticate;
use super::state::SharedState;
use crate::wire::ErrorCode;
use crate::wire::limits::MAX_BODY_BYTES;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// A request body must have fully arrived this long after its head (docs/api.md, Conventions).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// An oversized body is read and dropped up to this size so that the client gets to read the
/// 413 (closing with unread data makes the kernel reset the connection); beyond, we just close.
const DRAIN_MAX: usize = 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// A client's request id is echoed when it is short printable ASCII and not a credential.
fn sane_request_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    (1..=128).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_graphic())
        && crate::credential::kind_of(&String::from_utf8_lossy(b)).is_none()
        && !contains(b, b"ragk_")
        && !contains(b, b"ragadm_")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn new_request_id() -> HeaderValue {
    // Crockford's base32 in lower case: 5 bits a letter from one 128-bit draw (100 bits used),
    // a shift and a mask each, where base 36 needed a division per letter.
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut bits: u128 = rand::rng().random();
    let id: [u8; 20] = std::array::from_fn(|_| {
        let c = ALPHABET[(bits & 31) as usize];
        bits >>= 5;
        c
    });
    // An owned array behind a reference count: the response header and the log line share
    // one allocation (`from_bytes` copies into a buffer that its first clone copies again).
    HeaderValue::from_maybe_shared(Bytes::from_owner(id))
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// The request's id: the client's `X-Request-Id` if we may echo it, else 20 random letters and
/// digits (lower-case base32). One we must not echo (a credential, or junk) is also dropped
/// from the request, so that nothing past here can read it.
fn request_id(headers: &mut HeaderMap) -> HeaderValue {
    match headers.get(X_REQUEST_ID) {
        Some(v) if sane_request_id(v) => return v.clone(),
        Some(_) => {
            headers.remove(X_REQUEST_ID);
        }
        None => {}
    }
    new_request_id()
}

/// A handler that panics answers 500 `internal` (its message goes nowhere: it may hold data).
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    ApiError::internal().into_response()
}

/// `Authorization` or `Idempotency-Key` sent more than once (docs/api.md, Conventions: 400).
fn repeated_credential(headers: &HeaderMap) -> Option<&'static str> {
    // No name appears twice (one value per name): nothing to look up.
    if headers.len() == headers.keys_len() {
        return None;
    }
    [
        (AUTHORIZATION, "Authorization"),
        (IDEMPOTENCY_KEY, "Idempotency-Key"),
    ]
    .into_iter()
    .find(|(name, _)| headers.get_all(name).iter().nth(1).is_some())
    .map(|(_, shown)| shown)
}

/// Routes that take an admin token: every `/v1/` route but verify and GitHub's leak reports
/// (signed instead: docs/api.md, Leaked keys).
fn admin_route(route: &str) -> bool {
    route.starts_with("/v1/")
        && route != super::paths::VERIFY
        && route != super::paths::LEAKS_GITHUB
}

/// GitHub sends up to 1 MiB of leak reports in one request (docs/api.md, Leaked keys).
pub const LEAK_REPORT_BODY_BYTES: usize = 1024 * 1024;

/// The largest body a route takes: 16 KiB, but 1 MiB for GitHub's leak reports when that route
/// is on (off, it is an unknown route and keeps the common limit).
fn body_limit(state: &SharedState, route: &str) -> usize {
    if route == super::paths::LEAKS_GITHUB && state.leak_keys.enabled() {
        LEAK_REPORT_BODY_BYTES
    } else {
        MAX_BODY_BYTES
    }
}

/// The answer to a request whose body we stop reading: the connection closes after it.
fn closing(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// Ours, around every route: gives the request its id, refuses repeated credentials, handles the body
/// (see `with_body`), catches panics, and logs one line when the request is answered (route
/// template and request id, never the raw path, headers or body). A hand-written tower service
/// rather than `from_fn`: a request without a body costs no allocation here, where `from_fn`
/// and `Next` take several (docs/performance.md).
#[derive(Clone)]
pub struct GateLayer(pub SharedState);

impl<S> tower::Layer<S> for GateLayer {
    type Service = Gate<S>;

    fn layer(&self, inner: S) -> Gate<S> {
        Gate {
            inner,
            state: self.0.clone(),
        }
    }
}

/// The service of `GateLayer`.
#[derive(Clone)]
pub struct Gate<S> {
    inner: S,
    state: SharedState,
}

impl<S> tower::Service<Request> for Gate<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GateFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let line = LogLine {
            start: Instant::now(),
            id: request_id(req.headers_mut()),
            method: req.method().clone(),
            route: super::paths::template(req.uri().path()),
        };
        if let Some(name) = repeated_credential(req.headers()) {
            let resp = ApiError::invalid(format!("the request carries {name} more than once"))
                .into_response();
            return GateFuture::Ready {
                resp: Some(line.finish(resp)),
            };
        }
        if req.body().is_end_stream() {
            // No body to gate: the handler's future itself, unboxed.
            return GateFuture::Direct {
                answer: AssertUnwindSafe(self.inner.call(req)).catch_unwind(),
                line: Some(line),
            };
        }
        // The service that was polled ready is the one to call; a clone takes its place.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        GateFuture::Boxed {
            fut: Box::pin(async move {
                let route = line.route.unwrap_or("");
                let (admin, limit) = (admin_route(route), body_limit(&state, route));
                let resp = with_body(&state, admin, limit, req, inner).await;
                line.finish(resp)
            }),
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of `Gate`: the handler's own future when there is no body to read.
    #[project = GateProj]
    pub enum GateFuture<F> {
        Direct { #[pin] answer: CatchUnwind<AssertUnwindSafe<F>>, line: Option<LogLine> },
        Boxed { fut: Pin<Box<dyn Future<Output = Response> + Send>> },
        Ready { resp: Option<Response> },
    }
}

impl<F> Future for GateFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GateProj::Direct { answer, line } => {
                let resp = match std::task::ready!(answer.poll(cx)) {
                    Ok(Ok(resp)) => resp,
                    Ok(Err(never)) => match never {},
                    Err(panic) => panic_response(panic),
                };
                match line.take() {
                    Some(line) => Poll::Ready(Ok(line.finish(resp))),
                    None => Poll::Ready(Ok(resp)),
                }
            }
            GateProj::Boxed { fut } => fut.as_mut().poll(cx).map(Ok),
            GateProj::Ready { resp } => match resp.take() {
                Some(resp) => Poll::Ready(Ok(resp)),
                None => Poll::Pending,
            },
        }
    }
}

/// What the one log line of a request says.
pub struct LogLine {
    start: Instant,
    id: HeaderValue,
    method: Method,
    /// The route template ([`super::paths::template`]); `None` for a path no route matches.
    route: Option<&'static str>,
}

impl LogLine {
    /// Logs the answer and puts the request id on it (unless a handler set one).
    fn finish(self, mut resp: Response) -> Response {
        let status = resp.status().as_u16();
        let matched = self.route;
        // Only a 429 is told apart by its head: the key's own limit carries its policy.
        let key_limited = status == 429
            && resp
                .headers()
                .contains_key(super::handlers::public::RATELIMIT_POLICY);
        super::metrics::http_request(matched, &self.method, status, key_limited, self.start);
        let route = matched.unwrap_or("(no route)");
        let id = self.id.to_str().unwrap_or("");
        let method = &self.method;
        // A 503's cause is logged once where it is known (the replica protocol losing its
        // lease, the store meeting a fault), not once per caller: an outage would flood the
        // log at the request rate.
        if status == 503 {
            tracing::debug!(request_id = id, %method, route, status, "request");
        } else if status >= 500 {
            let ms = self.start.elapsed().as_secs_f64() * 1000.0;
            tracing::error!(request_id = id, %method, route, status, ms, "request failed");
        } else {
            tracing::debug!(request_id = id, %method, route, status, "request");
        }
        resp.headers_mut().entry(X_REQUEST_ID).or_insert(self.id);
        resp
    }
}

/// A request with a body: a declared length over the route's `limit` (16 KiB but for GitHub's
/// leak reports) is 413 at once; on admin routes the token is checked before a byte of the
/// body is read (a bad one is 401 at once); the body must then arrive within 30 s (else 408
/// `request_timeout`) and within the limit (else 413, also for chunked bodies), on every route
/// before any parsing. The checked body is handed on in one buffer.
async fn with_body<S>(
    state: &SharedState,
    admin: bool,
    limit: usize,
    req: Request,
    mut inner: S,
) -> Response
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    let deadline = tokio::time::Instant::now() + BODY_TIMEOUT;
    let (mut parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(len) = declared
        && len > limit as u64
    {
        let drained = len <= DRAIN_MAX as u64 && drain(body.into_data_stream(), 0).await;
        return too_large(limit, drained);
    }
    if admin {
        match authenticate(state, &parts.headers).await {
            Ok(who) => {
                parts.extensions.insert(who);
            }
            Err(e) => return closing(e.into_response()),
        }
    }
    let mut stream = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let chunk = match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return closing(request_timeout()),
            Ok(None) => break,
            Ok(Some(Ok(c))) => c,
            Ok(Some(Err(_))) => {
                return closing(
                    ApiError::invalid("the request body could not be read").into_response(),
                );
            }
        };
        if buf.len() + chunk.len() > limit {
            let drained = drain(stream, buf.len() + chunk.len()).await;
            return too_large(limit, drained);
        }
        buf.extend_from_slice(&chunk);
    }
    caught(inner.call(Request::from_parts(parts, Body::from(buf)))).await
}

/// The handler's answer, or 500 `internal` if it panicked. tower-http's `CatchPanic` does the
/// same but boxes every response body anew (three allocations per response), which cost a
/// tenth of the bare handler's budget; `catch_unwind` on the handler's future costs none.
async fn caught<F>(answer: F) -> Response
where
    F: Future<Output = Result<Response, Infallible>>,
{
    match AssertUnwindSafe(answer).catch_unwind().await {
        Ok(Ok(resp)) => resp,
        Ok(Err(never)) => match never {},
        Err(panic) => panic_response(panic),
    }
}

fn request_timeout() -> Response {
    ApiError::new(
        ErrorCode::RequestTimeout,
        format!(
            "the request body did not arrive within {} s",
            BODY_TIMEOUT.as_secs()
        ),
    )
    .into_response()
}

fn too_large(limit: usize, drained: bool) -> Response {
    let resp = ApiError::payload_too_large(limit).into_response();
    if drained { resp } else { closing(resp) }
}

/// Reads and drops the rest of an oversized body, within limits; true if it all came.
async fn drain(mut stream: axum::body::BodyDataStream, already: usize) -> bool {
    let mut seen = already;
    let read = async {
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => {
                    seen += c.len();
                    if seen > DRAIN_MAX {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_TIME, read)
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_echoed_only_when_sane() {
        assert!(sane_request_id(&HeaderValue::from_static("abc-123")));
        assert!(!sane_request_id(&HeaderValue::from_static("a b")));
        assert!(!sane_request_id(&HeaderValue::from_static("x-ragk_123")));
        assert!(!sane_request_id(
            &HeaderValue::from_str(&"a".repeat(129)).unwrap()
        ));
        let id = new_request_id();
        assert!(sane_request_id(&id));
        assert_eq!(id.len(), 20);
    }

    #[test]
    fn repeated_credentials_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.append(AUTHORIZATION, HeaderValue::from_static("Bearer a"));
        assert_eq!(repeated_credential(&h), None);
        h.append(IDEMPOTENCY_KEY, HeaderValue::from_static("k1"));
        h.append(IDEMPOTENCY_KEY, HeaderValue::from_static("k1"));
        assert_eq!(repeated_credential(&h), Some("Idempotency-Key"));
        h.append(AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert_eq!(repeated_credential(&h), Some("Authorization"));
    }

    #[test]
    fn only_verify_and_the_public_routes_skip_the_early_token_check() {
        assert!(admin_route("/v1/services/{service_id}/api-keys"));
        assert!(admin_route("/v1/me"));
        assert!(!admin_route("/v1/verify"));
        assert!(!admin_route("/v1/leaks/github"));
        assert!(admin_route("/v1/leaks"));
        assert!(!admin_route("/healthz"));
        assert!(!admin_route("(no route)"));
    }
}
