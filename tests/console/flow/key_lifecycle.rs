//! The key lifecycle (issue 8) in the console's real event loop against a real
//! `ragkeys serve`: `x` disables after the Disable API Key popup, `x` again enables at once;
//! `R` rotates at 5 / 5 into the API Key copy popup; `e` renames.

use crossterm::event::KeyCode;
use ragkeys::client::new_idempotency_key;
use ragkeys::credential::Secret;
use ragkeys::wire::{IssueApiKey, KeyState};

use super::driver::{Setup, run};
use super::support::{client, issue, key_on_screen, open_first_service, service};
use crate::common::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_is_confirmed_with_cancel_first_then_enable_needs_none() {
    let server = Server::start();
    let api = client(&server.url(), &server.token);
    let svc = service(&api, "rag-demo").await;
    let id = issue(&api, &svc.id, "first").await;
    run(
        Setup::new(server.url(), &server.token),
        |mut c| async move {
            open_first_service(&mut c).await;
            c.wait_for("Active").await;
            c.ch('x');
            let text = c.wait_for("┌ Disable API Key").await;
            assert!(text.contains(">[Cancel]"), "Cancel has the focus:\n{text}");
            assert!(text.contains("401"), "the caution names the 401:\n{text}");
            c.key(KeyCode::Enter);
            c.wait_gone("┌ Disable API Key").await;
            c.ch('x');
            c.wait_for("┌ Disable API Key").await;
            c.key(KeyCode::Left);
            c.wait_for(">[Disable]").await;
            c.key(KeyCode::Enter);
            c.wait_for("API Key disabled").await;
            let text = c.wait_for("1 key is disabled").await;
            assert!(
                text.lines()
                    .any(|l| l.contains("first") && l.contains("Disabled"))
            );
            c.ch('x');
            c.wait_for("API Key enabled").await;
            c.wait_gone("1 key is disabled").await;
        },
    )
    .await;
    let keys = api
        .list_keys(&svc.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let key = keys
        .api_keys
        .iter()
        .find(|k| k.id == id)
        .expect("the key is still there");
    assert_eq!(key.state, KeyState::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_at_the_limit_leads_into_the_copy_popup_and_both_keys_verify() {
    let server = Server::start();
    let api = client(&server.url(), &server.token);
    let svc = service(&api, "rag-demo").await;
    for n in 1..=4 {
        issue(&api, &svc.id, &format!("filler-{n}")).await;
    }
    // The newest key, selected when the list opens.
    let old = api
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
    let old_id = old.api_key.id.clone();
    let new_key = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen = new_key.clone();
    run(
        Setup::new(server.url(), &server.token),
        |mut c| async move {
            open_first_service(&mut c).await;
            c.wait_for("[Issue API Key] 5 / 5").await;
            c.ch('R');
            let text = c.wait_for("┌ Rotate API Key").await;
            assert!(text.contains("[24 hours]"), "24 hours first:\n{text}");
            assert!(text.contains("target"), "{text}");
            c.key(KeyCode::Tab);
            c.wait_for(">[Rotate]").await;
            c.key(KeyCode::Enter);
            let text = c.wait_for("┌ API Key copy").await;
            let key = key_on_screen(&text);
            // [OK] before any copy asks once more; its OK closes both.
            c.key(KeyCode::Tab);
            c.key(KeyCode::Enter);
            c.wait_for("┌ Close without copying?").await;
            c.key(KeyCode::Left);
            c.key(KeyCode::Enter);
            c.wait_gone("┌ API Key copy").await;
            let text = c
                .wait_until("the rotated rows", |t| {
                    t.contains("Rotating · ends") && t.contains("· new")
                })
                .await;
            assert!(!text.contains(&key), "the key is gone from the screen");
            assert!(text.contains("[Issue API Key] 5 / 5"), "one slot:\n{text}");
            let rows: Vec<&str> = text.lines().filter(|l| l.contains("********")).collect();
            assert!(
                rows[0].starts_with("│> ") && rows[0].contains("· new"),
                "the successor is selected:\n{text}"
            );
            assert!(
                rows.iter()
                    .any(|l| l.contains("target") && l.contains("Rotating · ends")),
                "{text}"
            );
            if let Ok(mut k) = seen.lock() {
                *k = key;
            }
        },
    )
    .await;
    let new_key = new_key.lock().map(|k| k.clone()).unwrap_or_default();
    assert!(new_key.starts_with("ragk_"));
    for k in [old.key.expose().to_string(), new_key] {
        let v = api.verify(&Secret::new(k)).await;
        assert!(v.is_ok(), "both keys verify during the grace: {v:?}");
    }
    let list = api
        .list_keys(&svc.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        list.api_keys.len(),
        6,
        "five slots, the old key sharing one"
    );
    let old = list
        .api_keys
        .iter()
        .find(|k| k.id == old_id)
        .expect("the old key is listed during its grace");
    assert_eq!(old.state, KeyState::Rotating);
    assert!(old.replaced_by.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_saves_through_patch_and_keeps_the_selection() {
    let server = Server::start();
    let api = client(&server.url(), &server.token);
    let svc = service(&api, "rag-demo").await;
    let id = issue(&api, &svc.id, "before").await;
    issue(&api, &svc.id, "other").await;
    run(
        Setup::new(server.url(), &server.token),
        |mut c| async move {
            open_first_service(&mut c).await;
            c.key(KeyCode::Down);
            c.ch('e');
            let text = c.wait_for("┌ Rename API Key").await;
            assert!(text.contains("Name: before"), "prefilled:\n{text}");
            for _ in 0.."before".len() {
                c.key(KeyCode::Backspace);
            }
            c.typed("after");
            c.key(KeyCode::Enter);
            c.wait_for("API Key renamed").await;
            let text = c
                .wait_until("the renamed row", |t| {
                    t.lines()
                        .any(|l| l.starts_with("│> ") && l.contains("after"))
                })
                .await;
            assert!(!text.contains("before"), "{text}");
        },
    )
    .await;
    let list = api
        .list_keys(&svc.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let key = list.api_keys.iter().find(|k| k.id == id).expect("listed");
    assert_eq!(key.name.as_deref(), Some("after"));
}
