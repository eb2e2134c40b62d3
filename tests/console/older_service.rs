//! A key service older than Services' `attention` count (docs/api.md, Service): it refuses the
//! console's `?include=attention` as any unknown query, 400 `invalid_request`. The console must
//! still list the services, from the plain list, and mark none it has not seen.

use axum::Json;
use axum::Router;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::common::BIN;
use crate::common::tmux::{Tmux, sh_quote};

async fn services(RawQuery(query): RawQuery) -> Response {
    match query {
        Some(q) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {
                "code": "invalid_request",
                "message": format!("unknown query parameter {q:?}: this route takes none"),
            }})),
        )
            .into_response(),
        None => Json(json!({"services": [{
            "id": "svc_older",
            "name": "older-svc",
            "description": "before attention",
            "key_count": 2,
            "key_limit": 5,
            "created_at": "2026-11-26T05:37:50Z"
        }]}))
        .into_response(),
    }
}

async fn start_older() -> String {
    let app = Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route(
            "/v1/me",
            get(|| async { Json(json!({"name": "alice", "role": "manager"})) }),
        )
        .route("/v1/services", get(services));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_older_than_attention_still_lists_its_services() {
    let url = start_older().await;
    let home = tempfile::tempdir().unwrap();
    let cmd = format!(
        "env -u RAGKEYS_PROFILE HOME={home} XDG_CONFIG_HOME={home}/config LANG=C.UTF-8 \
         RAGKEYS_TOKEN=ragadm_notchecked {bin} --endpoint {url} --lang en",
        home = sh_quote(&home.path().display().to_string()),
        bin = sh_quote(BIN),
        url = sh_quote(&url),
    );
    let term = Tmux::start(&cmd, 100, 30);
    let screen = term.wait_text("older-svc");
    let row = screen
        .lines()
        .find(|l| l.contains("older-svc"))
        .expect("the service's row");
    assert!(row.contains("2/5"), "{row}");
    assert!(!row.contains('!'), "no count, no mark: {row}");
    assert!(
        !screen.contains("invalid_request") && !screen.contains("unknown query"),
        "the refused query shows as an error:\n{screen}"
    );
}
