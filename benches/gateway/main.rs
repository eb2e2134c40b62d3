//! Benchmark of verify through the gateway: wrk against a real nginx running the shipped recipe
//! (`deploy/nginx/ragkeys-gateway.conf`: every call checked by `auth_request` against a release
//! `ragkeys serve`, over keep-alive, then passed to the RAG API) against the same nginx
//! deciding from a static `map` of the key (the best a gateway can do without a key service:
//! no subrequest), both passing the call to the same RAG API stand-in (an nginx `return 200`
//! in the same process), slices alternating in each round. Reports the throughput ratio and
//! the p50/p99 the key service adds per call. Run it with `cargo bench --bench gateway` (needs
//! `wrk` and `nginx`; all traffic stays on 127.0.0.1). Tunables: BENCH_SECS (3 per slice),
//! BENCH_ROUNDS (5), BENCH_CONNS (32), BENCH_LOG (info), RAGKEYS_BENCH_BIN.

// Shared with benches/server; this bench uses part of it.
#[allow(dead_code)]
#[path = "../common/mod.rs"]
mod common;
// The tests' nginx running the recipe; this bench uses part of it.
#[allow(dead_code)]
#[path = "../../tests/common/nginx.rs"]
mod nginx;

use std::process::ExitCode;
use std::time::Duration;

use common::keys::{admin_auth, create_service, issue_key_with};
use common::procs::{Answer, start_service};
use common::stats::median;
use common::{Settings, wrk};
use nginx::{Gateway, free_port};

/// The recipe as shipped, without access logs (they would cost both gateways alike and hide
/// part of the difference), plus the RAG API stand-in and the static gateway on their own
/// ports. The static gateway's `location /` is the recipe's, with the `auth_request` replaced
/// by the `map`.
fn recipe_with_static_gateway(api: u16, fixed: u16, key: &str, verified: &Answer) -> String {
    let recipe = nginx::recipe().replace(
        "    listen @LISTEN@;\n",
        "    listen @LISTEN@;\n    access_log off;\n",
    );
    let (service, key_id) = (&verified.service, &verified.key);
    format!(
        r#"# A whole `Bearer` value is longer than a map's default bucket holds (set before any map).
map_hash_bucket_size 128;
{recipe}
# The RAG API stand-in: a fixed answer.
server {{
    listen 127.0.0.1:{api};
    access_log off;
    location / {{
        default_type application/json;
        return 200 '{{"answer":"ok"}}';
    }}
}}

# The gateway without a key service: the one key, known in advance.
map $http_authorization $ragkeys_bench_service {{
    default "";
    "Bearer {key}" "{service}";
}}
map $http_authorization $ragkeys_bench_key {{
    default "";
    "Bearer {key}" "{key_id}";
}}
server {{
    listen 127.0.0.1:{fixed};
    access_log off;
    location / {{
        if ($ragkeys_bench_key = "") {{
            return 401 '{{"error":{{"code":"invalid_api_key","message":"the API key is not valid"}}}}\n';
        }}
        proxy_pass http://ragkeys_rag_api;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Request-Id $ragkeys_request_id;
        proxy_set_header Ragkeys-Service-Id $ragkeys_bench_service;
        proxy_set_header Ragkeys-Key-Id $ragkeys_bench_key;
        proxy_set_header Ragkeys-Scopes "";
        proxy_set_header Ragkeys-Refusal "";
        proxy_set_header Authorization "";
        proxy_hide_header X-Request-Id;
        add_header X-Request-Id $ragkeys_request_id always;
    }}
}}
"#
    )
}

/// Both gateways answer the key with the API's answer and refuse another key, before
/// anything is measured.
async fn check(http: &reqwest::Client, urls: [&str; 2], key: &str) -> Result<(), String> {
    for url in urls {
        for (bearer, want) in [(key, 200), ("ragk_not_a_key", 401)] {
            let r = http
                .get(url)
                .header("authorization", format!("Bearer {bearer}"))
                .send()
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            if status != want || (want == 200 && body != r#"{"answer":"ok"}"#) {
                return Err(format!("{url} with {bearer}: {status} {body}"));
            }
        }
    }
    Ok(())
}

