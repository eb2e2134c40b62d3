//! wrk (Debian package `wrk`) as the load generator for the GET cases: a C event loop that is
//! not the bottleneck, unlike a reqwest client on the same two cores.

use std::process::Command;

use super::procs::cpu_seconds;

/// One wrk run against one URL.
pub struct WrkRun {
    pub requests: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Non-2xx answers plus socket errors: any of them spoils the run.
    pub errors: u64,
    /// Server CPU seconds (user + system, all threads) spent during the run.
    pub cpu: f64,
}

/// wrk prints latencies as `345.00us`, `1.20ms` or `1.01s`.
fn millis(s: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = s.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|v| v * scale)
}

fn parse(out: &str) -> Result<(u64, f64, f64, f64, u64), String> {
    let mut p50 = None;
    let mut p99 = None;
    let mut requests = None;
    let mut rps = None;
    let mut errors = 0;
    for line in out.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => p50 = millis(v),
            ["99%", v] => p99 = millis(v),
            ["Requests/sec:", v] => rps = v.parse().ok(),
            [n, "requests", "in", ..] => requests = n.parse().ok(),
            ["Non-2xx", "or", "3xx", "responses:", n] => errors += n.parse::<u64>().unwrap_or(1),
            ["Socket", "errors:", rest @ ..] => {
                errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>()
            }
            _ => {}
        }
    }
    match (requests, rps, p50, p99) {
        (Some(n), Some(r), Some(a), Some(b)) => Ok((n, r, a, b, errors)),
        _ => Err(format!("cannot read wrk's output:\n{out}")),
    }
}

/// `wrk -t1 -cCONNS -dSECS --latency [-H HEADER] URL`, with the server's CPU time around it.
pub fn run(
    url: &str,
    header: Option<&str>,
    conns: usize,
    secs: u64,
    pid: u32,
) -> Result<WrkRun, String> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t1",
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
        "--latency",
    ]);
    if let Some(h) = header {
        cmd.args(["-H", h]);
    }
    cmd.arg(url);
    let before = cpu_seconds(pid);
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run wrk (apt-get install wrk): {e}"))?;
    let cpu = cpu_seconds(pid) - before;
    if !out.status.success() {
        return Err(format!(
            "wrk failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let (requests, rps, p50_ms, p99_ms, errors) = parse(&String::from_utf8_lossy(&out.stdout))?;
    Ok(WrkRun {
        requests,
        rps,
        p50_ms,
        p99_ms,
        errors,
        cpu,
    })
}
