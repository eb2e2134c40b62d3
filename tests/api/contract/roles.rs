//! The role matrix on every admin route: no token, garbage, a wrong checksum, an unknown token,
//! an API key, a revoked token (401 `unauthorized`); a viewer (every GET and whois, else 403); a
//! manager.

use reqwest::Method;
use serde_json::{Value, json};

use super::backend::Server;
use crate::common::api::{Api, bad_checksum, unknown_admin_token};

struct Route {
    method: Method,
    path: String,
    body: Option<Value>,
    manager_only: bool,
}

fn routes(svc: &str, key_id: &str, api_key: &str) -> Vec<Route> {
    let r = |method: Method, path: String, body: Option<Value>, manager_only: bool| Route {
        method,
        path,
        body,
        manager_only,
    };
    vec![
        r(Method::GET, "/v1/me".into(), None, false),
        r(Method::GET, "/v1/services".into(), None, false),
        r(Method::GET, "/v1/audit".into(), None, false),
        r(
            Method::POST,
            "/v1/services".into(),
            Some(json!({"name": "from-matrix"})),
            true,
        ),
        r(Method::GET, format!("/v1/services/{svc}"), None, false),
        r(
            Method::GET,
            format!("/v1/services/{svc}/api-keys"),
            None,
            false,
        ),
        r(
            Method::POST,
            format!("/v1/services/{svc}/api-keys"),
            Some(json!({})),
            true,
        ),
        r(
            Method::GET,
            format!("/v1/services/{svc}/audit"),
            None,
            false,
        ),
        r(
            Method::GET,
            format!("/v1/services/{svc}/api-keys/{key_id}/usage"),
            None,
            false,
        ),
        r(
            Method::GET,
            format!("/v1/services/{svc}/api-keys/{key_id}/narrowing"),
            None,
            false,
        ),
        r(
            Method::POST,
            "/v1/whois".into(),
            Some(json!({ "key": api_key })),
            false,
        ),
        r(
            Method::PATCH,
            format!("/v1/services/{svc}/api-keys/{key_id}"),
            Some(json!({"name": "renamed-by-matrix"})),
            true,
        ),
        r(
            Method::PATCH,
            format!("/v1/services/{svc}/api-keys/{key_id}"),
            Some(json!({
                "scopes": ["query"],
                "rate_limit": {"requests": 10, "per_seconds": 1},
                "allowed_cidrs": ["127.0.0.0/8", "::1"],
            })),
            true,
        ),
        r(
            Method::POST,
            format!("/v1/services/{svc}/api-keys/{key_id}/rotate"),
            Some(json!({"grace_seconds": 3600})),
            true,
        ),
        r(
            Method::DELETE,
            format!("/v1/services/{svc}/api-keys/{key_id}"),
            None,
            true,
        ),
        r(Method::DELETE, format!("/v1/services/{svc}"), None, true),
    ]
}

#[tokio::test]
async fn every_admin_route_checks_the_token_and_the_role() {
    let server = Server::start();
    let api = Api::new(&server);
    let manager = server.token.clone();
    let viewer = server.create_token("viewer-1", "viewer");
    let revoked = server.create_token("gone", "manager");
    let out = server.tokens(&["revoke", "gone"]);
    assert!(out.status.success());

    let svc = api.create_service_as(&manager, "matrix").await;
    let key = api.issue_as(&manager, &svc).await;
    let key_id = key["id"].as_str().unwrap().to_string();
    let api_key = key["key"].as_str().unwrap().to_string();

    let bad: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("garbage", Some("not-a-token".into())),
        ("empty bearer", Some(String::new())),
        ("wrong checksum", Some(bad_checksum(&manager))),
        ("unknown token", Some(unknown_admin_token())),
        ("an API key", Some(api_key.clone())),
        ("a revoked token", Some(revoked)),
    ];
    for route in routes(&svc, &key_id, &api_key) {
        for (what, token) in &bad {
            let r = api
                .send(
                    route.method.clone(),
                    &route.path,
                    token.as_deref(),
                    route.body.as_ref(),
                    &[],
                )
                .await;
            let msg = r.expect_error(401, "unauthorized");
            assert!(!msg.contains(&api_key), "never echo a key");
            assert!(
                r.header("www-authenticate").is_some(),
                "{} {} with {what}",
                route.method,
                route.path
            );
        }
        let r = api
            .send(
                route.method.clone(),
                &route.path,
                Some(&viewer),
                route.body.as_ref(),
                &[],
            )
            .await;
        if route.manager_only {
            r.expect_error(403, "forbidden");
        } else {
            assert_eq!(
                r.status, 200,
                "viewer on {} {}: {}",
                route.method, route.path, r.text
            );
        }
    }
    // The viewer changed nothing: the key still verifies and the service has one key, with
    // every scope.
    api.verify(&api_key).await.expect(200);
    let list = api
        .get_as(&format!("/v1/services/{svc}/api-keys"), Some(&viewer))
        .await;
    let list = list.expect(200);
    assert_eq!(list["api_keys"].as_array().unwrap().len(), 1);
    assert_eq!(
        list["api_keys"][0]["scopes"],
        json!(["query", "ingest", "manage"])
    );

    // The manager may do everything, in order.
    for route in routes(&svc, &key_id, &api_key) {
        let r = api
            .send(
                route.method.clone(),
                &route.path,
                Some(&manager),
                route.body.as_ref(),
                &[],
            )
            .await;
        assert!(
            (200..300).contains(&r.status.as_u16()),
            "manager on {} {}: {}",
            route.method,
            route.path,
            r.text
        );
    }
    // /healthz and /openapi.json need no token at all.
    api.get_as("/healthz", None).await.expect(200);
    api.get_as("/openapi.json", None).await.expect(200);
}
