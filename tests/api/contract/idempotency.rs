//! Retry-safe issuance with `Idempotency-Key`.

use reqwest::Method;
use serde_json::{Value, json};

use super::backend::{Place, Server};
use crate::common::api::{Api, Reply};

async fn issue_with(api: &Api, token: &str, svc: &str, idem: &str, body: &Value) -> Reply {
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
    api.get_as(&format!("/v1/services/{svc}/api-keys"), Some(token))
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
    let svc = api.create_service_as(t, "idem").await;

    let first = issue_with(&api, t, &svc, "retry-1", &json!({"name": "ci"})).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = issue_with(&api, t, &svc, "retry-1", &json!({"name": "ci"})).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.header("cache-control"), Some("no-store"));
    assert_eq!(again.json(), first.json(), "the same body, the same key");
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
    assert_ne!(theirs.json()["key"], first.json()["key"]);
    // ... and to the service.
    let svc2 = api.create_service_as(t, "idem-two").await;
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
    let svc = api.create_service_as(t, "full").await;
    let kept = api.issue_as(t, &svc).await;
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
    let svc = api.create_service_as(&t, "racy").await;
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
        match r.status.as_u16() {
            201 => {
                keys.insert(r.json()["key"].as_str().unwrap().to_string());
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
    let place = Place::new();
    let mut server = place.start(&[]);
    let api = Api::new(&server);
    let t = server.token.clone();
    let svc = api.create_service_as(&t, "restart").await;
    let first = issue_with(&api, &t, &svc, "before-restart", &json!({})).await;
    assert_eq!(first.status, 201);
    let key_id = first.json()["id"].as_str().unwrap().to_string();
    assert_eq!(server.stop(), Some(0));

    let server = place.start(&[]);
    let api = Api::new(&server);
    let replay = issue_with(&api, &t, &svc, "before-restart", &json!({})).await;
    let msg = replay.expect_error(409, "idempotency_secret_unavailable");
    assert!(msg.contains(&key_id), "{msg}");
    assert!(!replay.text.contains(first.json()["key"].as_str().unwrap()));
    let changed = issue_with(&api, &t, &svc, "before-restart", &json!({"name": "x"})).await;
    changed.expect_error(422, "idempotency_key_reused");
    assert_eq!(key_count(&api, &t, &svc).await, 1);
    // The key itself survived the restart.
    api.verify(first.json()["key"].as_str().unwrap())
        .await
        .expect(200);
}

/// Issues `{}` with Idempotency-Key `idem`; returns (key id, plaintext).
async fn issued(api: &Api, token: &str, svc: &str, idem: &str) -> (String, String) {
    let r = issue_with(api, token, svc, idem, &json!({})).await;
    let body = r.expect(201);
    (
        body["id"].as_str().unwrap().to_string(),
        body["key"].as_str().unwrap().to_string(),
    )
}

/// A replay refused because its key died: 409 naming the key, saying so, never the plaintext.
#[track_caller]
fn refused_as_deleted(r: &Reply, key_id: &str, plaintext: &str) {
    let msg = r.expect_error(409, "idempotency_secret_unavailable");
    assert!(msg.contains(key_id), "names the key: {msg}");
    assert!(msg.contains("deleted"), "says why: {msg}");
    assert!(
        !r.text.contains(plaintext),
        "never the dead key: {}",
        r.text
    );
}

#[tokio::test]
async fn a_replay_never_hands_out_a_key_deleted_since() {
    let place = Place::new();
    let mut server = place.start(&[]);
    let api = Api::new(&server);
    let t = server.token.clone();
    let svc = api.create_service_as(&t, "deleted-key").await;
    let (key_id, key) = issued(&api, &t, &svc, "k2").await;
    api.delete(&format!("/v1/services/{svc}/api-keys/{key_id}"), Some(&t))
        .await
        .expect(204);
    // From memory (within 15 minutes), then again, then after a restart (from the record).
    for _ in 0..2 {
        let replay = issue_with(&api, &t, &svc, "k2", &json!({})).await;
        refused_as_deleted(&replay, &key_id, &key);
    }
    assert_eq!(key_count(&api, &t, &svc).await, 0, "and no new key");
    assert_eq!(server.stop(), Some(0));
    let server = place.start(&[]);
    let api = Api::new(&server);
    let replay = issue_with(&api, &t, &svc, "k2", &json!({})).await;
    refused_as_deleted(&replay, &key_id, &key);
    assert_eq!(key_count(&api, &t, &svc).await, 0);
}

#[tokio::test]
async fn a_replay_after_its_service_is_deleted_is_404() {
    let place = Place::new();
    let mut server = place.start(&[]);
    let api = Api::new(&server);
    let t = server.token.clone();
    let svc = api.create_service_as(&t, "gone").await;
    let (_, key) = issued(&api, &t, &svc, "k2").await;
    let (_, kept_key) = issued(&api, &t, &svc, "k-restart").await;
    api.delete(&format!("/v1/services/{svc}"), Some(&t))
        .await
        .expect(204);
    let replay = issue_with(&api, &t, &svc, "k2", &json!({})).await;
    replay.expect_error(404, "service_not_found");
    assert!(!replay.text.contains(&key), "{}", replay.text);
    assert_eq!(server.stop(), Some(0));
    let server = place.start(&[]);
    let api = Api::new(&server);
    for idem in ["k2", "k-restart"] {
        let replay = issue_with(&api, &t, &svc, idem, &json!({})).await;
        replay.expect_error(404, "service_not_found");
        assert!(!replay.text.contains(&key) && !replay.text.contains(&kept_key));
    }
}

#[tokio::test]
async fn a_new_token_with_a_revoked_tokens_name_replays_nothing() {
    let server = Server::start();
    let api = Api::new(&server);
    let svc = api.create_service_as(&server.token, "renamed").await;
    // `bob` is the newest token, so a reused id would be its id.
    let bob = server.create_token("bob", "manager");
    let (first_id, first_key) = issued(&api, &bob, &svc, "k3").await;
    let revoke = server.tokens(&["revoke", "bob"]);
    assert!(revoke.status.success());
    let new_bob = server.create_token("bob", "manager");
    let r = issue_with(&api, &new_bob, &svc, "k3", &json!({})).await;
    let body = r.expect(201);
    assert_eq!(r.header("idempotent-replayed"), None, "{}", r.text);
    assert_ne!(body["key"].as_str(), Some(first_key.as_str()));
    assert_ne!(body["id"].as_str(), Some(first_id.as_str()));
    assert_eq!(key_count(&api, &server.token, &svc).await, 2);
    // The new token's own retry replays its own key.
    let again = issue_with(&api, &new_bob, &svc, "k3", &json!({})).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json()["key"], body["key"]);
}

