//! Proxies (issue 7, kind 1), on real sockets: a logging fake proxy on 127.0.0.1 records every
//! request head it receives. Loopback endpoints and the console's embedded service never reach
//! it whatever the proxy variables say; a remote endpoint (`ragkeys.test`, which only the proxy
//! can resolve) goes through it; no_proxy's forms bypass it; an unusable proxy or a proxy's own
//! failure is named as such.

use crate::common;
use crate::common::cli;
use crate::common::tmux;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::Server;
use crate::common::cli::{Cli, code, expect_code, stderr};

/// What the fake proxy does with a request.
#[derive(Clone, Copy)]
enum Mode {
    /// Relays absolute-form requests for `ragkeys.test` to this address.
    Forward(SocketAddr),
    /// Answers every request (CONNECT included) with this status.
    Status(u16),
}

struct FakeProxy {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl FakeProxy {
    fn start(mode: Mode) -> FakeProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let sink = sink.clone();
                std::thread::spawn(move || serve(conn, mode, &sink));
            }
        });
        FakeProxy { addr, log }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn received(&self) -> String {
        self.log.lock().unwrap().join("\n---\n")
    }
}

fn serve(mut conn: TcpStream, mode: Mode, log: &Mutex<Vec<String>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    // One request per connection: every answer closes it.
    {
        let Some((head, mut body)) = read_head(&mut conn) else {
            return;
        };
        log.lock().unwrap().push(head.clone());
        match mode {
            Mode::Status(code) => {
                let extra = if code == 407 {
                    "Proxy-Authenticate: Basic realm=\"test\"\r\n"
                } else {
                    ""
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {code} Proxy Says No\r\n{extra}Content-Type: text/html\r\n\
                     Content-Length: 10\r\nConnection: close\r\n\r\n<h1>x</h1>"
                );
            }
            Mode::Forward(target) => {
                let mut lines = head.split("\r\n");
                let request_line = lines.next().unwrap_or_default();
                let mut parts = request_line.split(' ');
                let (method, uri) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let Some(rest) = uri.strip_prefix("http://ragkeys.test") else {
                    let _ = conn.write_all(
                        b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                };
                let path = &rest[rest.find('/').unwrap_or(rest.len())..];
                let mut out = format!("{method} {path} HTTP/1.1\r\n");
                let mut length = 0usize;
                for h in lines.filter(|l| !l.is_empty()) {
                    let lower = h.to_ascii_lowercase();
                    if lower.starts_with("connection:") || lower.starts_with("proxy-") {
                        continue;
                    }
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    out.push_str(h);
                    out.push_str("\r\n");
                }
                out.push_str("Connection: close\r\n\r\n");
                while body.len() < length {
                    let mut buf = [0u8; 4096];
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => body.extend_from_slice(&buf[..n]),
                    }
                }
                let Ok(mut up) = TcpStream::connect(target) else {
                    return;
                };
                let _ = up.write_all(out.as_bytes());
                let _ = up.write_all(&body);
                let mut answer = Vec::new();
                let _ = up.read_to_end(&mut answer);
                // The service closed after its answer: so does the proxy (on drop).
                let _ = conn.write_all(&answer);
            }
        }
    }
}

