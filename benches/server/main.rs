//! Benchmark of `ragkeys serve`: requests/s, p50/p99 and server CPU per request of
//! `GET /v1/verify` and `GET /healthz` against the real service (and verify against a second
//! service with `--metrics-listen`, metrics on) and against a bare axum handler
//! (the floor of the stack: ragkeys' very answer bytes, from static buffers, checked against
//! ragkeys' own answer before measuring; `common/procs.rs`) and against that handler served by ragkeys' own serving loop
//! (which splits the loop's cost from the layers'), alternating in each round, with wrk as the load generator
//! (`apt-get install wrk`); then the key list (wrk) and issue+delete (reqwest: it waits on fsync,
//! not on the client). Run it with `cargo bench --bench server` (it measures the release binary);
//! all traffic stays on 127.0.0.1. Tunables: BENCH_SECS (3 per slice), BENCH_ROUNDS (5),
//! BENCH_CONNS (32), BENCH_LOG (info), RAGKEYS_BENCH_BIN (the ragkeys binary to measure).

#[path = "../common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::time::Duration;

use common::keys::{admin_auth, create_service, issue_key, issue_key_with};
use common::load::{Op, load};
use common::procs::{
    Answer, BARE_FLAG, BARE_LISTEN_FLAG, bare_server, check_same_answer, start_bare, start_service,
};
use common::stats::{Runs, median};
use common::wrk::WrkRun;
use common::{Settings, wrk};

/// The policy of the key verified "with a policy" (docs/api.md, Speed): a scope to check, a
/// rate limit never reached at these rates, an allowlist holding the client.
fn bench_policy() -> serde_json::Value {
    serde_json::json!({
        "name": "bench-policy",
        "scopes": ["query", "ingest"],
        "rate_limit": {"requests": 1_000_000, "per_seconds": 1},
        "allowed_cidrs": ["10.0.0.0/8", "127.0.0.0/8"],
    })
}

/// The bench's services at `base`: one with the key to verify (and a key with a policy), one
/// with a list of five keys, one to issue into; (the key, the list's service id, the issuing
/// service id, the key with a policy).
async fn setup(
    http: &reqwest::Client,
    base: &str,
    auth: &str,
) -> Result<(String, String, String, String), String> {
    let verify_sid = create_service(http, base, auth, "bench-verify").await?;
    let list_sid = create_service(http, base, auth, "bench-list").await?;
    let issue_sid = create_service(http, base, auth, "bench-issue").await?;
    let key = issue_key(http, base, auth, &verify_sid).await?;
    let policy_key = issue_key_with(http, base, auth, &verify_sid, bench_policy()).await?;
    // A list the size the console shows: a full service of five keys.
    for _ in 0..5 {
        issue_key(http, base, auth, &list_sid).await?;
    }
    Ok((key, list_sid, issue_sid, policy_key))
}

/// The medians of one GET case over the rounds.
#[derive(Default)]
struct Case {
    rps: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    cpu_us: Vec<f64>,
    errors: u64,
}

impl Case {
    fn add(&mut self, r: &WrkRun) {
        self.rps.push(r.rps);
        self.p50.push(r.p50_ms);
        self.p99.push(r.p99_ms);
        self.cpu_us.push(r.cpu * 1e6 / r.requests.max(1) as f64);
        self.errors += r.errors;
    }

    fn row(&self, name: &str, conns: usize) -> String {
        format!(
            "| {name} | {conns} | {:.0} | {:.2} | {:.2} | {:.1} | {} |",
            median(self.rps.clone()),
            median(self.p50.clone()),
            median(self.p99.clone()),
            median(self.cpu_us.clone()),
            self.errors
        )
    }
}

