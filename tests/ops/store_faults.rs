//! A store that cannot take writes (docs/api.md, Shutting down and starting up: store faults are
//! not 500s; docs/operating.md, Store faults), made real: the data dir on a 16 MiB tmpfs mounted
//! in a mount namespace of the service's own (`unshare -m`, so that nothing outside sees it),
//! filled with `dd` until ENOSPC and freed again. Every write answers 503 `unavailable` with
//! `Retry-After` (never 500), `/readyz` is 503 naming the cause, `/v1/verify` keeps answering
//! from the index, the log says it once, and the service recovers by itself once space is freed.
//! A read-only file system and I/O errors the same way, through a shim (`LD_PRELOAD`, compiled
//! here with `cc`) that fails the service's `pwrite64`, `write` and `fsync` on its data dir with
//! `EROFS` or `EIO` while a trigger file exists: a remount is refused while files are open, and
//! there is no device-mapper here (docs/testing.md).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::api::{Api, Reply, read};
use crate::common::{BIN, Server};
use reqwest::Method;
use serde_json::json;

/// The service over a data dir on a tmpfs only its mount namespace sees.
struct OnTmpfs {
    srv: Server,
    /// The tmpfs, as a path inside the service's namespace.
    mount: PathBuf,
    _tmp: tempfile::TempDir,
}

/// A tool of util-linux (`unshare`, `nsenter`), or a failure naming the package.
fn util_linux(tool: &str) {
    let found = Command::new(tool).arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "`{tool}` is needed for the store fault tests: install the util-linux package"
    );
}

impl OnTmpfs {
    fn start() -> OnTmpfs {
        util_linux("unshare");
        util_linux("nsenter");
        let tmp = tempfile::tempdir().expect("temp dir");
        let mount = tmp.path().join("disk");
        std::fs::create_dir(&mount).unwrap();
        let data = mount.join("data");
        // `exec` keeps one process: the pid of the child is the service's, which `nsenter`
        // and /proc/PID/root use to reach its namespace.
        let script = r#"mount -t tmpfs -o size=16m tmpfs "$1" || {
            echo "store_faults: mounting a tmpfs in a mount namespace was refused" >&2; exit 97; }
            shift; exec "$@""#;
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
            .arg(&mount)
            .arg(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args(["--metrics-listen", "127.0.0.1:0", "--key-limit", "20"])
            .env("RAGKEYS_LOG", "info");
        let mut srv = Server::spawn(cmd, &data);
        // The token file is on the tmpfs: read it through the service's own root.
        let token_file = format!(
            "/proc/{}/root{}/admin.token",
            srv.child.id(),
            data.display()
        );
        srv.token = std::fs::read_to_string(&token_file)
            .unwrap_or_else(|e| panic!("{token_file}: {e}"))
            .trim()
            .to_string();
        OnTmpfs {
            srv,
            mount,
            _tmp: tmp,
        }
    }

    /// Runs `args` in the service's mount namespace.
    fn inside(&self, args: &[&str]) -> std::process::Output {
        Command::new("nsenter")
            .args(["-t", &self.srv.child.id().to_string(), "-m", "--"])
            .args(args)
            .output()
            .expect("run nsenter")
    }

    fn fill_path(&self) -> String {
        self.mount.join("fill").display().to_string()
    }

