//! The RAG API's gateway: a real nginx running `deploy/nginx/ragkeys-gateway.conf` in front of
//! an echo server standing in for the RAG API, asking a real `ragkeys serve` about every call
//! (docs/api.md, Identity for the gateway and A gateway recipe that is tested;
//! docs/operating.md, Behind a load balancer and a gateway). Distinct callers are distinct
//! loopback sources (127.0.0.2, 127.0.0.3).

use reqwest::Method;
use serde_json::Value;

use super::client_address::client_from;
use crate::common::api::{Api, Reply, read, unknown_api_key};
use crate::common::cut_proxy::Proxy;
use crate::common::github;
use crate::common::nginx::{EchoApi, Gateway};
use crate::common::raw::{Raw, assert_raw_error, raw_exchange};
use crate::common::{Server, http};

/// One call to the gateway from `http`'s source, with `key` as the bearer.
async fn call(
    http: &reqwest::Client,
    gw: &Gateway,
    method: Method,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = http.request(method.clone(), format!("{}{path}", gw.url()));
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if method == Method::POST {
        req = req
            .header("content-type", "application/json")
            .body(r#"{"question":"why"}"#);
    }
    let resp = req.send().await.expect("the gateway answers");
    read(resp).await
}

/// What the echo API received, from a call the gateway passed on (asserted 200).
#[track_caller]
fn echoed(r: &Reply, gw: &Gateway) -> Value {
    assert_eq!(
        r.status,
        200,
        "expected the API's answer, got {}: {}\nnginx: {}",
        r.status,
        r.text,
        gw.error_log()
    );
    let v = r.json();
    assert!(v["headers"].is_object(), "not the echo API's answer: {v}");
    v
}

/// The values of one header the echo API received.
fn got<'a>(echo: &'a Value, name: &str) -> Vec<&'a str> {
    echo["headers"][name]
        .as_array()
        .map(|vs| vs.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[track_caller]
fn retry_after(r: &Reply) -> u64 {
    let v = r
        .header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After on {}: {:?}", r.status, r.headers));
    let secs: u64 = v.parse().expect("Retry-After in seconds");
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
    secs
}

/// The field case: behind the gateway every caller used to be nginx's 127.0.0.1, so one caller
/// spending 61 bad keys had every caller's good key refused (429, which `auth_request` turned
/// into its own 500) for a minute. With `--trusted-proxy` and the recipe, only that caller is
/// held back, with the contract's 429, and every other caller goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_caller_spending_bad_keys_at_the_gateway_locks_out_only_itself() {
    let srv = Server::start_with(&["--trusted-proxy", "127.0.0.1/32"]);
    let rag = EchoApi::start();
    let gw = Gateway::start(srv.addr, rag.addr);
    let api = Api::new(&srv);
    let sid = api.create_service("gateway").await;
    let (kid_a, key_a) = api.issue_ok(&sid).await;
    let (kid_b, key_b) = api.issue_ok(&sid).await;
    let a = client_from("127.0.0.2");
    let b = client_from("127.0.0.3");

    let r = call(&a, &gw, Method::GET, "/v1/query", Some(&key_a), &[]).await;
    assert_eq!(got(&echoed(&r, &gw), "ragkeys-key-id"), [kid_a.as_str()]);
    for i in 0..60 {
        let r = call(
            &a,
            &gw,
            Method::GET,
            "/v1/query",
            Some(&unknown_api_key()),
            &[],
        )
        .await;
        assert_eq!(r.status, 401, "bad key {i}: {}", r.text);
        r.expect_error(401, "invalid_api_key");
    }
    let r = call(
        &a,
        &gw,
        Method::GET,
        "/v1/query",
        Some(&unknown_api_key()),
        &[],
    )
    .await;
    r.expect_error(429, "rate_limited");
    retry_after(&r);
    // Once over the limit, the caller's good key waits too (docs/api.md: whatever key it presents).
    let r = call(&a, &gw, Method::POST, "/v1/query", Some(&key_a), &[]).await;
    r.expect_error(429, "rate_limited");
    retry_after(&r);

    // Every other caller is untouched.
    for method in [Method::GET, Method::POST] {
        let r = call(&b, &gw, method, "/v1/query", Some(&key_b), &[]).await;
        let echo = echoed(&r, &gw);
        assert_eq!(got(&echo, "ragkeys-key-id"), [kid_b.as_str()]);
        assert_eq!(got(&echo, "ragkeys-service-id"), [sid.as_str()]);
    }

    // Usage records each caller's own address, not the gateway's.
    for (kid, from) in [(&kid_a, "127.0.0.2"), (&kid_b, "127.0.0.3")] {
        let usage = api
            .get(&format!("/v1/services/{sid}/api-keys/{kid}/usage"))
            .await
            .expect(200);
        assert_eq!(usage["last_used_from"], from, "{usage}");
    }
}

