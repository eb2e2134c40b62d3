//! Shared by the black-box tests: a real `ragkeys serve` on 127.0.0.1:0 over a temp data dir, and
//! one of each helper: the API client (`api`), the command line (`cli`), the replica kit
//! (`replicas`, `cut_proxy`), nginx running the gateway recipe (`nginx`), the throwaway
//! PostgreSQL (`pg`), the PKI (`pki`), raw HTTP (`raw`), pseudo-terminals (`pty`), the Python
//! tools (`python`), a real
//! terminal (`tmux`) and the screen reader (`screen`). Every test
//! binary includes it with `#[path = "../common/mod.rs"] mod common;`.
// Each binary uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod api;
pub mod cli;
pub mod cut_proxy;
pub mod github;
pub mod nginx;
pub mod pg;
pub mod pgbouncer;
pub mod pki;
pub mod pty;
pub mod python;
pub mod raw;
pub mod replicas;
pub mod screen;
pub mod tmux;
pub mod webhooks;

pub const BIN: &str = env!("CARGO_BIN_EXE_ragkeys");

/// A running key service. Killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// The bootstrap manager token from `<data-dir>/admin.token`.
    pub token: String,
    log: Arc<Mutex<Vec<String>>>,
    _tmp: Option<tempfile::TempDir>,
    /// How `ragkeys tokens` reaches this service's store: `--data-dir DIR` (SQLite), or
    /// `--database URL --pepper-file F` (PostgreSQL).
    pub store_args: Vec<String>,
}

