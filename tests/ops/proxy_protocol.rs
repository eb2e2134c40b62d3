//! PROXY protocol (docs/api.md, Deployed behind proxies and gateways): with
//! `serve --proxy-protocol 127.0.0.1/32`, a real HAProxy in `mode tcp` (`send-proxy` on one
//! frontend, `send-proxy-v2` on another) names its clients, which come from distinct loopback
//! sources; a connection from the listed peer without a header, or with a header from a peer not
//! listed, is closed; v2 `LOCAL` and v1 `UNKNOWN` keep the peer's own address.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

use crate::client_address::{client_from, last_event, spend_failures, verify_with};
use crate::common::Server;
use crate::common::api::{Api, unknown_api_key};
use crate::common::nginx::free_port;
use crate::common::raw::parse_raw;
use crate::rolling_restart::program;

/// v2's LOCAL command with no addresses: what a balancer's health check sends.
const V2_LOCAL: &[u8] = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00";

/// HAProxy in `mode tcp` before `server`: `v1` sends `send-proxy`, `v2` `send-proxy-v2`.
struct Haproxy {
    child: std::process::Child,
    v1: SocketAddr,
    v2: SocketAddr,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Haproxy {
    fn start(dir: &std::path::Path, server: SocketAddr) -> Haproxy {
        let bin = program("haproxy", "haproxy");
        let v1: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let v2: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let cfg = format!(
            "global\n    maxconn 256\n\n\
             defaults\n    mode tcp\n    timeout connect 2s\n    \
             timeout client 30s\n    timeout server 30s\n\n\
             frontend v1\n    bind {v1}\n    default_backend v1\n\n\
             frontend v2\n    bind {v2}\n    default_backend v2\n\n\
             backend v1\n    server s {server} send-proxy\n\n\
             backend v2\n    server s {server} send-proxy-v2\n"
        );
        let file = dir.join("haproxy.cfg");
        std::fs::write(&file, &cfg).expect("write haproxy.cfg");
        let child = Command::new(&bin)
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy");
        Haproxy { child, v1, v2 }
    }

    /// Waits until both frontends answer `/healthz` through to the service.
    async fn wait_up(&self) {
        let http = client_from("127.0.0.2");
        let end = Instant::now() + Duration::from_secs(30);
        for front in [self.v1, self.v2] {
            loop {
                let ok = http
                    .get(format!("http://{front}/healthz"))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                if ok {
                    break;
                }
                assert!(Instant::now() < end, "HAProxy on {front} never answered");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Writes `bytes` to `addr` from `source` and reads until the service closes (or 15 s pass).
async fn exchange_from(source: &str, addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(format!("{source}:0").parse().unwrap())
        .expect("bind the source");
    let mut s = socket.connect(addr).await.expect("connect");
    // The service may close before reading all of it: that is one of the answers looked for.
    let _ = s.write_all(bytes).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut buf)).await;
    buf
}

fn request(srv: &Server, method: &str, path: &str, body: Option<&str>) -> Vec<u8> {
    let body = body.unwrap_or("");
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        srv.addr,
        srv.token,
        body.len()
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_send_proxy_names_the_client_for_the_audit_usage_and_limit() {
    let srv = Server::start_with(&["--proxy-protocol", "127.0.0.1/32"]);
    let tmp = tempfile::tempdir().unwrap();
    let haproxy = Haproxy::start(tmp.path(), srv.addr);
    haproxy.wait_up().await;
    let (a, b) = (client_from("127.0.0.2"), client_from("127.0.0.3"));
    let (via_v1, via_v2) = (
        format!("http://{}", haproxy.v1),
        format!("http://{}", haproxy.v2),
    );
    let api = Api {
        base: via_v1.clone(),
        http: a.clone(),
        token: srv.token.clone(),
    };

    // send-proxy (v1): the audit trail records the client HAProxy names, not HAProxy.
    let body = json!({"name": "proxied", "description": "behind HAProxy"});
    let sid = api
        .post("/v1/services", Some(&srv.token), &body)
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        last_event(&api, &sid, "service.create").await["remote_addr"],
        "127.0.0.2"
    );
    let (kid, key) = api.issue_ok(&sid).await;

    // send-proxy-v2: usage records the other client.
    verify_with(&b, &via_v2, &key, &[]).await.expect(200);
    let usage = api
        .get(&format!("/v1/services/{sid}/api-keys/{kid}/usage"))
        .await
        .expect(200);
    assert_eq!(usage["last_used_from"], "127.0.0.3", "{usage}");
    verify_with(&a, &via_v2, &key, &[]).await.expect(200);

    // One client's 61 bad keys rate-limit that client only, through either frontend.
    spend_failures(&a, &via_v1, &[]).await;
    verify_with(&a, &via_v2, &key, &[])
        .await
        .expect_error(429, "rate_limited");
    verify_with(&b, &via_v1, &key, &[]).await.expect(200);
    verify_with(&b, &via_v2, &unknown_api_key(), &[])
        .await
        .expect_error(401, "invalid_api_key");

    // The listed peer connecting directly, without a header: closed, nothing answered.
    let direct = exchange_from(
        "127.0.0.1",
        srv.addr,
        &request(&srv, "GET", "/healthz", None),
    )
    .await;
    assert!(
        direct.is_empty(),
        "a connection without a PROXY header was answered: {:?}",
        String::from_utf8_lossy(&direct)
    );
    // A peer that is not listed is served as ever, without a header.
    let other = exchange_from(
        "127.0.0.4",
        srv.addr,
        &request(&srv, "GET", "/healthz", None),
    )
    .await;
    let r = parse_raw(&other).expect("an answer to a peer not listed");
    assert_eq!(r.status, 200, "{}", r.body);
}

/// A PROXY header from a peer that is not listed is closed as a listed peer's connection without
/// one is: nothing answered (not hyper's 400 for a request line it cannot read), nothing behind
/// it served.
fn assert_refused(what: &str, answer: &[u8]) {
    assert!(
        answer.is_empty(),
        "{what}: a PROXY header from a peer not listed was answered: {:?}",
        String::from_utf8_lossy(answer)
    );
}

/// Like [`exchange_from`], the bytes written in two parts with a pause between, as a slow
/// sender's.
async fn exchange_in_two(source: &str, addr: SocketAddr, first: &[u8], rest: &[u8]) -> Vec<u8> {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(format!("{source}:0").parse().unwrap())
        .expect("bind the source");
    let mut s = socket.connect(addr).await.expect("connect");
    let _ = s.write_all(first).await;
    // Whatever the service does with a part that does not tell, it must not answer it.
    let mut early = [0u8; 64];
    if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(300), s.read(&mut early)).await {
        return early[..n].to_vec();
    }
    let _ = s.write_all(rest).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut buf)).await;
    buf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_header_from_a_peer_not_listed_is_refused() {
    // 127.0.0.1 is not 127.0.0.9; and without the flag no peer may send a header.
    for flags in [&["--proxy-protocol", "127.0.0.9/32"][..], &[]] {
        let srv = Server::start_with(flags);
        let body = json!({"name": "forged", "description": "x"}).to_string();
        let forged = request(&srv, "POST", "/v1/services", Some(&body));
        let mut v1 = b"PROXY TCP4 10.9.9.9 127.0.0.1 5000 80\r\n".to_vec();
        v1.extend(&forged);
        assert_refused("v1", &exchange_from("127.0.0.1", srv.addr, &v1).await);
        let mut v2 = V2_LOCAL.to_vec();
        v2.extend(&forged);
        assert_refused("v2", &exchange_from("127.0.0.1", srv.addr, &v2).await);
        // A header whose first bytes come alone, then the rest.
        assert_refused(
            "v1 in two parts",
            &exchange_in_two("127.0.0.1", srv.addr, b"PRO", &v1[3..]).await,
        );
        assert_refused(
            "v2 in two parts",
            &exchange_in_two("127.0.0.1", srv.addr, &V2_LOCAL[..5], &v2[5..]).await,
        );
        // The same peer's ordinary requests are served, a slow one included.
        let plain = exchange_from("127.0.0.1", srv.addr, &forged).await;
        let r = parse_raw(&plain).expect("an answer to a plain request");
        assert_eq!(r.status, 201, "{}", r.body);
        let healthz = request(&srv, "GET", "/healthz", None);
        let slow = exchange_in_two("127.0.0.1", srv.addr, b"G", &healthz[1..]).await;
        let r = parse_raw(&slow).expect("an answer to a slow plain request");
        assert_eq!(r.status, 200, "{}", r.body);
        let api = Api::new(&srv);
        let listed = api.get("/v1/services").await.expect(200);
        let names = listed.to_string().matches("forged").count();
        assert_eq!(names, 1, "only the plain request was served: {listed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_local_and_v1_unknown_keep_the_peer_address() {
    let srv = Server::start_with(&["--proxy-protocol", "127.0.0.1/32"]);
    let mut sids = Vec::new();
    for (name, header) in [
        ("local", V2_LOCAL.to_vec()),
        ("unknown", b"PROXY UNKNOWN\r\n".to_vec()),
    ] {
        let body = json!({"name": name, "description": "a health check"}).to_string();
        let mut bytes = header;
        bytes.extend(request(&srv, "POST", "/v1/services", Some(&body)));
        let answer = exchange_from("127.0.0.1", srv.addr, &bytes).await;
        let r = parse_raw(&answer)
            .unwrap_or_else(|| panic!("{name}: {:?}", String::from_utf8_lossy(&answer)));
        assert_eq!(r.status, 201, "{name}: {}", r.body);
        sids.push(r.json()["id"].as_str().unwrap().to_string());
    }
    // The audit is read through a header too (v1 TCP4 naming 127.0.0.1, the peer itself).
    for sid in sids {
        let mut bytes = b"PROXY TCP4 127.0.0.1 127.0.0.1 5000 80\r\n".to_vec();
        bytes.extend(request(
            &srv,
            "GET",
            &format!("/v1/services/{sid}/audit"),
            None,
        ));
        let answer = exchange_from("127.0.0.1", srv.addr, &bytes).await;
        let r = parse_raw(&answer).expect("the audit");
        assert_eq!(r.status, 200, "{}", r.body);
        let events = r.json()["events"].clone();
        let create = events
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "service.create")
            .unwrap_or_else(|| panic!("no service.create in {events}"))
            .clone();
        assert_eq!(create["remote_addr"], "127.0.0.1", "{create}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls_the_header_comes_before_the_handshake() {
    ragkeys::client::install_crypto_provider();
    let pki = crate::common::pki::pki("proxy protocol CA", &["127.0.0.1"]);
    let srv = Server::start_with(&[
        "--proxy-protocol",
        "127.0.0.1/32",
        "--tls-cert",
        pki.cert.to_str().unwrap(),
        "--tls-key",
        pki.key.to_str().unwrap(),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let haproxy = Haproxy::start(tmp.path(), srv.addr);
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&pki.ca).unwrap()).unwrap();
    let http = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    for front in [haproxy.v1, haproxy.v2] {
        let api = Api {
            base: format!("https://{front}"),
            http: http.clone(),
            token: srv.token.clone(),
        };
        // HAProxy may still be starting: its first answer is waited for.
        let body = json!({"name": format!("tls {front}"), "description": "x"});
        let created = loop {
            match http
                .post(format!("{}/v1/services", api.base))
                .bearer_auth(&srv.token)
                .json(&body)
                .send()
                .await
            {
                Ok(r) => break r,
                Err(e) => {
                    assert!(Instant::now() < end, "no answer through {front}: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        assert_eq!(created.status(), 201);
        let sid = created.json::<serde_json::Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            last_event(&api, &sid, "service.create").await["remote_addr"],
            "127.0.0.2"
        );
    }
}
