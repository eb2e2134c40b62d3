//! The key limit and immediate deletion, under real concurrency against a real service.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::Server;
use crate::common::api::{Api, Reply};
use serde_json::json;
use tokio::sync::Barrier;

/// Fires `n` issue requests that all leave at once; returns every reply.
async fn issue_all_at_once(api: &Api, sid: &str, n: usize) -> Vec<Reply> {
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (api, sid, barrier) = (api.clone(), sid.to_string(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            api.issue(&sid, json!({"name": format!("racer {i}")})).await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("issue task"));
    }
    out
}

/// Checks list, service and verify agree on exactly `expected` keys.
async fn assert_keys_are(api: &Api, sid: &str, expected: &HashMap<String, String>) {
    let listed: BTreeSet<String> = api.list_ids(sid).await.into_iter().collect();
    let want: BTreeSet<String> = expected.keys().cloned().collect();
    assert_eq!(listed, want, "the list does not hold exactly the live keys");
    let svc = api.service(sid).await;
    assert_eq!(
        svc["key_count"].as_u64(),
        Some(want.len() as u64),
        "key_count disagrees with the list: {svc}"
    );
    for (kid, key) in expected {
        let r = api.verify(key).await;
        assert_eq!(r.status, 200, "live key {kid} does not verify: {}", r.text);
        let v = r.json();
        assert_eq!(v["valid"], true);
        assert_eq!(v["service_id"], sid);
        assert_eq!(v["key_id"].as_str(), Some(kid.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_simultaneous_issues_on_an_empty_service_give_exactly_five_keys() {
    let srv = Server::start();
    let api = Api::new(&srv);
    // Three services in a row: a race that is lost once in a while still shows.
    for track in 0..3 {
        let sid = api.create_service(&format!("race-track-{track}")).await;
        hundred_issues_on(&api, &sid).await;
    }
}

async fn hundred_issues_on(api: &Api, sid: &str) {
    let replies = issue_all_at_once(api, sid, 100).await;
    let mut issued = HashMap::new();
    let mut refused = 0;
    for r in &replies {
        match r.status.as_u16() {
            201 => {
                let v = r.json();
                let kid = v["id"].as_str().expect("id").to_string();
                let key = v["key"].as_str().expect("key").to_string();
                assert!(
                    issued.insert(kid, key).is_none(),
                    "two issues returned one id"
                );
            }
            409 => {
                let msg = r.expect_error(409, "api_key_limit_exceeded");
                assert!(
                    msg.contains('5'),
                    "the message should state the limit: {msg}"
                );
                refused += 1;
            }
            other => panic!("unexpected status {other}: {}", r.text),
        }
    }
    assert_eq!(issued.len(), 5, "exactly key_limit issues succeed");
    assert_eq!(refused, 95, "every other issue is refused");

    let list = api.list(sid).await;
    assert_eq!(list["key_limit"], 5);
    assert_eq!(list["api_keys"].as_array().map(Vec::len), Some(5));
    assert_keys_are(api, sid, &issued).await;

    // Every issue, failed or not, writes one audit event.
    let audit = api.get(&format!("/v1/services/{sid}/audit")).await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    let events = audit.json()["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let issues: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "api_key.issue")
        .collect();
    assert_eq!(issues.len(), 100, "one audit event per issue attempt");
    let ok = issues.iter().filter(|e| e["outcome"] == "ok").count();
    let over = issues
        .iter()
        .filter(|e| e["outcome"] == "api_key_limit_exceeded")
        .count();
    assert_eq!((ok, over), (5, 95), "audit outcomes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_limit_holds_per_service_when_two_services_race_at_once() {
    let srv = Server::start_with(&["--key-limit", "3"]);
    let api = Api::new(&srv);
    let a = api.create_service("left-lane").await;
    let b = api.create_service("right-lane").await;
    let (ra, rb) = tokio::join!(
        issue_all_at_once(&api, &a, 30),
        issue_all_at_once(&api, &b, 30)
    );
    for (sid, replies) in [(&a, ra), (&b, rb)] {
        let ok = replies.iter().filter(|r| r.status == 201).count();
        for r in replies.iter().filter(|r| r.status != 201) {
            r.expect_error(409, "api_key_limit_exceeded");
        }
        assert_eq!(ok, 3, "--key-limit 3 allows exactly 3 keys in {sid}");
        let list = api.list(sid).await;
        assert_eq!(list["key_limit"], 3);
        assert_eq!(list["api_keys"].as_array().map(Vec::len), Some(3));
        assert_eq!(api.service(sid).await["key_count"], 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deletes_and_issues_keep_the_count_within_the_limit() {
    let srv = Server::start_with(&["--verify-failures-per-minute", "100000"]);
    let api = Api::new(&srv);
    let sid = api.create_service("churn").await;
    let mut live: HashMap<String, String> = HashMap::new();
    for _ in 0..5 {
        let (kid, key) = api.issue_ok(&sid).await;
        live.insert(kid, key);
    }

    // A watcher lists and reads the service all along: neither may ever exceed the limit.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (api, sid, stop) = (api.clone(), sid.clone(), stop.clone());
        tokio::spawn(async move {
            let mut looks = 0;
            loop {
                let n = api.list_ids(&sid).await.len();
                assert!(n <= 5, "the list showed {n} keys");
                let c = api.service(&sid).await["key_count"].as_u64().unwrap_or(99);
                assert!(c <= 5, "key_count was {c}");
                looks += 1;
                if stop.load(Ordering::SeqCst) {
                    break;
                }
            }
            looks
        })
    };

    for round in 0..12 {
        // Delete two or three live keys while eight issues race for the freed slots.
        let victims: Vec<String> = live.keys().take(2 + round % 2).cloned().collect();
        let mut deletes = Vec::new();
        for kid in &victims {
            let (api, sid, kid) = (api.clone(), sid.clone(), kid.clone());
            deletes.push(tokio::spawn(async move {
                let r = api.delete_key(&sid, &kid).await;
                (kid, r)
            }));
        }
        let issues = issue_all_at_once(&api, &sid, 8);
        let (issues, deletes) = tokio::join!(issues, async {
            let mut out = Vec::new();
            for d in deletes {
                out.push(d.await.expect("delete task"));
            }
            out
        });
        for (kid, r) in deletes {
            assert_eq!(r.status, 204, "delete of a live key: {}", r.text);
            live.remove(&kid);
        }
        for r in issues {
            if r.status == 201 {
                let v = r.json();
                live.insert(
                    v["id"].as_str().expect("id").to_string(),
                    v["key"].as_str().expect("key").to_string(),
                );
            } else {
                r.expect_error(409, "api_key_limit_exceeded");
            }
        }
        assert!(
            live.len() <= 5,
            "round {round}: {} keys acknowledged",
            live.len()
        );
        assert_keys_are(&api, &sid, &live).await;
        // Refill, so that every round starts full and has keys to delete.
        while live.len() < 5 {
            let (kid, key) = api.issue_ok(&sid).await;
            live.insert(kid, key);
        }
        api.issue(&sid, json!({}))
            .await
            .expect_error(409, "api_key_limit_exceeded");
    }
    stop.store(true, Ordering::SeqCst);
    let looks = watcher.await.expect("watcher saw the limit exceeded");
    assert!(looks > 0, "the watcher never looked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deleted_key_is_refused_on_the_very_next_request() {
    let srv = Server::start_with(&["--verify-failures-per-minute", "100000"]);
    let api = Api::new(&srv);
    let sid = api.create_service("deletions").await;
    // A bystander key must keep verifying throughout.
    let (_, bystander) = api.issue_ok(&sid).await;

    for round in 0..15 {
        let (kid, key) = api.issue_ok(&sid).await;
        let deleted = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let late_accepts = Arc::new(AtomicUsize::new(0));
        let mut hammers = Vec::new();
        for _ in 0..6 {
            let (api, key, deleted, stop, late) = (
                api.clone(),
                key.clone(),
                deleted.clone(),
                stop.clone(),
                late_accepts.clone(),
            );
            hammers.push(tokio::spawn(async move {
                let mut after = 0;
                // Every hammer gets at least one request in after the delete, however slow.
                while !(stop.load(Ordering::SeqCst) && after > 0) {
                    // A request counts as "after" only if the 204 had arrived before it left.
                    let started_after = deleted.load(Ordering::SeqCst);
                    let r = api.verify(&key).await;
                    if started_after {
                        after += 1;
                        if r.status != 401 {
                            late.fetch_add(1, Ordering::SeqCst);
                        }
                    } else {
                        assert!(
                            r.status == 200 || r.status == 401,
                            "verify during delete: {} {}",
                            r.status,
                            r.text
                        );
                    }
                }
                after
            }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let r = api.delete_key(&sid, &kid).await;
        assert_eq!(r.status, 204, "delete: {}", r.text);
        deleted.store(true, Ordering::SeqCst);
        // The very next request, from the deleter itself.
        let next = api.verify(&key).await;
        next.expect_error(401, "invalid_api_key");
        tokio::time::sleep(Duration::from_millis(30)).await;
        stop.store(true, Ordering::SeqCst);
        let mut after = 0;
        for h in hammers {
            after += h.await.expect("verifier task");
        }
        assert!(
            after > 0,
            "round {round}: no verify started after the delete"
        );
        assert_eq!(
            late_accepts.load(Ordering::SeqCst),
            0,
            "round {round}: a deleted key was accepted after its delete answered 204"
        );
        assert_eq!(api.verify(&bystander).await.status, 200, "bystander");
        // A second delete of the same key is a 404.
        api.delete_key(&sid, &kid)
            .await
            .expect_error(404, "api_key_not_found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_clients_verify_every_issued_key_at_once() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let sid = api.create_service("verifiers").await;
    let mut keys = Vec::new();
    for _ in 0..5 {
        keys.push(api.issue_ok(&sid).await);
    }
    let barrier = Arc::new(Barrier::new(50));
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (api, barrier) = (api.clone(), barrier.clone());
        let (kid, key) = keys[i % keys.len()].clone();
        let sid = sid.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            for _ in 0..4 {
                let r = api.verify(&key).await;
                assert_eq!(r.status, 200, "verify: {}", r.text);
                let v = r.json();
                assert_eq!(v["key_id"].as_str(), Some(kid.as_str()));
                assert_eq!(v["service_id"].as_str(), Some(sid.as_str()));
            }
        }));
    }
    for t in tasks {
        t.await.expect("verifier");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_retries_with_one_idempotency_key_use_one_slot() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let sid = api.create_service("retries").await;
    let barrier = Arc::new(Barrier::new(10));
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (api, sid, barrier) = (api.clone(), sid.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            api.issue_idem(&sid, json!({"name": "once"}), "retry-storm-1")
                .await
        }));
    }
    let mut fresh = Vec::new();
    let mut replays = Vec::new();
    for t in tasks {
        let r = t.await.expect("issue task");
        match r.status.as_u16() {
            201 if r.header("idempotent-replayed") == Some("true") => replays.push(r.json()),
            201 => fresh.push(r.json()),
            409 => {
                r.expect_error(409, "idempotency_in_progress");
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!(fresh.len(), 1, "exactly one issue is not a replay");
    for rep in &replays {
        assert_eq!(rep, &fresh[0], "a replay returns the same key and body");
    }
    // A late retry is a replay of the same key.
    let late = api
        .issue_idem(&sid, json!({"name": "once"}), "retry-storm-1")
        .await;
    assert_eq!(late.status, 201, "{}", late.text);
    assert_eq!(late.header("idempotent-replayed"), Some("true"));
    assert_eq!(late.json(), fresh[0]);
    assert_eq!(api.service(&sid).await["key_count"], 1, "one slot used");
    assert_eq!(api.list_ids(&sid).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_service_while_keys_are_issued_leaves_no_live_key_behind() {
    let srv = Server::start_with(&["--verify-failures-per-minute", "100000"]);
    let api = Api::new(&srv);
    for round in 0..5 {
        let sid = api.create_service(&format!("doomed-{round}")).await;
        let (_, early) = api.issue_ok(&sid).await;
        let barrier = Arc::new(Barrier::new(11));
        let mut issues = Vec::new();
        for _ in 0..10 {
            let (api, sid, barrier) = (api.clone(), sid.clone(), barrier.clone());
            issues.push(tokio::spawn(async move {
                barrier.wait().await;
                api.issue(&sid, json!({})).await
            }));
        }
        barrier.wait().await;
        let del = api
            .call(
                reqwest::Method::DELETE,
                &format!("/v1/services/{sid}"),
                None,
            )
            .await;
        assert_eq!(del.status, 204, "delete service: {}", del.text);
        let mut keys = vec![early];
        for t in issues {
            let r = t.await.expect("issue task");
            match r.status.as_u16() {
                201 => keys.push(r.json()["key"].as_str().expect("key").to_string()),
                404 => {
                    r.expect_error(404, "service_not_found");
                }
                409 => {
                    r.expect_error(409, "api_key_limit_exceeded");
                }
                other => panic!("round {round}: issue during delete: {other} {}", r.text),
            }
        }
        // Its keys died with it, including any issued in the same instant.
        for key in &keys {
            api.verify(key).await.expect_error(401, "invalid_api_key");
        }
        api.get(&format!("/v1/services/{sid}"))
            .await
            .expect_error(404, "service_not_found");
        api.get(&format!("/v1/services/{sid}/api-keys"))
            .await
            .expect_error(404, "service_not_found");
    }
}
