//! The endpoints of the contract. Mutations run detached from the connection: a client that
//! hangs up mid-request cannot leave a committed change without its index update or audit event.

pub mod audit;
pub mod issue;
mod issued;
pub mod keys;
pub mod leaks;
pub mod lifecycle;
pub mod narrowing;
pub mod public;
pub mod scrape;
pub mod services;
pub mod usage;
pub mod whois;

use std::future::Future;
use std::net::IpAddr;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::Serialize;
use tracing::Instrument;

use super::error::ApiError;
use super::extract::Admin;
use super::state::AppState;
use super::store::{IdempotencyRecord, StoreError, StoreResult};
use crate::credential::Digest;
use crate::wire::{AuditAction, AuditEvent, Timestamp};

/// Runs a mutation to its end even if the client goes away; answers `internal` if it panicked.
pub async fn detached<F>(work: F) -> Response
where
    F: Future<Output = Response> + Send + 'static,
{
    tokio::spawn(work.in_current_span())
        .await
        .unwrap_or_else(|_| {
            tracing::error!("request task failed");
            ApiError::internal().into_response()
        })
}

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => json_bytes(status, body),
        Err(e) => {
            tracing::error!(error = %e, "could not encode a response");
            ApiError::internal().into_response()
        }
    }
}

pub fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// For responses that carry a secret: no cache may keep them.
pub fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// An opaque id: a prefix and 20 random base62 characters.
pub fn new_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let mut id = String::with_capacity(prefix.len() + 20);
    id.push_str(prefix);
    for _ in 0..20 {
        id.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
    id
}

/// 200 with the value, or the store's failure as its API error: every read of the contract.
pub fn reply<T: Serialize>(state: &AppState, read: StoreResult<T>) -> Response {
    match read {
        Ok(value) => json(StatusCode::OK, &value),
        Err(e) => ApiError::from_store(e, state.key_limit).into_response(),
    }
}

/// What a mutation attempts, as its audit events name it.
#[derive(Clone, Copy)]
pub struct Attempt<'a> {
    pub action: AuditAction,
    pub service_id: &'a str,
    pub key_id: Option<&'a str>,
}

/// Who did it and from where: the fixed part of the audit events of one request.
#[derive(Clone)]
pub struct Actor {
    pub admin: Admin,
    pub remote_addr: String,
}

impl Actor {
    pub fn new(admin: Admin, peer: IpAddr) -> Self {
        Actor {
            admin,
            remote_addr: peer.to_string(),
        }
    }

    pub fn event(&self, what: Attempt<'_>, masked: Option<&str>, outcome: &str) -> AuditEvent {
        AuditEvent {
            at: Timestamp::now(),
            actor: self.admin.name.clone(),
            role: self.admin.role,
            action: what.action,
            service_id: audit_id(what.service_id),
            key_id: what.key_id.map(audit_id),
            masked: masked.map(str::to_owned),
            remote_addr: self.remote_addr.clone(),
            outcome: outcome.to_owned(),
            changes: None,
            url: None,
            source: None,
        }
    }

    /// Refuses the attempt: its audit event (and idempotency record, if it replays) is written
    /// with the error's code, and the error is the answer.
    pub async fn refuse(
        &self,
        state: &AppState,
        what: Attempt<'_>,
        e: ApiError,
        idempotency: Option<IdempotencyRecord>,
    ) -> Response {
        record_failure(state, self.event(what, None, e.code.as_str()), idempotency).await;
        e.into_response()
    }
}

/// Ids from the path are whatever the client sent: kept short and printable in the trail.
fn audit_id(s: &str) -> String {
    s.chars()
        .filter(|c| !crate::wire::is_forbidden_char(*c))
        .take(64)
        .collect()
}

/// Writes the audit event of a refused issue or delete (and its idempotency record, if any).
pub async fn record_failure(
    state: &AppState,
    event: AuditEvent,
    idempotency: Option<IdempotencyRecord>,
) {
    if let Err(e) = state.store.record_failure(event, idempotency).await {
        if !matches!(e, StoreError::CannotWrite { .. }) {
            tracing::error!(error = %e, "could not write an audit event");
        }
    }
}

/// A delete (manager only), audited either way. `delete` removes what was asked with its audit
/// event and returns the digests of the keys that died; they leave the verify index under the
/// write gate, before the 204.
pub async fn delete_audited<F>(
    state: &AppState,
    actor: &Actor,
    what: Attempt<'_>,
    delete: impl FnOnce(AuditEvent) -> F,
) -> Response
where
    F: Future<Output = StoreResult<Vec<Digest>>>,
{
    if let Err(e) = actor.admin.require_manager() {
        return actor.refuse(state, what, e, None).await;
    }
    let deleted = {
        let _gate = state.write_gate.lock().await;
        let r = delete(actor.event(what, None, "ok")).await;
        if let Ok(digests) = &r {
            state.follow(digests, |index| index.remove(digests)).await;
        }
        r
    };
    match deleted {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            let e = ApiError::from_store(e, state.key_limit);
            actor.refuse(state, what, e, None).await
        }
    }
}
