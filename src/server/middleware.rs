//! What wraps every route: the request id and its log line, a panic turned into a 500, and the
//! 16 KiB body limit enforced before anything parses the body.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::header::{CONNECTION, CONTENT_LENGTH};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::{FutureExt, StreamExt};
use rand::Rng;
use tracing::Instrument;

use super::error::ApiError;
use crate::wire::limits::MAX_BODY_BYTES;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
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
        && !String::from_utf8_lossy(b).contains("ragk_")
        && !String::from_utf8_lossy(b).contains("ragadm_")
}

fn new_request_id() -> HeaderValue {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let id: String = (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// Outermost: gives the request an id, logs one line when it is answered (route template,
/// never the raw path, headers or body), and puts the id on the response.
pub async fn request_context(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(X_REQUEST_ID)
        .filter(|v| sane_request_id(v))
        .cloned()
        .unwrap_or_else(new_request_id);
    req.headers_mut().insert(X_REQUEST_ID, id.clone());
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "(no route)".to_owned());
    let span = tracing::info_span!("request", id = %String::from_utf8_lossy(id.as_bytes()));
    let start = Instant::now();
    let mut resp = next.run(req).instrument(span.clone()).await;
    resp.headers_mut().insert(X_REQUEST_ID, id);
    let status = resp.status().as_u16();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(%method, %route, status, ms, "request failed");
        } else {
            tracing::debug!(%method, %route, status, ms, "request");
        }
    });
    resp
}

/// A handler that panics answers 500 `internal` instead of dropping the connection.
pub async fn catch_panic(req: Request, next: Next) -> Response {
    match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(resp) => resp,
        Err(_) => {
            tracing::error!("handler panicked");
            ApiError::internal().into_response()
        }
    }
}

fn too_large(drained: bool) -> Response {
    let mut resp = ApiError::payload_too_large().into_response();
    if !drained {
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// Reads and drops the rest of an oversized body, within limits; true if it all came.
async fn drain(body: Body, already: usize) -> bool {
    let mut stream = body.into_data_stream();
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

/// Refuses bodies over 16 KiB with 413 before any parsing, whatever Content-Length claims and
/// for chunked bodies too, on every route. The checked body is handed on in one buffer.
pub async fn limit_body(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(len) = declared
        && len > MAX_BODY_BYTES as u64
    {
        let drained = len <= DRAIN_MAX as u64 && drain(body, 0).await;
        return too_large(drained);
    }
    let mut stream = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(_) => {
                return ApiError::invalid("the request body could not be read").into_response();
            }
        };
        if buf.len() + chunk.len() > MAX_BODY_BYTES {
            let seen = buf.len() + chunk.len();
            let drained = drain(Body::from_stream(stream), seen).await;
            return too_large(drained);
        }
        buf.extend_from_slice(&chunk);
    }
    next.run(Request::from_parts(parts, Body::from(buf))).await
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
    }
}
