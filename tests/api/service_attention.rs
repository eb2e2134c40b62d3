//! A service's `attention` (docs/api.md, Service): how many of its keys need someone now, in
//! `GET /v1/services` and `GET /v1/services/{id}` asked with `include=attention`, following every
//! change made through the API. Without the query the Service object keeps its six fields.

use chrono::{SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::Server;
use crate::common::api::Api;

fn in_days(days: i64) -> String {
    (Utc::now() + chrono::Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `attention` of `sid` in the list and alone; both must say the same.
async fn attention(api: &Api, sid: &str) -> u64 {
    let list = api.get("/v1/services?include=attention").await.expect(200);
    let listed = list["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == sid)
        .expect("the service is listed")["attention"]
        .as_u64()
        .expect("attention is a number in the list");
    let alone = api
        .get(&format!("/v1/services/{sid}?include=attention"))
        .await
        .expect(200)["attention"]
        .as_u64()
        .expect("attention is a number alone");
    // Asked for nothing, the six fields of the Service object, as every client knows them.
    for plain in [
        api.service(sid).await,
        api.get("/v1/services").await.expect(200)["services"][0].clone(),
    ] {
        let fields: Vec<_> = plain.as_object().unwrap().keys().cloned().collect();
        assert_eq!(fields.len(), 6, "{fields:?}");
        assert!(plain.get("attention").is_none(), "{plain}");
    }
    assert_eq!(listed, alone, "GET /v1/services and GET /v1/services/{sid}");
    listed
}

async fn patch(api: &Api, sid: &str, kid: &str, body: Value) {
    let path = format!("/v1/services/{sid}/api-keys/{kid}");
    api.call(Method::PATCH, &path, Some(body)).await.expect(200);
}

#[tokio::test]
async fn a_service_counts_its_keys_that_need_attention() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let created = api
        .call(
            Method::POST,
            "/v1/services",
            Some(json!({"name": "needy", "description": ""})),
        )
        .await
        .expect(201);
    assert!(
        created.get("attention").is_none(),
        "a new service: {created}"
    );
    let sid = created["id"].as_str().unwrap().to_string();
    assert_eq!(attention(&api, &sid).await, 0, "a new service");
    let calm = api.create_service("calm").await;
    api.issue_ok(&calm).await;

    let (plain, _) = api.issue_ok(&sid).await;
    let (to_stop, _) = api.issue_ok(&sid).await;
    let (_leaky_id, leaky) = api.issue_ok(&sid).await;
    let far = api.issue(&sid, json!({"expires_at": in_days(30)})).await;
    assert_eq!(far.status, 201, "{}", far.text);
    assert_eq!(attention(&api, &sid).await, 0, "nothing to do yet");

    let soon = api.issue(&sid, json!({"expires_at": in_days(3)})).await;
    assert_eq!(soon.status, 201, "{}", soon.text);
    assert_eq!(attention(&api, &sid).await, 1, "an expiry within 7 days");

    patch(&api, &sid, &to_stop, json!({"enabled": false})).await;
    assert_eq!(attention(&api, &sid).await, 2, "a disabled key");

    let leaked = api
        .post("/v1/leaks", Some(&srv.token), &json!({"key": leaky}))
        .await;
    assert_eq!(leaked.status, 200, "{}", leaked.text);
    assert_eq!(attention(&api, &sid).await, 3, "a leaked key, stopped");

    patch(&api, &sid, &to_stop, json!({"enabled": true})).await;
    assert_eq!(attention(&api, &sid).await, 2, "enabled again");
    api.delete_key(&sid, &plain).await.expect(204);
    assert_eq!(attention(&api, &sid).await, 2, "a plain key never counted");
    assert_eq!(
        attention(&api, &calm).await,
        0,
        "another service's keys are its own"
    );
}

#[tokio::test]
async fn openapi_lists_attention_in_the_service_object() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let doc = api.get_public("/openapi.json").await.expect(200);
    let field = &doc["components"]["schemas"]["Service"]["properties"]["attention"];
    assert!(
        field.is_object(),
        "Service.attention in /openapi.json: {field}"
    );
}

#[tokio::test]
async fn an_unknown_query_on_the_services_routes_is_400_naming_it() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let sid = api.create_service("asked-wrong").await;
    for path in [
        "/v1/services?include=everything".to_string(),
        format!("/v1/services/{sid}?limit=3"),
    ] {
        let r = api.get(&path).await;
        r.expect_error(400, "invalid_request");
        assert!(r.text.contains("include=attention"), "{path}: {}", r.text);
    }
}