/// What reaches the API is what the key service decided: its identity headers set by the
/// gateway (a caller's own never pass), no API key, the request id both ways; refusals in the
/// API's JSON shape; only the key service's leak route is exposed; nothing is cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_gets_the_key_services_identity_and_never_the_callers_claim() {
    let srv = Server::start_with(&["--trusted-proxy", "127.0.0.1/32"]);
    let rag = EchoApi::start();
    let gw = Gateway::start(srv.addr, rag.addr);
    let api = Api::new(&srv);
    let sid = api.create_service("gateway").await;
    let (kid, key) = api.issue_ok(&sid).await;
    let http = http();

    // A caller that claims an identity gets the one its key has, and the key stays here.
    let forged = [
        ("ragkeys-key-id", "key_forged"),
        ("ragkeys-service-id", "svc_forged"),
        ("ragkeys-scopes", "manage"),
        ("ragkeys-refusal", "none"),
        ("x-request-id", "gw-test-0001"),
    ];
    for method in [Method::GET, Method::POST, Method::DELETE] {
        let r = call(
            &http,
            &gw,
            method.clone(),
            "/v2/documents/7?x=1",
            Some(&key),
            &forged,
        )
        .await;
        let echo = echoed(&r, &gw);
        assert_eq!(echo["method"], method.as_str());
        assert_eq!(echo["path"], "/v2/documents/7?x=1");
        assert_eq!(got(&echo, "ragkeys-key-id"), [kid.as_str()]);
        assert_eq!(got(&echo, "ragkeys-service-id"), [sid.as_str()]);
        assert_eq!(
            got(&echo, "ragkeys-scopes"),
            ["query,ingest,manage"],
            "{echo}"
        );
        assert!(got(&echo, "ragkeys-refusal").is_empty(), "{echo}");
        assert!(got(&echo, "authorization").is_empty(), "{echo}");
        assert_eq!(got(&echo, "x-request-id"), ["gw-test-0001"]);
        assert_eq!(r.header("x-request-id"), Some("gw-test-0001"));
        if method == Method::POST {
            assert_eq!(got(&echo, "content-length"), ["18"], "the body passes on");
        }
    }
    // Without an id of its own, the caller gets nginx's, and the API saw the same one.
    let r = call(&http, &gw, Method::GET, "/v1/query", Some(&key), &[]).await;
    let echo = echoed(&r, &gw);
    let id = r
        .header("x-request-id")
        .expect("an X-Request-Id")
        .to_string();
    assert_eq!(got(&echo, "x-request-id"), [id.as_str()]);
    assert_ne!(id, "from-the-api");

    // Refusals: the contract's JSON, the code named, the request id returned.
    for bad in [
        None,
        Some("ragk_short".to_string()),
        Some(unknown_api_key()),
    ] {
        let r = call(
            &http,
            &gw,
            Method::GET,
            "/v1/query",
            bad.as_deref(),
            &[("x-request-id", "gw-test-0002")],
        )
        .await;
        r.expect_error(401, "invalid_api_key");
        assert_eq!(r.header("x-request-id"), Some("gw-test-0002"));
        assert!(r.header("ragkeys-refusal").is_none(), "{:?}", r.headers);
        let challenges = r.headers.get_all("www-authenticate").iter().count();
        assert_eq!(challenges, 1, "{:?}", r.headers);
    }

    // The key service's admin routes are not on this listener: the API's paths are the API's.
    let r = call(
        &http,
        &gw,
        Method::GET,
        "/v1/services",
        Some(&api.token),
        &[],
    )
    .await;
    r.expect_error(401, "invalid_api_key");
    let r = call(&http, &gw, Method::GET, "/v1/services", Some(&key), &[]).await;
    assert_eq!(echoed(&r, &gw)["path"], "/v1/services");
    let r = call(&http, &gw, Method::GET, "/_ragkeys/verify", Some(&key), &[]).await;
    assert_eq!(
        r.status, 404,
        "the internal check is not reachable: {}",
        r.text
    );
    // Only POST /v1/leaks/github of the key service, and it is the key service that answers.
    let seen = rag.connections();
    let r = call(&http, &gw, Method::GET, "/v1/leaks/github", None, &[]).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = call(&http, &gw, Method::POST, "/v1/leaks/github", None, &[]).await;
    assert!(
        r.header("ragkeys-refusal").is_some(),
        "{:?} {}",
        r.headers,
        r.text
    );
    assert!(r.json()["error"]["code"].is_string(), "{}", r.text);
    assert_eq!(rag.connections(), seen);

    // Nothing is cached: a deleted key is refused at the gateway on the very next call.
    api.delete_key(&sid, &kid).await.expect(204);
    let r = call(&http, &gw, Method::GET, "/v1/query", Some(&key), &[]).await;
    r.expect_error(401, "invalid_api_key");
}

