//! kill -9 at random moments while keys are issued and deleted, then a restart over the same data
//! dir: whatever the service acknowledged must still hold, and the limit must never be exceeded.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::Server;
use crate::common::api::{Api, Reply};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const LIMIT: usize = 5;
const FLAGS: &[&str] = &["--verify-failures-per-minute", "1000000"];

/// What the clients were told, which is all that the service owes them.
#[derive(Default)]
struct Ledger {
    /// key id → plaintext, for every 201.
    issued: HashMap<String, String>,
    /// Every key id whose delete answered 204 (or 404: already gone).
    deleted: HashSet<String>,
    /// The key ids whose delete answered 204: each owes an audit event.
    deleted_204: HashSet<String>,
    /// Issues (201) and deletes (204) of the current round: each owes an audit event.
    round_issued: HashSet<String>,
    round_deleted: HashSet<String>,
    /// Deletes sent without an answer: the key may or may not exist now.
    maybe_deleted: HashSet<String>,
    /// Deletes in flight right now, so that two workers do not pick one key.
    deleting: HashSet<String>,
    /// Issues sent without an answer: (Idempotency-Key, body) to retry after the restart.
    unanswered: HashMap<String, Value>,
    /// How many answers a kill cut off: issues retried, deletes left uncertain.
    cut_issues: usize,
    cut_deletes: usize,
    /// Anything the service must never answer.
    violations: Vec<String>,
}

impl Ledger {
    fn live(&self) -> Vec<String> {
        self.issued
            .keys()
            .filter(|k| {
                !self.deleted.contains(*k)
                    && !self.maybe_deleted.contains(*k)
                    && !self.deleting.contains(*k)
            })
            .cloned()
            .collect()
    }
}

fn lock(l: &Mutex<Ledger>) -> std::sync::MutexGuard<'_, Ledger> {
    l.lock().unwrap_or_else(|p| p.into_inner())
}

async fn send_delete(api: &Api, sid: &str, kid: &str) -> Result<Reply, reqwest::Error> {
    let resp = api
        .http
        .delete(api.url(&format!("/v1/services/{sid}/api-keys/{kid}")))
        .bearer_auth(&api.token)
        .send()
        .await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await?;
    Ok(Reply {
        status,
        headers,
        text,
    })
}

async fn send_issue(
    api: &Api,
    sid: &str,
    idem: &str,
    body: &Value,
) -> Result<Reply, reqwest::Error> {
    let resp = api
        .http
        .post(api.url(&format!("/v1/services/{sid}/api-keys")))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .header("idempotency-key", idem)
        .body(body.to_string())
        .send()
        .await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await?;
    Ok(Reply {
        status,
        headers,
        text,
    })
}

/// Deletes `kid`, recording the outcome as the client saw it.
async fn delete_and_record(api: &Api, sid: &str, kid: &str, ledger: &Mutex<Ledger>) {
    lock(ledger).deleting.insert(kid.to_string());
    let outcome = send_delete(api, sid, kid).await;
    let mut l = lock(ledger);
    l.deleting.remove(kid);
    match outcome {
        Ok(r) if r.status == 204 => {
            l.deleted.insert(kid.to_string());
            l.deleted_204.insert(kid.to_string());
            l.round_deleted.insert(kid.to_string());
        }
        Ok(r) if r.status == 404 && r.text.contains("api_key_not_found") => {
            l.deleted.insert(kid.to_string());
        }
        Ok(r) => l
            .violations
            .push(format!("delete {kid}: {} {}", r.status, r.text)),
        Err(_) => {
            l.cut_deletes += 1;
            l.maybe_deleted.insert(kid.to_string());
        }
    }
}

