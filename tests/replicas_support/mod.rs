//! Helpers of the replica suites: replicas of one database sharing a pepper file, readiness,
//! and a tight verification loop that remembers when each request started.
#![allow(dead_code)]

pub mod proxy;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::common::Server;
use crate::common::api::{Api, Reply, verify};

/// Verification failures are part of these tests: the per-address limit must not interfere.
pub const FLAGS: &[&str] = &["--verify-failures-per-minute", "1000000"];

/// A replica of the database `url` with its own data dir `dir/name`, the pepper file shared in
/// `dir`, and `extra` flags.
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

/// Waits until `GET /readyz` answers 200 (replicas sync by themselves), or panics after
/// `within`.
pub async fn wait_ready(api: &Api, within: Duration) {
    let end = Instant::now() + within;
    loop {
        let r = api
            .http
            .get(api.url("/readyz"))
            .send()
            .await
            .expect("readyz reaches the replica");
        if r.status() == 200 {
            return;
        }
        assert!(
            Instant::now() < end,
            "{} not ready after {within:?}: {}",
            api.base,
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `GET /readyz`: the status and body.
pub async fn readyz(api: &Api) -> Reply {
    crate::common::api::read(
        api.http
            .get(api.url("/readyz"))
            .send()
            .await
            .expect("readyz reaches the replica"),
    )
    .await
}

/// One verification of a tight loop: when the request was sent, and its status.
#[derive(Clone, Copy, Debug)]
pub struct Seen {
    pub sent: Instant,
    pub status: u16,
}

/// Verifies `key` on `api` over and over (one request at a time) until stopped.
pub struct Hammer {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<Seen>>,
}

impl Hammer {
    pub fn start(api: &Api, key: &str) -> Hammer {
        let stop = Arc::new(AtomicBool::new(false));
        let (api, key, flag) = (api.clone(), key.to_owned(), stop.clone());
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            while !flag.load(Ordering::SeqCst) {
                let sent = Instant::now();
                let r = verify(&api.http, &api.base, &key).await;
                seen.push(Seen {
                    sent,
                    status: r.status.as_u16(),
                });
            }
            seen
        });
        Hammer { stop, task }
    }

    pub async fn stop(self) -> Vec<Seen> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("the verify loop ran")
    }
}

/// The ways a key is stopped on A (API.md, Several replicas: delete, disable, rotate with grace
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
