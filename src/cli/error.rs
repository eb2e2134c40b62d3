//! Exit codes, and the one place where an [`ApiError`] becomes one.

use std::fmt;

use crate::client::ApiError;
use crate::wire::ErrorCode;

pub const OK: u8 = 0;
pub const OTHER: u8 = 1;
pub const USAGE: u8 = 2;
pub const NOT_FOUND: u8 = 3;
pub const LIMIT: u8 = 4;
pub const AUTH: u8 = 5;
pub const UNREACHABLE: u8 = 6;
/// The key is not in a state that allows the change (409 `api_key_not_active`: e.g. rotating a
/// disabled or rotating key, enabling an expired key without a new expiry).
pub const NOT_ACTIVE: u8 = 7;

/// A failed command: what to tell the user in one line, and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(USAGE, message)
    }

    pub fn other(message: impl Into<String>) -> Self {
        Self::new(OTHER, message)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&one_line(&self.message))
    }
}

/// The exit code of an API failure.
pub fn exit_code(e: &ApiError) -> u8 {
    match e {
        ApiError::Api { code, .. } => match code {
            ErrorCode::ServiceNotFound | ErrorCode::ApiKeyNotFound | ErrorCode::NotFound => {
                NOT_FOUND
            }
            ErrorCode::ApiKeyLimitExceeded | ErrorCode::ServiceLimitExceeded => LIMIT,
            ErrorCode::Unauthorized | ErrorCode::Forbidden | ErrorCode::InvalidApiKey => AUTH,
            ErrorCode::InvalidRequest => USAGE,
            ErrorCode::ApiKeyNotActive => NOT_ACTIVE,
            _ => OTHER,
        },
        ApiError::Unreachable { .. } => UNREACHABLE,
        ApiError::Protocol { .. } => OTHER,
        ApiError::Config(_) => USAGE,
    }
}

impl From<ApiError> for CliError {
    fn from(e: ApiError) -> Self {
        let code = exit_code(&e);
        let message = match &e {
            ApiError::Api {
                code: ErrorCode::Unauthorized,
                message,
                ..
            } => format!(
                "{message} (unauthorized): check the admin token (--token, RAGKEYS_TOKEN or the \
                 profile's token/token_command)"
            ),
            ApiError::Api {
                code: ErrorCode::RateLimited,
                message,
                retry_after: Some(secs),
                ..
            } if message.contains("retry in") => format!("{message} (rate_limited)"),
            ApiError::Api {
                code: ErrorCode::RateLimited,
                message,
                retry_after: Some(secs),
                ..
            } => format!("{message} (rate_limited): try again in {secs} s"),
            ApiError::Unreachable { endpoint, reason } if e.is_tls() => format!(
                "the TLS connection to {endpoint} failed: {}",
                reason.trim_start_matches("TLS: ")
            ),
            _ => e.to_string(),
        };
        CliError::new(code, message)
    }
}

/// Line breaks become spaces and control or bidi characters go: the service's words are data.
pub fn one_line(s: &str) -> String {
    let spaced: String = s
        .chars()
        .map(|c| {
            if matches!(c, '\n' | '\r' | '\t') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let cleaned = crate::sanitize::clean(&spaced);
    cleaned
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: ErrorCode) -> ApiError {
        ApiError::Api {
            status: code.status(),
            code,
            message: "m".into(),
            retry_after: None,
        }
    }

    #[test]
    fn every_failure_has_its_documented_exit_code() {
        assert_eq!(exit_code(&api(ErrorCode::ServiceNotFound)), 3);
        assert_eq!(exit_code(&api(ErrorCode::ApiKeyNotFound)), 3);
        assert_eq!(exit_code(&api(ErrorCode::ApiKeyLimitExceeded)), 4);
        assert_eq!(exit_code(&api(ErrorCode::ServiceLimitExceeded)), 4);
        assert_eq!(exit_code(&api(ErrorCode::Unauthorized)), 5);
        assert_eq!(exit_code(&api(ErrorCode::Forbidden)), 5);
        assert_eq!(exit_code(&api(ErrorCode::InvalidRequest)), 2);
        assert_eq!(exit_code(&api(ErrorCode::ServiceNameTaken)), 1);
        assert_eq!(exit_code(&api(ErrorCode::ApiKeyNotActive)), 7);
        assert_eq!(exit_code(&api(ErrorCode::Internal)), 1);
        let unreachable = ApiError::Unreachable {
            endpoint: "e".into(),
            reason: "r".into(),
        };
        assert_eq!(exit_code(&unreachable), 6);
        assert_eq!(exit_code(&ApiError::Config("c".into())), 2);
        let protocol = ApiError::Protocol {
            endpoint: "e".into(),
            reason: "r".into(),
        };
        assert_eq!(exit_code(&protocol), 1);
    }

    #[test]
    fn messages_become_one_clean_line() {
        assert_eq!(one_line("a\nb\r\n\tc \u{1b}[2Jd\u{202E}"), "a b c [2Jd");
    }
}
