//! `GET /v1/services/{service_id}/api-keys/{key_id}/narrowing` (docs/api.md, Narrowing,
//! exactly): the narrowest policy a key's observed use allows, or a candidate judged.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};

use super::reply;
use crate::narrowing;
use crate::policy::{Scope, split_list, validate_cidrs, validate_scopes};
use crate::server::error::ApiError;
use crate::server::extract::{Admin, KeyPath};
use crate::server::state::SharedState;
use crate::server::store::StoreError;
use crate::wire::{ErrorBody, Narrowing, NarrowingCandidate};

/// Reads `scopes` and `allowed_cidrs` (comma-separated; `allowed_cidrs=any` for no allowlist),
/// each checked as PATCH checks it, the message naming the parameter. No parameter at all:
/// `None`, the proposal is judged.
pub fn parse_candidate(query: Option<&str>) -> Result<Option<NarrowingCandidate>, ApiError> {
    let query = query.unwrap_or("");
    if query.is_empty() {
        return Ok(None);
    }
    let mut c = NarrowingCandidate::default();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "scopes" if c.scopes.is_some() => return Err(twice("scopes")),
            "allowed_cidrs" if c.allowed_cidrs.is_some() => return Err(twice("allowed_cidrs")),
            "scopes" => {
                let mut scopes = Vec::new();
                for s in split_list(&value) {
                    scopes.push(Scope::parse(&s).ok_or_else(|| {
                        ApiError::invalid(format!(
                            "scopes: {:?} is not a scope: use query, ingest or manage",
                            shown(&s)
                        ))
                    })?);
                }
                c.scopes = Some(validate_scopes(&scopes).map_err(ApiError::invalid)?);
            }
            "allowed_cidrs" if value.trim() == "any" => c.allowed_cidrs = Some(None),
            "allowed_cidrs" => {
                let cidrs = validate_cidrs(&split_list(&value)).map_err(ApiError::invalid)?;
                c.allowed_cidrs = Some(Some(cidrs));
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "unknown query parameter {:?}: use scopes or allowed_cidrs",
                    shown(other)
                )));
            }
        }
    }
    Ok(Some(c))
}

fn twice(name: &str) -> ApiError {
    ApiError::invalid(format!("query parameter {name} is given more than once"))
}

/// A value as an error message may quote it: printable, and short.
fn shown(s: &str) -> String {
    s.chars()
        .filter(|c| !crate::wire::is_forbidden_char(*c))
        .take(40)
        .collect()
}

/// What the key's use of the last 30 days says it needs: the scopes it was called with and the
/// networks it was called from (each within its current policy), the rate limit kept; with
/// `scopes` or `allowed_cidrs`, that candidate instead. `would_refuse_30d` bounds the successful
/// calls of the last 30 days the policy would have refused; `reasons` say what the figures
/// cannot tell.
#[utoipa::path(get, path = "/v1/services/{service_id}/api-keys/{key_id}/narrowing", operation_id = "get_api_key_narrowing", tag = "api-keys", security(("admin_token" = [])),
    params(
        ("service_id" = String, Path, description = "Id of the service (`svc_…`)"),
        ("key_id" = String, Path, description = "Id of the key (`key_…`)"),
        ("scopes" = Option<String>, Query, description = "A candidate's scopes, comma-separated (`query,ingest`); absent: the current ones"),
        ("allowed_cidrs" = Option<String>, Query, description = "A candidate's allowed networks, comma-separated, or `any` for no allowlist; absent: the current ones"),
    ),
    responses(
        (status = 200, description = "The current policy, the proposal (`null` with reason \
            `no_calls_since_recording`) or the candidate, the reasons, and an upper bound of the \
            calls of the last 30 days it would have refused (`null` when unknowable)", body = Narrowing),
        (status = 400, description = "`invalid_request`: a candidate's value PATCH would refuse, or an unknown parameter; the message names it", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`service_not_found` or `api_key_not_found`", body = ErrorBody),
    ))]
pub async fn narrowing(
    State(state): State<SharedState>,
    _admin: Admin,
    RawQuery(query): RawQuery,
    KeyPath(service_id, key_id): KeyPath,
) -> Response {
    let candidate = match parse_candidate(query.as_deref()) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    // A rotated key whose grace ended is gone here as in the list.
    state.retire_due(Some(&service_id)).await;
    let answer = judged(&state, service_id, key_id, candidate.as_ref()).await;
    reply(&state, answer)
}

async fn judged(
    state: &SharedState,
    service_id: String,
    key_id: String,
    candidate: Option<&NarrowingCandidate>,
) -> Result<Narrowing, StoreError> {
    let key = state
        .store
        .get_key(service_id.clone(), key_id.clone())
        .await?
        .ok_or(StoreError::KeyNotFound)?;
    let usage = state
        .usage
        .read(&*state.store, &state.index, service_id, key_id)
        .await?;
    Ok(narrowing::judge(
        &key.policy,
        &usage,
        state.usage.now(),
        candidate,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candidate_is_checked_as_patch_checks_it() {
        assert_eq!(parse_candidate(None).unwrap(), None);
        assert_eq!(parse_candidate(Some("")).unwrap(), None);
        let c = parse_candidate(Some(
            "scopes=ingest,query&allowed_cidrs=10.0.4.17,10.0.0.0/8",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(c.scopes, Some(vec![Scope::Query, Scope::Ingest]));
        assert_eq!(
            c.allowed_cidrs,
            Some(Some(vec!["10.0.4.17/32".into(), "10.0.0.0/8".into()]))
        );
        let c = parse_candidate(Some("allowed_cidrs=any")).unwrap().unwrap();
        assert_eq!((c.scopes, c.allowed_cidrs), (None, Some(None)));
        let c = NarrowingCandidate {
            scopes: Some(vec![Scope::Manage]),
            allowed_cidrs: Some(Some(vec!["2001:db8::/32".into()])),
        };
        assert_eq!(parse_candidate(Some(&c.query())).unwrap(), Some(c));
        for (bad, names) in [
            ("scopes=", "scopes"),
            ("scopes=read", "scopes"),
            ("scopes=query,query", "scopes"),
            ("allowed_cidrs=", "allowed_cidrs"),
            ("allowed_cidrs=10.0.4.17/24", "allowed_cidrs"),
            ("allowed_cidrs=example.com", "allowed_cidrs"),
            ("scopes=query&scopes=ingest", "scopes"),
            ("rate=5/s", "rate"),
        ] {
            let e = parse_candidate(Some(bad)).unwrap_err();
            assert!(e.message.contains(names), "{bad}: {}", e.message);
        }
        let many = (1..=17)
            .map(|i| format!("10.0.{i}.0/24"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(parse_candidate(Some(&format!("allowed_cidrs={many}"))).is_err());
    }
}
