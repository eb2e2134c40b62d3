//! The replica kit: replicas of one database sharing a pepper file, readiness, key calls that
//! report their status instead of asserting it, and tight verification loops that remember when
//! each request was sent, to compare with the instant another replica answered a revocation.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::Server;
use super::api::{Api, Reply};

/// How the replicas of a test reach PostgreSQL: the same scenarios run both ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `--database` is PostgreSQL itself.
    Direct,
    /// `--database` is a PgBouncer in transaction mode in front of it (`tests/common/pgbouncer.rs`),
    /// `--database-listen` PostgreSQL itself (docs/operating.md, PgBouncer).
    PgBouncer,
}

/// Flags of every replica here: verification failures are part of these tests, so the
/// per-address limit (every request comes from 127.0.0.1) must not answer 429 in their place.
pub const FLAGS: &[&str] = &["--verify-failures-per-minute", "1000000"];

/// Holds the binary's replica tests to one at a time. Each starts several replicas, and most
/// bound what they see by a lease or a revocation's answer: on two loaded cores, a second such
/// test (tight verification loops, a cut-off replica) starves the first past those bounds (503s
/// where the test wants an answer). Hold the guard for the whole test.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    // Every test has its own runtime; tokio's lock is not tied to one.
    static ONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ONE.lock().await
}

