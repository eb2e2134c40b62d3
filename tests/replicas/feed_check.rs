//! The start-up check of the change feed (docs/operating.md, PgBouncer): `serve` with
//! `--database` a PgBouncer in transaction mode refuses to start without `--database-listen`,
//! saying to set it, and starts with it; on a hot standby in recovery it neither refuses nor
//! serves: `/readyz` answers 503 saying why until `pg_ctl promote`, then it is ready by itself.
//! A start-up parameter the pooler refuses stops the start at once, naming it.

use std::time::{Duration, Instant};

use crate::common;
use crate::common::api::Api;
use crate::common::pgbouncer::PgBouncer;
use crate::common::replicas::{FLAGS, one_at_a_time, readyz, wait_ready};
use crate::common::{Server, pg};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn behind_pgbouncer_serve_refuses_to_start_without_database_listen_and_starts_with_it() {
    let _one = one_at_a_time().await;
    let db = pg::fresh_database();
    let bouncer = PgBouncer::in_front_of_cluster();
    let dir = tempfile::tempdir().unwrap();
    let pepper = dir.path().join("pepper");
    let through = bouncer.url(&db.url);
    let pepper_arg = pepper.display().to_string();
    let args = ["--database", &through, "--pepper-file", &pepper_arg];
    let started = Instant::now();
    let (code, stderr, _) = common::serve_refused(&dir.path().join("refused"), &args);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("--database-listen"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "refused at once, not after the start-up retries: {:?}",
        started.elapsed()
    );
    assert!(
        !stderr.contains("unsupported startup parameter"),
        "no start-up parameter PgBouncer refuses: {stderr}"
    );
    assert!(bouncer.served(&db.name), "{}", bouncer.log());
    // With it, the same replica starts and becomes ready.
    let mut with: Vec<&str> = args.to_vec();
    with.extend(["--database-listen", &db.url]);
    with.extend_from_slice(FLAGS);
    let s = Server::start_in(&dir.path().join("ok"), &with);
    let api = Api::new(&s);
    wait_ready(&api, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_a_standby_in_recovery_serve_waits_not_ready_until_it_is_promoted() {
    let _one = one_at_a_time().await;
    let primary = pg::private_cluster();
    let db = primary.fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let pepper = dir.path().join("pepper");
    // The primary set up as ragkeys leaves it: schema, pepper check, the first admin token, a key.
    let first = Server::start_pg(&db, &pepper, FLAGS);
    let api = Api::new(&first);
    wait_ready(&api, Duration::from_secs(30)).await;
    let sid = api.create_service("standby").await;
    let (_, key) = api.issue_ok(&sid).await;
    let token = first.token.clone();
    drop(first);
    let standby = primary.standby();
    let on_standby = standby.database(&db.name);
    // The key reached the standby before ragkeys starts there.
    let deadline = Instant::now() + Duration::from_secs(30);
    while standby.psql(&db.name, "SELECT count(*) FROM api_keys") != "1" {
        assert!(Instant::now() < deadline, "the standby did not catch up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = Server::start_pg(&on_standby, &pepper, FLAGS);
    let api = Api::new(&s).as_token(&token);
    // Waiting, not refusing: it listens, and says why it is not ready, for as long as it lasts.
    for _ in 0..3 {
        let r = readyz(&api).await;
        assert_eq!(r.status, 503, "{}", r.text);
        assert!(r.text.contains("recovery"), "{}", r.text);
        assert_eq!(api.verify(&key).await.status, 503);
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    assert!(s.log().contains("in recovery"), "{}", s.log());
    standby.promote();
    wait_ready(&api, Duration::from_secs(30)).await;
    assert_eq!(api.verify(&key).await.status, 200);
    // Writes go through, and the change feed works on the promoted database.
    let (_, fresh) = api.issue_ok(&sid).await;
    assert_eq!(api.verify(&fresh).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_start_up_parameter_the_pooler_refuses_stops_the_start_at_once_naming_it() {
    let _one = one_at_a_time().await;
    let db = pg::fresh_database();
    let bouncer = PgBouncer::in_front_of_cluster();
    let dir = tempfile::tempdir().unwrap();
    let pepper = dir.path().join("pepper").display().to_string();
    // libpq's `options` in the URL: a start-up parameter PgBouncer refuses.
    let through = format!(
        "{}?options=-c%20statement_timeout%3D1000",
        bouncer.url(&db.url)
    );
    let listen = db.url.clone();
    let args = [
        "--database",
        &through,
        "--database-listen",
        &listen,
        "--pepper-file",
        &pepper,
    ];
    let (code, stderr, ran) = common::serve_refused(&dir.path().join("data"), &args);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("unsupported startup parameter: options")
            && stderr.contains("ignore_startup_parameters"),
        "{stderr}"
    );
    assert!(
        ran < Duration::from_secs(10),
        "at once, not retried as unreachable: {ran:?}"
    );
}
