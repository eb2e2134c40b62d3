//! The one router: every route of the contract, its fallbacks, and the layers around them all.
//!
//! The layers wrap the router from outside rather than through `Router::layer`: axum applies a
//! `.layer` to every route's own boxed service, which is cloned (an allocation per boxed level)
//! on every request; from outside, the stack is built once per connection and costs the
//! handler's route nothing (docs/performance.md). What the layers need to know of the route, its
//! template, they get from [`paths::template`], which shares the route table with the router.

use std::convert::Infallible;

use axum::extract::Request;
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use tower::Layer;

use super::handlers::{audit, issue, keys, lifecycle, public, services, usage, whois};
use super::middleware::GateLayer;
use super::paths;
use super::state::SharedState;

/// The service `ragkeys serve` answers with: anything the serving loop can call for a request
/// and clone per connection (the API's stack below, the metrics router, the bench's bare one).
pub trait App:
    tower::Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> App for T where
    T: tower::Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// The API: the routes inside our gate (the request id, bodies, panics, the log line).
pub fn router(state: SharedState) -> impl App {
    use paths::*;
    // Rendered once here, on the router's side: the document names every handler.
    let doc = super::openapi::document();
    let routes = Router::new()
        .route(HEALTHZ, get(public::healthz))
        .route(READYZ, get(public::readyz))
        .route(READYZ_VERIFY, get(public::readyz_verify))
        .route(
            OPENAPI,
            get(public::openapi).layer(Extension(public::OpenApiDocument(doc))),
        )
        .route(ME, get(public::me))
        .route(SERVICES, get(services::list).post(services::create))
        .route(SERVICE, get(services::get).delete(services::delete))
        .route(KEYS, get(keys::list).post(issue::issue))
        .route(KEY, delete(keys::delete).patch(lifecycle::update))
        .route(ROTATE, post(lifecycle::rotate))
        .route(SERVICE_AUDIT, get(keys::audit))
        .route(AUDIT, get(audit::list))
        .route(WHOIS, post(whois::whois))
        .route(USAGE, get(usage::usage))
        .route(VERIFY, get(public::verify))
        .fallback(public::no_route)
        .method_not_allowed_fallback(public::wrong_method)
        .with_state(state.clone());
    GateLayer(state).layer(routes)
}
