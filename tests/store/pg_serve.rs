//! The PostgreSQL store through real `ragkeys serve` replicas on one database (issue 10): setup
//! by exactly one of several replicas, a newer schema and another pepper refused, the cap and
//! rotation across replicas, idempotency across replicas, `tokens --database`, an unreachable
//! database at start, and 503 `unavailable` (never 500, never a hang) while the database is down.

use std::time::{Duration, Instant};

use crate::common::api::Api;
use crate::common::{Replicas, Server, pg, serve_refused};
use reqwest::Method;
use serde_json::json;

fn api(srv: &Server, token: &str) -> Api {
    Api::new(srv).as_token(token)
}

#[test]
fn six_replicas_starting_together_migrate_once_and_make_one_bootstrap_token() {
    // Replicas::start asserts that exactly one replica wrote admin.token.
    let r = Replicas::start(6, &[]);
    let c = pg::cluster();
    let versions = c.psql(
        &r.db.name,
        "SELECT string_agg(version || ':' || n, ',' ORDER BY version) \
         FROM (SELECT version, count(*) AS n FROM schema_migrations GROUP BY version) v",
    );
    assert_eq!(
        versions, "1:1,2:1,3:1,4:1,5:1,6:1,7:1",
        "each version applied once"
    );
    assert_eq!(c.psql(&r.db.name, "SELECT count(*) FROM admin_tokens"), "1");
    assert_eq!(
        c.psql(
            &r.db.name,
            "SELECT count(*) FROM meta WHERE key = 'pepper_check'"
        ),
        "1"
    );
    let mode = std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(&r.pepper_file).unwrap());
    assert_eq!(mode & 0o777, 0o600, "the pepper file is created 0600");
    // The bootstrap token works on every replica, including those that did not create it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for s in &r.servers {
            let reply = api(s, &r.token).get("/v1/services").await;
            assert_eq!(reply.status, 200, "{}", reply.text);
        }
    });
}

#[test]
fn a_database_with_a_newer_schema_is_refused_naming_both_versions() {
    let db = pg::fresh_database();
    let tmp = tempfile::tempdir().unwrap();
    let pepper = tmp.path().join("pepper");
    let mut first = Server::start_pg(&db, &pepper, &[]);
    assert_eq!(first.stop(), Some(0));
    pg::cluster().psql(
        &db.name,
        "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)",
    );
    let store = crate::common::pg_store_args(&db, &pepper);
    let args: Vec<&str> = store.iter().map(String::as_str).collect();
    let (code, err, _) = serve_refused(&tmp.path().join("d2"), &args);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("schema version 99") && err.contains("(7)") && err.contains("newer"),
        "{err}"
    );
    // Nothing was changed: the newer version is still the newest.
    assert_eq!(
        pg::cluster().psql(&db.name, "SELECT max(version) FROM schema_migrations"),
        "99"
    );
}

#[test]
fn a_replica_with_another_pepper_is_refused() {
    let db = pg::fresh_database();
    let tmp = tempfile::tempdir().unwrap();
    let pepper = tmp.path().join("pepper");
    let _a = Server::start_pg(&db, &pepper, &[]);
    let other = tmp.path().join("other-pepper");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&other)
            .unwrap();
        f.write_all(&[0x5a; 32]).unwrap();
    }
    let store = crate::common::pg_store_args(&db, &other);
    let args: Vec<&str> = store.iter().map(String::as_str).collect();
    let (code, err, _) = serve_refused(&tmp.path().join("d2"), &args);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("does not belong"), "{err}");
    assert!(err.contains("other-pepper"), "{err}");

    // And without --pepper-file at all: a clear usage error, before touching the database.
    let (code, err, _) = serve_refused(&tmp.path().join("d3"), &["--database", &db.url]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--pepper-file is required"), "{err}");
}

#[test]
fn a_hundred_simultaneous_issues_over_three_replicas_give_exactly_the_cap() {
    let r = Replicas::start(3, &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let apis: Vec<Api> = r.servers.iter().map(|s| api(s, &r.token)).collect();
        let sid = apis[0].create_service("cap").await;
        let calls = (0..100).map(|i| {
            let a = apis[i % 3].clone();
            let sid = sid.clone();
            tokio::spawn(async move { a.issue(&sid, json!({})).await })
        });
        let mut created = 0;
        for c in calls {
            let reply = c.await.unwrap();
            match reply.status.as_u16() {
                201 => created += 1,
                409 => {
                    reply.expect_error(409, "api_key_limit_exceeded");
                }
                other => panic!("unexpected {other}: {}", reply.text),
            }
        }
        assert_eq!(created, 5);
        for a in &apis {
            assert_eq!(a.list_ids(&sid).await.len(), 5);
            assert_eq!(a.service(&sid).await["key_count"], 5);
        }
    });
}

