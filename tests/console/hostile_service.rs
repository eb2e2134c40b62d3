//! A hostile "key service" whose strings carry terminal commands: set the clipboard (OSC 52),
//! set the window title (OSC 2), clear the screen (CSI 2J), C1 controls and bidi overrides. The
//! console must draw them as inert text: the terminal's clipboard, title and screen untouched.

use axum::Json;
use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use crate::common::BIN;
use crate::common::tmux::{Tmux, sh_quote};

const EVIL: &str = "\u{1b}]52;c;cG93bmVk\u{7}\u{1b}]2;PWNED\u{7}\u{1b}[2J\u{1b}[H\u{9b}31m\u{202e}";

fn service() -> Value {
    json!({
        "id": format!("svc_evil{EVIL}"),
        "name": format!("evil{EVIL}name"),
        "description": format!("desc{EVIL}\u{2066}tail"),
        "key_count": 1,
        "key_limit": 5,
        "created_at": "2026-11-26T05:37:50Z"
    })
}

async fn start_hostile() -> String {
    let app = Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route(
            "/v1/me",
            get(|| async { Json(json!({"name": format!("mallory{EVIL}"), "role": "manager"})) }),
        )
        .route(
            "/v1/services",
            get(|| async { Json(json!({"services": [service()]})) }),
        )
        .route("/v1/services/{id}", get(|| async { Json(service()) }))
        .route(
            "/v1/services/{id}/api-keys",
            get(|| async {
                Json(json!({
                    "api_keys": [{
                        "id": format!("key_x{EVIL}"),
                        "masked": format!("ragk_AbCd{EVIL}********wXyZ"),
                        "name": format!("k{EVIL}"),
                        "created_at": "2026-11-26T05:37:50Z",
                        "last_used_at": null
                    }],
                    "key_limit": 5
                }))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread")]
async fn strings_from_the_wire_cannot_command_the_terminal() {
    let url = start_hostile().await;
    let home = tempfile::tempdir().unwrap();
    let cmd = format!(
        "env -u RAGKEYS_PROFILE HOME={home} XDG_CONFIG_HOME={home}/config LANG=C.UTF-8 \
         RAGKEYS_TOKEN=ragadm_notchecked {bin} --endpoint {url} --clipboard osc52 --lang en",
        home = sh_quote(&home.path().display().to_string()),
        bin = sh_quote(BIN),
        url = sh_quote(&url),
    );
    let term = Tmux::start(&cmd, 100, 30);
    let title_before = term.format("#{pane_title}");

    // The services screen draws the name as text; the header survives the would-be clear.
    let screen = term.wait_text("evil");
    assert!(screen.contains("Services"), "{screen}");
    term.keys(&["Enter"]);
    let screen = term.wait_text("API Key management");
    assert!(screen.contains("ragk_AbCd"), "{screen}");
    // Give any escape sequence time to act before looking at its effects.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let screen = term.screen();
    assert!(
        screen.contains("API Key management"),
        "screen was cleared:\n{screen}"
    );
    assert!(
        !screen.contains('\u{202e}') && !screen.contains('\u{2066}'),
        "bidi controls reached the screen:\n{screen}"
    );

    assert_eq!(
        term.buffer(),
        None,
        "OSC 52 from the wire set the clipboard"
    );
    let title = term.format("#{pane_title}");
    assert_ne!(title, "PWNED");
    assert_eq!(title, title_before, "OSC 2 from the wire changed the title");

    term.keys(&["C-c"]);
    term.wait_dead();
}

#[tokio::test(flavor = "multi_thread")]
async fn command_output_from_the_wire_cannot_command_the_terminal() {
    // The commands print without ratatui in between: their own sanitizing is all there is.
    let url = start_hostile().await;
    let home = tempfile::tempdir().unwrap();
    let cmd = format!(
        "env -u RAGKEYS_PROFILE HOME={home} XDG_CONFIG_HOME={home}/config LANG=C.UTF-8 \
         RAGKEYS_TOKEN=ragadm_notchecked RAGKEYS_ENDPOINT={url} \
         sh -c '{bin} services list; {bin} keys list svc_evil; {bin} --json services list; echo DONE'",
        home = sh_quote(&home.path().display().to_string()),
        bin = BIN,
        url = sh_quote(&url),
    );
    let term = Tmux::start(&cmd, 200, 40);
    let title_before = term.format("#{pane_title}");
    term.wait_dead();
    let history = term.history();
    assert!(history.contains("DONE"), "{history}");
    assert!(
        history.contains("evil"),
        "the service was not listed:\n{history}"
    );
    assert!(
        history.contains("ragk_AbCd"),
        "the key was not listed:\n{history}"
    );
    assert_eq!(
        term.buffer(),
        None,
        "OSC 52 from the wire set the clipboard"
    );
    assert_eq!(term.format("#{pane_title}"), title_before);
    assert!(!history.contains('\u{202e}') && !history.contains('\u{2066}'));
}