/// nginx `auth_request` asks by HEAD, so each answer of the key service ends with its head and
/// the connection is kept for the next call: a connection per call is a defect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_keeps_its_connections_to_the_key_service_and_the_api() {
    let srv = Server::start_with(&["--trusted-proxy", "127.0.0.1/32"]);
    let rag = EchoApi::start();
    // Between nginx and the key service: a forwarder that counts the connections it carries.
    let counter = Proxy::start(srv.addr);
    let gw = Gateway::start(counter.addr, rag.addr);
    let api = Api::new(&srv);
    let sid = api.create_service("gateway").await;
    let (_, key) = api.issue_ok(&sid).await;
    let http = http();
    for i in 0..10 {
        for method in [Method::GET, Method::POST, Method::PUT] {
            let r = call(&http, &gw, method, "/v1/query", Some(&key), &[]).await;
            echoed(&r, &gw);
        }
        let r = call(
            &http,
            &gw,
            Method::GET,
            "/v1/query",
            Some(&unknown_api_key()),
            &[],
        )
        .await;
        assert_eq!(r.status, 401, "call {i}: {}", r.text);
    }
    let to_keys = counter.upstream_ports().len();
    assert!(
        to_keys <= 2,
        "40 calls opened {to_keys} connections to the key service"
    );
    assert!(
        rag.connections() <= 2,
        "30 calls opened {} connections to the API",
        rag.connections()
    );
}

/// A key service that cannot answer is 503 `unavailable` with `Retry-After` at the gateway,
/// never nginx's own 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_key_service_is_503_with_retry_after_at_the_gateway() {
    let mut srv = Server::start_with(&["--trusted-proxy", "127.0.0.1/32"]);
    let rag = EchoApi::start();
    let gw = Gateway::start(srv.addr, rag.addr);
    let api = Api::new(&srv);
    let sid = api.create_service("gateway").await;
    let (_, key) = api.issue_ok(&sid).await;
    let http = http();
    let r = call(&http, &gw, Method::GET, "/v1/query", Some(&key), &[]).await;
    echoed(&r, &gw);
    srv.kill9();
    for key in [key, unknown_api_key()] {
        for method in [Method::GET, Method::POST] {
            let r = call(
                &http,
                &gw,
                method,
                "/v1/query",
                Some(&key),
                &[("x-request-id", "gw-test-0003")],
            )
            .await;
            r.expect_error(503, "unavailable");
            assert_eq!(retry_after(&r), 1);
            assert_eq!(r.header("x-request-id"), Some("gw-test-0003"));
        }
    }
}

