//! A throwaway PostgreSQL for the black-box tests (issue 10, *How it is proven*).
//!
//! One cluster per test binary, started on first use: `initdb` + `postgres` from the newest
//! `/usr/lib/postgresql/*/bin`, in a temp dir, on a free port on 127.0.0.1 (unix socket in the temp
//! dir), run as the `postgres` user when the tests run as root. Every test takes its own fresh
//! database from it. A watchdog process stops the cluster and removes its dir once the test process
//! is gone, however it ends. With `RAGKEYS_TEST_DATABASE_URL` set, the databases are made on that
//! server instead (and the fault helpers that stop the server refuse).
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The environment variable naming an existing server to use instead of a throwaway cluster:
/// a superuser URL such as `postgres://postgres@127.0.0.1:5432/postgres`.
pub const TEST_DATABASE_URL: &str = "RAGKEYS_TEST_DATABASE_URL";

/// One fresh, empty database for one test. On RAGKEYS_TEST_DATABASE_URL's server it is dropped
/// when this is (a throwaway cluster goes whole with its process).
#[derive(Debug)]
pub struct TestDb {
    /// The URL `ragkeys serve --database` takes (superuser, trust auth, no TLS).
    pub url: String,
    /// The database's name on the cluster (for `psql`, `pg_dump`, `terminate_backends`).
    pub name: String,
    /// Drop the database with this value: true on a server that outlives the tests.
    drop_after: bool,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.drop_after {
            // FORCE: a replica still connected would otherwise keep it.
            let _ = cluster().try_psql(
                "postgres",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            );
        }
    }
}

/// The server the test binary's databases live on.
pub struct Cluster {
    /// `postgres://user@host:port/` without a database name.
    base_url: String,
    /// The server binaries (`psql`, `pg_dump`, …): the newest `/usr/lib/postgresql/*/bin`, or `PATH`.
    bin: Option<PathBuf>,
    port: u16,
    /// Present for a cluster this binary started; absent for RAGKEYS_TEST_DATABASE_URL's server.
    own: Option<Own>,
}

struct Own {
    root: PathBuf,
    data: PathBuf,
    uid: Option<(libc::uid_t, libc::gid_t)>,
    postmaster: Mutex<Option<Child>>,
    /// Held open for the life of the cluster: the watchdog acts on its end-of-file.
    watchdog_pipe: Mutex<Option<ChildStdin>>,
    /// The watchdog itself, reaped when a private cluster is dropped.
    watchdog: Mutex<Child>,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);
/// CREATE DATABASE copies template1, and two copies at once can fail: one at a time per binary.
static CREATE: Mutex<()> = Mutex::new(());

/// A fresh empty database (its own name) on the throwaway cluster this test binary shares,
/// started on first use; or on RAGKEYS_TEST_DATABASE_URL's server when that is set.
/// Panics with what to install when no PostgreSQL server binaries are found.
pub fn fresh_database() -> TestDb {
    cluster().fresh_database()
}

/// The cluster this test binary shares (started on first use), for the fault helpers.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| match std::env::var(TEST_DATABASE_URL) {
        Ok(url) if !url.trim().is_empty() => Cluster::external(url.trim()),
        _ => Cluster::throwaway(),
    })
}

/// A throwaway cluster of the caller's own, apart from the one the binary shares: for a test that
/// stops the server (the others in its binary keep theirs). Stopped and removed when dropped.
/// Needs the server binaries even when RAGKEYS_TEST_DATABASE_URL is set.
pub fn private_cluster() -> Cluster {
    Cluster::throwaway()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(own) = &self.own {
            self.stop_immediate();
            // End of file: the watchdog removes the dir and exits.
            drop(
                own.watchdog_pipe
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take(),
            );
            let _ = own
                .watchdog
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .wait();
            let _ = std::fs::remove_dir_all(&own.root);
        }
    }
}

