//! Leaked keys (docs/console.md, Leaked keys) in the console's real event loop against a real
//! `ragkeys serve`: a key reported over HTTP reads `Leaked` after `r`; Details' `[Rotate]` replaces
//! it at once (no grace) through the copy popup, and the list then shows the successor and no
//! leaked key; Who owns this key? → `[Disable it: it leaked]` → the key reads `Leaked`.

use crossterm::event::KeyCode;
use ragkeys::client::new_idempotency_key;
use ragkeys::wire::{IssueApiKey, KeyState};

use super::driver::{Setup, run};
use super::support::{client, issue, key_on_screen, open_first_service, service};
use crate::common::Server;

const FOUND_AT: &str = "https://github.com/acme/app/blob/main/.env";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reported_key_reads_leaked_and_details_rotate_replaces_it_at_once() {
    let server = Server::start();
    let api = client(&server.url(), &server.token);
    let svc = service(&api, "rag-demo").await;
    issue(&api, &svc.id, "other").await;
    // The newest key, selected when the list opens.
    let target = api
        .issue_key(
            &svc.id,
            &IssueApiKey {
                name: Some("target".into()),
                ..Default::default()
            },
            &new_idempotency_key(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .key;
    let target_id = target.api_key.id.clone();
    let reporter = client(&server.url(), &server.token);
    let secret = target.key.clone();
    run(
        Setup::new(server.url(), &server.token),
        |mut c| async move {
            open_first_service(&mut c).await;
            let text = c.wait_for("target").await;
            assert!(!text.contains("Leaked"), "{text}");
            reporter
                .report_leak(&secret, Some(FOUND_AT))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            c.ch('r');
            let text = c
                .wait_until("the Leaked row", |t| {
                    t.lines()
                        .any(|l| l.contains("target") && l.contains("Leaked"))
                })
                .await;
            assert!(text.contains("1 key leaked: disabled"), "{text}");
            c.ch('v');
            let text = c.wait_for(">[Rotate]").await;
            assert!(text.contains("┌ Details"), "{text}");
            assert!(text.contains("Leaked: found by"), "{text}");
            assert!(text.contains("Found at: https://github.com/acme"), "{text}");
            c.key(KeyCode::Enter);
            let text = c.wait_for("┌ Rotate API Key").await;
            assert!(!text.contains("Grace period"), "no grace choice:\n{text}");
            assert!(text.contains(">[Rotate]"), "{text}");
            c.key(KeyCode::Enter);
            let text = c.wait_for("┌ API Key copy").await;
            let key = key_on_screen(&text);
            assert!(key.starts_with("ragk_"));
            // [OK] before any copy asks once more; its OK closes both.
            c.key(KeyCode::Tab);
            c.key(KeyCode::Enter);
            c.wait_for("┌ Close without copying?").await;
            c.key(KeyCode::Left);
            c.key(KeyCode::Enter);
            c.wait_gone("┌ API Key copy").await;
            let text = c
                .wait_until("the successor alone", |t| {
                    let rows: Vec<&str> = t
                        .lines()
                        .filter(|l| l.starts_with('│') && l.contains("********"))
                        .collect();
                    rows.len() == 2
                        && rows.iter().any(|l| l.contains("target"))
                        && !t.contains("Leaked")
                        && !t.contains("Loading…")
                })
                .await;
            assert!(!text.contains(&key), "the key is gone from the screen");
            assert!(!text.contains("leaked"), "{text}");
        },
    )
    .await;
    let keys = api
        .list_keys(&svc.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(keys.api_keys.len(), 2, "{keys:?}");
    assert!(keys.api_keys.iter().all(|k| k.id != target_id));
    assert!(
        keys.api_keys
            .iter()
            .any(|k| k.name.as_deref() == Some("target") && k.state == KeyState::Active)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whois_disable_it_it_leaked_stops_the_key_and_the_row_reads_leaked() {
    let server = Server::start();
    let api = client(&server.url(), &server.token);
    let svc = service(&api, "rag-demo").await;
    let victim = api
        .issue_key(
            &svc.id,
            &IssueApiKey {
                name: Some("victim".into()),
                ..Default::default()
            },
            &new_idempotency_key(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .key;
    let plaintext = victim.key.expose().to_string();
    run(
        Setup::new(server.url(), &server.token),
        |mut c| async move {
            open_first_service(&mut c).await;
            c.wait_for("victim").await;
            c.ch('w');
            c.wait_for("┌ Who owns this key?").await;
            c.paste(&plaintext);
            c.key(KeyCode::Enter);
            let text = c.wait_for("Service: rag-demo").await;
            assert!(text.contains("[Disable it: it leaked]"), "{text}");
            c.key(KeyCode::Tab);
            c.wait_for(">[Disable it: it leaked]").await;
            c.key(KeyCode::Enter);
            c.wait_for("Where was it found? (optional)").await;
            c.paste(&format!("{FOUND_AT}\u{1b}[2J"));
            c.key(KeyCode::Enter);
            c.wait_gone("┌ Who owns this key?").await;
            let text = c
                .wait_until("the Leaked row", |t| {
                    t.lines()
                        .any(|l| l.contains("victim") && l.contains("Leaked"))
                })
                .await;
            assert!(!text.contains(&plaintext[5..]), "{text}");
        },
    )
    .await;
    let keys = api
        .list_keys(&svc.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let key = &keys.api_keys[0];
    assert_eq!(key.state, KeyState::Disabled);
    let leak = key.leak.as_ref().expect("the key carries its leak");
    // The pasted escape sequence was cleaned before it was sent.
    assert_eq!(leak.url.as_deref(), Some(&format!("{FOUND_AT}[2J")[..]));
}
