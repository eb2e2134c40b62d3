//! A key's policy as an admin sets it (docs/api.md, Keys that carry their own policy): issue and
//! PATCH take `scopes`, `rate_limit` and `allowed_cidrs`, check them (400 naming the field),
//! store them canonical and show them on every ApiKey; `api_key.update` lists its `changes`; a
//! rotation's successor inherits; a narrowing holds from the very next verify.

use reqwest::Method;
use serde_json::{Value, json};

use super::backend::Server;
use crate::common::api::{Api, Reply};

fn key_path(sid: &str, kid: &str) -> String {
    format!("/v1/services/{sid}/api-keys/{kid}")
}

async fn patch(api: &Api, sid: &str, kid: &str, body: Value) -> Reply {
    api.call(Method::PATCH, &key_path(sid, kid), Some(body))
        .await
}

/// `GET /v1/verify?scope=…` with `key`.
async fn verify_scope(api: &Api, key: &str, scope: &str) -> u16 {
    let r = api
        .http
        .get(api.url(&format!("/v1/verify?scope={scope}")))
        .bearer_auth(key)
        .send()
        .await
        .expect("verify answers");
    r.status().as_u16()
}

/// The three policy fields of an ApiKey as JSON.
fn policy_of(k: &Value) -> Value {
    json!({
        "scopes": k["scopes"],
        "rate_limit": k["rate_limit"],
        "allowed_cidrs": k["allowed_cidrs"],
    })
}

