//! The console read against docs/console.md's exact words, in a real terminal (tmux) against a real
//! key service: the Help popup's title, the attention line's wording, and the order in which
//! narrow widths give columns up.

use crate::common::api::Api;
use crate::common::tmux::{Tmux, sh_quote};
use crate::common::{BIN, Server};
use reqwest::Method;

fn console(server: &Server, home: &std::path::Path, width: u16, height: u16) -> Tmux {
    let command = format!(
        "env -u RAGKEYS_PROFILE -u RAGKEYS_ENDPOINT HOME={home} XDG_CONFIG_HOME={home}/config \
         XDG_DATA_HOME={home}/data LANG=C.UTF-8 TZ=UTC RAGKEYS_TOKEN={token} {bin} \
         --endpoint {url} --lang en",
        home = sh_quote(&home.display().to_string()),
        token = sh_quote(&server.token),
        bin = sh_quote(BIN),
        url = sh_quote(&server.url()),
    );
    Tmux::start(&command, width, height)
}

async fn post(server: &Server, path: &str, body: serde_json::Value) -> serde_json::Value {
    let idem = format!("spec-{}", std::process::id());
    let r = Api::new(server)
        .send(
            Method::POST,
            path,
            Some(&server.token),
            Some(&body),
            &[("Idempotency-Key", &idem)],
        )
        .await;
    assert!(r.status.is_success(), "{path}: {}", r.status);
    r.json()
}

async fn service(server: &Server, name: &str) -> String {
    let v = post(
        server,
        "/v1/services",
        serde_json::json!({"name": name, "description": "spec"}),
    )
    .await;
    v["id"].as_str().unwrap().to_string()
}

/// RFC 3339, UTC, `ahead` (a `date -d` phrase) from now.
fn from_now(ahead: &str) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", ahead, "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn flat(screen: &str) -> String {
    screen.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread")]
async fn question_mark_opens_a_popup_titled_help() {
    let server = Server::start();
    service(&server, "help-svc").await;
    let home = tempfile::tempdir().unwrap();
    let term = console(&server, home.path(), 100, 30);
    term.wait_text("help-svc");
    term.keys(&["?"]);
    // docs/console.md, Popups: "**Help** (`?`) — every key binding of the current screen".
    let screen = term.wait_text("┌ Help");
    assert!(screen.contains("Ctrl-C"), "{screen}");
    term.keys(&["Escape"]);
    term.wait_gone_text("┌ Help");
    term.keys(&["Enter"]);
    term.wait_text("[Issue API Key]");
    term.keys(&["?"]);
    let screen = term.wait_text("┌ Help");
    assert!(screen.contains("Issue API Key"), "{screen}");
    term.keys(&["q"]);
    term.wait_gone_text("┌ Help");
    term.keys(&["C-c"]);
    term.wait_dead();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_attention_line_says_days_in_words() {
    let server = Server::start();
    let id = service(&server, "soon-svc").await;
    post(
        &server,
        &format!("/v1/services/{id}/api-keys"),
        serde_json::json!({"name": "soon", "expires_at": from_now("+3 days 2 hours")}),
    )
    .await;
    let home = tempfile::tempdir().unwrap();
    let term = console(&server, home.path(), 120, 30);
    term.wait_text("soon-svc");
    term.keys(&["Enter"]);
    // docs/console.md: "1 key expires in 3 days · 1 disabled key is still being called"; the State
    // cell keeps its short form, `expires in 3 d`.
    let screen = term.wait_text("expires in 3 d");
    assert!(
        flat(&screen).contains("1 key expires in 3 days"),
        "{screen}"
    );
    term.keys(&["C-c"]);
    term.wait_dead();
}

#[tokio::test(flavor = "multi_thread")]
async fn at_the_minimum_width_last_used_goes_before_name() {
    let server = Server::start();
    let id = service(&server, "narrow-svc").await;
    post(
        &server,
        &format!("/v1/services/{id}/api-keys"),
        serde_json::json!({"name": "narrow-key"}),
    )
    .await;
    let home = tempfile::tempdir().unwrap();
    let term = console(&server, home.path(), 60, 16);
    term.wait_text("narrow-svc");
    term.keys(&["Enter"]);
    let screen = term.wait_text("Active");
    // docs/console.md, Terminal manners: "narrow widths drop Last used, then Name, never the key, its
    // state or the ≡": while Name is shown, so is nothing ranked below it.
    for want in ["API Key", "ragk_", "Active", "≡", "Name", "narrow-key"] {
        assert!(screen.contains(want), "{want:?} missing:\n{screen}");
    }
    assert!(!screen.contains("Last used"), "{screen}");
    assert!(!screen.contains("never"), "{screen}");
    term.keys(&["C-c"]);
    term.wait_dead();
}
