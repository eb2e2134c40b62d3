//! `POST /v1/leaks/github` (GitHub's secret scanning partner program, signed) and `POST
//! /v1/leaks` (an admin's report): a leaked key stops at once, with the guarantee of a disable
//! (docs/api.md, Leaked keys).

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

use super::keys::to_wire;
use super::{Actor, Attempt, detached, json};
use crate::credential::{self, Digest, Kind};
use crate::server::error::ApiError;
use crate::server::extract::{Admin, Peer, parse_json};
use crate::server::state::{AppState, SharedState};
use crate::server::store::{LeakOutcome, LeakRecord, LeakReport, StoreResult};
use crate::wire::{
    AuditAction, AuditEvent, ErrorBody, ErrorCode, GithubLeak, LeakAnswer, LeakFeedback, LeakLabel,
    LeakRequest, Role, Timestamp,
};

/// Names the key GitHub signed the report with.
pub const KEY_IDENTIFIER: &str = "github-public-key-identifier";
/// Base64 of the ASN.1 DER ECDSA P-256 / SHA-256 signature of the raw body.
pub const KEY_SIGNATURE: &str = "github-public-key-signature";
/// The actor of GitHub's reports in the audit trail and in `leak.by`.
pub const GITHUB: &str = "github";

fn invalid_signature() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidSignature,
        "the report is not signed by a key of --leak-report-keys \
         (Github-Public-Key-Identifier, Github-Public-Key-Signature)",
    )
}

/// The one answer for an unknown, malformed or deleted key, as whois gives it.
fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::ApiKeyNotFound,
        "no API key matches (unknown, malformed or deleted keys get this same answer)",
    )
}

