//! Usage per key (issue 9) in the console's real event loop against a real `ragkeys serve`: a
//! key verified N times shows N calls in Details and in the impact line of Delete; a disabled key
//! still presented is called out on the attention line and in its Details.

use crossterm::event::KeyCode;
use ragkeys::client::new_idempotency_key;
use ragkeys::credential::Secret;
use ragkeys::wire::{IssueApiKey, UpdateApiKey};

use super::driver::{Setup, run};
use super::support::{client, open_first_service, service};
use crate::common::Server;

/// Verifications of the active key, and presentations of the disabled one.
const CALLS: usize = 7;
const REFUSED: usize = 3;

/// The total at the end of the chart row labelled `label` in `text` (`ok  ▁▃█  7`).
fn row_total(text: &str, label: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let inner = l.trim_matches(|c: char| c == '│' || c.is_whitespace());
        let inner = inner
            .split('│')
            .find(|p| p.trim_start().starts_with(label))?;
        let mut words = inner.split_whitespace();
        (words.next()? == label).then(|| words.last().map(str::to_string))?
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn details_shows_the_calls_a_key_received_and_a_disabled_key_still_called() {
    let server = Server::start();
    let api = client(&server.url(), &server.token);
    let svc = service(&api, "usage").await;
    let mut plain = Vec::new();
    for name in ["busy-key", "dead-key"] {
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
        plain.push((
            issued.key.api_key.id.clone(),
            issued.key.key.expose().to_string(),
        ));
    }
    let (_, busy) = &plain[0];
    let (dead_id, dead) = &plain[1];
    for _ in 0..CALLS {
        api.verify(&Secret::new(busy.clone()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let off = UpdateApiKey {
        enabled: Some(false),
        ..Default::default()
    };
    api.update_key(&svc.id, dead_id, &off)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..REFUSED {
        assert!(api.verify(&Secret::new(dead.clone())).await.is_err());
    }
    run(
        Setup::new(server.url(), &server.token),
        |mut c| async move {
            open_first_service(&mut c).await;
            // The disabled key's usage is fetched with the list.
            c.wait_for("1 disabled key is still being called").await;
            // The newest (dead-key) is selected: its Details warn at once.
            c.ch('v');
            let text = c
                .wait_until("dead-key's figures", |t| {
                    t.contains("┌ Details") && row_total(t, "refused").is_some()
                })
                .await;
            assert!(text.contains("dead-key"), "{text}");
            assert!(
                text.contains(&format!(
                    "! Disabled, yet still being called: {REFUSED} refused in the last 24 h"
                )),
                "{text}"
            );
            assert_eq!(
                row_total(&text, "refused").as_deref(),
                Some(REFUSED.to_string().as_str()),
                "{text}"
            );
            c.key(KeyCode::Esc);
            c.wait_gone("┌ Details").await;
            // busy-key: N verifications are N calls, with where they came from.
            c.key(KeyCode::Down);
            c.ch('v');
            let text = c
                .wait_until("busy-key's figures", |t| {
                    t.contains("┌ Details")
                        && t.contains("busy-key")
                        && row_total(t, "ok").is_some()
                })
                .await;
            assert_eq!(
                row_total(&text, "ok").as_deref(),
                Some(CALLS.to_string().as_str()),
                "{text}"
            );
            assert!(text.contains("from 127.0.0.1"), "{text}");
            assert!(!text.contains("still being called:"), "{text}");
            // The events are Details' last lines, below its policy, charts and table.
            c.ch('G');
            c.wait_for("api_key.issue").await;
            c.key(KeyCode::Esc);
            c.wait_gone("┌ Details").await;
            // The same figure in the impact line before a delete.
            c.ch('d');
            let impact = format!("{CALLS} calls in the last 24 h");
            let text = c.wait_for(&impact).await;
            assert!(text.contains("Last used just now from 127.0.0.1"), "{text}");
            c.key(KeyCode::Esc);
            c.wait_gone("┌ Delete API Key").await;
        },
    )
    .await;
}
