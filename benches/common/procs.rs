//! The processes under load: `ragkeys serve` and the bare axum handler it is compared with, and
//! the CPU time each one spends.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

pub const BARE_FLAG: &str = "--bare-server";
/// The same bare handlers served by ragkeys' own serving loop (`listen.rs`: timeouts,
/// graceful shutdown) instead of `axum::serve`: splits the loop's cost from the layers'.
pub const BARE_LISTEN_FLAG: &str = "--bare-server-listen";

const SERVICE_ID: HeaderName = HeaderName::from_static("ragkeys-service-id");
const KEY_ID: HeaderName = HeaderName::from_static("ragkeys-key-id");
const SCOPES: HeaderName = HeaderName::from_static("ragkeys-scopes");
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Shaped as ragkeys' own ids (20 letters of lower-case base32), so that the heads weigh the same.
const A_REQUEST_ID: HeaderValue = HeaderValue::from_static("0123456789abcdefghjk");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const HEALTH: &[u8] = b"{\"status\":\"ok\"}";

/// What `GET /v1/verify` answers for the bench's key: the body ragkeys encoded and the ids of
/// its identity headers, read from ragkeys itself so that the floor sends the same bytes.
#[derive(Clone, Debug)]
pub struct Answer {
    pub body: String,
    pub service: String,
    pub key: String,
    pub scopes: String,
}

impl Answer {
    /// Asks ragkeys at `base` to verify `key` once.
    pub async fn fetch(http: &reqwest::Client, base: &str, key: &str) -> Result<Answer, String> {
        let r = http
            .get(format!("{base}/v1/verify"))
            .header("authorization", format!("Bearer {key}"))
            .send()
            .await
            .map_err(|e| format!("verify: {e}"))?;
        let header = |name: &HeaderName| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
                .ok_or_else(|| format!("verify answered without {name}"))
        };
        let (service, key) = (header(&SERVICE_ID)?, header(&KEY_ID)?);
        let scopes = header(&SCOPES)?;
        let body = r.text().await.map_err(|e| format!("verify: {e}"))?;
        Ok(Answer {
            body,
            service,
            key,
            scopes,
        })
    }

    fn args(&self) -> [&str; 4] {
        [&self.body, &self.service, &self.key, &self.scopes]
    }

    /// The answer given after `flag` on the command line (see [`start_bare`]).
    fn from_args(flag: &str) -> Option<Answer> {
        let args: Vec<String> = std::env::args().collect();
        let i = args.iter().position(|a| a == flag)?;
        match &args[i + 1..] {
            [body, service, key, scopes, ..] => Some(Answer {
                body: body.clone(),
                service: service.clone(),
                key: key.clone(),
                scopes: scopes.clone(),
            }),
            _ => None,
        }
    }
}

/// Leaked once at start-up: the floor answers from buffers that live as long as the process,
/// as a handler serving compiled-in bytes would (no copy, no reference count per request).
fn forever(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// A 200 with `body` and the head ragkeys gives it, in its order: `Content-Type`, the extra
/// headers, `Content-Length` (axum's router adds it inside ragkeys' layers) and the request id
/// (ragkeys' outermost layer adds it).
fn answer(body: &'static [u8], extra: &[(HeaderName, HeaderValue)]) -> Response {
    let mut resp = Response::new(Body::from(Bytes::from_static(body)));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, JSON);
    for (name, value) in extra {
        h.insert(name.clone(), value.clone());
    }
    h.insert(REQUEST_ID, A_REQUEST_ID);
    resp
}

fn length(body: &[u8]) -> (HeaderName, HeaderValue) {
    (CONTENT_LENGTH, HeaderValue::from(body.len()))
}

fn bare_app(verified: Answer) -> axum::Router {
    let body = forever(verified.body).as_bytes();
    let verify_head = [
        (
            SERVICE_ID,
            HeaderValue::from_static(forever(verified.service)),
        ),
        (KEY_ID, HeaderValue::from_static(forever(verified.key))),
        (SCOPES, HeaderValue::from_static(forever(verified.scopes))),
        length(body),
    ];
    let health_head = [length(HEALTH)];
    axum::Router::new()
        .route(
            "/v1/verify",
            axum::routing::get(move || async move { answer(body, &verify_head) }),
        )
        .route(
            "/healthz",
            axum::routing::get(move || async move { answer(HEALTH, &health_head) }),
        )
}

/// The comparison point: axum with two handlers and no middleware, answering the very bytes
/// ragkeys answers to verify (the bench's key, given on the command line) and to healthz, from
/// static buffers; served by `axum::serve`, or by ragkeys' loop with `through_listen`. It is
/// built by the same `cargo bench` as the ragkeys binary measured (the `bench` profile is the
/// `release` one), so that only the code differs.
pub fn bare_server(through_listen: bool) -> ExitCode {
    let flag = if through_listen {
        BARE_LISTEN_FLAG
    } else {
        BARE_FLAG
    };
    let Some(verified) = Answer::from_args(flag) else {
        eprintln!("{flag} BODY SERVICE_ID KEY_ID SCOPES: the answer to serve is missing");
        return ExitCode::FAILURE;
    };
    let Some(rt) = super::runtime(None) else {
        return ExitCode::FAILURE;
    };
    rt.block_on(async {
        let app = bare_app(verified);
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

/// The bare server (`flag`: through `axum::serve` or ragkeys' loop) answering `verified`.
pub fn start_bare(flag: &str, verified: &Answer) -> Result<(Proc, SocketAddr), String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(me)
        .arg(flag)
        .args(verified.args())
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

/// What one answer is on the wire, but for the values that differ per request (`date`, the
/// request id): status, header names in order with their values, body.
async fn wire_shape(
    http: &reqwest::Client,
    url: &str,
    key: &str,
) -> Result<(u16, Vec<(String, String)>, Vec<u8>), String> {
    let r = http
        .get(url)
        .header("authorization", format!("Bearer {key}"))
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = r.status().as_u16();
    let head = r
        .headers()
        .iter()
        .map(|(n, v)| {
            let value = match n.as_str() {
                "date" => "(date)".to_string(),
                "x-request-id" => format!("({} bytes)", v.len()),
                _ => String::from_utf8_lossy(v.as_bytes()).into_owned(),
            };
            (n.to_string(), value)
        })
        .collect();
    let body = r.bytes().await.map_err(|e| format!("{url}: {e}"))?;
    Ok((status, head, body.to_vec()))
}

/// Fails unless the floor at `floor` answers `path` as ragkeys at `ragkeys` does (see
/// [`wire_shape`]): a floor that sends less than ragkeys would flatter it.
pub async fn check_same_answer(
    http: &reqwest::Client,
    ragkeys: &str,
    floor: &str,
    path: &str,
    key: &str,
) -> Result<(), String> {
    let ours = wire_shape(http, &format!("{ragkeys}{path}"), key).await?;
    let bare = wire_shape(http, &format!("{floor}{path}"), key).await?;
    if ours != bare {
        return Err(format!(
            "the floor's answer to {path} differs from ragkeys':\n  ragkeys {ours:?}\n  floor   {bare:?}"
        ));
    }
    Ok(())
}
