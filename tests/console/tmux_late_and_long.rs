//! In a real terminal (tmux) against a real key service: an issue abandoned with Esc whose
//! answer a slow proxy holds back still shows its key once it comes (docs/console.md, A request
//! abandoned with Esc); an Audit trail of 20,000 events reaches its oldest event with one `G`
//! (Stale views); and in Korean at 60×16 the Issue popup with a date error leaves the footer
//! showing, and the Delete popup wraps Korean at spaces (Text width).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use tokio::sync::Semaphore;

use crate::common::Server;
use crate::common::api::Api;
use crate::common::tmux::{Tmux, console_at, find_key};

/// A proxy in front of `upstream` that forwards every request at once but holds back the answer
/// to an issue (`POST …/api-keys`) until the test releases it: the service has made the key,
/// the console has not heard.
struct Holding {
    upstream: String,
    http: reqwest::Client,
    gate: Arc<Semaphore>,
}

async fn forward(State(h): State<Arc<Holding>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let url = format!("{}{}", h.upstream, parts.uri);
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).unwrap();
    let mut out = h.http.request(method, url).body(body.to_vec());
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            out = out.header(name.as_str(), value.as_bytes());
        }
    }
    let Ok(answer) = out.send().await else {
        return Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::empty())
            .unwrap();
    };
    let held = parts.method == Method::POST && parts.uri.path().ends_with("/api-keys");
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap_or_default();
    if held {
        let _ = h.gate.acquire().await.map(|p| p.forget());
    }
    let mut r = Response::builder().status(status);
    for (name, value) in &headers {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            r = r.header(name.as_str(), value.as_bytes());
        }
    }
    r.body(Body::from(bytes)).unwrap()
}

/// The proxy's address, and the gate that lets one held answer through per permit.
async fn holding_proxy(server: &Server) -> (String, Arc<Semaphore>) {
    let gate = Arc::new(Semaphore::new(0));
    let h = Arc::new(Holding {
        upstream: server.url().trim_end_matches('/').to_string(),
        http: reqwest::Client::new(),
        gate: gate.clone(),
    });
    let app = Router::new().fallback(forward).with_state(h);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), gate)
}

