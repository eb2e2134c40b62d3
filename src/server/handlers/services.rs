//! `/v1/services`: list, create, get, delete.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{Actor, Attempt, delete_audited, detached, json, new_id, reply};
use crate::server::error::ApiError;
use crate::server::extract::{
    Admin, IncludeAttention, Peer, ServicePath, parse_json, validate_field,
};
use crate::server::state::SharedState;
use crate::server::store::{ServiceRecord, ServiceSummary, StoreError};
use crate::wire::{AuditAction, CreateService, ErrorBody, Service, ServiceList, Timestamp, limits};

/// A service as the API shows it; `attention` (how many of its keys need attention) only when
/// asked with `include=attention`.
pub fn to_wire(s: ServiceRecord, attention: Option<u32>, key_limit: u32) -> Service {
    Service {
        id: s.id,
        name: s.name,
        description: s.description,
        key_count: s.key_count,
        key_limit,
        created_at: Timestamp::from_unix(s.created_at),
        attention,
    }
}

fn summary_to_wire(s: ServiceSummary, include: bool, key_limit: u32) -> Service {
    to_wire(s.service, include.then_some(s.attention), key_limit)
}

/// Every service, oldest first.
#[utoipa::path(get, path = "/v1/services", operation_id = "list_services", tag = "services", security(("admin_token" = [])),
    params(("include" = Option<String>, Query, description = "`attention`: each service also carries `attention`, how many of its keys need attention now")),
    responses(
        (status = 200, description = "All services", body = ServiceList),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<SharedState>,
    _admin: Admin,
    IncludeAttention(include): IncludeAttention,
) -> Response {
    let all = state
        .store
        .list_service_summaries(Timestamp::now().unix())
        .await;
    reply(
        &state,
        all.map(|all| ServiceList {
            services: all
                .into_iter()
                .map(|s| summary_to_wire(s, include, state.key_limit))
                .collect(),
        }),
    )
}

/// One service.
#[utoipa::path(get, path = "/v1/services/{service_id}", operation_id = "get_service", tag = "services", security(("admin_token" = [])),
    params(("service_id" = String, Path, description = "Id of the service (`svc_…`)"),
        ("include" = Option<String>, Query, description = "`attention`: the service also carries `attention`")),
    responses(
        (status = 200, description = "The service", body = Service),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`service_not_found`", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<SharedState>,
    _admin: Admin,
    IncludeAttention(include): IncludeAttention,
    ServicePath(id): ServicePath,
) -> Response {
    let found = state
        .store
        .get_service_summary(id, Timestamp::now().unix())
        .await;
    let service = found.and_then(|s| s.ok_or(StoreError::ServiceNotFound));
    reply(
        &state,
        service.map(|s| summary_to_wire(s, include, state.key_limit)),
    )
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
#[utoipa::path(post, path = "/v1/services", operation_id = "create_service", tag = "services", security(("admin_token" = [])),
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
        // Refused creations have no service id yet.
        let refused = Attempt {
            action: AuditAction::ServiceCreate,
            service_id: "",
            key_id: None,
        };
        let req = match check_create(&actor.admin, &headers, &body) {
            Ok(r) => r,
            Err(e) => return actor.refuse(&state, refused, e, None).await,
        };
        let record = ServiceRecord {
            id: new_id("svc_"),
            name: req.name,
            description: req.description,
            key_count: 0,
            created_at: Timestamp::now().unix(),
        };
        let created = Attempt {
            service_id: &record.id,
            ..refused
        };
        let audit = actor.event(created, None, "ok");
        let created = state
            .store
            .create_service(record, limits::MAX_SERVICES as u32, audit)
            .await;
        match created {
            Ok(s) => json(StatusCode::CREATED, &to_wire(s, None, state.key_limit)),
            Err(e) => {
                let e = ApiError::from_store(e, state.key_limit);
                actor.refuse(&state, refused, e, None).await
            }
        }
    })
    .await
}

/// Deletes a service and every key of it (manager). Its keys fail verification before the 204.
#[utoipa::path(delete, path = "/v1/services/{service_id}", operation_id = "delete_service", tag = "services", security(("admin_token" = [])),
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
        let what = Attempt {
            action: AuditAction::ServiceDelete,
            service_id: &id,
            key_id: None,
        };
        delete_audited(&state, &actor, what, |audit| async {
            let deleted = state.store.delete_service(id.clone(), audit).await;
            if deleted.is_ok() {
                // Its keys died with it: their kept plaintexts go too.
                state.idempotency.forget_keys(&id, None);
            }
            deleted
        })
        .await
    })
    .await
}
