//! `/v1/services/{service_id}/api-keys`: list and delete, and the service's audit trail.

use axum::extract::State;
use axum::response::Response;

use super::{Actor, Attempt, delete_audited, detached, reply};
use crate::server::extract::{Admin, KeyPath, NoQuery, Peer, ServicePath};
use crate::server::state::SharedState;
use crate::server::store::{KeyRecord, LeakRecord, StoreError, UnixTime};
use crate::wire::{ApiKey, ApiKeyList, AuditAction, AuditList, ErrorBody, Leak, Timestamp};

/// Audit events returned per call, newest first.
const AUDIT_PAGE: u32 = 10_000;

/// A key as the API shows it, in its state at `now` (unix seconds).
pub fn to_wire(k: KeyRecord, now: UnixTime) -> ApiKey {
    ApiKey {
        state: k.state(now),
        id: k.id,
        masked: k.masked,
        name: k.name,
        created_at: Timestamp::from_unix(k.created_at),
        created_by: k.created_by,
        expires_at: k.expires_at.map(Timestamp::from_unix),
        last_used_at: k.last_used_at.map(Timestamp::from_unix),
        replaced_by: k.replaced_by,
        policy: k.policy,
        leak: k.leak.map(leak_to_wire),
    }
}

/// A key's leak record as the API shows it (docs/api.md, Leaked keys).
pub fn leak_to_wire(l: LeakRecord) -> Leak {
    Leak {
        reported_at: Timestamp::from_unix(l.reported_at),
        by: l.by,
        url: l.url,
        source: l.source,
    }
}

/// The keys of a service, newest first, with the service's key limit.
#[utoipa::path(get, path = "/v1/services/{service_id}/api-keys", operation_id = "list_api_keys", tag = "api-keys", security(("admin_token" = [])),
    params(("service_id" = String, Path, description = "Id of the service (`svc_…`)")),
    responses(
        (status = 200, description = "The keys (never a key or its digest)", body = ApiKeyList),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`service_not_found`", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<SharedState>,
    _admin: Admin,
    _: NoQuery,
    ServicePath(id): ServicePath,
) -> Response {
    state.retire_due(Some(&id)).await;
    let keys = state.store.list_keys(id).await;
    let now = Timestamp::now().unix();
    reply(
        &state,
        keys.map(|keys| ApiKeyList {
            api_keys: keys
                .into_iter()
                // One whose grace ended since the retirement above is gone all the same.
                .filter(|k| !k.rotated_out(now))
                .map(|k| to_wire(k, now))
                .collect(),
            key_limit: state.key_limit,
        }),
    )
}

/// The audit trail of a service, newest first (at most the 10000 newest events).
#[utoipa::path(get, path = "/v1/services/{service_id}/audit", operation_id = "list_audit_events", tag = "api-keys", security(("admin_token" = [])),
    params(("service_id" = String, Path, description = "Id of the service (`svc_…`)")),
    responses(
        (status = 200, description = "Issues and deletes, failed or not; never a secret", body = AuditList),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`service_not_found`", body = ErrorBody),
    ))]
pub async fn audit(
    State(state): State<SharedState>,
    _admin: Admin,
    _: NoQuery,
    ServicePath(id): ServicePath,
) -> Response {
    state.retire_due(Some(&id)).await;
    let events = match state.store.get_service(id.clone()).await {
        Ok(Some(_)) => state.store.list_audit(id, AUDIT_PAGE).await,
        Ok(None) => Err(StoreError::ServiceNotFound),
        Err(e) => Err(e),
    };
    reply(&state, events.map(|events| AuditList { events }))
}

/// Deletes a key (manager). Once this answers 204, the key fails verification.
#[utoipa::path(delete, path = "/v1/services/{service_id}/api-keys/{key_id}", operation_id = "delete_api_key", tag = "api-keys", security(("admin_token" = [])),
    params(
        ("service_id" = String, Path, description = "Id of the service (`svc_…`)"),
        ("key_id" = String, Path, description = "Id of the key (`key_…`)"),
    ),
    responses(
        (status = 204, description = "Deleted; verification fails from now on"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer token", body = ErrorBody),
        (status = 404, description = "`service_not_found` or `api_key_not_found` (also on a second delete)", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<SharedState>,
    admin: Admin,
    Peer(peer): Peer,
    KeyPath(service_id, key_id): KeyPath,
) -> Response {
    detached(async move {
        let actor = Actor::new(admin, peer);
        let what = Attempt {
            action: AuditAction::ApiKeyDelete,
            service_id: &service_id,
            key_id: Some(&key_id),
        };
        state.retire_due(Some(&service_id)).await;
        delete_audited(&state, &actor, what, |audit| async {
            let deleted = state
                .store
                .delete_key(service_id.clone(), key_id.clone(), audit)
                .await;
            if deleted.is_ok() {
                // A replay would refuse it anyway; its plaintext has no reason to stay.
                state.idempotency.forget_keys(&service_id, Some(&key_id));
            }
            deleted.map(|digest| vec![digest])
        })
        .await
    })
    .await
}