/// Issues and deletes until told to stop; every answer goes into the ledger.
async fn worker(
    api: Api,
    sid: String,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
    tag: String,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut n = 0u32;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let live = lock(&ledger).live();
        if !live.is_empty() && rng.random_bool(0.4) {
            let kid = live[rng.random_range(0..live.len())].clone();
            delete_and_record(&api, &sid, &kid, &ledger).await;
            continue;
        }
        let idem = format!("{tag}-{n}");
        let body = json!({"name": format!("{tag} #{n}")});
        lock(&ledger).unanswered.insert(idem.clone(), body.clone());
        match send_issue(&api, &sid, &idem, &body).await {
            Ok(r) if r.status == 201 => {
                let v: Value = serde_json::from_str(&r.text).unwrap_or_default();
                let mut l = lock(&ledger);
                l.unanswered.remove(&idem);
                match (v["id"].as_str(), v["key"].as_str()) {
                    (Some(id), Some(key)) => {
                        l.issued.insert(id.to_string(), key.to_string());
                        l.round_issued.insert(id.to_string());
                    }
                    _ => l.violations.push(format!("201 without id/key: {}", r.text)),
                }
            }
            Ok(r) if r.status == 409 && r.text.contains("api_key_limit_exceeded") => {
                lock(&ledger).unanswered.remove(&idem);
                // Make room: the list may hold keys whose 201 never arrived.
                let Ok(list) = api
                    .http
                    .get(api.url(&format!("/v1/services/{sid}/api-keys")))
                    .bearer_auth(&api.token)
                    .send()
                    .await
                else {
                    continue;
                };
                let Ok(v) = list.json::<Value>().await else {
                    continue;
                };
                let ids: Vec<String> = v["api_keys"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|k| k["id"].as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                if ids.len() > LIMIT {
                    lock(&ledger)
                        .violations
                        .push(format!("list showed {} keys", ids.len()));
                }
                let free: Vec<String> = {
                    let l = lock(&ledger);
                    ids.into_iter()
                        .filter(|k| !l.deleting.contains(k))
                        .collect()
                };
                if !free.is_empty() {
                    let kid = free[rng.random_range(0..free.len())].clone();
                    delete_and_record(&api, &sid, &kid, &ledger).await;
                }
            }
            Ok(r) => {
                let mut l = lock(&ledger);
                l.unanswered.remove(&idem);
                l.violations.push(format!("issue: {} {}", r.status, r.text));
            }
            // Killed mid-request: stays in `unanswered`, retried after the restart.
            Err(_) => {}
        }
    }
}

/// Everything the clients were told must hold on the restarted service.
async fn check_after_restart(api: &Api, sid: &str, ledger: &Mutex<Ledger>, round: usize) {
    let list = api.list(sid).await;
    let listed: HashSet<String> = list["api_keys"]
        .as_array()
        .expect("api_keys")
        .iter()
        .map(|k| k["id"].as_str().expect("id").to_string())
        .collect();
    assert!(
        listed.len() <= LIMIT,
        "round {round}: {} keys listed after restart",
        listed.len()
    );
    let svc = api.service(sid).await;
    assert_eq!(
        svc["key_count"].as_u64(),
        Some(listed.len() as u64),
        "round {round}: key_count disagrees with the list"
    );
    let (issued, deleted, maybe) = {
        let l = lock(ledger);
        (l.issued.clone(), l.deleted.clone(), l.maybe_deleted.clone())
    };
    for (kid, key) in &issued {
        let status = api.verify(key).await.status.as_u16();
        if deleted.contains(kid) {
            assert_eq!(
                status, 401,
                "round {round}: acknowledged delete of {kid} undone"
            );
            assert!(
                !listed.contains(kid),
                "round {round}: deleted {kid} listed again"
            );
        } else if maybe.contains(kid) {
            assert_eq!(
                status == 200,
                listed.contains(kid),
                "round {round}: {kid} half deleted (verify {status})"
            );
        } else {
            assert_eq!(status, 200, "round {round}: acknowledged key {kid} lost");
            assert!(listed.contains(kid), "round {round}: {kid} not listed");
        }
    }
    for kid in &deleted {
        assert!(!listed.contains(kid), "round {round}: deleted {kid} listed");
    }
    // What is known now stays known: an unanswered delete is now settled one way or the other.
    let mut l = lock(ledger);
    for kid in maybe {
        l.maybe_deleted.remove(&kid);
        if !listed.contains(&kid) {
            l.deleted.insert(kid);
        }
    }
}