/// `FLAGS` plus `extra`.
pub fn flags(extra: &[&'static str]) -> Vec<&'static str> {
    FLAGS.iter().chain(extra).copied().collect()
}

/// A replica of the database `url` with its own data dir `dir/name`, the pepper file shared in
/// `dir`, `FLAGS` and `extra` flags.
pub fn replica(url: &str, dir: &Path, name: &str, extra: &[&str]) -> Server {
    let pepper = dir.join("pepper");
    let mut args: Vec<&str> = vec!["--database", url, "--pepper-file"];
    let pepper = pepper.to_str().expect("a UTF-8 temp path").to_owned();
    args.push(&pepper);
    args.extend_from_slice(FLAGS);
    args.extend_from_slice(extra);
    Server::start_in(&dir.join(name), &args)
}

/// The admin token the first replica wrote into its data dir.
pub fn bootstrap_token(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .find_map(|d| std::fs::read_to_string(d.join("admin.token")).ok())
        .map(|t| t.trim().to_owned())
        .expect("one replica wrote admin.token")
}

/// `GET /readyz`: the status and body.
pub async fn readyz(api: &Api) -> Reply {
    api.get_public("/readyz").await
}

/// `GET /readyz`'s status, or None when the replica did not answer (connection refused, timeout).
pub async fn readyz_status(api: &Api) -> Option<u16> {
    api.http
        .get(api.url("/readyz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Waits until `GET /readyz` answers 200, or panics after `within`.
pub async fn wait_ready(api: &Api, within: Duration) {
    let end = Instant::now() + within;
    loop {
        let status = readyz_status(api).await;
        if status == Some(200) {
            return;
        }
        assert!(
            Instant::now() < end,
            "{} not ready after {within:?}: {status:?}",
            api.base
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One answer: the status and the error code (if any), or None when no answer came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub code: Option<String>,
    pub body: Value,
}

/// Sends an admin call; None when the replica did not answer (killed, refused) within 10 s.
pub async fn call(api: &Api, method: Method, path: &str, body: Option<Value>) -> Option<Answer> {
    let mut req = api
        .http
        .request(method, api.url(path))
        .bearer_auth(&api.token)
        .timeout(Duration::from_secs(10));
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.ok()?;
    let status = resp.status().as_u16();
    let text = resp.text().await.ok()?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().map(str::to_string);
    Some(Answer { status, code, body })
}

/// Issues a key on `sid`: Ok((id, plaintext)) on 201, else the answer (None: no answer).
pub async fn issue(api: &Api, sid: &str) -> Result<(String, String), Option<Answer>> {
    let a = call(
        api,
        Method::POST,
        &format!("/v1/services/{sid}/api-keys"),
        Some(json!({})),
    )
    .await;
    match a {
        Some(a) if a.status == 201 => Ok((
            a.body["id"].as_str().expect("key id").to_string(),
            a.body["key"].as_str().expect("plaintext").to_string(),
        )),
        other => Err(other),
    }
}

/// `DELETE` of a key: its status, None when no answer came.
pub async fn delete(api: &Api, sid: &str, kid: &str) -> Option<u16> {
    call(
        api,
        Method::DELETE,
        &format!("/v1/services/{sid}/api-keys/{kid}"),
        None,
    )
    .await
    .map(|a| a.status)
}

/// `PATCH {"enabled":false}`: the answer.
pub async fn disable(api: &Api, sid: &str, kid: &str) -> Option<Answer> {
    call(
        api,
        Method::PATCH,
        &format!("/v1/services/{sid}/api-keys/{kid}"),
        Some(json!({"enabled": false})),
    )
    .await
}

/// `POST …/rotate {"grace_seconds":grace}`: the answer (201 carries the successor).
pub async fn rotate(api: &Api, sid: &str, kid: &str, grace: u32) -> Option<Answer> {
    call(
        api,
        Method::POST,
        &format!("/v1/services/{sid}/api-keys/{kid}/rotate"),
        Some(json!({"grace_seconds": grace})),
    )
    .await
}

/// `GET /v1/verify` with `key`: the status, None when no answer came within 10 s.
pub async fn verify_status(http: &reqwest::Client, base: &str, key: &str) -> Option<u16> {
    super::api::try_verify(http, base, key, Duration::from_secs(10))
        .await
        .map(|r| r.status.as_u16())
}

/// One verification of a tight loop: when it was sent (before the request left), and its status
/// (0: no answer).
#[derive(Clone, Copy, Debug)]
pub struct Seen {
    pub sent: Instant,
    pub status: u16,
}

/// A tight loop verifying one key on one replica until stopped.
pub struct Loop {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Loop {
    /// Starts verifying `key` on `base`, one request after the other, on a connection of its own.
    pub fn start(base: String, key: String) -> Loop {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let http = super::http();
            while !st.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let status = verify_status(&http, &base, &key).await.unwrap_or(0);
                s.lock().unwrap().push(Seen { sent, status });
            }
        });
        Loop { seen, stop, task }
    }

    /// Waits until the loop has seen `status` at least once, or panics after `within`.
    pub async fn wait_for(&self, status: u16, within: Duration) {
        let end = Instant::now() + within;
        while !self.seen.lock().unwrap().iter().any(|s| s.status == status) {
            assert!(
                Instant::now() < end,
                "the loop never saw {status}: {:?}",
                self.statuses()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Waits until `n` requests sent after `t` have their answers, or panics after `within`.
    pub async fn wait_after(&self, t: Instant, n: usize, within: Duration) {
        let end = Instant::now() + within;
        while self
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.sent > t)
            .count()
            < n
        {
            assert!(Instant::now() < end, "the loop stalled after the answer");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Stops the loop and returns everything it saw.
    pub async fn finish(self) -> Vec<Seen> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        Arc::try_unwrap(self.seen)
            .map(|m| m.into_inner().unwrap())
            .unwrap_or_else(|a| a.lock().unwrap().clone())
    }

    fn statuses(&self) -> Vec<u16> {
        self.seen.lock().unwrap().iter().map(|s| s.status).collect()
    }
}

/// The ways a key is stopped on A (docs/api.md, Several replicas: delete, disable, rotate with grace
/// 0); the caller checks the answer.
pub async fn stop_key(api: &Api, sid: &str, kid: &str, how: usize) -> Reply {
    let path = format!("/v1/services/{sid}/api-keys/{kid}");
    match how % 3 {
        0 => api.call(Method::DELETE, &path, None).await,
        1 => {
            api.call(Method::PATCH, &path, Some(json!({"enabled": false})))
                .await
        }
        _ => {
            api.call(
                Method::POST,
                &format!("{path}/rotate"),
                Some(json!({"grace_seconds": 0})),
            )
            .await
        }
    }
}

/// The p-th percentile (0..=100) of `xs` in milliseconds.
pub fn percentile(xs: &mut [Duration], p: usize) -> f64 {
    xs.sort_unstable();
    if xs.is_empty() {
        return 0.0;
    }
    let i = ((xs.len() - 1) * p) / 100;
    xs[i].as_secs_f64() * 1000.0
}

/// Deletes every key of the service (a disabled key or a successor keeps its slot).
pub async fn clear(api: &Api, sid: &str) {
    for id in api.list_ids(sid).await {
        let r = api.delete_key(sid, &id).await;
        assert_eq!(r.status, 204, "delete {id}: {}", r.text);
    }
}

/// The database's address, for a proxy in front of it.
pub fn db_addr(url: &str) -> SocketAddr {
    let rest = url
        .split("@")
        .nth(1)
        .unwrap_or(url.trim_start_matches("postgres://"));
    let hostport = rest.split('/').next().expect("host:port in the URL");
    std::net::ToSocketAddrs::to_socket_addrs(hostport)
        .expect("a resolvable database address")
        .next()
        .expect("an address")
}

/// `url` with its host:port replaced by `addr`.
pub fn via(url: &str, addr: SocketAddr) -> String {
    let (head, rest) = url
        .split_once('@')
        .unwrap_or(("postgres:/", url.trim_start_matches("postgres://")));
    let tail = rest.split_once('/').map(|(_, t)| t).unwrap_or("");
    format!("{head}@{addr}/{tail}")
}