/// The newest events of the service's trail, newest first.
async fn events(api: &Api, sid: &str) -> Vec<Value> {
    let r = api.get(&format!("/v1/services/{sid}/audit")).await;
    r.expect(200)["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_policy_is_issued_canonical_and_shown_on_every_api_key() {
    let server = Server::start();
    let api = Api::new(&server);
    let sid = api.create_service("policy-issue").await;
    let issued = api
        .issue(
            &sid,
            json!({
                "name": "chat",
                "scopes": ["ingest", "query"],
                "rate_limit": {"requests": 100, "per_seconds": 60},
                "allowed_cidrs": ["10.0.4.17", "2001:DB8:0:0::/32", "::ffff:10.1.0.0/112"],
            }),
        )
        .await
        .expect(201);
    let want = json!({
        "scopes": ["query", "ingest"],
        "rate_limit": {"requests": 100, "per_seconds": 60},
        "allowed_cidrs": ["10.0.4.17/32", "2001:db8::/32", "10.1.0.0/16"],
    });
    assert_eq!(policy_of(&issued), want);
    let kid = issued["id"].as_str().unwrap();
    let key = issued["key"].as_str().unwrap();
    // The list, the whois answer and a PATCH answer show the same.
    let list = api.list(&sid).await;
    assert_eq!(policy_of(&list["api_keys"][0]), want);
    let whois = api
        .call(Method::POST, "/v1/whois", Some(json!({"key": key})))
        .await
        .expect(200);
    assert_eq!(policy_of(&whois["api_key"]), want);
    let renamed = patch(&api, &sid, kid, json!({"name": "chat2"})).await;
    assert_eq!(policy_of(&renamed.expect(200)), want);
    // Without a policy: every scope, no limit, from anywhere.
    let plain = api.issue(&sid, json!({})).await.expect(201);
    assert_eq!(
        policy_of(&plain),
        json!({"scopes": ["query", "ingest", "manage"], "rate_limit": null, "allowed_cidrs": null})
    );
    let nulls = api
        .issue(&sid, json!({"rate_limit": null, "allowed_cidrs": null}))
        .await
        .expect(201);
    assert_eq!(policy_of(&nulls), policy_of(&plain));
}

/// Bodies every issue and PATCH refuses with 400 `invalid_request`, and a word the message
/// must hold (the field it names).
fn refused_policies() -> Vec<(Value, &'static str)> {
    let many: Vec<String> = (0..17).map(|i| format!("10.0.{i}.0/24")).collect();
    vec![
        (json!({"scopes": []}), "scopes"),
        (json!({"scopes": ["query", "admin"]}), "scopes"),
        (json!({"scopes": ["query", "query"]}), "scopes"),
        (json!({"scopes": "query"}), "scopes"),
        (json!({"allowed_cidrs": ["10.0.4.17/24"]}), "10.0.4.0/24"),
        (
            json!({"allowed_cidrs": ["not-an-address"]}),
            "allowed_cidrs",
        ),
        (json!({"allowed_cidrs": ["10.0.0.0/33"]}), "allowed_cidrs"),
        (json!({"allowed_cidrs": []}), "allowed_cidrs"),
        (json!({"allowed_cidrs": many}), "allowed_cidrs"),
        (
            json!({"rate_limit": {"requests": 0, "per_seconds": 1}}),
            "rate_limit",
        ),
        (
            json!({"rate_limit": {"requests": 1_000_001, "per_seconds": 1}}),
            "rate_limit",
        ),
        (
            json!({"rate_limit": {"requests": 5, "per_seconds": 2}}),
            "rate_limit",
        ),
        (json!({"rate_limit": {"requests": 5}}), "rate_limit"),
    ]
}

#[tokio::test]
async fn bad_policies_are_refused_naming_the_field_and_change_nothing() {
    let server = Server::start();
    let api = Api::new(&server);
    let sid = api.create_service("policy-bad").await;
    let (kid, _) = api.issue_ok(&sid).await;
    for (body, word) in refused_policies() {
        let msg = api
            .issue(&sid, body.clone())
            .await
            .expect_error(400, "invalid_request");
        assert!(msg.contains(word), "issue {body}: {msg}");
        let msg = patch(&api, &sid, &kid, body.clone())
            .await
            .expect_error(400, "invalid_request");
        assert!(msg.contains(word), "PATCH {body}: {msg}");
    }
    // `scopes: null` clears nothing: a key always does something.
    let msg = patch(&api, &sid, &kid, json!({"scopes": null}))
        .await
        .expect_error(400, "invalid_request");
    assert!(msg.contains("scopes"), "{msg}");
    // Only the one key of before, untouched.
    let list = api.list(&sid).await;
    assert_eq!(list["api_keys"].as_array().unwrap().len(), 1);
    assert_eq!(
        list["api_keys"][0]["scopes"],
        json!(["query", "ingest", "manage"])
    );
    // The limits themselves are accepted.
    let edge = json!({
        "scopes": ["manage"],
        "rate_limit": {"requests": 1_000_000, "per_seconds": 3600},
        "allowed_cidrs": (0..16).map(|i| format!("10.0.{i}.0/24")).collect::<Vec<_>>(),
    });
    let k = patch(&api, &sid, &kid, edge.clone()).await.expect(200);
    assert_eq!(policy_of(&k), edge);
}

#[tokio::test]
async fn a_patch_of_the_policy_is_audited_with_its_changes_and_a_repeat_is_no_change() {
    let server = Server::start();
    let api = Api::new(&server);
    let sid = api.create_service("policy-patch").await;
    let (kid, _) = api.issue_ok(&sid).await;
    let body = json!({
        "scopes": ["query"],
        "rate_limit": {"requests": 5, "per_seconds": 1},
        "allowed_cidrs": ["10.0.0.0/8"],
    });
    let k = patch(&api, &sid, &kid, body.clone()).await.expect(200);
    assert_eq!(policy_of(&k), body);
    let newest = &events(&api, &sid).await[0];
    assert_eq!(newest["action"], "api_key.update");
    assert_eq!(
        newest["changes"],
        json!({
            "scopes": {"from": ["query", "ingest", "manage"], "to": ["query"]},
            "rate_limit": {"from": null, "to": {"requests": 5, "per_seconds": 1}},
            "allowed_cidrs": {"from": null, "to": ["10.0.0.0/8"]},
        })
    );
    let count = events(&api, &sid).await.len();
    // The same PATCH again: 200, no event.
    patch(&api, &sid, &kid, body).await.expect(200);
    assert_eq!(events(&api, &sid).await.len(), count);
    // Clearing two fields lists them with `null` as the new value; a name change rides along.
    patch(
        &api,
        &sid,
        &kid,
        json!({"rate_limit": null, "allowed_cidrs": null, "name": "ci"}),
    )
    .await
    .expect(200);
    let all = events(&api, &sid).await;
    assert_eq!(
        all[0]["changes"],
        json!({
            "name": {"from": null, "to": "ci"},
            "rate_limit": {"from": {"requests": 5, "per_seconds": 1}, "to": null},
            "allowed_cidrs": {"from": ["10.0.0.0/8"], "to": null},
        })
    );
    // Other events carry no `changes`, here and in the whole trail.
    patch(&api, &sid, &kid, json!({"enabled": false}))
        .await
        .expect(200);
    let all = events(&api, &sid).await;
    assert_eq!(all[0]["action"], "api_key.disable");
    for e in &all {
        let has = e.get("changes").is_some();
        assert_eq!(has, e["action"] == "api_key.update", "{e}");
    }
    let trail = api.get("/v1/audit?limit=500").await.expect(200);
    let updates = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.get("changes").is_some())
        .count();
    assert_eq!(updates, 2);
}

