//! A real PgBouncer in transaction mode in front of the throwaway PostgreSQL (docs/operating.md,
//! PgBouncer): one per test, on a free port on 127.0.0.1 (unix socket in its temp dir), every
//! database of the cluster behind it under the same name, run as `postgres` when the tests run
//! as root (it refuses root). Killed when dropped.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::pg;

/// A running PgBouncer. Killed when dropped.
pub struct PgBouncer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl PgBouncer {
    /// A PgBouncer in transaction mode in front of the PostgreSQL server on 127.0.0.1:`pg_port`.
    /// Panics saying what to install when there is no `pgbouncer`.
    pub fn start(pg_port: u16) -> PgBouncer {
        let bin = binary().unwrap_or_else(|| {
            panic!("no `pgbouncer` binary (PATH, /usr/sbin): apt-get install pgbouncer")
        });
        let uid = if unsafe { libc::geteuid() } == 0 {
            Some(pg::postgres_user().unwrap_or_else(|| {
                panic!("the tests run as root and PgBouncer refuses root: there is no `postgres` user to run it as (apt-get install postgresql creates it)")
            }))
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("ragkeys-pgbouncer-")
            .tempdir()
            .expect("temp dir for PgBouncer");
        if let Some((u, g)) = uid {
            pg::chown(dir.path(), u, g);
        }
        let port = pg::free_port();
        let d = dir.path().display();
        // Several replicas' pools share a few server connections, so that transactions of
        // different clients do meet the same server connection.
        let ini = format!(
            "[databases]\n\
             * = host=127.0.0.1 port={pg_port}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir = {d}\n\
             auth_type = trust\n\
             auth_file = {d}/userlist.txt\n\
             admin_users = postgres\n\
             pool_mode = transaction\n\
             default_pool_size = 20\n\
             max_client_conn = 1000\n\
             logfile = {d}/pgbouncer.log\n\
             pidfile = {d}/pgbouncer.pid\n"
        );
        std::fs::write(dir.path().join("pgbouncer.ini"), ini).expect("write pgbouncer.ini");
        std::fs::write(dir.path().join("userlist.txt"), "\"postgres\" \"\"\n")
            .expect("write userlist.txt");
        if let Some((u, g)) = uid {
            for f in ["pgbouncer.ini", "userlist.txt"] {
                pg::chown(&dir.path().join(f), u, g);
            }
        }
        let child = pg::as_user(Command::new(&bin), uid)
            .arg(dir.path().join("pgbouncer.ini"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn pgbouncer");
        let mut b = PgBouncer { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(st)) = b.child.try_wait() {
                panic!("pgbouncer exited ({st}) at start: {}", b.log());
            }
            assert!(
                Instant::now() < deadline,
                "pgbouncer did not listen within 30 s: {}",
                b.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        b
    }

    /// In front of the cluster the test binary shares (`tests/common/pg.rs`).
    pub fn in_front_of_cluster() -> PgBouncer {
        Self::start(pg::cluster().port())
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `url` (a database of the cluster behind it) as reached through this PgBouncer.
    pub fn url(&self, url: &str) -> String {
        super::replicas::via(url, ([127, 0, 0, 1], self.port).into())
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }

    /// Whether a client logged in to database `name` through it (its log says so): the test
    /// did go through PgBouncer.
    pub fn served(&self, name: &str) -> bool {
        self.log().contains(&format!("login attempt: db={name} "))
    }

    /// Its temp dir (ini, log, unix socket).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pgbouncer` on PATH, else Debian's /usr/sbin/pgbouncer (not on a non-root PATH).
fn binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("pgbouncer"))
            .find(|b| b.is_file())
    });
    on_path.or_else(|| {
        let sbin = PathBuf::from("/usr/sbin/pgbouncer");
        sbin.is_file().then_some(sbin)
    })
}