/// What the gateway relies on, asked directly: a 200 carries the answer as headers, every
/// refusal names its code, HEAD answers as GET without a body, and a caller's own `Ragkeys-*`
/// headers change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_answers_in_headers_and_head_answers_as_get() {
    let srv = Server::start_with(&["--verify-failures-per-minute", "3"]);
    let api = Api::new(&srv);
    let sid = api.create_service("heads").await;
    let (kid, key) = api.issue_ok(&sid).await;
    const FORGED: [(&str, &str); 3] = [
        ("ragkeys-key-id", "key_forged"),
        ("ragkeys-service-id", "svc_forged"),
        ("ragkeys-refusal", "rate_limited"),
    ];
    let ask = |method: Method, key: Option<String>, extra: &'static [(&str, &str)]| {
        let mut req = api.http.request(method, api.url("/v1/verify"));
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        async move { read(req.send().await.expect("the service answers")).await }
    };
    let get = ask(Method::GET, Some(key.clone()), &[]).await;
    let v = get.expect(200);
    assert_eq!(v["key_id"], kid.as_str());
    let head = ask(Method::HEAD, Some(key.clone()), &[]).await;
    for r in [&get, &head] {
        assert_eq!(r.status, 200);
        assert_eq!(r.header("ragkeys-service-id"), Some(sid.as_str()));
        assert_eq!(r.header("ragkeys-key-id"), Some(kid.as_str()));
        assert_eq!(r.header("ragkeys-refusal"), None);
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    assert_eq!(head.text, "", "HEAD has no body");
    assert_eq!(
        head.header("content-length"),
        get.header("content-length"),
        "HEAD announces the GET's length"
    );
    // A caller's own Ragkeys-* headers are not read, nor echoed.
    let r = ask(Method::GET, Some(key.clone()), &FORGED).await;
    r.expect(200);
    for (name, want) in [("ragkeys-key-id", &kid), ("ragkeys-service-id", &sid)] {
        let all: Vec<_> = r.headers.get_all(name).iter().collect();
        assert_eq!(all, [want.as_str()], "{name}");
    }
    assert_eq!(r.header("ragkeys-refusal"), None);

    // Refusals: the code in Ragkeys-Refusal, no identity, Retry-After where one applies.
    for method in [Method::GET, Method::HEAD] {
        let r = ask(method.clone(), None, &FORGED).await;
        assert_eq!(r.status, 401, "{method}");
        assert_eq!(r.header("ragkeys-refusal"), Some("invalid_api_key"));
        assert_eq!(r.header("ragkeys-key-id"), None);
        assert_eq!(r.header("retry-after"), None);
    }
    let r = ask(Method::GET, Some(unknown_api_key()), &[]).await;
    r.expect_error(401, "invalid_api_key");
    assert_eq!(r.header("ragkeys-refusal"), Some("invalid_api_key"));
    ask(Method::HEAD, Some(unknown_api_key()), &[]).await;
    let r = ask(Method::HEAD, Some(key.clone()), &[]).await;
    assert_eq!(r.status, 429, "the failure limit, by HEAD: {:?}", r.headers);
    assert_eq!(r.header("ragkeys-refusal"), Some("rate_limited"));
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.text, "");
    let r = ask(Method::GET, Some(key.clone()), &[]).await;
    r.expect_error(429, "rate_limited");
    assert_eq!(r.header("ragkeys-refusal"), Some("rate_limited"));
    // A refusal of the gate names its code the same way.
    let twice = api
        .http
        .get(api.url("/v1/verify"))
        .header("authorization", format!("Bearer {key}"))
        .header("authorization", format!("Bearer {key}"));
    let r = read(twice.send().await.unwrap()).await;
    r.expect_error(400, "invalid_request");
    assert_eq!(r.header("ragkeys-refusal"), Some("invalid_request"));
}