#[test]
fn fifty_rotations_of_one_key_over_three_replicas_give_one_successor() {
    let r = Replicas::start(3, &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let apis: Vec<Api> = r.servers.iter().map(|s| api(s, &r.token)).collect();
        let sid = apis[0].create_service("rot").await;
        let (kid, _) = apis[1].issue_ok(&sid).await;
        let calls = (0..50).map(|i| {
            let a = apis[i % 3].clone();
            let path = format!("/v1/services/{sid}/api-keys/{kid}/rotate");
            tokio::spawn(async move {
                a.call(Method::POST, &path, Some(json!({"grace_seconds": 300})))
                    .await
            })
        });
        let mut successors = Vec::new();
        for c in calls {
            let reply = c.await.unwrap();
            match reply.status.as_u16() {
                201 => successors.push(reply.json()["id"].as_str().unwrap().to_string()),
                409 => {
                    reply.expect_error(409, "api_key_not_active");
                }
                other => panic!("unexpected {other}: {}", reply.text),
            }
        }
        assert_eq!(successors.len(), 1, "{successors:?}");
        let ids = apis[2].list_ids(&sid).await;
        assert_eq!(
            ids.len(),
            2,
            "the old key (rotating) and one successor: {ids:?}"
        );
        assert!(ids.contains(&successors[0]) && ids.contains(&kid));
        assert_eq!(apis[0].service(&sid).await["key_count"], 1);
    });
}

#[test]
fn an_idempotent_replay_on_another_replica_names_the_key_and_issues_none() {
    let r = Replicas::start(2, &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let a = api(&r.servers[0], &r.token);
        let b = api(&r.servers[1], &r.token);
        let sid = a.create_service("idem").await;
        let first = a.issue_idem(&sid, json!({"name": "ci"}), "retry-1").await;
        assert_eq!(first.status, 201, "{}", first.text);
        let kid = first.json()["id"].as_str().unwrap().to_string();
        // The same request on the replica that issued it: the same answer from memory.
        let again = a.issue_idem(&sid, json!({"name": "ci"}), "retry-1").await;
        assert_eq!(again.status, 201);
        assert_eq!(again.json()["id"], kid.as_str());
        // On another replica: no plaintext there, so 409 naming the key, and no second key.
        let other = b.issue_idem(&sid, json!({"name": "ci"}), "retry-1").await;
        let msg = other.expect_error(409, "idempotency_secret_unavailable");
        assert!(msg.contains(&kid), "{msg}");
        assert_eq!(a.list_ids(&sid).await, vec![kid.clone()]);

        // Two replicas racing one fresh Idempotency-Key: never a second key.
        for round in 0..10 {
            let idem = format!("race-{round}");
            let (x, y) = tokio::join!(
                a.issue_idem(&sid, json!({}), &idem),
                b.issue_idem(&sid, json!({}), &idem)
            );
            let mut ok = 0;
            for reply in [&x, &y] {
                match reply.status.as_u16() {
                    201 => ok += 1,
                    409 => {
                        let v = reply.json();
                        let code = v["error"]["code"].as_str().unwrap();
                        assert!(
                            code == "idempotency_in_progress"
                                || code == "idempotency_secret_unavailable"
                                || code == "api_key_limit_exceeded",
                            "{}",
                            reply.text
                        );
                    }
                    other => panic!("unexpected {other}: {}", reply.text),
                }
            }
            assert!(ok <= 1, "round {round}: two keys for one Idempotency-Key");
            if a.list_ids(&sid).await.len() >= 5 {
                break;
            }
        }
        let keys = a.list_ids(&sid).await.len();
        let issued = pg::cluster().psql(
            &r.db.name,
            "SELECT count(*) FROM audit_events WHERE action = 'api_key.issue' AND outcome = 'ok'",
        );
        assert_eq!(issued, keys.to_string(), "every issued key is still listed");
    });
}

