//! Retry-safe issuance with `Idempotency-Key`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::Server;
use crate::support::{Api, Resp};

async fn issue_with(api: &Api, token: &str, svc: &str, idem: &str, body: &Value) -> Resp {
    api.send(
        Method::POST,
        &format!("/v1/services/{svc}/api-keys"),
        Some(token),
        Some(body),
        &[("idempotency-key", idem)],
    )
    .await
}

async fn key_count(api: &Api, token: &str, svc: &str) -> usize {
    api.get(&format!("/v1/services/{svc}/api-keys"), Some(token))
        .await
        .expect(200)["api_keys"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_retry_gets_the_same_key_and_no_new_slot() {
    let server = Server::start();
    let api = Api::new(&server);
    let t = &server.token;
    let svc = api.create_service(t, "idem").await;

    let first = issue_with(&api, t, &svc, "retry-1", &json!({"name": "ci"})).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = issue_with(&api, t, &svc, "retry-1", &json!({"name": "ci"})).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.header("cache-control"), Some("no-store"));
    assert_eq!(again.json, first.json, "the same body, the same key");
    assert_eq!(key_count(&api, t, &svc).await, 1);

    let other = issue_with(&api, t, &svc, "retry-1", &json!({"name": "other"})).await;
    other.expect_error(422, "idempotency_key_reused");
    // The key is scoped to the token: another manager with the same key gets a new key.
    let second_manager = server.create_token("ops", "manager");
    let theirs = issue_with(
        &api,
        &second_manager,
        &svc,
        "retry-1",
        &json!({"name": "ci"}),
    )
    .await;
    assert_eq!(theirs.status, 201);
    assert_ne!(theirs.json["key"], first.json["key"]);
    // ... and to the service.
    let svc2 = api.create_service(t, "idem-two").await;
    let elsewhere = issue_with(&api, t, &svc2, "retry-1", &json!({"name": "ci"})).await;
    assert_eq!(elsewhere.status, 201);
    assert_eq!(elsewhere.header("idempotent-replayed"), None);
    assert_eq!(key_count(&api, t, &svc).await, 2);

    for bad in ["", &"k".repeat(256), "with space", "ключ"] {
        let mut req = api
            .http
            .post(format!("{}/v1/services/{svc}/api-keys", api.base))
            .bearer_auth(t)
            .json(&json!({}));
        req = match reqwest::header::HeaderValue::from_bytes(bad.as_bytes()) {
            Ok(v) => req.header("idempotency-key", v),
            Err(_) => continue,
        };
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 400, "Idempotency-Key {bad:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "invalid_request");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Idempotency-Key")
        );
    }
    let longest = "k".repeat(255);
    assert_eq!(
        issue_with(&api, t, &svc, &longest, &json!({})).await.status,
        201
    );
}

#[tokio::test]
async fn a_refusal_replays_as_itself() {
    let server = Server::start_with(&["--key-limit", "1"]);
    let api = Api::new(&server);
    let t = &server.token;
    let svc = api.create_service(t, "full").await;
    let kept = api.issue(t, &svc).await;
    let r = issue_with(&api, t, &svc, "late", &json!({})).await;
    r.expect_error(409, "api_key_limit_exceeded");
    // Even after a slot frees up, the same request replays its first answer.
    api.delete(
        &format!(
            "/v1/services/{svc}/api-keys/{}",
            kept["id"].as_str().unwrap()
        ),
        Some(t),
    )
    .await
    .expect(204);
    let again = issue_with(&api, t, &svc, "late", &json!({})).await;
    again.expect_error(409, "api_key_limit_exceeded");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(key_count(&api, t, &svc).await, 0);
}

#[tokio::test]
async fn simultaneous_retries_yield_one_key() {
    let server = Server::start();
    let api = std::sync::Arc::new(Api::new(&server));
    let t = server.token.clone();
    let svc = api.create_service(&t, "racy").await;
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (api, t, svc) = (api.clone(), t.clone(), svc.clone());
        tasks.push(tokio::spawn(async move {
            issue_with(&api, &t, &svc, "same-everywhere", &json!({})).await
        }));
    }
    let mut keys = std::collections::HashSet::new();
    for task in tasks {
        let r = task.await.unwrap();
        match r.status {
            201 => {
                keys.insert(r.json["key"].as_str().unwrap().to_string());
            }
            409 => {
                r.expect_error(409, "idempotency_in_progress");
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!(keys.len(), 1, "every success carries the same key");
    assert_eq!(key_count(&api, &t, &svc).await, 1);
}

#[tokio::test]
async fn after_a_restart_the_replay_names_the_key_instead_of_issuing_another() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut server = Server::start_in(&dir, &[]);
    let api = Api::new(&server);
    let t = server.token.clone();
    let svc = api.create_service(&t, "restart").await;
    let first = issue_with(&api, &t, &svc, "before-restart", &json!({})).await;
    assert_eq!(first.status, 201);
    let key_id = first.json["id"].as_str().unwrap().to_string();
    assert_eq!(server.stop(), Some(0));

    let server = Server::start_in(&dir, &[]);
    let api = Api::new(&server);
    let replay = issue_with(&api, &t, &svc, "before-restart", &json!({})).await;
    let msg = replay.expect_error(409, "idempotency_secret_unavailable");
    assert!(msg.contains(&key_id), "{msg}");
    assert!(!replay.text.contains(first.json["key"].as_str().unwrap()));
    let changed = issue_with(&api, &t, &svc, "before-restart", &json!({"name": "x"})).await;
    changed.expect_error(422, "idempotency_key_reused");
    assert_eq!(key_count(&api, &t, &svc).await, 1);
    // The key itself survived the restart.
    api.verify(first.json["key"].as_str().unwrap())
        .await
        .expect(200);
}