/// The recipe's `map $uri`: each path asks the key service for its scope (`/query`, `/search` →
/// `query`; `/documents`, `/ingest` → `ingest`; anything else `manage`), and the caller gets the
/// key service's 403 and 429 as they were decided, in the API's JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_path_asks_for_its_scope_and_403_and_429_pass_on() {
    let srv = Server::start_with(&["--trusted-proxy", "127.0.0.1/32"]);
    let rag = EchoApi::start();
    let gw = Gateway::start(srv.addr, rag.addr);
    let api = Api::new(&srv);
    let sid = api.create_service("gateway").await;
    let issue = |policy: serde_json::Value| {
        let api = api.clone();
        let sid = sid.clone();
        async move {
            let v = api.issue(&sid, policy).await.expect(201);
            v["key"].as_str().unwrap().to_string()
        }
    };
    let query_key = issue(serde_json::json!({"scopes": ["query"]})).await;
    let ingest_key = issue(serde_json::json!({"scopes": ["ingest"]})).await;
    let http = http();

    for path in ["/query/", "/v1/query", "/search?q=x", "/v2/search/7"] {
        let r = call(&http, &gw, Method::POST, path, Some(&query_key), &[]).await;
        assert_eq!(got(&echoed(&r, &gw), "ragkeys-scopes"), ["query"], "{path}");
    }
    for path in [
        "/documents/",
        "/v1/ingest",
        "/v1/admin",
        "/settings",
        "/queryx",
    ] {
        let r = call(
            &http,
            &gw,
            Method::GET,
            path,
            Some(&query_key),
            &[("x-request-id", "gw-scope-1")],
        )
        .await;
        r.expect_error(403, "insufficient_scope");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("x-request-id"), Some("gw-scope-1"));
        assert!(r.header("ragkeys-refusal").is_none(), "{:?}", r.headers);
    }
    let r = call(
        &http,
        &gw,
        Method::PUT,
        "/documents/7",
        Some(&ingest_key),
        &[],
    )
    .await;
    assert_eq!(got(&echoed(&r, &gw), "ragkeys-scopes"), ["ingest"]);
    let r = call(&http, &gw, Method::GET, "/query/", Some(&ingest_key), &[]).await;
    r.expect_error(403, "insufficient_scope");

    // An allowlist the caller is outside of: 403 with its own code.
    let fenced = issue(serde_json::json!({"allowed_cidrs": ["192.0.2.0/24"]})).await;
    let r = call(&http, &gw, Method::GET, "/query/", Some(&fenced), &[]).await;
    let msg = r.expect_error(403, "address_not_allowed");
    assert!(msg.contains("address"), "{msg}");

    // A key over its own rate limit: 429 with Retry-After and the RateLimit fields.
    let limited =
        issue(serde_json::json!({"rate_limit": {"requests": 2, "per_seconds": 3600}})).await;
    for left in ["1", "0"] {
        let r = call(&http, &gw, Method::GET, "/query/", Some(&limited), &[]).await;
        echoed(&r, &gw);
        assert_eq!(r.header("ratelimit-policy"), Some("\"key\";q=2;w=3600"));
        let rate = r.header("ratelimit").expect("RateLimit on a passed call");
        assert!(rate.starts_with(&format!("\"key\";r={left};t=")), "{rate}");
    }
    let seen = rag.connections();
    for method in [Method::GET, Method::POST] {
        let r = call(&http, &gw, method, "/query/", Some(&limited), &[]).await;
        let msg = r.expect_error(429, "rate_limited");
        assert!(msg.contains("rate limit"), "{msg}");
        let secs = retry_after_hourly(&r);
        assert_eq!(
            r.header("ratelimit"),
            Some(format!("\"key\";r=0;t={secs}").as_str())
        );
        assert_eq!(r.header("ratelimit-policy"), Some("\"key\";q=2;w=3600"));
    }
    assert_eq!(
        rag.connections(),
        seen,
        "a refused call never reaches the API"
    );
}

