//! The one router: every route of the contract, its fallbacks, and the layers around them all.
//!
//! The layers wrap the router from outside rather than through `Router::layer`: axum applies a
//! `.layer` to every route's own boxed service, which is cloned (an allocation per boxed level)
//! on every request; from outside, the stack is built once per connection and costs the
//! handler's route nothing (README, Performance). What the layers need to know of the route, its
//! template, they get from [`template`], which shares the route table with the router.

use std::convert::Infallible;

use axum::extract::Request;
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use tower::ServiceBuilder;
use tower::util::MapRequestLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};

use super::handlers::{audit, issue, keys, lifecycle, public, services, usage, whois};
use super::middleware::{GateLayer, MakeId, scrub_request_id};
use super::state::SharedState;

/// The route templates of API.md, as axum writes them; the router and [`template`] both use
/// these, so a route cannot be served without being known to the layers.
pub mod paths {
    pub const HEALTHZ: &str = "/healthz";
    pub const READYZ: &str = "/readyz";
    pub const OPENAPI: &str = "/openapi.json";
    pub const ME: &str = "/v1/me";
    pub const SERVICES: &str = "/v1/services";
    pub const SERVICE: &str = "/v1/services/{service_id}";
    pub const KEYS: &str = "/v1/services/{service_id}/api-keys";
    pub const KEY: &str = "/v1/services/{service_id}/api-keys/{key_id}";
    pub const ROTATE: &str = "/v1/services/{service_id}/api-keys/{key_id}/rotate";
    pub const USAGE: &str = "/v1/services/{service_id}/api-keys/{key_id}/usage";
    pub const SERVICE_AUDIT: &str = "/v1/services/{service_id}/audit";
    pub const AUDIT: &str = "/v1/audit";
    pub const WHOIS: &str = "/v1/whois";
    pub const VERIFY: &str = "/v1/verify";

    /// Every template above.
    #[cfg(test)]
    pub const ALL: [&str; 14] = [
        HEALTHZ,
        READYZ,
        OPENAPI,
        ME,
        SERVICES,
        SERVICE,
        KEYS,
        KEY,
        ROTATE,
        USAGE,
        SERVICE_AUDIT,
        AUDIT,
        WHOIS,
        VERIFY,
    ];
}

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

/// The API: the routes, then, outermost first, a usable request id (the client's if sane, else
/// a new one) set on the request and every response, and our gate (which also catches panics).
pub fn router(state: SharedState) -> impl App {
    use paths::*;
    // Rendered once here, on the router's side: the document names every handler.
    let doc = super::openapi::document();
    let routes = Router::new()
        .route(HEALTHZ, get(public::healthz))
        .route(READYZ, get(public::readyz))
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
    ServiceBuilder::new()
        .layer(MapRequestLayer::new(scrub_request_id))
        .layer(SetRequestIdLayer::x_request_id(MakeId))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(GateLayer(state))
        .service(routes)
}

/// The template of the route that `path` (a request's URI path, not decoded) matches, the way
/// axum's router matches it: literal segments equal, each `{param}` one segment, which may be empty except at the end
/// (as axum's matcher has it: `/v1/services//api-keys` is the key list of service "", a 404;
/// `/v1/services/` is no route).
/// `None` for a path no route matches (its answer is 404 `not_found`).
pub fn template(path: &str) -> Option<&'static str> {
    use paths::*;
    // The routes without parameters by plain comparison, verify first: the hot path
    // (README, Performance) never splits its path.
    if let Some(t) = [VERIFY, HEALTHZ, READYZ, OPENAPI, ME, SERVICES, AUDIT, WHOIS]
        .into_iter()
        .find(|t| *t == path)
    {
        return Some(t);
    }
    const MAX_SEGMENTS: usize = 6;
    let mut segs = [""; MAX_SEGMENTS];
    let mut n = 0;
    for seg in path.strip_prefix('/')?.split('/') {
        *segs.get_mut(n)? = seg;
        n += 1;
    }
    Some(match segs[..n] {
        ["v1", "services", s] if !s.is_empty() => SERVICE,
        ["v1", "services", _, "api-keys"] => KEYS,
        ["v1", "services", _, "audit"] => SERVICE_AUDIT,
        ["v1", "services", _, "api-keys", k] if !k.is_empty() => KEY,
        ["v1", "services", _, "api-keys", _, "rotate"] => ROTATE,
        ["v1", "services", _, "api-keys", _, "usage"] => USAGE,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt as _;

    /// Every template, with its parameters filled in, is its own template.
    #[test]
    fn every_route_is_classified_as_itself() {
        for t in paths::ALL {
            let path = t
                .replace("{service_id}", "svc_abc")
                .replace("{key_id}", "key_def");
            assert_eq!(template(&path), Some(t), "{path}");
        }
    }

    /// The classifier agrees with axum's own matching, odd paths included.
    #[tokio::test]
    async fn the_classifier_matches_the_way_axum_does() {
        let mut echo = Router::new();
        for t in paths::ALL {
            echo = echo.route(t, axum::routing::any(move || async move { t }));
        }
        let echo = echo.fallback(|| async { "" });
        let cases = [
            "/",
            "",
            "/v1",
            "/v1/",
            "/v1/verify",
            "/v1/verify/",
            "/v1/verify/x",
            "/healthz",
            "/healthz/",
            "//healthz",
            "/HEALTHZ",
            "/v1/services",
            "/v1/services/",
            "/v1/services/svc_1",
            "/v1/services/svc_1/",
            "/v1/services//api-keys",
            "/v1/services/svc%2F1/api-keys",
            "/v1/services/svc_1/api-keys/key_1",
            "/v1/services/svc_1/api-keys//rotate",
            "/v1/services//api-keys/",
            "/v1/services//api-keys/k",
            "/v1/services//api-keys//usage",
            "/v1/services//audit",
            "/v1/services/svc_1/api-keys/",
            "/v1/services/svc_1/api-keys/key_1/rotate",
            "/v1/services/svc_1/api-keys/key_1/usage",
            "/v1/services/svc_1/api-keys/key_1/usage/x",
            "/v1/services/svc_1/audit",
            "/v1/services/svc_1/audits",
            "/v1/audit",
            "/v1/whois",
            "/v1/me",
            "/openapi.json",
            "/readyz",
            "/v1/services/a/b/c/d/e/f/g",
        ];
        for path in cases {
            let uri = if path.is_empty() { "/" } else { path };
            let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
            let resp = echo.clone().oneshot(req).await.unwrap();
            let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
            let axum_says = String::from_utf8(body.to_vec()).unwrap();
            let ours = template(uri).unwrap_or("");
            assert_eq!(ours, axum_says, "path {uri:?}");
        }
    }
}
