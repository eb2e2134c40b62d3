//! `GET …/api-keys/{key_id}/usage` (docs/api.md, Usage): N verifications show as N `ok` at once,
//! refused ones of a disabled or expired key, `last_used_from`, the shape, and the 404s. Nothing
//! here depends on the clock: an hour that turns mid-test is noticed and allowed for.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::{Value, json};

use super::backend::Server;
use crate::common::api::{Api, unknown_api_key};

fn hour_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    secs / 3600 * 3600
}

fn unix(rfc3339: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339.as_str().expect("a time string"))
        .expect("RFC 3339")
        .timestamp()
}

fn members(v: &Value) -> Vec<&str> {
    let mut m: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    m.sort_unstable();
    m
}

fn total(series: &Value, field: &str) -> u64 {
    series
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b[field].as_u64().expect("a count"))
        .sum()
}

async fn usage(api: &Api, token: &str, sid: &str, kid: &str) -> Value {
    api.get_as(
        &format!("/v1/services/{sid}/api-keys/{kid}/usage"),
        Some(token),
    )
    .await
    .expect(200)
    .clone()
}

/// Checks the documented shape: 24 hourly and 30 daily buckets, oldest first, consecutive,
/// the last one holding now; exactly the documented members.
fn check_shape(u: &Value, kid: &str) {
    assert_eq!(
        members(u),
        [
            "days",
            "hours",
            "key_id",
            "last_used_at",
            "last_used_from",
            "networks",
            "networks_truncated",
            "recorded_since",
            "scopes_used"
        ],
        "{u}"
    );
    assert_eq!(u["key_id"], kid);
    for (series, len, width) in [("hours", 24, 3600), ("days", 30, 86_400)] {
        let b = u[series].as_array().unwrap();
        assert_eq!(b.len(), len, "{series}: {u}");
        for w in b.windows(2) {
            assert_eq!(
                unix(&w[1]["start"]) - unix(&w[0]["start"]),
                width,
                "{series}"
            );
        }
        for x in b {
            assert_eq!(
                members(x),
                ["denied", "limited", "ok", "refused", "start"],
                "{x}"
            );
            assert!(x["start"].as_str().unwrap().ends_with('Z'), "{x}");
        }
        // The last bucket holds the moment of the answer (a little before now).
        let last = unix(&b[len - 1]["start"]);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(
            last <= now && now - last < width + 600,
            "{series} ends at {last}"
        );
        assert_eq!(
            last % width,
            0,
            "{series} starts on the hour / UTC midnight"
        );
    }
}