impl Server {
    /// A fresh service on an empty temp data dir.
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("data");
        let mut s = Self::start_in(&dir, extra);
        s._tmp = Some(tmp);
        s
    }

    /// A service over `dir` (created if missing), e.g. to restart over the same data.
    pub fn start_in(dir: &Path, extra: &[&str]) -> Server {
        let level = std::env::var("RAGKEYS_TEST_LOG").unwrap_or("info".into());
        Self::start_in_logging(dir, extra, &level)
    }

    /// A fresh service whose log filter is `level` (as RAGKEYS_LOG), whatever RAGKEYS_TEST_LOG says.
    pub fn start_logging(extra: &[&str], level: &str) -> Server {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("data");
        let mut s = Self::start_in_logging(&dir, extra, level);
        s._tmp = Some(tmp);
        s
    }

    pub fn start_in_logging(dir: &Path, extra: &[&str], level: &str) -> Server {
        Self::serve_at(dir, "127.0.0.1:0", extra, level)
    }

    /// A service over `dir` listening on `listen` (e.g. where a stopped one listened, for a
    /// proxy that knows its address).
    pub fn start_in_at(dir: &Path, listen: SocketAddr, extra: &[&str]) -> Server {
        let level = std::env::var("RAGKEYS_TEST_LOG").unwrap_or("info".into());
        Self::serve_at(dir, &listen.to_string(), extra, &level)
    }

    fn serve_at(dir: &Path, listen: &str, extra: &[&str], level: &str) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .arg("--listen")
            .arg(listen)
            .arg("--data-dir")
            .arg(dir)
            .args(extra);
        // A test that stops the service does not wait out a drain unless it asks for one.
        if !extra.contains(&"--drain") {
            cmd.args(["--drain", "0"]);
        }
        cmd.env("RAGKEYS_LOG", level);
        Self::spawn(cmd, dir)
    }

    /// Runs `cmd`, which ends up as `ragkeys serve` over `dir` (through a wrapper that execs it,
    /// e.g. `unshare`), and waits for its "listening on" line.
    pub fn spawn(mut cmd: Command, dir: &Path) -> Server {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn ragkeys serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(i) = line.find("listening on ") {
                    let rest = &line[i + "listening on ".len()..];
                    let rest = rest
                        .trim_start_matches("http://")
                        .trim_start_matches("https://");
                    // Stop at the first character no address has, e.g. the quote of a JSON log line.
                    let addr: String = rest
                        .chars()
                        .take_while(|c| {
                            c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']')
                        })
                        .collect();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a.parse().expect("listening address"),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "ragkeys serve did not report 'listening on': {}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        let token = std::fs::read_to_string(dir.join("admin.token"))
            .map(|t| t.trim().to_string())
            .unwrap_or_default();
        Server {
            child,
            addr,
            data_dir: dir.to_path_buf(),
            token,
            log,
            _tmp: None,
            store_args: vec!["--data-dir".into(), dir.display().to_string()],
        }
    }

    /// One replica of `ragkeys serve` over PostgreSQL database `db` (`--database`), its pepper in
    /// `pepper_file` (`--pepper-file`; created by the first replica that needs it), on a temp data
    /// dir of its own. `token` is the bootstrap token if this replica created it, else empty.
    pub fn start_pg(db: &pg::TestDb, pepper_file: &Path, extra: &[&str]) -> Server {
        Self::start_pg_at(db, pepper_file, None, extra)
    }

    /// [`Server::start_pg`] listening on `listen` (None: a free port).
    pub fn start_pg_at(
        db: &pg::TestDb,
        pepper_file: &Path,
        listen: Option<SocketAddr>,
        extra: &[&str],
    ) -> Server {
        Self::start_pg_via(db, None, pepper_file, listen, extra)
    }

    /// [`Server::start_pg_at`], through `bouncer` when given (`--database` the PgBouncer,
    /// `--database-listen` the database itself).
    pub fn start_pg_via(
        db: &pg::TestDb,
        bouncer: Option<&pgbouncer::PgBouncer>,
        pepper_file: &Path,
        listen: Option<SocketAddr>,
        extra: &[&str],
    ) -> Server {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("data");
        let store = pg_store_args_via(db, bouncer, pepper_file);
        let mut args: Vec<&str> = store.iter().map(String::as_str).collect();
        args.extend_from_slice(extra);
        let mut s = match listen {
            Some(addr) => Self::start_in_at(&dir, addr, &args),
            None => Self::start_in(&dir, &args),
        };
        s._tmp = Some(tmp);
        s.store_args = store;
        s
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything the service wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Creates an admin token with `ragkeys tokens create` on this data dir.
    pub fn create_token(&self, name: &str, role: &str) -> String {
        let out = Command::new(BIN)
            .args(["tokens", "create", "--name", name, "--role", role])
            .args(&self.store_args)
            .output()
            .expect("run ragkeys tokens create");
        assert!(
            out.status.success(),
            "tokens create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Runs `ragkeys tokens ARGS` on this service's store (its data dir, or its database).
    pub fn tokens(&self, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .arg("tokens")
            .args(args)
            .args(&self.store_args)
            .output()
            .expect("run ragkeys tokens")
    }

    /// SIGTERM, then wait for a clean exit; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `sig` (SIGTERM, SIGINT, …) to this service and returns at once.
    pub fn signal(&self, sig: i32) {
        // Our own child, by its id.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits up to `within` for the process to exit: Some(its exit status), None if it still runs.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One reqwest client for a test, with an admin token.
pub fn http() -> reqwest::Client {
    ragkeys::client::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Runs `ragkeys tokens ARGS --data-dir DIR`: admin tokens, straight on the data dir.
pub fn tokens(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("tokens")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .expect("run ragkeys tokens")
}

/// What `ragkeys tokens list --json` shows for the data dir, oldest first.
fn token_list(dir: &Path) -> Vec<serde_json::Value> {
    let out = tokens(dir, &["list", "--json"]);
    assert!(
        out.status.success(),
        "tokens list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON list");
    list.as_array().cloned().unwrap_or_default()
}

/// The names `ragkeys tokens list --json` shows for the data dir, oldest first.
pub fn token_names(dir: &Path) -> Vec<String> {
    token_list(dir)
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The consoles' own tokens of the data dir, oldest first: each one's name and the process id
/// `ragkeys tokens list --json` shows beside it.
pub fn console_tokens(dir: &Path) -> Vec<(String, u32)> {
    token_list(dir)
        .iter()
        .filter_map(|t| {
            let pid = t["console_pid"].as_u64()?;
            Some((t["name"].as_str()?.to_string(), pid as u32))
        })
        .collect()
}

/// What the embedded console's token is named after with `LOGNAME=login`: `login@` and this
/// host's name up to its first dot (docs/console.md, Who did it).
pub fn person_at_this_host(login: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("the host name");
    let short = host
        .trim()
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string();
    format!("{login}@{short}")
}

/// `--database URL --pepper-file F`: the flags that put `ragkeys` on PostgreSQL database `db`.
pub fn pg_store_args(db: &pg::TestDb, pepper_file: &Path) -> Vec<String> {
    vec![
        "--database".into(),
        db.url.clone(),
        "--pepper-file".into(),
        pepper_file.display().to_string(),
    ]
}

/// [`pg_store_args`] through `bouncer` when given: `--database` the PgBouncer in front of `db`,
/// `--database-listen` `db` itself (docs/operating.md, PgBouncer).
pub fn pg_store_args_via(
    db: &pg::TestDb,
    bouncer: Option<&pgbouncer::PgBouncer>,
    pepper_file: &Path,
) -> Vec<String> {
    let mut args = pg_store_args(db, pepper_file);
    if let Some(b) = bouncer {
        args[1] = b.url(&db.url);
        args.extend(["--database-listen".into(), db.url.clone()]);
    }
    args
}

/// Several `ragkeys serve` replicas sharing one fresh PostgreSQL database and one pepper file
/// (docs/api.md, *Several replicas*), each on its own port and data dir.
pub struct Replicas {
    pub servers: Vec<Server>,
    /// The PgBouncer in front of the database when started [`replicas::Route::PgBouncer`].
    pub bouncer: Option<pgbouncer::PgBouncer>,
    pub db: pg::TestDb,
    pub pepper_file: PathBuf,
    /// The bootstrap manager token, from the data dir of the one replica that created it.
    pub token: String,
    _tmp: tempfile::TempDir,
}

impl Replicas {
    /// `n` replicas on a fresh database, started all at once (so they race for the migrations,
    /// the pepper file and the bootstrap token, as replicas started together do).
    pub fn start(n: usize, extra: &[&str]) -> Replicas {
        Self::start_on(pg::fresh_database(), n, extra)
    }

    /// `n` replicas on a fresh database reached by `route`.
    pub fn start_via(route: replicas::Route, n: usize, extra: &[&str]) -> Replicas {
        let db = pg::fresh_database();
        let bouncer =
            (route == replicas::Route::PgBouncer).then(pgbouncer::PgBouncer::in_front_of_cluster);
        let r = Self::start_routed(db, bouncer, &vec![None; n], extra);
        if let Some(b) = &r.bouncer {
            assert!(
                b.served(&r.db.name),
                "no replica went through PgBouncer: {}",
                b.log()
            );
        }
        r
    }

    /// `n` replicas started all at once on database `db` (e.g. one of a private cluster).
    pub fn start_on(db: pg::TestDb, n: usize, extra: &[&str]) -> Replicas {
        Self::start_listening(db, &vec![None; n], extra)
    }

    /// One replica per entry of `listen`, started all at once on database `db`, each on its
    /// address (None: a free port).
    pub fn start_listening(
        db: pg::TestDb,
        listen: &[Option<SocketAddr>],
        extra: &[&str],
    ) -> Replicas {
        Self::start_routed(db, None, listen, extra)
    }

    fn start_routed(
        db: pg::TestDb,
        bouncer: Option<pgbouncer::PgBouncer>,
        listen: &[Option<SocketAddr>],
        extra: &[&str],
    ) -> Replicas {
        let tmp = tempfile::tempdir().expect("temp dir");
        let pepper_file = tmp.path().join("pepper");
        let servers: Vec<Server> = std::thread::scope(|s| {
            let handles: Vec<_> = listen
                .iter()
                .map(|at| {
                    s.spawn(|| {
                        Server::start_pg_via(&db, bouncer.as_ref(), &pepper_file, *at, extra)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let tokens: Vec<&String> = servers
            .iter()
            .map(|s| &s.token)
            .filter(|t| !t.is_empty())
            .collect();
        assert_eq!(
            tokens.len(),
            1,
            "exactly one replica writes the bootstrap admin.token"
        );
        let token = tokens[0].clone();
        Replicas {
            servers,
            bouncer,
            db,
            pepper_file,
            token,
            _tmp: tmp,
        }
    }

    /// Starts one more replica on the same database and pepper file (e.g. after a kill -9).
    pub fn add(&mut self, extra: &[&str]) -> &Server {
        self.servers.push(Server::start_pg_via(
            &self.db,
            self.bouncer.as_ref(),
            &self.pepper_file,
            None,
            extra,
        ));
        self.servers.last().unwrap()
    }

    /// Starts replica `i` again where it listened, on the same database and pepper file, after
    /// it has exited (e.g. one by one behind a load balancer that knows the addresses).
    pub fn restart(&mut self, i: usize, extra: &[&str]) {
        let addr = self.servers[i].addr;
        self.servers[i] = Server::start_pg_via(
            &self.db,
            self.bouncer.as_ref(),
            &self.pepper_file,
            Some(addr),
            extra,
        );
    }

    /// A client of replica `i` with the bootstrap manager token.
    pub fn api(&self, i: usize) -> api::Api {
        api::Api {
            base: self.servers[i].url(),
            http: http(),
            token: self.token.clone(),
        }
    }

    /// The base URLs, replica by replica.
    pub fn urls(&self) -> Vec<String> {
        self.servers.iter().map(Server::url).collect()
    }
}

/// Runs `ragkeys serve` on `data_dir` and `args`, which must refuse to start: its exit code, its
/// stderr and how long it ran. Fails the test if it is still running after 90 s.
pub fn serve_refused(data_dir: &Path, args: &[&str]) -> (Option<i32>, String, Duration) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ragkeys serve");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(90);
    loop {
        if child.try_wait().expect("wait").is_some() {
            let ran = started.elapsed();
            let out = child.wait_with_output().expect("output");
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            return (out.status.code(), err, ran);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ragkeys serve {args:?} was still running after 90 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The shell words that run a command with this machine's clock moved by `offset` (`+2d`,
/// `-2d`): libfaketime's `faketime`, monotonic clocks left real (tokio's timers use them).
/// Fails, naming the package, where it is not installed.
pub fn faketime(offset: &str) -> Vec<String> {
    let found = Command::new("faketime")
        .args(["-f", "+0d", "true"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(found, "faketime is missing: apt-get install faketime");
    [
        "env",
        "FAKETIME_DONT_FAKE_MONOTONIC=1",
        "faketime",
        "-f",
        offset,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}