#[test]
fn tokens_made_with_database_count_on_every_replica() {
    let r = Replicas::start(2, &[]);
    let store = crate::common::pg_store_args(&r.db, &r.pepper_file);
    let mut args: Vec<&str> = store.iter().map(String::as_str).collect();
    args.extend(["--name", "ops", "--role", "viewer"]);
    let tmp = tempfile::tempdir().unwrap();
    let mut full = vec!["create"];
    full.extend(args);
    let out = crate::common::tokens(&tmp.path().join("unused"), &full);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("ragadm_"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for s in &r.servers {
            let reply = api(s, &token).get("/v1/services").await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            let denied = api(s, &token)
                .call(Method::POST, "/v1/services", Some(json!({"name": "x"})))
                .await;
            denied.expect_error(403, "forbidden");
        }
    });
    // Without the pepper file: refused with a clear error, nothing created.
    let out = crate::common::tokens(
        &tmp.path().join("unused"),
        &["list", "--database", &r.db.url],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("--pepper-file"),
        "{err}"
    );
}

#[test]
fn an_unreachable_database_at_start_is_retried_then_refused_without_the_password() {
    // A port nobody listens on: bind one, note it, let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("postgres://app:hunter2secret@127.0.0.1:{port}/keys");
    let pepper = tmp.path().join("pepper");
    let started = Instant::now();
    let (code, err, _) = serve_refused(
        &tmp.path().join("d"),
        &[
            "--database",
            &url,
            "--pepper-file",
            pepper.to_str().unwrap(),
            "--database-wait",
            "2",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(started.elapsed() >= Duration::from_secs(1), "it retried");
    assert!(err.contains("cannot reach the database"), "{err}");
    assert!(
        err.contains("not reachable yet"),
        "each retry is logged: {err}"
    );
    assert!(!err.contains("hunter2secret"), "the password leaked: {err}");
    assert!(err.contains("app:***@127.0.0.1"), "{err}");

    // A URL that is not PostgreSQL's: one clear line, no password either.
    let (code, err, _) = serve_refused(
        &tmp.path().join("d"),
        &[
            "--database",
            "mysql://app:hunter2secret@db/keys",
            "--pepper-file",
            pepper.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("not a PostgreSQL URL") && !err.contains("hunter2secret"),
        "{err}"
    );
}

#[test]
fn admin_calls_while_the_database_is_stopped_are_503_with_retry_after_and_recover() {
    // A cluster of its own: stopping the shared one would cut the other tests off.
    let c = pg::private_cluster();
    let db = c.fresh_database();
    let tmp = tempfile::tempdir().unwrap();
    let srv = Server::start_pg(&db, &tmp.path().join("pepper"), &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let a = Api::new(&srv);
        let sid = a.create_service("outage").await;
        let (kid, _) = a.issue_ok(&sid).await;
        c.stop_immediate();
        let calls: Vec<(Method, String, Option<serde_json::Value>)> = vec![
            (Method::GET, "/v1/services".into(), None),
            (Method::GET, format!("/v1/services/{sid}/api-keys"), None),
            (
                Method::POST,
                format!("/v1/services/{sid}/api-keys"),
                Some(json!({})),
            ),
            (
                Method::DELETE,
                format!("/v1/services/{sid}/api-keys/{kid}"),
                None,
            ),
            (
                Method::POST,
                "/v1/services".into(),
                Some(json!({"name": "during"})),
            ),
        ];
        for (method, path, body) in calls {
            let started = Instant::now();
            let reply =
                tokio::time::timeout(Duration::from_secs(20), a.call(method.clone(), &path, body))
                    .await
                    .unwrap_or_else(|_| panic!("{method} {path} hung"));
            reply.expect_error(503, "unavailable");
            assert_eq!(reply.header("retry-after"), Some("1"), "{method} {path}");
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{method} {path} took {:?}",
                started.elapsed()
            );
        }
        c.start();
        // Recovers by itself: the key still there, calls answer again.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let reply = a.get(&format!("/v1/services/{sid}/api-keys")).await;
            if reply.status == 200 {
                let ids = a.list_ids(&sid).await;
                assert_eq!(ids, vec![kid.clone()]);
                break;
            }
            reply.expect_error(503, "unavailable");
            assert!(Instant::now() < deadline, "no recovery: {}", reply.text);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    assert!(!srv.log().contains("internal error"), "{}", srv.log());
}