/// Lowercase hex SHA-256 of the token as sent: how GitHub matches our feedback to its finding.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `api_key.leak` event the store writes per key changed (it fills in the key, its mask,
/// service, `url` and `source`).
fn leak_event(actor: &str, role: Role, remote_addr: String) -> AuditEvent {
    AuditEvent {
        at: Timestamp::now(),
        actor: actor.to_owned(),
        role,
        action: AuditAction::ApiKeyLeak,
        service_id: String::new(),
        key_id: None,
        masked: None,
        remote_addr,
        outcome: "ok".to_owned(),
        changes: None,
        url: None,
        source: None,
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// The longest `url` kept of a report, in characters (docs/api.md, Leaked keys): an admin's
/// longer one is refused; GitHub's is cut, since a signed report is never refused for it.
pub const URL_MAX: usize = 2048;
/// The longest `source` kept of GitHub's report, in characters (theirs are short words).
const SOURCE_MAX: usize = 64;

/// GitHub's text as kept: control and bidi characters dropped (they reach terminals, audit
/// readers and webhooks), cut to `max` characters, `None` when nothing is left.
fn cleaned(s: &str, max: usize) -> Option<String> {
    let kept: String = s
        .chars()
        .filter(|c| !crate::wire::is_forbidden_char(*c))
        .take(max)
        .collect();
    non_empty(&kept)
}

/// Records the reports in one store call and makes the verify index follow every key it
/// stopped, with the guarantee of a disable: once this returns, no replica lets them verify.
async fn report(
    state: &AppState,
    reports: Vec<LeakReport>,
    audit: AuditEvent,
    by_github: bool,
) -> StoreResult<Vec<LeakOutcome>> {
    if reports.is_empty() {
        return Ok(Vec::new());
    }
    // Rotated keys whose grace has ended leave first: a report of one finds its tombstone.
    state.retire_due(None).await;
    let digests: Vec<Digest> = reports.iter().map(|r| r.digest).collect();
    let now = Timestamp::now().unix();
    let outcomes = {
        let _gate = state.write_gate.lock().await;
        let r = state.store.report_leaks(reports, audit, now).await;
        if let Ok(outcomes) = &r {
            let mut changed = Vec::new();
            let mut gone = Vec::new();
            let mut stopped = Vec::new();
            for (digest, outcome) in digests.iter().zip(outcomes) {
                match outcome {
                    LeakOutcome::Disabled(k) | LeakOutcome::Marked(k) => {
                        changed.push(*digest);
                        stopped.push((*digest, k.key.valid_until()));
                    }
                    LeakOutcome::Retired(_) => {
                        changed.push(*digest);
                        gone.push(*digest);
                    }
                    LeakOutcome::Gone(_) | LeakOutcome::Unchanged(_) => {}
                }
            }
            if !changed.is_empty() {
                state
                    .follow(&changed, |index| {
                        for (digest, until) in &stopped {
                            index.set_valid_until(digest, *until);
                        }
                        index.retire(&gone);
                    })
                    .await;
            }
        }
        r
    };
    if let Ok(outcomes) = &outcomes {
        let mut recorded = 0;
        for o in outcomes {
            if let LeakOutcome::Disabled(k) | LeakOutcome::Retired(k) | LeakOutcome::Marked(k) = o {
                recorded += 1;
                // A replay never hands out a key that was stopped.
                state
                    .idempotency
                    .forget_keys(&k.key.service_id, Some(&k.key.id));
            }
        }
        crate::server::metrics::leaks_recorded(by_github, recorded);
    }
    outcomes
}

/// The feedback label of one outcome: a key that exists or has a tombstone is ours.
fn label_of(outcome: &LeakOutcome) -> LeakLabel {
    match outcome {
        LeakOutcome::Gone(None) => LeakLabel::FalsePositive,
        _ => LeakLabel::TruePositive,
    }
}

/// The entries of a report, read leniently; anything but an array of objects is refused.
fn parse_report(body: &[u8]) -> Result<Vec<GithubLeak>, ApiError> {
    let refuse = || ApiError::invalid("the body must be a JSON array of objects");
    let values: Vec<serde_json::Value> = serde_json::from_slice(body).map_err(|_| refuse())?;
    values
        .into_iter()
        .map(|v| {
            if !v.is_object() {
                return Err(refuse());
            }
            // Lenient: a member of an unexpected type reads as absent rather than refusing
            // the whole batch.
            let text = |name: &str| {
                v.get(name)
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            Ok(GithubLeak {
                token: text("token").into(),
                token_type: text("type"),
                url: text("url"),
                source: text("source"),
            })
        })
        .collect()
}

/// Takes a signed report of GitHub's secret scanning (no admin token: GitHub calls it).
#[utoipa::path(post, path = "/v1/leaks/github", operation_id = "report_leaks_github", tag = "leaks",
    params(
        ("Github-Public-Key-Identifier" = String, Header, description = "The `key_identifier` of the key in `--leak-report-keys` that signed the body"),
        ("Github-Public-Key-Signature" = String, Header, description = "Base64 of the ASN.1 DER ECDSA P-256 / SHA-256 signature of the raw body"),
    ),
    request_body(content = Vec<GithubLeak>, content_type = "application/json",
        description = "GitHub's secret scanning partner program request: `[{\"token\",\"type\",\"url\",\"source\"}]`, \
            up to 1 MiB; unknown members are ignored. Only served with `serve --leak-report-keys` (else 404 as an unknown route). \
            Each `ragk_` key whose checksum holds and that is active is disabled at once with the guarantee of a disable \
            (a rotating one is retired), with `leak` set and an `api_key.leak` audit event (actor `github`, role `system`); \
            one already stopped gets `leak` set and keeps its state. A key already reported and not active changes nothing. \
            Nothing here counts toward any failure limit."),
    responses(
        (status = 200, description = "The feedback array, one entry per reported token in order: `true_positive` for a key that exists \
            or was deleted or retired within 400 days, else `false_positive`", body = Vec<LeakFeedback>),
        (status = 400, description = "`invalid_request`: the body is not a JSON array of objects", body = ErrorBody),
        (status = 401, description = "`invalid_signature`: a missing header, an unknown key identifier or a bad signature; nothing was read or changed", body = ErrorBody),
        (status = 404, description = "`not_found`: the service runs without `--leak-report-keys`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over 1 MiB", body = ErrorBody),
    ))]
pub async fn github(
    State(state): State<SharedState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(keys) = state.leak_keys.get() else {
        return ApiError::not_found().into_response();
    };
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = match (header(KEY_IDENTIFIER), header(KEY_SIGNATURE)) {
        (Some(id), Some(sig)) => keys.verify(id, sig, &body),
        _ => false,
    };
    if !signed {
        return invalid_signature().into_response();
    }
    let entries = match parse_report(&body) {
        Ok(e) => e,
        Err(e) => return e.into_response(),
    };
    // Detached: a report GitHub gave up waiting for still leaves every key it stopped audited
    // and followed by the index.
    detached(async move {
        let at = Timestamp::now().unix();
        let mut feedback = Vec::with_capacity(entries.len());
        let mut reports = Vec::new();
        // Which entry each report answers; the others are not ours.
        let mut reported = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let token = e.token.expose();
            feedback.push(LeakFeedback {
                token_hash: token_hash(token),
                token_type: e.token_type.clone(),
                label: LeakLabel::FalsePositive,
            });
            if credential::parse(Kind::ApiKey, token).is_ok() {
                reports.push(LeakReport {
                    digest: credential::digest(&state.pepper, token),
                    leak: LeakRecord {
                        reported_at: at,
                        by: GITHUB.to_owned(),
                        url: cleaned(&e.url, URL_MAX),
                        source: cleaned(&e.source, SOURCE_MAX),
                    },
                });
                reported.push(i);
            }
        }
        drop(entries);
        let audit = leak_event(GITHUB, Role::System, peer.to_string());
        match report(&state, reports, audit, true).await {
            Ok(outcomes) => {
                for (i, o) in reported.into_iter().zip(&outcomes) {
                    feedback[i].label = label_of(o);
                }
                json(StatusCode::OK, &feedback)
            }
            Err(e) => ApiError::from_store(e, state.key_limit).into_response(),
        }
    })
    .await
}

