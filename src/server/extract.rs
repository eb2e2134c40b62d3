//! What handlers take from a request: the admin behind the token, the client's address, path
//! ids and JSON bodies, each refusal already in the contract's error shape.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequestParts, Path};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{Extensions, HeaderMap, request::Parts};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::forwarded;
use super::redact::{contains_credential, redact};
use super::state::SharedState;
use crate::credential::{self, Kind};
use crate::wire::Role;

/// The address a connection came from, for rate limits and the audit trail; the serving loop
/// puts it on every request as `ConnectInfo<ClientAddr>`.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

/// The client's address (docs/api.md, The client address): the connection's peer, or behind a
/// trusted proxy the address its forwarding headers name ([`forwarded::client_address`]); the
/// one address the failure limit, the audit trail and usage see. Unspecified when the server
/// was not given connection info.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub IpAddr);

impl FromRequestParts<SharedState> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Infallible> {
        Ok(Peer(peer(&parts.extensions, &parts.headers, state)))
    }
}

/// The client's address of a request (see [`Peer`]) from its extensions and headers.
pub fn peer(extensions: &Extensions, headers: &HeaderMap, state: &SharedState) -> IpAddr {
    let peer = extensions
        .get::<ConnectInfo<ClientAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.0.ip());
    forwarded::client_address(peer, headers, &state.proxies)
}

/// The credential of `Authorization: Bearer …`, if the header has that form.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

/// The admin token's owner, checked against the store on every request so that a token created
/// or revoked by `ragkeys tokens` counts from the next request on.
#[derive(Clone, Debug)]
pub struct Admin {
    pub token_id: i64,
    pub name: String,
    pub role: Role,
}

impl Admin {
    pub fn require_manager(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Manager => Ok(()),
            // No token has the system role; were one stored, it would manage nothing.
            Role::Viewer | Role::System => Err(ApiError::forbidden()),
        }
    }
}

/// Checks `Authorization: Bearer ragadm_…` against the store: 401 `unauthorized` for a missing,
/// malformed or unknown token, or the store's failure (docs/api.md, Credentials).
pub async fn authenticate(state: &SharedState, headers: &HeaderMap) -> Result<Admin, ApiError> {
    let token = bearer(headers).ok_or_else(ApiError::unauthorized)?;
    // Format and checksum first: garbage never reaches the store.
    credential::parse(Kind::AdminToken, token).map_err(|_| ApiError::unauthorized())?;
    let digest = credential::digest(&state.pepper, token);
    match state.store.find_token(digest).await {
        Ok(Some(t)) => Ok(Admin {
            token_id: t.id,
            name: t.name,
            role: t.role,
        }),
        Ok(None) => Err(ApiError::unauthorized()),
        Err(e) => Err(ApiError::from_store(e, state.key_limit)),
    }
}

impl FromRequestParts<SharedState> for Admin {
    type Rejection = ApiError;

    /// The admin the middleware already found (it checks the token before reading a body),
    /// else the token checked now.
    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        match parts.extensions.remove::<Admin>() {
            Some(admin) => Ok(admin),
            None => authenticate(state, &parts.headers).await,
        }
    }
}

/// A GET route that reads no query parameter refuses one (400 naming it), as `/v1/audit` refuses
/// one it does not know, rather than answer as if a filter or page size had been applied
/// (docs/api.md, Conventions: unknown request fields are rejected). Only on reads, which write no
/// audit event that a refusal here would skip.
pub struct NoQuery;

impl<S: Send + Sync> FromRequestParts<S> for NoQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.uri.query() {
            None | Some("") => Ok(NoQuery),
            Some(q) => {
                let name = q.split('&').next().unwrap_or("");
                let name = name.split('=').next().unwrap_or("");
                let name: String = redact(name).chars().take(40).collect();
                Err(ApiError::invalid(format!(
                    "unknown query parameter {name:?}: this route takes none \
                     (GET /v1/audit?service_id=…&action=…&limit=…&before=… filters and pages the audit trail)"
                )))
            }
        }
    }
}

/// The query of `GET /v1/services` and `GET /v1/services/{id}`: nothing, or `include=attention`
/// for each service's `attention` count (docs/api.md, Service). Anything else is 400 naming it,
/// as [`NoQuery`] refuses.
pub struct IncludeAttention(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for IncludeAttention {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.uri.query() {
            None | Some("") => Ok(IncludeAttention(false)),
            Some("include=attention") => Ok(IncludeAttention(true)),
            Some(q) => {
                let first = q.split('&').next().unwrap_or("");
                let name = first.split('=').next().unwrap_or("");
                let name: String = redact(name).chars().take(40).collect();
                Err(ApiError::invalid(if name == "include" {
                    "include takes one value, attention: this route takes only include=attention"
                        .to_string()
                } else {
                    format!(
                        "unknown query parameter {name:?}: this route takes only include=attention"
                    )
                }))
            }
        }
    }
}