#[tokio::test]
async fn replays_racing_a_delete_never_return_the_key_after_the_delete_answered() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let server = Server::start();
    let api = Arc::new(Api::new(&server));
    let t = server.token.clone();
    let svc = api.create_service_as(&t, "racing").await;
    let (key_id, key) = issued(&api, &t, &svc, "k4").await;
    let deleted = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (api, t, svc, deleted) = (api.clone(), t.clone(), svc.clone(), deleted.clone());
        tasks.push(tokio::spawn(async move {
            // (started after the 204, status, body) of each replay until a few after the 204.
            let mut seen = Vec::new();
            let mut after = 0;
            while after < 5 {
                let started_after = deleted.load(Ordering::SeqCst);
                let r = issue_with(&api, &t, &svc, "k4", &json!({})).await;
                after += usize::from(started_after);
                seen.push((started_after, r.status.as_u16(), r.text));
            }
            seen
        }));
    }
    api.delete(&format!("/v1/services/{svc}/api-keys/{key_id}"), Some(&t))
        .await
        .expect(204);
    deleted.store(true, Ordering::SeqCst);
    for task in tasks {
        for (started_after, status, text) in task.await.unwrap() {
            match (started_after, status) {
                // A replay that meets another one checking the durable record is in progress.
                (_, 409) => assert!(
                    text.contains("idempotency_secret_unavailable")
                        || text.contains("idempotency_in_progress"),
                    "{text}"
                ),
                (false, 201) => assert!(text.contains(&key)),
                other => panic!("{other:?}: {text}"),
            }
            if started_after {
                assert!(
                    !text.contains(&key),
                    "the dead key after its delete: {text}"
                );
            }
        }
    }
    assert_eq!(key_count(&api, &t, &svc).await, 0);
}
