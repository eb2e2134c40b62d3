//! docs/api.md, Time: every answer carries `Date` (the service's clock), and lifetimes relative
//! to now are counted on it: `lifetime_seconds` (60 to 31,622,400) as the alternative to
//! `expires_at` on issue, PATCH (enable included) and rotate; both at once is 400.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::Server;
use crate::common::api::{Api, Reply};

const DAY: i64 = 86_400;

/// The answer's `Date`, as unix seconds; fails when it has none or it is not a date.
#[track_caller]
fn date_of(r: &Reply) -> i64 {
    let d = r
        .header("date")
        .unwrap_or_else(|| panic!("no Date on {} {}", r.status, r.text));
    DateTime::parse_from_rfc2822(d)
        .unwrap_or_else(|e| panic!("Date {d:?}: {e}"))
        .timestamp()
}

fn unix(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s:?}: {e}"))
        .with_timezone(&Utc)
        .timestamp()
}

/// `expires_at` lies `secs` after the answer's `Date`, give or take the second it took.
#[track_caller]
fn expires_after(r: &Reply, key: &Value, secs: i64) {
    let left = unix(&key["expires_at"]) - date_of(r);
    assert!(
        (secs - 2..=secs + 2).contains(&left),
        "expires_at {} is {left} s after Date, not {secs}",
        key["expires_at"]
    );
}

#[tokio::test]
async fn every_answer_carries_the_services_date() {
    let server = Server::start();
    let api = Api::new(&server);
    let sid = api.create_service("dated").await;
    let (_, key) = api.issue_ok(&sid).await;
    let now = Utc::now().timestamp();
    let big = "x".repeat(20 * 1024);
    let answers = [
        api.get_public("/healthz").await,
        api.get("/v1/me").await,
        api.get_as("/v1/me", None).await,
        api.get("/v1/services/svc_nope").await,
        api.get("/no/such/route").await,
        api.verify(&key).await,
        api.verify("ragk_nope").await,
        api.issue(&sid, json!({"lifetime_seconds": 5})).await,
        api.post("/v1/services", Some(&api.token), &json!({ "name": big }))
            .await,
    ];
    let statuses: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses, [200, 200, 401, 404, 404, 200, 401, 400, 413]);
    for r in &answers {
        let d = date_of(r);
        assert!((d - now).abs() <= 5, "Date {d} far from {now}: {}", r.text);
    }
}

#[tokio::test]
async fn issue_counts_lifetime_seconds_on_the_services_clock() {
    let server = Server::start_with(&["--key-limit", "20"]);
    let api = Api::new(&server);
    let sid = api.create_service("lifetimes").await;
    for n in [60, 7 * DAY, 365 * DAY, 31_622_400] {
        let r = api.issue(&sid, json!({ "lifetime_seconds": n })).await;
        let key = r.expect(201);
        expires_after(&r, &key, n);
    }
    // Out of range, or given with expires_at: the validation error, naming the field.
    let soon = (Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    for body in [
        json!({"lifetime_seconds": 59}),
        json!({"lifetime_seconds": 0}),
        json!({"lifetime_seconds": 31_622_401}),
        json!({"lifetime_seconds": -60}),
        json!({"lifetime_seconds": "7d"}),
        json!({"lifetime_seconds": 3600, "expires_at": soon}),
    ] {
        let r = api.issue(&sid, body.clone()).await;
        let msg = r.expect_error(400, "invalid_request");
        assert!(msg.contains("lifetime_seconds"), "{body}: {msg}");
    }
    // expires_at alone still works as before.
    api.issue(&sid, json!({ "expires_at": soon }))
        .await
        .expect(201);
}

#[tokio::test]
async fn patch_and_enable_take_lifetime_seconds() {
    let server = Server::start();
    let api = Api::new(&server);
    let sid = api.create_service("patching").await;
    let (kid, _) = api.issue_ok(&sid).await;
    let path = format!("/v1/services/{sid}/api-keys/{kid}");
    let r = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({"lifetime_seconds": 3 * DAY})),
        )
        .await;
    let key = r.expect(200);
    expires_after(&r, &key, 3 * DAY);
    for body in [
        json!({"lifetime_seconds": 3600, "expires_at": null}),
        json!({"lifetime_seconds": 3600, "expires_at": (Utc::now() + chrono::Duration::days(1)).to_rfc3339()}),
        json!({"lifetime_seconds": 10}),
    ] {
        let r = api.call(Method::PATCH, &path, Some(body.clone())).await;
        let msg = r.expect_error(400, "invalid_request");
        assert!(msg.contains("lifetime_seconds"), "{body}: {msg}");
    }
    // Disabled, then enabled with a new lifetime in the same body.
    api.call(Method::PATCH, &path, Some(json!({"enabled": false})))
        .await
        .expect(200);
    let r = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({"enabled": true, "lifetime_seconds": 7 * DAY})),
        )
        .await;
    let key = r.expect(200);
    assert_eq!(key["state"], "active");
    expires_after(&r, &key, 7 * DAY);
}