/// `Retry-After` of a key's hourly limit: whole seconds, at most the hour.
#[track_caller]
fn retry_after_hourly(r: &Reply) -> u64 {
    let secs: u64 = r
        .header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After on {}: {:?}", r.status, r.headers))
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=3600).contains(&secs), "Retry-After {secs}");
    secs
}

/// Of the key service the recipe exposes `POST /v1/leaks/github` alone, with the key service's
/// own limit of 1 MiB: a larger body, another method and the admin route `POST /v1/leaks` never
/// reach it, and a key service that cannot be reached is the API's 503, not nginx's page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leak_route_is_the_one_way_to_the_key_service_and_takes_at_most_1_mib() {
    let mut srv = Server::start_with(&["--trusted-proxy", "127.0.0.1/32"]);
    let rag = EchoApi::start();
    let gw = Gateway::start(srv.addr, rag.addr);
    let api = Api::new(&srv);
    let sid = api.create_service("gateway").await;
    let (kid, key) = api.issue_ok(&sid).await;
    let http = http();
    let post = |path: &str, bearer: Option<&str>, body: Vec<u8>| {
        let mut req = http
            .post(format!("{}{path}", gw.url()))
            .header("content-type", "application/json")
            .header("x-request-id", "gw-leak-1")
            .body(body);
        if let Some(b) = bearer {
            req = req.header("authorization", format!("Bearer {b}"));
        }
        async move { read(req.send().await.expect("the gateway answers")).await }
    };

    // Without --leak-report-keys the route is the key service's 404: the key service answered.
    let r = post("/v1/leaks/github", None, b"[]".to_vec()).await;
    r.expect_error(404, "not_found");
    assert_eq!(
        r.header("ragkeys-refusal"),
        Some("not_found"),
        "{:?}",
        r.headers
    );
    assert_eq!(r.header("x-request-id"), Some("gw-leak-1"));

    // Over 1 MiB: nginx answers itself, in the API's JSON.
    let r = post("/v1/leaks/github", None, vec![b' '; (1 << 20) + 1]).await;
    r.expect_error(413, "payload_too_large");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(
        r.header("ragkeys-refusal").is_none(),
        "reached the key service: {:?}",
        r.headers
    );
    assert_eq!(r.header("x-request-id"), Some("gw-leak-1"));

    // Any other method is refused at the door.
    for method in [Method::GET, Method::PUT, Method::DELETE, Method::PATCH] {
        let r = call(&http, &gw, method.clone(), "/v1/leaks/github", None, &[]).await;
        assert_eq!(r.status, 403, "{method}: {}", r.text);
        assert!(
            r.header("ragkeys-refusal").is_none(),
            "{method}: {:?}",
            r.headers
        );
    }

    // POST /v1/leaks is an admin route: at the gateway it is a path of the RAG API like any
    // other. An admin token is no API key, and a request the API passes on goes to the API.
    let report = serde_json::to_vec(&serde_json::json!({"key": key})).unwrap();
    let seen = rag.connections();
    let r = post("/v1/leaks", Some(&srv.token), report.clone()).await;
    r.expect_error(401, "invalid_api_key");
    assert!(r.header("ragkeys-refusal").is_none(), "{:?}", r.headers);
    assert_eq!(rag.connections(), seen);
    let r = post("/v1/leaks", Some(&key), report).await;
    let echo = echoed(&r, &gw);
    assert_eq!(echo["path"], "/v1/leaks");
    assert_eq!(got(&echo, "ragkeys-key-id"), [kid.as_str()]);
    let list = api
        .get(&format!("/v1/services/{sid}/api-keys"))
        .await
        .expect(200);
    let k = &list["api_keys"][0];
    assert_eq!(k["id"], kid.as_str(), "{list}");
    assert_eq!(k["state"], "active", "{k}");
    assert!(k["leak"].is_null(), "{k}");

    // A key service that cannot be reached: 503 `unavailable` with Retry-After, for GitHub to
    // send the batch again.
    srv.kill9();
    let r = post("/v1/leaks/github", None, b"[]".to_vec()).await;
    r.expect_error(503, "unavailable");
    assert_eq!(retry_after(&r), 1);
    assert_eq!(r.header("x-request-id"), Some("gw-leak-1"));
}

