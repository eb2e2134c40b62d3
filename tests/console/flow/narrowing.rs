//! Access in the console's real event loop against a real `ragkeys serve` (docs/console.md,
//! Access): a key used only with `scope=query` is counted on the attention line as one that could
//! be narrowed, its Access column reads `full`, and its Details show the scope and the network it
//! was used from; a key never used is not counted.

use std::time::{Duration, Instant};

use crossterm::event::KeyCode;
use ragkeys::client::new_idempotency_key;
use ragkeys::wire::IssueApiKey;

use super::driver::{Setup, run};
use super::support::{client, open_first_service, service};
use crate::common::Server;

/// Successful verifications of the used key, each asking for `query`.
const CALLS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_used_only_for_query_could_be_narrowed() {
    let server = Server::start();
    let api = client(&server.url(), &server.token);
    let svc = service(&api, "narrowing").await;
    let mut keys = Vec::new();
    for name in ["unused-key", "query-key"] {
        let issued = api
            .issue_key(
                &svc.id,
                &IssueApiKey {
                    name: Some(name.into()),
                    ..Default::default()
                },
                &new_idempotency_key(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        keys.push((
            issued.key.api_key.id.clone(),
            issued.key.key.expose().to_string(),
        ));
    }
    let (used_id, used) = &keys[1];
    let http = reqwest::Client::new();
    for _ in 0..CALLS {
        let r = http
            .get(format!("{}/v1/verify?scope=query", server.url()))
            .header("authorization", format!("Bearer {used}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status(), 200);
    }
    // The service proposes `query` (and the network it was seen from) once it has counted the
    // calls: waited for over HTTP, so that the console's one look after its list sees it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = api
            .narrowing(&svc.id, used_id, None)
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
        |mut c| async move {
            open_first_service(&mut c).await;
            let text = c.wait_for("1 key could be narrowed").await;
            assert!(!text.contains("2 keys could be narrowed"), "{text}");
            // Both keys can do everything today.
            let row = |t: &str, name: &str| {
                t.lines()
                    .find(|l| l.contains(name))
                    .unwrap_or_default()
                    .to_string()
            };
            assert!(row(&text, "query-key").contains(" full "), "{text}");
            assert!(row(&text, "unused-key").contains(" full "), "{text}");
            // The newest (query-key) is selected: Details say what it was used for.
            c.ch('v');
            let text = c
                .wait_until("query-key's use", |t| {
                    t.contains("┌ Details") && t.contains("Used in the last 30 days")
                })
                .await;
            assert!(text.contains("Scopes: query, ingest, manage"), "{text}");
            assert!(text.contains("Allowed from: anywhere"), "{text}");
            let shown = |t: &str, first: &str, calls: &str| {
                t.lines().any(|l| {
                    let words: Vec<&str> = l
                        .split(|c: char| c == '│' || c.is_whitespace())
                        .filter(|w| !w.is_empty())
                        .collect();
                    words.first() == Some(&first) && words.get(1) == Some(&calls)
                })
            };
            let calls = CALLS.to_string();
            // Scrolled to the table of scopes and networks (Details is taller than the screen).
            c.ch('G');
            let text = c
                .wait_until("the scopes and networks used", |t| {
                    shown(t, "query", &calls) && shown(t, "127.0.0.0/24", &calls)
                })
                .await;
            assert!(shown(&text, "ingest", "0"), "{text}");
            assert!(text.contains("recorded since"), "{text}");
            c.key(KeyCode::Esc);
            c.wait_gone("┌ Details").await;
        },
    )
    .await;
}