#[tokio::test]
async fn n_verifications_show_as_n_ok_in_the_current_hour_at_once() {
    let server = Server::start();
    let api = Api::new(&server);
    let t = &server.token;
    let sid = api.create_service_as(t, "usage-n").await;
    let key = api.issue_as(t, &sid).await;
    let (kid, plain) = (key["id"].as_str().unwrap(), key["key"].as_str().unwrap());
    let fresh = usage(&api, t, &sid, kid).await;
    check_shape(&fresh, kid);
    assert_eq!(
        (total(&fresh["hours"], "ok"), total(&fresh["days"], "ok")),
        (0, 0)
    );
    assert_eq!(fresh["last_used_at"], Value::Null);
    assert_eq!(fresh["last_used_from"], Value::Null);

    let hour_before = hour_now();
    const N: u64 = 37;
    for _ in 0..N {
        api.verify(plain).await.expect(200);
    }
    // An unknown key counts nowhere.
    api.verify(&unknown_api_key())
        .await
        .expect_error(401, "invalid_api_key");
    // No wait: the answering process adds what it has not written yet.
    let u = usage(&api, t, &sid, kid).await;
    check_shape(&u, kid);
    assert_eq!(total(&u["hours"], "ok"), N, "{u}");
    assert_eq!(total(&u["days"], "ok"), N, "{u}");
    assert_eq!(
        total(&u["hours"], "refused") + total(&u["days"], "refused"),
        0
    );
    if hour_now() == hour_before {
        assert_eq!(u["hours"][23]["ok"], N, "all in the current hour: {u}");
        assert_eq!(unix(&u["hours"][23]["start"]), hour_before);
    }
    assert_eq!(u["last_used_from"], "127.0.0.1", "{u}");
    let used = unix(&u["last_used_at"]);
    assert!((hour_before..=hour_now() + 3600).contains(&used), "{u}");
    // Asking again counts nothing twice.
    assert_eq!(total(&usage(&api, t, &sid, kid).await["hours"], "ok"), N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_verifications_are_each_counted_once() {
    let server = Server::start();
    let api = Api::new(&server);
    let t = &server.token;
    let sid = api.create_service_as(t, "usage-many").await;
    let key = api.issue_as(t, &sid).await;
    let (kid, plain) = (key["id"].as_str().unwrap(), key["key"].as_str().unwrap());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (base, plain) = (api.base.clone(), plain.to_string());
        tasks.push(tokio::spawn(async move {
            let api = Api::at(base);
            for _ in 0..40 {
                api.verify(&plain).await.expect(200);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let u = usage(&api, t, &sid, kid).await;
    assert_eq!(total(&u["hours"], "ok"), 320, "{u}");
    assert_eq!(total(&u["days"], "ok"), 320, "{u}");
}

#[tokio::test]
async fn a_disabled_and_an_expired_key_are_counted_refused() {
    // Polling an expiry makes refusals: keep them clear of the per-address limit.
    let server = Server::start_with(&["--verify-failures-per-minute", "100000"]);
    let api = Api::new(&server);
    let t = &server.token;
    let sid = api.create_service_as(t, "usage-refused").await;

    let key = api.issue_as(t, &sid).await;
    let (kid, plain) = (key["id"].as_str().unwrap(), key["key"].as_str().unwrap());
    for _ in 0..2 {
        api.verify(plain).await.expect(200);
    }
    let path = format!("/v1/services/{sid}/api-keys/{kid}");
    api.send(
        Method::PATCH,
        &path,
        Some(t),
        Some(&json!({"enabled": false})),
        &[],
    )
    .await
    .expect(200);
    for _ in 0..3 {
        api.verify(plain).await.expect_error(401, "invalid_api_key");
    }
    let u = usage(&api, t, &sid, kid).await;
    assert_eq!(
        (total(&u["hours"], "ok"), total(&u["hours"], "refused")),
        (2, 3),
        "{u}"
    );
    assert_eq!(
        (total(&u["days"], "ok"), total(&u["days"], "refused")),
        (2, 3),
        "{u}"
    );

    // A key that expires two seconds from now: every answer seen is counted as what it was.
    let expires = chrono::Utc::now() + chrono::Duration::seconds(3);
    let r = api
        .post(
            &format!("/v1/services/{sid}/api-keys"),
            Some(t),
            &json!({"expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}),
        )
        .await;
    let key = r.expect(201).clone();
    let (kid, plain) = (key["id"].as_str().unwrap(), key["key"].as_str().unwrap());
    let (mut ok, mut refused) = (0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(60);
    while refused < 3 {
        assert!(Instant::now() < deadline, "the key never expired");
        let r = api.verify(plain).await;
        match r.status.as_u16() {
            200 => ok += 1,
            401 => refused += 1,
            other => panic!("verify answered {other}: {}", r.text),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let u = usage(&api, t, &sid, kid).await;
    assert_eq!(
        (total(&u["hours"], "ok"), total(&u["hours"], "refused")),
        (ok, refused),
        "{u}"
    );
    let listed = api
        .get_as(&format!("/v1/services/{sid}/api-keys"), Some(t))
        .await
        .expect(200)
        .clone();
    let state = listed["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == kid)
        .map(|k| k["state"].clone());
    assert_eq!(state, Some(json!("expired")));
}

#[tokio::test]
async fn usage_answers_404_as_the_other_key_routes_and_any_admin_may_read_it() {
    let server = Server::start();
    let api = Api::new(&server);
    let t = &server.token;
    let sid = api.create_service_as(t, "usage-404").await;
    let key = api.issue_as(t, &sid).await;
    let kid = key["id"].as_str().unwrap();
    let viewer = server.create_token("usage-viewer", "viewer");
    check_shape(&usage(&api, &viewer, &sid, kid).await, kid);
    api.get_as(&format!("/v1/services/{sid}/api-keys/{kid}/usage"), None)
        .await
        .expect_error(401, "unauthorized");
    api.get_as(
        &format!("/v1/services/{sid}/api-keys/key_nope/usage"),
        Some(t),
    )
    .await
    .expect_error(404, "api_key_not_found");
    api.get_as(
        &format!("/v1/services/svc_nope/api-keys/{kid}/usage"),
        Some(t),
    )
    .await
    .expect_error(404, "service_not_found");
    api.delete(&format!("/v1/services/{sid}/api-keys/{kid}"), Some(t))
        .await
        .expect(204);
    api.get_as(&format!("/v1/services/{sid}/api-keys/{kid}/usage"), Some(t))
        .await
        .expect_error(404, "api_key_not_found");
    let doc = api.get_as("/openapi.json", None).await.expect(200).clone();
    let op = &doc["paths"]["/v1/services/{service_id}/api-keys/{key_id}/usage"]["get"];
    for status in ["200", "401", "404"] {
        assert!(op["responses"][status].is_object(), "{status}: {op}");
    }
    assert!(doc["components"]["schemas"]["Usage"].is_object());
}