async fn bench() -> Result<(), String> {
    let Settings {
        secs,
        rounds,
        conns,
        log,
        bin,
    } = Settings::from_env();

    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = tmp.path().join("data");
    let (svc, svc_addr) = start_service(&bin, &dir, &log, &[])?;
    // The same service with metrics on (issue 11): recording must cost nothing visible.
    let dir_m = tmp.path().join("data-metrics");
    let (svc_m, svc_m_addr) =
        start_service(&bin, &dir_m, &log, &["--metrics-listen", "127.0.0.1:0"])?;
    let admin = admin_auth(&dir)?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(conns)
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let base = format!("http://{svc_addr}");
    let (key, list_sid, issue_sid, policy_key) = setup(&http, &base, &admin).await?;
    // The floors answer what ragkeys answers for this key, byte for byte (checked below).
    let verified = Answer::fetch(&http, &base, &key).await?;
    let (bare_proc, bare_addr) = start_bare(BARE_FLAG, &verified)?;
    let (loop_proc, loop_addr) = start_bare(BARE_LISTEN_FLAG, &verified)?;
    let (svc_pid, bare_pid, loop_pid) = (svc.0.id(), bare_proc.0.id(), loop_proc.0.id());
    let svc_m_pid = svc_m.0.id();
    let bare = format!("http://{bare_addr}");
    let bare_loop = format!("http://{loop_addr}");
    for floor in [&bare, &bare_loop] {
        for path in ["/v1/verify", "/healthz"] {
            check_same_answer(&http, &base, floor, path, &key).await?;
        }
    }
    let key_header = format!("Authorization: Bearer {key}");
    let policy_header = format!("Authorization: Bearer {policy_key}");
    let base_m = format!("http://{svc_m_addr}");
    let (key_m, ..) = setup(&http, &base_m, &admin_auth(&dir_m)?).await?;
    let key_m_header = format!("Authorization: Bearer {key_m}");
    let admin_header = format!("Authorization: {admin}");
    let issue = Op::IssueDelete {
        url: format!("{base}/v1/services/{issue_sid}/api-keys"),
        auth: admin.clone(),
    };

    eprintln!(
        "binary: {bin}\nRAGKEYS_LOG={log}; wrk -t1 -c{conns}, {secs} s per slice, {rounds} rounds"
    );
    // The GET cases of a round, each (name, url, header, pid).
    let cases = [
        (
            "GET /v1/verify, ragkeys serve",
            format!("{base}/v1/verify"),
            Some(key_header.as_str()),
            svc_pid,
        ),
        (
            "GET /v1/verify, bare axum handler",
            format!("{bare}/v1/verify"),
            Some(key_header.as_str()),
            bare_pid,
        ),
        (
            "GET /healthz, ragkeys serve",
            format!("{base}/healthz"),
            None,
            svc_pid,
        ),
        (
            "GET /healthz, bare axum handler",
            format!("{bare}/healthz"),
            None,
            bare_pid,
        ),
        (
            "GET /v1/verify, bare handler through ragkeys' serving loop",
            format!("{bare_loop}/v1/verify"),
            Some(key_header.as_str()),
            loop_pid,
        ),
        (
            "GET /v1/verify, ragkeys serve with metrics on",
            format!("{base_m}/v1/verify"),
            Some(key_m_header.as_str()),
            svc_m_pid,
        ),
        (
            "GET /v1/verify?scope=query, key with scopes, a rate limit and an allowlist, ragkeys serve",
            format!("{base}/v1/verify?scope=query"),
            Some(policy_header.as_str()),
            svc_pid,
        ),
    ];
    // Warm both servers.
    for (_, url, header, pid) in &cases {
        wrk::run(url, *header, conns, 1, *pid)?;
    }
    let mut results: Vec<Case> = (0..cases.len()).map(|_| Case::default()).collect();
    let (mut verify_ratio, mut health_ratio) = (Vec::new(), Vec::new());
    let (mut verify_cpu, mut health_cpu) = (Vec::new(), Vec::new());
    let (mut loop_ratio, mut layers_ratio) = (Vec::new(), Vec::new());
    let (mut metrics_ratio, mut metrics_vs_off, mut metrics_cpu) =
        (Vec::new(), Vec::new(), Vec::new());
    let (mut policy_ratio, mut policy_cpu) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which server goes first, so that the noise of a shared machine falls on
        // both alike.
        let order: [usize; 7] = if round % 2 == 0 {
            [0, 5, 1, 6, 4, 2, 3]
        } else {
            [4, 6, 1, 5, 0, 3, 2]
        };
        let mut runs: Vec<Option<WrkRun>> = (0..cases.len()).map(|_| None).collect();
        for i in order {
            let (_, url, header, pid) = &cases[i];
            let r = wrk::run(url, *header, conns, secs, *pid)?;
            results[i].add(&r);
            runs[i] = Some(r);
        }
        let get = |i: usize| {
            runs[i].as_ref().map_or((f64::NAN, f64::NAN), |r| {
                (r.rps, r.cpu / r.requests.max(1) as f64)
            })
        };
        let ((v, vc), (vb, vbc)) = (get(0), get(1));
        let ((h, hc), (hb, hbc)) = (get(2), get(3));
        let (vl, vlc) = get(4);
        let (vm, vmc) = get(5);
        let (vp, vpc) = get(6);
        policy_ratio.push(vp / vb);
        policy_cpu.push(vbc / vpc);
        metrics_ratio.push(vm / vb);
        metrics_vs_off.push(vm / v);
        metrics_cpu.push(vbc / vmc);
        loop_ratio.push(vl / vb);
        layers_ratio.push(v / vl);
        verify_ratio.push(v / vb);
        health_ratio.push(h / hb);
        verify_cpu.push(vbc / vc);
        health_cpu.push(hbc / hc);
        eprintln!(
            "round {round}: verify {v:.0} (metrics on {vm:.0}, with a policy {vp:.0}) vs bare {vb:.0} req/s ({:.2}); healthz {h:.0} vs bare {hb:.0} req/s ({:.2}); \
             bare through our loop {vl:.0} req/s; CPU/req verify {:.1} vs {:.1} µs (our loop {:.1}), healthz {:.1} vs {:.1} µs",
            v / vb,
            h / hb,
            vc * 1e6,
            vbc * 1e6,
            vlc * 1e6,
            hc * 1e6,
            hbc * 1e6
        );
    }
    let mut list = Case::default();
    let list_url = format!("{base}/v1/services/{list_sid}/api-keys");
    let mut iss = Runs::default();
    let mut del = Runs::default();
    load(&http, &issue, conns, 1.0, svc_pid).await;
    for run in 0..rounds {
        let r = wrk::run(&list_url, Some(&admin_header), conns, secs, svc_pid)?;
        list.add(&r);
        let (s, t) = load(&http, &issue, conns, secs as f64, svc_pid).await;
        eprintln!("round {run}: {} lists, {} issues", r.requests, s.lat.len());
        // The CPU of each issue+delete pair is charged to both rows alike.
        Runs::add(&mut iss, s.lat, s.errors, t, s.cpu);
        Runs::add(&mut del, s.extra, 0, t, s.cpu);
    }

    println!();
    println!("| case | connections | req/s | p50 ms | p99 ms | server CPU µs/req | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for ((name, ..), case) in cases.iter().zip(&results) {
        println!("{}", case.row(name, conns));
    }
    println!(
        "{}",
        list.row("GET …/api-keys (list of 5 keys), ragkeys serve", conns)
    );
    println!(
        "{}",
        iss.row(
            "POST …/api-keys (issue; each followed by a delete; reqwest)",
            conns
        )
    );
    println!(
        "{}",
        del.row("DELETE …/api-keys/{id} (the deletes above; reqwest)", conns)
    );
    println!();
    common::print_machine();
    println!(
        "throughput ragkeys / bare axum (median of {rounds} rounds): verify {:.2} (goal >= 0.90), healthz {:.2}",
        median(verify_ratio),
        median(health_ratio)
    );
    println!(
        "verify with a policy (scope, rate limit, allowlist) / bare axum (median of {rounds} rounds): {:.2} (goal >= 0.85; spread {:.2}-{:.2}); server CPU per request bare / with a policy {:.2}",
        median(policy_ratio.clone()),
        policy_ratio.iter().copied().fold(f64::INFINITY, f64::min),
        policy_ratio
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max),
        median(policy_cpu)
    );
    println!(
        "split of verify's gap (median ratios): bare handler through our serving loop / through axum::serve {:.2}; \
         ragkeys / bare handler through our serving loop {:.2}",
        median(loop_ratio),
        median(layers_ratio)
    );
    println!(
        "server CPU per request bare / ragkeys (1.00 = as cheap as the bare handler): verify {:.2}, healthz {:.2}",
        median(verify_cpu),
        median(health_cpu)
    );
    println!(
        "verify with metrics on (median of {rounds} rounds): / bare axum {:.2}, / metrics off {:.2}; \
         server CPU per request bare / metrics on {:.2}",
        median(metrics_ratio),
        median(metrics_vs_off),
        median(metrics_cpu)
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == BARE_FLAG) {
        return bare_server(false);
    }
    if args.iter().any(|a| a == BARE_LISTEN_FLAG) {
        return bare_server(true);
    }
    common::run("server", bench)
}