/// A raw POST through the gateway, its path sent exactly as written (no client normalises it).
async fn raw_post(gw: &Gateway, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Raw {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        gw.addr,
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    raw_exchange(gw.addr, &head, &[body.to_vec()]).await
}

/// GitHub's report through the gateway reaches the key service's route however its path is
/// spelled, and up to 1 MiB of it; signed as GitHub signs, it disables the reported key, which
/// the gateway refuses on the very next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_signed_as_github_signs_disables_the_key_through_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let signer = github::SigningKey::new("gw-test-key-1");
    let keys = github::write_keys(dir.path(), &[(&signer, true)]);
    let srv = Server::start_with(&[
        "--trusted-proxy",
        "127.0.0.1/32",
        "--leak-report-keys",
        keys.to_str().unwrap(),
    ]);
    let rag = EchoApi::start();
    let gw = Gateway::start(srv.addr, rag.addr);
    let api = Api::new(&srv);
    let sid = api.create_service("gateway").await;
    let (kid, key) = api.issue_ok(&sid).await;
    let http = http();
    let r = call(&http, &gw, Method::GET, "/v1/query", Some(&key), &[]).await;
    echoed(&r, &gw);

    // Unsigned: the key service's own 401, whatever way the path was written.
    for path in [
        "/v1/leaks/github",
        "/v1/leaks/%67ithub",
        "/v1/services/x/../../leaks/github",
        "/v1//leaks/github",
        "/v1/leaks/github?from=github",
    ] {
        let r = raw_post(&gw, path, &[], b"[]").await;
        assert_raw_error(&r, 401, "invalid_signature");
        assert_eq!(
            r.headers.get("ragkeys-refusal").map(String::as_str),
            Some("invalid_signature"),
            "{path}"
        );
    }
    // 1 MiB passes the gateway: the key service reads it and finds no signature.
    let r = raw_post(&gw, github::ROUTE, &[], &vec![b' '; 1 << 20]).await;
    assert_raw_error(&r, 401, "invalid_signature");

    // Signed as GitHub signs it.
    let url = "https://github.com/octo/app/blob/main/.env";
    let report = github::body(&[github::entry(&key, url)]);
    let signature = signer.sign(&report);
    let r = raw_post(
        &gw,
        github::ROUTE,
        &[
            ("Github-Public-Key-Identifier", &signer.id),
            ("Github-Public-Key-Signature", &signature),
        ],
        &report,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let feedback = r.json();
    assert_eq!(feedback[0]["label"], "true_positive", "{feedback}");
    assert_eq!(
        feedback[0]["token_hash"],
        github::token_hash(&key).as_str(),
        "{feedback}"
    );

    // The very next call with the key is refused at the gateway.
    let r = call(&http, &gw, Method::GET, "/v1/query", Some(&key), &[]).await;
    r.expect_error(401, "invalid_api_key");
    let list = api
        .get(&format!("/v1/services/{sid}/api-keys"))
        .await
        .expect(200);
    let k = &list["api_keys"][0];
    assert_eq!(k["id"], kid.as_str(), "{list}");
    assert_eq!(k["state"], "disabled", "{k}");
    assert_eq!(k["leak"]["by"], "github", "{k}");
    assert_eq!(k["leak"]["url"], url, "{k}");
}