/// The request head (lossy text) and whatever body bytes came with it.
fn read_head(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            return Some((head, buf[end + 4..].to_vec()));
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Every proxy variable curl or reqwest reads, all pointing at `proxy`.
fn all_proxy_vars(proxy: &str) -> Vec<(&'static str, String)> {
    [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .into_iter()
    .map(|k| (k, proxy.to_string()))
    .collect()
}

/// The token comes from RAGKEYS_TOKEN: the server's when `token` is given, else a dummy.
fn run(cli: &Cli, args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    run_as(cli, "t", args, env)
}

fn run_as(cli: &Cli, token: &str, args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut c = cli.command();
    c.env("RAGKEYS_TOKEN", token);
    for k in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(args).output().unwrap()
}

#[test]
fn loopback_endpoints_never_reach_the_proxy() {
    let server = Server::start();
    let proxy = FakeProxy::start(Mode::Status(502));
    let cli = Cli::new();
    let env = all_proxy_vars(&proxy.url());
    let port = server.addr.port();
    for endpoint in [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    ] {
        let out = run_as(
            &cli,
            &server.token,
            &["services", "list", "--endpoint", &endpoint],
            &env,
        );
        expect_code(&out, 0);
    }
    assert_eq!(proxy.received(), "", "the proxy received requests");
}

#[test]
fn the_console_s_embedded_service_never_reaches_the_proxy() {
    let proxy = FakeProxy::start(Mode::Status(502));
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let vars: String = all_proxy_vars(&proxy.url())
        .iter()
        .map(|(k, v)| format!("{k}={} ", tmux::sh_quote(v)))
        .collect();
    let command = format!(
        "env -u RAGKEYS_PROFILE -u RAGKEYS_ENDPOINT -u RAGKEYS_TOKEN -u NO_PROXY -u no_proxy \
         HOME={home} XDG_CONFIG_HOME={home}/config {vars}LANG=C.UTF-8 \
         {bin} --data-dir {data} --lang en --clipboard off",
        home = tmux::sh_quote(&home.path().display().to_string()),
        data = tmux::sh_quote(&data.display().to_string()),
        bin = tmux::sh_quote(common::BIN),
    );
    let term = tmux::Tmux::start(&command, 100, 30);
    // The demo service in the list: the console's calls to its service succeeded.
    term.wait_text("rag-demo");
    term.keys(&["q"]);
    term.wait_dead();
    assert_eq!(proxy.received(), "", "the proxy received requests");
}

#[test]
fn remote_endpoints_go_through_the_proxy_named_by_curl_s_variables() {
    let server = Server::start();
    let proxy = FakeProxy::start(Mode::Forward(server.addr));
    let cli = Cli::new();
    let endpoint = format!("http://ragkeys.test:{}", server.addr.port());
    let args = ["services", "list", "--json", "--endpoint", &endpoint];
    for var in ["http_proxy", "all_proxy", "ALL_PROXY"] {
        let before = proxy.log.lock().unwrap().len();
        let out = run_as(&cli, &server.token, &args, &[(var, proxy.url())]);
        expect_code(&out, 0);
        let log = proxy.log.lock().unwrap()[before..].join("\n");
        assert!(
            log.starts_with(&format!("GET {endpoint}/v1/services ")),
            "{var}: {log}"
        );
    }
    // As curl: uppercase HTTP_PROXY is not read (a CGI request can set it); the name does not
    // resolve without the proxy, so the command cannot reach the service.
    let before = proxy.log.lock().unwrap().len();
    let out = run(&cli, &args, &[("HTTP_PROXY", proxy.url())]);
    expect_code(&out, 6);
    assert_eq!(proxy.log.lock().unwrap().len(), before);
    // …and says so, pointing at http_proxy.
    assert!(
        stderr(&out).contains("warning: HTTP_PROXY is set but not used"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn no_proxy_forms_bypass_the_proxy() {
    let server = Server::start();
    let proxy = FakeProxy::start(Mode::Forward(server.addr));
    let cli = Cli::new();
    let port = server.addr.port();
    let by_name = format!("http://ragkeys.test:{port}");
    for no in [
        "*".to_string(),
        "ragkeys.test".to_string(),
        ".test".to_string(),
        "test".to_string(),
        "other.example, ragkeys.test".to_string(),
        "other.example ragkeys.test".to_string(),
        format!("ragkeys.test:{port}"),
    ] {
        for var in ["NO_PROXY", "no_proxy"] {
            let out = run(
                &cli,
                &["services", "list", "--endpoint", &by_name],
                &[("http_proxy", proxy.url()), (var, no.clone())],
            );
            // Direct: the name does not resolve, so the service is unreachable.
            expect_code(&out, 6);
            assert!(
                !stderr(&out).contains("proxy"),
                "{var}={no}: {}",
                stderr(&out)
            );
        }
    }
    assert_eq!(proxy.received(), "");
    // An address outside loopback that still reaches this machine: 0.0.0.0.
    let by_ip = format!("http://0.0.0.0:{port}");
    for no in ["0.0.0.0", "0.0.0.0/8"] {
        let out = run_as(
            &cli,
            &server.token,
            &["services", "list", "--endpoint", &by_ip],
            &[("http_proxy", proxy.url()), ("no_proxy", no.to_string())],
        );
        expect_code(&out, 0);
    }
    assert_eq!(proxy.received(), "");
    // Entries that do not match leave the proxy in use.
    for no in [
        "notragkeys.test".to_string(),
        format!("ragkeys.test:{}", port.wrapping_add(1)),
        "10.0.0.0/8".to_string(),
    ] {
        let before = proxy.log.lock().unwrap().len();
        let out = run_as(
            &cli,
            &server.token,
            &["services", "list", "--endpoint", &by_name],
            &[("http_proxy", proxy.url()), ("no_proxy", no.clone())],
        );
        expect_code(&out, 0);
        assert!(proxy.log.lock().unwrap().len() > before, "{no}");
    }
}

#[test]
fn an_unsupported_proxy_scheme_is_refused_naming_the_variable() {
    let cli = Cli::new();
    for (var, value) in [
        ("all_proxy", "socks5://user:hunter2@127.0.0.1:1080"),
        ("https_proxy", "socks5h://127.0.0.1:1080"),
        ("http_proxy", "ftp://127.0.0.1:21"),
    ] {
        let scheme = if var == "https_proxy" {
            "https"
        } else {
            "http"
        };
        let endpoint = format!("{scheme}://ragkeys.test:1");
        let out = run(
            &cli,
            &["services", "list", "--endpoint", &endpoint],
            &[(var, value.to_string())],
        );
        expect_code(&out, 2);
        let e = stderr(&out);
        assert!(e.contains(&format!("{var}=")), "{e}");
        assert!(e.contains("not supported"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }
}

#[test]
fn failures_of_the_proxy_say_they_came_from_the_proxy() {
    let cli = Cli::new();
    let refuse = FakeProxy::start(Mode::Status(407));
    let gateway = FakeProxy::start(Mode::Status(502));
    let dead = cli::dead_url();
    let cases: [(&str, &str, String, &str); 4] = [
        ("http://ragkeys.test:1", "http_proxy", refuse.url(), "407"),
        ("https://ragkeys.test:1", "https_proxy", refuse.url(), "407"),
        ("http://ragkeys.test:1", "http_proxy", gateway.url(), "502"),
        (
            "http://ragkeys.test:1",
            "all_proxy",
            dead.clone(),
            "cannot connect to the proxy",
        ),
    ];
    for (endpoint, var, proxy, what) in cases {
        let out = run(
            &cli,
            &["services", "list", "--endpoint", endpoint],
            &[(var, proxy.clone())],
        );
        expect_code(&out, 6);
        let e = stderr(&out);
        assert!(e.contains(what), "{endpoint} via {var}: {e}");
        assert!(
            e.contains(&format!("the proxy {proxy} (from {var})")),
            "{endpoint} via {var}: {e}"
        );
    }
    assert!(refuse.received().contains("CONNECT ragkeys.test:1 "));
    assert_eq!(code(&run(&cli, &["--version"], &[])), 0);
}
