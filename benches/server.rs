//! Load generator for `ragkeys serve`: requests/s of `GET /v1/verify` against the real service and
//! against a bare axum handler (the ceiling of the stack), and p50/p99 latency of issue and list.
//! Run it with `cargo bench --bench server` (it measures the release binary); all traffic stays on
//! 127.0.0.1. Tunables: BENCH_SECS (5), BENCH_RUNS (3), BENCH_CONNS (32), BENCH_LOG (info),
//! RAGKEYS_BENCH_BIN (the ragkeys binary to measure).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BARE_FLAG: &str = "--bare-server";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The comparison point: axum with one handler answering a fixed verify-shaped JSON.
fn bare_server() -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let app = axum::Router::new().route(
            "/v1/verify",
            axum::routing::get(|| async {
                axum::Json(json!({"valid": true, "service_id": "svc_bench", "key_id": "key_bench"}))
            }),
        );
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("bind: {e}");
                return ExitCode::FAILURE;
            }
        };
        match listener.local_addr() {
            Ok(a) => println!("listening on {a}"),
            Err(e) => {
                eprintln!("local_addr: {e}");
                return ExitCode::FAILURE;
            }
        }
        match axum::serve(listener, app).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("serve: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// A child process that is killed when this value goes away.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads `stream` until a "listening on ADDR" line, then keeps draining it in the background.
fn wait_listening(stream: impl std::io::Read + Send + 'static) -> Result<SocketAddr, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(i) = line.find("listening on ") {
                let addr: String = line[i + 13..]
                    .trim_start_matches("http://")
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
                    .collect();
                if let Some(tx) = tx.take() {
                    let _ = tx.send(addr);
                }
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| "no 'listening on' line within 30 s".to_string())?;
    addr.parse()
        .map_err(|e| format!("bad address {addr:?}: {e}"))
}

fn start_service(
    bin: &str,
    dir: &std::path::Path,
    log: &str,
) -> Result<(Proc, SocketAddr), String> {
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args([
            "--key-limit",
            "1000",
            "--verify-failures-per-minute",
            "1000000",
        ])
        .env("RAGKEYS_LOG", log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn {bin}: {e}"))?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let proc = Proc(child);
    let addr = wait_listening(stderr)?;
    Ok((proc, addr))
}

fn start_bare() -> Result<(Proc, SocketAddr), String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(me)
        .arg(BARE_FLAG)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawn bare server: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let proc = Proc(child);
    let addr = wait_listening(stdout)?;
    Ok((proc, addr))
}

/// One request of a case; returns whether it answered as expected.
#[derive(Clone)]
enum Op {
    Verify {
        url: String,
        auth: String,
    },
    List {
        url: String,
        auth: String,
    },
    /// Issue (timed) and then delete (timed separately) to keep a slot free.
    IssueDelete {
        url: String,
        auth: String,
    },
}

#[derive(Default)]
struct Sample {
    lat: Vec<Duration>,
    extra: Vec<Duration>,
    errors: u64,
    /// CPU seconds the server process spent meanwhile (user + system, all threads).
    cpu: f64,
}

impl Sample {
    fn absorb(&mut self, other: Sample) {
        self.lat.extend(other.lat);
        self.extra.extend(other.extra);
        self.errors += other.errors;
        self.cpu += other.cpu;
    }
}

/// CPU seconds used so far by process `pid`, from /proc (Linux only; 0 elsewhere).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    ticks as f64 / if hz > 0 { hz as f64 } else { 100.0 }
}

async fn expect(
    resp: Result<reqwest::Response, reqwest::Error>,
    status: u16,
) -> Option<reqwest::Response> {
    match resp {
        Ok(r) if r.status().as_u16() == status => Some(r),
        _ => None,
    }
}

