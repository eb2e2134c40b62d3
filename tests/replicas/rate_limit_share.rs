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
