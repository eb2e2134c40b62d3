//! Issue 7, kind 4: connections cannot starve the service (docs/api.md, Conventions). Real
//! `ragkeys serve` processes and raw sockets: half request heads, idle connections, slow bodies,
//! a low file descriptor limit, repeated credentials.

use crate::common;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::common::Server;
use crate::common::api::read;
use crate::common::raw::parse_raw;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response read off a raw socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
    /// When the whole answer had arrived, from the call.
    after: Duration,
}

impl Answer {
    fn expect_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "answer: {self:?}");
        let v: Value =
            serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"));
        assert_eq!(v["error"]["code"], code, "answer: {self:?}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(
            self.headers
                .get("x-request-id")
                .is_some_and(|v| !v.is_empty()),
            "no X-Request-Id: {self:?}"
        );
    }
}

/// Reads one response within `limit`; panics if none comes.
async fn answer(s: &mut TcpStream, started: Instant, limit: Duration) -> Answer {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let deadline = started + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut tmp)).await {
            Err(_) => panic!(
                "no answer within {limit:?}: {:?}",
                String::from_utf8_lossy(&buf)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => panic!(
                "connection closed without an answer: {:?}",
                String::from_utf8_lossy(&buf)
            ),
            Ok(Ok(n)) => buf.extend_from_slice(&tmp[..n]),
        }
        if let Some(raw) = parse_raw(&buf) {
            return Answer {
                status: raw.status,
                headers: raw.headers,
                body: raw.body,
                after: started.elapsed(),
            };
        }
    }
}

/// Waits until the service closes `s` (EOF or reset) and returns when, from `started`; panics
/// if it is still open after `limit`. Any bytes the service sends are returned too.
async fn closed(s: &mut TcpStream, started: Instant, limit: Duration) -> (Duration, Vec<u8>) {
    let mut got = Vec::new();
    let mut tmp = [0u8; 1024];
    let deadline = started + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut tmp)).await {
            Err(_) => panic!("still open after {limit:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return (started.elapsed(), got),
            Ok(Ok(n)) => got.extend_from_slice(&tmp[..n]),
        }
    }
}

/// True if `s` is still open after `wait` (nothing read, no EOF).
async fn still_open(s: &mut TcpStream, wait: Duration) -> bool {
    let mut tmp = [0u8; 64];
    tokio::time::timeout(wait, s.read(&mut tmp)).await.is_err()
}

