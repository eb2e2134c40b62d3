//! Benchmark of `ragkeys serve` on PostgreSQL (issue 10, *Performance*): `GET /v1/verify` on the
//! PostgreSQL store against SQLite's and the bare axum handler in the same run (wrk, alternating
//! slices, medians of per-round ratios); issue and delete p50/p99 at BENCH_CONNS clients (32) on
//! one replica and spread over three; revocation (a DELETE on one of three replicas, sent to its
//! answer, one client, each key in use on all three); and the time a replica cut off from the
//! database (a silent partition by a proxy) takes to stop answering from memory.
//!
//! Run it with `cargo bench --bench replicas` (needs `wrk` and the PostgreSQL server binaries,
//! as the tests: a throwaway cluster from tests/common/pg.rs, or RAGKEYS_TEST_DATABASE_URL).
//! Tunables: BENCH_SECS (3 per slice), BENCH_ROUNDS (5), BENCH_CONNS (32), BENCH_REVOCATIONS
//! (300), BENCH_CUTS (10), BENCH_LOG (info), RAGKEYS_BENCH_BIN.

// Shared with benches/server; this bench uses part of it.
#[allow(dead_code)]
#[path = "../common/mod.rs"]
mod common;
// The tests' throwaway PostgreSQL (or RAGKEYS_TEST_DATABASE_URL).
#[path = "../../tests/common/pg.rs"]
mod pg;
mod proxy;

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::load::{Op, spread};
use common::procs::{Answer, BARE_FLAG, Proc, check_same_answer, start_bare, start_service};
use common::stats::{Runs, median, pct};
use common::{Settings, env_num, wrk};

/// A replica of `url` with the shared `pepper` file and a data dir of its own.
fn start_replica(
    bin: &str,
    dir: &Path,
    url: &str,
    pepper: &Path,
    log: &str,
) -> Result<(Proc, SocketAddr), String> {
    let pepper = pepper.to_str().ok_or("a UTF-8 pepper path")?;
    start_service(bin, dir, log, &["--database", url, "--pepper-file", pepper])
}

/// One ragkeys reached over HTTP with the manager token.
#[derive(Clone)]
struct Node {
    base: String,
    auth: String,
    http: reqwest::Client,
}

