//! The one router: every route of the contract, its fallbacks, and the layers around them all.
//!
//! The layers wrap the router from outside rather than through `Router::layer`: axum applies a
//! `.layer` to every route's own boxed service, which is cloned (an allocation per boxed level)
//! on every request; from outside, the stack is built once per connection and costs the
//! handler's route nothing (docs/performance.md). What the layers need to know of the route, its
//! template, they get from [`paths::template`], which shares the route table with the router.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody as _};
use axum::extract::Request;
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderValue, Method};
use axum::response::Response;
use axum::routing::future::RouteFuture;
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use tower::{Layer, Service};

use super::extract::peer;
use super::handlers::{
    audit, issue, keys, leaks, lifecycle, narrowing, public, services, usage, whois,
};
use super::middleware::{GateLayer, panic_response};
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
        .route(LEAKS, post(leaks::admin_report))
        .route(LEAKS_GITHUB, post(leaks::github))
        .route(USAGE, get(usage::usage))
        .route(NARROWING, get(narrowing::narrowing))
        .route(VERIFY, get(public::verify))
        .fallback(public::no_route)
        .method_not_allowed_fallback(public::wrong_method)
        .with_state(state.clone());
    GateLayer(state.clone()).layer(VerifyFirst { routes, state })
}

/// The router, but `GET` and `HEAD /v1/verify` are answered before it, from the verify index,
/// as its route would answer them (the handler's own code, `Content-Length`, no body for
/// HEAD). Verify is what ragkeys exists for: skipping axum's routing (matching, path
/// parameters, extractors, the handler's boxed future, a clone of the state) took it from
/// 28,600 to 25,100 instructions (callgrind, 7 Dec 2026; docs/performance.md).
#[derive(Clone)]
pub struct VerifyFirst {
    routes: Router,
    state: SharedState,
}

impl Service<Request> for VerifyFirst {
    type Response = Response;
    type Error = Infallible;
    type Future = Routed;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request>::poll_ready(&mut self.routes, cx)
    }

    fn call(&mut self, req: Request) -> Routed {
        let head = req.method() == Method::HEAD;
        if req.uri().path() != paths::VERIFY || !(head || req.method() == Method::GET) {
            return Routed::Router {
                fut: self.routes.call(req),
            };
        }
        let state = &self.state;
        // The gate catches a handler's panic while polling it; this one runs here, so here.
        let answer = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let from = peer(req.extensions(), req.headers(), state);
            public::verify_from_memory(state, from, req.headers(), req.uri().query())
        }));
        match answer {
            Ok(Ok(resp)) => Routed::Answered {
                resp: Some(as_routed(resp, head)),
            },
            Ok(Err(miss)) => {
                let state = state.clone();
                Routed::Looking {
                    fut: Box::pin(async move {
                        as_routed(public::verify_miss(state, miss).await, head)
                    }),
                }
            }
            Err(panic) => Routed::Answered {
                resp: Some(panic_response(panic)),
            },
        }
    }
}

/// What axum's router does to every answer of a route: `Content-Length` from the body when
/// the handler set none, and for HEAD the body dropped (the length kept).
fn as_routed(mut resp: Response, head: bool) -> Response {
    if !resp.headers().contains_key(CONTENT_LENGTH)
        && let Some(len) = resp.body().size_hint().exact()
    {
        resp.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    if head {
        resp.map(|_| Body::empty())
    } else {
        resp
    }
}

pin_project_lite::pin_project! {
    /// The answer of [`VerifyFirst`].
    #[project = RoutedProj]
    pub enum Routed {
        Answered { resp: Option<Response> },
        Looking { fut: Pin<Box<dyn Future<Output = Response> + Send>> },
        Router { #[pin] fut: RouteFuture<Infallible> },
    }
}

impl Future for Routed {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            RoutedProj::Answered { resp } => match resp.take() {
                Some(resp) => Poll::Ready(Ok(resp)),
                None => Poll::Pending,
            },
            RoutedProj::Looking { fut } => fut.as_mut().poll(cx).map(Ok),
            RoutedProj::Router { fut } => fut.poll(cx),
        }
    }
}
