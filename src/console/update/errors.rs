//! What the service's error codes mean to the person at the console, in the page's words where
//! the page has them, and what to do next.

use crate::client::ApiError;
use crate::console::model::Model;
use crate::sanitize::clean;
use crate::wire::ErrorCode;

/// The message for an error, localized; the service's own words only where nothing better is
/// known (always cleaned of control characters).
pub fn message(m: &Model, e: &ApiError) -> String {
    let tr = m.tr;
    match e {
        // A refused certificate or handshake: the service is up, retrying meets the same.
        ApiError::Unreachable { endpoint, reason } if e.is_tls() => tr.f(
            "error.tls",
            &[
                ("endpoint", &clean(endpoint)),
                ("reason", &clean(reason.trim_start_matches("TLS: "))),
            ],
        ),
        ApiError::Unreachable { endpoint, reason } => tr.f(
            "error.unreachable",
            &[("endpoint", &clean(endpoint)), ("reason", &clean(reason))],
        ),
        ApiError::Protocol { endpoint, reason } => tr.f(
            "error.protocol",
            &[("endpoint", &clean(endpoint)), ("reason", &clean(reason))],
        ),
        ApiError::Config(msg) => clean(msg).into_owned(),
        ApiError::Api {
            code,
            message,
            retry_after,
            ..
        } => {
            let message = clean(message);
            match code {
                ErrorCode::ApiKeyLimitExceeded => tr.t("keys.limit_note").to_string(),
                ErrorCode::Unauthorized
                | ErrorCode::InvalidApiKey
                | ErrorCode::InvalidSignature => tr.t("error.unauthorized").to_string(),
                ErrorCode::Forbidden => tr.t("error.forbidden").to_string(),
                ErrorCode::ServiceLimitExceeded => tr.t("error.service_limit").to_string(),
                ErrorCode::ServiceNameTaken => tr.t("error.name_taken").to_string(),
                ErrorCode::ServiceNotFound => tr.t("error.service_not_found").to_string(),
                ErrorCode::ApiKeyNotFound => tr.t("error.key_not_found").to_string(),
                ErrorCode::NotFound => tr.f("error.not_found", &[("message", &message)]),
                ErrorCode::IdempotencyInProgress => tr.t("error.in_progress").to_string(),
                ErrorCode::IdempotencySecretUnavailable => match orphan_key_id(&message) {
                    Some(id) => tr.f("error.orphan", &[("key_id", &id)]),
                    None => tr.f("error.orphan_unknown", &[("message", &message)]),
                },
                ErrorCode::IdempotencyKeyReused => tr.t("error.reused").to_string(),
                ErrorCode::PayloadTooLarge => tr.t("error.too_large").to_string(),
                ErrorCode::RateLimited => match retry_after {
                    Some(secs) => tr.f("error.rate_limited", &[("secs", secs)]),
                    None => tr.t("error.rate_limited_soon").to_string(),
                },
                ErrorCode::Internal => tr.t("error.internal").to_string(),
                ErrorCode::InvalidRequest => tr.f("error.invalid", &[("message", &message)]),
                // 409 on a key that is not active (docs/api.md, Key lifecycle), in the console's
                // words; a rotation says it more precisely (popups::rotate::on_rotated).
                ErrorCode::ApiKeyNotActive => tr.t("error.not_active").to_string(),
                // The console sends whole bodies at once; a 408 is shown with its code, as is
                // a 503 `unavailable` (the service's database is down; retryable below).
                // Codes of /v1/verify only: an admin call never gets them.
                ErrorCode::RequestTimeout
                | ErrorCode::Unavailable
                | ErrorCode::InsufficientScope
                | ErrorCode::AddressNotAllowed
                | ErrorCode::Unknown => tr.f(
                    "error.unknown",
                    &[("message", &message), ("code", &code.as_str())],
                ),
            }
        }
    }
}

/// The popup title for an error.
pub fn title(m: &Model, e: &ApiError) -> String {
    let key = match e {
        ApiError::Unreachable { .. } => "error.connection_title",
        ApiError::Api { code, .. } => match code {
            ErrorCode::ApiKeyLimitExceeded | ErrorCode::ServiceLimitExceeded => "error.limit_title",
            ErrorCode::Unauthorized | ErrorCode::InvalidApiKey | ErrorCode::Forbidden => {
                "error.access_title"
            }
            ErrorCode::IdempotencySecretUnavailable => "error.orphan_title",
            _ => "error.title",
        },
        _ => "error.title",
    };
    m.tr.t(key).to_string()
}

/// Errors after which sending the same request again is the right move.
pub fn retryable(e: &ApiError) -> bool {
    e.is_unreachable()
        || matches!(
            e.code(),
            Some(
                ErrorCode::IdempotencyInProgress
                    | ErrorCode::RateLimited
                    | ErrorCode::Internal
                    | ErrorCode::Unavailable
            )
        )
}

/// The id of the key an unavailable replay refers to: the first `key_…` word of the message.
pub fn orphan_key_id(message: &str) -> Option<String> {
    message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .find(|w| w.starts_with("key_") && w.len() > 4 && *w != "key_id")
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_orphan_key_id_is_found_in_the_message() {
        assert_eq!(
            orphan_key_id("the key key_8fK2a was issued but can no longer be shown"),
            Some("key_8fK2a".to_string())
        );
        assert_eq!(
            orphan_key_id("key_id: key_abc-1."),
            Some("key_abc-1".to_string())
        );
        assert_eq!(orphan_key_id("nothing here"), None);
    }
}
