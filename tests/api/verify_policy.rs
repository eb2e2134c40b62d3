//! docs/api.md, Verify with a key's policy: `?scope=`, allowed networks against the trusted
//! client address, per-key rate limits with the RateLimit headers, the order of the checks, and
//! which refusals count toward the per-address failure limit. A real `ragkeys serve`, real HTTP;
//! clients "from 10.x" are a trusted proxy on 127.0.0.1 forwarding that address (TESTING.md).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::Server;
use crate::common::api::{Api, Reply, read, unknown_api_key};

/// `GET` (or `HEAD`) `/v1/verify{query}` with `key`, from `http`'s source, with `headers`.
async fn ask(api: &Api, method: Method, query: &str, key: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = api
        .http
        .request(method, api.url(&format!("/v1/verify{query}")))
        .header("authorization", format!("Bearer {key}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    read(req.send().await.expect("the service answers")).await
}

async fn verify(api: &Api, query: &str, key: &str) -> Reply {
    ask(api, Method::GET, query, key, &[]).await
}

/// Issues a key with `policy` (issue's body); returns (key id, plaintext).
async fn issue(api: &Api, sid: &str, policy: Value) -> (String, String) {
    let v = api.issue(sid, policy).await.expect(201);
    (
        v["id"].as_str().expect("id").to_string(),
        v["key"].as_str().expect("key").to_string(),
    )
}

async fn disable(api: &Api, sid: &str, kid: &str) {
    api.call(
        Method::PATCH,
        &format!("/v1/services/{sid}/api-keys/{kid}"),
        Some(json!({"enabled": false})),
    )
    .await
    .expect(200);
}

/// A refusal with its code in the body and in `Ragkeys-Refusal`, and no identity.
#[track_caller]
fn refused(r: &Reply, status: u16, code: &str) {
    r.expect_error(status, code);
    assert_eq!(r.header("ragkeys-refusal"), Some(code), "{:?}", r.headers);
    assert_eq!(r.header("ragkeys-key-id"), None);
}

/// The `r` and `t` of a `RateLimit` header (`t` absent while the bucket is full).
#[track_caller]
fn rate_left(r: &Reply) -> (u32, Option<u64>) {
    let v = r
        .header("ratelimit")
        .unwrap_or_else(|| panic!("no RateLimit on {}: {:?}", r.status, r.headers));
    let rest = v.strip_prefix("\"key\";").unwrap_or_else(|| panic!("{v}"));
    let mut left = None;
    let mut reset = None;
    for part in rest.split(';') {
        match part.split_once('=') {
            Some(("r", n)) => left = n.parse().ok(),
            Some(("t", n)) => reset = n.parse().ok(),
            _ => panic!("unexpected RateLimit part in {v}"),
        }
    }
    (left.unwrap_or_else(|| panic!("no r in {v}")), reset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_answers_only_for_its_scopes_and_a_malformed_scope_is_400_before_any_lookup() {
    let srv = Server::start_with(&["--verify-failures-per-minute", "3"]);
    let api = Api::new(&srv);
    let sid = api.create_service("scopes").await;
    let (kid, key) = issue(&api, &sid, json!({"scopes": ["query"]})).await;

    let r = verify(&api, "?scope=query", &key).await;
    let v = r.expect(200);
    assert_eq!(v["key_id"], kid.as_str());
    assert_eq!(v["scopes"], json!(["query"]));
    assert_eq!(r.header("ragkeys-scopes"), Some("query"));
    assert_eq!(r.header("ratelimit"), None, "no limit, no RateLimit");
    // Without a scope the answer does not depend on scopes.
    verify(&api, "", &key).await.expect(200);
    for other in ["?scope=ingest", "?scope=manage"] {
        let r = verify(&api, other, &key).await;
        refused(&r, 403, "insufficient_scope");
        let head = ask(&api, Method::HEAD, other, &key, &[]).await;
        assert_eq!(head.status, 403);
        assert_eq!(head.header("ragkeys-refusal"), Some("insufficient_scope"));
        assert_eq!(head.text, "");
    }
    let full = api.issue_ok(&sid).await.1;
    let r = verify(&api, "?scope=manage", &full).await;
    r.expect(200);
    assert_eq!(r.header("ragkeys-scopes"), Some("query,ingest,manage"));

    // Malformed: 400 whatever the key, and never a failure of the address (the limit is 3).
    let unknown = unknown_api_key();
    for _ in 0..2 {
        for query in [
            "?scope=",
            "?scope",
            "?scope=admin",
            "?scope=QUERY",
            "?scope=query&scope=query",
            "?scope=query&scope=ingest",
            "?scope=query&extra=1",
            "?scopes=query",
        ] {
            for k in [key.as_str(), &unknown, "ragk_garbage"] {
                let r = verify(&api, query, k).await;
                refused(&r, 400, "invalid_request");
            }
        }
    }
    verify(&api, "?scope=query", &key).await.expect(200);
    // The limiter is on all the same: three unknown keys, then 429 whatever is asked.
    for _ in 0..3 {
        refused(
            &verify(&api, "?scope=query", &unknown).await,
            401,
            "invalid_api_key",
        );
    }
    let r = verify(&api, "?scope=nonsense", &key).await;
    refused(&r, 429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.header("ratelimit"), None);
}

/// TESTING.md, Rate limits: the 429 is asserted with an hourly limit (no token comes back
/// during the test); the refill with a per-second one, by polling for a 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_rate_limit_is_429_with_retry_after_and_the_ratelimit_headers() {
    let srv = Server::start_with(&["--verify-failures-per-minute", "3"]);
    let api = Api::new(&srv);
    let sid = api.create_service("rates").await;
    let (_, hourly) = issue(
        &api,
        &sid,
        json!({"scopes": ["query"], "rate_limit": {"requests": 5, "per_seconds": 3600}}),
    )
    .await;

    // A 403 spends no token.
    for _ in 0..4 {
        let r = verify(&api, "?scope=ingest", &hourly).await;
        refused(&r, 403, "insufficient_scope");
        assert_eq!(r.header("ratelimit"), None);
    }
    for left in (0..5).rev() {
        let r = verify(&api, "?scope=query", &hourly).await;
        r.expect(200);
        assert_eq!(
            r.header("ratelimit-policy"),
            Some("\"key\";q=5;w=3600"),
            "{:?}",
            r.headers
        );
        let (r_left, t) = rate_left(&r);
        assert_eq!(r_left, left);
        // One token per 720 s.
        let t = t.expect("t while the bucket is not full");
        assert!((1..=720).contains(&t), "t={t}");
    }
    // The sixth within the hour, and a HEAD after it: 429, nothing spent by them either.
    for method in [Method::GET, Method::HEAD, Method::GET] {
        let r = ask(&api, method.clone(), "?scope=query", &hourly, &[]).await;
        assert_eq!(r.status, 429, "{method}: {:?}", r.headers);
        assert_eq!(r.header("ragkeys-refusal"), Some("rate_limited"));
        if method == Method::GET {
            let msg = r.expect_error(429, "rate_limited");
            assert!(msg.contains("rate limit"), "{msg}");
        }
        let retry: u64 = r
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .unwrap();
        assert!((1..=720).contains(&retry), "Retry-After {retry}");
        assert_eq!(r.header("ratelimit-policy"), Some("\"key\";q=5;w=3600"));
        assert_eq!(rate_left(&r), (0, Some(retry)), "t equals Retry-After");
    }
    // A key's own 429s are not failures of the address (the limit is 3): other keys verify.
    let (_, other) = issue(&api, &sid, json!({})).await;
    let r = verify(&api, "", &other).await;
    r.expect(200);
    assert_eq!(r.header("ratelimit"), None);

    // 5 a second: the bucket runs dry, then a token comes back.
    let (_, fast) = issue(
        &api,
        &sid,
        json!({"rate_limit": {"requests": 5, "per_seconds": 1}}),
    )
    .await;
    let mut passed = 0;
    let limited = loop {
        let r = verify(&api, "", &fast).await;
        match r.status.as_u16() {
            200 => passed += 1,
            429 => break r,
            s => panic!("{s}: {}", r.text),
        }
        assert!(passed < 100, "100 calls and never limited at 5/s");
    };
    assert!(passed >= 5, "only {passed} calls passed before the 429");
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(rate_left(&limited), (0, Some(1)));
    assert_eq!(limited.header("ratelimit-policy"), Some("\"key\";q=5;w=1"));
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let r = verify(&api, "", &fast).await;
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 429, "{}", r.text);
        assert!(Instant::now() < end, "no token came back within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn set_rate(api: &Api, sid: &str, kid: &str, rate: Value) {
    api.call(
        Method::PATCH,
        &format!("/v1/services/{sid}/api-keys/{kid}"),
        Some(json!({ "rate_limit": rate })),
    )
    .await
    .expect(200);
}

/// docs/api.md, Verify with a key's policy: a changed limit never gives back what was spent.
/// Lowered, it holds on the very next verify; raised, only the new room is there; a faster window
/// brings the spent tokens back at its rate, not at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_rate_limit_never_gives_spent_tokens_back() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let sid = api.create_service("rate changes").await;
    let (kid, key) = issue(
        &api,
        &sid,
        json!({"rate_limit": {"requests": 2, "per_seconds": 3600}}),
    )
    .await;
    verify(&api, "", &key).await.expect(200);
    verify(&api, "", &key).await.expect(200);
    refused(&verify(&api, "", &key).await, 429, "rate_limited");

    // Lowered to 1/h: still spent, on the very next verify.
    set_rate(
        &api,
        &sid,
        &kid,
        json!({"requests": 1, "per_seconds": 3600}),
    )
    .await;
    let r = verify(&api, "", &key).await;
    refused(&r, 429, "rate_limited");
    assert_eq!(r.header("ratelimit-policy"), Some("\"key\";q=1;w=3600"));
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(retry > 3000, "a token of 1/h came back early: {retry} s");

    // Raised to 3/h: the one token 1/h could hold stays spent (what a smaller bucket could not
    // hold was forgotten): two more, not a fresh bucket of three.
    set_rate(
        &api,
        &sid,
        &kid,
        json!({"requests": 3, "per_seconds": 3600}),
    )
    .await;
    for left in [1, 0] {
        let r = verify(&api, "", &key).await;
        r.expect(200);
        assert_eq!(rate_left(&r).0, left, "{:?}", r.headers);
    }
    refused(&verify(&api, "", &key).await, 429, "rate_limited");

    // 3 a minute: the three spent come back one per 20 s, not all at once.
    set_rate(&api, &sid, &kid, json!({"requests": 3, "per_seconds": 60})).await;
    let r = verify(&api, "", &key).await;
    refused(&r, 429, "rate_limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "Retry-After {retry}");

    // No limit, then a limit again: nothing was counted in between, so it starts full.
    set_rate(&api, &sid, &kid, Value::Null).await;
    verify(&api, "", &key).await.expect(200);
    set_rate(
        &api,
        &sid,
        &kid,
        json!({"requests": 2, "per_seconds": 3600}),
    )
    .await;
    let r = verify(&api, "", &key).await;
    r.expect(200);
    assert_eq!(rate_left(&r).0, 1, "{:?}", r.headers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowlist_is_checked_against_the_trusted_client_address() {
    let srv = Server::start_with(&["--trusted-proxy", "127.0.0.1/32"]);
    let api = Api::new(&srv);
    let sid = api.create_service("networks").await;
    let (kid, key) = issue(&api, &sid, json!({"allowed_cidrs": ["10.0.0.0/8"]})).await;

    // From 127.0.0.1 itself: outside.
    let r = verify(&api, "", &key).await;
    refused(&r, 403, "address_not_allowed");
    // Through the trusted proxy on 127.0.0.1, for a client at 10.1.2.3: inside.
    let via = [("x-forwarded-for", "10.1.2.3")];
    let r = ask(&api, Method::GET, "?scope=query", &key, &via).await;
    assert_eq!(r.expect(200)["key_id"], kid.as_str());
    // Another client behind the proxy, outside the list.
    let r = ask(
        &api,
        Method::GET,
        "",
        &key,
        &[("x-forwarded-for", "192.0.2.7")],
    )
    .await;
    refused(&r, 403, "address_not_allowed");
    // An untrusted peer cannot claim the address.
    let outsider = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let req = outsider
        .get(api.url("/v1/verify"))
        .header("authorization", format!("Bearer {key}"))
        .header("x-forwarded-for", "10.1.2.3");
    let r = read(req.send().await.unwrap()).await;
    refused(&r, 403, "address_not_allowed");
    // The networks come before the scope: from outside, a wrong scope is still 403 for the address.
    let (_, narrow) = issue(
        &api,
        &sid,
        json!({"scopes": ["query"], "allowed_cidrs": ["10.0.0.0/8"]}),
    )
    .await;
    let r = verify(&api, "?scope=ingest", &narrow).await;
    refused(&r, 403, "address_not_allowed");
    let r = ask(&api, Method::GET, "?scope=ingest", &narrow, &via).await;
    refused(&r, 403, "insufficient_scope");
}

/// Only a key that is valid right now gets a 403 or a 429 of its own; a stopped key is the
/// uniform 401 whatever it asks, and does not lock its caller's address out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_key_is_the_uniform_401_and_never_locks_out_its_caller() {
    let srv = Server::start_with(&["--verify-failures-per-minute", "5"]);
    let api = Api::new(&srv);
    let sid = api.create_service("stopped").await;
    let (kid, key) = issue(
        &api,
        &sid,
        json!({"scopes": ["query"], "rate_limit": {"requests": 1, "per_seconds": 3600},
               "allowed_cidrs": ["192.0.2.0/24"]}),
    )
    .await;
    refused(
        &verify(&api, "?scope=ingest", &key).await,
        403,
        "address_not_allowed",
    );
    disable(&api, &sid, &kid).await;
    let unknown = unknown_api_key();
    let uniform = verify(&api, "", &unknown).await;
    for query in ["?scope=ingest", "?scope=query", ""] {
        let r = verify(&api, query, &key).await;
        refused(&r, 401, "invalid_api_key");
        assert_eq!(r.text, uniform.text, "the same 401 as an unknown key");
        assert_eq!(r.header("ratelimit"), None);
    }
    // 50 calls with the disabled key from one address: all 401, never 429.
    for i in 0..50 {
        let r = verify(&api, "?scope=query", &key).await;
        assert_eq!(r.status, 401, "call {i}: {}", r.text);
    }
    let (_, good) = api.issue_ok(&sid).await;
    verify(&api, "", &good).await.expect(200);
    // Unknown keys do count: with the one above, four more reach the limit of 5.
    for _ in 0..4 {
        refused(&verify(&api, "", &unknown).await, 401, "invalid_api_key");
    }
    refused(&verify(&api, "", &good).await, 429, "rate_limited");
}

/// Rotates `kid` with a grace of `grace` seconds; the successor's key.
async fn rotate(api: &Api, sid: &str, kid: &str, grace: u32) -> String {
    let r = api
        .call(
            Method::POST,
            &format!("/v1/services/{sid}/api-keys/{kid}/rotate"),
            Some(json!({"grace_seconds": grace})),
        )
        .await;
    r.expect(201);
    r.json()["key"].as_str().unwrap().to_string()
}

/// A retired key (rotated without grace, or whose grace ended) is a stopped key too: the
/// uniform 401, counted as refused, never toward the address's failure limit, also once the
/// key has left the list and after a restart (the store's tombstone keeps it known).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_key_never_locks_out_its_caller_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let extra = ["--verify-failures-per-minute", "5"];
    let mut srv = Server::start_in(dir.path(), &extra);
    let api = Api::new(&srv);
    let sid = api.create_service("retired").await;
    let (at_once, at_once_key) = api.issue_ok(&sid).await;
    let (later, later_key) = api.issue_ok(&sid).await;
    rotate(&api, &sid, &at_once, 0).await;
    let successor = rotate(&api, &sid, &later, 1).await;
    // The second one retires when its grace of 1 s has ended: the list shows it no more.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = api
            .call(Method::GET, &format!("/v1/services/{sid}/api-keys"), None)
            .await;
        list.expect(200);
        let ids: Vec<String> = list.json()["api_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_string())
            .collect();
        assert!(!ids.contains(&at_once), "retired at once: {ids:?}");
        if !ids.contains(&later) {
            break;
        }
        assert!(Instant::now() < deadline, "the grace never ended: {ids:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let uniform = verify(&api, "", &unknown_api_key()).await;
    let hammer = |api: Api| {
        let (a, b) = (at_once_key.clone(), later_key.clone());
        async move {
            for i in 0..20 {
                for key in [&a, &b] {
                    let r = verify(&api, "", key).await;
                    refused(&r, 401, "invalid_api_key");
                    assert_eq!(r.text, verify(&api, "", key).await.text, "call {i}");
                }
            }
            api
        }
    };
    let api = hammer(api).await;
    assert_eq!(
        verify(&api, "", &at_once_key).await.text,
        uniform.text,
        "the same 401 as an unknown key"
    );
    verify(&api, "", &successor).await.expect(200);
    // After a restart the retired keys are known from their tombstones, not unknown.
    srv.stop();
    let srv = Server::start_in(dir.path(), &extra);
    let api = hammer(Api::new(&srv)).await;
    verify(&api, "", &successor).await.expect(200);
    // Unknown keys still count: five reach the limit.
    let unknown = unknown_api_key();
    for _ in 0..5 {
        refused(&verify(&api, "", &unknown).await, 401, "invalid_api_key");
    }
    refused(&verify(&api, "", &successor).await, 429, "rate_limited");
}
