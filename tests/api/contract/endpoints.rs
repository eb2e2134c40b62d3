//! Each endpoint's success shape, and the services' validation codes.

use reqwest::Method;
use serde_json::json;

use super::backend::Server;
use crate::common::api::Api;

fn is_rfc3339_utc(v: &serde_json::Value) -> bool {
    let s = v.as_str().unwrap_or("");
    s.len() == 20 && s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

#[tokio::test]
async fn health_openapi_and_me() {
    let server = Server::start();
    let api = Api::new(&server);
    assert_eq!(
        api.get_as("/healthz", None).await.expect(200),
        json!({"status":"ok"})
    );

    let doc = api.get_as("/openapi.json", None).await;
    let doc = doc.expect(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/healthz", &["get"][..]),
        ("/openapi.json", &["get"]),
        ("/v1/me", &["get"]),
        ("/v1/services", &["get", "post"]),
        ("/v1/services/{service_id}", &["get", "delete"]),
        ("/v1/services/{service_id}/api-keys", &["get", "post"]),
        ("/v1/services/{service_id}/api-keys/{key_id}", &["delete"]),
        ("/v1/services/{service_id}/audit", &["get"]),
        ("/v1/verify", &["get"]),
    ] {
        for m in methods {
            let op = &paths[path][*m];
            assert!(op.is_object(), "{m} {path} is not documented");
            assert!(
                op["responses"]["413"].is_object(),
                "{m} {path} lacks its 413"
            );
        }
    }
    let issue = &paths["/v1/services/{service_id}/api-keys"]["post"];
    let params: Vec<&str> = issue["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(params.contains(&"Idempotency-Key") && params.contains(&"service_id"));
    for code in ["201", "400", "401", "403", "404", "409", "422"] {
        assert!(issue["responses"][code].is_object(), "issue lacks {code}");
    }

    let me = api.get_as("/v1/me", Some(&server.token)).await;
    assert_eq!(me.expect(200), json!({"name":"admin","role":"manager"}));
    let viewer = server.create_token("alice", "viewer");
    let me = api.get_as("/v1/me", Some(&viewer)).await;
    assert_eq!(me.expect(200), json!({"name":"alice","role":"viewer"}));
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let server = Server::start();
    let api = Api::new(&server);
    let r = api
        .send(
            Method::GET,
            "/healthz",
            None,
            None,
            &[("x-request-id", "trace-42.abc")],
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("trace-42.abc"));
    let made = api.get_as("/healthz", None).await;
    let a = made.header("x-request-id").unwrap().to_string();
    let b = api
        .get_as("/healthz", None)
        .await
        .header("x-request-id")
        .unwrap()
        .to_string();
    assert!(!a.is_empty() && a != b, "fresh ids differ: {a} {b}");
    let long = "x".repeat(300);
    let r = api
        .send(
            Method::GET,
            "/healthz",
            None,
            None,
            &[("x-request-id", &long)],
        )
        .await;
    let id = r.header("x-request-id").unwrap();
    assert!(id != long && !id.is_empty(), "an insane id is replaced");
    // Errors carry it too, also from the fallback.
    let r = api
        .send(
            Method::GET,
            "/nowhere",
            None,
            None,
            &[("x-request-id", "e-1")],
        )
        .await;
    r.expect_error(404, "not_found");
    assert_eq!(r.header("x-request-id"), Some("e-1"));
}

/// `/v1/verify`, answered before the router, answers as a route: HEAD with GET's head and no
/// body, for a live key and a refused one, the caller's request id echoed, other methods 404
/// with `Allow`.
#[tokio::test]
async fn verify_answers_head_as_get_and_echoes_request_ids() {
    let server = Server::start();
    let api = Api::new(&server);
    let sid = api.create_service("heads").await;
    let (_, key) = api.issue_ok(&sid).await;
    for (bearer, status) in [(key.as_str(), 200), ("ragk_not_a_key", 401)] {
        let ask = |method| {
            api.send(
                method,
                "/v1/verify",
                Some(bearer),
                None,
                &[("x-request-id", "v-1")],
            )
        };
        let get = ask(Method::GET).await;
        let head = ask(Method::HEAD).await;
        assert_eq!(
            (get.status.as_u16(), head.status.as_u16()),
            (status, status)
        );
        assert!(!get.text.is_empty() && head.text.is_empty(), "{bearer}");
        let names: Vec<_> = get.headers.keys().filter(|n| *n != "date").collect();
        assert!(names.len() >= 4, "{names:?}");
        for name in names {
            assert_eq!(
                head.headers.get(name),
                get.headers.get(name),
                "{name} for {bearer}"
            );
        }
        assert_eq!(get.header("x-request-id"), Some("v-1"));
    }
    let post = api
        .send(Method::POST, "/v1/verify", Some(&key), None, &[])
        .await;
    post.expect_error(404, "not_found");
    assert_eq!(post.header("allow"), Some("GET,HEAD"));
}

#[tokio::test]
async fn services_crud() {
    let server = Server::start();
    let api = Api::new(&server);
    let t = Some(server.token.as_str());
    assert_eq!(
        api.get_as("/v1/services", t).await.expect(200),
        json!({"services": []})
    );

    let created = api
        .post(
            "/v1/services",
            t,
            &json!({"name": "search-prod", "description": "Production search"}),
        )
        .await;
    let svc = created.expect(201).clone();
    let id = svc["id"].as_str().unwrap();
    assert!(id.starts_with("svc_") && id.len() > 8);
    assert_eq!(svc["name"], "search-prod");
    assert_eq!(svc["description"], "Production search");
    assert_eq!(svc["key_count"], 0);
    assert_eq!(svc["key_limit"], 5);
    assert!(is_rfc3339_utc(&svc["created_at"]), "{}", svc["created_at"]);
    let fields: Vec<_> = svc.as_object().unwrap().keys().cloned().collect();
    assert_eq!(fields.len(), 6, "{fields:?}");

    // The description may be left out.
    let bare = api
        .post("/v1/services", t, &json!({"name": "서비스이름"}))
        .await;
    assert_eq!(bare.expect(201)["description"], "");

    let got = api.get_as(&format!("/v1/services/{id}"), t).await;
    assert_eq!(got.expect(200), svc);
    let list = api.get_as("/v1/services", t).await;
    let names: Vec<_> = list.expect(200)["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["search-prod", "서비스이름"]);

    let dup = api
        .post("/v1/services", t, &json!({"name": "search-prod"}))
        .await;
    dup.expect_error(409, "service_name_taken");

    assert_eq!(
        api.delete(&format!("/v1/services/{id}"), t).await.status,
        204
    );
    api.get_as(&format!("/v1/services/{id}"), t)
        .await
        .expect_error(404, "service_not_found");
    api.delete(&format!("/v1/services/{id}"), t)
        .await
        .expect_error(404, "service_not_found");
    api.get_as("/v1/services/svc_doesnotexist", t)
        .await
        .expect_error(404, "service_not_found");
    // The name is free again once its service is gone.
    api.post("/v1/services", t, &json!({"name": "search-prod"}))
        .await
        .expect(201);
}

#[tokio::test]
async fn service_fields_are_validated_with_messages_naming_the_field() {
    let server = Server::start();
    let api = Api::new(&server);
    let t = Some(server.token.as_str());
    let cases = [
        (json!({"name": "ab"}), "name"),
        (json!({"name": "a".repeat(21)}), "name"),
        (
            json!({"name": "abc", "description": "d".repeat(51)}),
            "description",
        ),
        (json!({"name": "abc\u{1b}[2J"}), "name"),
        (json!({"name": "abc\u{202E}def"}), "name"),
        (
            json!({"name": "abc", "description": "x\u{85}"}),
            "description",
        ),
        (json!({"name": "abc", "colour": "red"}), "colour"),
        (json!({"description": "no name"}), "name"),
        (json!({"name": 42}), "name"),
    ];
    for (body, field) in cases {
        let r = api.post("/v1/services", t, &body).await;
        let msg = r.expect_error(400, "invalid_request");
        assert!(
            msg.contains(field),
            "{body}: message {msg:?} does not name {field}"
        );
    }
    // A credential pasted into a field is refused, and never echoed back.
    let key = crate::common::api::unknown_api_key();
    for body in [
        json!({"name": "abc", "description": format!("key {key}")}),
        json!({"name": "abc", key.clone(): 1}),
    ] {
        let r = api.post("/v1/services", t, &body).await;
        r.expect_error(400, "invalid_request");
        assert!(!r.text.contains(&key), "{}", r.text);
    }
    // Limits count Unicode scalar values: 20 Hangul syllables fit, 21 do not.
    api.post("/v1/services", t, &json!({"name": "가".repeat(20)}))
        .await
        .expect(201);
    api.post("/v1/services", t, &json!({"name": "가".repeat(21)}))
        .await
        .expect_error(400, "invalid_request");
    api.post(
        "/v1/services",
        t,
        &json!({"name": "abc", "description": "설".repeat(50)}),
    )
    .await
    .expect(201);

    let raw = |ct: Option<&'static str>, body: &'static [u8]| {
        let mut req = api
            .http
            .post(format!("{}/v1/services", api.base))
            .bearer_auth(&server.token)
            .body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    for (ct, body, needle) in [
        (Some("application/json"), &b"{\"name\":"[..], "JSON"),
        (Some("application/json"), b"{\"name\":\"ab\xffc\"}", "UTF-8"),
        (Some("text/plain"), b"{\"name\":\"abcd\"}", "Content-Type"),
        (None, b"{\"name\":\"abcd\"}", "Content-Type"),
        (Some("application/json"), b"[1,2]", "JSON"),
    ] {
        let resp = raw(ct, body).await.unwrap();
        assert_eq!(resp.status(), 400);
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], "invalid_request");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{msg:?} should mention {needle}");
    }
}

#[tokio::test]
async fn at_most_999_services() {
    let server = Server::start();
    let api = std::sync::Arc::new(Api::new(&server));
    let token = std::sync::Arc::new(server.token.clone());
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let (api, token) = (api.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            for i in (worker..999).step_by(8) {
                let r = api
                    .post(
                        "/v1/services",
                        Some(&token),
                        &json!({"name": format!("svc-{i:03}")}),
                    )
                    .await;
                assert_eq!(r.status, 201, "{}", r.text);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let r = api
        .post(
            "/v1/services",
            Some(&token),
            &json!({"name": "one-too-many"}),
        )
        .await;
    r.expect_error(409, "service_limit_exceeded");
    let list = api.get_as("/v1/services", Some(&token)).await;
    assert_eq!(list.expect(200)["services"].as_array().unwrap().len(), 999);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let server = Server::start();
    let api = Api::new(&server);
    let t = Some(server.token.as_str());
    for path in [
        "/",
        "/v1",
        "/v1/services/x/y/z",
        "/v2/services",
        "/v1/verify/extra",
    ] {
        api.get_as(path, t).await.expect_error(404, "not_found");
    }
    for (m, path) in [
        (Method::PUT, "/v1/services"),
        (Method::PATCH, "/v1/services/svc_x"),
        (Method::POST, "/v1/verify"),
        (Method::DELETE, "/healthz"),
        (Method::GET, "/v1/services/svc_x/api-keys/key_y"),
    ] {
        let r = api.send(m.clone(), path, t, None, &[]).await;
        assert!(
            r.status == 405 || r.status == 404,
            "{m} {path}: {}",
            r.status
        );
        assert!(
            r.json()["error"]["code"].is_string(),
            "{m} {path}: {}",
            r.text
        );
    }
}
