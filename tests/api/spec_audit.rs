//! docs/api.md read line by line against a running `ragkeys serve`, for what the other suites leave
//! open: the status of a known path with a method it does not take, and `/openapi.json` describing
//! what the service really answers (every field it sends, every limit it enforces, every status
//! every route can give).

use std::collections::BTreeSet;

use crate::common::Server;
use crate::common::api::{Api, Reply, read, viewer_get_paths};
use reqwest::Method;
use serde_json::{Value, json};

/// A known path with a method it does not take is 404 `not_found` in the one error shape (docs/api.md's
/// table has no 405 row and no other code for it), with an `Allow` header naming what it does
/// take; an unknown path is 404 `not_found` without one.
#[tokio::test]
async fn a_known_path_with_another_method_is_not_found_with_allow() {
    let srv = Server::start();
    let api = Api::new(&srv);
    for (m, path, allow) in [
        (Method::POST, "/v1/verify", "GET,HEAD"),
        (Method::PUT, "/v1/services", "GET,HEAD,POST"),
        (Method::OPTIONS, "/v1/services", "GET,HEAD,POST"),
        (Method::PATCH, "/v1/services/svc_x", "GET,HEAD,DELETE"),
        (Method::DELETE, "/healthz", "GET,HEAD"),
        (
            Method::GET,
            "/v1/services/svc_x/api-keys/key_y",
            "DELETE,PATCH",
        ),
        (Method::GET, "/v1/whois", "POST"),
        (Method::GET, "/v1/leaks", "POST"),
        (Method::PUT, "/v1/leaks", "POST"),
    ] {
        let r = api.call(m.clone(), path, None).await;
        r.expect_error(404, "not_found");
        let got: BTreeSet<&str> = r.header("allow").unwrap_or_default().split(',').collect();
        let want: BTreeSet<&str> = allow.split(',').collect();
        assert_eq!(got, want, "{m} {path}: Allow");
    }
    let r = api.get("/v1/nope").await;
    r.expect_error(404, "not_found");
    assert_eq!(r.header("allow"), None, "an unknown path allows nothing");
    api.get("/v1/services/")
        .await
        .expect_error(404, "not_found");
    // The document lists the code with the others.
    let doc = openapi(&api).await;
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap();
    for code in ["not_found", "invalid_request", "unavailable"] {
        assert!(codes.iter().any(|c| c == code), "{code} not in {codes:?}");
    }
}

