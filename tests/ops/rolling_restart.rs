//! The rolling restart (docs/operating.md, Rolling restarts and the drain): a real HAProxy in
//! front of two replicas on one PostgreSQL, checking `GET /readyz` every 500 ms (down after 2
//! failures, up after 1), with no retry of any kind (`retries 0`, no `retry-on`, no `option
//! redispatch`); wrk verifies a key through it while each replica in turn is sent SIGTERM,
//! drains (`--drain 3`), exits, is started again, and is seen up by HAProxy before the next one
//! goes. The drain alone must lose nothing: no answer other than 2xx, no socket error.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::Replicas;
use crate::common::pg::fresh_database;
use crate::common::replicas::wait_ready;

const REPLICA_FLAGS: &[&str] = &["--drain", "3"];

/// The program `name` from PATH or the system's sbin, or a failure naming the Debian package.
pub fn program(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} not found: install the Debian package `{package}` (apt-get install {package})")
        })
}

/// `n` different free addresses on 127.0.0.1 below the kernel's ephemeral range (bound then
/// released: their owners bind them a moment later). A replica's port must stay free while it
/// restarts: an outgoing connection given it as its local port, even one in TIME_WAIT, would
/// keep the replica from binding it again.
fn stable_addrs(n: usize) -> Vec<SocketAddr> {
    use std::hash::{BuildHasher, Hasher};
    let first_ephemeral: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let low = 10_000u16.min(first_ephemeral / 2);
    // Held until all are found, so that they differ.
    let mut held = Vec::new();
    for _ in 0..1000 {
        if held.len() == n {
            break;
        }
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let port = low + (h.finish() % u64::from(first_ephemeral - low)) as u16;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            held.push(l);
        }
    }
    assert_eq!(
        held.len(),
        n,
        "no free ports on 127.0.0.1 below {first_ephemeral}"
    );
    held.iter()
        .map(|l| l.local_addr().expect("a bound address"))
        .collect()
}

/// A child killed when dropped, so that a failed test leaves nothing behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// HAProxy as TESTING.md's rolling restart has it, in front of `servers`.
struct Haproxy {
    _child: Running,
    front: SocketAddr,
    stats: String,
}

