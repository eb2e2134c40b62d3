//! `ragkeys serve --metrics-listen` (docs/operating.md; docs/operating.md): a scrape
//! after a scripted set of calls shows each counter moved by exactly what was done, the scrape
//! holds no key, key id, masked key or token, and `/metrics` is not served on the API listener.

use crate::common;
use std::collections::HashMap;

use crate::common::Server;
use crate::common::api::{Api, read};
use reqwest::Method;
use serde_json::json;

/// Where the service said it serves metrics (its log line `metrics on http://ADDR/metrics`).
pub(crate) fn metrics_url(srv: &Server) -> String {
    let log = srv.log();
    let line = log
        .lines()
        .find(|l| l.contains("metrics on http://"))
        .unwrap_or_else(|| panic!("no 'metrics on' line in the log:\n{log}"));
    let rest = &line[line.find("http://").unwrap()..];
    let url: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '/'))
        .collect();
    assert!(url.ends_with("/metrics"), "{line}");
    url
}

/// One scrape: its text, and every sample as `series → value` (series as rendered, labels included).
pub(crate) async fn scrape(http: &reqwest::Client, url: &str) -> (String, HashMap<String, f64>) {
    let r = read(http.get(url).send().await.expect("scrape")).await;
    assert_eq!(r.status, 200, "scrape: {}", r.text);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        r.headers
    );
    let samples = r
        .text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample line");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect();
    (r.text, samples)
}

