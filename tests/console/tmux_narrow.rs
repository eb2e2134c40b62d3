//! Edit access in a real terminal (tmux) against a real key service (docs/console.md, Access): a
//! key with every scope, used only with `scope=query` from 10.0.4.17 (the trusted proxy on
//! 127.0.0.1 forwarding that address: docs/testing.md, Addresses); `p`, Enter on `[Narrow to
//! what it used]`, the difference read on the screen, Enter on `[Save]`; the service then
//! refuses the key an `ingest` call from the same address.

use reqwest::Method;
use serde_json::json;

use crate::common::Server;
use crate::common::api::{Api, Reply};
use crate::common::tmux::{Tmux, console_at};

async fn verify_from(api: &Api, key: &str, scope: &str) -> Reply {
    api.send(
        Method::GET,
        &format!("/v1/verify?scope={scope}"),
        Some(key),
        None,
        &[("x-forwarded-for", "10.0.4.17")],
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn narrow_in_a_real_terminal_reads_the_diff_then_saves_it() {
    ragkeys::client::install_crypto_provider();
    let server = Server::start_with(&["--trusted-proxy", "127.0.0.1/32"]);
    let api = Api::new(&server);
    let sid = api.create_service("e2e-narrow").await;
    let issued = api
        .issue(&sid, json!({"name": "rag-worker"}))
        .await
        .expect(201);
    let key = issued["key"].as_str().unwrap_or_default().to_string();
    let kid = issued["id"].as_str().unwrap_or_default().to_string();
    for _ in 0..4 {
        assert_eq!(verify_from(&api, &key, "query").await.status, 200);
    }
    // The calls are counted before the console asks (waited for, never slept on).
    let path = format!("/v1/services/{sid}/api-keys/{kid}/narrowing");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let n = api.get(&path).await.expect(200);
        if n["proposed"]["allowed_cidrs"] == json!(["10.0.4.0/24"]) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no proposal: {n}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let term = Tmux::start(
        &console_at(&server.url(), &server.token, home.path(), "--lang en"),
        100,
        30,
    );
    term.wait_text("e2e-narrow");
    term.keys(&["Enter"]);
    term.wait_for("the key's row", |s| {
        s.lines()
            .any(|l| l.contains("rag-worker") && l.contains(" full "))
    });

    term.keys(&["p"]);
    let screen = term.wait_for("Edit access", |s| {
        s.contains("Edit access") && s.contains(">[Narrow to what it used]")
    });
    assert!(screen.contains("Access:  [Full] ·"), "{screen}");
    term.keys(&["Enter"]);
    let screen = term.wait_for("the proposal's diff", |s| {
        s.contains("- ingest (0 calls in 30 days)")
            && s.contains("- manage (0 calls in 30 days)")
            && s.contains("+ allowed from 10.0.4.0/24 (4 calls)")
            && s.contains("Would have refused none")
    });
    assert!(screen.contains("[Query only]"), "{screen}");
    assert!(
        screen.contains("Allowed from (optional): 10.0.4.0/24"),
        "{screen}"
    );
    assert!(screen.contains(">[Save]"), "{screen}");
    // Nothing is saved before `[Save]`.
    let before = api.list(&sid).await;
    assert_eq!(
        before["api_keys"][0]["allowed_cidrs"],
        serde_json::Value::Null,
        "{before}"
    );

    term.keys(&["Enter"]);
    let screen = term.wait_for("the saved row", |s| {
        !s.contains("Edit access")
            && s.lines()
                .any(|l| l.contains("rag-worker") && l.contains(" query A "))
    });
    assert!(screen.contains("Access saved"), "{screen}");

    let list = api.list(&sid).await;
    let saved = &list["api_keys"][0];
    assert_eq!(saved["id"], json!(kid), "{list}");
    assert_eq!(saved["scopes"], json!(["query"]), "{list}");
    assert_eq!(saved["allowed_cidrs"], json!(["10.0.4.0/24"]), "{list}");
    verify_from(&api, &key, "ingest")
        .await
        .expect_error(403, "insufficient_scope");

    term.keys(&["q"]);
    term.wait_text("[API Key management]");
    term.keys(&["q"]);
    term.wait_dead();
}
