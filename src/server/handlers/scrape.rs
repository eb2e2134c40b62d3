//! The metrics listener: `GET /metrics` and nothing else, without a token, on its own address so
//! that it can stay on a private interface (docs/operating.md).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::server::metrics;
use crate::server::state::SharedState;
use crate::wire::Timestamp;

/// The Prometheus text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics listener's router.
pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "not found: only GET /metrics is served here\n",
            )
        })
        .with_state(state)
}

/// Refreshes the gauges read at scrape time (keys by state from the store, the index size,
/// whether the store takes writes),
/// then renders everything.
async fn scrape(State(state): State<SharedState>) -> Response {
    let Some(m) = metrics::get() else {
        return (StatusCode::NOT_FOUND, "metrics are off\n").into_response();
    };
    match state
        .store
        .count_keys_by_state(Timestamp::now().unix())
        .await
    {
        Ok(counts) => m.set_key_states(counts),
        Err(e) => {
            metrics::store_error();
            tracing::warn!(error = %e, "could not count the keys for /metrics");
        }
    }
    m.set_index_keys(state.index.len());
    m.set_store_writable(state.store_fault().is_none());
    // The lease as the verify path sees it now (its deadline may lapse between renewals).
    if state.replica.is_shared() {
        metrics::lease_valid(state.replica.trust.trusted_at(std::time::Instant::now()));
    }
    ([(CONTENT_TYPE, TEXT_FORMAT)], m.render()).into_response()
}
