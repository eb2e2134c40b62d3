//! Load generator for `ragkeys serve`: requests/s of `GET /v1/verify` against the real service and
//! against a bare axum handler (the ceiling of the stack), and p50/p99 latency of issue and list.
//! Run it with `cargo bench --bench server` (it measures the release binary); all traffic stays on
//! 127.0.0.1. Tunables: BENCH_SECS (5), BENCH_RUNS (3), BENCH_CONNS (32), BENCH_LOG (info),
//! RAGKEYS_BENCH_BIN (the ragkeys binary to measure).

mod load;
mod procs;
mod stats;

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use load::{Op, Sample, load};
use procs::{BARE_FLAG, bare_server, start_bare, start_service};
use stats::{Runs, median};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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
        println!("benches/server: run it with `cargo bench --bench server`");
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
