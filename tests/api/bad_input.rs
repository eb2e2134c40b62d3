//! Hostile and clumsy input: every refusal has the documented status, code and shape, names what
//! was wrong, and leaves nothing behind.

use crate::common;
use std::time::Duration;

use crate::common::Server;
use crate::common::api::{Api, Reply, read};
use crate::common::raw::{assert_raw_error, post_chunked, raw_exchange};
use reqwest::Method;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

const OVER_LIMIT: usize = 17 * 1024;
const AT_LIMIT: usize = 16 * 1024;

/// A JSON object of exactly `len` bytes: `open` then spaces then `}`.
fn padded(open: &str, len: usize) -> String {
    let mut s = open.to_string();
    while s.len() < len - 1 {
        s.push(' ');
    }
    s.push('}');
    assert_eq!(s.len(), len);
    s
}

/// Sends raw bytes as the request body with the given content type.
async fn post_bytes(api: &Api, path: &str, body: Vec<u8>, content_type: Option<&str>) -> Reply {
    let mut req = api
        .http
        .post(api.url(path))
        .bearer_auth(&api.token)
        .body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    read(req.send().await.expect("request reaches the service")).await
}

async fn post_json_text(api: &Api, path: &str, body: &str) -> Reply {
    post_bytes(
        api,
        path,
        body.as_bytes().to_vec(),
        Some("application/json"),
    )
    .await
}

async fn setup() -> (Server, Api, String) {
    let srv = Server::start();
    let api = Api::new(&srv);
    let sid = api.create_service("target").await;
    (srv, api, sid)
}