/// The document, fetched without a token.
async fn openapi(api: &Api) -> Value {
    let r = read(api.http.get(api.url("/openapi.json")).send().await.unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

/// Follows a `$ref` to its component.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap();
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// The parts of a schema that describe one object together: `allOf`, and the branches of a
/// `oneOf` (a nullable object is `oneOf: [null, {…}]`).
fn parts(s: &Value) -> impl Iterator<Item = &Value> {
    let all = s["allOf"].as_array().into_iter().flatten();
    all.chain(s["oneOf"].as_array().into_iter().flatten())
}

/// Every `properties` and `required` of a schema, `allOf` and `oneOf` parts merged.
fn object_parts(doc: &Value, schema: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let s = resolve(doc, schema);
    let mut props = BTreeSet::new();
    let mut required = BTreeSet::new();
    {
        for part in parts(s) {
            let (p, r) = object_parts(doc, part);
            props.extend(p);
            required.extend(r);
        }
    }
    if let Some(p) = s["properties"].as_object() {
        props.extend(p.keys().cloned());
    }
    if let Some(r) = s["required"].as_array() {
        required.extend(r.iter().map(|v| v.as_str().unwrap().to_string()));
    }
    (props, required)
}

/// The schema of one property, `allOf` and `oneOf` parts searched; a map's values
/// (`additionalProperties`) for any name.
fn property<'a>(doc: &'a Value, schema: &'a Value, name: &str) -> Option<&'a Value> {
    let s = resolve(doc, schema);
    if let Some(p) = s["properties"].get(name) {
        return Some(p);
    }
    if s["additionalProperties"].is_object() {
        return Some(&s["additionalProperties"]);
    }
    parts(s).find_map(|part| property(doc, part, name))
}

/// Members docs/api.md gives only on some answers (`changes` on `api_key.update` alone): sent
/// without being `required`.
const SOMETIMES: [&str; 1] = ["changes"];

/// Whether a schema admits `null` (OpenAPI 3.1: `type` lists `"null"`; or a `oneOf` with it).
/// Whether a schema admits any JSON value (`{}`, what an audit change's `from` and `to` are: the
/// value of whichever field changed).
fn any_value(s: &Value) -> bool {
    s.as_object().is_some_and(|o| {
        !o.keys().any(|k| {
            [
                "type",
                "$ref",
                "properties",
                "allOf",
                "oneOf",
                "anyOf",
                "items",
                "additionalProperties",
            ]
            .contains(&k.as_str())
        })
    })
}

fn nullable(doc: &Value, schema: &Value) -> bool {
    let s = resolve(doc, schema);
    if any_value(s) {
        return true;
    }
    match &s["type"] {
        Value::Array(types) => types.iter().any(|t| t == "null"),
        Value::String(t) if t == "null" => true,
        _ => s["oneOf"]
            .as_array()
            .is_some_and(|v| v.iter().any(|o| nullable(doc, o))),
    }
}

/// Checks one real answer against its documented schema: every member the service sent is a
/// documented property, is `required` (docs/api.md gives every field as always present, null or not),
/// and is nullable when it came as null; nested objects and arrays likewise.
fn conforms(doc: &Value, schema: &Value, v: &Value, at: &str, faults: &mut Vec<String>) {
    let s = resolve(doc, schema);
    // `T or null` (a `oneOf` with null): a value that came is checked as its `T`.
    let s = match s["oneOf"].as_array() {
        Some(one_of) if !v.is_null() => one_of
            .iter()
            .find(|o| o["type"] != "null")
            .map_or(s, |o| resolve(doc, o)),
        _ => s,
    };
    if any_value(s) {
        return;
    }
    match v {
        // A map (`scopes_used`): any member, each as `additionalProperties` says.
        Value::Object(members) if s["additionalProperties"].is_object() => {
            for (k, mv) in members {
                conforms(
                    doc,
                    &s["additionalProperties"],
                    mv,
                    &format!("{at}.{k}"),
                    faults,
                );
            }
        }
        Value::Object(members) => {
            let (props, required) = object_parts(doc, s);
            for (k, mv) in members {
                let here = format!("{at}.{k}");
                let Some(ps) = property(doc, s, k) else {
                    faults.push(format!("{here}: not a documented property"));
                    continue;
                };
                // A map's keys are its data, never `required`.
                if props.contains(k) && !required.contains(k) && !SOMETIMES.contains(&k.as_str()) {
                    faults.push(format!("{here}: always sent but not `required`"));
                }
                if mv.is_null() && !nullable(doc, ps) {
                    faults.push(format!("{here}: sent null but not nullable"));
                }
                conforms(doc, ps, mv, &here, faults);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                conforms(doc, &s["items"], item, &format!("{at}[{i}]"), faults);
            }
        }
        _ => {}
    }
}

/// The documented schema of one operation's answer with this status.
fn response_schema<'a>(doc: &'a Value, method: &str, path: &str, status: u16) -> &'a Value {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} undocumented");
    let resp = &op["responses"][status.to_string()];
    assert!(resp.is_object(), "{method} {path}: {status} undocumented");
    &resp["content"]["application/json"]["schema"]
}

