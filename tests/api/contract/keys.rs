//! API keys: issue, list, delete, the cap, verification, `last_used_at`, and the audit trail.

use std::time::{Duration, Instant};

use serde_json::json;

use super::backend::Server;
use crate::common::api::{Api, ISSUED_KEY_MEMBERS, bad_checksum, unknown_api_key};

#[tokio::test]
async fn issue_list_verify_delete() {
    let server = Server::start();
    let api = Api::new(&server);
    let t = Some(server.token.as_str());
    let svc = api.create_service_as(&server.token, "keys-svc").await;
    let path = format!("/v1/services/{svc}/api-keys");

    let first = api.post(&path, t, &json!({"name": "indexer"})).await;
    assert_eq!(first.header("cache-control"), Some("no-store"));
    let first = first.expect(201).clone();
    let key = first["key"].as_str().unwrap();
    assert!(key.starts_with("ragk_") && key.len() == 41, "{key}");
    assert!(first["id"].as_str().unwrap().starts_with("key_"));
    assert_eq!(
        first["masked"],
        format!("{}********{}", &key[..9], &key[37..])
    );
    assert_eq!(first["name"], "indexer");
    assert_eq!(first["last_used_at"], serde_json::Value::Null);
    let mut fields: Vec<_> = first.as_object().unwrap().keys().cloned().collect();
    fields.sort();
    assert_eq!(fields, ISSUED_KEY_MEMBERS);

    let mut ids = vec![first["id"].as_str().unwrap().to_string()];
    for _ in 0..4 {
        ids.push(
            api.issue_as(&server.token, &svc).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let sixth = api.post(&path, t, &json!({})).await;
    let msg = sixth.expect_error(409, "api_key_limit_exceeded");
    assert_eq!(
        msg,
        "You can issue up to 5 API Keys. Delete an existing API Key and try again."
    );

    let list = api.get_as(&path, t).await;
    let list = list.expect(200);
    assert_eq!(list["key_limit"], 5);
    let listed: Vec<_> = list["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_string())
        .collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first, "newest first");
    let text = serde_json::to_string(&list).unwrap();
    assert!(!text.contains(key), "a list never holds a key");
    assert!(list["api_keys"][0].get("key").is_none());
    assert_eq!(
        api.get_as(&format!("/v1/services/{svc}"), t)
            .await
            .expect(200)["key_count"],
        5
    );

    let ok = api.verify(key).await;
    assert_eq!(
        ok.expect(200),
        json!({"valid": true, "service_id": svc, "key_id": ids[0], "scopes": ["query", "ingest", "manage"]})
    );

    // Deletion is immediate: the very next verify fails; a second delete is 404.
    let del = api.delete(&format!("{path}/{}", ids[0]), t).await;
    assert_eq!(del.status, 204, "{}", del.text);
    assert!(del.text.is_empty());
    api.verify(key).await.expect_error(401, "invalid_api_key");
    api.delete(&format!("{path}/{}", ids[0]), t)
        .await
        .expect_error(404, "api_key_not_found");
    api.delete(&format!("/v1/services/svc_nope/api-keys/{}", ids[1]), t)
        .await
        .expect_error(404, "service_not_found");
    // A key id of another service is not found under this one.
    let other = api.create_service_as(&server.token, "other-svc").await;
    api.delete(&format!("/v1/services/{other}/api-keys/{}", ids[1]), t)
        .await
        .expect_error(404, "api_key_not_found");
    // The freed slot can be used again.
    api.issue_as(&server.token, &svc).await;

    api.post("/v1/services/svc_nope/api-keys", t, &json!({}))
        .await
        .expect_error(404, "service_not_found");
    api.get_as("/v1/services/svc_nope/api-keys", t)
        .await
        .expect_error(404, "service_not_found");
    for bad in [
        json!({"name": ""}),
        json!({"name": "n".repeat(51)}),
        json!({"name": "a\u{7}"}),
        json!({"nam": "x"}),
    ] {
        api.post(&format!("/v1/services/{other}/api-keys"), t, &bad)
            .await
            .expect_error(400, "invalid_request");
    }
    let named = api
        .post(
            &format!("/v1/services/{other}/api-keys"),
            t,
            &json!({"name": "키".repeat(50)}),
        )
        .await;
    named.expect(201);
}

#[tokio::test]
async fn the_key_limit_is_the_operators() {
    let server = Server::start_with(&["--key-limit", "2"]);
    let api = Api::new(&server);
    let svc = api.create_service_as(&server.token, "two-keys").await;
    let s = api
        .get_as(&format!("/v1/services/{svc}"), Some(&server.token))
        .await;
    assert_eq!(s.expect(200)["key_limit"], 2);
    api.issue_as(&server.token, &svc).await;
    api.issue_as(&server.token, &svc).await;
    let r = api
        .post(
            &format!("/v1/services/{svc}/api-keys"),
            Some(&server.token),
            &json!({}),
        )
        .await;
    let msg = r.expect_error(409, "api_key_limit_exceeded");
    assert!(msg.contains("up to 2"), "{msg}");
    let list = api
        .get_as(&format!("/v1/services/{svc}/api-keys"), Some(&server.token))
        .await;
    assert_eq!(list.expect(200)["key_limit"], 2);
}

#[tokio::test]
async fn deleting_a_service_kills_its_keys() {
    let server = Server::start();
    let api = Api::new(&server);
    let svc = api.create_service_as(&server.token, "doomed").await;
    let keep = api.create_service_as(&server.token, "kept").await;
    let a = api.issue_as(&server.token, &svc).await;
    let b = api.issue_as(&server.token, &svc).await;
    let c = api.issue_as(&server.token, &keep).await;
    let del = api
        .delete(&format!("/v1/services/{svc}"), Some(&server.token))
        .await;
    assert_eq!(del.status, 204);
    for k in [&a, &b] {
        api.verify(k["key"].as_str().unwrap())
            .await
            .expect_error(401, "invalid_api_key");
    }
    api.verify(c["key"].as_str().unwrap()).await.expect(200);
    api.get_as(&format!("/v1/services/{svc}/api-keys"), Some(&server.token))
        .await
        .expect_error(404, "service_not_found");
}

#[tokio::test]
async fn every_rejection_of_verify_is_the_same_401() {
    let server = Server::start();
    let api = Api::new(&server);
    let svc = api.create_service_as(&server.token, "verify-svc").await;
    let issued = api.issue_as(&server.token, &svc).await;
    let key = issued["key"].as_str().unwrap().to_string();
    let deleted = api.issue_as(&server.token, &svc).await;
    api.delete(
        &format!(
            "/v1/services/{svc}/api-keys/{}",
            deleted["id"].as_str().unwrap()
        ),
        Some(&server.token),
    )
    .await;
    let mut bodies = Vec::new();
    let no_header = api.get_as("/v1/verify", None).await;
    no_header.expect_error(401, "invalid_api_key");
    bodies.push(no_header.json().clone());
    for bad in [
        "garbage".to_string(),
        bad_checksum(&key),
        unknown_api_key(),
        server.token.clone(),
        deleted["key"].as_str().unwrap().to_string(),
        format!("{key}x"),
    ] {
        let r = api.verify(&bad).await;
        r.expect_error(401, "invalid_api_key");
        bodies.push(r.json().clone());
    }
    let basic = api
        .send(
            reqwest::Method::GET,
            "/v1/verify",
            None,
            None,
            &[("authorization", &format!("Basic {key}"))],
        )
        .await;
    basic.expect_error(401, "invalid_api_key");
    bodies.push(basic.json().clone());
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "one answer for all: {bodies:?}"
    );
    api.verify(&key).await.expect(200);
}

#[tokio::test]
async fn verify_failures_are_rate_limited_per_address() {
    let server = Server::start_with(&["--verify-failures-per-minute", "5"]);
    let api = Api::new(&server);
    let svc = api.create_service_as(&server.token, "limited").await;
    let key = api.issue_as(&server.token, &svc).await["key"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..5 {
        api.verify("ragk_nope")
            .await
            .expect_error(401, "invalid_api_key");
    }
    let r = api.verify("ragk_nope").await;
    r.expect_error(429, "rate_limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    // Until the window passes, every verify from this address is refused, a good key too.
    api.verify(&key).await.expect_error(429, "rate_limited");
    // Admin routes are not affected.
    api.get_as("/v1/services", Some(&server.token))
        .await
        .expect(200);
}

#[tokio::test]
async fn successful_verification_sets_last_used_at_in_the_background() {
    let server = Server::start();
    let api = Api::new(&server);
    let svc = api.create_service_as(&server.token, "used").await;
    let key = api.issue_as(&server.token, &svc).await;
    api.verify(key["key"].as_str().unwrap()).await.expect(200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = api
            .get_as(&format!("/v1/services/{svc}/api-keys"), Some(&server.token))
            .await;
        let used = list.expect(200)["api_keys"][0]["last_used_at"].clone();
        if let Some(s) = used.as_str() {
            assert!(s.ends_with('Z'));
            break;
        }
        assert!(Instant::now() < deadline, "last_used_at never set");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn every_issue_and_delete_is_audited_newest_first_without_secrets() {
    let server = Server::start_with(&["--key-limit", "1"]);
    let api = Api::new(&server);
    let t = Some(server.token.as_str());
    let viewer = server.create_token("watcher", "viewer");
    let svc = api.create_service_as(&server.token, "audited").await;
    let issued = api.issue_as(&server.token, &svc).await;
    let key_id = issued["id"].as_str().unwrap();
    let plaintext = issued["key"].as_str().unwrap();
    let keys = format!("/v1/services/{svc}/api-keys");
    api.post(&keys, t, &json!({}))
        .await
        .expect_error(409, "api_key_limit_exceeded");
    api.post(&keys, Some(&viewer), &json!({}))
        .await
        .expect_error(403, "forbidden");
    api.delete(&format!("{keys}/{key_id}"), t).await.expect(204);
    api.delete(&format!("{keys}/{key_id}"), t)
        .await
        .expect_error(404, "api_key_not_found");

    let audit = api
        .get_as(&format!("/v1/services/{svc}/audit"), Some(&viewer))
        .await;
    let events = audit.expect(200)["events"].as_array().unwrap().clone();
    let summary: Vec<(String, String, String)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
                e["actor"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("api_key.delete", "api_key_not_found", "admin"),
        ("api_key.delete", "ok", "admin"),
        ("api_key.issue", "forbidden", "watcher"),
        ("api_key.issue", "api_key_limit_exceeded", "admin"),
        ("api_key.issue", "ok", "admin"),
        ("service.create", "ok", "admin"),
    ]
    .map(|(a, o, w)| (a.to_string(), o.to_string(), w.to_string()));
    assert_eq!(summary, expected);
    let ok_issue = &events[4];
    assert_eq!(ok_issue["key_id"], key_id);
    assert_eq!(ok_issue["masked"], issued["masked"]);
    assert_eq!(ok_issue["role"], "manager");
    assert_eq!(ok_issue["service_id"], svc);
    assert_eq!(ok_issue["remote_addr"], "127.0.0.1");
    assert_eq!(
        events[1]["masked"], issued["masked"],
        "a delete names the masked key"
    );
    assert_eq!(events[2]["role"], "viewer");
    assert!(ok_issue["at"].as_str().unwrap().ends_with('Z'));
    let text = audit.text.clone();
    assert!(!text.contains(plaintext) && !text.contains(&server.token) && !text.contains(&viewer));

    // Deleting the service is audited as well (the trail outlives it in the store).
    api.delete(&format!("/v1/services/{svc}"), t)
        .await
        .expect(204);
    api.get_as(&format!("/v1/services/{svc}/audit"), t)
        .await
        .expect_error(404, "service_not_found");
}

#[tokio::test]
async fn simultaneous_issues_never_pass_the_cap() {
    let server = Server::start();
    let api = std::sync::Arc::new(Api::new(&server));
    let svc = api.create_service_as(&server.token, "crowded").await;
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let (api, token, svc) = (api.clone(), server.token.clone(), svc.clone());
        tasks.push(tokio::spawn(async move {
            api.post(
                &format!("/v1/services/{svc}/api-keys"),
                Some(&token),
                &json!({}),
            )
            .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let r = t.await.unwrap();
        if r.status == 201 {
            ok += 1;
        } else {
            r.expect_error(409, "api_key_limit_exceeded");
        }
    }
    assert_eq!(ok, 5);
    let s = api
        .get_as(&format!("/v1/services/{svc}"), Some(&server.token))
        .await;
    assert_eq!(s.expect(200)["key_count"], 5);
}

#[tokio::test]
async fn an_empty_issue_body_is_an_empty_object() {
    // `curl -X POST -H 'Content-Type: application/json' URL` sends no body: that is `{}`.
    let server = Server::start();
    let api = Api::new(&server);
    let svc = api.create_service_as(&server.token, "empty-body").await;
    let resp = crate::common::http()
        .post(format!("{}/v1/services/{svc}/api-keys", server.url()))
        .bearer_auth(&server.token)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["name"], serde_json::Value::Null);
    assert!(body["key"].as_str().unwrap().starts_with("ragk_"));
}
