//! `GET /v1/services/{service_id}/api-keys/{key_id}/usage` (docs/api.md, Usage).

use axum::extract::State;
use axum::response::Response;

use super::reply;
use crate::server::extract::{Admin, KeyPath, NoQuery};
use crate::server::state::SharedState;
use crate::wire::{ErrorBody, Usage};

/// How much a key is used: 24 hourly and 30 daily buckets (UTC), oldest first, of successful
/// and refused verifications, with `last_used_at` and `last_used_from`. Written at most once a
/// minute; the answering process adds its counts not yet written, so its own figures are exact.
#[utoipa::path(get, path = "/v1/services/{service_id}/api-keys/{key_id}/usage", operation_id = "get_api_key_usage", tag = "api-keys", security(("admin_token" = [])),
    params(
        ("service_id" = String, Path, description = "Id of the service (`svc_…`)"),
        ("key_id" = String, Path, description = "Id of the key (`key_…`)"),
    ),
    responses(
        (status = 200, description = "The key's usage (never the key or its digest); `refused` counts \
            verifications that presented the key while it was disabled, expired or retired", body = Usage),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`service_not_found` or `api_key_not_found`", body = ErrorBody),
    ))]
pub async fn usage(
    State(state): State<SharedState>,
    _admin: Admin,
    _: NoQuery,
    KeyPath(service_id, key_id): KeyPath,
) -> Response {
    // A rotated key whose grace ended is gone here as in the list.
    state.retire_due(Some(&service_id)).await;
    let usage = state
        .usage
        .read(&*state.store, &state.index, service_id, key_id)
        .await;
    reply(&state, usage)
}
