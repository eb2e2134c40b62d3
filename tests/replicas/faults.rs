//! Faults of a PostgreSQL deployment, from outside (issue 10, *How it is proven*): a replica
//! killed with SIGKILL during issues and deletes, the database stopped at once (`pg_ctl stop -m
//! immediate`) under load and started again, and one replica's database connections terminated
//! while another replica deletes. Every acknowledged write survives, no deleted key comes back,
//! no 500, no hang, and every replica recovers by itself.

use crate::common;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::api::Api;
use crate::common::replicas::{
    Loop, delete, flags, issue, one_at_a_time, readyz_status, verify_status, wait_ready,
};
use crate::common::{Replicas, Server, pg};

const READY: Duration = Duration::from_secs(60);

/// What the clients were told: keys acknowledged issued and not deleted, keys acknowledged
/// deleted. Keys whose fate no answer settled (no answer, 503) are in neither.
#[derive(Default)]
struct Ledger {
    live: HashMap<String, String>,
    dead: Vec<String>,
}

/// Checks every key of `ledger` on every replica in `apis`: live ones 200, dead ones 401.
async fn check_ledger(ledger: &Ledger, apis: &[Api], when: &str) {
    let http = common::http();
    for a in apis {
        for key in ledger.live.values() {
            assert_eq!(
                verify_status(&http, &a.base, key).await,
                Some(200),
                "{when}: an acknowledged key does not verify on {}",
                a.base
            );
        }
        for key in &ledger.dead {
            assert_eq!(
                verify_status(&http, &a.base, key).await,
                Some(401),
                "{when}: a deleted key is not refused on {}",
                a.base
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_during_issues_and_deletes_costs_the_others_no_guarantee() {
    let _one = one_at_a_time().await;
    let extra = flags(&["--key-limit", "1000"]);
    let mut r = Replicas::start(3, &extra);
    for i in 0..3 {
        wait_ready(&r.api(i), READY).await;
    }
    let sid = r.api(0).create_service("kill-nine").await;
    let mut total = Ledger::default();
    for round in 0..20 {
        let victim = round % 3;
        // This round's keys: checked on the survivors now, on everyone at the end.
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let done = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..3)
            .map(|i| {
                let (api, sid, ledger, done) =
                    (r.api(i), sid.clone(), ledger.clone(), done.clone());
                tokio::spawn(async move {
                    for j in 0..6 {
                        let (kid, key) = match issue(&api, &sid).await {
                            Ok(k) => k,
                            // The victim is gone: its worker stops; no other may fail.
                            Err(None) if i == victim => return,
                            Err(e) => panic!("replica {i}: issue answered {e:?}"),
                        };
                        ledger.lock().unwrap().live.insert(kid.clone(), key.clone());
                        if i == victim {
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                        if j % 2 == 1 {
                            match delete(&api, &sid, &kid).await {
                                Some(204) => {
                                    let mut l = ledger.lock().unwrap();
                                    l.live.remove(&kid);
                                    l.dead.push(key);
                                }
                                // Cut off mid-delete: the key's fate is unknown to the client.
                                None if i == victim => {
                                    ledger.lock().unwrap().live.remove(&kid);
                                    return;
                                }
                                other => panic!("replica {i}: delete answered {other:?}"),
                            }
                        }
                    }
                })
            })
            .collect();
        // Kill the victim in the middle of its work.
        let end = Instant::now() + Duration::from_secs(30);
        while done.load(Ordering::SeqCst) < 2 && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        r.servers[victim].kill9();
        for w in workers {
            w.await.expect("a worker panicked");
        }
        let survivors: Vec<Api> = (0..3).filter(|&i| i != victim).map(|i| r.api(i)).collect();
        let l = std::mem::take(&mut *ledger.lock().unwrap());
        check_ledger(&l, &survivors, &format!("round {round}")).await;
        total.live.extend(l.live);
        total.dead.extend(l.dead);
        // A new replica takes the victim's place, as an orchestrator would restart it.
        r.servers[victim] = Server::start_pg(&r.db, &r.pepper_file, &extra);
        wait_ready(&r.api(victim), READY).await;
    }
    let all: Vec<Api> = (0..3).map(|i| r.api(i)).collect();
    assert!(
        total.live.len() >= 20 && total.dead.len() >= 20,
        "work was done"
    );
    check_ledger(&total, &all, "after 20 kills").await;
}

/// One replica's client under an outage: issues, verifies each new key on the next replica,
/// deletes every other one; records what was acknowledged and every status seen.
async fn outage_worker(
    apis: Vec<Api>,
    i: usize,
    sid: String,
    ledger: Arc<Mutex<Ledger>>,
    statuses: Arc<Mutex<Vec<(&'static str, u16)>>>,
    stop: Arc<AtomicBool>,
) {
    let http = common::http();
    let (me, next) = (&apis[i], &apis[(i + 1) % apis.len()]);
    let mut j = 0usize;
    while !stop.load(Ordering::Relaxed) {
        j += 1;
        let (kid, key) = match issue(me, &sid).await {
            Ok(k) => k,
            Err(Some(a)) => {
                statuses.lock().unwrap().push(("issue", a.status));
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            Err(None) => panic!("replica {i}: an issue got no answer within 10 s"),
        };
        statuses.lock().unwrap().push(("issue", 201));
        ledger.lock().unwrap().live.insert(kid.clone(), key.clone());
        let v = verify_status(&http, &next.base, &key)
            .await
            .expect("verify answers within 10 s");
        statuses.lock().unwrap().push(("verify live", v));
        if j % 2 == 0 {
            let d = delete(me, &sid, &kid)
                .await
                .expect("delete answers within 10 s");
            statuses.lock().unwrap().push(("delete", d));
            let mut l = ledger.lock().unwrap();
            l.live.remove(&kid);
            // A 503 leaves the key's fate unknown to the client: in neither list.
            if d == 204 {
                l.dead.push(key);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_database_stopped_at_once_under_load_gives_503s_then_every_replica_recovers_alone() {
    let _one = one_at_a_time().await;
    // A cluster of this test's own: stopping the shared one would fail the binary's other tests.
    let cluster = pg::private_cluster();
    let r = Replicas::start_on(
        cluster.fresh_database(),
        3,
        &flags(&["--key-limit", "1000"]),
    );
    let apis: Vec<Api> = (0..3).map(|i| r.api(i)).collect();
    for a in &apis {
        wait_ready(a, READY).await;
    }
    let sid = apis[0].create_service("outage").await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|i| {
            tokio::spawn(outage_worker(
                apis.clone(),
                i,
                sid.clone(),
                ledger.clone(),
                statuses.clone(),
                stop.clone(),
            ))
        })
        .collect();
    // Keys acknowledged before the stop, verified in tight loops through the outage.
    let (_, steady) = issue(&apis[0], &sid).await.expect("issued");
    let (dkid, doomed) = issue(&apis[0], &sid).await.expect("issued");
    assert_eq!(delete(&apis[1], &sid, &dkid).await, Some(204));
    let loops: Vec<(Loop, Loop)> = apis
        .iter()
        .map(|a| {
            (
                Loop::start(a.base.clone(), steady.clone()),
                Loop::start(a.base.clone(), doomed.clone()),
            )
        })
        .collect();
    let end = Instant::now() + Duration::from_secs(30);
    while ledger.lock().unwrap().dead.len() < 6 {
        assert!(Instant::now() < end, "no load got through before the stop");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let stopped = Instant::now();
    tokio::task::block_in_place(|| cluster.stop_immediate());
    // Every replica says so: admin calls 503, readiness 503, within a bounded time.
    for a in &apis {
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = readyz_status(a).await;
            let listed = a.get("/v1/services").await;
            if ready == Some(503) && listed.status == 503 {
                listed.expect_error(503, "unavailable");
                assert_eq!(listed.header("retry-after"), Some("1"));
                break;
            }
            assert!(
                Instant::now() < end,
                "{} still ready during the outage: {ready:?} {}",
                a.base,
                listed.status
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // The outage lasts a while under load.
    while stopped.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::task::block_in_place(|| cluster.start());
    for a in &apis {
        wait_ready(a, READY).await;
    }
    let restarted = Instant::now();
    // Load goes on after the return (six more keys issued); then everything stops.
    let issued = |st: &Mutex<Vec<(&'static str, u16)>>| {
        st.lock()
            .unwrap()
            .iter()
            .filter(|(op, s)| *op == "issue" && *s == 201)
            .count()
    };
    let before = issued(&statuses);
    let end = Instant::now() + Duration::from_secs(30);
    while issued(&statuses) < before + 6 {
        assert!(
            Instant::now() < end,
            "no issue got through after the return"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("a worker panicked");
    }
    let mut outage_503 = 0;
    for (steady_loop, doomed_loop) in loops {
        for s in steady_loop.finish().await {
            assert!(
                matches!(s.status, 200 | 503),
                "a live key answered {} (never 401 for a key it cannot confirm)",
                s.status
            );
            if s.sent > stopped && s.status == 503 {
                outage_503 += 1;
            }
            if s.sent > restarted {
                assert_eq!(s.status, 200, "after recovery");
            }
        }
        for s in doomed_loop.finish().await {
            assert!(
                matches!(s.status, 401 | 503),
                "a deleted key answered {}",
                s.status
            );
        }
    }
    assert!(outage_503 > 0, "no replica stopped answering from memory");
    let statuses = statuses.lock().unwrap().clone();
    for (op, s) in &statuses {
        let allowed: &[u16] = match *op {
            "issue" => &[201, 503],
            "delete" => &[204, 503],
            _ => &[200, 503],
        };
        assert!(allowed.contains(s), "{op} answered {s}");
    }
    assert!(
        statuses.iter().any(|(_, s)| *s == 503),
        "the load saw the outage"
    );
    let mut l = std::mem::take(&mut *ledger.lock().unwrap());
    l.live.insert("steady".into(), steady);
    l.dead.push(doomed);
    check_ledger(&l, &apis, "after the database came back").await;
}

/// Verifies `key` on `base` until it answers `want`, every other answer being 503 (within 30 s).
async fn settles_to(http: &reqwest::Client, base: &str, key: &str, want: u16) {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        match verify_status(http, base, key).await {
            Some(s) if s == want => return,
            Some(503) if Instant::now() < end => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            other => panic!("{base} answered {other:?} where {want} was due"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cutting_b_off_while_a_deletes_never_lets_b_answer_200_after_a_answered() {
    let _one = one_at_a_time().await;
    let r = Replicas::start(3, &flags(&["--key-limit", "1000"]));
    let apis: Vec<Api> = (0..3).map(|i| r.api(i)).collect();
    for a in &apis {
        wait_ready(a, READY).await;
    }
    let (a, b) = (&apis[0], &apis[1]);
    let b_pid = r.servers[1].child.id();
    let sid = a.create_service("cut-off").await;
    let http = common::http();
    let mut cut = 0;
    for round in 0..10 {
        let (kid, key) = issue(a, &sid).await.expect("issued");
        let on_b = Loop::start(b.base.clone(), key.clone());
        on_b.wait_for(200, Duration::from_secs(10)).await;
        // B's connections cut while A's delete runs: A's answer must still hold on B.
        let terminate =
            tokio::task::spawn_blocking(move || pg::cluster().terminate_backends_of(b_pid));
        assert_eq!(delete(a, &sid, &kid).await, Some(204), "round {round}");
        let answered = Instant::now();
        cut += terminate.await.unwrap();
        on_b.wait_after(answered, 3, Duration::from_secs(20)).await;
        for s in on_b.finish().await {
            assert!(
                matches!(s.status, 200 | 401 | 503),
                "B answered {}",
                s.status
            );
            if s.sent > answered {
                assert_ne!(
                    s.status,
                    200,
                    "round {round}: B answered 200 {:?} after A's 204",
                    s.sent - answered
                );
            }
        }
        // B recovers by itself and is right about both keys. Under load a resync may still be
        // under way after /readyz said ready: 503 is an honest answer meanwhile; a wrong one
        // (200 for the deleted key, 401 for the fresh one) never is.
        wait_ready(b, READY).await;
        settles_to(&http, &b.base, &key, 401).await;
        let (_, fresh) = issue(a, &sid).await.expect("issued");
        settles_to(&http, &b.base, &fresh, 200).await;
    }
    assert!(cut > 0, "B's connections were never found to cut");
}