/// Per case over the rounds.
#[derive(Default)]
struct Case {
    rps: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    errors: u64,
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
    // The recipe's own advice: the gateway is a trusted proxy, failures count per caller.
    let (svc, svc_addr) = start_service(&bin, &dir, &log, &["--trusted-proxy", "127.0.0.1/32"])?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let base = format!("http://{svc_addr}");
    let admin = admin_auth(&dir)?;
    let sid = create_service(&http, &base, &admin, "bench-gateway").await?;
    // A key that may only query: the recipe asks `/v1/query`'s scope of the key service.
    let query_only = serde_json::json!({"name": "bench", "scopes": ["query"]});
    let key = issue_key_with(&http, &base, &admin, &sid, query_only).await?;
    let verified = Answer::fetch(&http, &base, &key).await?;
    let (api_port, fixed_port) = (free_port(), free_port());
    let conf = recipe_with_static_gateway(api_port, fixed_port, &key, &verified);
    let api = format!("127.0.0.1:{api_port}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let gateway = tokio::task::block_in_place(|| Gateway::start_recipe(&conf, svc_addr, api));
    let through = format!("{}/v1/query", gateway.url());
    let fixed = format!("http://127.0.0.1:{fixed_port}/v1/query");
    check(&http, [&through, &fixed], &key).await?;
    let header = format!("Authorization: Bearer {key}");
    let svc_pid = svc.0.id();

    eprintln!(
        "binary: {bin}\nRAGKEYS_LOG={log}; nginx {}: one worker; wrk -t1 -c{conns}, {secs} s per slice, {rounds} rounds",
        nginx::nginx_binary().display()
    );
    let cases = [
        (
            "nginx recipe, auth_request to ragkeys asking the path's scope",
            &through,
        ),
        ("nginx with a static map of the key", &fixed),
    ];
    for (_, url) in &cases {
        wrk::run(url, Some(&header), conns, 1, svc_pid)?;
    }
    let mut results = [Case::default(), Case::default()];
    let (mut ratio, mut p50_added, mut p99_added, mut cpu_per_call) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which goes first, so that the noise of a shared machine falls on both alike.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut runs = [None, None];
        for i in order {
            let r = wrk::run(cases[i].1, Some(&header), conns, secs, svc_pid)?;
            results[i].rps.push(r.rps);
            results[i].p50.push(r.p50_ms);
            results[i].p99.push(r.p99_ms);
            results[i].errors += r.errors;
            runs[i] = Some(r);
        }
        let [Some(a), Some(b)] = runs else {
            return Err("a slice did not run".into());
        };
        ratio.push(a.rps / b.rps);
        p50_added.push(a.p50_ms - b.p50_ms);
        p99_added.push(a.p99_ms - b.p99_ms);
        cpu_per_call.push(a.cpu * 1e6 / a.requests.max(1) as f64);
        eprintln!(
            "round {round}: through ragkeys {:.0} vs static map {:.0} req/s ({:.2}); p50 {:.2} vs {:.2} ms, p99 {:.2} vs {:.2} ms",
            a.rps,
            b.rps,
            a.rps / b.rps,
            a.p50_ms,
            b.p50_ms,
            a.p99_ms,
            b.p99_ms
        );
    }

    println!();
    println!("| case | connections | req/s | p50 ms | p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|");
    for ((name, _), case) in cases.iter().zip(&results) {
        println!(
            "| {name} | {conns} | {:.0} | {:.2} | {:.2} | {} |",
            median(case.rps.clone()),
            median(case.p50.clone()),
            median(case.p99.clone()),
            case.errors
        );
    }
    println!();
    common::print_machine();
    println!(
        "through ragkeys / static map (median of {rounds} per-round ratios): {:.2}; added per call: p50 {:.2} ms, p99 {:.2} ms (medians of per-round differences); ragkeys CPU per call {:.1} µs",
        median(ratio),
        median(p50_added),
        median(p99_added),
        median(cpu_per_call)
    );
    Ok(())
}

fn main() -> ExitCode {
    common::run("gateway", bench)
}
