//! `GET /v1/audit`: the whole audit trail, every service including deleted ones, in pages
//! (docs/api.md, Endpoints).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::json;
use crate::server::error::ApiError;
use crate::server::extract::Admin;
use crate::server::state::SharedState;
use crate::server::store::AuditQuery;
use crate::wire::{AuditAction, AuditPage, ErrorBody, limits};

/// Reads the query string: `service_id`, `action`, `limit` (1–500, default 100), `before`
/// (a `next` cursor) and `order` (`newest`, the default, or `oldest`). Anything else, a repeated or an empty parameter is `invalid_request`
/// with a message naming it.
pub fn parse_query(query: Option<&str>) -> Result<AuditQuery, ApiError> {
    let mut q = AuditQuery {
        limit: limits::AUDIT_PAGE_DEFAULT,
        ..AuditQuery::default()
    };
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let name = name.into_owned();
        if seen.contains(&name) {
            return Err(ApiError::invalid(format!(
                "query parameter {} is given more than once",
                shown(&name)
            )));
        }
        match name.as_str() {
            "service_id" | "action" | "limit" | "before" | "order" if value.is_empty() => {
                return Err(ApiError::invalid(format!(
                    "query parameter {name} must not be empty"
                )));
            }
            "service_id" => q.service_id = Some(value.into_owned()),
            "action" => {
                q.action = Some(AuditAction::parse(&value).ok_or_else(|| {
                    ApiError::invalid(format!(
                        "action must be one of {}",
                        action_names().join(", ")
                    ))
                })?)
            }
            "limit" => {
                q.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=limits::AUDIT_PAGE_MAX).contains(n))
                    .ok_or_else(|| {
                        ApiError::invalid(format!(
                            "limit must be a whole number from 1 to {}",
                            limits::AUDIT_PAGE_MAX
                        ))
                    })?
            }
            "before" => q.before = Some(parse_cursor(&value)?),
            "order" => {
                q.oldest_first = match value.as_ref() {
                    "newest" => false,
                    "oldest" => true,
                    _ => return Err(ApiError::invalid("order must be newest or oldest")),
                }
            }
            _ => {
                return Err(ApiError::invalid(format!(
                    "unknown query parameter {}: use service_id, action, limit, before or order",
                    shown(&name)
                )));
            }
        }
        seen.push(name);
    }
    Ok(q)
}

/// A name the client sent, short and printable in a message.
fn shown(name: &str) -> String {
    let s: String = name
        .chars()
        .filter(|c| !crate::wire::is_forbidden_char(*c))
        .take(40)
        .collect();
    format!("{s:?}")
}

fn action_names() -> Vec<&'static str> {
    AuditAction::ALL.map(AuditAction::as_str).to_vec()
}

/// The cursor is the id of the last event of the previous page: ids only grow, so a page never
/// repeats or skips an event while new ones arrive. Opaque to clients, who pass it back as is;
/// the page's `order` says on which side of it the next page lies.
fn cursor(id: i64) -> String {
    format!("e{id}")
}

fn parse_cursor(s: &str) -> Result<i64, ApiError> {
    s.strip_prefix('e')
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::invalid("before must be the `next` value of a previous page, unchanged")
        })
}

/// The audit trail of every service, deleted ones included, newest (or oldest) first, in pages.
#[utoipa::path(get, path = "/v1/audit", operation_id = "list_all_audit_events", tag = "audit", security(("admin_token" = [])),
    params(
        ("service_id" = Option<String>, Query, description = "Only this service's events (also a deleted service's)"),
        ("action" = Option<AuditAction>, Query, description = "Only events of this action; an unknown name is 400"),
        ("limit" = Option<u32>, Query, description = "Events per page, 1 to 500 (default 100)"),
        ("before" = Option<String>, Query, description = "The `next` of the previous page: the events past its last, in the same order"),
        ("order" = Option<String>, Query, description = "`newest` (the default) or `oldest`: oldest first"),
    ),
    responses(
        (status = 200, description = "One page, newest first (oldest first with `order=oldest`); `next` is null on the last page. Never a secret", body = AuditPage),
        (status = 400, description = "`invalid_request`: unknown or repeated parameter, unknown action, limit out of range, bad cursor, unknown order", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<SharedState>,
    _admin: Admin,
    RawQuery(query): RawQuery,
) -> Response {
    let q = match parse_query(query.as_deref()) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    state.retire_due(None).await;
    let limit = q.limit as usize;
    // One more than asked: whether an older page exists, without a second query.
    let page = state
        .store
        .list_audit_page(AuditQuery {
            limit: q.limit + 1,
            ..q
        })
        .await;
    match page {
        Ok(mut rows) => {
            let next = if rows.len() > limit {
                rows.truncate(limit);
                rows.last().map(|r| cursor(r.id))
            } else {
                None
            };
            let events = rows.into_iter().map(|r| r.event).collect();
            json(StatusCode::OK, &AuditPage { events, next })
        }
        Err(e) => ApiError::from_store(e, state.key_limit).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_checked_with_messages_that_name_the_problem() {
        let q = parse_query(None).unwrap();
        assert_eq!((q.limit, q.before, q.action), (100, None, None));
        assert!(!q.oldest_first);
        assert!(parse_query(Some("order=oldest")).unwrap().oldest_first);
        assert!(!parse_query(Some("order=newest")).unwrap().oldest_first);
        let q = parse_query(Some(
            "service_id=svc_1&action=api_key.whois&limit=500&before=e42",
        ))
        .unwrap();
        assert_eq!(q.service_id.as_deref(), Some("svc_1"));
        assert_eq!(q.action, Some(AuditAction::ApiKeyWhois));
        assert_eq!((q.limit, q.before), (500, Some(42)));
        for (bad, says) in [
            ("limit=0", "limit must be"),
            ("limit=501", "limit must be"),
            ("limit=abc", "limit must be"),
            ("limit=-1", "limit must be"),
            ("action=api_key.explode", "action must be one of"),
            ("before=42", "before must be"),
            ("before=e", "before must be"),
            ("before=e-1", "before must be"),
            ("before=e99999999999999999999", "before must be"),
            ("limit=5&limit=6", "more than once"),
            ("colour=red", "unknown query parameter"),
            ("service_id=", "must not be empty"),
            ("order=", "must not be empty"),
            ("order=OLDEST", "order must be newest or oldest"),
            ("order=asc", "order must be newest or oldest"),
        ] {
            let e = parse_query(Some(bad)).unwrap_err();
            assert!(e.message.contains(says), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn a_cursor_reads_back_as_its_id() {
        assert_eq!(parse_cursor(&cursor(7)).unwrap(), 7);
    }
}