    /// Writes zeros until the file system is full.
    fn fill(&self) {
        let of = format!("of={}", self.fill_path());
        let out = self.inside(&["dd", "if=/dev/zero", &of, "bs=1M"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("No space left on device"),
            "dd did not fill the tmpfs: {err}"
        );
    }

    fn free(&self) {
        let out = self.inside(&["rm", "-f", &self.fill_path()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The log lines at WARN and above from line `from` on.
fn warnings_since(srv: &Server, from: usize) -> Vec<String> {
    srv.log()
        .lines()
        .skip(from)
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .map(str::to_owned)
        .collect()
}

/// Where the service serves metrics (its log line `metrics on http://ADDR/metrics`).
fn metrics_url(srv: &Server) -> String {
    let log = srv.log();
    let line = log
        .lines()
        .find(|l| l.contains("metrics on http://"))
        .unwrap_or_else(|| panic!("no 'metrics on' line in the log:\n{log}"));
    let rest = &line[line.find("http://").unwrap()..];
    rest.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '/'))
        .collect()
}

/// The value of `ragkeys_store_writable` in a scrape.
async fn store_writable(api: &Api, url: &str) -> f64 {
    let r = read(api.http.get(url).send().await.expect("scrape")).await;
    assert_eq!(r.status, 200, "scrape: {}", r.text);
    r.text
        .lines()
        .find_map(|l| l.strip_prefix("ragkeys_store_writable "))
        .unwrap_or_else(|| panic!("no ragkeys_store_writable in:\n{}", r.text))
        .trim()
        .parse()
        .unwrap()
}

/// A write refused for the fault: 503 `unavailable`, `Retry-After`, the cause named.
#[track_caller]
fn refused_for(r: &Reply, what: &str, cause: &str) {
    assert_eq!(
        r.status.as_u16(),
        503,
        "{what} on a store that cannot take writes: {} {}",
        r.status,
        r.text
    );
    let message = r.expect_error(503, "unavailable");
    assert!(
        message.contains(&format!("the store cannot take writes: {cause}")),
        "{what}: {message}"
    );
    let retry: u64 = r
        .header("retry-after")
        .unwrap_or_else(|| panic!("{what}: no Retry-After"))
        .parse()
        .unwrap();
    assert!(retry >= 1, "{what}: Retry-After {retry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_503_not_ready_logged_once_and_recovers_by_itself() {
    let t = OnTmpfs::start();
    let srv = &t.srv;
    let api = Api::new(srv);
    let metrics = metrics_url(srv);
    assert!(
        std::fs::read_dir(&t.mount).unwrap().next().is_none(),
        "the tmpfs is seen outside the service's mount namespace"
    );

    // Before: a key to verify throughout, one to delete, one to disable, one to rotate, and a
    // service to delete.
    let sid = api.create_service("on-a-small-disk").await;
    let (_, key) = api.issue_ok(&sid).await;
    let (del_kid, del_key) = api.issue_ok(&sid).await;
    let (off_kid, off_key) = api.issue_ok(&sid).await;
    let (rot_kid, _) = api.issue_ok(&sid).await;
    let other = api.create_service("to-delete").await;
    api.get_public("/readyz").await.expect(200);

    let mark = srv.log().lines().count();
    t.fill();

    // Issue: space left in the write-ahead log's last page may take one small write; the
    // disk is full when a write needs a page more.
    let mut issued_anyway = 0;
    let refused = loop {
        let r = api.issue(&sid, json!({})).await;
        if r.status == 201 && issued_anyway < 3 {
            issued_anyway += 1;
            continue;
        }
        break r;
    };
    refused_for(&refused, "issue", "disk full");
    let started = Instant::now();
    // Not a refusal that replays: the same Idempotency-Key issues once the fault is over.
    let idem = api.issue_idem(&sid, json!({}), "full-disk-1").await;
    refused_for(&idem, "issue with an Idempotency-Key", "disk full");

    let keys = format!("/v1/services/{sid}/api-keys");
    let writes = [
        (Method::DELETE, format!("{keys}/{del_kid}"), None, "delete"),
        (
            Method::PATCH,
            format!("{keys}/{off_kid}"),
            Some(json!({"enabled": false})),
            "disable",
        ),
        (
            Method::POST,
            format!("{keys}/{rot_kid}/rotate"),
            Some(json!({"grace_seconds": 0})),
            "rotate",
        ),
        (
            Method::POST,
            "/v1/services".to_string(),
            Some(json!({"name": "new-on-a-full-disk", "description": ""})),
            "service create",
        ),
        (
            Method::DELETE,
            format!("/v1/services/{other}"),
            None,
            "service delete",
        ),
    ];
    for (method, path, body, what) in &writes {
        let r = api.call(method.clone(), path, body.clone()).await;
        refused_for(&r, what, "disk full");
    }

    // Not ready while it lasts, naming why; verification goes on from the index, for every
    // key no acknowledged change stopped; reads go on. Watched for a few probes.
    loop {
        let r = api.get_public("/readyz").await;
        refused_for(&r, "/readyz", "disk full");
        for k in [&key, &del_key, &off_key] {
            api.verify(k).await.expect(200);
        }
        api.list(&sid).await;
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(store_writable(&api, &metrics).await, 0.0);
    let logged = warnings_since(srv, mark);
    assert_eq!(
        logged.len(),
        1,
        "one log line for the fault, not one per request or chore:\n{}",
        logged.join("\n")
    );
    assert!(logged[0].contains("disk full"), "{}", logged[0]);

    // Freed: ready again without a restart or a client's write.
    t.free();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = api.get_public("/readyz").await;
        if r.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still {} {} 30 s after the space was freed",
            r.status,
            r.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(store_writable(&api, &metrics).await, 1.0);
    for (method, path, body, what) in &writes {
        let r = api.call(method.clone(), path, body.clone()).await;
        assert!(
            r.status.is_success(),
            "{what} after the space was freed: {} {}",
            r.status,
            r.text
        );
    }
    api.issue_ok(&sid).await;
    let again = api.issue_idem(&sid, json!({}), "full-disk-1").await;
    again.expect(201);
    assert_eq!(
        again.header("idempotent-replayed"),
        None,
        "a 503 was replayed"
    );
    api.verify(again.json()["key"].as_str().unwrap())
        .await
        .expect(200);
    api.verify(&key).await.expect(200);
    api.verify(&del_key)
        .await
        .expect_error(401, "invalid_api_key");
    api.verify(&off_key)
        .await
        .expect_error(401, "invalid_api_key");
    let logged = warnings_since(srv, mark);
    assert_eq!(logged.len(), 1, "{}", logged.join("\n"));
    assert!(
        srv.log()
            .lines()
            .skip(mark)
            .any(|l| l.contains("the store takes writes again")),
        "the recovery is logged:\n{}",
        srv.log()
    );
}

/// Fails `pwrite64`, `write` and `fsync` (what the release binary imports for SQLite's files)
/// on files under `$FAULT_DIR` with `$FAULT_ERRNO` while `$FAULT_TRIGGER` exists.
const SHIM: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int failing(int fd) {
    const char *dir = getenv("FAULT_DIR"), *trigger = getenv("FAULT_TRIGGER");
    const char *name = getenv("FAULT_ERRNO");
    char link[64], path[4096];
    ssize_t n;
    if (!dir || !trigger || !name || access(trigger, F_OK) != 0) return 0;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = 0;
    if (strncmp(path, dir, strlen(dir)) != 0) return 0;
    errno = strcmp(name, "EROFS") == 0 ? EROFS : EIO;
    return 1;
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off) {
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = dlsym(RTLD_NEXT, "pwrite64");
    return failing(fd) ? -1 : real(fd, buf, len, off);
}

ssize_t write(int fd, const void *buf, size_t len) {
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = dlsym(RTLD_NEXT, "write");
    return failing(fd) ? -1 : real(fd, buf, len);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fsync");
    return failing(fd) ? -1 : real(fd);
}
"#;

/// The shim built into `dir`, or a failure naming the package that builds it.
fn build_shim(dir: &std::path::Path) -> PathBuf {
    let src = dir.join("fault_shim.c");
    let so = dir.join("fault_shim.so");
    std::fs::write(&src, SHIM).unwrap();
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&so)
        .arg(&src)
        .arg("-ldl")
        .output()
        .unwrap_or_else(|e| {
            panic!("`cc` is needed to build the fault shim ({e}): install the gcc package")
        });
    assert!(
        out.status.success(),
        "building the fault shim failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    so
}

/// The service with the shim: writes to its data dir fail with `errno` while the trigger
/// exists; answers, readiness, verification, the log and the recovery as for a full disk.
async fn faulted_by_shim(errno: &str, cause: &str) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let so = build_shim(tmp.path());
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let data = data.canonicalize().unwrap();
    let trigger = tmp.path().join("fail-now");
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("RAGKEYS_LOG", "info")
        .env("LD_PRELOAD", &so)
        .env("FAULT_DIR", &data)
        .env("FAULT_TRIGGER", &trigger)
        .env("FAULT_ERRNO", errno);
    let srv = Server::spawn(cmd, &data);
    let api = Api::new(&srv);
    let sid = api.create_service("on-a-failing-disk").await;
    let (_, key) = api.issue_ok(&sid).await;
    let (del_kid, del_key) = api.issue_ok(&sid).await;
    api.get_public("/readyz").await.expect(200);

    let mark = srv.log().lines().count();
    std::fs::write(&trigger, "").unwrap();
    refused_for(&api.issue(&sid, json!({})).await, "issue", cause);
    let started = Instant::now();
    let delete = format!("/v1/services/{sid}/api-keys/{del_kid}");
    refused_for(
        &api.call(Method::DELETE, &delete, None).await,
        "delete",
        cause,
    );
    loop {
        refused_for(&api.get_public("/readyz").await, "/readyz", cause);
        api.verify(&key).await.expect(200);
        api.verify(&del_key).await.expect(200);
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let logged = warnings_since(&srv, mark);
    assert_eq!(
        logged.len(),
        1,
        "one log line for the fault:\n{}",
        logged.join("\n")
    );
    assert!(logged[0].contains(cause), "{}", logged[0]);

    std::fs::remove_file(&trigger).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.get_public("/readyz").await.status != 200 {
        assert!(
            Instant::now() < deadline,
            "/readyz not ready 30 s after the fault cleared"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    api.call(Method::DELETE, &delete, None).await.expect(204);
    api.issue_ok(&sid).await;
    api.verify(&key).await.expect(200);
    api.verify(&del_key)
        .await
        .expect_error(401, "invalid_api_key");
    assert_eq!(warnings_since(&srv, mark).len(), 1, "{}", srv.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_file_system_is_503_not_ready_logged_once_and_recovers_by_itself() {
    faulted_by_shim("EROFS", "read-only file system").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_io_error_is_503_not_ready_logged_once_and_recovers_by_itself() {
    faulted_by_shim("EIO", "I/O error").await;
}
