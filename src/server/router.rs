//! The one router: every route of the contract, its fallbacks, and the layers around them all.

use axum::Router;
use axum::routing::{delete, get, post};
use tower::ServiceBuilder;
use tower::util::MapRequestLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};

use super::handlers::{audit, issue, keys, lifecycle, public, services, usage, whois};
use super::middleware::{GateLayer, MakeId, scrub_request_id};
use super::state::SharedState;

pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/healthz", get(public::healthz))
        .route("/readyz", get(public::readyz))
        .route("/openapi.json", get(public::openapi))
        .route("/v1/me", get(public::me))
        .route("/v1/services", get(services::list).post(services::create))
        .route(
            "/v1/services/{service_id}",
            get(services::get).delete(services::delete),
        )
        .route(
            "/v1/services/{service_id}/api-keys",
            get(keys::list).post(issue::issue),
        )
        .route(
            "/v1/services/{service_id}/api-keys/{key_id}",
            delete(keys::delete).patch(lifecycle::update),
        )
        .route(
            "/v1/services/{service_id}/api-keys/{key_id}/rotate",
            post(lifecycle::rotate),
        )
        .route("/v1/services/{service_id}/audit", get(keys::audit))
        .route("/v1/audit", get(audit::list))
        .route("/v1/whois", post(whois::whois))
        .route(
            "/v1/services/{service_id}/api-keys/{key_id}/usage",
            get(usage::usage),
        )
        .route("/v1/verify", get(public::verify))
        .fallback(public::no_route)
        .method_not_allowed_fallback(public::wrong_method)
        // One layer, outermost first: a usable request id (the client's if sane, else a new
        // one) and on every response, then our gate (which also catches panics). Composed with
        // `ServiceBuilder` rather than four `.layer` calls: axum wraps each `.layer` in its own
        // boxed `Route`, which is cloned (an allocation) on every request (README, Performance).
        .layer(
            ServiceBuilder::new()
                .layer(MapRequestLayer::new(scrub_request_id))
                .layer(SetRequestIdLayer::x_request_id(MakeId))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(GateLayer(state.clone())),
        )
        .with_state(state)
}
