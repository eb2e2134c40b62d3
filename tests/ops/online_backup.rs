//! `ragkeys backup --data-dir DIR FILE` (docs/operating.md; docs/operating.md): a
//! backup taken while 8 clients issue and delete keys restores into a data dir (with the same
//! pepper) where every key acknowledged before the backup started verifies, every key deleted
//! before it started is refused, and SQLite's integrity check passes; FILE is created 0600 and
//! never overwritten.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::api::Api;
use crate::common::{BIN, Server};
use serde_json::json;

const CLIENTS: usize = 8;

fn backup(dir: &Path, file: &Path) -> Output {
    Command::new(BIN)
        .args(["backup", "--data-dir"])
        .arg(dir)
        .arg(file)
        .output()
        .expect("run ragkeys backup")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// What one client saw: keys acknowledged (201) and deleted (204), each with when the answer came.
#[derive(Default)]
struct Seen {
    issued: Vec<(Instant, String)>,
    deleted: Vec<(Instant, String)>,
}

/// Issues keys on its own service, deleting every odd one after the next one is issued (the
/// even ones stay), until `stop`.
async fn client(api: Api, sid: String, stop: Arc<AtomicBool>, acks: Arc<AtomicUsize>) -> Seen {
    let mut seen = Seen::default();
    let mut live: Vec<(String, String)> = Vec::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Acquire) {
        n += 1;
        let r = api.issue(&sid, json!({})).await;
        assert_eq!(r.status, 201, "issue: {}", r.text);
        let at = Instant::now();
        let v = r.json();
        let (kid, key) = (v["id"].as_str().unwrap(), v["key"].as_str().unwrap());
        seen.issued.push((at, key.to_string()));
        acks.fetch_add(1, Ordering::AcqRel);
        if n % 2 == 1 {
            live.push((kid.to_string(), key.to_string()));
        } else if let Some((kid, key)) = live.pop() {
            let r = api.delete_key(&sid, &kid).await;
            assert_eq!(r.status, 204, "delete: {}", r.text);
            seen.deleted.push((Instant::now(), key));
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_writes_restores_every_acknowledged_change() {
    let srv = Server::start_with(&["--key-limit", "1000"]);
    let api = Api::new(&srv);
    let mut sids = Vec::new();
    for i in 0..CLIENTS {
        sids.push(api.create_service(&format!("backup-{i}")).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = sids
        .iter()
        .map(|sid| tokio::spawn(client(api.clone(), sid.clone(), stop.clone(), acks.clone())))
        .collect();
    // Let every client get going: a backup of a store that is being written, not an idle one.
    let deadline = Instant::now() + Duration::from_secs(120);
    while acks.load(Ordering::Acquire) < 6 * CLIENTS {
        assert!(Instant::now() < deadline, "the clients made no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("ragkeys-backup.db");
    let started = Instant::now();
    let acks_at_start = acks.load(Ordering::Acquire);
    let out = {
        let (dir, file) = (srv.data_dir.clone(), file.clone());
        tokio::task::spawn_blocking(move || backup(&dir, &file))
            .await
            .unwrap()
    };
    let finished = Instant::now();
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    assert!(stderr(&out).contains("pepper"), "{}", stderr(&out));
    // The writes went on during the backup: some acknowledgements came after it started.
    let deadline = Instant::now() + Duration::from_secs(120);
    while acks.load(Ordering::Acquire) < acks_at_start + CLIENTS {
        assert!(Instant::now() < deadline, "the clients stopped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Release);
    let mut before_issued = Vec::new();
    let mut before_deleted = Vec::new();
    for t in tasks {
        let seen = t.await.expect("client");
        // A delete answered while the backup ran may or may not be in the copy.
        let deleted_meanwhile = |key: &String| {
            seen.deleted
                .iter()
                .any(|(at, k)| k == key && *at >= started && *at < finished)
        };
        let deleted_before =
            |key: &String| seen.deleted.iter().any(|(at, k)| k == key && *at < started);
        for (at, key) in &seen.issued {
            // Acknowledged before the backup started, and not deleted until it was over.
            if *at < started && !deleted_before(key) && !deleted_meanwhile(key) {
                before_issued.push(key.clone());
            }
        }
        for (at, key) in &seen.deleted {
            if *at < started {
                before_deleted.push(key.clone());
            }
        }
    }
    assert!(
        before_issued.len() >= 2 * CLIENTS,
        "{}",
        before_issued.len()
    );
    assert!(!before_deleted.is_empty());

    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the backup is {mode:o}");
    let check = Command::new("sqlite3")
        .arg(&file)
        .arg("PRAGMA integrity_check")
        .output()
        .expect("sqlite3 (installed by .ci/run)");
    assert_eq!(String::from_utf8_lossy(&check.stdout).trim(), "ok");
    // No temp file left beside it.
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");

    // Restore: the copy as the store of a new data dir, with the same pepper.
    let restored = tmp.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::set_permissions(&restored, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::copy(&file, restored.join("ragkeys.db")).unwrap();
    let pepper = std::fs::read(srv.data_dir.join("pepper")).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(restored.join("pepper"))
        .unwrap();
    std::io::Write::write_all(&mut f, &pepper).unwrap();
    drop(f);
    let back = Server::start_in(&restored, &["--verify-failures-per-minute", "0"]);
    let back_api = Api::new(&back);
    for key in &before_issued {
        let r = back_api.verify(key).await;
        assert_eq!(
            r.status, 200,
            "a key acknowledged before the backup: {}",
            r.text
        );
    }
    for key in &before_deleted {
        back_api
            .verify(key)
            .await
            .expect_error(401, "invalid_api_key");
    }
}

#[test]
fn backup_never_overwrites_and_says_why_it_refuses() {
    let srv = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("b.db");
    std::fs::write(&file, b"someone else's file").unwrap();
    let out = backup(&srv.data_dir, &file);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: ") && err.contains("exists"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"someone else's file");

    let out = backup(&tmp.path().join("no-such-dir"), &tmp.path().join("c.db"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("has no ragkeys store"),
        "{}",
        stderr(&out)
    );
    assert!(!tmp.path().join("c.db").exists());
    assert!(
        !tmp.path().join("no-such-dir").exists(),
        "backup created the data dir"
    );

    // Connection flags are not backup's: refused as a usage error.
    let out = Command::new(BIN)
        .args(["backup", "--endpoint", "http://x"])
        .arg(tmp.path().join("d.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let help = Command::new(BIN)
        .args(["backup", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--data-dir") && !help.contains("--endpoint") && !help.contains("--token"),
        "{help}"
    );
}