/// The screen without its line breaks and spaces: a wrapped notice reads as one.
fn flat(s: &str) -> String {
    s.split_whitespace().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_issue_abandoned_with_esc_shows_its_key_when_the_slow_answer_comes() {
    ragkeys::client::install_crypto_provider();
    let server = Server::start();
    let api = Api::new(&server);
    api.create_service("late-answers").await;
    let (url, gate) = holding_proxy(&server).await;
    let home = tempfile::tempdir().unwrap();
    let term = Tmux::start(
        &console_at(&url, &server.token, home.path(), "--lang en"),
        100,
        30,
    );
    term.wait_text("late-answers");
    term.keys(&["Enter"]);
    term.wait_text("0 / 5");
    term.keys(&["i"]);
    term.wait_text("Issue API Key");
    for c in ["s", "l", "o", "w"] {
        term.keys(&[c]);
    }
    term.keys(&["Enter"]);
    term.wait_text("Issuing");
    // Esc while the answer is held: the popup closes, the notice says the key will show.
    term.keys(&["Escape"]);
    term.wait_text("Issue abandoned");
    // Help is open when the answer comes: a notice names the key, waiting for Help to close.
    term.keys(&["?"]);
    term.wait_text("Help");
    gate.add_permits(1);
    let s = term.wait_for("the waiting notice", |s| {
        flat(s).contains(&flat("it is shown when this popup closes"))
    });
    assert!(find_key(&s).is_none(), "no plaintext under Help:\n{s}");
    term.keys(&["Escape"]);
    let s = term.wait_for("the copy popup", |s| {
        s.contains("API Key copy") && find_key(s).is_some()
    });
    let key = find_key(&s).unwrap();
    assert_eq!(
        api.verify(&key).await.status,
        200,
        "the key shown is the one made"
    );
    term.keys(&["q"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_g_reaches_the_oldest_of_20000_audit_events() {
    ragkeys::client::install_crypto_provider();
    let server = Server::start();
    let api = Api::new(&server);
    let sid = api.create_service("long-trail").await;
    let (_, key) = api.issue_ok(&sid).await;
    // Every lookup by whois leaves one audit event: 20,000 of them, 16 at a time.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (api, key) = (Api::new(&server), key.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..1250 {
                let r = api
                    .call(
                        reqwest::Method::POST,
                        "/v1/whois",
                        Some(serde_json::json!({ "key": key })),
                    )
                    .await;
                assert_eq!(r.status, 200, "{}", r.text);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    eprintln!("20,000 whois events in {:?}", started.elapsed());
    // The oldest event is the service's creation, before every lookup.
    let home = tempfile::tempdir().unwrap();
    let term = Tmux::start(
        &console_at(&server.url(), &server.token, home.path(), "--lang en"),
        100,
        30,
    );
    term.wait_text("long-trail");
    term.keys(&["a"]);
    let s = term.wait_text("api_key.whois");
    assert!(!s.contains("the oldest event"), "{s}");
    // One G: one request, and the oldest event at the bottom with the status saying so.
    term.keys(&["G"]);
    let s = term.wait_for("the oldest event", |s| s.contains("the oldest event"));
    let rows: Vec<&str> = s.lines().filter(|l| l.contains("│")).collect();
    let last_event = rows
        .iter()
        .rev()
        .find(|l| l.contains("service.") || l.contains("api_key."))
        .unwrap_or_else(|| panic!("no event rows:\n{s}"));
    assert!(
        last_event.contains("service.create"),
        "the oldest is last:\n{s}"
    );
    term.keys(&["Escape", "q"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn korean_at_60x16_keeps_the_footer_and_wraps_at_spaces() {
    ragkeys::client::install_crypto_provider();
    let server = Server::start();
    let api = Api::new(&server);
    let sid = api.create_service("hangul").await;
    api.issue_ok(&sid).await;
    let home = tempfile::tempdir().unwrap();
    let term = Tmux::start(
        &console_at(&server.url(), &server.token, home.path(), "--lang ko"),
        60,
        16,
    );
    term.wait_text("hangul");
    term.keys(&["Enter"]);
    term.wait_text("1 / 5");
    // The Issue popup on Date… with a date that does not exist.
    term.keys(&["i"]);
    term.wait_text("API Key 발급");
    term.keys(&["Tab"]);
    for _ in 0..5 {
        term.keys(&["Right"]);
    }
    term.keys(&["Tab"]);
    for c in "2027-02-29".chars() {
        term.keys(&[&c.to_string()]);
    }
    let s = term.wait_text("달력에 없는 날짜");
    let lines: Vec<&str> = s.lines().collect();
    let footer = lines.get(15).copied().unwrap_or_default();
    assert!(
        footer.contains("Esc") && !footer.contains('│') && !footer.contains('└'),
        "the footer is covered:\n{s}"
    );
    // The buttons below scroll into view with the focus, the footer still whole.
    term.keys(&["Tab", "Tab", "Tab", "Tab"]);
    let s = term.wait_text(">[발급]");
    assert!(s.contains("[취소]"), "{s}");
    let lines: Vec<&str> = s.lines().collect();
    let footer = lines.get(15).copied().unwrap_or_default();
    assert!(
        footer.contains("Esc") && !footer.contains('│') && !footer.contains('└'),
        "the footer is covered:\n{s}"
    );
    term.keys(&["Escape"]);
    term.wait_gone_text("달력에 없는 날짜");
    // The Delete popup: no line ends inside a Korean word.
    term.keys(&["d"]);
    let s = term.wait_for("the delete popup", |s| s.contains("[삭제]"));
    let catalog = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/locales/ko.toml"
    ))
    .unwrap();
    let inside: Vec<String> = s
        .lines()
        .filter_map(|l| {
            let a = l.find('│')?;
            let b = l.rfind('│')?;
            (b > a).then(|| l[a + '│'.len_utf8()..b].trim().to_string())
        })
        .collect();
    let hangul = |c: char| ('\u{AC00}'..='\u{D7AF}').contains(&c);
    for pair in inside.windows(2) {
        let (Some(end), Some(start)) = (
            pair[0].split_whitespace().last(),
            pair[1].split_whitespace().next(),
        ) else {
            continue;
        };
        if end.chars().last().is_some_and(hangul) && start.chars().next().is_some_and(hangul) {
            assert!(
                !catalog.contains(&format!("{end}{start}")),
                "{end:?}/{start:?} is one word cut in two:\n{s}"
            );
        }
    }
    term.keys(&["Escape", "Escape", "q"]);
}