/// `{service_id}` of the path.
pub struct ServicePath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ServicePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(s)| ServicePath(s))
            .map_err(|e| ApiError::invalid(format!("invalid path: {}", e.body_text())))
    }
}

/// `{service_id}` and `{key_id}` of the path.
pub struct KeyPath(pub String, pub String);

impl<S: Send + Sync> FromRequestParts<S> for KeyPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map(|Path((s, k))| KeyPath(s, k))
            .map_err(|e| ApiError::invalid(format!("invalid path: {}", e.body_text())))
    }
}

fn is_json(headers: &HeaderMap) -> Option<bool> {
    let ct = headers.get(CONTENT_TYPE)?;
    let ct = ct.to_str().ok().unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    Some(essence.eq_ignore_ascii_case("application/json"))
}

/// Parses a (size-checked) JSON body. An empty body counts as `{}`, whatever its content type.
pub fn parse_json<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    let body = match is_json(headers) {
        _ if body.is_empty() => b"{}",
        Some(true) => body,
        _ => {
            return Err(ApiError::invalid(
                "the request body must be JSON with Content-Type: application/json",
            ));
        }
    };
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::invalid("the request body is not valid UTF-8"))?;
    // Serde would take `[]` for a struct whose fields all have defaults: only objects are bodies.
    if !text.trim_start().starts_with('{') {
        return Err(ApiError::invalid(
            "invalid JSON body: the request body must be a JSON object",
        ));
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // Serde quotes what it did not expect; that must never echo a credential back.
        if path.is_empty() || path == "." {
            ApiError::invalid(redact(&format!("invalid JSON body: {inner}")))
        } else {
            ApiError::invalid(redact(&format!("invalid JSON body: {path}: {inner}")))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))?;
    Ok(value)
}

/// `validate_text`, and no credential inside: a key pasted into a name would be kept in clear.
pub fn validate_field(field: &str, value: &str, min: usize, max: usize) -> Result<(), ApiError> {
    crate::wire::validate_text(field, value, min, max).map_err(ApiError::invalid)?;
    if contains_credential(value) {
        return Err(ApiError::invalid(format!(
            "{field} must not contain an API key or admin token"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{CreateService, IssueApiKey};
    use axum::http::HeaderValue;

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        h
    }

    #[test]
    fn bodies_are_checked_with_messages_that_name_the_problem() {
        let h = json_headers();
        let ok: CreateService = parse_json(&h, br#"{"name":"abc"}"#).unwrap();
        assert_eq!(ok.name, "abc");
        let unknown = parse_json::<CreateService>(&h, br#"{"name":"abc","x":1}"#).unwrap_err();
        assert!(
            unknown.message.contains("unknown field `x`"),
            "{}",
            unknown.message
        );
        let wrong = parse_json::<CreateService>(&h, br#"{"name":1}"#).unwrap_err();
        assert!(wrong.message.contains("name"), "{}", wrong.message);
        let missing = parse_json::<CreateService>(&h, b"{}").unwrap_err();
        assert!(
            missing.message.contains("missing field `name`"),
            "{}",
            missing.message
        );
        let utf8 = parse_json::<CreateService>(&h, b"{\"name\":\"\xff\"}").unwrap_err();
        assert!(utf8.message.contains("UTF-8"));
        let array = parse_json::<IssueApiKey>(&h, b"[]").unwrap_err();
        assert!(array.message.contains("JSON object"), "{}", array.message);
        let trailing = parse_json::<IssueApiKey>(&h, b"{} {}").unwrap_err();
        assert!(trailing.message.contains("invalid JSON"));
        let text = parse_json::<IssueApiKey>(&HeaderMap::new(), b"{}").unwrap_err();
        assert!(text.message.contains("Content-Type"));
        assert_eq!(
            parse_json::<IssueApiKey>(&HeaderMap::new(), b"").unwrap(),
            IssueApiKey::default()
        );
    }

    #[test]
    fn bearer_takes_the_scheme_in_any_case() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("bearer  ragk_x "));
        assert_eq!(bearer(&h), Some("ragk_x"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
    }
}