/// Every change acknowledged in the round before the crash has its audit event: the audit is
/// written with the change, not after the answer.
async fn check_audit(api: &Api, sid: &str, ledger: &Mutex<Ledger>, round: usize) {
    let audit = api.get(&format!("/v1/services/{sid}/audit")).await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    let events = audit.json()["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ok_for = |action: &str| -> HashSet<String> {
        events
            .iter()
            .filter(|e| e["action"] == action && e["outcome"] == "ok")
            .filter_map(|e| e["key_id"].as_str().map(String::from))
            .collect()
    };
    let (issues, deletes) = (ok_for("api_key.issue"), ok_for("api_key.delete"));
    let l = lock(ledger);
    let missing: Vec<&String> = l
        .round_issued
        .iter()
        .filter(|k| !issues.contains(*k))
        .chain(l.round_deleted.iter().filter(|k| !deletes.contains(*k)))
        .collect();
    // The audit page may be bounded (newest first): the list is complete when it reaches back
    // to the creation of the service.
    let complete = events.iter().any(|e| e["action"] == "service.create");
    if !complete && !missing.is_empty() {
        eprintln!(
            "round {round}: audit page full, {} events not checked",
            missing.len()
        );
        return;
    }
    assert!(
        missing.is_empty(),
        "round {round}: acknowledged changes without an audit event: {missing:?}"
    );
}

/// Retries every issue whose answer was lost, as a careful client would after a crash.
async fn retry_unanswered(api: &Api, sid: &str, ledger: &Mutex<Ledger>, round: usize) {
    let pending: Vec<(String, Value)> = lock(ledger).unanswered.drain().collect();
    lock(ledger).cut_issues += pending.len();
    for (idem, body) in pending {
        let r = send_issue(api, sid, &idem, &body)
            .await
            .expect("retry reaches the restarted service");
        match r.status.as_u16() {
            201 => {
                assert_ne!(
                    r.header("idempotent-replayed"),
                    Some("true"),
                    "round {round}: a plaintext was replayed after a restart: it was on disk"
                );
                let v = r.json();
                lock(ledger).issued.insert(
                    v["id"].as_str().expect("id").to_string(),
                    v["key"].as_str().expect("key").to_string(),
                );
            }
            409 => {
                let v = r.expect_error_shape();
                let code = v["error"]["code"].as_str().unwrap_or_default();
                assert!(
                    code == "idempotency_secret_unavailable" || code == "api_key_limit_exceeded",
                    "round {round}: retry of {idem} after restart: {}",
                    r.text
                );
                if code == "idempotency_secret_unavailable" {
                    let msg = v["error"]["message"].as_str().unwrap_or_default();
                    let listed = api.list_ids(sid).await;
                    let l = lock(ledger);
                    let named = listed
                        .iter()
                        .chain(l.deleted.iter())
                        .chain(l.issued.keys())
                        .any(|id| msg.contains(id.as_str()));
                    assert!(named, "round {round}: the message names no key id: {msg}");
                }
            }
            _ => panic!("round {round}: retry of {idem}: {} {}", r.status, r.text),
        }
    }
}