fn requests(route: &str, method: &str, status: u16) -> String {
    format!(r#"ragkeys_http_requests_total{{route="{route}",method="{method}",status="{status}"}}"#)
}

fn moved(before: &HashMap<String, f64>, after: &HashMap<String, f64>, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_by_exactly_the_calls_made_and_hold_no_secret() {
    const REFUSALS_ALLOWED: u32 = 4;
    let srv = Server::start_with(&[
        "--metrics-listen",
        "127.0.0.1:0",
        "--verify-failures-per-minute",
        &REFUSALS_ALLOWED.to_string(),
    ]);
    let url = metrics_url(&srv);
    let api = Api::new(&srv);
    let http = common::http();

    // Setup, before the first scrape: one service, a key to verify, one to disable, one to delete.
    let sid = api.create_service("metrics").await;
    let (kid, key) = api.issue_ok(&sid).await;
    let (off_kid, off_key) = api.issue_ok(&sid).await;
    let (gone_kid, gone_key) = api.issue_ok(&sid).await;
    // A key that may only query, once an hour.
    let r = api
        .issue(
            &sid,
            json!({"scopes": ["query"], "rate_limit": {"requests": 1, "per_seconds": 3600}}),
        )
        .await;
    let narrow_key = r.expect(201)["key"].as_str().unwrap().to_string();

    let (_, before) = scrape(&http, &url).await;

    // The script.
    const OK: usize = 5;
    const RATE_LIMITED: usize = 3;
    for _ in 0..OK {
        let r = api.verify(&key).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = api
        .call(
            Method::PATCH,
            &format!("/v1/services/{sid}/api-keys/{off_kid}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, 200, "disable: {}", r.text);
    assert_eq!(api.delete_key(&sid, &gone_kid).await.status, 204);
    assert_eq!(
        api.list(&sid).await["api_keys"].as_array().unwrap().len(),
        3
    );
    // The narrow key: outside its scope (denied), its one call, then over its limit (limited).
    const DENIED: usize = 2;
    let narrow = |query: &'static str| {
        let req = http
            .get(api.url(&format!("/v1/verify{query}")))
            .header("authorization", format!("Bearer {narrow_key}"));
        async move { read(req.send().await.unwrap()).await }
    };
    for _ in 0..DENIED {
        narrow("?scope=ingest")
            .await
            .expect_error(403, "insufficient_scope");
    }
    narrow("?scope=query").await.expect(200);
    narrow("?scope=query")
        .await
        .expect_error(429, "rate_limited");
    // A malformed scope is 400 before any lookup and counts toward nothing: no outcome.
    const MALFORMED: [&str; 3] = ["?scope=bogus", "?scope=", "?scope=query&scope=query"];
    for query in MALFORMED {
        narrow(query).await.expect_error(400, "invalid_request");
    }
    api.get("/v1/services/svc_nosuchservice")
        .await
        .expect_error(404, "service_not_found");
    api.get("/v1/no-such-route")
        .await
        .expect_error(404, "not_found");
    // Not on the API listener: a 404 like any unknown route (and counted as one).
    let r = read(http.get(api.url("/metrics")).send().await.unwrap()).await;
    r.expect_error(404, "not_found");
    // Refusals: a disabled key (counted as refused, but not against the address), a deleted
    // key, garbage; then the limiter answers 429.
    const STOPPED: usize = 2;
    for _ in 0..STOPPED {
        api.verify(&off_key)
            .await
            .expect_error(401, "invalid_api_key");
    }
    let unknown = common::api::unknown_api_key();
    let refused_keys = [gone_key.as_str(), "ragk_nonsense", &unknown, "ragk_"];
    assert_eq!(refused_keys.len(), REFUSALS_ALLOWED as usize);
    for k in refused_keys {
        api.verify(k).await.expect_error(401, "invalid_api_key");
    }
    for _ in 0..RATE_LIMITED {
        api.verify(&key).await.expect_error(429, "rate_limited");
    }

    let (text, after) = scrape(&http, &url).await;
    let d = |series: &str| moved(&before, &after, series);
    let refused = (REFUSALS_ALLOWED as usize + STOPPED) as f64;
    assert_eq!(d(r#"ragkeys_verify_total{outcome="ok"}"#), (OK + 1) as f64);
    assert_eq!(d(r#"ragkeys_verify_total{outcome="refused"}"#), refused);
    assert_eq!(
        d(r#"ragkeys_verify_total{outcome="denied"}"#),
        DENIED as f64
    );
    assert_eq!(d(r#"ragkeys_verify_total{outcome="limited"}"#), 1.0);
    assert_eq!(
        d(r#"ragkeys_verify_total{outcome="rate_limited"}"#),
        RATE_LIMITED as f64
    );
    assert_eq!(d(r#"ragkeys_verify_total{outcome="unavailable"}"#), 0.0);
    assert_eq!(d(&requests("/v1/verify", "GET", 200)), (OK + 1) as f64);
    assert_eq!(d(&requests("/v1/verify", "GET", 401)), refused);
    assert_eq!(
        d(&requests("/v1/verify", "GET", 400)),
        MALFORMED.len() as f64
    );
    assert_eq!(d(&requests("/v1/verify", "GET", 403)), DENIED as f64);
    assert_eq!(
        d(&requests("/v1/verify", "GET", 429)),
        (RATE_LIMITED + 1) as f64
    );
    let key_route = "/v1/services/{service_id}/api-keys/{key_id}";
    assert_eq!(d(&requests(key_route, "PATCH", 200)), 1.0);
    assert_eq!(d(&requests(key_route, "DELETE", 204)), 1.0);
    assert_eq!(
        d(&requests("/v1/services/{service_id}/api-keys", "GET", 200)),
        1.0
    );
    assert_eq!(
        d(&requests("/v1/services/{service_id}/api-keys", "POST", 201)),
        0.0
    );
    assert_eq!(d(&requests("/v1/services/{service_id}", "GET", 404)), 1.0);
    assert_eq!(d(&requests("unmatched", "GET", 404)), 2.0);
    assert_eq!(d("ragkeys_store_errors_total"), 0.0);
    let verifies =
        (OK + REFUSALS_ALLOWED as usize + STOPPED + RATE_LIMITED + DENIED + 2 + MALFORMED.len())
            as f64;
    assert_eq!(
        d(r#"ragkeys_http_request_duration_seconds_count{route="/v1/verify"}"#),
        verifies
    );
    // The setup's four issues were counted before the first scrape, not after.
    assert_eq!(
        after[&requests("/v1/services/{service_id}/api-keys", "POST", 201)],
        4.0
    );
    // Keys by state, read at scrape time: the two verified keys, the disabled one; the deleted one is gone.
    assert_eq!(after[r#"ragkeys_api_keys{state="active"}"#], 2.0);
    assert_eq!(after[r#"ragkeys_api_keys{state="disabled"}"#], 1.0);
    assert_eq!(after[r#"ragkeys_api_keys{state="expired"}"#], 0.0);
    assert_eq!(after[r#"ragkeys_api_keys{state="rotating"}"#], 0.0);
    assert!(after.contains_key("process_start_time_seconds"));
    // A single process on SQLite holds no lease: the replicas' gauge is absent, not 0.
    assert!(!text.contains("ragkeys_replica_lease_valid "), "{text}");

    // No secret and no identifier in the scrape: labels carry templates only.
    let masked = |k: &str| format!("{}********{}", &k[..9], &k[k.len() - 4..]);
    for secret in [
        key.as_str(),
        &narrow_key,
        &off_key,
        &gone_key,
        &masked(&key),
        &masked(&off_key),
        &srv.token,
        &masked(&srv.token),
        &kid,
        &off_kid,
        &gone_kid,
        &sid,
        "svc_nosuchservice",
        "no-such-route",
        "ragk_",
        "ragadm_",
    ] {
        assert!(
            !text.contains(secret),
            "the scrape shows {secret:?}:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_off_by_default_and_the_listener_serves_nothing_else() {
    let srv = Server::start();
    assert!(!srv.log().contains("metrics on"), "{}", srv.log());
    let api = Api::new(&srv);
    let r = read(
        common::http()
            .get(api.url("/metrics"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect_error(404, "not_found");

    let on = Server::start_with(&["--metrics-listen", "127.0.0.1:0"]);
    let url = metrics_url(&on);
    let http = common::http();
    let other = url.replace("/metrics", "/v1/verify");
    let r = read(http.get(&other).send().await.unwrap()).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = read(http.post(&url).send().await.unwrap()).await;
    assert_eq!(r.status, 405, "{}", r.text);
}
