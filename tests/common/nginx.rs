//! A real nginx running the shipped gateway recipe (`deploy/nginx/ragkeys-gateway.conf`) on a
//! free loopback port in a temp dir, and the RAG API it protects: an echo server that answers
//! every request with what it received (method, path, headers) as JSON.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The recipe as shipped, placeholders and all.
pub fn recipe() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx/ragkeys-gateway.conf");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The nginx binary; a missing one fails the test, naming the package.
pub fn nginx_binary() -> PathBuf {
    for p in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!(
        "nginx is not installed: these tests run the gateway recipe with a real nginx \
         (apt-get install nginx; .ci/run installs it)"
    );
}

/// A port nothing listens on right now (bound and released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// nginx in the foreground, one process (no master, so that killing it leaves nothing behind),
/// with the recipe included at `http` level. Killed when dropped.
pub struct Gateway {
    child: Child,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Gateway {
    /// The recipe with `@RAGKEYS@` and `@RAG_API@` filled in, listening on a free port.
    pub fn start(ragkeys: SocketAddr, rag_api: SocketAddr) -> Gateway {
        Self::start_recipe(&recipe(), ragkeys, rag_api)
    }

    /// `recipe` (a variant of the shipped one) with its placeholders filled in.
    pub fn start_recipe(recipe: &str, ragkeys: SocketAddr, rag_api: SocketAddr) -> Gateway {
        let bin = nginx_binary();
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display().to_string();
        let mut last_error = String::new();
        // The free port may be taken by someone else before nginx binds it: try a few.
        for _ in 0..5 {
            let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
            let conf = recipe
                .replace("@LISTEN@", &addr.to_string())
                .replace("@RAGKEYS@", &ragkeys.to_string())
                .replace("@RAG_API@", &rag_api.to_string());
            std::fs::write(dir.path().join("ragkeys-gateway.conf"), conf).unwrap();
            let main = format!(
                "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
                 error_log {d}/error.log info;\nevents {{ worker_connections 512; }}\n\
                 http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  \
                 proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
                 uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
                 include {d}/ragkeys-gateway.conf;\n}}\n"
            );
            std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
            let mut child = Command::new(&bin)
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(dir.path().join("nginx.conf"))
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start nginx");
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!(
                        "nginx exited ({status}): {}",
                        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
                    );
                    break;
                }
                if TcpStream::connect(addr).is_ok() {
                    return Gateway { child, addr, dir };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("nginx did not listen on {addr} within 20 s");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("nginx did not start: {last_error}");
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// nginx's error log so far (for failure messages).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The RAG API's stand-in: answers every request 200 with
/// `{"method","path","headers":{lower-case name: [values]}}`, keeping connections alive.
/// Stops accepting when dropped.
pub struct EchoApi {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
}

impl EchoApi {
    pub fn start() -> EchoApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the echo API");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let (s, n) = (stop.clone(), connections.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                n.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let _ = echo_connection(conn);
                });
            }
        });
        EchoApi {
            addr,
            stop,
            connections,
        }
    }

    /// How many connections it has accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for EchoApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn echo_connection(conn: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut length = 0usize;
        let mut close = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (name, value) = h.split_once(':').unwrap_or((h, ""));
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_string());
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            }
            if name == "connection" && value.eq_ignore_ascii_case("close") {
                close = true;
            }
            headers.entry(name).or_default().push(value);
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        let answer = serde_json::json!({"method": method, "path": path, "headers": headers});
        let text = answer.to_string();
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             X-Request-Id: from-the-api\r\n\r\n{text}",
            text.len()
        )?;
        out.flush()?;
        if close {
            return Ok(());
        }
    }
}
