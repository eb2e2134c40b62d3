//! The console's real event loop, driven by scripted key presses and read back from a
//! `TestBackend`, against a real `ragkeys serve` on 127.0.0.1:0: what an admin does on the
//! API Key management page, end to end, without a terminal.

use std::process::Command;
use std::time::Duration;

use base64::Engine;
use crossterm::event::KeyCode;
use ragkeys::console::app::Exit;
use ragkeys::credential::Secret;
use ragkeys::wire::AuditAction;

use super::driver::{Setup, run};
use super::support::{
    Serving, client, issue, issue_in_console, open_first_service, serve_at, service,
};
use crate::common::{BIN, Server};

const NOTE: &str = "If you exceed the maximum number of issuable API Keys, you cannot issue a new one. Delete an existing API Key and try again.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_keys_are_issued_and_copied_and_the_sixth_is_refused_with_the_page_note() {
    let server = Server::start();
    let api = client(&server.url(), &server.token);
    let api2 = api.clone();
    let exit = run(
        Setup::new(server.url(), &server.token),
        |mut c| async move {
            // Create the service from the console itself.
            c.wait_for("No services yet").await;
            c.ch('c');
            c.wait_for("┌ Create service").await;
            c.typed("rag-demo");
            c.key(KeyCode::Tab);
            c.typed("Demo retrieval service");
            c.key(KeyCode::Enter);
            c.wait_for("Service created: rag-demo").await;
            open_first_service(&mut c).await;
            c.wait_for("No API Keys yet").await;
            let mut keys = Vec::new();
            for n in 1..=5 {
                let before = c.output.0.lock().map(|o| o.len()).unwrap_or(0);
                let key = issue_in_console(&mut c, &format!("key-{n}"), n).await;
                // [Copy key] with OSC 52: exactly these bytes went to the terminal.
                let expected = format!(
                    "\x1b]52;c;{}\x07",
                    base64::engine::general_purpose::STANDARD.encode(&key)
                );
                let written = c
                    .output
                    .0
                    .lock()
                    .map(|o| o[before..].to_vec())
                    .unwrap_or_default();
                assert_eq!(written, expected.as_bytes());
                keys.push(key);
            }
            let text = c.text();
            assert!(text.contains("[Issue API Key] 5 / 5"));
            // The page's note, wrapped on screen: compare without line breaks.
            let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(flat.contains(NOTE), "{text}");
            // The plaintext is gone from the screen; the list shows masked keys, newest first.
            for k in &keys {
                assert!(!text.contains(k.as_str()));
            }
            let rows: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with('│') && l.contains("********"))
                .collect();
            assert_eq!(rows.len(), 5);
            assert!(rows[0].starts_with("│> ") && rows[0].contains("key-5"));
            assert!(rows[4].contains("key-1"));
            // The sixth: refused before anything is sent, in the page's words.
            c.ch('i');
            c.wait_for("If you exceed the maximum number of issuable API Keys")
                .await;
            assert!(!c.text().contains("┌ Issue API Key"));
            for k in &keys {
                let v = api2.verify(&Secret::new(k.clone())).await;
                assert!(v.is_ok(), "the copied key works: {v:?}");
            }
            c.ch('q');
            c.wait_for("[Create service]").await;
            c.ch('q');
        },
    )
    .await;
    assert_eq!(exit, Exit::Quit);
    let svc = api.list_services().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(svc.services[0].key_count, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_issued_elsewhere_meanwhile_makes_the_service_refuse_in_the_page_words() {
    let server = Server::start();
    let api = client(&server.url(), &server.token);
    let svc = service(&api, "rag-demo").await;
    for n in 0..3 {
        issue(&api, &svc.id, &format!("k{n}")).await;
    }
    let (api2, svc_id) = (api.clone(), svc.id.clone());
    run(
        Setup::new(server.url(), &server.token),
        |mut c| async move {
            open_first_service(&mut c).await;
            c.wait_for("[Issue API Key] 3 / 5").await;
            c.ch('i');
            c.wait_for("Remaining: 2").await;
            // Another admin takes the last two slots.
            issue(&api2, &svc_id, "other-1").await;
            issue(&api2, &svc_id, "other-2").await;
            c.key(KeyCode::Enter);
            let popup = c.popup("Limit reached").await;
            assert!(popup.starts_with(NOTE), "{popup}");
            c.key(KeyCode::Enter);
            c.wait_for("[Issue API Key] 5 / 5").await;
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_is_cancelled_first_then_done() {
    let server = Server::start();
    let api = client(&server.url(), &server.token);
    let svc = service(&api, "rag-demo").await;
    let first = issue(&api, &svc.id, "first").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = issue(&api, &svc.id, "second").await;
    run(
        Setup::new(server.url(), &server.token),
        |mut c| async move {
            open_first_service(&mut c).await;
            // Newest first: "second" is selected; move to "first".
            c.ch('j');
            c.ch('d');
            let text = c.wait_for("┌ Delete API Key").await;
            assert!(text.contains("Name: first"));
            assert!(text.contains(">[Cancel]"), "Cancel has the focus:\n{text}");
            c.key(KeyCode::Enter);
            c.wait_gone("┌ Delete API Key").await;
            assert!(c.text().contains("[Issue API Key] 2 / 5"));
            // Now through the row's ≡ menu, and [Delete].
            c.ch('m');
            c.wait_for(">Delete").await;
            c.key(KeyCode::Enter);
            c.wait_for("┌ Delete API Key").await;
            c.key(KeyCode::Left);
            c.wait_for(">[Delete]").await;
            c.key(KeyCode::Enter);
            c.wait_for("API Key deleted").await;
            let text = c.wait_for("[Issue API Key] 1 / 5").await;
            assert!(text.contains("second") && !text.contains("first"));
            assert!(
                text.lines()
                    .any(|l| l.starts_with("│> ") && l.contains("second"))
            );
        },
    )
    .await;
    let keys = api
        .list_keys(&svc.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = keys.api_keys.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, [second.as_str()]);
    assert!(!ids.contains(&first.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_service_is_reported_and_the_console_recovers_without_issuing_twice() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().join("data");
    let mut server = Server::start_in(&dir, &[]);
    let (addr, url, token) = (server.addr, server.url(), server.token.clone());
    let api = client(&url, &token);
    let svc = service(&api, "rag-demo").await;
    issue(&api, &svc.id, "existing").await;
    let mut last: Option<Serving> = None;
    let slot = &mut last;
    let dir2 = dir.clone();
    run(Setup::new(url.clone(), &token), |mut c| async move {
        open_first_service(&mut c).await;
        c.wait_for("[Issue API Key] 1 / 5").await;
        // The service stops: r says so, and what was shown stays.
        server.stop();
        c.ch('r');
        let text = c.wait_for("Connection lost. Press r to retry.").await;
        assert!(text.contains("existing"), "{text}");
        // It comes back on the same address: r recovers, and the notice goes.
        let back = serve_at(&dir2, addr);
        c.ch('r');
        c.wait_gone("Connection lost").await;
        assert!(c.text().contains("existing"));
        // It stops again during an issue: a clear error, with [Retry].
        back.stop();
        c.ch('i');
        c.wait_for("┌ Issue API Key").await;
        c.typed("during-outage");
        c.key(KeyCode::Enter);
        let popup = c.popup("Connection lost").await;
        assert!(popup.starts_with("Cannot reach the service"), "{popup}");
        assert!(popup.contains("a retried issue never issues a second key"));
        assert!(popup.ends_with(">[Retry] [Cancel]"), "{popup}");
        // Back again; Retry sends the same issue, with the same Idempotency-Key.
        *slot = Some(serve_at(&dir2, addr));
        c.key(KeyCode::Enter);
        c.wait_for("┌ API Key copy").await;
        c.key(KeyCode::Enter);
        c.wait_for("Sent to the terminal").await;
        c.key(KeyCode::Tab);
        c.key(KeyCode::Enter);
        c.wait_for("[Issue API Key] 2 / 5").await;
        c.ch('r');
        c.wait_for("during-outage").await;
    })
    .await;
    let keys = api
        .list_keys(&svc.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(keys.api_keys.len(), 2, "issued once, not twice");
    drop(last);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_or_wrong_token_is_refused_with_what_to_do() {
    let server = Server::start();
    let bob = server.create_token("bob", "manager");
    let data_dir = server.data_dir.clone();
    run(Setup::new(server.url(), &bob), |mut c| async move {
        c.wait_for("bob · manager").await;
        c.wait_for("No services yet").await;
        let out = Command::new(BIN)
            .args(["tokens", "revoke", "bob", "--data-dir"])
            .arg(&data_dir)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        c.ch('r');
        let popup = c.popup("Access denied").await;
        assert!(popup.contains("refused the admin token (401)"), "{popup}");
    })
    .await;
    let wrong = format!("ragadm_{}", "x".repeat(36));
    run(Setup::new(server.url(), &wrong), |mut c| async move {
        let popup = c.popup("Access denied").await;
        assert!(
            popup.contains("start the console with a valid token"),
            "{popup}"
        );
        let text = c.text();
        // The header never learnt who we are.
        assert!(
            text.lines()
                .next()
                .is_some_and(|l| l.trim_end().ends_with('…'))
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_issue_delete_and_create_disabled_and_nothing_is_sent() {
    let server = Server::start();
    let api = client(&server.url(), &server.token);
    let svc = service(&api, "rag-demo").await;
    issue(&api, &svc.id, "existing").await;
    let viewer = server.create_token("vera", "viewer");
    run(Setup::new(server.url(), &viewer), |mut c| async move {
        let text = c.wait_for("vera · viewer").await;
        assert!(text.contains("Read-only: your admin token's role is viewer"));
        c.ch('c');
        c.wait_for("Your role is viewer: creating a service needs the manager role.")
            .await;
        open_first_service(&mut c).await;
        c.ch('i');
        c.wait_for("Your role is viewer: issuing an API Key needs the manager role.")
            .await;
        c.ch('d');
        c.wait_for("Your role is viewer: deleting an API Key needs the manager role.")
            .await;
        c.ch('m');
        c.wait_for(">Delete").await;
        c.key(KeyCode::Enter);
        c.wait_gone(">Delete").await;
        assert!(!c.text().contains("┌ Delete API Key"));
    })
    .await;
    // The audit trail holds the setup only: the viewer's console sent no issue or delete.
    let audit = api.audit(&svc.id).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        audit.events.iter().all(|e| e.actor != "vera"),
        "{:?}",
        audit.events
    );
    let issues = audit
        .events
        .iter()
        .filter(|e| e.action == AuditAction::ApiKeyIssue)
        .count();
    assert_eq!(issues, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_draws_nothing_while_idle_and_ends_with_its_input() {
    let server = Server::start();
    let exit = run(
        Setup::new(server.url(), &server.token),
        |mut c| async move {
            c.wait_for("No services yet").await;
            // Let the last answers land, then watch the idle console.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let before = c.frame().draws;
            tokio::time::sleep(Duration::from_millis(800)).await;
            assert_eq!(c.frame().draws, before, "no redraw while idle");
            c.ch('?');
            c.wait_for("┌ Help").await;
            assert!(c.frame().draws > before);
            c.hang_up();
        },
    )
    .await;
    assert_eq!(exit, Exit::EndOfInput);
    let exit = run(
        Setup::new(server.url(), &server.token),
        |mut c| async move {
            c.wait_for("Services").await;
            c.ctrl('c');
            // The loop has ended: keep the input open to show that Ctrl-C alone ended it.
            tokio::time::sleep(Duration::from_millis(200)).await;
        },
    )
    .await;
    assert_eq!(exit, Exit::Quit);
}
