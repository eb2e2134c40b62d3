//! Helpers of the key lifecycle suites: PATCH, rotate, the clock of the service's answers.

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::api::{Api, Reply, read};

/// Verification failures are part of these tests: the per-address limit must not interfere.
pub const FLAGS: &[&str] = &["--verify-failures-per-minute", "1000000"];

/// RFC 3339 for `secs` seconds from now (negative: in the past).
pub fn rfc3339_in(secs: i64) -> String {
    (Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn unix_of(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("an RFC 3339 time")
        .timestamp()
}

pub async fn patch(api: &Api, sid: &str, kid: &str, body: Value) -> Reply {
    api.call(
        Method::PATCH,
        &format!("/v1/services/{sid}/api-keys/{kid}"),
        Some(body),
    )
    .await
}

/// PATCH with a raw body (possibly empty).
pub async fn patch_raw(api: &Api, sid: &str, kid: &str, body: &str) -> Reply {
    let req = api
        .http
        .patch(api.url(&format!("/v1/services/{sid}/api-keys/{kid}")))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body(body.to_string());
    read(req.send().await.expect("request reaches the service")).await
}

pub async fn rotate(api: &Api, sid: &str, kid: &str, grace: i64) -> Reply {
    api.call(
        Method::POST,
        &format!("/v1/services/{sid}/api-keys/{kid}/rotate"),
        Some(json!({ "grace_seconds": grace })),
    )
    .await
}

pub async fn rotate_idem(api: &Api, sid: &str, kid: &str, grace: i64, idem: &str) -> Reply {
    let path = format!("/v1/services/{sid}/api-keys/{kid}/rotate");
    let body = json!({ "grace_seconds": grace });
    api.call_idem(Method::POST, &path, body, idem).await
}

/// The listed key `kid`, if listed.
pub async fn listed(api: &Api, sid: &str, kid: &str) -> Option<Value> {
    api.list(sid).await["api_keys"]
        .as_array()
        .expect("api_keys")
        .iter()
        .find(|k| k["id"] == kid)
        .cloned()
}

/// The service's audit events with this action (and key, when given).
pub async fn audit_events(api: &Api, sid: &str, action: &str, kid: Option<&str>) -> Vec<Value> {
    let r = api.get(&format!("/v1/services/{sid}/audit")).await;
    assert_eq!(r.status, 200, "audit: {}", r.text);
    r.json()["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["action"] == action && kid.is_none_or(|k| e["key_id"] == k))
        .cloned()
        .collect()
}

/// Verifies `key` until it is refused, checking the rule of a deadline at the unix second
/// `end`: every verification that finished before `end` answered 200, every one that started
/// at or after `end` answered 401. Returns once a 401 is seen (panics after 60 s).
pub async fn watch_until_refused(api: &Api, key: &str, end: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let started = Utc::now();
        let r = api.verify(key).await;
        let finished = Utc::now();
        match r.status.as_u16() {
            200 => assert!(
                started.timestamp() < end,
                "verified at {started} although it ends at {end}: {}",
                r.text
            ),
            401 => {
                assert!(
                    finished.timestamp() >= end,
                    "refused at {finished}, before its end {end}: {}",
                    r.text
                );
                r.expect_error(401, "invalid_api_key");
                return;
            }
            s => panic!("unexpected {s}: {}", r.text),
        }
        assert!(Instant::now() < deadline, "still verifying after 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