impl Cluster {
    /// A fresh empty database (its own name) on this cluster.
    pub fn fresh_database(&self) -> TestDb {
        let name = format!(
            "rk_{}_{}_{:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let _one = CREATE.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.try_psql("postgres", &format!("CREATE DATABASE {name}")) {
                Ok(_) => break,
                // "source database "template1" is being accessed by other users": another
                // binary's copy, or an autovacuum worker; it passes.
                Err(e) if Instant::now() < deadline && e.contains("being accessed") => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => panic!("CREATE DATABASE {name}: {e}"),
            }
        }
        TestDb {
            url: format!("{}{name}", self.base_url),
            name,
            drop_after: self.own.is_none(),
        }
    }

    /// Database `name` of this cluster, made elsewhere (e.g. on the primary of this standby).
    pub fn database(&self, name: &str) -> TestDb {
        TestDb {
            url: format!("{}{name}", self.base_url),
            name: name.to_string(),
            drop_after: false,
        }
    }

    fn external(url: &str) -> Cluster {
        let base_url = without_database(url);
        let port = base_url
            .rsplit_once(':')
            .and_then(|(_, p)| p.trim_end_matches('/').parse().ok())
            .unwrap_or(5432);
        Cluster {
            base_url,
            bin: newest_bin_dir(),
            port,
            own: None,
        }
    }

    fn throwaway() -> Cluster {
        let bin = newest_bin_dir().unwrap_or_else(|| {
            panic!(
                "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin: install the \
                 `postgresql` package (apt-get install postgresql), or set {TEST_DATABASE_URL} to a \
                 superuser URL of a server to use"
            )
        });
        // initdb and postgres refuse to run as root: run them as `postgres` then.
        let uid = if unsafe { libc::geteuid() } == 0 {
            Some(postgres_user().unwrap_or_else(|| {
                panic!("the tests run as root and there is no `postgres` user to run PostgreSQL as: install the `postgresql` package, which creates it")
            }))
        } else {
            None
        };
        let root = own_root(uid);
        let data = root.join("data");
        let out = as_user(Command::new(bin.join("initdb")), uid)
            .args(["-D"])
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .stdin(Stdio::null())
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Self::run_own(bin, root, data, uid)
    }

    /// Starts the server on the data dir `data` under `root` (a temp dir of `uid`'s) on a free
    /// port, watched so that it dies with the test binary.
    fn run_own(
        bin: PathBuf,
        root: PathBuf,
        data: PathBuf,
        uid: Option<(libc::uid_t, libc::gid_t)>,
    ) -> Cluster {
        let (watchdog, pipe) = spawn_watchdog(&root, &data);
        let port = free_port();
        let c = Cluster {
            base_url: format!("postgres://postgres@127.0.0.1:{port}/"),
            bin: Some(bin),
            port,
            own: Some(Own {
                root,
                data,
                uid,
                postmaster: Mutex::new(None),
                watchdog_pipe: Mutex::new(Some(pipe)),
                watchdog: Mutex::new(watchdog),
            }),
        };
        c.start();
        c
    }

    /// A hot standby of this (throwaway) cluster: `pg_basebackup -R` streaming from it, started
    /// and answering reads (in recovery: no writes, no LISTEN) — the other half of a failover.
    pub fn standby(&self) -> Cluster {
        let own = self.own("making a standby");
        let bin = self.bin.clone().expect("server binaries");
        let root = own_root(own.uid);
        let data = root.join("data");
        let out = as_user(Command::new(bin.join("pg_basebackup")), own.uid)
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-X",
                "stream",
                "-R",
                "--no-sync",
                "--checkpoint=fast",
            ])
            .args(["-p", &self.port.to_string(), "-D"])
            .arg(&data)
            .stdin(Stdio::null())
            .output()
            .expect("run pg_basebackup");
        assert!(
            out.status.success(),
            "pg_basebackup failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Self::run_own(bin, root, data, own.uid)
    }

    /// Waits until this standby has replayed everything `primary` has written so far.
    pub fn caught_up_with(&self, primary: &Cluster) {
        let lsn = primary.psql("postgres", "SELECT pg_current_wal_lsn()");
        let deadline = Instant::now() + Duration::from_secs(60);
        let sql = format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn");
        while self.psql("postgres", &sql) != "t" {
            assert!(
                Instant::now() < deadline,
                "the standby did not replay up to {lsn} within 60 s: {}",
                self.server_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `pg_ctl promote -w`: the standby leaves recovery and takes writes.
    pub fn promote(&self) {
        let own = self.own("promoting a standby");
        let bin = self.bin.as_ref().expect("server binaries");
        let out = as_user(Command::new(bin.join("pg_ctl")), own.uid)
            .args(["promote", "-w", "-D"])
            .arg(&own.data)
            .stdin(Stdio::null())
            .output()
            .expect("run pg_ctl promote");
        assert!(
            out.status.success(),
            "pg_ctl promote failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://user@host:port/` — append a database name.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Whether this binary started the cluster (so it may stop and start it).
    pub fn is_throwaway(&self) -> bool {
        self.own.is_some()
    }

    fn own(&self, what: &str) -> &Own {
        self.own.as_ref().unwrap_or_else(|| {
            panic!(
                "{what} needs the test binary's own throwaway cluster: unset {TEST_DATABASE_URL}"
            )
        })
    }

    /// Starts the postmaster (again, on the same port and data) and waits until it accepts
    /// connections. Nothing happens when it is running already.
    pub fn start(&self) {
        let own = self.own("starting PostgreSQL");
        let mut pm = own.postmaster.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(child) = pm.as_mut()
            && child.try_wait().ok().flatten().is_none()
        {
            return;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(own.root.join("postgres.log"))
            .expect("postgres log file");
        let bin = self.bin.as_ref().expect("server binaries");
        let child = as_user(Command::new(bin.join("postgres")), own.uid)
            .arg("-D")
            .arg(&own.data)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&own.root)
            .args(["-c", "listen_addresses=127.0.0.1"])
            // Throwaway data: no fsync. Commits still reach the OS at commit (synchronous_commit
            // stays on), so an immediate stop loses no acknowledged write.
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            // Several tests at once, each with up to six replicas and their pools.
            .args(["-c", "max_connections=500", "-c", "shared_buffers=32MB"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn postgres");
        *pm = Some(child);
        drop(pm);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.try_psql("postgres", "SELECT 1").is_ok() {
                return;
            }
            if let Some(child) = own
                .postmaster
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_mut()
                && let Ok(Some(st)) = child.try_wait()
            {
                panic!("postgres exited ({st}) at start: {}", self.server_log());
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not accept connections within 60 s: {}",
                self.server_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `pg_ctl stop -m immediate`: SIGQUIT to the postmaster, every backend gone at once with no
    /// checkpoint (a crash, as far as clients see); waits until it has exited.
    pub fn stop_immediate(&self) {
        let own = self.own("stopping PostgreSQL");
        let mut pm = own.postmaster.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut child) = pm.take() {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGQUIT);
            }
            let _ = child.wait();
        }
    }

    /// Turns TLS on with this certificate and key (PEM), written into the data dir as the
    /// server's own `server.crt` / `server.key` (owned by the server's user, 0600), and waits
    /// until new connections may use it (a reload; no restart).
    pub fn enable_ssl(&self, cert_pem: &str, key_pem: &str) {
        use std::os::unix::fs::PermissionsExt;
        let own = self.own("turning TLS on");
        for (name, pem) in [("server.crt", cert_pem), ("server.key", key_pem)] {
            let path = own.data.join(name);
            std::fs::write(&path, pem).expect("write the server's TLS files");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .expect("chmod the server's TLS files");
            if let Some((uid, gid)) = own.uid {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                    .expect("chown the server's TLS files");
            }
        }
        self.psql("postgres", "ALTER SYSTEM SET ssl = on");
        self.psql("postgres", "SELECT pg_reload_conf()");
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.psql("postgres", "SHOW ssl") != "on" {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not turn TLS on within 60 s: {}",
                self.server_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's own log so far (throwaway cluster only; empty otherwise).
    pub fn server_log(&self) -> String {
        self.own
            .as_ref()
            .and_then(|o| std::fs::read_to_string(o.root.join("postgres.log")).ok())
            .unwrap_or_default()
    }

    /// Runs `sql` on database `db` with psql; returns its unaligned, tuples-only output.
    /// Panics with psql's error on failure.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.try_psql(db, sql)
            .unwrap_or_else(|e| panic!("psql on {db}: {sql}: {e}"))
    }

    /// As [`Cluster::psql`], the error (psql's stderr) returned instead.
    pub fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.tool("psql"))
            .arg("-d")
            .arg(format!("{}{db}", self.base_url))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGCONNECT_TIMEOUT", "5")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// `pg_dump` of database `db` (plain SQL, data included).
    pub fn pg_dump(&self, db: &str) -> String {
        let out = Command::new(self.tool("pg_dump"))
            .arg("-d")
            .arg(format!("{}{db}", self.base_url))
            .stdin(Stdio::null())
            .output()
            .expect("run pg_dump");
        assert!(
            out.status.success(),
            "pg_dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Terminates every backend connected to database `db` (`pg_terminate_backend`); returns how
    /// many there were.
    pub fn terminate_backends(&self, db: &str) -> usize {
        self.psql(
            "postgres",
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = '{db}' AND pid <> pg_backend_pid()"
            ),
        )
        .parse()
        .unwrap_or(0)
    }

    /// Terminates the backends serving the connections that process `pid` (e.g. one replica)
    /// holds to this server, found by their client ports; returns how many.
    pub fn terminate_backends_of(&self, pid: u32) -> usize {
        let ports = client_ports_of(pid, self.port);
        if ports.is_empty() {
            return 0;
        }
        let list = ports
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",");
        self.psql(
            "postgres",
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE client_port IN ({list}) AND pid <> pg_backend_pid()"
            ),
        )
        .parse()
        .unwrap_or(0)
    }

    /// A client tool (`psql`, `pg_dump`) from the server's bin dir, else from `PATH`.
    fn tool(&self, name: &str) -> PathBuf {
        match &self.bin {
            Some(b) if b.join(name).exists() => b.join(name),
            _ => PathBuf::from(name),
        }
    }
}

/// The local TCP ports of the connections process `pid` holds to `server_port` on 127.0.0.1,
/// read from /proc: its socket inodes matched against /proc/net/tcp.
fn client_ports_of(pid: u32, server_port: u16) -> Vec<u16> {
    let mut inodes = std::collections::HashSet::new();
    if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let t = target.to_string_lossy();
                if let Some(n) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                    inodes.insert(n.to_string());
                }
            }
        }
    }
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let hex_port = |field: &str| {
        field
            .rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
    };
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || !inodes.contains(f[9]) || hex_port(f[2]) != Some(server_port) {
                return None;
            }
            hex_port(f[1])
        })
        .collect()
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `postgres` and `initdb`.
fn newest_bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("postgres").exists() && bin.join("initdb").exists()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

