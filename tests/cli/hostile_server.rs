//! The CLI against a fake *hostile* HTTP server: escape sequences in names, HTML and garbage
//! answers, dropped connections. Our own service refuses such names and never drops an answer on
//! purpose, so these cases need a server that misbehaves.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ragkeys");
const TOKEN: &str = "ragadm_hostile";

/// What the fake server does with the n-th request (counting from 0): an answer, or hang up.
type Handler = dyn Fn(usize, &str) -> Option<Vec<u8>> + Send + Sync;

struct Fake {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    fn start(handler: impl Fn(usize, &str) -> Option<Vec<u8>> + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let handler: Arc<Handler> = Arc::new(handler);
        std::thread::spawn(move || {
            // Bounded: a test makes a handful of requests; the thread dies with the test process.
            for stream in listener.incoming().take(64) {
                let Ok(mut stream) = stream else { continue };
                let Some(head) = read_request(&mut stream) else {
                    continue;
                };
                let n = {
                    let mut s = seen.lock().unwrap();
                    s.push(head.clone());
                    s.len() - 1
                };
                if let Some(resp) = handler(n, &head) {
                    let _ = stream.write_all(&resp);
                }
                let _ = stream.flush();
            }
        });
        Fake { addr, requests }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(["--endpoint", &self.url()])
            .args(args)
            .env_remove("RAGKEYS_ENDPOINT")
            .env("RAGKEYS_TOKEN", TOKEN)
            .env_remove("RAGKEYS_PROFILE")
            .env("XDG_CONFIG_HOME", "/nonexistent-ragkeys-test")
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

fn read_request(stream: &mut TcpStream) -> Option<String> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let head_end = text.find("\r\n\r\n")? + 4;
    let len: usize = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(String::from_utf8_lossy(&buf).to_string())
}

fn response(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn json(status: &str, body: &str) -> Vec<u8> {
    response(status, "application/json", body)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Nothing a terminal would act on: no C0 but newline, no C1, no DEL, no bidi controls.
fn assert_terminal_safe(s: &str) {
    for c in s.chars() {
        assert!(
            c == '\n' || !ragkeys::wire::is_forbidden_char(c),
            "unsafe character {:?} in output {s:?}",
            c
        );
    }
}

/// One `error: …` line and nothing else.
fn assert_one_error_line(o: &Output) -> String {
    let e = stderr(o);
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got {e:?}");
    assert!(lines[0].starts_with("error: "), "{e:?}");
    assert!(!e.contains("panicked") && !e.contains("Api {"), "{e:?}");
    assert_terminal_safe(&e);
    lines[0].to_string()
}

// An OSC 52 clipboard write, a screen clear, an 8-bit CSI and a right-to-left override.
const HOSTILE_NAME: &str = "evil\\u001b]52;c;aGk=\\u0007\\u001b[2J\u{9b}31m\u{202e}gnp.exe";
const HOSTILE_SERVICES: &str = r#"{"services":[{"id":"svc_1","name":"NAME","description":"d\u001b[1mx","key_count":1,"key_limit":5,"created_at":"2026-11-26T05:37:50Z"}]}"#;

fn hostile_services() -> String {
    HOSTILE_SERVICES.replace("NAME", HOSTILE_NAME)
}

#[test]
fn escape_sequences_from_the_service_never_reach_the_terminal_in_tables() {
    let body = hostile_services();
    let fake = Fake::start(move |_, _| Some(json("200 OK", &body)));
    let o = fake.run(&["services", "list"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert_terminal_safe(&out);
    assert!(out.contains("svc_1"), "{out}");
    assert!(out.contains("evil]52;c;aGk=[2J31mgnp.exe"), "{out}");
    assert!(out.contains("2026-11-26 05:37:50 +00:00"), "{out}");
}

#[test]
fn json_output_is_the_services_value_escaped_for_the_terminal() {
    let body = hostile_services();
    let sent = body.clone();
    let fake = Fake::start(move |_, _| Some(json("200 OK", &body)));
    let o = fake.run(&["--json", "services", "list"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert_terminal_safe(&out);
    let printed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let original: serde_json::Value = serde_json::from_str(&sent).unwrap();
    assert_eq!(
        printed, original,
        "--json must print the service's own object"
    );
}

#[test]
fn an_error_message_with_escapes_is_printed_clean_on_one_line() {
    let fake = Fake::start(|_, _| {
        Some(json(
            "404 Not Found",
            r#"{"error":{"code":"service_not_found","message":"no\n\u001b[31mservice\u009b2J here"}}"#,
        ))
    });
    let o = fake.run(&["keys", "list", "svc_x"]);
    assert_eq!(o.status.code(), Some(3));
    let line = assert_one_error_line(&o);
    assert!(line.contains("no [31mservice2J here"), "{line}");
}

#[test]
fn html_or_garbage_instead_of_the_service_is_one_clear_error() {
    let html = "<html><body><h1>502 Bad Gateway</h1>\x1b[2J</body></html>";
    for (status, ctype, body) in [
        ("200 OK", "text/html", html),
        ("502 Bad Gateway", "text/html", html),
        ("200 OK", "application/json", "{\"services\": [garbage"),
        ("200 OK", "application/json", "{\"unexpected\": true}"),
        (
            "500 Internal Server Error",
            "application/octet-stream",
            "\u{0}\u{1}\u{2}binary",
        ),
    ] {
        let fake = Fake::start(move |_, _| Some(response(status, ctype, body)));
        for args in [
            &["services", "list"][..],
            &["--json", "keys", "list", "svc_1"][..],
        ] {
            let o = fake.run(args);
            assert_eq!(o.status.code(), Some(1), "{status} {body}: {}", stderr(&o));
            let line = assert_one_error_line(&o);
            assert!(line.contains("unexpected answer from"), "{line}");
            assert!(stdout(&o).is_empty());
        }
    }
}

#[test]
fn gets_are_retried_when_the_connection_drops_then_give_exit_6() {
    let fake = Fake::start(|_, _| None);
    let o = fake.run(&["services", "list"]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    let line = assert_one_error_line(&o);
    assert!(line.contains("cannot reach the service"), "{line}");
    assert_eq!(fake.requests().len(), 3, "three attempts in all");
}

#[test]
fn a_get_that_fails_once_succeeds_on_the_retry() {
    let fake =
        Fake::start(|n, _| (n > 0).then(|| json("200 OK", r#"{"api_keys":[],"key_limit":5}"#)));
    let o = fake.run(&["--json", "keys", "list", "svc_1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "{\"api_keys\":[],\"key_limit\":5}\n");
    assert_eq!(fake.requests().len(), 2);
}

fn idempotency_key(request: &str) -> Option<String> {
    request.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("idempotency-key")
            .then(|| v.trim().to_string())
    })
}

#[test]
fn issuance_is_retried_with_the_same_idempotency_key() {
    let issued = r#"{"id":"key_1","masked":"ragk_AbCd********wXyZ","name":null,"created_at":"2026-11-26T05:37:50Z","last_used_at":null,"key":"ragk_AbCdEfGhIjKlMnOpQrStUvWxYz0123wXyZ"}"#;
    let fake = Fake::start(move |n, _| (n >= 2).then(|| json("201 Created", issued)));
    let o = fake.run(&["keys", "issue", "svc_1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "ragk_AbCdEfGhIjKlMnOpQrStUvWxYz0123wXyZ\n");
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 3);
    let keys: Vec<Option<String>> = reqs.iter().map(|r| idempotency_key(r)).collect();
    assert!(keys[0].is_some(), "issuance must carry an Idempotency-Key");
    assert!(keys.iter().all(|k| k == &keys[0]), "{keys:?}");
    assert!(
        reqs.iter()
            .all(|r| r.starts_with("POST /v1/services/svc_1/api-keys "))
    );

    // A second issue is a new request: a new key.
    let fake2 = Fake::start(move |_, _| Some(json("201 Created", issued)));
    let o = fake2.run(&["keys", "issue", "svc_1"]);
    assert_eq!(o.status.code(), Some(0));
    assert_ne!(idempotency_key(&fake2.requests()[0]), keys[0]);
}

#[test]
fn rotation_is_retried_with_the_same_idempotency_key() {
    let issued = r#"{"id":"key_2","masked":"ragk_AbCd********wXyZ","name":null,"state":"active","created_at":"2026-11-26T05:37:50Z","created_by":"admin","expires_at":null,"last_used_at":null,"replaced_by":null,"key":"ragk_AbCdEfGhIjKlMnOpQrStUvWxYz0123wXyZ"}"#;
    // The key is read first (a leaked one rotates without a grace); the first two rotation
    // attempts are hung up on.
    let listed = r#"{"api_keys":[{"id":"key_1","masked":"ragk_ZyXw********dCbA","name":null,"state":"active","created_at":"2026-11-26T05:37:50Z","created_by":"admin","expires_at":null,"last_used_at":null,"replaced_by":null,"leak":null}],"key_limit":5}"#;
    let attempts = std::sync::atomic::AtomicUsize::new(0);
    let fake = Fake::start(move |_, head| {
        if head.starts_with("GET /v1/services/svc_1/api-keys ") {
            return Some(json("200 OK", listed));
        }
        let n = attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        (n >= 2).then(|| json("201 Created", issued))
    });
    let o = fake.run(&["keys", "rotate", "svc_1", "key_1", "--grace", "1h"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "ragk_AbCdEfGhIjKlMnOpQrStUvWxYz0123wXyZ\n");
    let mut reqs = fake.requests();
    assert!(
        reqs.remove(0)
            .starts_with("GET /v1/services/svc_1/api-keys "),
        "the key is read once, first"
    );
    assert_eq!(reqs.len(), 3);
    let keys: Vec<Option<String>> = reqs.iter().map(|r| idempotency_key(r)).collect();
    assert!(keys[0].is_some(), "rotation must carry an Idempotency-Key");
    assert!(keys.iter().all(|k| k == &keys[0]), "{keys:?}");
    assert!(
        reqs.iter()
            .all(|r| r.starts_with("POST /v1/services/svc_1/api-keys/key_1/rotate "))
    );
    assert!(reqs.iter().all(|r| r.contains(r#"{"grace_seconds":3600}"#)));
}

#[test]
fn a_replay_that_lost_the_secret_names_the_key_to_delete() {
    let fake = Fake::start(|n, _| {
        (n >= 1).then(|| {
            json(
                "409 Conflict",
                r#"{"error":{"code":"idempotency_secret_unavailable","message":"The key key_7Hq2 was issued but can no longer be shown."}}"#,
            )
        })
    });
    let o = fake.run(&["keys", "issue", "svc_1"]);
    assert_eq!(o.status.code(), Some(1));
    let line = assert_one_error_line(&o);
    assert!(
        line.contains("ragkeys keys delete svc_1 key_7Hq2"),
        "{line}"
    );
    assert!(stdout(&o).is_empty());
}

#[test]
fn a_retried_delete_that_finds_nothing_counts_as_done() {
    let fake = Fake::start(|n, _| {
        (n >= 1).then(|| {
            json(
                "404 Not Found",
                r#"{"error":{"code":"api_key_not_found","message":"API key not found."}}"#,
            )
        })
    });
    let o = fake.run(&["keys", "delete", "svc_1", "key_1", "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert!(
        reqs.iter()
            .all(|r| r.starts_with("DELETE /v1/services/svc_1/api-keys/key_1 "))
    );
}

#[test]
fn an_issue_still_running_on_the_service_is_waited_for_with_the_same_key() {
    let issued = r#"{"id":"key_2","masked":"ragk_AbCd********wXyZ","name":"n","created_at":"2026-11-26T05:37:50Z","last_used_at":null,"key":"ragk_AbCdEfGhIjKlMnOpQrStUvWxYz0123wXyZ"}"#;
    let fake = Fake::start(move |n, _| {
        Some(if n == 0 {
            json(
                "409 Conflict",
                r#"{"error":{"code":"idempotency_in_progress","message":"still running"}}"#,
            )
        } else {
            json("201 Created", issued)
        })
    });
    let o = fake.run(&["--json", "keys", "issue", "svc_1", "--name", "n"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["id"], "key_2");
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(idempotency_key(&reqs[0]), idempotency_key(&reqs[1]));
    assert!(reqs[1].ends_with(r#"{"name":"n"}"#), "{}", reqs[1]);
}
