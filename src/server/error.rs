//! The one error type of every handler, answered in the one shape of the contract.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::store::{RETRY_AFTER_SECS, StoreError, WriteFault};
use crate::wire::{ErrorBody, ErrorCode, ErrorDetail, limits};

/// Every refusal names its code in this header too, for gateways that read only heads (nginx
/// `auth_request` cannot read a body): docs/api.md, Identity for the gateway.
pub const RAGKEYS_REFUSAL: HeaderName = HeaderName::from_static("ragkeys-refusal");

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            ErrorCode::Unauthorized,
            "a valid admin token is required: Authorization: Bearer ragadm_…",
        )
    }

    pub fn invalid_api_key() -> Self {
        Self::new(ErrorCode::InvalidApiKey, "the API key is not valid")
    }

    pub fn forbidden() -> Self {
        Self::new(
            ErrorCode::Forbidden,
            "this admin token is a viewer; the call needs a manager token",
        )
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "no such route")
    }

    pub fn service_not_found() -> Self {
        Self::new(ErrorCode::ServiceNotFound, "the service does not exist")
    }

    pub fn key_not_found() -> Self {
        Self::new(ErrorCode::ApiKeyNotFound, "the API key does not exist")
    }

    /// The body is over `limit` bytes (16 KiB on every route but GitHub's leak reports).
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            format!("the request body is larger than {limit} bytes"),
        )
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(
                ErrorCode::RateLimited,
                format!("too many failed verifications; retry in {retry_after} s"),
            )
        }
    }

    /// The database cannot be reached now: 503 `unavailable`, `Retry-After: 1` (docs/api.md,
    /// Several replicas). Its cause goes to the log, never to the client.
    pub fn unavailable() -> Self {
        ApiError {
            retry_after: Some(1),
            ..Self::new(
                ErrorCode::Unavailable,
                "the key service cannot reach its database right now; retry in 1 s",
            )
        }
    }

    /// The store cannot take writes now: 503 `unavailable` with `Retry-After`, naming the cause
    /// (never a path or the store's own words). Also `/readyz`'s answer while it lasts.
    pub fn cannot_write(fault: WriteFault) -> Self {
        ApiError {
            retry_after: Some(RETRY_AFTER_SECS),
            ..Self::new(
                ErrorCode::Unavailable,
                format!("the store cannot take writes: {fault}; retry in {RETRY_AFTER_SECS} s"),
            )
        }
    }

    /// A failure whose details go to the log (with the request id), never to the client.
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error")
    }

    /// The message a code is answered with when it has no better one, e.g. on a replay.
    pub fn from_code(code: ErrorCode, key_limit: u32) -> Self {
        match code {
            ErrorCode::ApiKeyLimitExceeded => Self::key_limit(key_limit),
            ErrorCode::ServiceNotFound => Self::service_not_found(),
            ErrorCode::ApiKeyNotFound => Self::key_not_found(),
            ErrorCode::ServiceLimitExceeded => Self::service_limit(),
            ErrorCode::Forbidden => Self::forbidden(),
            _ => Self::new(code, code.as_str().replace('_', " ")),
        }
    }

    pub fn key_limit(key_limit: u32) -> Self {
        Self::new(
            ErrorCode::ApiKeyLimitExceeded,
            format!(
                "You can issue up to {key_limit} API Keys. Delete an existing API Key and try again."
            ),
        )
    }

    pub fn service_limit() -> Self {
        Self::new(
            ErrorCode::ServiceLimitExceeded,
            format!(
                "You can create up to {} services. Delete a service and try again.",
                limits::MAX_SERVICES
            ),
        )
    }

    pub fn name_taken() -> Self {
        Self::new(
            ErrorCode::ServiceNameTaken,
            "a service with this name already exists",
        )
    }

    /// Maps a store outcome; real failures are logged here and answered as `internal`.
    pub fn from_store(e: StoreError, key_limit: u32) -> Self {
        match e {
            StoreError::ServiceNotFound => Self::service_not_found(),
            StoreError::KeyNotFound => Self::key_not_found(),
            StoreError::KeyLimit => Self::key_limit(key_limit),
            StoreError::KeyNotActive(why) => Self::new(ErrorCode::ApiKeyNotActive, why),
            StoreError::ServiceLimit => Self::service_limit(),
            StoreError::NameTaken => Self::name_taken(),
            StoreError::TokenNotFound => Self::unauthorized(),
            StoreError::IdempotencyTaken => Self::new(
                ErrorCode::IdempotencyInProgress,
                "a request with this Idempotency-Key is still running; retry shortly",
            ),
            StoreError::Unavailable(_) => {
                super::metrics::store_error();
                tracing::warn!(error = %e, "database unavailable");
                Self::unavailable()
            }
            // Logged once by the store when it began, not once per request.
            StoreError::CannotWrite { fault, .. } => {
                super::metrics::store_error();
                Self::cannot_write(fault)
            }
            StoreError::Closed | StoreError::Failed(_) => {
                super::metrics::store_error();
                tracing::error!(error = %e, "storage failure");
                Self::internal()
            }
        }
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn body(&self) -> Vec<u8> {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
            },
        };
        serde_json::to_vec(&body).unwrap_or_else(|_| {
            br#"{"error":{"code":"internal","message":"internal error"}}"#.to_vec()
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status(), self.body()).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(
            RAGKEYS_REFUSAL,
            HeaderValue::from_static(self.code.as_str()),
        );
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.code.status() == 401 {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_message_matches_the_contract() {
        let e = ApiError::key_limit(5);
        assert_eq!(e.status(), StatusCode::CONFLICT);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&e.body()).unwrap(),
            serde_json::json!({"error":{"code":"api_key_limit_exceeded","message":"You can issue up to 5 API Keys. Delete an existing API Key and try again."}})
        );
    }

    #[test]
    fn an_unreachable_database_is_503_with_retry_after_never_500() {
        let e = ApiError::from_store(StoreError::Unavailable("connection refused".into()), 5);
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.code.as_str(), "unavailable");
        assert_eq!(e.retry_after, Some(1));
        assert!(!e.message.contains("refused"));
        let resp = e.into_response();
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
        assert_eq!(resp.headers()[RAGKEYS_REFUSAL], "unavailable");
    }

    #[test]
    fn a_store_that_cannot_write_is_503_with_retry_after_naming_the_cause() {
        let e = ApiError::from_store(
            StoreError::CannotWrite {
                fault: WriteFault::DiskFull,
                detail: "database or disk is full at /secret".into(),
            },
            5,
        );
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.code.as_str(), "unavailable");
        assert!(e.message.contains("cannot take writes: disk full"));
        assert!(!e.message.contains("secret"));
        let resp = e.into_response();
        assert_eq!(resp.headers()[header::RETRY_AFTER], "5");
    }

    #[test]
    fn failures_never_carry_details() {
        let e = ApiError::from_store(StoreError::Failed("disk I/O error at /secret".into()), 5);
        assert_eq!(e.code, ErrorCode::Internal);
        assert!(!e.message.contains("disk"));
    }
}
