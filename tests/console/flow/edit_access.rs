//! Edit access in the console's real event loop against a real `ragkeys serve` (docs/console.md,
//! Access): a key with every scope, used only with `scope=query` from 10.0.4.17 (the trusted
//! proxy on 127.0.0.1 forwarding that address: docs/testing.md, Addresses), is opened with `p`;
//! `[Narrow to what it used]` fills the form with the service's proposal and shows the
//! difference line by line; `[Save]` sends it, and the service then refuses an `ingest` call.

use std::time::{Duration, Instant};

use crossterm::event::KeyCode;
use reqwest::Method;

use super::driver::{Setup, run};
use super::support::{client, issue, open_first_service, service};
use crate::common::Server;
use crate::common::api::{Api, Reply};

/// Successful verifications of the key, each asking for `query` from 10.0.4.17.
const CALLS: usize = 3;

async fn verify_from(api: &Api, key: &str, client: &str, scope: &str) -> Reply {
    api.send(
        Method::GET,
        &format!("/v1/verify?scope={scope}"),
        Some(key),
        None,
        &[("x-forwarded-for", client)],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn narrow_to_what_it_used_shows_the_diff_and_saves_it() {
    let server = Server::start_with(&["--trusted-proxy", "127.0.0.1/32"]);
    let api = Api::new(&server);
    let c = client(&server.url(), &server.token);
    let svc = service(&c, "edit-access").await;
    let kid = issue(&c, &svc.id, "search-backend").await;
    // The plaintext is shown once at issue: issued over raw HTTP to keep it.
    let issued = api
        .issue(&svc.id, serde_json::json!({"name": "rag-worker"}))
        .await
        .expect(201);
    let key = issued["key"].as_str().unwrap_or_default().to_string();
    let used_id = issued["id"].as_str().unwrap_or_default().to_string();
    assert_ne!(used_id, kid);
    for _ in 0..CALLS {
        assert_eq!(
            verify_from(&api, &key, "10.0.4.17", "query").await.status,
            200
        );
    }
    // Waited for over HTTP: the proposal the console will be given once the calls are counted.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = c
            .narrowing(&svc.id, &used_id, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if n.proposed.as_ref().is_some_and(|p| *p != n.current) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no proposal for {used_id}: {n:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    run(
        Setup::new(server.url(), &server.token),
        |mut con| async move {
            open_first_service(&mut con).await;
            // The newest key (rag-worker) is selected.
            con.wait_until("rag-worker selected", |t| {
                t.lines()
                    .any(|l| l.starts_with("│> ") && l.contains("rag-worker"))
            })
            .await;
            con.ch('p');
            let popup = con.popup("Edit access").await;
            assert!(popup.contains("rag-worker"), "{popup}");
            assert!(popup.contains("[Narrow to what it used]"), "{popup}");
            // Nothing changed yet: no diff before the proposal.
            assert!(!popup.contains("- ingest"), "{popup}");
            // The focus starts on `[Narrow to what it used]`.
            con.key(KeyCode::Enter);
            let calls = format!("+ allowed from 10.0.4.0/24 ({CALLS} calls)");
            let text = con
                .wait_until("the proposal's diff with its figures", |t| {
                    t.contains("- ingest (0 calls in 30 days)")
                        && t.contains("- manage (0 calls in 30 days)")
                        && t.contains(&calls)
                        && t.contains("Would have refused none")
                })
                .await;
            // The form holds the proposal: query only, from 10.0.4.0/24.
            assert!(text.contains("[Query only]"), "{text}");
            assert!(
                text.contains("Allowed from (optional): 10.0.4.0/24"),
                "{text}"
            );
            // `query` stays: it is no line of the diff.
            assert!(!text.contains("- query"), "{text}");
            // The focus moved to `[Save]`: the diff is read before anything is saved.
            assert!(text.contains(">[Save]"), "{text}");
            con.key(KeyCode::Enter);
            con.wait_gone("┌ Edit access").await;
            let text = con.wait_for("Access saved").await;
            assert!(text.contains("is now query A"), "{text}");
            con.wait_until("the row's Access", |t| {
                t.lines()
                    .any(|l| l.contains("rag-worker") && l.contains(" query A "))
            })
            .await;
        },
    )
    .await;

    // The service's list says what was saved; the other key is left as it was.
    let list = api.list(&svc.id).await;
    let keys = list["api_keys"].as_array().cloned().unwrap_or_default();
    let of = |id: &str| {
        keys.iter()
            .find(|k| k["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not listed: {list}"))
    };
    let saved = of(&used_id);
    assert_eq!(saved["scopes"], serde_json::json!(["query"]), "{saved}");
    assert_eq!(
        saved["allowed_cidrs"],
        serde_json::json!(["10.0.4.0/24"]),
        "{saved}"
    );
    assert_eq!(saved["rate_limit"], serde_json::Value::Null, "{saved}");
    let other = of(&kid);
    assert_eq!(
        other["scopes"],
        serde_json::json!(["query", "ingest", "manage"]),
        "{other}"
    );
    assert_eq!(other["allowed_cidrs"], serde_json::Value::Null, "{other}");
    verify_from(&api, &key, "10.0.4.17", "ingest")
        .await
        .expect_error(403, "insufficient_scope");
    assert_eq!(
        verify_from(&api, &key, "10.0.4.17", "query").await.status,
        200
    );
}
