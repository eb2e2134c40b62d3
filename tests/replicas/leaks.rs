//! Leaked keys across replicas (docs/api.md, Leaked keys; Several replicas): a key GitHub reports
//! to one replica, or an admin reports on another, gets no 200 from any replica on a request
//! started after the report was answered, as a disable. Three replicas on one PostgreSQL
//! database, each reading the same keys file.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::Replicas;
use crate::common::github::{self, SigningKey, body, entry};
use crate::common::replicas::{Loop, Route, flags, issue, one_at_a_time, wait_ready};

const READY: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leaked_key_is_refused_on_every_replica_once_the_report_is_answered() {
    let _one = one_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let signer = SigningKey::new("gh-1");
    let file = github::write_keys(dir.path(), &[(&signer, true)]);
    let mut extra: Vec<&str> = flags(&["--key-limit", "100"]);
    extra.extend(["--leak-report-keys", file.to_str().unwrap()]);
    let r = Replicas::start_via(Route::Direct, 3, &extra);
    let apis: Vec<_> = (0..3).map(|i| r.api(i)).collect();
    for a in &apis {
        wait_ready(a, READY).await;
    }
    let sid = apis[0].create_service("leaks").await;
    let http = crate::common::http();
    for round in 0..6 {
        let on = round % 3;
        let (kid, key) = issue(&apis[0], &sid).await.expect("issued");
        let loops: Vec<Loop> = apis
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != on)
            .map(|(_, a)| Loop::start(a.base.clone(), key.clone()))
            .collect();
        for l in &loops {
            l.wait_for(200, Duration::from_secs(10)).await;
        }
        if round % 2 == 0 {
            let answer =
                github::report(&http, &apis[on].base, &signer, body(&[entry(&key, "")])).await;
            let feedback = answer.expect(200);
            assert_eq!(feedback[0]["label"], "true_positive", "round {round}");
        } else {
            let reply = apis[on]
                .post("/v1/leaks", Some(&apis[on].token), &json!({"key": key}))
                .await;
            let answer = reply.expect(200);
            assert_eq!(answer["api_key"]["id"], kid);
            assert_eq!(answer["api_key"]["state"], "disabled");
        }
        let answered = Instant::now();
        for l in &loops {
            l.wait_after(answered, 3, Duration::from_secs(10)).await;
        }
        for l in loops {
            for s in l.finish().await {
                if s.sent > answered {
                    // 503 only if a starved replica's lease lapsed: never a 200.
                    assert_ne!(s.status, 200, "round {round}: a 200 after the report");
                }
            }
        }
        for a in &apis {
            a.verify(&key).await.expect_error(401, "invalid_api_key");
        }
    }
}