fn start(dir: &Path) -> Server {
    Server::start_in(dir, FLAGS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_issues_and_deletes_survive_kill_9() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    let seed: u64 = rand::rng().random();
    eprintln!("crash test seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let began = Instant::now();
    let mut sid = String::new();
    let mut rounds = 0;
    while rounds < 20 && (rounds < 10 || began.elapsed() < Duration::from_secs(40)) {
        let mut srv = start(&dir);
        let api = Api::new(&srv);
        if sid.is_empty() {
            sid = api.create_service("crash-site").await;
        } else {
            check_after_restart(&api, &sid, &ledger, rounds).await;
            check_audit(&api, &sid, &ledger, rounds).await;
            retry_unanswered(&api, &sid, &ledger, rounds).await;
        }
        {
            let mut l = lock(&ledger);
            l.round_issued.clear();
            l.round_deleted.clear();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for w in 0..4 {
            workers.push(tokio::spawn(worker(
                api.clone(),
                sid.clone(),
                ledger.clone(),
                stop.clone(),
                format!("r{rounds}w{w}"),
                rng.random(),
            )));
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(30..400))).await;
        tokio::task::block_in_place(|| srv.kill9());
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            w.await.expect("worker");
        }
        let v = std::mem::take(&mut lock(&ledger).violations);
        assert!(v.is_empty(), "round {rounds}: {v:#?}");
        rounds += 1;
    }
    assert!(rounds >= 10, "only {rounds} rounds");

    // The last restart, then every acknowledged change must also be in the audit log.
    let srv = start(&dir);
    let api = Api::new(&srv);
    check_after_restart(&api, &sid, &ledger, rounds).await;
    check_audit(&api, &sid, &ledger, rounds).await;
    let (total, deleted, cut_issues, cut_deletes) = {
        let l = lock(&ledger);
        (l.issued.len(), l.deleted.len(), l.cut_issues, l.cut_deletes)
    };
    eprintln!(
        "{rounds} kills: {total} keys issued, {deleted} deleted, {cut_issues} issues and \
         {cut_deletes} deletes cut off by a kill"
    );
    assert!(
        total >= 10,
        "too little traffic to mean anything: {total} keys"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_retry_after_a_restart_names_the_key_instead_of_issuing_another() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    let mut srv = start(&dir);
    let api = Api::new(&srv);
    let sid = api.create_service("replays").await;
    let body = json!({"name": "ci deploy"});
    let first = api.issue_idem(&sid, body.clone(), "deploy-42").await;
    assert_eq!(first.status, 201, "{}", first.text);
    let v = first.json();
    let (kid, key) = (
        v["id"].as_str().expect("id").to_string(),
        v["key"].as_str().expect("key").to_string(),
    );
    let again = api.issue_idem(&sid, body.clone(), "deploy-42").await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json(), v, "a replay returns the same body");

    for how in ["kill -9", "SIGTERM"] {
        if how == "kill -9" {
            tokio::task::block_in_place(|| srv.kill9());
        } else {
            tokio::task::block_in_place(|| srv.stop());
        }
        srv = start(&dir);
        let api = Api::new(&srv);
        let r = api.issue_idem(&sid, body.clone(), "deploy-42").await;
        let msg = r.expect_error(409, "idempotency_secret_unavailable");
        assert!(
            msg.contains(&kid),
            "after {how}: the message must name {kid}: {msg}"
        );
        assert!(
            !r.text.contains(&key),
            "after {how}: the plaintext came back"
        );
        // A different request under the same Idempotency-Key is still a reuse.
        api.issue_idem(&sid, json!({"name": "other"}), "deploy-42")
            .await
            .expect_error(422, "idempotency_key_reused");
        assert_eq!(
            api.service(&sid).await["key_count"],
            1,
            "after {how}: no new slot"
        );
        assert_eq!(
            api.verify(&key).await.status,
            200,
            "after {how}: the key still works"
        );
    }
    // The client deletes the key it can no longer read, as the message invites.
    let api = Api::new(&srv);
    assert_eq!(api.delete_key(&sid, &kid).await.status, 204);
    assert_eq!(api.verify(&key).await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_delete_cut_by_kill_9_is_all_or_nothing() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    let mut rng = StdRng::seed_from_u64(rand::rng().random());
    let (mut gone, mut kept) = (0, 0);
    for round in 0..20 {
        let mut srv = start(&dir);
        let api = Api::new(&srv);
        let sid = api.create_service(&format!("doomed-{round}")).await;
        let mut keys = Vec::new();
        for _ in 0..LIMIT {
            keys.push(api.issue_ok(&sid).await);
        }
        let del = {
            let api = api.clone();
            let sid = sid.clone();
            tokio::spawn(async move {
                let r = api
                    .http
                    .delete(api.url(&format!("/v1/services/{sid}")))
                    .bearer_auth(&api.token)
                    .send()
                    .await;
                // A connection cut by the kill is simply "not acknowledged".
                r.map(|r| r.status().as_u16()).unwrap_or(0)
            })
        };
        // Microseconds matter here: the delete is one short transaction.
        let wait = Duration::from_micros(rng.random_range(0..2_000));
        tokio::task::block_in_place(|| {
            std::thread::sleep(wait);
            srv.kill9()
        });
        let acked = matches!(del.await, Ok(s) if s == 204);

        let srv = start(&dir);
        let api = Api::new(&srv);
        let exists = api.get(&format!("/v1/services/{sid}")).await;
        let mut verifying = 0;
        for (_, key) in &keys {
            if api.verify(key).await.status == 200 {
                verifying += 1;
            }
        }
        if exists.status == 200 {
            assert!(
                !acked,
                "round {round}: an acknowledged service delete was undone"
            );
            assert_eq!(
                verifying, LIMIT,
                "round {round}: the service lives but lost keys"
            );
            assert_eq!(api.list_ids(&sid).await.len(), LIMIT);
            assert_eq!(exists.json()["key_count"], LIMIT);
            kept += 1;
        } else {
            exists.expect_error(404, "service_not_found");
            assert_eq!(verifying, 0, "round {round}: keys outlived their service");
            gone += 1;
        }
        drop(srv);
    }
    eprintln!("service deletes cut by kill -9: {gone} done, {kept} undone");
}