fn json_post(path: &str, auth: &str, len: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_request_head_is_closed_ten_seconds_after_its_first_byte() {
    let srv = Server::start();
    // One sends half a head and stops; the other trickles a byte a second and never finishes:
    // both are closed about 10 s after their first byte, without an answer.
    let mut half = TcpStream::connect(srv.addr).await.unwrap();
    let mut trickle = TcpStream::connect(srv.addr).await.unwrap();
    let t0 = Instant::now();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    trickle.write_all(b"G").await.unwrap();
    let trickling = tokio::spawn(async move {
        for b in b"ET /healthz HTTP/1.1\r\nX-Slow: ".iter().cycle().take(60) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if trickle.write_all(&[*b]).await.is_err() {
                break;
            }
        }
        trickle
    });
    let (after, got) = closed(&mut half, t0, Duration::from_secs(40)).await;
    assert!(
        got.is_empty(),
        "answered: {:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(
        after >= Duration::from_secs(9),
        "closed too early: {after:?}"
    );
    let mut trickle = trickling.await.unwrap();
    let (after, _) = closed(&mut trickle, t0, Duration::from_secs(40)).await;
    // The trickle's writes stopped failing only once it was closed: well before its 60 bytes.
    assert!(after < Duration::from_secs(40), "trickle held {after:?}");
    // The service is fine.
    let r = read(
        common::http()
            .get(format!("{}/healthz", srv.url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status.as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_75_seconds_and_not_before() {
    let srv = Server::start();
    let t0 = Instant::now();
    // Never sent a byte; and one that had a request answered and then went quiet.
    let mut silent = TcpStream::connect(srv.addr).await.unwrap();
    let mut kept = TcpStream::connect(srv.addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let a = answer(&mut kept, t0, Duration::from_secs(30)).await;
    assert_eq!(a.status, 200);
    let served = Instant::now();
    // Idle is not a slow head: both are still open well past the 10 s head limit.
    assert!(still_open(&mut silent, Duration::from_secs(20)).await);
    assert!(still_open(&mut kept, Duration::from_secs(1)).await);
    let (after, _) = closed(&mut silent, t0, Duration::from_secs(120)).await;
    assert!(
        after >= Duration::from_secs(74),
        "silent closed at {after:?}"
    );
    let (after, _) = closed(&mut kept, served, Duration::from_secs(120)).await;
    assert!(after >= Duration::from_secs(73), "kept closed at {after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_heads_past_the_descriptor_limit_do_not_starve_healthz() {
    let srv = Server::start();
    // nofile 128 for the running service, as on a small host.
    let st = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", srv.child.id()))
        .arg("--nofile=128:128")
        .status()
        .expect("run prlimit");
    assert!(st.success(), "prlimit failed");
    let mut socks = Vec::new();
    for _ in 0..150 {
        let mut s = TcpStream::connect(srv.addr).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        socks.push(s);
    }
    // /healthz answers once the half heads have been closed (10 s), whatever their number.
    let t0 = Instant::now();
    let mut probe = TcpStream::connect(srv.addr).await.expect("connect");
    probe
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let a = answer(&mut probe, t0, Duration::from_secs(60)).await;
    assert_eq!(a.status, 200, "{a:?}");
    // Running out of descriptors was said, and not once per failed accept.
    let log = srv.log();
    let warned = log.matches("cannot accept connections").count();
    assert!((1..=10).contains(&warned), "{warned} warnings:\n{log}");
    assert!(log.contains("accepting connections again"), "{log}");
    drop(socks);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_within_30_seconds_is_408() {
    let srv = Server::start();
    let body = br#"{"name":"slowpoke"}"#;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let t0 = Instant::now();
    s.write_all(json_post("/v1/services", &srv.token, body.len()).as_bytes())
        .await
        .unwrap();
    let (mut rd, mut wr) = s.into_split();
    // One byte per 5 s: the whole body would take 95 s.
    let writer = tokio::spawn(async move {
        for b in body {
            if wr.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    let mut buf = Vec::new();
    let mut tmp = [0u8; 1024];
    let a = loop {
        match tokio::time::timeout(Duration::from_secs(60), rd.read(&mut tmp)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&tmp[..n]),
            other => panic!("no answer: {other:?} {:?}", String::from_utf8_lossy(&buf)),
        }
        if let Some(raw) = parse_raw(&buf) {
            break Answer {
                status: raw.status,
                headers: raw.headers,
                body: raw.body,
                after: t0.elapsed(),
            };
        }
    };
    writer.abort();
    a.expect_error(408, "request_timeout");
    assert!(a.after >= Duration::from_secs(29), "{a:?}");
    assert!(a.after < Duration::from_secs(60), "{a:?}");
    // Nothing was created from the part that came.
    let api = common::api::Api::new(&srv);
    assert_eq!(
        api.get("/v1/services").await.json()["services"],
        Value::Array(vec![])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_is_refused_before_the_body_arrives() {
    let srv = Server::start();
    let viewer = srv.create_token("viewer-1", "viewer");
    for path in ["/v1/services", "/v1/services/svc_x/api-keys"] {
        for token in [
            "ragadm_notavalidtoken",
            "ragk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA000000",
            "",
        ] {
            let mut s = TcpStream::connect(srv.addr).await.unwrap();
            let t0 = Instant::now();
            // 40 bytes promised, one sent; the rest never comes.
            s.write_all(json_post(path, token, 40).as_bytes())
                .await
                .unwrap();
            s.write_all(b"{").await.unwrap();
            let a = answer(&mut s, t0, Duration::from_secs(10)).await;
            a.expect_error(401, "unauthorized");
        }
    }
    // A valid token is not refused early: its slow body still runs into the body deadline,
    // so the early check really is the token's (viewer: the role is checked by the route).
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(json_post("/v1/services", &viewer, 40).as_bytes())
        .await
        .unwrap();
    assert!(still_open(&mut s, Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_authorization_or_idempotency_key_is_400_on_every_route() {
    let srv = Server::start();
    let api = common::api::Api::new(&srv);
    let sid = api.create_service("dup-headers").await;
    let (_, key) = api.issue_ok(&sid).await;
    let http = common::http();
    let bearer = |t: &str| HeaderValue::from_str(&format!("Bearer {t}")).unwrap();
    let routes = [
        ("GET", "/healthz".to_string()),
        ("GET", "/openapi.json".to_string()),
        ("GET", "/v1/me".to_string()),
        ("GET", "/v1/services".to_string()),
        ("GET", format!("/v1/services/{sid}/api-keys")),
        ("POST", format!("/v1/services/{sid}/api-keys")),
        ("DELETE", format!("/v1/services/{sid}")),
        ("GET", "/v1/verify".to_string()),
        ("GET", "/no/such/route".to_string()),
    ];
    for (method, path) in &routes {
        // The same valid token twice, a valid one and another, an API key twice.
        for (a, b) in [
            (srv.token.as_str(), srv.token.as_str()),
            ("ragadm_other", srv.token.as_str()),
            (key.as_str(), key.as_str()),
        ] {
            let mut h = HeaderMap::new();
            h.append(AUTHORIZATION, bearer(a));
            h.append(AUTHORIZATION, bearer(b));
            let req = http
                .request(method.parse().unwrap(), format!("{}{path}", srv.url()))
                .headers(h)
                .header("content-type", "application/json")
                .body("{}");
            let r = read(req.send().await.unwrap()).await;
            let msg = r.expect_error(400, "invalid_request");
            assert!(msg.contains("Authorization"), "{method} {path}: {msg}");
            assert!(r.header("x-request-id").is_some(), "{method} {path}");
        }
        let mut h = HeaderMap::new();
        h.append(AUTHORIZATION, bearer(&srv.token));
        h.append("idempotency-key", HeaderValue::from_static("k1"));
        h.append("idempotency-key", HeaderValue::from_static("k2"));
        let req = http
            .request(method.parse().unwrap(), format!("{}{path}", srv.url()))
            .headers(h)
            .header("content-type", "application/json")
            .body("{}");
        let r = read(req.send().await.unwrap()).await;
        let msg = r.expect_error(400, "invalid_request");
        assert!(msg.contains("Idempotency-Key"), "{method} {path}: {msg}");
    }
    // Nothing was issued or deleted by the refused requests.
    assert_eq!(api.list_ids(&sid).await.len(), 1);
    assert_eq!(api.service(&sid).await["id"], sid.as_str());
}

/// Raw bytes in, everything the service sends before it closes out.
async fn raw_reply(srv: &Server, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    // hyper may answer and close before it has read all of an oversized head.
    let _ = s.write_all(bytes).await;
    let (_, got) = closed(&mut s, Instant::now(), Duration::from_secs(30)).await;
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heads_hyper_refuses_itself_are_the_ones_the_readme_lists() {
    // docs/security.md: these are answered by hyper before a request exists, with an
    // empty body and no X-Request-Id; if that changes, docs/api.md (Conventions) must change with it.
    let srv = Server::start();
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let many: String = (0..101).map(|i| format!("X-{i}: a\r\n")).collect();
    let many = format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    for (head, status) in [
        ("GARBAGE\r\n\r\n".to_string(), "400"),
        (long_uri, "414"),
        (many, "431"),
    ] {
        let got = raw_reply(&srv, head.as_bytes()).await;
        let first = got.lines().next().unwrap_or("");
        assert!(first.starts_with(&format!("HTTP/1.1 {status}")), "{got:?}");
        assert!(
            got.to_ascii_lowercase().contains("content-length: 0"),
            "{got:?}"
        );
    }
    // Just inside hyper's limits the service answers, in its own shape.
    let fine: String = (0..90).map(|i| format!("X-{i}: a\r\n")).collect();
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(format!("GET /nope HTTP/1.1\r\nHost: x\r\n{fine}\r\n").as_bytes())
        .await
        .unwrap();
    answer(&mut s, Instant::now(), Duration::from_secs(30))
        .await
        .expect_error(404, "not_found");
}
