//! The reqwest load generator, kept for issue+delete only (each waits on an fsync, so the client
//! is not the bottleneck; the GET cases use wrk): N clients, one request after another.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::procs::cpu_seconds;

/// The case this generator runs.
#[derive(Clone)]
pub enum Op {
    /// Issue (timed) and then delete (timed separately) to keep a slot free.
    IssueDelete { url: String, auth: String },
}

#[derive(Default)]
pub struct Sample {
    pub lat: Vec<Duration>,
    pub extra: Vec<Duration>,
    pub errors: u64,
    /// CPU seconds the server process spent meanwhile (user + system, all threads).
    pub cpu: f64,
}

pub async fn expect(
    resp: Result<reqwest::Response, reqwest::Error>,
    status: u16,
) -> Option<reqwest::Response> {
    match resp {
        Ok(r) if r.status().as_u16() == status => Some(r),
        _ => None,
    }
}

pub async fn run_op(http: &reqwest::Client, op: &Op, s: &mut Sample) {
    let Op::IssueDelete { url, auth } = op;
    let t = Instant::now();
    let r = http
        .post(url)
        .header("authorization", auth)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await;
    let id = match expect(r, 201).await {
        Some(r) => r
            .json::<Value>()
            .await
            .ok()
            .and_then(|v| v["id"].as_str().map(String::from)),
        None => None,
    };
    let Some(id) = id else {
        s.errors += 1;
        return;
    };
    s.lat.push(t.elapsed());
    let t = Instant::now();
    let r = http
        .delete(format!("{url}/{id}"))
        .header("authorization", auth)
        .send()
        .await;
    match expect(r, 204).await {
        Some(_) => s.extra.push(t.elapsed()),
        None => s.errors += 1,
    }
}

/// `conns` clients, each sending one request after another for `secs`, and the CPU seconds
/// process `pid` spent meanwhile (in the sample).
pub async fn load(
    http: &reqwest::Client,
    op: &Op,
    conns: usize,
    secs: f64,
    pid: u32,
) -> (Sample, f64) {
    let cpu_before = cpu_seconds(pid);
    let (mut all, elapsed) = spread(http, std::slice::from_ref(op), conns, secs).await;
    all.cpu = cpu_seconds(pid) - cpu_before;
    (all, elapsed)
}

/// `conns` clients for `secs`, client i running `ops[i % ops.len()]` one request after another;
/// the samples of all, and the seconds it took.
pub async fn spread(http: &reqwest::Client, ops: &[Op], conns: usize, secs: f64) -> (Sample, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let began = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|i| {
            let (http, op, stop) = (http.clone(), ops[i % ops.len()].clone(), stop.clone());
            tokio::spawn(async move {
                let mut s = Sample::default();
                while !stop.load(Ordering::Relaxed) {
                    run_op(&http, &op, &mut s).await;
                }
                s
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Sample::default();
    for t in tasks {
        if let Ok(s) = t.await {
            all.lat.extend(s.lat);
            all.extra.extend(s.extra);
            all.errors += s.errors;
        }
    }
    (all, began.elapsed().as_secs_f64())
}