impl Haproxy {
    fn start(dir: &Path, servers: &[SocketAddr]) -> Haproxy {
        let bin = program("haproxy", "haproxy");
        let [front, stats] = stable_addrs(2)[..] else {
            unreachable!()
        };
        let mut cfg = format!(
            "global\n    maxconn 512\n\n\
             defaults\n    mode http\n    retries 0\n    timeout connect 2s\n    \
             timeout client 30s\n    timeout server 30s\n    timeout check 2s\n\n\
             frontend api\n    bind {front}\n    default_backend ragkeys\n\n\
             backend ragkeys\n    balance roundrobin\n    option httpchk GET /readyz\n"
        );
        for (i, s) in servers.iter().enumerate() {
            cfg.push_str(&format!(
                "    server r{i} {s} check inter 500ms fall 2 rise 1\n"
            ));
        }
        cfg.push_str(&format!(
            "\nlisten stats\n    bind {stats}\n    stats enable\n    stats uri /stats\n"
        ));
        let file = dir.join("haproxy.cfg");
        std::fs::write(&file, &cfg).expect("write haproxy.cfg");
        let check = Command::new(&bin)
            .arg("-c")
            .arg("-f")
            .arg(&file)
            .output()
            .expect("run haproxy -c");
        assert!(
            check.status.success(),
            "haproxy refuses the configuration:\n{cfg}\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new(&bin)
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy");
        Haproxy {
            _child: Running(child),
            front,
            stats: format!("http://{stats}/stats;csv"),
        }
    }

    /// Each server's status as HAProxy sees it (`UP`, `DOWN`, `UP 1/2`, …), None while its
    /// statistics page cannot be read.
    async fn statuses(&self, http: &reqwest::Client) -> Option<Vec<(String, String)>> {
        let text = http
            .get(&self.stats)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next()?.trim_start_matches("# ").split(',').collect();
        let col = |name: &str| header.iter().position(|h| *h == name);
        let (px, sv, st) = (col("pxname")?, col("svname")?, col("status")?);
        Some(
            lines
                .map(|l| l.split(',').collect::<Vec<_>>())
                .filter(|f| f.get(px) == Some(&"ragkeys") && f[sv].starts_with('r'))
                .map(|f| (f[sv].to_owned(), f[st].to_owned()))
                .collect(),
        )
    }

    async fn status_of(&self, http: &reqwest::Client, server: &str) -> Option<String> {
        self.statuses(http)
            .await?
            .into_iter()
            .find(|(s, _)| s == server)
            .map(|(_, st)| st)
    }

    /// Waits until HAProxy sees every server up, or panics after `within`.
    async fn wait_all_up(&self, http: &reqwest::Client, within: Duration) {
        let end = Instant::now() + within;
        loop {
            let seen = self.statuses(http).await;
            if let Some(s) = &seen
                && !s.is_empty()
                && s.iter().all(|(_, st)| st == "UP")
            {
                return;
            }
            assert!(
                Instant::now() < end,
                "HAProxy does not see every replica up after {within:?}: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// What wrk reported: requests, answers other than 2xx/3xx, socket errors (connect, read,
/// write, timeout).
#[derive(Debug)]
struct WrkReport {
    requests: u64,
    non_2xx: u64,
    socket_errors: [u64; 4],
}

fn parse_wrk(out: &str) -> WrkReport {
    let requests = out
        .lines()
        .find_map(|l| l.trim().split_once(" requests in ")?.0.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk's report:\n{out}"));
    let non_2xx = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .map_or(0, |n| n.trim().parse().expect("a count"));
    let mut socket_errors = [0; 4];
    if let Some(l) = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Socket errors:"))
    {
        for (i, part) in l.split(',').enumerate().take(4) {
            socket_errors[i] = part
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("socket errors: {l}"));
        }
    }
    WrkReport {
        requests,
        non_2xx,
        socket_errors,
    }
}

/// Whether the replica's process has exited (and no longer serves).
fn exited(srv: &mut crate::common::Server) -> bool {
    matches!(srv.child.try_wait(), Ok(Some(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_behind_haproxy_loses_no_request() {
    let wrk = program("wrk", "wrk");
    let listen: Vec<Option<SocketAddr>> = stable_addrs(2).into_iter().map(Some).collect();
    let mut replicas = Replicas::start_listening(fresh_database(), &listen, REPLICA_FLAGS);
    let api = replicas.api(0);
    for i in 0..2 {
        wait_ready(&replicas.api(i), Duration::from_secs(30)).await;
    }
    let sid = api.create_service("rolling").await;
    let (_, key) = api.issue_ok(&sid).await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let addrs: Vec<SocketAddr> = replicas.servers.iter().map(|s| s.addr).collect();
    let haproxy = Haproxy::start(tmp.path(), &addrs);
    let http = crate::common::http();
    haproxy.wait_all_up(&http, Duration::from_secs(30)).await;

    // The load: a bounded run, ended early with SIGINT once the restart is done.
    let mut load = Running(
        Command::new(&wrk)
            .args(["-t1", "-c4", "-d120s", "--timeout", "10s", "-H"])
            .arg(format!("Authorization: Bearer {key}"))
            .arg(format!("http://{}/v1/verify", haproxy.front))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wrk"),
    );
    // Load before the first restart.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        load.0.try_wait().expect("wrk").is_none(),
        "wrk stopped early"
    );

    // Replicas that stopped before HAProxy took them out: the drain did not do its work.
    let mut stopped_in_rotation = Vec::new();
    for i in 0..2 {
        let name = format!("r{i}");
        let signalled = Instant::now();
        replicas.servers[i].signal(libc::SIGTERM);
        // HAProxy takes it out while it still serves: that is the drain's whole point.
        let mut down_while_serving = false;
        let end = Instant::now() + Duration::from_secs(30);
        while !exited(&mut replicas.servers[i]) {
            let st = haproxy.status_of(&http, &name).await;
            if st.as_deref().is_some_and(|s| s.starts_with("DOWN"))
                && !exited(&mut replicas.servers[i])
            {
                down_while_serving = true;
            }
            assert!(
                Instant::now() < end,
                "{name} still running 30 s after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let status = replicas.servers[i].child.wait().expect("exit status");
        assert_eq!(
            status.code(),
            Some(0),
            "{name}: {}",
            replicas.servers[i].log()
        );
        if !down_while_serving {
            stopped_in_rotation.push(format!("{name} ({:?} after SIGTERM)", signalled.elapsed()));
        }
        replicas.restart(i, REPLICA_FLAGS);
        haproxy.wait_all_up(&http, Duration::from_secs(30)).await;
    }

    // A little load on the restarted pair, then the report.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Our own child, by its id.
    unsafe {
        libc::kill(load.0.id() as i32, libc::SIGINT);
    }
    let (out, err) = tokio::task::block_in_place(|| {
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut o) = load.0.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(mut e) = load.0.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let _ = load.0.wait();
        (out, err)
    });
    let report = parse_wrk(&out);
    eprintln!("wrk through HAProxy: {report:?}");
    assert!(report.requests > 100, "too little load: {out}{err}");
    assert_eq!(
        (report.non_2xx, report.socket_errors),
        (0, [0; 4]),
        "requests lost during the rolling restart: {report:?}\n{out}{err}"
    );
    assert!(
        stopped_in_rotation.is_empty(),
        "HAProxy never saw these down before they stopped: {stopped_in_rotation:?}"
    );
}
