//! Services' `!` (docs/console.md, Services) in a real terminal against a real key service: a
//! key leaked or disabled before the console starts marks its service on the first paint,
//! without the service being opened, and a change made elsewhere shows after `r`.

use reqwest::Method;
use serde_json::json;

use crate::common::Server;
use crate::common::api::Api;
use crate::common::tmux::{Tmux, console_at};

/// The screen line of the service named `name`.
fn row<'a>(screen: &'a str, name: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(name))
        .unwrap_or_else(|| panic!("no row for {name}:\n{screen}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn services_mark_keys_needing_attention_on_first_paint_and_after_r() {
    ragkeys::client::install_crypto_provider();
    let server = Server::start();
    let api = Api::new(&server);
    let demo = api.create_service("rag-demo").await;
    let (_, leaky) = api.issue_ok(&demo).await;
    api.issue_ok(&demo).await;
    api.issue_ok(&demo).await;
    let leaked = api
        .post("/v1/leaks", Some(&server.token), &json!({"key": leaky}))
        .await;
    assert_eq!(leaked.status, 200, "{}", leaked.text);
    let stopped = api.create_service("rag-stopped").await;
    let (off, _) = api.issue_ok(&stopped).await;
    let path = |sid: &str, kid: &str| format!("/v1/services/{sid}/api-keys/{kid}");
    api.call(
        Method::PATCH,
        &path(&stopped, &off),
        Some(json!({"enabled": false})),
    )
    .await
    .expect(200);
    let calm = api.create_service("rag-calm").await;
    let (calm_key, _) = api.issue_ok(&calm).await;

    let home = tempfile::tempdir().unwrap();
    let term = Tmux::start(
        &console_at(&server.url(), &server.token, home.path(), "--lang en"),
        100,
        30,
    );
    let screen = term.wait_text("rag-calm");
    assert!(row(&screen, "rag-demo").contains("3/5 !"), "{screen}");
    assert!(row(&screen, "rag-stopped").contains("1/5 !"), "{screen}");
    assert!(!row(&screen, "rag-calm").contains('!'), "{screen}");

    // A key stopped elsewhere: the next refresh marks its service.
    api.call(
        Method::PATCH,
        &path(&calm, &calm_key),
        Some(json!({"enabled": false})),
    )
    .await
    .expect(200);
    term.keys(&["r"]);
    term.wait_for("rag-calm marked after r", |s| {
        s.lines()
            .any(|l| l.contains("rag-calm") && l.contains("1/5 !"))
    });
}
