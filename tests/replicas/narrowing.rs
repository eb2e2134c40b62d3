//! A narrowed policy is acknowledged like a disable (docs/api.md, Keys that carry their own
//! policy: Changes): once any replica has answered a PATCH that removes a scope, no replica
//! answers 200 for that scope on a request that starts afterwards. Three real replicas on one
//! PostgreSQL database; the PATCH goes to each in turn, and the verifications to all three.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::common::Replicas;
use crate::common::api::Api;
use crate::common::replicas::*;

/// `GET /v1/verify?scope=…` on `api`'s replica; `None` when it did not answer.
async fn verify_scope(api: &Api, key: &str, scope: &str) -> Option<u16> {
    let r = api
        .http
        .get(api.url(&format!("/v1/verify?scope={scope}")))
        .bearer_auth(key)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    Some(r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_removed_scope_gets_no_200_from_any_replica_after_the_patch_answered() {
    let _one = one_at_a_time().await;
    let r = Replicas::start(3, &flags(&[]));
    let apis: Vec<Api> = (0..3).map(|i| r.api(i)).collect();
    for a in &apis {
        wait_ready(a, Duration::from_secs(30)).await;
    }
    let sid = apis[0].create_service("narrowed").await;
    let (kid, key) = apis[0].issue_ok(&sid).await;
    let path = format!("/v1/services/{sid}/api-keys/{kid}");
    // Every replica knows the key with all its scopes before the rounds start.
    for a in &apis {
        assert_eq!(
            verify_scope(a, &key, "ingest").await,
            Some(200),
            "{}",
            a.base
        );
    }
    let mut unavailable = 0;
    for round in 0..300 {
        let on = &apis[round % 3];
        let narrow = round % 2 == 0;
        let scopes = if narrow {
            json!(["query"])
        } else {
            json!(["query", "ingest"])
        };
        // A database stalled by a loaded host may answer 503: the client retries.
        let mut answer = call(on, Method::PATCH, &path, Some(json!({"scopes": scopes}))).await;
        for _ in 0..20 {
            if answer.as_ref().is_some_and(|a| a.status != 503) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            answer = call(on, Method::PATCH, &path, Some(json!({"scopes": scopes}))).await;
        }
        let answer = answer.expect("the PATCH is answered");
        assert_eq!(answer.status, 200, "round {round}: {:?}", answer.body);
        assert_eq!(answer.body["scopes"], scopes, "round {round}");
        if !narrow {
            continue;
        }
        for a in &apis {
            let status = verify_scope(a, &key, "ingest").await;
            match status {
                Some(403) => {}
                // A stalled database costs a lease, never a 200.
                Some(503) => unavailable += 1,
                other => panic!(
                    "round {round}: {} answered {other:?} for a scope removed on {}",
                    a.base, on.base
                ),
            }
        }
    }
    // The key itself stayed valid for what it kept, on every replica.
    for a in &apis {
        assert_eq!(
            verify_scope(a, &key, "query").await,
            Some(200),
            "{}",
            a.base
        );
    }
    eprintln!("narrowing over three replicas: {unavailable} verifications answered 503");
}