#[tokio::test]
async fn a_successor_inherits_the_policy_and_an_idempotent_retry_must_ask_the_same() {
    let server = Server::start();
    let api = Api::new(&server);
    let sid = api.create_service("policy-rotate").await;
    let body = json!({"scopes": ["query"], "allowed_cidrs": ["10.0.4.0/24"]});
    let first = api
        .issue_idem(&sid, body.clone(), "once-1")
        .await
        .expect(201);
    // The same request spelled otherwise is the same request; another policy is another.
    let same = api
        .issue_idem(
            &sid,
            json!({"allowed_cidrs": ["10.0.4.0/24"], "scopes": ["query"]}),
            "once-1",
        )
        .await;
    assert_eq!(same.header("idempotent-replayed"), Some("true"));
    assert_eq!(same.expect(201)["id"], first["id"]);
    for other in [
        json!({"scopes": ["query", "ingest"], "allowed_cidrs": ["10.0.4.0/24"]}),
        json!({"scopes": ["query"]}),
        json!({"scopes": ["query"], "allowed_cidrs": ["10.0.4.0/24"], "rate_limit": {"requests": 1, "per_seconds": 1}}),
    ] {
        api.issue_idem(&sid, other, "once-1")
            .await
            .expect_error(422, "idempotency_key_reused");
    }
    let kid = first["id"].as_str().unwrap();
    let successor = api
        .call(
            Method::POST,
            &format!("{}/rotate", key_path(&sid, kid)),
            Some(json!({"grace_seconds": 60})),
        )
        .await
        .expect(201);
    assert_eq!(policy_of(&successor), policy_of(&first));
    let listed = api.list(&sid).await;
    for k in listed["api_keys"].as_array().unwrap() {
        assert_eq!(policy_of(k), policy_of(&first), "{k}");
    }
}

#[tokio::test]
async fn a_narrowing_holds_from_the_next_verify_and_a_widening_too() {
    let server = Server::start();
    let api = Api::new(&server);
    let sid = api.create_service("policy-narrow").await;
    let (kid, key) = api.issue_ok(&sid).await;
    assert_eq!(verify_scope(&api, &key, "ingest").await, 200);
    for _ in 0..20 {
        patch(&api, &sid, &kid, json!({"scopes": ["query"]}))
            .await
            .expect(200);
        assert_eq!(verify_scope(&api, &key, "ingest").await, 403);
        assert_eq!(verify_scope(&api, &key, "query").await, 200);
        patch(&api, &sid, &kid, json!({"scopes": ["query", "ingest"]}))
            .await
            .expect(200);
        assert_eq!(verify_scope(&api, &key, "ingest").await, 200);
    }
    // An allowlist that leaves out the test's own address holds at once as well.
    patch(&api, &sid, &kid, json!({"allowed_cidrs": ["192.0.2.0/24"]}))
        .await
        .expect(200);
    assert_eq!(verify_scope(&api, &key, "query").await, 403);
    patch(&api, &sid, &kid, json!({"allowed_cidrs": null}))
        .await
        .expect(200);
    assert_eq!(verify_scope(&api, &key, "query").await, 200);
}
