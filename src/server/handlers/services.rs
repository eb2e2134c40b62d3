//! `/v1/services`: list, create, get, delete.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{Actor, detached, json, new_id, record_failure};
use crate::server::error::ApiError;
use crate::server::extract::{Admin, Peer, ServicePath, parse_json, validate_field};
use crate::server::state::{AppState, SharedState};
use crate::server::store::ServiceRecord;
use crate::wire::{AuditAction, CreateService, ErrorBody, Service, ServiceList, Timestamp, limits};

pub fn to_wire(s: ServiceRecord, key_limit: u32) -> Service {
    Service {
        id: s.id,
        name: s.name,
        description: s.description,
        key_count: s.key_count,
        key_limit,
        created_at: Timestamp::from_unix(s.created_at),
    }
}

/// Every service, oldest first.
#[utoipa::path(get, path = "/v1/services", tag = "services", security(("admin_token" = [])),
    responses(
        (status = 200, description = "All services", body = ServiceList),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    ))]
pub async fn list(State(state): State<SharedState>, _admin: Admin) -> Response {
    match state.store.list_services().await {
        Ok(all) => json(
            StatusCode::OK,
            &ServiceList {
                services: all
                    .into_iter()
                    .map(|s| to_wire(s, state.key_limit))
                    .collect(),
            },
        ),
        Err(e) => ApiError::from_store(e, state.key_limit).into_response(),
    }
}

/// One service.
#[utoipa::path(get, path = "/v1/services/{service_id}", tag = "services", security(("admin_token" = [])),
    params(("service_id" = String, Path, description = "Id of the service (`svc_…`)")),
    responses(
        (status = 200, description = "The service", body = Service),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`service_not_found`", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<SharedState>,
    _admin: Admin,
    ServicePath(id): ServicePath,
) -> Response {
    match state.store.get_service(id).await {
        Ok(Some(s)) => json(StatusCode::OK, &to_wire(s, state.key_limit)),
        Ok(None) => ApiError::service_not_found().into_response(),
        Err(e) => ApiError::from_store(e, state.key_limit).into_response(),
    }
}

fn check_create(
    admin: &Admin,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<CreateService, ApiError> {
    admin.require_manager()?;
    let req: CreateService = parse_json(headers, body)?;
    validate_field(
        "name",
        &req.name,
        limits::SERVICE_NAME_MIN,
        limits::SERVICE_NAME_MAX,
    )?;
    validate_field(
        "description",
        &req.description,
        0,
        limits::SERVICE_DESCRIPTION_MAX,
    )?;
    Ok(req)
}

/// Creates a service (manager).
#[utoipa::path(post, path = "/v1/services", tag = "services", security(("admin_token" = [])),
    request_body(content = CreateService, content_type = "application/json",
        description = "Name 3 to 20 characters, unique; description up to 50; no control or bidi characters"),
    responses(
        (status = 201, description = "The new service", body = Service),
        (status = 400, description = "`invalid_request`: malformed JSON, unknown field, or a field out of bounds", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer token", body = ErrorBody),
        (status = 409, description = "`service_name_taken` or `service_limit_exceeded` (999 services)", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<SharedState>,
    admin: Admin,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    detached(async move {
        let actor = Actor::new(admin, peer);
        let req = match check_create(&actor.admin, &headers, &body) {
            Ok(r) => r,
            Err(e) => return refuse_create(&state, &actor, e).await,
        };
        let record = ServiceRecord {
            id: new_id("svc_"),
            name: req.name,
            description: req.description,
            key_count: 0,
            created_at: Timestamp::now().unix(),
        };
        let audit = actor.event(AuditAction::ServiceCreate, &record.id, None, None, "ok");
        let created = state
            .store
            .create_service(record, limits::MAX_SERVICES as u32, audit)
            .await;
        match created {
            Ok(s) => json(StatusCode::CREATED, &to_wire(s, state.key_limit)),
            Err(e) => refuse_create(&state, &actor, ApiError::from_store(e, state.key_limit)).await,
        }
    })
    .await
}

async fn refuse_create(state: &AppState, actor: &Actor, e: ApiError) -> Response {
    let event = actor.event(AuditAction::ServiceCreate, "", None, None, e.code.as_str());
    record_failure(state, event, None).await;
    e.into_response()
}

/// Deletes a service and every key of it (manager). Its keys fail verification before the 204.
#[utoipa::path(delete, path = "/v1/services/{service_id}", tag = "services", security(("admin_token" = [])),
    params(("service_id" = String, Path, description = "Id of the service (`svc_…`)")),
    responses(
        (status = 204, description = "Deleted, with its keys"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer token", body = ErrorBody),
        (status = 404, description = "`service_not_found`", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<SharedState>,
    admin: Admin,
    Peer(peer): Peer,
    ServicePath(id): ServicePath,
) -> Response {
    detached(async move {
        let actor = Actor::new(admin, peer);
        let refuse = |e: ApiError| {
            let event = actor.event(AuditAction::ServiceDelete, &id, None, None, e.code.as_str());
            (event, e)
        };
        if let Err(e) = actor.admin.require_manager() {
            let (event, e) = refuse(e);
            record_failure(&state, event, None).await;
            return e.into_response();
        }
        let audit = actor.event(AuditAction::ServiceDelete, &id, None, None, "ok");
        let deleted = {
            let _gate = state.write_gate.lock().await;
            let r = state.store.delete_service(id.clone(), audit).await;
            if let Ok(digests) = &r {
                state.index.remove(digests);
            }
            r
        };
        match deleted {
            Ok(_) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => {
                let (event, e) = refuse(ApiError::from_store(e, state.key_limit));
                record_failure(&state, event, None).await;
                e.into_response()
            }
        }
    })
    .await
}
