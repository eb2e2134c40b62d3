//! The drain (docs/operating.md, Rolling restarts and the drain; docs/api.md, Endpoints): on
//! SIGTERM `/readyz` and `/readyz/verify` answer 503 at once, naming the cause, while everything
//! else is still served as usual (new connections included, keep-alive kept) for `--drain`
//! seconds; then the listener stops accepting, requests in flight finish asking their clients to
//! close (`Connection: close`), and the process exits 0. A second SIGTERM, or a SIGINT, ends the wait at once. And starting up: not ready
//! before the lease is held.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common;
use crate::common::Server;
use crate::common::api::{Api, verify};
use crate::common::raw::{Raw, parse_raw};
use crate::metrics_scrape::{metrics_url, scrape};

const DRAIN: Duration = Duration::from_secs(3);

/// Polls `GET path` (no credential) until it answers `status`, or panics after `within`.
async fn wait_status(api: &Api, path: &str, status: u16, within: Duration) {
    let end = Instant::now() + within;
    loop {
        let got = api.get_public(path).await.status.as_u16();
        if got == status {
            return;
        }
        assert!(
            Instant::now() < end,
            "{path} still answers {got}, not {status}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One request on an open connection, and its answer (framed by Content-Length).
async fn exchange(conn: &mut TcpStream, request: &str) -> Raw {
    conn.write_all(request.as_bytes()).await.expect("write");
    read_answer(conn).await
}

async fn read_answer(conn: &mut TcpStream) -> Raw {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut tmp))
            .await
            .expect("an answer within 10 s")
            .expect("read");
        assert!(
            n > 0,
            "closed before a whole answer: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&tmp[..n]);
        if let Some(r) = parse_raw(&buf) {
            return r;
        }
    }
}

fn asks_to_close(r: &Raw) -> bool {
    r.headers
        .get("connection")
        .is_some_and(|c| c.eq_ignore_ascii_case("close"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigterm_readyz_answers_503_at_once_while_everything_is_still_served() {
    let mut srv = Server::start_with(&["--drain", "3", "--metrics-listen", "127.0.0.1:0"]);
    let api = Api::new(&srv);
    let metrics = metrics_url(&srv);
    let sid = api.create_service("drain").await;
    let (_, key) = api.issue_ok(&sid).await;
    for path in ["/readyz", "/readyz/verify"] {
        let r = api.get_public(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(r.json(), json!({"status": "ready"}), "{path}");
    }
    let (_, m) = scrape(&api.http, &metrics).await;
    assert_eq!(m.get("ragkeys_draining"), Some(&0.0));

    let signalled = Instant::now();
    srv.signal(libc::SIGTERM);
    // At once: well within the drain, whatever else the machine is doing.
    wait_status(&api, "/readyz", 503, Duration::from_secs(2)).await;
    for path in ["/readyz", "/readyz/verify"] {
        let r = api.get_public(path).await;
        let msg = r.expect_error(503, "unavailable");
        assert!(msg.contains("draining"), "{path}: {msg}");
        assert_eq!(r.header("retry-after"), Some("1"), "{path}");
    }
    let (_, m) = scrape(&api.http, &metrics).await;
    assert_eq!(m.get("ragkeys_draining"), Some(&1.0));

    // Still served, each on a new connection, until a second before the drain ends.
    let mut verified = 0;
    while signalled.elapsed() < DRAIN - Duration::from_secs(1) {
        let r = verify(&common::http(), &api.base, &key).await;
        assert_eq!(r.status, 200, "verify while draining: {}", r.text);
        verified += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(verified > 0);
    assert_eq!(api.get("/v1/services").await.status, 200);
    assert_eq!(api.get_public("/healthz").await.status, 200);

    // Then it stops by itself, cleanly, not before the drain is over.
    let status = tokio::task::block_in_place(|| srv.wait_exit(Duration::from_secs(30)))
        .unwrap_or_else(|| panic!("still running 30 s after SIGTERM:\n{}", srv.log()));
    assert_eq!(status.code(), Some(0), "{}", srv.log());
    assert!(
        signalled.elapsed() >= DRAIN,
        "exited {:?} after SIGTERM",
        signalled.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_or_a_sigint_ends_the_wait_at_once() {
    let cases = [
        ("SIGTERM then SIGTERM", libc::SIGTERM, Some(libc::SIGTERM)),
        ("SIGTERM then SIGINT", libc::SIGTERM, Some(libc::SIGINT)),
        ("SIGINT", libc::SIGINT, None),
    ];
    for (what, first, second) in cases {
        // A drain far longer than the test waits.
        let mut srv = Server::start_with(&["--drain", "600"]);
        let api = Api::new(&srv);
        srv.signal(first);
        if let Some(second) = second {
            // Draining, and still serving.
            wait_status(&api, "/readyz", 503, Duration::from_secs(2)).await;
            assert_eq!(api.get_public("/healthz").await.status, 200, "{what}");
            srv.signal(second);
        }
        // At once: seconds at most on a busy machine, against a drain of ten minutes.
        let status = tokio::task::block_in_place(|| srv.wait_exit(Duration::from_secs(5)))
            .unwrap_or_else(|| panic!("{what}: still running 5 s later:\n{}", srv.log()));
        assert_eq!(status.code(), Some(0), "{what}: {}", srv.log());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_is_kept_while_draining_and_requests_in_flight_finish_asked_to_close() {
    let mut srv = Server::start_with(&["--drain", "3"]);
    let api = Api::new(&srv);
    let sid = api.create_service("keep-alive").await;
    let (_, key) = api.issue_ok(&sid).await;
    let host = srv.addr;
    let verify_req =
        format!("GET /v1/verify HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\r\n");
    let mut kept = TcpStream::connect(host).await.expect("connect");
    let r = exchange(&mut kept, &verify_req).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!asks_to_close(&r), "{:?}", r.headers);
    // A request in flight across the end of the drain: its head now, its body later.
    let body = json!({"name": "in-flight"}).to_string();
    let mut slow = TcpStream::connect(host).await.expect("connect");
    let head = format!(
        "POST /v1/services HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        srv.token,
        body.len()
    );
    slow.write_all(head.as_bytes()).await.expect("write head");

    let signalled = Instant::now();
    srv.signal(libc::SIGTERM);
    wait_status(&api, "/readyz", 503, Duration::from_secs(2)).await;
    // While it drains it answers as usual: the kept connection stays kept, request after request.
    for _ in 0..3 {
        let r = exchange(&mut kept, &verify_req).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            !asks_to_close(&r),
            "Connection: close {:?} after SIGTERM, before the drain ended: {:?}",
            signalled.elapsed(),
            r.headers
        );
    }
    assert!(
        signalled.elapsed() < DRAIN,
        "the drain ended before the kept connection was checked: nothing was"
    );

    // Once the listener stops accepting, the request in flight is still answered, and asks
    // its client to close.
    let end = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(host).await.is_ok() {
        assert!(Instant::now() < end, "still accepting 20 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The kept connection, idle, is closed.
    let mut rest = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), kept.read(&mut rest))
        .await
        .expect("the idle connection closed by the service")
        .unwrap_or(0);
    assert_eq!(n, 0, "the idle kept connection got bytes");
    slow.write_all(body.as_bytes()).await.expect("write body");
    let r = read_answer(&mut slow).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(asks_to_close(&r), "{:?}", r.headers);
    let status = tokio::task::block_in_place(|| srv.wait_exit(Duration::from_secs(20)))
        .unwrap_or_else(|| panic!("still running:\n{}", srv.log()));
    assert_eq!(status.code(), Some(0), "{}", srv.log());
}

/// Starting up (docs/api.md, Shutting down and starting up): until a replica holds its lease
/// over a synced index, both readiness routes and verify answer 503, even once it listens. Its
/// registration is held up here by a lock on the replicas' table; the replica listens anyway
/// after its first-sync wait, and must not be ready until the lock goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_starting_replica_is_not_ready_until_it_holds_its_lease() {
    use crate::common::pg::cluster;
    use crate::common::replicas::wait_ready;

    let first = common::Replicas::start(1, &[]);
    let api = first.api(0);
    let sid = api.create_service("starting").await;
    let (_, key) = api.issue_ok(&sid).await;
    let name = first.db.name.clone();
    // Held by a session of its own (at most a minute), ended by the test.
    let lock = std::thread::spawn(move || {
        cluster().try_psql(
            &name,
            "BEGIN; LOCK TABLE replicas IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT;",
        )
    });
    let end = Instant::now() + Duration::from_secs(10);
    while cluster()
        .psql(
            &first.db.name,
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
             WHERE c.relname = 'replicas' AND l.mode = 'AccessExclusiveLock' AND l.granted",
        )
        .trim()
        != "1"
    {
        assert!(Instant::now() < end, "the lock was never taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let second =
        tokio::task::block_in_place(|| Server::start_pg(&first.db, &first.pepper_file, &[]));
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "listening only after the lock went ({:?}): nothing was checked",
        started.elapsed()
    );
    let b = Api::new(&second);
    for path in ["/readyz", "/readyz/verify"] {
        let r = b.get_public(path).await;
        let msg = r.expect_error(503, "unavailable");
        assert!(msg.contains("not in sync"), "{path}: {msg}");
    }
    b.verify(&key).await.expect_error(503, "unavailable");
    cluster().psql(
        "postgres",
        &format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = '{}' AND query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()",
            first.db.name
        ),
    );
    let ended = tokio::task::block_in_place(|| lock.join());
    assert!(ended.is_ok(), "the lock's session");
    wait_ready(&b, Duration::from_secs(30)).await;
    assert_eq!(b.get_public("/readyz/verify").await.status, 200);
    assert_eq!(b.verify(&key).await.status, 200);
}