/// Nothing a refused request did may have left a key behind.
async fn assert_no_keys(api: &Api, sid: &str) {
    assert_eq!(
        api.list_ids(sid).await.len(),
        0,
        "a refused request issued a key"
    );
    assert_eq!(api.service(sid).await["key_count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_an_invalid_request_on_every_post_route() {
    let (_srv, api, sid) = setup().await;
    let keys = format!("/v1/services/{sid}/api-keys");
    let mut accepted = Vec::new();
    for body in [
        "{",
        "{\"name\":}",
        "{\"name\":\"abcd\",}",
        "{'name':'abcd'}",
        "[]",
        "[\"from-an-array\"]",
        "null",
        "\"abcd\"",
        "42",
        "{\"name\":\"abcd\"} {\"name\":\"efgh\"}",
        "name=abcd",
    ] {
        for path in ["/v1/services", keys.as_str()] {
            let r = post_json_text(&api, path, body).await;
            if r.status == 400 {
                r.expect_error(400, "invalid_request");
            } else {
                accepted.push(format!("POST {path} {body:?} → {} {}", r.status, r.text));
            }
        }
    }
    post_json_text(&api, "/v1/services", "")
        .await
        .expect_error(400, "invalid_request");
    assert!(accepted.is_empty(), "not refused: {accepted:#?}");
    assert_no_keys(&api, &sid).await;
    assert_eq!(
        api.get("/v1/services").await.json()["services"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "a malformed create made a service"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_json_is_refused_without_harm() {
    let (_srv, api, sid) = setup().await;
    let depth = 7000;
    let nested = format!("{{\"name\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
    assert!(nested.len() < AT_LIMIT);
    for path in [
        "/v1/services".to_string(),
        format!("/v1/services/{sid}/api-keys"),
    ] {
        post_json_text(&api, &path, &nested)
            .await
            .expect_error(400, "invalid_request");
    }
    // Still standing.
    assert_eq!(api.get("/healthz").await.status, 200);
    assert_no_keys(&api, &sid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_length_over_16_kib_is_refused_without_waiting_for_the_body() {
    let (srv, api, sid) = setup().await;
    // Headers only: a service that reads before it counts would wait here for 10 MB.
    let head = format!(
        "POST /v1/services/{sid}/api-keys HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n",
        srv.addr, srv.token
    );
    let began = std::time::Instant::now();
    let r = raw_exchange(srv.addr, &head, &[]).await;
    assert_raw_error(&r, 413, "payload_too_large");
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "413 took {:?}",
        began.elapsed()
    );
    assert_no_keys(&api, &sid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_are_refused_and_named() {
    let (_srv, api, sid) = setup().await;
    let r = api
        .call(
            Method::POST,
            "/v1/services",
            Some(json!({"name": "colourful", "colour": "red"})),
        )
        .await;
    let msg = r.expect_error(400, "invalid_request");
    assert!(
        msg.contains("colour"),
        "message should name the field: {msg}"
    );
    for body in [
        json!({"nmae": "typo"}),
        json!({"name": "mine", "key": "ragk_choose_my_own_key_please_000000"}),
        json!({"name": "mine", "key_limit": 100}),
    ] {
        let field = body
            .as_object()
            .and_then(|o| o.keys().find(|k| *k != "name"))
            .cloned()
            .unwrap_or_default();
        let msg = api
            .issue(&sid, body)
            .await
            .expect_error(400, "invalid_request");
        assert!(msg.contains(&field), "message should name {field}: {msg}");
    }
    assert_no_keys(&api, &sid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_types_are_refused_and_name_the_field() {
    let (_srv, api, sid) = setup().await;
    for (body, field) in [
        (json!({"name": 123}), "name"),
        (json!({"name": null}), "name"),
        (json!({"name": ["a", "b", "c"]}), "name"),
        (json!({"name": {"first": "abc"}}), "name"),
        (json!({"name": "typed", "description": 7}), "description"),
        (
            json!({"name": "typed", "description": false}),
            "description",
        ),
    ] {
        let r = api
            .call(Method::POST, "/v1/services", Some(body.clone()))
            .await;
        let msg = r.expect_error(400, "invalid_request");
        assert!(
            msg.contains(field),
            "{body}: message should name {field}: {msg}"
        );
    }
    for body in [
        json!({"name": 5}),
        json!({"name": true}),
        json!({"name": ["x"]}),
    ] {
        let msg = api
            .issue(&sid, body.clone())
            .await
            .expect_error(400, "invalid_request");
        assert!(
            msg.contains("name"),
            "{body}: message should name the field: {msg}"
        );
    }
    assert_no_keys(&api, &sid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_16_kib_are_refused_before_parsing() {
    let (_srv, api, sid) = setup().await;
    let keys = format!("/v1/services/{sid}/api-keys");
    // Valid JSON that would succeed if it were small: only the size can refuse it.
    let big_service = padded("{\"name\":\"big-one\"", OVER_LIMIT);
    let big_issue = padded("{\"name\":\"big\"", OVER_LIMIT);
    post_json_text(&api, "/v1/services", &big_service)
        .await
        .expect_error(413, "payload_too_large");
    post_json_text(&api, &keys, &big_issue)
        .await
        .expect_error(413, "payload_too_large");
    // Garbage of that size too: no parser got to see it.
    let junk = vec![b'x'; OVER_LIMIT];
    for path in ["/v1/services", keys.as_str()] {
        post_bytes(&api, path, junk.clone(), Some("application/json"))
            .await
            .expect_error(413, "payload_too_large");
    }
    assert_no_keys(&api, &sid).await;
    // Exactly 16 KiB is not over the limit.
    let r = post_json_text(
        &api,
        "/v1/services",
        &padded("{\"name\":\"at-limit\"", AT_LIMIT),
    )
    .await;
    assert_eq!(r.status, 201, "a 16 KiB body is allowed: {}", r.text);
    let r = post_json_text(&api, &keys, &padded("{\"name\":\"at-limit\"", AT_LIMIT)).await;
    assert_eq!(r.status, 201, "a 16 KiB body is allowed: {}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_bodies_over_16_kib_are_refused_too() {
    let (srv, api, sid) = setup().await;
    let keys = format!("/v1/services/{sid}/api-keys");
    let big_service = padded("{\"name\":\"chunky\"", OVER_LIMIT);
    let big_issue = padded("{\"name\":\"chunky\"", OVER_LIMIT);
    let r = post_chunked(&srv, "/v1/services", big_service.as_bytes()).await;
    assert_raw_error(&r, 413, "payload_too_large");
    let r = post_chunked(&srv, &keys, big_issue.as_bytes()).await;
    assert_raw_error(&r, 413, "payload_too_large");
    assert_no_keys(&api, &sid).await;
    // A small chunked body is an ordinary request.
    let r = post_chunked(&srv, &keys, b"{\"name\":\"small chunks\"}").await;
    assert_eq!(r.status, 201, "small chunked issue: {}", r.body);
    assert_eq!(r.json()["name"], "small chunks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_16_kib_are_refused_on_the_other_routes_as_well() {
    let (_srv, api, sid) = setup().await;
    let (kid, key) = api.issue_ok(&sid).await;
    let junk = vec![b' '; OVER_LIMIT];
    for (method, path) in [
        (Method::DELETE, format!("/v1/services/{sid}/api-keys/{kid}")),
        (Method::DELETE, format!("/v1/services/{sid}")),
        (Method::GET, format!("/v1/services/{sid}/api-keys")),
        (Method::GET, "/v1/services".to_string()),
    ] {
        let req = api
            .http
            .request(method.clone(), api.url(&path))
            .bearer_auth(&api.token)
            .body(junk.clone());
        read(req.send().await.expect("send"))
            .await
            .expect_error(413, "payload_too_large");
    }
    let req = api
        .http
        .get(api.url("/v1/verify"))
        .bearer_auth(&key)
        .body(junk.clone());
    read(req.send().await.expect("send"))
        .await
        .expect_error(413, "payload_too_large");
    // None of the refused deletes happened.
    assert_eq!(api.list_ids(&sid).await, vec![kid]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_counted_in_unicode_scalar_values() {
    let (_srv, api, sid) = setup().await;
    let create = |name: String, description: String| {
        let api = api.clone();
        async move {
            api.call(
                Method::POST,
                "/v1/services",
                Some(json!({"name": name, "description": description})),
            )
            .await
        }
    };
    let ko = |n: usize| {
        "가나다라마바사아자차카타파하"
            .chars()
            .cycle()
            .take(n)
            .collect::<String>()
    };
    // 20 Korean characters are 60 bytes and one name; 21 are one too many.
    let r = create(ko(20), String::new()).await;
    assert_eq!(r.status, 201, "20 Korean characters: {}", r.text);
    assert_eq!(r.json()["name"].as_str(), Some(ko(20).as_str()));
    let msg = create(format!("x{}", ko(20)), String::new())
        .await
        .expect_error(400, "invalid_request");
    assert!(msg.contains("name"), "{msg}");
    let r = create("👍👍👍".into(), String::new()).await;
    assert_eq!(
        r.status, 201,
        "three emoji are three characters: {}",
        r.text
    );
    // A combining accent is a scalar value of its own.
    let r = create("ab\u{301}".into(), String::new()).await;
    assert_eq!(
        r.status, 201,
        "a, b, combining acute: 3 characters: {}",
        r.text
    );
    for short in ["", "a", "ab", "가나"] {
        let msg = create(short.into(), String::new())
            .await
            .expect_error(400, "invalid_request");
        assert!(msg.contains("name"), "{short:?}: {msg}");
    }
    let r = create("abc".into(), ko(50)).await;
    assert_eq!(
        r.status, 201,
        "a 50-character Korean description: {}",
        r.text
    );
    assert_eq!(r.json()["description"].as_str(), Some(ko(50).as_str()));
    let msg = create("abd".into(), ko(51))
        .await
        .expect_error(400, "invalid_request");
    assert!(msg.contains("description"), "{msg}");

    // Key names: 1 to 50.
    let r = api.issue(&sid, json!({"name": ko(50)})).await;
    assert_eq!(r.status, 201, "a 50-character Korean key name: {}", r.text);
    assert_eq!(r.json()["name"].as_str(), Some(ko(50).as_str()));
    for bad in [String::new(), ko(51), "x".repeat(51)] {
        let msg = api
            .issue(&sid, json!({"name": bad}))
            .await
            .expect_error(400, "invalid_request");
        assert!(msg.contains("name"), "{msg}");
    }
    let r = api.issue(&sid, json!({"name": "x"})).await;
    assert_eq!(r.status, 201, "a one-character key name: {}", r.text);
    assert_eq!(api.service(&sid).await["key_count"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_and_bidi_characters_are_refused_in_every_name() {
    let (_srv, api, sid) = setup().await;
    let bad: Vec<(char, &str)> = vec![
        ('\u{0}', "NUL"),
        ('\u{7}', "BEL"),
        ('\t', "TAB"),
        ('\n', "LF"),
        ('\r', "CR"),
        ('\u{1b}', "ESC"),
        ('\u{7f}', "DEL"),
        ('\u{85}', "NEL (C1)"),
        ('\u{9b}', "CSI (C1)"),
        ('\u{202a}', "LRE"),
        ('\u{202b}', "RLE"),
        ('\u{202c}', "PDF"),
        ('\u{202d}', "LRO"),
        ('\u{202e}', "RLO"),
        ('\u{2066}', "LRI"),
        ('\u{2067}', "RLI"),
        ('\u{2068}', "FSI"),
        ('\u{2069}', "PDI"),
    ];
    for (i, (c, label)) in bad.into_iter().enumerate() {
        let sneaky = format!("ok{c}name");
        let r = api
            .call(Method::POST, "/v1/services", Some(json!({"name": sneaky})))
            .await;
        let msg = r.expect_error(400, "invalid_request");
        assert!(msg.contains("name"), "{label} in a service name: {msg}");
        let r = api
            .call(
                Method::POST,
                "/v1/services",
                Some(json!({"name": format!("fine {i}"), "description": sneaky})),
            )
            .await;
        let msg = r.expect_error(400, "invalid_request");
        assert!(
            msg.contains("description"),
            "{label} in a description: {msg}"
        );
        let msg = api
            .issue(&sid, json!({"name": sneaky}))
            .await
            .expect_error(400, "invalid_request");
        assert!(msg.contains("name"), "{label} in a key name: {msg}");
        // An escape sequence must not come back in the message either.
        assert!(!msg.contains('\u{1b}'), "the message echoes ESC");
    }
    assert_no_keys(&api, &sid).await;
    assert_eq!(
        api.get("/v1/services").await.json()["services"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "a refused create made a service"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_that_do_not_exist_are_404_with_the_right_code() {
    let (_srv, api, sid) = setup().await;
    let other = api.create_service("other").await;
    let (kid, _) = api.issue_ok(&sid).await;
    for ghost in [
        "svc_doesnotexist",
        "nothing",
        "%2E%2E%2E",
        "%00",
        "%E2%80%AE",
        "x%27%20OR%201%3D1",
    ] {
        let r = api.get(&format!("/v1/services/{ghost}")).await;
        assert!(r.text.contains("service_not_found"), "{ghost}: {}", r.text);
        r.expect_error(404, "service_not_found");
        api.get(&format!("/v1/services/{ghost}/api-keys"))
            .await
            .expect_error(404, "service_not_found");
        api.get(&format!("/v1/services/{ghost}/audit"))
            .await
            .expect_error(404, "service_not_found");
        api.issue(ghost, json!({}))
            .await
            .expect_error(404, "service_not_found");
        api.delete_key(ghost, &kid)
            .await
            .expect_error(404, "service_not_found");
        api.call(Method::DELETE, &format!("/v1/services/{ghost}"), None)
            .await
            .expect_error(404, "service_not_found");
    }
    let long = "s".repeat(300);
    api.get(&format!("/v1/services/{long}"))
        .await
        .expect_error(404, "service_not_found");
    for ghost in ["key_doesnotexist", "%00", "k".repeat(300).as_str()] {
        api.delete_key(&sid, ghost)
            .await
            .expect_error(404, "api_key_not_found");
    }
    // A key is found only under its own service.
    api.delete_key(&other, &kid)
        .await
        .expect_error(404, "api_key_not_found");
    assert_eq!(api.delete_key(&sid, &kid).await.status, 204);
    api.delete_key(&sid, &kid)
        .await
        .expect_error(404, "api_key_not_found");
    // And a deleted service is gone for every route.
    assert_eq!(
        api.call(Method::DELETE, &format!("/v1/services/{other}"), None)
            .await
            .status,
        204
    );
    api.get(&format!("/v1/services/{other}"))
        .await
        .expect_error(404, "service_not_found");
    api.issue(&other, json!({}))
        .await
        .expect_error(404, "service_not_found");
    api.get("/v1/no-such-route")
        .await
        .expect_error(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_are_not_utf8_are_invalid_requests() {
    let (_srv, api, sid) = setup().await;
    let keys = format!("/v1/services/{sid}/api-keys");
    for body in [
        b"{\"name\":\"ab\xffcd\"}".to_vec(),
        b"{\"name\":\"\xc3\x28abc\"}".to_vec(),
        b"{\"name\":\"\xed\xa0\x80abc\"}".to_vec(),
        b"\xfe\xff\x00{".to_vec(),
    ] {
        for path in ["/v1/services", keys.as_str()] {
            post_bytes(&api, path, body.clone(), Some("application/json"))
                .await
                .expect_error(400, "invalid_request");
        }
    }
    assert_no_keys(&api, &sid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_idempotency_keys_are_refused() {
    let (_srv, api, sid) = setup().await;
    let path = api.url(&format!("/v1/services/{sid}/api-keys"));
    let send = |value: HeaderValue| {
        let api = api.clone();
        let path = path.clone();
        async move {
            let req = api
                .http
                .post(path)
                .bearer_auth(&api.token)
                .header("content-type", "application/json")
                .header("idempotency-key", value)
                .body("{}");
            read(req.send().await.expect("send")).await
        }
    };
    let bad = [
        ("empty", HeaderValue::from_static("")),
        (
            "256 characters",
            HeaderValue::from_str(&"a".repeat(256)).expect("ascii"),
        ),
        (
            "non-ASCII",
            HeaderValue::from_bytes("열쇠-1".as_bytes()).expect("obs-text"),
        ),
        (
            "Latin-1",
            HeaderValue::from_bytes(b"cl\xe9").expect("obs-text"),
        ),
        ("a space", HeaderValue::from_static("two words")),
        ("a tab", HeaderValue::from_static("tab\there")),
    ];
    for (what, value) in bad {
        let msg = send(value).await.expect_error(400, "invalid_request");
        assert!(
            msg.to_ascii_lowercase().contains("idempotency"),
            "{what}: the message should name Idempotency-Key: {msg}"
        );
    }
    assert_no_keys(&api, &sid).await;
    for good in ["a".repeat(255), "x".into(), "!~#$%&'*+-.^_`|".into()] {
        let r = send(HeaderValue::from_str(&good).expect("ascii")).await;
        assert_eq!(r.status, 201, "{} characters: {}", good.len(), r.text);
    }
    assert_eq!(api.service(&sid).await["key_count"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verify_rejection_is_the_same_401() {
    let (srv, api, sid) = setup().await;
    let (kid, key) = api.issue_ok(&sid).await;
    let (dead_id, dead) = api.issue_ok(&sid).await;
    assert_eq!(api.delete_key(&sid, &dead_id).await.status, 204);
    let last = key.chars().last().unwrap_or('a');
    let wrong_sum = format!(
        "{}{}",
        &key[..key.len() - 1],
        if last == 'a' { 'b' } else { 'a' }
    );
    let stranger = ragkeys::credential::generate(ragkeys::credential::Kind::ApiKey);
    let verify_url = api.url("/v1/verify");
    let mut cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization", None),
        ("empty bearer", Some("Bearer ".into())),
        ("garbage", Some("Bearer hello".into())),
        ("basic auth", Some("Basic dXNlcjpwYXNz".into())),
        ("the key without a scheme", Some(key.clone())),
        ("wrong checksum", Some(format!("Bearer {wrong_sum}"))),
        (
            "truncated",
            Some(format!("Bearer {}", &key[..key.len() - 1])),
        ),
        ("one character more", Some(format!("Bearer {key}0"))),
        (
            "unknown well-formed key",
            Some(format!("Bearer {}", stranger.expose())),
        ),
        ("the admin token", Some(format!("Bearer {}", srv.token))),
        ("a deleted key", Some(format!("Bearer {dead}"))),
    ];
    cases.push(("ragk_ alone", Some("Bearer ragk_".into())));
    let mut first: Option<Value> = None;
    for (what, auth) in cases {
        let mut req = api.http.get(&verify_url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = read(req.send().await.expect("send")).await;
        r.expect_error(401, "invalid_api_key");
        let body = r.json();
        match &first {
            None => first = Some(body),
            Some(f) => assert_eq!(&body, f, "{what}: every rejection must read the same"),
        }
    }
    let ok = api.verify(&key).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(
        ok.json(),
        json!({"valid": true, "service_id": sid, "key_id": kid, "scopes": ["query", "ingest", "manage"]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_verify_failures_from_one_address_are_rate_limited() {
    let srv = Server::start_with(&["--verify-failures-per-minute", "5"]);
    let api = Api::new(&srv);
    for i in 0..5 {
        api.verify(&format!("not-a-key-{i}"))
            .await
            .expect_error(401, "invalid_api_key");
    }
    for attempt in 0..3 {
        let r = api.verify("not-a-key-again").await;
        r.expect_error(429, "rate_limited");
        let retry = r.header("retry-after").unwrap_or_default();
        let secs: u64 = retry
            .parse()
            .unwrap_or_else(|_| panic!("attempt {attempt}: Retry-After is not seconds: {retry:?}"));
        assert!((1..=60).contains(&secs), "Retry-After {secs}");
    }
    // The console's admin calls are not part of that budget.
    let r = api.get("/v1/services").await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Another client address has a budget of its own (127.0.0.2 is loopback too).
    ragkeys::client::install_crypto_provider();
    let neighbour = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let r = common::api::verify(&neighbour, &api.base, "not-a-key-either").await;
    r.expect_error(401, "invalid_api_key");
    let sid = api.create_service("neighbourhood").await;
    let (_, key) = api.issue_ok(&sid).await;
    let r = common::api::verify(&neighbour, &api.base, &key).await;
    assert_eq!(
        r.status, 200,
        "a valid key from another address: {}",
        r.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_has_one_shape_and_a_request_id() {
    let (srv, api, sid) = setup().await;
    let anon = common::http();
    let base = srv.url();
    // No token, a bad token, an API key as admin token.
    let r = read(
        anon.get(format!("{base}/v1/services"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    r.expect_error(401, "unauthorized");
    let r = api.as_token("ragadm_nope").get("/v1/services").await;
    r.expect_error(401, "unauthorized");
    let (_, key) = api.issue_ok(&sid).await;
    api.as_token(&key)
        .get("/v1/services")
        .await
        .expect_error(401, "unauthorized");
    // Routes and methods that do not exist.
    let r = read(anon.get(format!("{base}/nope")).send().await.expect("send")).await;
    r.expect_error(404, "not_found");
    let r = read(
        anon.put(format!("{base}/v1/services"))
            .bearer_auth(&srv.token)
            .send()
            .await
            .expect("send"),
    )
    .await;
    r.expect_error_shape();
    // JSON without saying so, and a body that says it is something else.
    let keys = format!("/v1/services/{sid}/api-keys");
    for ct in [None, Some("text/plain")] {
        let r = post_bytes(&api, &keys, b"{}".to_vec(), ct).await;
        if !r.status.is_success() {
            r.expect_error_shape();
        }
    }
    // A request id sent by the client comes back, on errors and successes alike.
    for path in ["/v1/services", "/v1/services/svc_missing"] {
        let r = read(
            anon.get(format!("{base}{path}"))
                .bearer_auth(&srv.token)
                .header("x-request-id", "trace-me-123")
                .send()
                .await
                .expect("send"),
        )
        .await;
        assert_eq!(r.header("x-request-id"), Some("trace-me-123"), "{path}");
    }
    // Two requests without one get two different ids.
    let a = api.get("/v1/services/svc_missing").await;
    let b = api.get("/v1/services/svc_missing").await;
    assert_ne!(a.header("x-request-id"), b.header("x-request-id"));
    let r = read(
        anon.get(format!("{base}/healthz"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert!(
        r.header("x-request-id").is_some(),
        "healthz has no X-Request-Id"
    );
}
