//! `GET /v1/audit` and `POST /v1/whois` (docs/api.md, issue 9), from outside: a real
//! `ragkeys serve`, real HTTP. Paging through 250 events while new ones arrive, the filters, a
//! deleted service's events, whois in every key state, the uniform 404, the shared failure
//! limit, and the audit event every lookup leaves.

use crate::common;
use crate::common::Server;
use crate::common::api::{Api, Reply};
use reqwest::Method;
use serde_json::{Value, json};

fn events(v: &Value) -> Vec<Value> {
    v["events"].as_array().expect("events is an array").clone()
}

async fn audit(api: &Api, query: &str) -> Value {
    let r = api.get(&format!("/v1/audit{query}")).await;
    assert_eq!(r.status, 200, "GET /v1/audit{query}: {}", r.text);
    r.json()
}

async fn whois(api: &Api, key: &str) -> Reply {
    api.call(Method::POST, "/v1/whois", Some(json!({ "key": key })))
        .await
}

fn masked(plain: &str) -> String {
    ragkeys::credential::mask(plain)
}

/// The whois events of the whole trail, newest first.
async fn whois_events(api: &Api) -> Vec<Value> {
    events(&audit(api, "?action=api_key.whois&limit=500").await)
}

/// `s` with its last character changed: the checksum no longer matches.
fn bad_checksum(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_pages_through_250_events_newest_first_and_stays_stable_while_new_ones_arrive() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let before = events(&audit(&api, "?limit=500").await).len();
    assert!(before < 250, "{before} events before the test");
    // Distinct events: one service.create each, each naming its own service.
    for i in 0..(250 - before) {
        api.create_service(&format!("page-{i:03}")).await;
    }
    let all = audit(&api, "?limit=500").await;
    assert!(
        all["next"].is_null(),
        "everything fits in 500: {}",
        all["next"]
    );
    let all = events(&all);
    assert_eq!(all.len(), 250);
    let ids: Vec<&str> = all
        .iter()
        .filter_map(|e| e["service_id"].as_str())
        .collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 250, "every event names its own service");
    // Newest first: the last service created is the first event.
    let newest = api.get("/v1/services").await.json()["services"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["id"]
        .clone();
    assert_eq!(all[0]["service_id"], newest);
    assert_eq!(all[0]["action"], "service.create");

    let p1 = audit(&api, "?limit=100").await;
    let next1 = p1["next"]
        .as_str()
        .expect("a next cursor after page 1")
        .to_string();
    // New events arrive between pages: they belong before page 1, never in pages 2 and 3.
    for i in 0..3 {
        api.create_service(&format!("late-{i}")).await;
    }
    let p2 = audit(&api, &format!("?limit=100&before={next1}")).await;
    let next2 = p2["next"]
        .as_str()
        .expect("a next cursor after page 2")
        .to_string();
    let p3 = audit(&api, &format!("?limit=100&before={next2}")).await;
    assert!(p3["next"].is_null(), "page 3 is the last: {}", p3["next"]);
    let (p1, p2, p3) = (events(&p1), events(&p2), events(&p3));
    assert_eq!((p1.len(), p2.len(), p3.len()), (100, 100, 50));
    let paged: Vec<Value> = p1.into_iter().chain(p2).chain(p3).collect();
    assert_eq!(
        paged, all,
        "the pages, in order, are the trail: none repeated, none missing"
    );
    // The late events are in the trail, in front.
    let now = events(&audit(&api, "?limit=3").await);
    assert!(now.iter().all(|e| e["action"] == "service.create"));
    assert!(
        !paged.iter().any(|e| now.contains(e)),
        "a late event leaked into a later page"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_order_oldest_pages_from_the_oldest_event_with_the_same_opaque_cursor() {
    let srv = Server::start();
    let api = Api::new(&srv);
    for i in 0..30 {
        api.create_service(&format!("old-{i:02}")).await;
    }
    let newest = events(&audit(&api, "?limit=500").await);
    let mut oldest_first = newest.clone();
    oldest_first.reverse();
    // `newest` is the default and may be named.
    assert_eq!(
        events(&audit(&api, "?order=newest&limit=500").await),
        newest
    );
    // One request reaches the oldest event, whatever the trail's length.
    let p1 = audit(&api, "?order=oldest&limit=10").await;
    assert_eq!(events(&p1), oldest_first[..10].to_vec());
    // `next` goes back as `before` and pages on toward the newest, none repeated or missing.
    let mut paged = events(&p1);
    let mut next = p1["next"].as_str().map(str::to_owned);
    while let Some(n) = next {
        let p = audit(&api, &format!("?order=oldest&limit=10&before={n}")).await;
        paged.extend(events(&p));
        next = p["next"].as_str().map(str::to_owned);
    }
    assert_eq!(paged, oldest_first);
    // The filters hold in this order too.
    let creates = events(&audit(&api, "?order=oldest&action=service.create&limit=500").await);
    assert!(creates.iter().all(|e| e["action"] == "service.create"));
    assert_eq!(
        creates.first(),
        oldest_first
            .iter()
            .find(|e| e["action"] == "service.create")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_filters_by_service_and_action_and_keeps_a_deleted_services_events() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let a = api.create_service("filter-a").await;
    let b = api.create_service("filter-b").await;
    let (ka, _) = api.issue_ok(&a).await;
    assert_eq!(api.delete_key(&a, &ka).await.status, 204);
    api.issue_ok(&a).await;
    api.issue_ok(&b).await;
    let r = api
        .call(Method::DELETE, &format!("/v1/services/{a}"), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);

    // The service's own trail is gone with it; the whole trail keeps its events.
    let gone = api.get(&format!("/v1/services/{a}/audit")).await;
    gone.expect_error(404, "service_not_found");
    let of_a = events(&audit(&api, &format!("?service_id={a}")).await);
    let actions: Vec<&str> = of_a.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "service.delete",
            "api_key.issue",
            "api_key.delete",
            "api_key.issue",
            "service.create"
        ]
    );
    assert!(of_a.iter().all(|e| e["service_id"] == a.as_str()));

    let issues = events(&audit(&api, "?action=api_key.issue").await);
    assert_eq!(issues.len(), 3, "{issues:?}");
    assert!(issues.iter().all(|e| e["action"] == "api_key.issue"));
    assert_eq!(issues[0]["service_id"], b.as_str(), "newest first");

    let both = events(&audit(&api, &format!("?service_id={b}&action=api_key.issue")).await);
    assert_eq!(both.len(), 1);
    assert_eq!(both[0]["service_id"], b.as_str());
    let none = audit(&api, "?service_id=svc_never_existed").await;
    assert_eq!(events(&none).len(), 0);
    assert!(none["next"].is_null());

    // A small limit pages the filtered trail too.
    let p1 = audit(&api, &format!("?service_id={a}&limit=2")).await;
    assert_eq!(events(&p1).len(), 2);
    let next = p1["next"].as_str().unwrap();
    let p2 = events(&audit(&api, &format!("?service_id={a}&limit=2&before={next}")).await);
    assert_eq!(p2, of_a[2..4].to_vec());

    for (query, says) in [
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
        ("?limit=ten", "limit"),
        ("?action=api_key.explode", "action"),
        ("?before=garbage", "before"),
        ("?before=e1x", "before"),
        ("?colour=red", "colour"),
        ("?limit=5&limit=6", "limit"),
        ("?service_id=", "service_id"),
        ("?order=", "order"),
        ("?order=ascending", "order"),
        ("?order=oldest&order=newest", "order"),
    ] {
        let r = api.get(&format!("/v1/audit{query}")).await;
        let msg = r.expect_error(400, "invalid_request");
        assert!(msg.contains(says), "{query}: {msg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whois_finds_live_disabled_and_rotating_keys_and_audits_each_with_the_masked_key() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let viewer = api.as_token(&srv.create_token("finder", "viewer"));
    let sid = api.create_service("whois-owner").await;
    let (live_id, live) = api.issue_ok(&sid).await;
    let (off_id, off) = api.issue_ok(&sid).await;
    let r = api
        .call(
            Method::PATCH,
            &format!("/v1/services/{sid}/api-keys/{off_id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (old_id, old) = api.issue_ok(&sid).await;
    let r = api
        .call(
            Method::POST,
            &format!("/v1/services/{sid}/api-keys/{old_id}/rotate"),
            Some(json!({"grace_seconds": 3600})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    for (plain, id, state) in [
        (&live, &live_id, "active"),
        (&off, &off_id, "disabled"),
        (&old, &old_id, "rotating"),
    ] {
        let r = whois(&viewer, plain).await;
        assert_eq!(r.status, 200, "{state}: {}", r.text);
        assert!(
            !r.text.contains(plain.as_str()),
            "the answer echoes the key"
        );
        let v = r.json();
        assert_eq!(v["service_id"], sid.as_str());
        assert_eq!(v["service_name"], "whois-owner");
        assert_eq!(v["api_key"]["id"], id.as_str());
        assert_eq!(v["api_key"]["state"], state);
        assert_eq!(v["api_key"]["masked"], masked(plain));
        let mut members: Vec<&String> = v.as_object().unwrap().keys().collect();
        members.sort();
        assert_eq!(members, ["api_key", "service_id", "service_name"]);
    }

    let trail = whois_events(&api).await;
    assert_eq!(trail.len(), 3, "one event per lookup: {trail:?}");
    for (e, (plain, id)) in trail
        .iter()
        .zip([(&old, &old_id), (&off, &off_id), (&live, &live_id)])
    {
        assert_eq!(e["masked"], masked(plain));
        assert_eq!(e["key_id"], id.as_str());
        assert_eq!(e["service_id"], sid.as_str());
        assert_eq!(e["actor"], "finder");
        assert_eq!(e["role"], "viewer");
        assert_eq!(e["remote_addr"], "127.0.0.1");
        assert_eq!(e["outcome"], "ok");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whois_answers_unknown_deleted_and_garbage_alike_and_garbage_touches_no_storage() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let sid = api.create_service("whois-gone").await;
    let (gone_id, gone) = api.issue_ok(&sid).await;
    assert_eq!(api.delete_key(&sid, &gone_id).await.status, 204);
    let unknown = ragkeys::credential::generate(ragkeys::credential::Kind::ApiKey)
        .expose()
        .to_string();
    let (_, live) = api.issue_ok(&sid).await;
    let garbage = bad_checksum(&live);

    let mut bodies = Vec::new();
    for key in [&gone, &unknown, &garbage, &"ragk_short".to_string()] {
        let r = whois(&api, key).await;
        r.expect_error(404, "api_key_not_found");
        assert!(!r.text.contains(key.as_str()), "the answer echoes the key");
        bodies.push(r.json());
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "one answer for all: {bodies:?}"
    );

    // The deleted and the unknown key were looked up and audited; the garbage was refused
    // from memory: no lookup, no write, so no event with its mask.
    let trail = whois_events(&api).await;
    let masks: Vec<&str> = trail.iter().filter_map(|e| e["masked"].as_str()).collect();
    assert_eq!(masks, [masked(&unknown), masked(&gone)], "{trail:?}");
    for e in &trail {
        assert_eq!(e["outcome"], "api_key_not_found");
        assert!(e["key_id"].is_null());
    }
    assert!(!masks.contains(&masked(&garbage).as_str()));

    // Bodies that are not a lookup: 400, not audited.
    for body in [
        json!({}),
        json!({"key": 1}),
        json!({"key": live, "also": true}),
    ] {
        let r = api.call(Method::POST, "/v1/whois", Some(body)).await;
        let msg = r.expect_error(400, "invalid_request");
        assert!(!msg.contains(&live), "the message echoes the key");
    }
    assert_eq!(whois_events(&api).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whois_failures_count_toward_the_verify_limit_and_get_429_with_retry_after() {
    let srv = Server::start_with(&["--verify-failures-per-minute", "3"]);
    let api = Api::new(&srv);
    let sid = api.create_service("whois-limit").await;
    let (_, live) = api.issue_ok(&sid).await;
    // Whois of a live key is no failure.
    for _ in 0..5 {
        assert_eq!(whois(&api, &live).await.status, 200);
    }
    for i in 0..3 {
        let garbage = format!("ragk_garbage{i}");
        whois(&api, &garbage)
            .await
            .expect_error(404, "api_key_not_found");
    }
    let r = whois(&api, &live).await;
    r.expect_error(429, "rate_limited");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    // One budget per address: verify is refused too.
    let v = api.verify(&live).await;
    v.expect_error(429, "rate_limited");
    // A refused lookup is not audited: the 5 found and nothing else.
    let trail = whois_events(&api).await;
    assert_eq!(trail.len(), 5, "{trail:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_and_whois_need_a_token_and_a_viewer_is_enough() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let sid = api.create_service("whois-roles").await;
    let (_, live) = api.issue_ok(&sid).await;
    let viewer = api.as_token(&srv.create_token("looker", "viewer"));
    for token in ["", "not-a-token", &live] {
        let anon = api.as_token(token);
        let r = if token.is_empty() {
            common::api::read(api.http.get(api.url("/v1/audit")).send().await.unwrap()).await
        } else {
            anon.get("/v1/audit").await
        };
        r.expect_error(401, "unauthorized");
        let r = if token.is_empty() {
            common::api::read(
                api.http
                    .post(api.url("/v1/whois"))
                    .header("content-type", "application/json")
                    .body(json!({ "key": live }).to_string())
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        } else {
            whois(&anon, &live).await
        };
        r.expect_error(401, "unauthorized");
    }
    assert_eq!(viewer.get("/v1/audit").await.status, 200);
    assert_eq!(whois(&viewer, &live).await.status, 200);
    // The document lists both routes.
    let doc = api.get("/openapi.json").await.json();
    assert!(doc["paths"]["/v1/audit"]["get"].is_object());
    assert!(doc["paths"]["/v1/whois"]["post"].is_object());
}
