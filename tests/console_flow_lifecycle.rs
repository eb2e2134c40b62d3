//! The key lifecycle (issue 8) in the console's real event loop against a real
//! `ragkeys serve`: `x` disables after the Disable API Key popup, `x` again enables at once.

mod common;

#[path = "console_flow/driver.rs"]
mod driver;

#[path = "console_flow/support.rs"]
#[allow(dead_code)]
mod support;

use crossterm::event::KeyCode;
use ragkeys::wire::KeyState;

use common::Server;
use driver::{Setup, run};
use support::{client, issue, open_first_service, service};

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
