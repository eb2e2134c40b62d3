//! The key lifecycle under concurrency and crashes (docs/api.md, Key lifecycle): one successor
//! out of 50 simultaneous rotations, a disable that holds from its answer on while verifications
//! race it, and kill -9 in the middle of rotations.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::support::*;
use crate::common::Server;
use crate::common::api::{Api, Reply, read};
use rand::Rng;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_simultaneous_rotations_make_exactly_one_successor() {
    let srv = Server::start_with(FLAGS);
    let api = Api::new(&srv);
    let sid = api.create_service("racing").await;
    let (kid, _) = api.issue_ok(&sid).await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (api, sid, kid) = (api.clone(), sid.clone(), kid.clone());
            tokio::spawn(async move { rotate(&api, &sid, &kid, 300).await })
        })
        .collect();
    let mut successors = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        match r.status.as_u16() {
            201 => successors.push(r.json()["id"].as_str().unwrap().to_string()),
            _ => {
                r.expect_error(409, "api_key_not_active");
            }
        }
    }
    assert_eq!(successors.len(), 1, "{successors:?}");
    let ids = api.list_ids(&sid).await;
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&successors[0]));
    assert_eq!(api.service(&sid).await["key_count"], 1);
    assert_eq!(
        listed(&api, &sid, &kid).await.unwrap()["replaced_by"],
        successors[0].as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_verification_starting_after_a_disable_answered_succeeds() {
    let srv = Server::start_with(FLAGS);
    let api = Api::new(&srv);
    let sid = api.create_service("racing").await;
    let (kid, key) = api.issue_ok(&sid).await;
    let log: Arc<Mutex<Vec<(Instant, u16)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (api, key, log, stop) = (api.clone(), key.clone(), log.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let status = api.verify(&key).await.status.as_u16();
                    log.lock().unwrap().push((started, status));
                }
            })
        })
        .collect();
    let wait = |n: usize, after: Option<Instant>| {
        let log = log.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let seen = log
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(t, _)| after.is_none_or(|a| *t > a))
                    .count();
                if seen >= n {
                    return;
                }
                assert!(Instant::now() < deadline, "verifications stalled");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    wait(20, None).await;
    let r = patch(&api, &sid, &kid, json!({"enabled": false})).await;
    let answered = Instant::now();
    assert_eq!(r.status, 200, "{}", r.text);
    wait(50, Some(answered)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let log = log.lock().unwrap();
    assert!(log.iter().any(|(_, s)| *s == 200), "it verified before");
    let late: Vec<_> = log
        .iter()
        .filter(|(t, s)| *t > answered && *s != 401)
        .collect();
    assert!(late.is_empty(), "after the disable answered: {late:?}");
}

/// A rotation that may be cut off by the kill: `None` when no answer came.
async fn try_rotate(api: &Api, sid: &str, kid: &str, grace: i64) -> Option<Reply> {
    let req = api
        .http
        .post(api.url(&format!("/v1/services/{sid}/api-keys/{kid}/rotate")))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body(json!({ "grace_seconds": grace }).to_string());
    match req.send().await {
        Ok(resp) => Some(read(resp).await),
        Err(_) => None,
    }
}