impl Node {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("authorization", &self.auth);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        match req.send().await {
            Ok(r) => {
                let s = r.status().as_u16();
                (s, r.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }

    async fn service(&self, name: &str) -> Result<String, String> {
        let (s, v) = self
            .send(
                reqwest::Method::POST,
                "/v1/services",
                Some(json!({ "name": name })),
            )
            .await;
        v["id"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| format!("create service: {s} {v}"))
    }

    async fn issue(&self, sid: &str) -> Result<(String, String), String> {
        let (s, v) = self
            .send(
                reqwest::Method::POST,
                &format!("/v1/services/{sid}/api-keys"),
                Some(json!({})),
            )
            .await;
        match (v["id"].as_str(), v["key"].as_str()) {
            (Some(id), Some(key)) => Ok((id.into(), key.into())),
            _ => Err(format!("issue: {s} {v}")),
        }
    }

    async fn verify(&self, key: &str) -> u16 {
        match self
            .http
            .get(format!("{}/v1/verify", self.base))
            .bearer_auth(key)
            .send()
            .await
        {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        }
    }

    async fn ready(&self) -> bool {
        matches!(
            self.http.get(format!("{}/readyz", self.base)).send().await,
            Ok(r) if r.status() == 200
        )
    }

    async fn wait_ready(&self, within: Duration) -> Result<(), String> {
        let end = Instant::now() + within;
        while !self.ready().await {
            if Instant::now() > end {
                return Err(format!("{} not ready within {within:?}", self.base));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }
}

/// One wrk case over the rounds: requests/s, p50 and p99 ms, server CPU µs per request.
#[derive(Default)]
struct Row {
    rps: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    cpu_us: Vec<f64>,
    errors: u64,
}

/// The `p` percentile of `d`, in ms.
fn ms(d: &[Duration], p: f64) -> f64 {
    let mut v = d.to_vec();
    v.sort();
    pct(&v, p)
}

async fn bench() -> Result<(), String> {
    let Settings {
        secs,
        rounds,
        conns,
        log,
        bin,
    } = Settings::from_env();
    let revocations = env_num("BENCH_REVOCATIONS", 300).max(1) as usize;
    let cuts = env_num("BENCH_CUTS", 10).max(1) as usize;

    let cluster = tokio::task::block_in_place(pg::cluster);
    let db = tokio::task::block_in_place(|| cluster.fresh_database());
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let pepper = tmp.path().join("pepper");
    // Replica C reaches the database through the partitioning proxy.
    let pg_addr: SocketAddr = format!("127.0.0.1:{}", cluster.port())
        .parse()
        .map_err(|e| format!("{e}"))?;
    let proxy = proxy::Proxy::start(pg_addr).await?;
    let via_proxy = db.url.replace(
        &format!(":{}/", cluster.port()),
        &format!(":{}/", proxy.addr.port()),
    );
    let mut procs = Vec::new();
    let mut addrs = Vec::new();
    for (i, url) in [&db.url, &db.url, &via_proxy].into_iter().enumerate() {
        let (p, a) = start_replica(&bin, &tmp.path().join(format!("r{i}")), url, &pepper, &log)?;
        procs.push(p);
        addrs.push(a);
    }
    let token = (0..3)
        .find_map(|i| std::fs::read_to_string(tmp.path().join(format!("r{i}/admin.token"))).ok())
        .ok_or("no replica wrote admin.token")?
        .trim()
        .to_string();
    let sqlite_dir = tmp.path().join("sqlite");
    let (sqlite, sqlite_addr) = start_service(&bin, &sqlite_dir, &log, &[])?;
    let sqlite_token = std::fs::read_to_string(sqlite_dir.join("admin.token"))
        .map_err(|e| format!("admin.token: {e}"))?
        .trim()
        .to_string();
    let http = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(conns)
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let nodes: Vec<Node> = addrs
        .iter()
        .map(|a| Node {
            base: format!("http://{a}"),
            auth: format!("Bearer {token}"),
            http: http.clone(),
        })
        .collect();
    for n in &nodes {
        n.wait_ready(Duration::from_secs(30)).await?;
    }
    let sq = Node {
        base: format!("http://{sqlite_addr}"),
        auth: format!("Bearer {sqlite_token}"),
        http: http.clone(),
    };
    let pg_sid = nodes[0].service("bench-verify").await?;
    let (_, pg_key) = nodes[0].issue(&pg_sid).await?;
    let sq_sid = sq.service("bench-verify").await?;
    let (_, sq_key) = sq.issue(&sq_sid).await?;
    // The floor answers what replica A answers for its key, byte for byte.
    let verified = Answer::fetch(&http, &nodes[0].base, &pg_key).await?;
    let (bare, bare_addr) = start_bare(BARE_FLAG, &verified)?;
    let floor = format!("http://{bare_addr}");
    check_same_answer(&http, &nodes[0].base, &floor, "/v1/verify", &pg_key).await?;
    eprintln!(
        "binary: {bin}\nRAGKEYS_LOG={log}; wrk -t1 -c{conns}, {secs} s per slice, {rounds} rounds"
    );

    // 1. Verify: PostgreSQL replica, SQLite, bare handler.
    let pg_h = format!("Authorization: Bearer {pg_key}");
    let sq_h = format!("Authorization: Bearer {sq_key}");
    let cases = [
        (
            "GET /v1/verify, ragkeys on PostgreSQL (replica A of 3)",
            format!("{}/v1/verify", nodes[0].base),
            pg_h.as_str(),
            procs[0].0.id(),
        ),
        (
            "GET /v1/verify, ragkeys on SQLite",
            format!("{}/v1/verify", sq.base),
            sq_h.as_str(),
            sqlite.0.id(),
        ),
        (
            "GET /v1/verify, bare axum handler",
            format!("http://{bare_addr}/v1/verify"),
            pg_h.as_str(),
            bare.0.id(),
        ),
    ];
    for (_, url, h, pid) in &cases {
        wrk::run(url, Some(h), conns, 1, *pid)?;
    }
    let mut rows: Vec<Row> = (0..3).map(|_| Row::default()).collect();
    let (mut pg_ratio, mut sq_ratio) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 2, 1] } else { [1, 2, 0] };
        let mut rps = [0.0; 3];
        for i in order {
            let (_, url, h, pid) = &cases[i];
            let r = wrk::run(url, Some(h), conns, secs, *pid)?;
            rows[i].rps.push(r.rps);
            rows[i].p50.push(r.p50_ms);
            rows[i].p99.push(r.p99_ms);
            rows[i].cpu_us.push(r.cpu * 1e6 / r.requests.max(1) as f64);
            rows[i].errors += r.errors;
            rps[i] = r.rps;
        }
        pg_ratio.push(rps[0] / rps[2]);
        sq_ratio.push(rps[1] / rps[2]);
        eprintln!(
            "round {round}: verify PostgreSQL {:.0}, SQLite {:.0}, bare {:.0} req/s ({:.2}, {:.2})",
            rps[0],
            rps[1],
            rps[2],
            rps[0] / rps[2],
            rps[1] / rps[2]
        );
    }