/// Reports a key an admin found where it should not be (manager).
#[utoipa::path(post, path = "/v1/leaks", operation_id = "report_leak", tag = "leaks", security(("admin_token" = [])),
    request_body(content = LeakRequest, content_type = "application/json",
        description = "`{\"key\":\"ragk_…\",\"url\":\"…\"}` (`url` optional): the plaintext key found somewhere. \
            An active key is disabled at once with the guarantee of a disable (a rotating one is retired), with `leak` set \
            (`by` the token's name) and an `api_key.leak` audit event; one already stopped gets `leak` set and keeps its state."),
    responses(
        (status = 200, description = "The key afterwards, with its `leak` set", body = LeakAnswer),
        (status = 400, description = "`invalid_request`: malformed JSON, unknown field, no `key`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer token", body = ErrorBody),
        (status = 404, description = "`api_key_not_found`: unknown, malformed or deleted (one answer for all); counts toward the per-address failure limit", body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many failed lookups or verifications from this address; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until lookups are accepted again"))),
    ))]
pub async fn admin_report(
    State(state): State<SharedState>,
    admin: Admin,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    detached(async move {
        let actor = Actor::new(admin, peer);
        let what = Attempt {
            action: AuditAction::ApiKeyLeak,
            service_id: "",
            key_id: None,
        };
        if let Err(e) = actor.admin.require_manager() {
            return actor.refuse(&state, what, e, None).await;
        }
        let now = Instant::now();
        // The budget of verify and whois: failed lookups of every kind share one.
        if let Err(e) = state.check_failure_limit(peer, now) {
            return e.into_response();
        }
        let req: LeakRequest = match parse_json(&headers, &body) {
            Ok(r) => r,
            Err(e) => return e.into_response(),
        };
        if let Some(Err(e)) = req
            .url
            .as_deref()
            .map(|url| crate::wire::validate_text("url", url, 0, URL_MAX))
        {
            return ApiError::invalid(e).into_response();
        }
        let key = req.key.expose();
        let url = req.url.as_deref().and_then(non_empty);
        let masked = credential::mask(key);
        if credential::parse(Kind::ApiKey, key).is_err() {
            state.limiter.record_failure(peer, now);
            return not_found().into_response();
        }
        let at = Timestamp::now().unix();
        let report_of = LeakReport {
            digest: credential::digest(&state.pepper, key),
            leak: LeakRecord {
                reported_at: at,
                by: actor.admin.name.clone(),
                url: url.clone(),
                source: None,
            },
        };
        let audit = leak_event(
            &actor.admin.name,
            actor.admin.role,
            actor.remote_addr.clone(),
        );
        let outcome = report(&state, vec![report_of], audit, false).await;
        match outcome.map(|mut o| o.pop()) {
            Ok(Some(o)) => match o.key() {
                Some(k) => {
                    let answer = LeakAnswer {
                        service_id: k.key.service_id.clone(),
                        api_key: to_wire(k.key.clone(), at),
                    };
                    json(StatusCode::OK, &answer)
                }
                None => {
                    state.limiter.record_failure(peer, now);
                    let mut event =
                        actor.event(what, Some(&masked), ErrorCode::ApiKeyNotFound.as_str());
                    event.url = Some(url);
                    event.source = Some(None);
                    let e = not_found();
                    match state.store.record_audit(event).await {
                        Ok(()) => e.into_response(),
                        Err(se) => ApiError::from_store(se, state.key_limit).into_response(),
                    }
                }
            },
            Ok(None) => ApiError::internal().into_response(),
            Err(e) => ApiError::from_store(e, state.key_limit).into_response(),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hash_is_lowercase_hex_sha256() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn reports_are_read_leniently_but_must_be_arrays_of_objects() {
        let e =
            parse_report(br#"[{"token":"t","type":"x","url":"","source":"content","new":1},{}]"#)
                .unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].token.expose(), "t");
        assert_eq!(e[0].token_type, "x");
        assert_eq!(e[1].token.expose(), "");
        assert!(parse_report(b"[]").unwrap().is_empty());
        for bad in [&b"{}"[..], b"[1]", b"[\"t\"]", b"", b"nope", b"[{}"] {
            assert!(
                parse_report(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
