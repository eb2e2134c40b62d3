//! docs/api.md, Rate limit: with several replicas each enforces its share of a key's limit, N
//! divided by the replicas holding a live lease, rounded up, and says so in `RateLimit-Policy`
//! (`q` is this replica's share). Two replicas on one PostgreSQL database, a limit of 5 an hour:
//! each answers `q=3` and refuses the fourth call it sees.

use std::time::Duration;

use serde_json::json;

use super::failure_limit_share::wait_live;
use crate::common::Replicas;
use crate::common::api::verify;
use crate::common::replicas::{one_at_a_time, wait_ready};

const READY: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_replica_holds_a_key_to_its_share_of_the_limit() {
    let _one = one_at_a_time().await;
    let r = Replicas::start(2, &[]);
    let apis: Vec<_> = (0..2).map(|i| r.api(i)).collect();
    for a in &apis {
        wait_ready(a, READY).await;
    }
    for i in 0..2 {
        wait_live(&r, i, 2, READY).await;
    }
    let sid = apis[0].create_service("shared-rate").await;
    let v = apis[0]
        .issue(
            &sid,
            json!({"rate_limit": {"requests": 5, "per_seconds": 3600}}),
        )
        .await
        .expect(201);
    let key = v["key"].as_str().unwrap().to_string();
    for (i, a) in apis.iter().enumerate() {
        for left in (0..3).rev() {
            let r = verify(&a.http, &a.base, &key).await;
            r.expect(200);
            assert_eq!(
                r.header("ratelimit-policy"),
                Some("\"key\";q=3;w=3600"),
                "replica {i}: its share is ceil(5 / 2)"
            );
            let rate = r.header("ratelimit").unwrap_or_default();
            assert!(
                rate.starts_with(&format!("\"key\";r={left};t=")),
                "replica {i}: {rate}"
            );
        }
        let r = verify(&a.http, &a.base, &key).await;
        r.expect_error(429, "rate_limited");
        assert_eq!(r.header("ratelimit-policy"), Some("\"key\";q=3;w=3600"));
        let retry = r.header("retry-after").expect("Retry-After");
        assert_eq!(
            r.header("ratelimit"),
            Some(format!("\"key\";r=0;t={retry}").as_str())
        );
    }
}

/// docs/api.md, Verify with a key's policy: a changed limit never gives spent tokens back, on
/// the replica that took the PATCH and on the one that heard of it through the change feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_changed_limit_keeps_what_each_replica_has_spent() {
    let _one = one_at_a_time().await;
    let r = Replicas::start(2, &[]);
    let apis: Vec<_> = (0..2).map(|i| r.api(i)).collect();
    for a in &apis {
        wait_ready(a, READY).await;
    }
    for i in 0..2 {
        wait_live(&r, i, 2, READY).await;
    }
    let sid = apis[0].create_service("changed-rate").await;
    let v = apis[0]
        .issue(
            &sid,
            json!({"rate_limit": {"requests": 4, "per_seconds": 3600}}),
        )
        .await
        .expect(201);
    let (kid, key) = (
        v["id"].as_str().unwrap().to_string(),
        v["key"].as_str().unwrap().to_string(),
    );
    // Each replica's share of 4 is 2: both spent on both.
    for a in &apis {
        for _ in 0..2 {
            verify(&a.http, &a.base, &key).await.expect(200);
        }
        verify(&a.http, &a.base, &key)
            .await
            .expect_error(429, "rate_limited");
    }
    let patch = |rate: serde_json::Value| {
        let a = &apis[0];
        let path = format!("/v1/services/{sid}/api-keys/{kid}");
        async move {
            a.call(
                reqwest::Method::PATCH,
                &path,
                Some(json!({ "rate_limit": rate })),
            )
            .await
            .expect(200);
        }
    };
    // Lowered to 2/h (a share of 1): still spent everywhere, on the very next verify.
    patch(json!({"requests": 2, "per_seconds": 3600})).await;
    for (i, a) in apis.iter().enumerate() {
        let r = verify(&a.http, &a.base, &key).await;
        r.expect_error(429, "rate_limited");
        assert_eq!(
            r.header("ratelimit-policy"),
            Some("\"key\";q=1;w=3600"),
            "replica {i}"
        );
    }
    // Raised to 6/h (a share of 3): the one spent stays spent, two more each, not three.
    patch(json!({"requests": 6, "per_seconds": 3600})).await;
    for (i, a) in apis.iter().enumerate() {
        // A widening need not wait for every replica: until it arrives, the old limit's 429s
        // spend nothing.
        let end = std::time::Instant::now() + Duration::from_secs(10);
        let first = loop {
            let r = verify(&a.http, &a.base, &key).await;
            if r.header("ratelimit-policy") == Some("\"key\";q=3;w=3600") {
                break r;
            }
            assert!(
                std::time::Instant::now() < end,
                "replica {i}: {:?}",
                r.headers
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(first.status, 200, "replica {i}: {}", first.text);
        let r = verify(&a.http, &a.base, &key).await;
        assert_eq!(r.status, 200, "replica {i}: {}", r.text);
        verify(&a.http, &a.base, &key)
            .await
            .expect_error(429, "rate_limited");
    }
}