#[tokio::test]
async fn rotate_gives_the_successor_a_lifetime_or_the_old_one() {
    let server = Server::start();
    let api = Api::new(&server);
    let sid = api.create_service("rotating").await;
    let rotate = |kid: &str, body: Value| {
        let api = api.clone();
        let path = format!("/v1/services/{sid}/api-keys/{kid}/rotate");
        async move { api.call(Method::POST, &path, Some(body)).await }
    };
    // With neither: the old key's lifetime (7 d), counted from now.
    let old = api
        .issue(&sid, json!({"lifetime_seconds": 7 * DAY}))
        .await
        .expect(201);
    let r = rotate(old["id"].as_str().unwrap(), json!({"grace_seconds": 0})).await;
    let next = r.expect(201);
    expires_after(&r, &next, 7 * DAY);
    // With lifetime_seconds: that, from the service's now.
    let r = rotate(
        next["id"].as_str().unwrap(),
        json!({"grace_seconds": 0, "lifetime_seconds": 30 * DAY}),
    )
    .await;
    let third = r.expect(201);
    expires_after(&r, &third, 30 * DAY);
    // With expires_at: that instant.
    let at = Utc::now().timestamp() + 2 * DAY;
    let at_s = chrono::DateTime::from_timestamp(at, 0)
        .unwrap()
        .to_rfc3339();
    let r = rotate(
        third["id"].as_str().unwrap(),
        json!({"grace_seconds": 0, "expires_at": at_s}),
    )
    .await;
    let fourth = r.expect(201);
    assert_eq!(unix(&fourth["expires_at"]), at);
    // Both, or out of range: refused, and the key is not rotated.
    let fid = fourth["id"].as_str().unwrap();
    for body in [
        json!({"grace_seconds": 0, "lifetime_seconds": 3600, "expires_at": at_s}),
        json!({"grace_seconds": 0, "lifetime_seconds": 31_622_401}),
    ] {
        let msg = rotate(fid, body.clone())
            .await
            .expect_error(400, "invalid_request");
        assert!(msg.contains("lifetime_seconds"), "{body}: {msg}");
    }
    let list = api.list(&sid).await;
    assert_eq!(list["api_keys"][0]["id"], fid);
    assert_eq!(list["api_keys"][0]["state"], "active");
}

#[tokio::test]
async fn the_openapi_document_lists_lifetime_seconds() {
    let server = Server::start();
    let doc = Api::new(&server)
        .get_public("/openapi.json")
        .await
        .expect(200);
    for schema in ["IssueApiKey", "UpdateApiKey", "RotateApiKey"] {
        let field = &doc["components"]["schemas"][schema]["properties"]["lifetime_seconds"];
        assert_eq!(field["minimum"], 60, "{schema}: {field}");
        assert_eq!(field["maximum"], 31_622_400, "{schema}: {field}");
    }
}
