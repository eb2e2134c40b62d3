//! docs/api.md *Several replicas*, from outside (issue 10, *How it is proven*): three `ragkeys serve`
//! replicas on one PostgreSQL database (tests/common/pg.rs) and one pepper file, real HTTP (the
//! scenarios of many calls also through a real PgBouncer in transaction mode,
//! tests/common/pgbouncer.rs). The cap, a new key on every replica at once, no 200 for a stopped key after any replica answered,
//! one successor of many rotations, the pepper and schema refusals, and the canary (no secret in
//! `pg_dump` or in a log).

use crate::common;
use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::common::replicas::{
    Loop, Route, call, delete, disable, flags, issue, one_at_a_time, rotate, verify_status,
    wait_ready,
};
use crate::common::{Replicas, pg};

const READY: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_simultaneous_issues_over_three_replicas_give_exactly_the_cap() {
    a_hundred_simultaneous_issues_over_three_replicas_give_exactly_the_cap_on(Route::Direct).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_simultaneous_issues_over_three_replicas_give_exactly_the_cap_through_pgbouncer()
{
    a_hundred_simultaneous_issues_over_three_replicas_give_exactly_the_cap_on(Route::PgBouncer)
        .await;
}

async fn a_hundred_simultaneous_issues_over_three_replicas_give_exactly_the_cap_on(route: Route) {
    let _one = one_at_a_time().await;
    let r = Replicas::start_via(route, 3, &flags(&[]));
    let apis: Vec<_> = (0..3).map(|i| r.api(i)).collect();
    for a in &apis {
        wait_ready(a, READY).await;
    }
    let sid = apis[0].create_service("capped").await;
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let (api, sid) = (apis[i % 3].clone(), sid.clone());
            tokio::spawn(async move { issue(&api, &sid).await })
        })
        .collect();
    let mut made = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok((id, _)) => made.push(id),
            Err(Some(a)) => assert_eq!(
                (a.status, a.code.as_deref()),
                (409, Some("api_key_limit_exceeded")),
                "{a:?}"
            ),
            Err(None) => panic!("an issue got no answer"),
        }
    }
    assert_eq!(made.len(), 5, "exactly key_limit issues succeed");
    // Every replica lists the same five.
    let want: HashSet<String> = made.into_iter().collect();
    for a in &apis {
        let listed: HashSet<String> = a.list_ids(&sid).await.into_iter().collect();
        assert_eq!(listed, want, "{}", a.base);
        assert_eq!(a.service(&sid).await["key_count"], 5);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_issued_on_one_replica_verifies_on_every_other_on_the_next_request() {
    a_key_issued_on_one_replica_verifies_on_every_other_on_the_next_request_on(Route::Direct).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_issued_on_one_replica_verifies_on_every_other_on_the_next_request_through_pgbouncer()
{
    a_key_issued_on_one_replica_verifies_on_every_other_on_the_next_request_on(Route::PgBouncer)
        .await;
}

async fn a_key_issued_on_one_replica_verifies_on_every_other_on_the_next_request_on(route: Route) {
    let _one = one_at_a_time().await;
    let r = Replicas::start_via(route, 3, &flags(&["--key-limit", "100"]));
    let apis: Vec<_> = (0..3).map(|i| r.api(i)).collect();
    for a in &apis {
        wait_ready(a, READY).await;
    }
    let sid = apis[0].create_service("fresh-keys").await;
    let http = common::http();
    for round in 0..30 {
        let on = round % 3;
        let (_, key) = issue(&apis[on], &sid).await.expect("issued");
        for (i, a) in apis.iter().enumerate() {
            if i != on {
                // The very first request on the other replica: no waiting, no retry.
                assert_eq!(
                    verify_status(&http, &a.base, &key).await,
                    Some(200),
                    "round {round}: issued on {on}, verified on {i}"
                );
            }
        }
    }
}

/// How a round stops its key.
#[derive(Clone, Copy, Debug)]
enum Stop {
    Delete,
    Disable,
    RotateNow,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_revocation_on_a_no_request_started_later_gets_a_200_from_b_or_c() {
    after_a_revocation_on_a_no_request_started_later_gets_a_200_from_b_or_c_on(Route::Direct).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_revocation_on_a_no_request_started_later_gets_a_200_from_b_or_c_through_pgbouncer()
{
    after_a_revocation_on_a_no_request_started_later_gets_a_200_from_b_or_c_on(Route::PgBouncer)
        .await;
}

async fn after_a_revocation_on_a_no_request_started_later_gets_a_200_from_b_or_c_on(route: Route) {
    let _one = one_at_a_time().await;
    let r = Replicas::start_via(route, 3, &flags(&["--key-limit", "1000"]));
    let apis: Vec<_> = (0..3).map(|i| r.api(i)).collect();
    for a in &apis {
        wait_ready(a, READY).await;
    }
    let a = &apis[0];
    let sid = a.create_service("revocations").await;
    let http = common::http();
    let mut late_seen = 0usize;
    for round in 0..300 {
        let how = [Stop::Delete, Stop::Disable, Stop::RotateNow][round % 3];
        let (kid, key) = issue(a, &sid).await.expect("issued");
        let loops: Vec<Loop> = apis[1..]
            .iter()
            .map(|b| Loop::start(b.base.clone(), key.clone()))
            .collect();
        // The loops have seen the key live before it is stopped: a replica that never says 200
        // would prove nothing.
        for l in &loops {
            l.wait_for(200, Duration::from_secs(10)).await;
        }
        let successor = match how {
            Stop::Delete => {
                assert_eq!(delete(a, &sid, &kid).await, Some(204), "round {round}");
                None
            }
            Stop::Disable => {
                let ans = disable(a, &sid, &kid).await.expect("an answer");
                assert_eq!(ans.status, 200, "round {round}: {ans:?}");
                None
            }
            Stop::RotateNow => {
                let ans = rotate(a, &sid, &kid, 0).await.expect("an answer");
                assert_eq!(ans.status, 201, "round {round}: {ans:?}");
                Some(ans.body["key"].as_str().expect("successor").to_string())
            }
        };
        let answered = Instant::now();
        for l in &loops {
            l.wait_after(answered, 3, Duration::from_secs(10)).await;
        }
        for (i, l) in loops.into_iter().enumerate() {
            let seen = l.finish().await;
            for s in &seen {
                // 503: the replica's lease lapsed (a starved machine can miss renewals); docs/api.md,
                // Several replicas: past the lease it answers nothing from memory, which is
                // allowed, never a 200 the revocation should have stopped.
                assert!(
                    matches!(s.status, 200 | 401 | 503),
                    "round {round} ({how:?}): replica {} answered {}",
                    i + 1,
                    s.status
                );
                if s.sent > answered {
                    late_seen += 1;
                    assert_ne!(
                        s.status,
                        200,
                        "round {round} ({how:?}): replica {} answered 200 {:?} after A's answer",
                        i + 1,
                        s.sent - answered
                    );
                }
            }
        }
        if let Some(next) = successor {
            for b in &apis[1..] {
                assert_eq!(
                    verify_status(&http, &b.base, &next).await,
                    Some(200),
                    "successor"
                );
            }
        }
    }
    assert!(late_seen >= 300 * 2 * 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_simultaneous_rotations_of_one_key_over_the_replicas_make_one_successor() {
    fifty_simultaneous_rotations_of_one_key_over_the_replicas_make_one_successor_on(Route::Direct)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_simultaneous_rotations_of_one_key_over_the_replicas_make_one_successor_through_pgbouncer()
 {
    fifty_simultaneous_rotations_of_one_key_over_the_replicas_make_one_successor_on(
        Route::PgBouncer,
    )
    .await;
}

async fn fifty_simultaneous_rotations_of_one_key_over_the_replicas_make_one_successor_on(
    route: Route,
) {
    let _one = one_at_a_time().await;
    let r = Replicas::start_via(route, 3, &flags(&[]));
    let apis: Vec<_> = (0..3).map(|i| r.api(i)).collect();
    for a in &apis {
        wait_ready(a, READY).await;
    }
    let sid = apis[0].create_service("rotations").await;
    let (kid, key) = issue(&apis[0], &sid).await.expect("issued");
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (api, sid, kid) = (apis[i % 3].clone(), sid.clone(), kid.clone());
            tokio::spawn(async move { rotate(&api, &sid, &kid, 3600).await })
        })
        .collect();
    let mut successors = Vec::new();
    for t in tasks {
        let ans = t.await.unwrap().expect("an answer");
        match ans.status {
            201 => successors.push(ans.body["id"].as_str().unwrap().to_string()),
            409 => assert_eq!(ans.code.as_deref(), Some("api_key_not_active"), "{ans:?}"),
            other => panic!("a rotation answered {other}: {ans:?}"),
        }
    }
    assert_eq!(successors.len(), 1, "one successor: {successors:?}");
    for a in &apis {
        let list = a.list(&sid).await;
        let keys = list["api_keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2, "the old key and its one successor: {list}");
        let old = keys.iter().find(|k| k["id"] == kid.as_str()).expect("old");
        assert_eq!(old["state"], "rotating");
        assert_eq!(old["replaced_by"], successors[0].as_str());
        // Both verify during the grace, everywhere.
        assert_eq!(a.verify(&key).await.status, 200);
    }
}

/// Runs `ragkeys serve` on `db` with `pepper` expecting it to refuse: (exit code, stderr).
fn replica_refused(db: &pg::TestDb, pepper: &std::path::Path) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = common::pg_store_args(db, pepper);
    let args: Vec<&str> = store.iter().map(String::as_str).collect();
    let (code, stderr, _) = common::serve_refused(&dir.path().join("data"), &args);
    (code, stderr)
}

#[tokio::test]
async fn a_replica_with_another_pepper_or_an_older_build_is_refused() {
    let _one = one_at_a_time().await;
    let r = Replicas::start(1, &flags(&[]));
    let other = tempfile::tempdir().unwrap();
    // Another pepper: the check value in the database tells it apart.
    let foreign = other.path().join("pepper");
    std::fs::write(&foreign, [7u8; 32]).unwrap();
    std::fs::set_permissions(
        &foreign,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let (code, stderr) = replica_refused(&r.db, &foreign);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("does not belong"), "{stderr}");
    // The shared pepper file made readable by others is refused too.
    std::fs::set_permissions(
        &r.pepper_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let (code, stderr) = replica_refused(&r.db, &r.pepper_file);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("readable by group or others"), "{stderr}");
    std::fs::set_permissions(
        &r.pepper_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    // A schema a newer build wrote: refused, naming both versions.
    pg::cluster().psql(
        &r.db.name,
        "INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)",
    );
    let (code, stderr) = replica_refused(&r.db, &r.pepper_file);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("9999") && stderr.contains("newer"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_key_or_token_in_pg_dump_or_in_any_replica_log() {
    let _one = one_at_a_time().await;
    let r = Replicas::start(3, &flags(&["--key-limit", "100"]));
    let apis: Vec<_> = (0..3).map(|i| r.api(i)).collect();
    for a in &apis {
        wait_ready(a, READY).await;
    }
    let mut secrets = vec![r.token.clone()];
    let made = r.servers[1].create_token("canary-bot", "manager");
    secrets.push(made.clone());
    let sid = apis[0].create_service("canary").await;
    let http = common::http();
    for i in 0..9 {
        let (kid, key) = issue(&apis[i % 3], &sid).await.expect("issued");
        for a in &apis {
            assert_eq!(verify_status(&http, &a.base, &key).await, Some(200));
        }
        // Whois and a failed verification carry the key too.
        let w = call(
            &apis[(i + 1) % 3],
            Method::POST,
            "/v1/whois",
            Some(json!({ "key": key })),
        )
        .await
        .unwrap();
        assert_eq!(w.status, 200, "{w:?}");
        match i % 3 {
            0 => {
                let ans = rotate(&apis[(i + 2) % 3], &sid, &kid, 60).await.unwrap();
                assert_eq!(ans.status, 201);
                secrets.push(ans.body["key"].as_str().unwrap().to_string());
            }
            1 => assert_eq!(delete(&apis[(i + 2) % 3], &sid, &kid).await, Some(204)),
            _ => assert_eq!(
                disable(&apis[(i + 2) % 3], &sid, &kid)
                    .await
                    .unwrap()
                    .status,
                200
            ),
        }
        assert_eq!(
            verify_status(&http, &apis[0].base, &key)
                .await
                .map(|s| s == 200),
            Some(i % 3 == 0)
        );
        secrets.push(key);
    }
    // Idempotent issues keep a replayable record; its plaintext must not be readable at rest.
    let idem = apis[2]
        .as_token(&made)
        .issue_idem(&sid, json!({}), "canary-idem")
        .await;
    assert_eq!(idem.status, 201, "{}", idem.text);
    secrets.push(idem.json()["key"].as_str().unwrap().to_string());

    let dump = pg::cluster().pg_dump(&r.db.name);
    assert!(dump.contains("canary"), "the dump holds the data");
    for s in &secrets {
        assert!(!dump.contains(s.as_str()), "a secret in pg_dump output");
        // Nor its random part alone (e.g. without its prefix).
        assert!(!dump.contains(&s[5..]), "a secret's body in pg_dump output");
    }
    for (i, srv) in r.servers.iter().enumerate() {
        let log = srv.log();
        assert!(!log.is_empty());
        for s in &secrets {
            assert!(!log.contains(&s[5..]), "a secret in replica {i}'s log");
        }
    }
    // PostgreSQL's own log holds no statement with a secret either (statements are bound, not
    // spelled out, but an error would quote them).
    let server_log = pg::cluster().server_log();
    for s in &secrets {
        assert!(
            !server_log.contains(&s[5..]),
            "a secret in PostgreSQL's log"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn usage_and_last_use_from_every_replica_add_up_in_one_place() {
    usage_and_last_use_from_every_replica_add_up_in_one_place_on(Route::Direct).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn usage_and_last_use_from_every_replica_add_up_in_one_place_through_pgbouncer() {
    usage_and_last_use_from_every_replica_add_up_in_one_place_on(Route::PgBouncer).await;
}

async fn usage_and_last_use_from_every_replica_add_up_in_one_place_on(route: Route) {
    let _one = one_at_a_time().await;
    let mut r = Replicas::start_via(route, 2, &flags(&[]));
    let (a, b) = (r.api(0), r.api(1));
    for api in [&a, &b] {
        wait_ready(api, READY).await;
    }
    let sid = a.create_service("counted").await;
    let (kid, key) = issue(&a, &sid).await.expect("issued");
    let http = common::http();
    for (api, n) in [(&a, 3), (&b, 4)] {
        for _ in 0..n {
            assert_eq!(verify_status(&http, &api.base, &key).await, Some(200));
        }
    }
    // Each replica writes its counts at least once a minute and when it stops: stop both, then
    // a third replica, which never saw a verification, reads what the two wrote.
    for s in &mut r.servers {
        assert_eq!(s.stop(), Some(0), "a clean stop flushes the counts");
    }
    r.add(&flags(&[]));
    let c = r.api(2);
    wait_ready(&c, READY).await;
    let usage = c
        .get(&format!("/v1/services/{sid}/api-keys/{kid}/usage"))
        .await;
    assert_eq!(usage.status, 200, "{}", usage.text);
    let usage = usage.json();
    let sum = |series: &str, field: &str| -> u64 {
        usage[series]
            .as_array()
            .expect("buckets")
            .iter()
            .map(|b| b[field].as_u64().unwrap())
            .sum()
    };
    assert_eq!(sum("hours", "ok"), 7, "3 on A and 4 on B: {usage}");
    assert_eq!(sum("days", "ok"), 7, "{usage}");
    assert_eq!(sum("hours", "refused"), 0, "{usage}");
    assert_eq!(usage["last_used_from"], "127.0.0.1", "{usage}");
    assert!(usage["last_used_at"].is_string(), "{usage}");
}
