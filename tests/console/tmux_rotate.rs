//! The key lifecycle (issue 8) in a real terminal (tmux) against a real key service: `R`, the
//! grace choice on 24 hours, `[Rotate]`, the successor in the API Key copy popup, `[OK]` and
//! its confirmation, then the old row `Rotating · ends …` and the new one `new`.

use crate::common::api::Api;
use crate::common::tmux::{Tmux, find_key, sh_quote};
use crate::common::{BIN, Server};
use reqwest::Method;

fn console_command(server: &Server, home: &std::path::Path) -> String {
    format!(
        "env -u RAGKEYS_PROFILE -u RAGKEYS_ENDPOINT HOME={home} XDG_CONFIG_HOME={home}/config \
         XDG_DATA_HOME={home}/data LANG=C.UTF-8 RAGKEYS_TOKEN={token} {bin} --endpoint {url} \
         --clipboard osc52 --lang en",
        home = sh_quote(&home.display().to_string()),
        token = sh_quote(&server.token),
        bin = sh_quote(BIN),
        url = sh_quote(&server.url()),
    )
}

/// A POST with an idempotency key of its own, asserted 201; its answer.
async fn post(server: &Server, path: &str, body: serde_json::Value) -> serde_json::Value {
    let idem = ragkeys::client::new_idempotency_key();
    Api::new(server)
        .send(
            Method::POST,
            path,
            Some(&server.token),
            Some(&body),
            &[("idempotency-key", &idem)],
        )
        .await
        .expect(201)
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_in_a_real_terminal_shows_the_successor_once_then_both_rows() {
    ragkeys::client::install_crypto_provider();
    let server = Server::start();
    let svc = post(
        &server,
        "/v1/services",
        serde_json::json!({"name": "e2e-rotate", "description": "end-to-end"}),
    )
    .await;
    let svc_id = svc["id"].as_str().unwrap_or_default().to_string();
    let issued = post(
        &server,
        &format!("/v1/services/{svc_id}/api-keys"),
        serde_json::json!({"name": "payments"}),
    )
    .await;
    let old = issued["key"].as_str().unwrap_or_default().to_string();
    assert!(old.starts_with("ragk_"));

    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let term = Tmux::start(&console_command(&server, home.path()), 100, 30);
    term.wait_text("e2e-rotate");
    term.keys(&["Enter"]);
    term.wait_text("1 / 5");
    term.wait_text("payments");

    // R: the grace choice has the focus and starts on 24 hours.
    term.keys(&["R"]);
    let screen = term.wait_text("Rotate API Key");
    assert!(screen.contains("[24 hours]"), "{screen}");
    assert!(screen.contains("The old key stops at"), "{screen}");
    term.keys(&["Tab"]);
    term.wait_text(">[Rotate]");
    term.keys(&["Enter"]);

    // The successor, shown once in the API Key copy popup.
    let screen = term.wait_for("the successor", |s| {
        s.contains("API Key copy") && find_key(s).is_some()
    });
    let new = find_key(&screen).unwrap_or_default();
    assert_ne!(new, old);
    assert_eq!(Api::new(&server).verify(&new).await.status, 200);
    assert_eq!(
        Api::new(&server).verify(&old).await.status,
        200,
        "the grace runs"
    );

    // [OK] before any copy asks once more; OK there closes it.
    term.keys(&["Tab", "Enter"]);
    term.wait_text("Close without copying?");
    term.keys(&["Left", "Enter"]);
    let screen = term.wait_for("the rotated rows", |s| {
        s.contains("Rotating · ends") && s.contains("· new") && !s.contains("API Key copy")
    });
    assert!(find_key(&screen).is_none(), "{screen}");
    assert!(screen.contains("1 / 5"), "one slot for both:\n{screen}");
    let rows: Vec<&str> = screen
        .lines()
        .filter(|l| l.starts_with('│') && l.contains("********"))
        .collect();
    assert_eq!(rows.len(), 2, "{screen}");
    assert!(
        rows[0].contains("· new") && rows[0].contains("payments"),
        "{screen}"
    );
    // The grace ends tomorrow (the console and this test share the machine's time zone): the
    // date is shown with the time.
    let tomorrow = (chrono::Local::now() + chrono::Duration::hours(24))
        .format("%m-%d")
        .to_string();
    assert!(
        rows[1].contains(&format!("Rotating · ends {tomorrow}")),
        "{screen}"
    );

    term.keys(&["q"]);
    term.wait_text("[API Key management]");
    term.keys(&["q"]);
    term.wait_dead();
    let history = term.history();
    assert!(!history.contains(&new), "the key is in the scrollback");
}
