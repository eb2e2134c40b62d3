//! The Audit trail and Who owns this key? (issue 9) in the console's real event loop against a
//! real `ragkeys serve`: `w` → paste a real key → `[Open]` lands on its service and row;
//! reaches the oldest of 250 events with one `G`.

use crossterm::event::KeyCode;
use ragkeys::client::new_idempotency_key;
use ragkeys::wire::{IssueApiKey, UpdateApiKey};

use super::driver::{Setup, run};
use super::support::{client, issue, service};
use crate::common::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whois_paste_then_open_lands_on_the_owner_and_its_row() {
    let server = Server::start();
    let api = client(&server.url(), &server.token);
    let alpha = service(&api, "alpha").await;
    issue(&api, &alpha.id, "alpha-one").await;
    let beta = service(&api, "beta").await;
    issue(&api, &beta.id, "beta-old").await;
    let wanted = api
        .issue_key(
            &beta.id,
            &IssueApiKey {
                name: Some("beta-wanted".into()),
                ..Default::default()
            },
            &new_idempotency_key(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Newer than the wanted one: the list would otherwise select it by default.
    issue(&api, &beta.id, "beta-newest").await;
    let plaintext = wanted.key.key.expose().to_string();
    run(
        Setup::new(server.url(), &server.token),
        |mut c| async move {
            c.wait_for("[API Key management]").await;
            c.ch('w');
            c.wait_for("┌ Who owns this key?").await;
            // A bad checksum is refused here.
            let mut bad = plaintext.clone();
            let last = bad.pop().unwrap_or('A');
            bad.push(if last == 'A' { 'B' } else { 'A' });
            c.paste(&bad);
            c.key(KeyCode::Enter);
            let text = c.wait_for("not a ragkeys API key").await;
            assert!(!text.contains(&bad[5..]), "only dots are shown:\n{text}");
            for _ in 0..bad.len() {
                c.key(KeyCode::Backspace);
            }
            c.wait_gone("not a ragkeys API key").await;
            c.paste(&format!("{plaintext}\n"));
            c.key(KeyCode::Enter);
            let text = c.wait_for("Service: beta").await;
            assert!(text.contains(">[Open]"), "[Open] has the focus:\n{text}");
            assert!(
                !text.contains(&plaintext[5..]),
                "only dots are shown:\n{text}"
            );
            c.key(KeyCode::Enter);
            c.wait_gone("┌ Who owns this key?").await;
            let text = c
                .wait_until("beta's keys", |t| {
                    t.contains("beta-newest") && t.contains("beta-wanted")
                })
                .await;
            let selected = text
                .lines()
                .find(|l| l.contains("│>"))
                .unwrap_or_else(|| panic!("a selected row:\n{text}"));
            assert!(selected.contains("beta-wanted"), "{text}");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_pages_through_250_events_to_the_oldest() {
    let server = Server::start();
    let api = client(&server.url(), &server.token);
    let svc = service(&api, "busy").await;
    let key_id = issue(&api, &svc.id, "renamed-0").await;
    // service.create + api_key.issue + 248 renames = 250 events.
    for n in 1..=248 {
        let body = UpdateApiKey {
            name: Some(Some(format!("renamed-{n}"))),
            ..Default::default()
        };
        api.update_key(&svc.id, &key_id, &body)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    run(
        Setup::new(server.url(), &server.token),
        |mut c| async move {
            c.wait_for("[API Key management]").await;
            c.ch('a');
            c.wait_for("┌ Audit trail · every service").await;
            c.wait_for("api_key.update").await;
            let text = c
                .wait_until("the first page", |t| loaded(t).is_some())
                .await;
            assert!(!text.contains("the oldest event"), "{text}");
            // One G: the oldest events in one request (order=oldest), the oldest at the bottom,
            // and only then the status names it.
            c.ch('G');
            let text = c
                .wait_until("the oldest row on screen", |t| {
                    t.contains("the oldest event") && !t.contains("Loading…")
                })
                .await;
            assert!(text.contains("of 100 · the oldest event"), "{text}");
            let rows: Vec<&str> = text.lines().filter(|l| l.contains("20")).collect();
            let last = rows
                .iter()
                .rev()
                .find(|l| l.contains("service.") || l.contains("api_key."))
                .unwrap_or_else(|| panic!("{text}"));
            assert!(
                last.contains("service.create"),
                "the oldest is last:\n{text}"
            );
            // The filter finds the first issue among the loaded rows.
            c.ch('/');
            c.typed("api_key.issue");
            let text = c.wait_for("(1 match)").await;
            assert!(text.contains("api_key.issue"), "{text}");
            c.key(KeyCode::Esc);
            c.key(KeyCode::Esc);
            c.wait_gone("┌ Audit trail").await;
        },
    )
    .await;
}

/// How many events the Audit trail's status line says are loaded (`1–24 of 100`).
fn loaded(text: &str) -> Option<usize> {
    text.lines().find_map(|l| {
        let (_, rest) = l.split_once(" of ")?;
        let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
        l.contains('–').then(|| n.parse().ok()).flatten()
    })
}