fn keys_of(list: &Value) -> Vec<Value> {
    list["api_keys"].as_array().expect("api_keys").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_rotations_loses_no_key_and_revives_none() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut srv = Server::start_in(&dir, FLAGS);
    let api = Api::new(&srv);
    let sid = api.create_service("crashing").await;
    // id → plaintext of every key whose 201 arrived.
    let mut known: HashMap<String, String> = HashMap::new();
    for _ in 0..5 {
        let (id, key) = api.issue_ok(&sid).await;
        known.insert(id, key);
    }
    // Old keys whose rotation was acknowledged → the unix second they end.
    let mut ended: HashMap<String, i64> = HashMap::new();
    let mut acked = 0;
    for round in 0..10 {
        let api = Api::new(&srv);
        let active: Vec<String> = keys_of(&api.list(&sid).await)
            .iter()
            .filter(|k| k["state"] == "active")
            .map(|k| k["id"].as_str().unwrap().to_string())
            .collect();
        let grace = i64::from(round % 2 == 1);
        // Each worker rotates a chain (the key, then its successor, …) until the kill cuts it.
        let tasks: Vec<_> = active
            .iter()
            .map(|kid| {
                let (api, sid, mut kid) = (api.clone(), sid.clone(), kid.clone());
                tokio::spawn(async move {
                    let mut answered = Vec::new();
                    while let Some(r) = try_rotate(&api, &sid, &kid, grace).await {
                        if r.status != 201 {
                            break;
                        }
                        let v = r.json();
                        let next = v["id"].as_str().unwrap().to_string();
                        answered.push((
                            kid,
                            next.clone(),
                            v["key"].as_str().unwrap().to_string(),
                            now_secs(),
                        ));
                        kid = next;
                    }
                    answered
                })
            })
            .collect();
        let delay = rand::rng().random_range(5..150);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        tokio::task::block_in_place(|| srv.kill9());
        for t in tasks {
            for (old, new, key, at) in t.await.unwrap() {
                known.insert(new, key);
                ended.insert(old, at + grace);
                acked += 1;
            }
        }
        srv = tokio::task::block_in_place(|| Server::start_in(&dir, FLAGS));
        let api = Api::new(&srv);
        // The list shows the keys as of when it was asked for: a grace that ends while we look
        // is judged against this second, not a later one.
        let listed_at = now_secs();
        let keys = keys_of(&api.list(&sid).await);
        let slots = keys.iter().filter(|k| k["state"] != "rotating").count();
        assert_eq!(slots, 5, "round {round}: slots {keys:?}");
        assert_eq!(api.service(&sid).await["key_count"], 5, "round {round}");
        let listed: HashMap<String, Value> = keys
            .iter()
            .map(|k| (k["id"].as_str().unwrap().to_string(), k.clone()))
            .collect();
        // No key lost: one that left the list was retired after a committed rotation (whose
        // answer the kill may have cut off), and a rotating key's successor is listed (or was
        // itself rotated and retired since).
        let retired: Vec<String> = audit_events(&api, &sid, "api_key.retire", None)
            .await
            .iter()
            .map(|e| e["key_id"].as_str().unwrap().to_string())
            .collect();
        for id in known.keys() {
            assert!(
                listed.contains_key(id) || retired.contains(id),
                "round {round}: key {id} lost"
            );
        }
        for k in listed.values().filter(|k| k["state"] == "rotating") {
            let next = k["replaced_by"]
                .as_str()
                .expect("a rotating key names its successor");
            assert!(
                listed.contains_key(next) || retired.iter().any(|r| r == next),
                "round {round}: successor {next} lost"
            );
        }
        // No retired key revived: from its end on, refused and gone.
        for (id, end) in &ended {
            if now_secs() >= *end {
                if let Some(key) = known.get(id) {
                    api.verify(key).await.expect_error(401, "invalid_api_key");
                }
                let l = listed.get(id);
                assert!(
                    listed_at < *end || l.is_none(),
                    "round {round}: {id} revived: {l:?}"
                );
            }
        }
        // Every listed active key that we know verifies.
        for (id, k) in &listed {
            if k["state"] == "active"
                && let Some(key) = known.get(id)
            {
                assert_eq!(api.verify(key).await.status, 200, "round {round}: {id}");
            }
        }
    }
    assert!(acked > 0, "no rotation was ever acknowledged");
    let api = Api::new(&srv);
    let retires = audit_events(&api, &sid, "api_key.retire", None).await;
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for e in &retires {
        *per_key
            .entry(e["key_id"].as_str().unwrap().into())
            .or_default() += 1;
    }
    assert!(per_key.values().all(|n| *n == 1), "{per_key:?}");
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}