/// Every success answer the service sends, checked member by member against `/openapi.json`.
#[tokio::test]
async fn openapi_describes_every_member_of_every_answer() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let doc = openapi(&api).await;
    let sid = api.create_service("spec-audit").await;
    let soon = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let issued = api
        .issue(
            &sid,
            json!({
                "name": "first",
                "expires_at": soon,
                "scopes": ["query", "ingest"],
                "rate_limit": {"requests": 100, "per_seconds": 60},
                "allowed_cidrs": ["127.0.0.0/8", "::1"],
            }),
        )
        .await;
    assert_eq!(issued.status, 201, "{}", issued.text);
    let (kid, key) = api.issue_ok(&sid).await;
    assert_eq!(api.verify(&key).await.status, 200);
    let rotated = api
        .call(
            Method::POST,
            &format!("/v1/services/{sid}/api-keys/{kid}/rotate"),
            Some(json!({"grace_seconds": 600})),
        )
        .await;
    assert_eq!(rotated.status, 201, "{}", rotated.text);
    let svc_path = "/v1/services/{service_id}";
    let keys_path = "/v1/services/{service_id}/api-keys";
    let key_path = "/v1/services/{service_id}/api-keys/{key_id}";
    let mut answers: Vec<(&str, &str, Reply)> = vec![
        ("post", keys_path, issued),
        (
            "post",
            "/v1/services/{service_id}/api-keys/{key_id}/rotate",
            rotated,
        ),
        ("get", "/healthz", api.get("/healthz").await),
        ("get", "/readyz", api.get("/readyz").await),
        ("get", "/readyz/verify", api.get("/readyz/verify").await),
        ("get", "/v1/me", api.get("/v1/me").await),
        ("get", "/v1/services", api.get("/v1/services").await),
        (
            "get",
            svc_path,
            api.get(&format!("/v1/services/{sid}")).await,
        ),
        (
            "get",
            keys_path,
            api.get(&format!("/v1/services/{sid}/api-keys")).await,
        ),
        (
            "patch",
            key_path,
            api.call(
                Method::PATCH,
                &format!("/v1/services/{sid}/api-keys/{kid}"),
                // Every field `changes` can list, so that the trail below shows them all.
                Some(json!({
                    "name": "renamed",
                    "scopes": ["query"],
                    "rate_limit": {"requests": 5, "per_seconds": 1},
                    "allowed_cidrs": ["127.0.0.1"],
                })),
            )
            .await,
        ),
        (
            "get",
            "/v1/services/{service_id}/api-keys/{key_id}/usage",
            api.get(&format!("/v1/services/{sid}/api-keys/{kid}/usage"))
                .await,
        ),
        (
            "get",
            "/v1/services/{service_id}/api-keys/{key_id}/narrowing",
            api.get(&format!("/v1/services/{sid}/api-keys/{kid}/narrowing"))
                .await,
        ),
        (
            "get",
            "/v1/services/{service_id}/api-keys/{key_id}/narrowing",
            api.get(&format!(
                "/v1/services/{sid}/api-keys/{kid}/narrowing?allowed_cidrs=10.0.0.0/8"
            ))
            .await,
        ),
        (
            "post",
            "/v1/whois",
            api.call(Method::POST, "/v1/whois", Some(json!({"key": key})))
                .await,
        ),
        ("get", "/v1/verify", api.verify(&key).await),
        ("get", "/v1/audit", api.get("/v1/audit?limit=3").await),
        (
            "get",
            "/v1/services/{service_id}/audit",
            api.get(&format!("/v1/services/{sid}/audit")).await,
        ),
        (
            "post",
            "/v1/services",
            api.call(
                Method::POST,
                "/v1/services",
                Some(json!({"name": "spec-audit-2", "description": "second"})),
            )
            .await,
        ),
    ];
    answers.push((
        "post",
        keys_path,
        api.call(
            Method::POST,
            &format!("/v1/services/{sid}/api-keys"),
            Some(json!({"nope": 1})),
        )
        .await,
    ));
    // Last: it stops the key the answers above used.
    for body in [
        json!({"key": key, "url": "https://tickets.example/1"}),
        json!({"key": crate::common::api::unknown_api_key()}),
    ] {
        answers.push((
            "post",
            "/v1/leaks",
            api.call(Method::POST, "/v1/leaks", Some(body)).await,
        ));
    }
    let mut faults = Vec::new();
    for (method, path, r) in &answers {
        let status = r.status.as_u16();
        let schema = response_schema(&doc, method, path, status);
        assert!(
            !schema.is_null(),
            "{method} {path} {status}: no JSON schema"
        );
        conforms(
            &doc,
            schema,
            &r.json(),
            &format!("{method} {path} {status}"),
            &mut faults,
        );
    }
    assert!(
        faults.is_empty(),
        "/openapi.json disagrees with the answers:\n{}",
        faults.join("\n")
    );
}

/// A named schema's property as the document gives it.
fn prop<'a>(doc: &'a Value, schema: &str, name: &str) -> &'a Value {
    let s = &doc["components"]["schemas"][schema];
    property(doc, s, name).unwrap_or_else(|| panic!("{schema}.{name} undocumented"))
}

