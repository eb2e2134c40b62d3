//! The key lifecycle of docs/api.md (Key lifecycle), from outside: a real `ragkeys serve`,
//! real HTTP. Expiry, disable/enable, rename, rotation with a grace in a shared slot, the lazy
//! retirement, Idempotency-Key on rotate, and the role matrix of the new routes.

use super::support::*;
use crate::common::Server;
use crate::common::api::Api;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_and_issue_refuse_bad_bodies_and_expiries() {
    let srv = Server::start_with(FLAGS);
    let api = Api::new(&srv);
    let sid = api.create_service("lifecycle").await;
    let (kid, _) = api.issue_ok(&sid).await;
    let m = patch_raw(&api, &sid, &kid, "")
        .await
        .expect_error(400, "invalid_request");
    assert!(m.contains("at least one"), "{m}");
    patch(&api, &sid, &kid, json!({}))
        .await
        .expect_error(400, "invalid_request");
    let m = patch(&api, &sid, &kid, json!({"nam": "x"}))
        .await
        .expect_error(400, "invalid_request");
    assert!(m.contains("nam"), "{m}");
    for body in [
        json!({"expires_at": rfc3339_in(-60)}),
        json!({"expires_at": rfc3339_in(367 * 86_400)}),
        json!({"expires_at": "tomorrow"}),
    ] {
        let m = patch(&api, &sid, &kid, body.clone())
            .await
            .expect_error(400, "invalid_request");
        assert!(m.contains("expires_at"), "{body}: {m}");
        let m = api
            .issue(&sid, body.clone())
            .await
            .expect_error(400, "invalid_request");
        assert!(m.contains("expires_at"), "issue {body}: {m}");
    }
    patch(&api, &sid, &kid, json!({"name": ""}))
        .await
        .expect_error(400, "invalid_request");
    for grace in [-1, 604_801] {
        let m = rotate(&api, &sid, &kid, grace)
            .await
            .expect_error(400, "invalid_request");
        assert!(m.contains("grace_seconds"), "{m}");
    }
    patch(&api, &sid, "key_nope", json!({"enabled": false}))
        .await
        .expect_error(404, "api_key_not_found");
    rotate(&api, &sid, "key_nope", 0)
        .await
        .expect_error(404, "api_key_not_found");
    // Nothing above changed the key; 366 days is still allowed.
    let k = listed(&api, &sid, &kid).await.expect("listed");
    assert_eq!(k["state"], "active");
    assert_eq!(k["expires_at"], serde_json::Value::Null);
    let r = api
        .issue(&sid, json!({"expires_at": rfc3339_in(366 * 86_400 - 60)}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_refuses_on_the_next_verify_and_enable_restores() {
    let srv = Server::start_with(FLAGS);
    let api = Api::new(&srv);
    let sid = api.create_service("lifecycle").await;
    let (kid, key) = api.issue_ok(&sid).await;
    let k = listed(&api, &sid, &kid).await.expect("listed");
    for field in ["state", "created_by", "expires_at", "replaced_by"] {
        assert!(k.get(field).is_some(), "{field} missing in {k}");
    }
    assert_eq!(k["created_by"], "admin");
    assert_eq!(api.verify(&key).await.status, 200);

    let r = patch(&api, &sid, &kid, json!({"enabled": false})).await;
    assert_eq!(r.json()["state"], "disabled", "{}", r.text);
    api.verify(&key).await.expect_error(401, "invalid_api_key");
    // The same value again is no change: 200 and no second event.
    let r = patch(&api, &sid, &kid, json!({"enabled": false})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        audit_events(&api, &sid, "api_key.disable", Some(&kid))
            .await
            .len(),
        1
    );
    // A disabled key cannot be rotated.
    rotate(&api, &sid, &kid, 60)
        .await
        .expect_error(409, "api_key_not_active");

    let r = patch(&api, &sid, &kid, json!({"enabled": true})).await;
    assert_eq!(r.json()["state"], "active", "{}", r.text);
    assert_eq!(api.verify(&key).await.status, 200);
    assert_eq!(
        audit_events(&api, &sid, "api_key.enable", Some(&kid))
            .await
            .len(),
        1
    );

    let r = patch(&api, &sid, &kid, json!({"name": "renamed"})).await;
    assert_eq!(r.json()["name"], "renamed", "{}", r.text);
    let r = patch(&api, &sid, &kid, json!({"name": "renamed"})).await;
    assert_eq!(r.status, 200);
    let r = patch(&api, &sid, &kid, json!({"name": null})).await;
    assert_eq!(r.json()["name"], serde_json::Value::Null, "{}", r.text);
    assert_eq!(
        audit_events(&api, &sid, "api_key.update", Some(&kid))
            .await
            .len(),
        2
    );
    let at = rfc3339_in(3600);
    let r = patch(&api, &sid, &kid, json!({"expires_at": at})).await;
    assert_eq!(r.json()["expires_at"], at, "{}", r.text);
    let r = patch(&api, &sid, &kid, json!({"expires_at": null})).await;
    assert_eq!(
        r.json()["expires_at"],
        serde_json::Value::Null,
        "{}",
        r.text
    );
    assert_eq!(api.verify(&key).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_expires_at_its_second_and_comes_back_only_with_a_new_expiry() {
    let srv = Server::start_with(FLAGS);
    let api = Api::new(&srv);
    let sid = api.create_service("lifecycle").await;
    let at = rfc3339_in(3);
    let r = api
        .issue(&sid, json!({"name": "short", "expires_at": at}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v = r.json();
    assert_eq!(v["expires_at"], at);
    let (kid, key) = (v["id"].as_str().unwrap(), v["key"].as_str().unwrap());
    watch_until_refused(&api, key, unix_of(&at)).await;
    let k = listed(&api, &sid, kid)
        .await
        .expect("an expired key stays listed");
    assert_eq!(k["state"], "expired");
    assert_eq!(api.service(&sid).await["key_count"], 1, "it keeps its slot");
    let m = patch(&api, &sid, kid, json!({"enabled": true}))
        .await
        .expect_error(409, "api_key_not_active");
    assert!(m.contains("expires_at"), "{m}");
    rotate(&api, &sid, kid, 0)
        .await
        .expect_error(409, "api_key_not_active");
    let r = patch(
        &api,
        &sid,
        kid,
        json!({"enabled": true, "expires_at": rfc3339_in(3600)}),
    )
    .await;
    assert_eq!(r.json()["state"], "active", "{}", r.text);
    assert_eq!(api.verify(key).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_at_the_limit_shares_the_slot_and_the_old_key_retires_at_its_end() {
    let srv = Server::start_with(FLAGS);
    let api = Api::new(&srv);
    let sid = api.create_service("lifecycle").await;
    let first = api
        .issue(
            &sid,
            json!({"name": "main", "expires_at": rfc3339_in(30 * 86_400)}),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let first = first.json();
    let (old_id, old_key) = (
        first["id"].as_str().unwrap(),
        first["key"].as_str().unwrap(),
    );
    for _ in 0..4 {
        api.issue_ok(&sid).await;
    }
    assert_eq!(api.service(&sid).await["key_count"], 5);

    let r = rotate(&api, &sid, old_id, 3).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let new = r.json();
    let (new_id, new_key) = (new["id"].as_str().unwrap(), new["key"].as_str().unwrap());
    assert_eq!(new["name"], "main");
    assert_eq!(new["state"], "active");
    let lifetime =
        unix_of(new["expires_at"].as_str().unwrap()) - unix_of(new["created_at"].as_str().unwrap());
    assert!(
        (30 * 86_400 - 2..=30 * 86_400).contains(&lifetime),
        "lifetime {lifetime}"
    );
    assert_eq!(
        api.service(&sid).await["key_count"],
        5,
        "the slot is shared"
    );
    api.issue(&sid, json!({}))
        .await
        .expect_error(409, "api_key_limit_exceeded");

    let old = listed(&api, &sid, old_id)
        .await
        .expect("rotating key listed");
    assert_eq!(old["state"], "rotating");
    assert_eq!(old["replaced_by"], new_id);
    let end = unix_of(old["expires_at"].as_str().unwrap());
    assert_eq!(api.verify(new_key).await.status, 200);
    rotate(&api, &sid, old_id, 0)
        .await
        .expect_error(409, "api_key_not_active");

    watch_until_refused(&api, old_key, end).await;
    assert!(
        listed(&api, &sid, old_id).await.is_none(),
        "retired keys leave the list"
    );
    assert_eq!(api.list_ids(&sid).await.len(), 5);
    assert_eq!(api.service(&sid).await["key_count"], 5);
    let retired = audit_events(&api, &sid, "api_key.retire", Some(old_id)).await;
    assert_eq!(retired.len(), 1, "{retired:?}");
    assert_eq!(retired[0]["actor"], "system");
    let rotations = audit_events(&api, &sid, "api_key.rotate", Some(old_id)).await;
    let outcomes: Vec<_> = rotations
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["api_key_not_active", "ok"],
        "refusals are audited too"
    );
    assert_eq!(api.verify(new_key).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_now_ends_the_old_key_as_a_delete_does() {
    let srv = Server::start_with(FLAGS);
    let api = Api::new(&srv);
    let sid = api.create_service("lifecycle").await;
    let (old_id, old_key) = api.issue_ok(&sid).await;
    let r = rotate(&api, &sid, &old_id, 0).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let new_key = r.json()["key"].as_str().unwrap().to_string();
    api.verify(&old_key)
        .await
        .expect_error(401, "invalid_api_key");
    assert_eq!(api.verify(&new_key).await.status, 200);
    assert!(listed(&api, &sid, &old_id).await.is_none());
    assert_eq!(api.service(&sid).await["key_count"], 1);
    assert_eq!(
        audit_events(&api, &sid, "api_key.retire", Some(&old_id))
            .await
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_replays_its_successor_and_never_a_disabled_one() {
    let srv = Server::start_with(FLAGS);
    let api = Api::new(&srv);
    let sid = api.create_service("lifecycle").await;
    let (kid, _) = api.issue_ok(&sid).await;
    let a = rotate_idem(&api, &sid, &kid, 600, "rot-1").await;
    assert_eq!(a.status, 201, "{}", a.text);
    let b = rotate_idem(&api, &sid, &kid, 600, "rot-1").await;
    assert_eq!(b.status, 201, "{}", b.text);
    assert_eq!(b.header("idempotent-replayed"), Some("true"));
    assert_eq!(a.json()["id"], b.json()["id"]);
    assert_eq!(a.json()["key"], b.json()["key"]);
    assert_eq!(api.list_ids(&sid).await.len(), 2, "one successor");
    rotate_idem(&api, &sid, &kid, 60, "rot-1")
        .await
        .expect_error(422, "idempotency_key_reused");
    let new_id = a.json()["id"].as_str().unwrap().to_string();
    patch(&api, &sid, &new_id, json!({"enabled": false})).await;
    let m = rotate_idem(&api, &sid, &kid, 600, "rot-1")
        .await
        .expect_error(409, "idempotency_secret_unavailable");
    assert!(m.contains(&new_id) && m.contains("disabled"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_may_not_patch_or_rotate() {
    let srv = Server::start_with(FLAGS);
    let api = Api::new(&srv);
    let viewer = api.as_token(&srv.create_token("watcher", "viewer"));
    let nobody = api.as_token("ragadm_notatoken");
    let sid = api.create_service("lifecycle").await;
    let (kid, key) = api.issue_ok(&sid).await;
    patch(&viewer, &sid, &kid, json!({"enabled": false}))
        .await
        .expect_error(403, "forbidden");
    rotate(&viewer, &sid, &kid, 0)
        .await
        .expect_error(403, "forbidden");
    patch(&nobody, &sid, &kid, json!({"enabled": false}))
        .await
        .expect_error(401, "unauthorized");
    rotate(&nobody, &sid, &kid, 0)
        .await
        .expect_error(401, "unauthorized");
    assert_eq!(api.verify(&key).await.status, 200, "nothing changed");
    assert_eq!(listed(&api, &sid, &kid).await.unwrap()["state"], "active");
    let doc = api.get("/openapi.json").await.json();
    assert!(doc["paths"]["/v1/services/{service_id}/api-keys/{key_id}"]["patch"].is_object());
    assert!(doc["paths"]["/v1/services/{service_id}/api-keys/{key_id}/rotate"]["post"].is_object());
}
