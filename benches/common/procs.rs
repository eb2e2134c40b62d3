//! The processes under load: `ragkeys serve` and the bare axum handler it is compared with, and
//! the CPU time each one spends.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use serde_json::json;

pub const BARE_FLAG: &str = "--bare-server";
/// The same bare handlers served by ragkeys' own serving loop (`listen.rs`: timeouts,
/// graceful shutdown) instead of `axum::serve`: splits the loop's cost from the layers'.
pub const BARE_LISTEN_FLAG: &str = "--bare-server-listen";

fn bare_app() -> axum::Router {
    axum::Router::new()
        .route(
            "/v1/verify",
            axum::routing::get(|| async {
                axum::Json(json!({"valid": true, "service_id": "svc_bench", "key_id": "key_bench"}))
            }),
        )
        .route(
            "/healthz",
            axum::routing::get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
}

/// The comparison point: axum with two handlers answering fixed verify- and health-shaped
/// JSON, and no middleware; served by `axum::serve`, or by ragkeys' loop with `through_listen`.
pub fn bare_server(through_listen: bool) -> ExitCode {
    let Some(rt) = super::runtime(None) else {
        return ExitCode::FAILURE;
    };
    rt.block_on(async {
        let app = bare_app();
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
        if through_listen {
            let (_stop, stopped) = tokio::sync::watch::channel(false);
            return match ragkeys::server::run_http(listener, None, app, stopped).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("serve: {e}");
                    ExitCode::FAILURE
                }
            };
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
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads `stream` until a "listening on ADDR" line, then keeps draining it in the background.
pub fn wait_listening(stream: impl std::io::Read + Send + 'static) -> Result<SocketAddr, String> {
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

/// `ragkeys serve` on 127.0.0.1:0 over `dir`, with `extra` flags (e.g. `--metrics-listen`).
pub fn start_service(
    bin: &str,
    dir: &std::path::Path,
    log: &str,
    extra: &[&str],
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
        .args(extra)
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

pub fn start_bare(flag: &str) -> Result<(Proc, SocketAddr), String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(me)
        .arg(flag)
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

/// CPU seconds used so far by process `pid`, from /proc (Linux only; 0 elsewhere).
pub fn cpu_seconds(pid: u32) -> f64 {
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