/// The `postgres` user's uid and gid.
pub fn postgres_user() -> Option<(libc::uid_t, libc::gid_t)> {
    let name = std::ffi::CString::new("postgres").unwrap();
    // getpwnam's record is static; read it at once, before another call can change it.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        None
    } else {
        Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
    }
}

/// A temp dir for a cluster, owned by `uid` when the server runs as another user.
fn own_root(uid: Option<(libc::uid_t, libc::gid_t)>) -> PathBuf {
    let root = tempfile::Builder::new()
        .prefix("ragkeys-pg-")
        .tempdir()
        .expect("temp dir for PostgreSQL")
        .keep();
    if let Some((u, g)) = uid {
        chown(&root, u, g);
    }
    root
}

pub fn chown(path: &Path, uid: libc::uid_t, gid: libc::gid_t) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let rc = unsafe { libc::chown(c.as_ptr(), uid, gid) };
    assert_eq!(
        rc,
        0,
        "chown {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// `cmd`, run as `uid` (setgid + setuid before exec) when given.
pub fn as_user(mut cmd: Command, uid: Option<(libc::uid_t, libc::gid_t)>) -> Command {
    if let Some((u, g)) = uid {
        cmd.env("HOME", "/tmp");
        unsafe {
            cmd.pre_exec(move || {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(g) != 0
                    || libc::setuid(u) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd
}

/// A shell that waits for end-of-file on its stdin — the test process's end, however it ends,
/// since only this process holds the pipe — then stops the postmaster at once and removes the
/// cluster's dir. Runs in its own process group so a Ctrl-C to the tests reaches it only
/// through the pipe.
fn spawn_watchdog(root: &Path, data: &Path) -> (Child, ChildStdin) {
    let script = r#"cat >/dev/null
pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null)
if [ -n "$pid" ]; then
  kill -QUIT "$pid" 2>/dev/null
  i=0
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  kill -KILL "$pid" 2>/dev/null
fi
rm -rf "$2"
"#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("watchdog")
        .arg(data)
        .arg(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn the PostgreSQL watchdog");
    let mut stdin = child.stdin.take().expect("watchdog stdin");
    // Nothing to say; the write only proves the pipe is up.
    let _ = stdin.write_all(b"");
    (child, stdin)
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `url` with its database name (the path) removed, ending in `/`; query parameters dropped.
fn without_database(url: &str) -> String {
    let url = url.split('?').next().unwrap_or(url);
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(i) => url[..after_scheme + i + 1].to_string(),
        None => format!("{url}/"),
    }
}