async fn run_op(http: &reqwest::Client, op: &Op, s: &mut Sample) {
    match op {
        Op::Verify { url, auth } | Op::List { url, auth } => {
            let t = Instant::now();
            let r = expect(
                http.get(url).header("authorization", auth).send().await,
                200,
            )
            .await;
            let ok = match r {
                Some(r) => r.bytes().await.is_ok(),
                None => false,
            };
            if ok {
                s.lat.push(t.elapsed());
            } else {
                s.errors += 1;
            }
        }
        Op::IssueDelete { url, auth } => {
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
    }
}

/// `conns` clients, each sending one request after another for `secs`.
async fn load(http: &reqwest::Client, op: &Op, conns: usize, secs: f64, pid: u32) -> (Sample, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let cpu_before = cpu_seconds(pid);
    let began = Instant::now();
    for _ in 0..conns {
        let (http, op, stop) = (http.clone(), op.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = Sample::default();
            while !stop.load(Ordering::Relaxed) {
                run_op(&http, &op, &mut s).await;
            }
            s
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Sample::default();
    for t in tasks {
        if let Ok(s) = t.await {
            all.absorb(s);
        }
    }
    let elapsed = began.elapsed().as_secs_f64();
    all.cpu = cpu_seconds(pid) - cpu_before;
    (all, elapsed)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

/// Per run: requests/s, p50 ms, p99 ms, server CPU µs per request; errors over all runs.
#[derive(Default)]
struct Runs {
    rps: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    cpu_us: Vec<f64>,
    errors: u64,
}

impl Runs {
    /// `lat` are the latencies of this row's requests; `cpu` the server's CPU seconds, charged
    /// to them.
    fn add(&mut self, mut lat: Vec<Duration>, errors: u64, elapsed: f64, cpu: f64) {
        lat.sort();
        self.rps.push(lat.len() as f64 / elapsed);
        self.p50.push(pct(&lat, 0.50));
        self.p99.push(pct(&lat, 0.99));
        self.cpu_us.push(cpu * 1e6 / lat.len().max(1) as f64);
        self.errors += errors;
    }

    fn row(&self, name: &str, conns: usize) -> String {
        format!(
            "| {name} | {conns} | {:.0} | {:.2} | {:.2} | {:.0} | {} |",
            median(self.rps.clone()),
            median(self.p50.clone()),
            median(self.p99.clone()),
            median(self.cpu_us.clone()),
            self.errors
        )
    }
}

async fn setup(
    http: &reqwest::Client,
    base: &str,
    auth: &str,
) -> Result<(String, String, String), String> {
    let mk = |name: &str| {
        let http = http.clone();
        let url = format!("{base}/v1/services");
        let auth = auth.to_string();
        let body = json!({"name": name}).to_string();
        async move {
            let r = http
                .post(url)
                .header("authorization", auth)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let v: Value = r.json().await.map_err(|e| e.to_string())?;
            v["id"]
                .as_str()
                .map(String::from)
                .ok_or_else(|| format!("create service: {v}"))
        }
    };
    let verify_sid = mk("bench-verify").await?;
    let list_sid = mk("bench-list").await?;
    let issue_sid = mk("bench-issue").await?;
    let issue = |sid: String| {
        let http = http.clone();
        let url = format!("{base}/v1/services/{sid}/api-keys");
        let auth = auth.to_string();
        async move {
            let r = http
                .post(url)
                .header("authorization", auth)
                .header("content-type", "application/json")
                .body("{\"name\":\"bench\"}")
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let v: Value = r.json().await.map_err(|e| e.to_string())?;
            v["key"]
                .as_str()
                .map(String::from)
                .ok_or_else(|| format!("issue: {v}"))
        }
    };
    let key = issue(verify_sid).await?;
    // A list the size the console shows: a full service of five keys.
    for _ in 0..5 {
        issue(list_sid.clone()).await?;
    }
    Ok((key, list_sid, issue_sid))
}

async fn bench() -> Result<(), String> {
    let secs = env_num("BENCH_SECS", 5) as f64;
    let runs = env_num("BENCH_RUNS", 3).max(1) as usize;
    let conns = env_num("BENCH_CONNS", 32).max(1) as usize;
    let log = std::env::var("BENCH_LOG").unwrap_or_else(|_| "info".into());
    let bin =
        std::env::var("RAGKEYS_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_ragkeys").into());

    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = tmp.path().join("data");
    let (svc, svc_addr) = start_service(&bin, &dir, &log)?;
    let (bare_proc, bare_addr) = start_bare()?;
    let (svc_pid, bare_pid) = (svc.0.id(), bare_proc.0.id());
    let token = std::fs::read_to_string(dir.join("admin.token"))
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
    let base = format!("http://{svc_addr}");
    let admin = format!("Bearer {token}");
    let (key, list_sid, issue_sid) = setup(&http, &base, &admin).await?;

    let verify_real = Op::Verify {
        url: format!("{base}/v1/verify"),
        auth: format!("Bearer {key}"),
    };
    let verify_bare = Op::Verify {
        url: format!("http://{bare_addr}/v1/verify"),
        auth: format!("Bearer {key}"),
    };
    let list = Op::List {
        url: format!("{base}/v1/services/{list_sid}/api-keys"),
        auth: admin.clone(),
    };
    let issue = Op::IssueDelete {
        url: format!("{base}/v1/services/{issue_sid}/api-keys"),
        auth: admin.clone(),
    };

    eprintln!(
        "binary: {bin}\nRAGKEYS_LOG={log}, {conns} connections, {secs} s per run, {runs} runs"
    );
    // Warm both servers and the connection pools.
    for (op, pid) in [
        (&verify_real, svc_pid),
        (&verify_bare, bare_pid),
        (&list, svc_pid),
        (&issue, svc_pid),
    ] {
        load(&http, op, conns, 1.0, pid).await;
    }
    let (mut real, mut bare, mut iss, mut del, mut lst) = Default::default();
    let (mut ratios, mut cpu_ratios) = (Vec::new(), Vec::new());
    for run in 0..runs {
        // One-second slices, alternating the two targets, so that the noise of a shared machine
        // falls on both alike.
        let (mut rs, mut rt, mut bs, mut bt) = (Sample::default(), 0.0, Sample::default(), 0.0);
        for _ in 0..(secs.ceil() as usize).max(1) {
            let (s, t) = load(&http, &verify_real, conns, 1.0, svc_pid).await;
            rs.absorb(s);
            rt += t;
            let (s, t) = load(&http, &verify_bare, conns, 1.0, bare_pid).await;
            bs.absorb(s);
            bt += t;
        }
        let (real_rps, bare_rps) = (rs.lat.len() as f64 / rt, bs.lat.len() as f64 / bt);
        let real_cpu = rs.cpu / rs.lat.len().max(1) as f64;
        let bare_cpu = bs.cpu / bs.lat.len().max(1) as f64;
        Runs::add(&mut real, rs.lat, rs.errors, rt, rs.cpu);
        Runs::add(&mut bare, bs.lat, bs.errors, bt, bs.cpu);
        ratios.push(real_rps / bare_rps);
        cpu_ratios.push(bare_cpu / real_cpu);
        eprintln!(
            "run {run}: verify {real_rps:.0} req/s, bare {bare_rps:.0} req/s, ratio {:.2}; \
             server CPU per request {:.1} µs vs {:.1} µs",
            real_rps / bare_rps,
            real_cpu * 1e6,
            bare_cpu * 1e6
        );
    }
    for run in 0..runs {
        let (s, t) = load(&http, &issue, conns, secs, svc_pid).await;
        let issued = s.lat.len();
        // The CPU of each issue+delete pair is charged to both rows alike.
        Runs::add(&mut iss, s.lat, s.errors, t, s.cpu);
        Runs::add(&mut del, s.extra, 0, t, s.cpu);
        let (s, t) = load(&http, &list, conns, secs, svc_pid).await;
        eprintln!("run {run}: {issued} issues, {} lists", s.lat.len());
        Runs::add(&mut lst, s.lat, s.errors, t, s.cpu);
    }

    println!();
    println!("| case | clients | req/s | p50 ms | p99 ms | server CPU µs/req | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    println!("{}", real.row("GET /v1/verify, ragkeys serve", conns));
    println!("{}", bare.row("GET /v1/verify, bare axum handler", conns));
    println!(
        "{}",
        iss.row("POST …/api-keys (issue; each followed by a delete)", conns)
    );
    println!(
        "{}",
        del.row("DELETE …/api-keys/{id} (the deletes above)", conns)
    );
    println!("{}", lst.row("GET …/api-keys (list of 5 keys)", conns));
    println!();
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{} CPUs, load average after the run: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let ratio = median(ratios);
    println!(
        "verify throughput ratio ragkeys / bare axum: {ratio:.2} (goal >= 0.70; medians of {runs} runs of {secs} s)"
    );
    // The load generator shares the CPUs: when it is the bottleneck both servers look alike, so
    // the server's own CPU per request is the steadier comparison.
    println!(
        "verify server-CPU efficiency bare / ragkeys: {:.2} (1.00 = as cheap as the bare handler)",
        median(cpu_ratios)
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == BARE_FLAG) {
        return bare_server();
    }
    // `cargo test --all-targets` runs this without --bench: a benchmark is not a test.
    if !args.iter().any(|a| a == "--bench") {
        println!("benches/server.rs: run it with `cargo bench --bench server`");
        return ExitCode::SUCCESS;
    }
    ragkeys::client::install_crypto_provider();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(bench()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}
