//! The client address behind a load balancer (docs/api.md, The client address): with
//! `serve --trusted-proxy`, the address a trusted proxy forwards is the one the verify failure
//! limit counts, the audit trail's `remote_addr` and usage's `last_used_from` record; from any
//! other peer, and without the flag, forwarding headers are ignored. A client "from 10.0.4.17" is
//! a request from the trusted proxy on 127.0.0.1 carrying `X-Forwarded-For: 10.0.4.17`; distinct
//! direct clients are distinct loopback sources (docs/testing.md, Addresses).

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::Server;
use crate::common::api::{Api, Reply, read, unknown_api_key};
use crate::common::nginx::Gateway;

/// A client whose connections come from `source` (a loopback address).
pub fn client_from(source: &str) -> reqwest::Client {
    ragkeys::client::install_crypto_provider();
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().expect("an address"))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// `GET /v1/verify` with `key`, from `http`'s source, carrying `headers`.
pub async fn verify_with(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = http
        .get(format!("{base}/v1/verify"))
        .header("authorization", format!("Bearer {key}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    read(req.send().await.expect("the service answers")).await
}

/// The newest audit event of the service whose action is `action`.
pub async fn last_event(api: &Api, sid: &str, action: &str) -> Value {
    let v = api
        .get(&format!("/v1/services/{sid}/audit"))
        .await
        .expect(200);
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == action)
        .unwrap_or_else(|| panic!("no {action} event in {v}"))
        .clone()
}

/// Spends the failure limit (60 a minute by default) with unknown keys: 60 answers 401, the
/// 61st 429 with `Retry-After`.
pub async fn spend_failures(http: &reqwest::Client, base: &str, headers: &[(&str, &str)]) {
    for i in 0..60 {
        let r = verify_with(http, base, &unknown_api_key(), headers).await;
        assert_eq!(r.status, 401, "failure {i}: {}", r.text);
    }
    let r = verify_with(http, base, &unknown_api_key(), headers).await;
    r.expect_error(429, "rate_limited");
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_names_the_client_for_the_limit_the_audit_and_usage() {
    let srv = Server::start_with(&["--trusted-proxy", "127.0.0.1/32"]);
    let api = Api::new(&srv);
    let base = srv.url();
    let token = api.token.clone();

    // The audit trail records the client the proxy forwarded, in either header's form.
    let body = json!({"name": "proxied", "description": "behind a balancer"});
    let xff = [("x-forwarded-for", "203.0.113.50, 10.0.4.17")];
    let r = api
        .send(
            Method::POST,
            "/v1/services",
            Some(&token),
            Some(&body),
            &xff,
        )
        .await;
    let sid = r.expect(201)["id"].as_str().unwrap().to_string();
    // 10.0.4.17 is no trusted proxy: it is the client, and what it wrote to its left is not read.
    assert_eq!(
        last_event(&api, &sid, "service.create").await["remote_addr"],
        "10.0.4.17"
    );
    let fwd = [("forwarded", r#"for="[2001:db8::17]:4711";proto=https"#)];
    let path = format!("/v1/services/{sid}/api-keys");
    let r = api
        .send(Method::POST, &path, Some(&token), Some(&json!({})), &fwd)
        .await;
    let issued = r.expect(201);
    let (kid, key) = (
        issued["id"].as_str().unwrap().to_string(),
        issued["key"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        last_event(&api, &sid, "api_key.issue").await["remote_addr"],
        "2001:db8::17"
    );

    // A peer that is not a trusted proxy cannot choose its address.
    let other = client_from("127.0.0.2");
    let as_other = Api {
        http: other.clone(),
        ..api.clone()
    };
    let r = as_other
        .send(
            Method::POST,
            &path,
            Some(&token),
            Some(&json!({})),
            &[("x-forwarded-for", "10.9.9.9")],
        )
        .await;
    r.expect(201);
    assert_eq!(
        last_event(&api, &sid, "api_key.issue").await["remote_addr"],
        "127.0.0.2"
    );

    // Usage records the forwarded client of a successful verification.
    let r = verify_with(&api.http, &base, &key, &[("x-forwarded-for", "10.0.4.18")]).await;
    r.expect(200);
    let usage = api
        .get(&format!("/v1/services/{sid}/api-keys/{kid}/usage"))
        .await
        .expect(200);
    assert_eq!(usage["last_used_from"], "10.0.4.18", "{usage}");

    // One forwarded client spending the failure limit locks out only itself.
    let a = [("x-forwarded-for", "198.51.100.7")];
    spend_failures(&api.http, &base, &a).await;
    verify_with(&api.http, &base, &key, &a)
        .await
        .expect_error(429, "rate_limited");
    let b = [("x-forwarded-for", "198.51.100.8")];
    verify_with(&api.http, &base, &key, &b).await.expect(200);
    // The proxy itself (no header) is a client like any other, not locked out either.
    verify_with(&api.http, &base, &key, &[]).await.expect(200);

    // A direct client that rotates forged headers is still one address to the limit.
    for i in 0..60 {
        let forged = format!("192.0.2.{i}");
        let r = verify_with(
            &other,
            &base,
            &unknown_api_key(),
            &[("x-forwarded-for", &forged)],
        )
        .await;
        assert_eq!(r.status, 401, "failure {i}: {}", r.text);
    }
    let r = verify_with(&other, &base, &key, &[("x-forwarded-for", "192.0.2.200")]).await;
    r.expect_error(429, "rate_limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_trusted_proxies_forwarding_headers_are_ignored() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let base = srv.url();
    let token = api.token.clone();
    let body = json!({"name": "direct", "description": "no balancer"});
    let r = api
        .send(
            Method::POST,
            "/v1/services",
            Some(&token),
            Some(&body),
            &[
                ("x-forwarded-for", "10.0.4.17"),
                ("forwarded", "for=10.0.4.18"),
            ],
        )
        .await;
    let sid = r.expect(201)["id"].as_str().unwrap().to_string();
    assert_eq!(
        last_event(&api, &sid, "service.create").await["remote_addr"],
        "127.0.0.1"
    );
    let (kid, key) = api.issue_ok(&sid).await;
    verify_with(&api.http, &base, &key, &[("x-forwarded-for", "10.0.4.17")])
        .await
        .expect(200);
    let usage = api
        .get(&format!("/v1/services/{sid}/api-keys/{kid}/usage"))
        .await
        .expect(200);
    assert_eq!(usage["last_used_from"], "127.0.0.1", "{usage}");
    // Every forged header is the same client to the limit.
    for i in 0..60 {
        let forged = format!("192.0.2.{i}");
        let r = verify_with(
            &api.http,
            &base,
            &unknown_api_key(),
            &[("x-forwarded-for", &forged)],
        )
        .await;
        assert_eq!(r.status, 401, "failure {i}: {}", r.text);
    }
    let r = verify_with(
        &api.http,
        &base,
        &key,
        &[("x-forwarded-for", "192.0.2.201")],
    )
    .await;
    r.expect_error(429, "rate_limited");
}

#[test]
fn a_trusted_proxy_must_be_a_network() {
    for bad in ["10.0.4.17/24", "proxy.internal", "10.0.0.0/33"] {
        let out = std::process::Command::new(crate::common::BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--trusted-proxy", bad])
            .output()
            .expect("run ragkeys serve");
        assert_eq!(out.status.code(), Some(2), "{bad}: usage error expected");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--trusted-proxy"), "{bad}: {err}");
    }
}

/// nginx as the load balancer in front of the key service (its admin API too): a plain reverse
/// proxy appending the caller to `X-Forwarded-For`.
const LOAD_BALANCER: &str = r#"
upstream ragkeys_lb {
    server @RAGKEYS@;
    keepalive 8;
}
server {
    listen @LISTEN@;
    location / {
        proxy_pass http://ragkeys_lb;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
}
"#;

/// The field case for the admin API: behind nginx, every audit event said 127.0.0.1. With
/// `--trusted-proxy` it names each caller, and a caller that forges the header is still itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_the_audit_trail_and_usage_name_each_caller() {
    let srv = Server::start_with(&["--trusted-proxy", "127.0.0.1/32"]);
    // The recipe's placeholder for the protected API is unused by this configuration.
    let lb = Gateway::start_recipe(LOAD_BALANCER, srv.addr, srv.addr);
    let direct = Api::new(&srv);
    let via = |source: &str| Api {
        base: lb.url(),
        http: client_from(source),
        ..direct.clone()
    };
    let (a, b) = (via("127.0.0.2"), via("127.0.0.3"));
    let sid = a.create_service("balanced").await;
    assert_eq!(
        last_event(&direct, &sid, "service.create").await["remote_addr"],
        "127.0.0.2"
    );
    let path = format!("/v1/services/{sid}/api-keys");
    let forged = [("x-forwarded-for", "10.0.4.99")];
    let r = b
        .send(
            Method::POST,
            &path,
            Some(&b.token),
            Some(&json!({})),
            &forged,
        )
        .await;
    let issued = r.expect(201);
    assert_eq!(
        last_event(&direct, &sid, "api_key.issue").await["remote_addr"],
        "127.0.0.3"
    );
    let (kid, key) = (
        issued["id"].as_str().unwrap().to_string(),
        issued["key"].as_str().unwrap().to_string(),
    );
    verify_with(&a.http, &a.base, &key, &forged)
        .await
        .expect(200);
    let usage = direct
        .get(&format!("/v1/services/{sid}/api-keys/{kid}/usage"))
        .await
        .expect(200);
    assert_eq!(usage["last_used_from"], "127.0.0.2", "{usage}");
    // One caller spending the failure limit through the balancer locks out only itself.
    spend_failures(&b.http, &b.base, &[]).await;
    verify_with(&a.http, &a.base, &key, &[]).await.expect(200);
}