    // 2. Issue and delete at `conns` clients: one replica, then spread over three.
    let sid = nodes[0].service("bench-issue").await?;
    let op = |n: &Node| Op::IssueDelete {
        url: format!("{}/v1/services/{sid}/api-keys", n.base),
        auth: n.auth.clone(),
    };
    let one = [op(&nodes[0])];
    let three: Vec<Op> = nodes.iter().map(op).collect();
    spread(&http, &one, conns, 1.0).await;
    let (mut iss1, mut del1, mut iss3, mut del3) = Default::default();
    for run in 0..rounds {
        let (s, t) = spread(&http, &one, conns, secs as f64).await;
        eprintln!("round {run}: one replica {} issues", s.lat.len());
        Runs::add(&mut iss1, s.lat, s.errors, t, 0.0);
        Runs::add(&mut del1, s.extra, 0, t, 0.0);
        let (s, t) = spread(&http, &three, conns, secs as f64).await;
        eprintln!("round {run}: three replicas {} issues", s.lat.len());
        Runs::add(&mut iss3, s.lat, s.errors, t, 0.0);
        Runs::add(&mut del3, s.extra, 0, t, 0.0);
    }

    // 3. Revocation with three replicas: each key in use on all three, then a DELETE on one.
    let rsid = nodes[0].service("bench-revoke").await?;
    let mut revoke = Vec::with_capacity(revocations);
    for i in 0..revocations {
        let (kid, key) = nodes[i % 3].issue(&rsid).await?;
        for n in &nodes {
            if n.verify(&key).await != 200 {
                return Err("a fresh key did not verify on every replica".into());
            }
        }
        let on = &nodes[(i + 1) % 3];
        let t = Instant::now();
        let (s, _) = on
            .send(
                reqwest::Method::DELETE,
                &format!("/v1/services/{rsid}/api-keys/{kid}"),
                None,
            )
            .await;
        revoke.push(t.elapsed());
        if s != 204 {
            return Err(format!("revocation answered {s}"));
        }
        for n in &nodes {
            if n.verify(&key).await == 200 {
                return Err("a revoked key verified".into());
            }
        }
    }

    // 4. Replica C partitioned from the database: time until it stops answering from memory.
    let c = &nodes[2];
    let (_, ckey) = nodes[0].issue(&rsid).await?;
    let mut stop_after = Vec::new();
    let mut back_after = Vec::new();
    for _ in 0..cuts {
        c.wait_ready(Duration::from_secs(60)).await?;
        if c.verify(&ckey).await != 200 {
            return Err("replica C does not verify before the cut".into());
        }
        let t = Instant::now();
        proxy.cut();
        loop {
            let s = c.verify(&ckey).await;
            if s != 200 {
                if s != 503 {
                    return Err(format!("a cut-off replica answered {s}"));
                }
                stop_after.push(t.elapsed());
                break;
            }
            if t.elapsed() > Duration::from_secs(10) {
                return Err("a cut-off replica kept answering from memory for 10 s".into());
            }
        }
        // Partitioned a while longer, then healed: C comes back by itself.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let t = Instant::now();
        proxy.heal();
        c.wait_ready(Duration::from_secs(60)).await?;
        back_after.push(t.elapsed());
    }

    println!();
    println!("| case | connections | req/s | p50 ms | p99 ms | server CPU µs/req | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for ((name, ..), r) in cases.iter().zip(&rows) {
        println!(
            "| {name} | {conns} | {:.0} | {:.2} | {:.2} | {:.1} | {} |",
            median(r.rps.clone()),
            median(r.p50.clone()),
            median(r.p99.clone()),
            median(r.cpu_us.clone()),
            r.errors
        );
    }
    println!();
    println!(
        "| case (reqwest clients, issue then delete) | clients | req/s | p50 ms | p99 ms | - | errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    println!("{}", iss1.row("POST …/api-keys, one replica", conns));
    println!("{}", del1.row("DELETE …/api-keys/{id}, one replica", conns));
    println!(
        "{}",
        iss3.row("POST …/api-keys, spread over three replicas", conns)
    );
    println!(
        "{}",
        del3.row("DELETE …/api-keys/{id}, spread over three replicas", conns)
    );
    println!();
    println!(
        "revocation, three replicas, one client ({revocations} DELETEs, each key in use on all three): \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(&revoke, 0.5),
        ms(&revoke, 0.99),
        ms(&revoke, 1.0)
    );
    println!(
        "cut-off replica ({cuts} partitions): stops answering from memory after p50 {:.0} ms, max {:.0} ms; \
         ready again after healing p50 {:.0} ms, max {:.0} ms",
        ms(&stop_after, 0.5),
        ms(&stop_after, 1.0),
        ms(&back_after, 0.5),
        ms(&back_after, 1.0)
    );
    common::print_machine();
    println!(
        "verify throughput / bare axum (median of {rounds} rounds): PostgreSQL {:.2}, SQLite {:.2}",
        median(pg_ratio),
        median(sq_ratio)
    );
    drop(procs);
    Ok(())
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == BARE_FLAG) {
        return common::procs::bare_server(false);
    }
    common::run("replicas", bench)
}
