//! Keys by state for the metrics scrape (`ragkeys_api_keys{state=…}`): the PostgreSQL store
//! counts them in one query, and must give the SQLite store's answer on the same data, every
//! state and the rules between them (rotated beats disabled beats expired) included.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::api::{Api, read};
use crate::common::{Replicas, Server};
use reqwest::Method;
use serde_json::json;

/// Where the service said it serves metrics: its log line `metrics on http://ADDR/metrics`.
fn metrics_url(srv: &Server) -> String {
    let log = srv.log();
    let after = log.split("metrics on ").nth(1);
    let url = after.and_then(|rest| rest.split_whitespace().next());
    url.unwrap_or_else(|| panic!("no 'metrics on' line in the log:\n{log}"))
        .trim_end_matches(['"', ',', ')'])
        .to_string()
}

/// The `ragkeys_api_keys` samples of one scrape, by their `state` label.
async fn key_gauges(url: &str) -> BTreeMap<String, f64> {
    let r = read(reqwest::get(url).await.expect("scrape")).await;
    assert_eq!(r.status, 200, "scrape: {}", r.text);
    r.text
        .lines()
        .filter_map(|l| l.strip_prefix("ragkeys_api_keys{state=\""))
        .map(|l| {
            let (state, value) = l.split_once("\"} ").expect("a labelled sample");
            (state.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

/// The same keys on any store: two services; active, disabled, expired, disabled and expired,
/// rotating (and its active successor), and a deleted key. Returns the keys that are to expire
/// (service id, key id), once they have.
async fn populate(api: &Api) -> Vec<(String, String)> {
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(3))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let a = api.create_service("counts-a").await;
    let b = api.create_service("counts-b").await;
    let (_active, _) = api.issue_ok(&a).await;
    let (disabled, _) = api.issue_ok(&a).await;
    let (rotated, _) = api.issue_ok(&b).await;
    let (deleted, _) = api.issue_ok(&b).await;
    let mut expiring = Vec::new();
    for sid in [&a, &b] {
        let r = api.issue(sid, json!({ "expires_at": soon })).await;
        assert_eq!(r.status, 201, "{}", r.text);
        expiring.push(r.json()["id"].as_str().unwrap().to_owned());
    }
    let (expired, both) = (expiring[0].clone(), expiring[1].clone());
    for (sid, kid) in [(&a, &disabled), (&b, &both)] {
        let path = format!("/v1/services/{sid}/api-keys/{kid}");
        let r = api
            .call(Method::PATCH, &path, Some(json!({"enabled": false})))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let path = format!("/v1/services/{b}/api-keys/{rotated}/rotate");
    let r = api
        .call(Method::POST, &path, Some(json!({"grace_seconds": 3600})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(api.delete_key(&b, &deleted).await.status, 204);
    vec![(a, expired), (b, both)]
}

/// Waits (generously) until every key of `keys` has passed its expiry as the list reports it.
async fn until_expired(api: &Api, keys: &[(String, String)]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for (sid, kid) in keys {
        loop {
            let list = api.list(sid).await;
            let key = list["api_keys"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["id"] == kid.as_str())
                .expect("the key is listed")
                .clone();
            if key["state"] == "expired" || key["state"] == "disabled" && passed(&key) {
                break;
            }
            assert!(Instant::now() < deadline, "{kid} never expired: {key}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// True once `key`'s `expires_at` is in the past.
fn passed(key: &serde_json::Value) -> bool {
    let at = key["expires_at"].as_str().expect("an expiry");
    chrono::DateTime::parse_from_rfc3339(at).unwrap() < chrono::Utc::now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_by_state_on_postgresql_are_what_sqlite_counts_on_the_same_data() {
    let metrics = ["--metrics-listen", "127.0.0.1:0"];
    let sqlite = Server::start_with(&metrics);
    let pg = Replicas::start(1, &metrics);
    let on_sqlite = Api::new(&sqlite);
    let on_pg = Api::new(&pg.servers[0]).as_token(&pg.token);
    let expiring = populate(&on_sqlite).await;
    let expiring_pg = populate(&on_pg).await;
    until_expired(&on_sqlite, &expiring).await;
    until_expired(&on_pg, &expiring_pg).await;

    let want = key_gauges(&metrics_url(&sqlite)).await;
    let expected: BTreeMap<String, f64> = [
        ("active", 2.0),
        ("disabled", 2.0),
        ("expired", 1.0),
        ("rotating", 1.0),
    ]
    .into_iter()
    .map(|(s, n)| (s.to_string(), n))
    .collect();
    assert_eq!(want, expected, "the SQLite store's counts");
    let got = key_gauges(&metrics_url(&pg.servers[0])).await;
    assert_eq!(got, want, "PostgreSQL counts as SQLite does");
}
