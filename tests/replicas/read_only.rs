//! docs/architecture.md, A read-only database: while PostgreSQL can be read but takes no writes
//! (`default_transaction_read_only = on`, which reaches every open session, as in the window of
//! a failover), replicas with a read-only grace go on answering `/v1/verify` from their index —
//! keys revoked before still refused — while writes answer 503 and `/readyz` names the cause; a
//! replica without the grace fails closed; a change that commits anyway (a session that turned
//! read-only off) stops them within a lease; when writes come back, everything recovers by itself.

use std::time::{Duration, Instant};

use crate::common::api::Api;
use crate::common::cut_proxy::Proxy;
use crate::common::replicas::{db_addr, one_at_a_time, readyz, verify_status, via, wait_ready};
use crate::common::{Replicas, pg};

const READY: Duration = Duration::from_secs(60);

/// Polls `what` every 50 ms until it holds, failing after `within` with `msg` and the last value.
async fn wait_until<T: std::fmt::Debug, F: Future<Output = T>>(
    within: Duration,
    msg: &str,
    mut probe: impl FnMut() -> F,
    holds: impl Fn(&T) -> bool,
) -> T {
    let end = Instant::now() + within;
    loop {
        let v = probe().await;
        if holds(&v) {
            return v;
        }
        assert!(Instant::now() < end, "{msg} within {within:?}; last: {v:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn set_read_only(cluster: &pg::Cluster, on: bool) {
    let sql = if on {
        "ALTER SYSTEM SET default_transaction_read_only = on"
    } else {
        "ALTER SYSTEM RESET default_transaction_read_only"
    };
    cluster.psql("postgres", sql);
    cluster.psql("postgres", "SELECT pg_reload_conf()");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_only_database_keeps_verification_going_and_every_revocation_held() {
    let _one = one_at_a_time().await;
    // A cluster of its own: the setting reaches every session on it.
    let cluster = pg::private_cluster();
    let mut r = Replicas::start_on(cluster.fresh_database(), 2, &["--read-only-verify", "60"]);
    r.add(&["--read-only-verify", "0"]);
    let apis: Vec<Api> = (0..3).map(|i| r.api(i)).collect();
    for a in &apis {
        wait_ready(a, READY).await;
    }
    let http = reqwest::Client::new();
    let urls = r.urls();
    let sid = apis[0].create_service("read-only").await;
    let (kept_id, kept) = apis[0].issue_ok(&sid).await;
    let (revoked_id, revoked) = apis[0].issue_ok(&sid).await;
    let (hand_id, hand) = apis[0].issue_ok(&sid).await;
    apis[1].delete_key(&sid, &revoked_id).await.expect(204);
    for u in &urls {
        assert_eq!(verify_status(&http, u, &kept).await, Some(200));
        assert_eq!(verify_status(&http, u, &revoked).await, Some(401));
    }

    set_read_only(&cluster, true);
    for (i, a) in apis.iter().enumerate().take(2) {
        let ready = wait_until(
            READY,
            &format!("replica {i}'s /readyz never named the read-only database"),
            || readyz(a),
            |r| r.status == 503 && r.text.contains("read-only"),
        )
        .await;
        assert!(ready.header("retry-after").is_some(), "{}", ready.text);
        assert!(
            r.servers[i].log().contains("the database takes no writes"),
            "replica {i} logs why it answers from its index:\n{}",
            r.servers[i].log()
        );
    }
    // Several leases long: answered from the index, not from a lease still running.
    let end = Instant::now() + Duration::from_secs(3);
    let mut rounds = 0;
    while Instant::now() < end || rounds < 5 {
        for u in &urls[..2] {
            let kept_at = wait_until(
                Duration::from_secs(10),
                "a live key is answered 200 from the index of a read-only database",
                || verify_status(&http, u, &kept),
                |s| *s != Some(503),
            )
            .await;
            assert_eq!(kept_at, Some(200), "{u}");
            let ready = apis[0].get_public("/readyz/verify").await;
            assert_eq!(ready.status, 200, "/readyz/verify: {}", ready.text);
        }
        rounds += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // (Once: refusals count toward the per-address failure limit.)
    for u in &urls[..2] {
        assert_eq!(verify_status(&http, u, &revoked).await, Some(401), "{u}");
    }
    // No write can be taken: 503 with Retry-After, never a 500, nothing lost.
    let refused = apis[0].delete_key(&sid, &kept_id).await;
    assert_eq!(refused.status, 503, "{}", refused.text);
    assert!(
        refused.header("retry-after").is_some(),
        "{:?}",
        refused.headers
    );
    let refused = apis[1].issue(&sid, serde_json::json!({})).await;
    assert_eq!(refused.status, 503, "{}", refused.text);
    // Without the grace: fails closed.
    wait_until(
        Duration::from_secs(10),
        "the replica without a read-only grace answers 503",
        || verify_status(&http, &urls[2], &kept),
        |s| *s == Some(503),
    )
    .await;

    // A change commits anyway (a session that turned read-only off, as an operator could):
    // within a lease of its commit no replica answers from its index any more.
    let hand_change = format!(
        "BEGIN READ WRITE; \
         INSERT INTO changes (at, awaited, digests) \
             SELECT 0, true, ARRAY[digest] FROM api_keys WHERE id = '{hand_id}'; \
         DELETE FROM api_keys WHERE id = '{hand_id}'; \
         COMMIT"
    );
    cluster.psql(&r.db.name, &hand_change);
    let committed = Instant::now();
    // Writers wait this long for a replica in its read-only grace (docs/architecture.md).
    let bound = committed + Duration::from_millis(1100);
    tokio::time::sleep_until(bound.into()).await;
    for u in &urls {
        let s = verify_status(&http, u, &hand).await;
        assert_ne!(
            s,
            Some(200),
            "{u} answered 200 for a key deleted over a second ago"
        );
    }

    set_read_only(&cluster, false);
    for a in &apis {
        wait_ready(a, READY).await;
    }
    apis[1].delete_key(&sid, &kept_id).await.expect(204);
    for u in &urls {
        assert_eq!(verify_status(&http, u, &kept).await, Some(401), "{u}");
        assert_eq!(verify_status(&http, u, &hand).await, Some(401), "{u}");
    }
    assert_eq!(
        apis[0].list_ids(&sid).await,
        Vec::<String>::new(),
        "every key is gone"
    );
}

/// TESTING.md's failover, for real: the replicas reach the primary through a forwarder; the
/// primary dies, the forwarder moves to a streaming standby (readable, in recovery), and the
/// replicas go on verifying from it; once it is promoted they take writes again by themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failover_to_a_standby_keeps_verification_going_until_it_is_promoted() {
    let _one = one_at_a_time().await;
    let primary = pg::private_cluster();
    let mut db = primary.fresh_database();
    let standby = primary.standby();
    let forwarder = Proxy::start(db_addr(&db.url));
    db.url = via(&db.url, forwarder.addr);
    let r = Replicas::start_on(db, 2, &["--read-only-verify", "60"]);
    let apis: Vec<Api> = (0..2).map(|i| r.api(i)).collect();
    for a in &apis {
        wait_ready(a, READY).await;
    }
    let http = reqwest::Client::new();
    let urls = r.urls();
    let sid = apis[0].create_service("failover").await;
    let (kept_id, kept) = apis[0].issue_ok(&sid).await;
    let (revoked_id, revoked) = apis[1].issue_ok(&sid).await;
    apis[0].delete_key(&sid, &revoked_id).await.expect(204);
    standby.caught_up_with(&primary);

    primary.stop_immediate();
    forwarder.switch_to(([127, 0, 0, 1], standby.port()).into());
    for (i, a) in apis.iter().enumerate() {
        wait_until(
            READY,
            &format!("replica {i}'s /readyz never named the read-only database"),
            || readyz(a),
            |r| r.status == 503 && r.text.contains("read-only"),
        )
        .await;
    }
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        for u in &urls {
            let s = wait_until(
                Duration::from_secs(10),
                "a live key is answered from the index while the standby is in recovery",
                || verify_status(&http, u, &kept),
                |s| *s != Some(503),
            )
            .await;
            assert_eq!(s, Some(200), "{u}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for u in &urls {
        assert_eq!(verify_status(&http, u, &revoked).await, Some(401), "{u}");
    }
    let refused = apis[1].delete_key(&sid, &kept_id).await;
    assert_eq!(refused.status, 503, "{}", refused.text);

    standby.promote();
    for a in &apis {
        wait_ready(a, READY).await;
    }
    apis[1].delete_key(&sid, &kept_id).await.expect(204);
    for u in &urls {
        assert_eq!(verify_status(&http, u, &kept).await, Some(401), "{u}");
    }
}
