//! docs/api.md, Several replicas: the per-address failure limit holds across replicas. Three
//! replicas on one PostgreSQL database, one client address spreading bad keys round-robin over
//! them: it is answered 429 after about the configured limit in total (each replica enforces its
//! share, the limit divided by the live replicas, rounded up), not three times the limit, and
//! another address's good key still verifies everywhere.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use crate::common::Replicas;
use crate::common::replicas::{issue, one_at_a_time, verify_status, wait_ready};

const READY: Duration = Duration::from_secs(60);
const LIMIT: u32 = 6;
const N: usize = 3;

/// Waits until replica `i` has logged that `n` replicas hold a live lease.
pub(crate) async fn wait_live(r: &Replicas, i: usize, n: u32, within: Duration) {
    let end = Instant::now() + within;
    let (text, json) = (
        format!("live_replicas={n}"),
        format!("\"live_replicas\":{n}"),
    );
    loop {
        let log = r.servers[i].log();
        if log.contains(&text) || log.contains(&json) {
            return;
        }
        assert!(
            Instant::now() < end,
            "replica {i} never counted {n} live replicas within {within:?}:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_address_spread_over_three_replicas_gets_the_limit_in_total_not_three_times() {
    let _one = one_at_a_time().await;
    let limit = LIMIT.to_string();
    let r = Replicas::start(N, &["--verify-failures-per-minute", &limit]);
    let apis: Vec<_> = (0..N).map(|i| r.api(i)).collect();
    for a in &apis {
        wait_ready(a, READY).await;
    }
    for i in 0..N {
        wait_live(&r, i, N as u32, READY).await;
    }
    let sid = apis[0].create_service("shared-limit").await;
    let (_, good) = issue(&apis[0], &sid).await.expect("a key");

    // The attacker: its own loopback address, so that its failures are not 127.0.0.1's.
    let bad = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut failures = 0u32; // 401s answered before every replica said 429
    let mut refused = [false; N];
    let mut sent = 0u32;
    // Three times the limit and more: enough for the old behaviour (the whole limit on each).
    while refused.iter().any(|r| !r) && sent < LIMIT * N as u32 + 12 {
        let i = sent as usize % N;
        sent += 1;
        let status = verify_status(&bad, &apis[i].base, "rk_not_a_key").await;
        match status {
            Some(401) => failures += 1,
            Some(429) => refused[i] = true,
            other => panic!("replica {i} answered {other:?} to a bad key"),
        }
    }
    let bound = LIMIT + N as u32 - 1;
    assert!(
        refused.iter().all(|r| *r) && failures <= bound,
        "{failures} failures answered 401 before every replica answered 429 (refused: \
         {refused:?}); the limit is {LIMIT} in total over {N} replicas, at most {bound} with \
         each share rounded up"
    );
    assert!(
        failures >= LIMIT,
        "only {failures} failures before 429: the shares add up to less than the limit"
    );
    for (i, a) in apis.iter().enumerate() {
        assert_eq!(
            verify_status(&bad, &a.base, &good).await,
            Some(429),
            "replica {i}: an address over the limit is 429 whatever key it presents"
        );
        assert_eq!(
            verify_status(&a.http, &a.base, &good).await,
            Some(200),
            "replica {i}: another address's good key still verifies"
        );
    }
}

/// docs/api.md, Verify: a retired key is a stopped key on every replica, not an unknown one. A
/// key rotated without grace on A, and one whose grace ended, presented again and again to B
/// (also after B restarts and loads its index afresh) are the uniform 401 and never count
/// toward the address's failure limit; a bad key from the same address still does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retired_key_never_counts_toward_the_failure_limit_on_any_replica() {
    let _one = one_at_a_time().await;
    let extra = ["--verify-failures-per-minute", "4"];
    let mut r = Replicas::start(2, &extra);
    let (a, b) = (r.api(0), r.api(1));
    wait_ready(&a, READY).await;
    wait_ready(&b, READY).await;
    let sid = a.create_service("retired").await;
    let (at_once, at_once_key) = issue(&a, &sid).await.expect("a key");
    let (later, later_key) = issue(&a, &sid).await.expect("a key");
    let rotate = |kid: String, grace: u32| {
        let (a, sid) = (a.clone(), sid.clone());
        async move {
            let r = a
                .call(
                    reqwest::Method::POST,
                    &format!("/v1/services/{sid}/api-keys/{kid}/rotate"),
                    Some(serde_json::json!({"grace_seconds": grace})),
                )
                .await;
            r.expect(201);
        }
    };
    assert_eq!(verify_status(&b.http, &b.base, &later_key).await, Some(200));
    rotate(at_once, 0).await;
    rotate(later.clone(), 1).await;
    // The second retires on A's next look once its grace of 1 s has ended.
    let end = Instant::now() + READY;
    loop {
        let list = a
            .call(
                reqwest::Method::GET,
                &format!("/v1/services/{sid}/api-keys"),
                None,
            )
            .await;
        if !list.text.contains(&later) {
            break;
        }
        assert!(Instant::now() < end, "never retired: {}", list.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let hammer = |api: crate::common::api::Api| {
        let keys = [at_once_key.clone(), later_key.clone()];
        async move {
            for i in 0..15 {
                for key in &keys {
                    let status = verify_status(&api.http, &api.base, key).await;
                    assert_eq!(status, Some(401), "call {i}");
                }
            }
        }
    };
    hammer(b.clone()).await;
    r.servers[1].stop();
    r.restart(1, &extra);
    let b = r.api(1);
    wait_ready(&b, READY).await;
    hammer(b.clone()).await;
    // A bad key from the same address still counts: 429 within the limit and a few more.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(verify_status(&b.http, &b.base, "rk_not_a_key").await);
    }
    assert!(
        statuses.contains(&Some(429)),
        "the failure limit is on: {statuses:?}"
    );
}