/// The limits docs/api.md sets and the service enforces are in the document as schema constraints,
/// each checked here against the service itself (one past the limit refused, the limit taken).
#[tokio::test]
async fn openapi_states_the_limits_the_service_enforces() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let doc = openapi(&api).await;

    let name = prop(&doc, "CreateService", "name");
    assert_eq!(
        (name["minLength"].as_u64(), name["maxLength"].as_u64()),
        (Some(3), Some(20)),
        "{name}"
    );
    let desc = prop(&doc, "CreateService", "description");
    assert_eq!(desc["maxLength"].as_u64(), Some(50), "{desc}");
    for schema in ["IssueApiKey", "UpdateApiKey"] {
        let n = prop(&doc, schema, "name");
        assert_eq!(
            (n["minLength"].as_u64(), n["maxLength"].as_u64()),
            (Some(1), Some(50)),
            "{schema}: {n}"
        );
    }
    let requests = prop(&doc, "RateLimit", "requests");
    assert_eq!(
        (requests["minimum"].as_u64(), requests["maximum"].as_u64()),
        (Some(1), Some(1_000_000)),
        "{requests}"
    );
    for schema in ["IssueApiKey", "UpdateApiKey"] {
        let cidrs = prop(&doc, schema, "allowed_cidrs");
        assert_eq!(
            (cidrs["minItems"].as_u64(), cidrs["maxItems"].as_u64()),
            (Some(1), Some(16)),
            "{schema}: {cidrs}"
        );
        let scopes = prop(&doc, schema, "scopes");
        assert_eq!(scopes["minItems"].as_u64(), Some(1), "{schema}: {scopes}");
    }
    let grace = prop(&doc, "RotateApiKey", "grace_seconds");
    assert_eq!(
        (grace["minimum"].as_u64(), grace["maximum"].as_u64()),
        (Some(0), Some(604_800)),
        "{grace}"
    );

    let params = doc["paths"]["/v1/audit"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let limit = params
        .iter()
        .find(|p| p["name"] == "limit")
        .expect("limit documented");
    let s = &limit["schema"];
    assert_eq!(
        (
            s["minimum"].as_u64(),
            s["maximum"].as_u64(),
            s["default"].as_u64()
        ),
        (Some(1), Some(500), Some(100)),
        "{limit}"
    );
    for (path, method) in [
        ("/v1/services/{service_id}/api-keys", "post"),
        ("/v1/services/{service_id}/api-keys/{key_id}/rotate", "post"),
    ] {
        let params = doc["paths"][path][method]["parameters"].as_array().unwrap();
        let idem = params
            .iter()
            .find(|p| p["name"] == "Idempotency-Key")
            .expect("documented");
        let s = &idem["schema"];
        assert_eq!(s["type"], "string", "{path}: {idem}");
        assert_eq!(
            (s["minLength"].as_u64(), s["maxLength"].as_u64()),
            (Some(1), Some(255)),
            "{path}: {idem}"
        );
    }

    // The same limits, as the service applies them.
    let big = "x".repeat(21);
    let r = api
        .call(Method::POST, "/v1/services", Some(json!({"name": big})))
        .await;
    r.expect_error(400, "invalid_request");
    let sid = api.create_service(&"y".repeat(20)).await;
    let r = api.get("/v1/audit?limit=501").await;
    r.expect_error(400, "invalid_request");
    let r = api.get("/v1/audit?limit=500").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api.issue_idem(&sid, json!({}), &"i".repeat(256)).await;
    r.expect_error(400, "invalid_request");
    let cidrs: Vec<String> = (0..17).map(|i| format!("10.0.{i}.0/24")).collect();
    let r = api.issue(&sid, json!({"allowed_cidrs": cidrs})).await;
    r.expect_error(400, "invalid_request");
    let r = api
        .issue(&sid, json!({"allowed_cidrs": &cidrs[..16]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    for requests in [0, 1_000_001] {
        let rate = json!({"rate_limit": {"requests": requests, "per_seconds": 1}});
        api.issue(&sid, rate)
            .await
            .expect_error(400, "invalid_request");
    }
}

/// Every status a route can give is documented on it: 400 on every route (a repeated
/// `Authorization` is refused everywhere, docs/api.md Conventions), 408 on every route that takes a
/// body, 503 with `Retry-After` on every route that reads the store.
#[tokio::test]
async fn openapi_lists_every_status_each_route_can_answer() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let doc = openapi(&api).await;
    let sid = api.create_service("statuses").await;
    let (kid, _) = api.issue_ok(&sid).await;
    let mut faults = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let real = path.replace("{service_id}", &sid).replace("{key_id}", &kid);
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let head = m == Method::HEAD;
            // Observed, not assumed: the repeated header is refused on this very route.
            let r = read(
                api.http
                    .request(m, api.url(&real))
                    .header("authorization", format!("Bearer {}", api.token))
                    .header("authorization", format!("Bearer {}", api.token))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            if head {
                // No body to read: the code comes in the head (docs/api.md, Errors).
                assert_eq!(r.status, 400, "{method} {path}");
                assert_eq!(r.header("ragkeys-refusal"), Some("invalid_request"));
            } else {
                r.expect_error(400, "invalid_request");
            }
            let responses = &op["responses"];
            let mut want = vec!["400", "413", "500"];
            if op.get("requestBody").is_some() {
                want.push("408");
            }
            if !matches!(path.as_str(), "/healthz" | "/openapi.json") {
                want.push("503");
            }
            for status in want {
                if !responses[status].is_object() {
                    faults.push(format!("{method} {path}: {status} undocumented"));
                }
            }
            for status in ["429", "503"] {
                let resp = &responses[status];
                if resp.is_object() && !resp["headers"]["Retry-After"].is_object() {
                    faults.push(format!("{method} {path}: {status} without Retry-After"));
                }
            }
        }
    }
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}

/// A required name made of spaces only names nothing: refused as the too-short one is, with the
/// field named, on every route that takes a name, and nothing is created or changed. A
/// description may still be blank (it is optional), and inner spaces stay allowed.
#[tokio::test]
async fn blank_names_are_refused_on_every_route_that_takes_one() {
    let srv = Server::start();
    let api = Api::new(&srv);
    for blank in ["   ", "\u{3000}\u{3000}\u{3000}", " \t "] {
        let r = api
            .call(Method::POST, "/v1/services", Some(json!({"name": blank})))
            .await;
        let msg = r.expect_error(400, "invalid_request");
        assert!(msg.contains("name"), "{msg}");
    }
    let services = api.get("/v1/services").await.json();
    assert_eq!(
        services["services"].as_array().unwrap().len(),
        0,
        "{services}"
    );

    let sid = api.create_service("a b").await;
    let r = api
        .call(
            Method::POST,
            "/v1/services",
            Some(json!({"name": "blank-desc", "description": "   "})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = api.issue(&sid, json!({"name": " "})).await;
    let msg = r.expect_error(400, "invalid_request");
    assert!(msg.contains("name"), "{msg}");
    assert!(api.list_ids(&sid).await.is_empty());
    let (kid, _) = api.issue_ok(&sid).await;
    let r = api
        .call(
            Method::PATCH,
            &format!("/v1/services/{sid}/api-keys/{kid}"),
            Some(json!({"name": "  "})),
        )
        .await;
    r.expect_error(400, "invalid_request");
    assert_eq!(api.list(&sid).await["api_keys"][0]["name"], Value::Null);
}

/// An admin GET that reads no query parameter refuses one, naming it, as `/v1/audit` refuses one
/// it does not know: a script asking `…/audit?limit=5` or `/v1/services?name=x` must not take the
/// whole answer for a filtered one. `/v1/audit` keeps its parameters; the probes stay lenient.
#[tokio::test]
async fn admin_gets_refuse_query_parameters_they_do_not_read() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let sid = api.create_service("query-params").await;
    let (kid, _) = api.issue_ok(&sid).await;
    api.issue_ok(&sid).await;
    for path in viewer_get_paths(&sid, &kid) {
        let r = api.get(&format!("{path}?limit=1")).await;
        let msg = r.expect_error(400, "invalid_request");
        assert!(msg.contains("\"limit\""), "{path}: {msg}");
        let r = api.get(&format!("{path}?")).await;
        assert_eq!(r.status, 200, "{path}?: {}", r.text);
    }
    let r = api
        .get(&format!("/v1/audit?service_id={sid}&limit=1"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["events"].as_array().unwrap().len(), 1);
    for probe in [
        "/healthz?x=1",
        "/readyz?x=1",
        "/readyz/verify?x=1",
        "/openapi.json?x=1",
    ] {
        assert_eq!(api.get(probe).await.status, 200, "{probe}");
    }
}
