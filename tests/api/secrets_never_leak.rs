//! The canary: every plaintext key and token the service ever handled is searched for in its data
//! dir (database, WAL, anything), in its trace-level log, and in every response but the issue.

use std::path::{Path, PathBuf};

use crate::common::Server;
use crate::common::api::{Api, ISSUED_KEY_MEMBERS, Reply, read, viewer_get_paths};
use ragkeys::credential::{Kind, generate};
use reqwest::Method;
use serde_json::{Value, json};

/// A plaintext to look for, with a label that does not reveal it.
struct Canary {
    label: String,
    plain: String,
}

impl Canary {
    fn new(label: impl Into<String>, plain: &str) -> Canary {
        Canary {
            label: label.into(),
            plain: plain.to_string(),
        }
    }

    /// The plaintext and its part after the prefix (a store that strips the prefix still leaks).
    fn needles(&self) -> [&str; 2] {
        let body = self
            .plain
            .strip_prefix("ragk_")
            .or_else(|| self.plain.strip_prefix("ragadm_"))
            .unwrap_or(&self.plain);
        [self.plain.as_str(), body]
    }

    fn found_in(&self, hay: &[u8]) -> bool {
        self.needles()
            .iter()
            .any(|n| hay.windows(n.len()).any(|w| w == n.as_bytes()))
    }
}

fn assert_no_canary(what: &str, text: &str, canaries: &[Canary]) {
    for c in canaries {
        assert!(
            !c.found_in(text.as_bytes()),
            "{what} contains the plaintext of {}",
            c.label
        );
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("read data dir").flatten() {
            let p = entry.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Scans every file of the data dir except the two that are meant to hold a secret.
fn assert_data_dir_clean(dir: &Path, canaries: &[Canary], when: &str) -> usize {
    let mut scanned = 0;
    for file in files_under(dir) {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "admin.token" || name == "pepper" {
            continue;
        }
        let bytes = std::fs::read(&file).unwrap_or_default();
        eprintln!(
            "{when}: scanning {} ({} bytes)",
            file.display(),
            bytes.len()
        );
        scanned += 1;
        for c in canaries {
            assert!(
                !c.found_in(&bytes),
                "{when}: {} holds the plaintext of {}",
                file.display(),
                c.label
            );
        }
    }
    scanned
}

fn assert_masked(masked: &str, plain: &str) {
    let want = format!("{}********{}", &plain[..9], &plain[plain.len() - 4..]);
    assert_eq!(masked, want, "masked form");
}

/// The exact members of an object, sorted.
fn members(v: &Value) -> Vec<String> {
    let mut m: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    m.sort();
    m
}

/// Issues with Cache-Control checked and the masked form compared with the plaintext.
async fn issue_checked(api: &Api, sid: &str, body: Value, idem: Option<&str>) -> (Reply, String) {
    let r = match idem {
        Some(i) => api.issue_idem(sid, body, i).await,
        None => api.issue(sid, body).await,
    };
    assert_eq!(r.status, 201, "issue: {}", r.text);
    let cc = r
        .header("cache-control")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        cc.contains("no-store"),
        "issue response Cache-Control: {cc:?}"
    );
    let v = r.json();
    let key = v["key"].as_str().expect("key").to_string();
    assert!(key.starts_with("ragk_") && key.len() == 41, "key format");
    assert_masked(v["masked"].as_str().expect("masked"), &key);
    (r, key)
}

/// Does what users do with secrets, returns every secret that went by, and checks every
/// response but the issues for them.
async fn exercise(srv: &Server) -> Vec<Canary> {
    let (manager2, viewer) = tokio::task::block_in_place(|| {
        (
            srv.create_token("ops-manager", "manager"),
            srv.create_token("auditor", "viewer"),
        )
    });
    assert!(manager2.starts_with("ragadm_") && manager2.len() == 43);
    assert!(viewer.starts_with("ragadm_") && viewer.len() == 43);
    let mut canaries = vec![
        Canary::new("the bootstrap token", &srv.token),
        Canary::new("the manager token", &manager2),
        Canary::new("the viewer token", &viewer),
    ];
    let boot = Api::new(srv);
    let mgr = boot.as_token(&manager2);
    let view = boot.as_token(&viewer);
    let me = view.get("/v1/me").await;
    assert_eq!(me.json(), json!({"name": "auditor", "role": "viewer"}));
    assert_eq!(mgr.get("/v1/me").await.json()["role"], "manager");

    let sid = mgr.create_service("canary-coop").await;
    let mut keys = Vec::new();
    for (i, body) in [
        json!({}),
        json!({"name": "web frontend"}),
        json!({"name": "batch"}),
    ]
    .into_iter()
    .enumerate()
    {
        let api = if i == 1 { &mgr } else { &boot };
        let (r, key) = issue_checked(api, &sid, body, None).await;
        keys.push((r.json()["id"].as_str().expect("id").to_string(), key));
    }
    // An idempotent issue and its replay: the same key, still not cacheable.
    let (first, idem_key) =
        issue_checked(&boot, &sid, json!({"name": "idem"}), Some("canary-1")).await;
    let (replay, again) =
        issue_checked(&boot, &sid, json!({"name": "idem"}), Some("canary-1")).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(again, idem_key, "the replay gives the same key");
    assert_eq!(replay.json(), first.json());
    keys.push((
        first.json()["id"].as_str().expect("id").to_string(),
        idem_key,
    ));
    for (i, (_, key)) in keys.iter().enumerate() {
        canaries.push(Canary::new(format!("API key #{i}"), key));
    }

    let mut answers: Vec<(String, Reply)> = Vec::new();
    for (kid, key) in &keys {
        let r = boot.verify(key).await;
        assert_eq!(r.status, 200, "verify: {}", r.text);
        assert_eq!(r.json()["key_id"].as_str(), Some(kid.as_str()));
        answers.push(("verify".into(), r));
    }
    // Credentials presented in the wrong place, or not issued at all.
    let stranger = generate(Kind::ApiKey);
    canaries.push(Canary::new("an unknown well-formed key", stranger.expose()));
    let unknown = boot.verify(stranger.expose()).await;
    unknown.expect_error(401, "invalid_api_key");
    answers.push(("verify of an unknown key".into(), unknown));
    let admin_as_key = boot.verify(&viewer).await;
    admin_as_key.expect_error(401, "invalid_api_key");
    answers.push(("verify of an admin token".into(), admin_as_key));
    let key_as_admin = boot.as_token(&keys[0].1).get("/v1/services").await;
    key_as_admin.expect_error(401, "unauthorized");
    answers.push(("an API key as admin token".into(), key_as_admin));
    let viewer_issues = view.issue(&sid, json!({})).await;
    viewer_issues.expect_error(403, "forbidden");
    answers.push(("a viewer issuing".into(), viewer_issues));

    // Secrets pasted where they do not belong: whatever the answer, they must not be kept or
    // echoed (a name is stored and shown in clear).
    let pasted = [
        json!({"name": "pasted-key", "description": format!("key {}", keys[0].1)}),
        json!({"name": "pasted-tok", "description": viewer.clone()}),
        json!({"name": "x", keys[0].1.clone(): 1}),
    ];
    for body in pasted {
        let r = mgr.call(Method::POST, "/v1/services", Some(body)).await;
        answers.push(("a secret pasted into a service".into(), r));
    }
    for body in [
        json!({"name": keys[1].1.clone()}),
        json!({"name": format!("token {manager2}")}),
        json!({keys[1].1.clone(): "x"}),
    ] {
        let r = mgr.issue(&sid, body).await;
        assert_ne!(
            r.status, 201,
            "a key named after a secret was issued: its name is the secret"
        );
        answers.push(("a secret pasted into a key name".into(), r));
    }

    // A policy change: its audit event lists the changes, never a secret.
    let narrowed = mgr
        .call(
            Method::PATCH,
            &format!("/v1/services/{sid}/api-keys/{}", keys[0].0),
            Some(json!({"scopes": ["query"], "allowed_cidrs": ["127.0.0.1", "::1"]})),
        )
        .await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.text);
    answers.push(("a PATCH of the policy".into(), narrowed));

    // Delete one; the deleted key is refused and appears nowhere afterwards either.
    let (dead_id, dead_key) = keys[2].clone();
    assert_eq!(mgr.delete_key(&sid, &dead_id).await.status, 204);
    let dead = boot.verify(&dead_key).await;
    dead.expect_error(401, "invalid_api_key");
    answers.push(("verify of a deleted key".into(), dead));

    for (what, api) in [("bootstrap", &boot), ("manager", &mgr), ("viewer", &view)] {
        for path in viewer_get_paths(&sid, &keys[0].0) {
            let r = api.call(Method::GET, &path, None).await;
            assert_eq!(r.status, 200, "{what} GET {path}: {}", r.text);
            answers.push((format!("{what} GET {path}"), r));
        }
    }
    answers.push(("openapi".into(), boot.get("/openapi.json").await));
    for (what, r) in &answers {
        assert_no_canary(what, &r.text, &canaries);
        let headers = format!("{:?}", r.headers);
        assert_no_canary(&format!("headers of {what}"), &headers, &canaries);
    }

    // The list and the audit carry exactly their documented members: no key, no digest.
    let list = boot.list(&sid).await;
    let items = list["api_keys"].as_array().expect("api_keys");
    assert_eq!(items.len(), 3);
    for item in items {
        assert_eq!(
            members(item),
            [
                "allowed_cidrs",
                "created_at",
                "created_by",
                "expires_at",
                "id",
                "last_used_at",
                "leak",
                "masked",
                "name",
                "rate_limit",
                "replaced_by",
                "scopes",
                "state"
            ],
            "list item members: {item}"
        );
        let plain = &keys
            .iter()
            .find(|(k, _)| item["id"] == k.as_str())
            .expect("a listed key is one issued")
            .1;
        assert_masked(item["masked"].as_str().expect("masked"), plain);
    }
    let audit = boot.get(&format!("/v1/services/{sid}/audit")).await.json();
    for e in audit["events"].as_array().expect("events") {
        let mut want = vec![
            "action",
            "actor",
            "at",
            "key_id",
            "masked",
            "outcome",
            "remote_addr",
            "role",
            "service_id",
        ];
        // `api_key.update` alone carries its changes.
        if e["action"] == "api_key.update" {
            want.insert(3, "changes");
        }
        assert_eq!(members(e), want, "audit event members: {e}");
    }
    canaries
}

fn assert_log_clean(srv: &Server, canaries: &[Canary]) -> String {
    let log = srv.log();
    assert_no_canary("the service log", &log, canaries);
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_on_disk_in_trace_logs_or_in_responses() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    let mut srv = Server::start_in_logging(&dir, &[], "trace");
    let canaries = exercise(&srv).await;

    // While it runs: the WAL and shared memory hold the recent writes.
    // The control: the search does find the one plaintext that is meant to be on disk.
    let admin_file = std::fs::read(dir.join("admin.token")).expect("admin.token");
    assert!(
        canaries[0].found_in(&admin_file),
        "the canary search is blind"
    );
    let scanned = assert_data_dir_clean(&dir, &canaries, "while running");
    assert!(scanned >= 1, "no database file in the data dir");
    let log = assert_log_clean(&srv, &canaries);
    assert!(
        log.lines()
            .any(|l| l.contains("TRACE") || l.contains("DEBUG")),
        "RAGKEYS_LOG=trace gave no debug or trace line, so this check proves little:\n{log}"
    );

    // After kill -9 nothing was cleaned up: the files are what a thief would copy.
    tokio::task::block_in_place(|| srv.kill9());
    assert_data_dir_clean(&dir, &canaries, "after kill -9");
    assert_log_clean(&srv, &canaries);

    // After a restart and a clean stop (WAL checkpointed into the database).
    let mut srv = Server::start_in_logging(&dir, &[], "trace");
    let api = Api::new(&srv);
    let services = api.get("/v1/services").await;
    assert_eq!(services.status, 200);
    assert_no_canary("services after restart", &services.text, &canaries);
    tokio::task::block_in_place(|| srv.stop());
    assert_data_dir_clean(&dir, &canaries, "after a clean stop");
    assert_log_clean(&srv, &canaries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_trace_logs_carry_no_plaintext_either() {
    let mut srv = Server::start_logging(&["--log-format", "json"], "trace");
    let canaries = exercise(&srv).await;
    tokio::task::block_in_place(|| srv.stop());
    let log = assert_log_clean(&srv, &canaries);
    let mut lines = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("--log-format json wrote a non-JSON line ({e}): {line}"));
        assert!(v.is_object(), "a log line is not an object: {line}");
        lines += 1;
    }
    assert!(lines > 0, "no log at all");
    assert!(
        log.contains("\"TRACE\"") || log.contains("\"DEBUG\""),
        "RAGKEYS_LOG=trace gave no debug or trace line"
    );
    assert_data_dir_clean(&srv.data_dir, &canaries, "json run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plaintext_is_only_in_the_issue_response_and_never_cacheable() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let sid = api.create_service("one-time").await;
    let (r, key) = issue_checked(&api, &sid, json!({"name": "shown once"}), None).await;
    let v = r.json();
    assert_eq!(members(&v), ISSUED_KEY_MEMBERS, "IssuedKey members");
    assert_eq!(v["name"], "shown once");
    assert!(v["last_used_at"].is_null());
    let canary = [Canary::new("the issued key", &key)];
    // Use it, so that last_used_at and the audit have something to say.
    assert_eq!(api.verify(&key).await.status, 200);
    for path in [
        format!("/v1/services/{sid}/api-keys"),
        format!("/v1/services/{sid}/audit"),
        format!("/v1/services/{sid}"),
        "/v1/services".to_string(),
    ] {
        let r = api.get(&path).await;
        assert_eq!(r.status, 200);
        assert_no_canary(&path, &r.text, &canary);
    }
    // The audit shows the issue by its masked form and id, never the key.
    let audit = api.get(&format!("/v1/services/{sid}/audit")).await.json();
    let issue = audit["events"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["action"] == "api_key.issue"))
        .cloned()
        .expect("an api_key.issue event");
    assert_eq!(issue["key_id"], v["id"]);
    assert_eq!(issue["masked"], v["masked"]);
    assert_eq!(issue["outcome"], "ok");
}

/// Issue 9: whois takes a plaintext key in its body. Neither the trail it writes (by its mask),
/// nor the trace log, nor the data dir may keep it: found, deleted, unknown or garbage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whois_leaves_no_plaintext_in_the_audit_trail_the_logs_or_the_data_dir() {
    let srv = Server::start_logging(&[], "trace");
    let api = Api::new(&srv);
    let sid = api.create_service("whois-canary").await;
    let (_, live) = api.issue_ok(&sid).await;
    let (gone_id, gone) = api.issue_ok(&sid).await;
    assert_eq!(api.delete_key(&sid, &gone_id).await.status, 204);
    let unknown = generate(Kind::ApiKey).expose().to_string();
    let mut garbage = live.clone();
    garbage.pop();
    garbage.push(if live.ends_with('A') { 'B' } else { 'A' });
    let canaries = [
        Canary::new("the live key", &live),
        Canary::new("the deleted key", &gone),
        Canary::new("the unknown key", &unknown),
        Canary::new("the garbage key", &garbage),
    ];
    for (key, status) in [(&live, 200), (&gone, 404), (&unknown, 404), (&garbage, 404)] {
        let r = api
            .call(Method::POST, "/v1/whois", Some(json!({ "key": key })))
            .await;
        assert_eq!(r.status, status, "{}", r.text);
        assert_no_canary("a whois answer", &r.text, &canaries);
    }
    let trail = api.get("/v1/audit?action=api_key.whois").await;
    assert_eq!(trail.status, 200);
    assert_no_canary("the audit trail", &trail.text, &canaries);
    let events = trail.json()["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        events.len(),
        3,
        "found, deleted and unknown are audited: {events:?}"
    );
    assert_masked(events[2]["masked"].as_str().unwrap_or_default(), &live);
    assert_no_canary(
        "the whole audit trail",
        &api.get("/v1/audit?limit=500").await.text,
        &canaries,
    );
    assert_log_clean(&srv, &canaries);
    assert_data_dir_clean(&srv.data_dir, &canaries, "after whois");
}

/// The usage tables (docs/api.md, Usage) hold key ids and counts, never a key or its digest: after a
/// clean stop has written them, their columns and every row are checked, and the whole data
/// dir is searched for the plaintexts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_tables_hold_key_ids_and_counts_only() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    let mut srv = Server::start_in_logging(&dir, &[], "trace");
    let api = Api::new(&srv);
    let sid = api.create_service("canary-usage").await;
    let mut canaries = vec![Canary::new("the bootstrap token", &srv.token)];
    let mut ids = Vec::new();
    for i in 0..3 {
        let (kid, key) = api.issue_ok(&sid).await;
        canaries.push(Canary::new(format!("API key #{i}"), &key));
        for _ in 0..=i {
            assert_eq!(api.verify(&key).await.status, 200);
        }
        ids.push((kid, key));
    }
    let r = api
        .call(
            Method::PATCH,
            &format!("/v1/services/{sid}/api-keys/{}", ids[2].0),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(api.verify(&ids[2].1).await.status, 401);
    for (kid, _) in &ids {
        let u = api
            .get(&format!("/v1/services/{sid}/api-keys/{kid}/usage"))
            .await;
        assert_eq!(u.status, 200, "{}", u.text);
        assert_no_canary("a usage answer", &u.text, &canaries);
        assert_no_canary("usage headers", &format!("{:?}", u.headers), &canaries);
    }
    assert_eq!(tokio::task::block_in_place(|| srv.stop()), Some(0));
    assert_log_clean(&srv, &canaries);
    assert_data_dir_clean(&dir, &canaries, "after usage was written");

    let db = rusqlite::Connection::open(dir.join("ragkeys.db")).expect("open the database");
    let known: Vec<&str> = ids.iter().map(|(k, _)| k.as_str()).collect();
    let mut rows_seen = 0;
    for table in ["usage_hours", "usage_days"] {
        let mut cols: Vec<String> = db
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        cols.sort();
        assert_eq!(
            cols,
            ["denied", "key_id", "limited", "ok", "refused", "start"],
            "{table}"
        );
        let rows: Vec<(String, i64, i64, i64)> = db
            .prepare(&format!(
                "SELECT key_id, start, ok, refused + denied + limited FROM {table}"
            ))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (kid, _, ok, refused) in &rows {
            assert!(known.contains(&kid.as_str()), "{table} holds {kid:?}");
            assert!(ok + refused > 0, "{table}: an empty row");
            assert_no_canary(table, kid, &canaries);
        }
        let sum: i64 = rows.iter().map(|r| r.2 + r.3).sum();
        assert_eq!(sum, 1 + 2 + 3 + 1, "{table}: {rows:?}");
        rows_seen += rows.len();
    }
    assert!(rows_seen >= 6, "the usage tables were not written");
    // Calls by scope and by network hold the key id, a scope name or a client network: never
    // the key or its digest.
    for (table, what) in [("usage_scopes", "scope"), ("usage_networks", "network")] {
        let rows: Vec<(String, String)> = db
            .prepare(&format!("SELECT key_id, {what} FROM {table}"))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(!rows.is_empty(), "{table} was not written");
        for (kid, value) in &rows {
            assert!(known.contains(&kid.as_str()), "{table} holds {kid:?}");
            assert_no_canary(table, kid, &canaries);
            assert_no_canary(table, value, &canaries);
        }
    }
}

/// The address `--metrics-listen 127.0.0.1:0` got, from the log.
fn metrics_url(srv: &Server) -> String {
    let log = srv.log();
    let line = log
        .lines()
        .find(|l| l.contains("metrics on http://"))
        .expect("a 'metrics on' line");
    let rest = &line[line.find("http://").unwrap()..];
    rest.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '/'))
        .collect()
}

/// Leak reports (docs/api.md, Leaked keys): the reported keys, forged ones and other vendors'
/// tokens appear nowhere afterwards: not in the trace log, the data dir, the audit trail, the
/// metrics or any answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leak_reports_leave_no_plaintext_anywhere() {
    use crate::common::github::{self, SigningKey, body, entry};
    let tmp = tempfile::tempdir().expect("temp dir");
    let signer = SigningKey::new("canary");
    let file = github::write_keys(tmp.path(), &[(&signer, true)]);
    let dir = tmp.path().join("data");
    let extra = [
        "--leak-report-keys",
        file.to_str().unwrap(),
        "--metrics-listen",
        "127.0.0.1:0",
    ];
    let mut srv = Server::start_in_logging(&dir, &extra, "trace");
    let api = Api::new(&srv);
    let sid = api.create_service("canary-leaks").await;
    let (_, by_github) = api.issue_ok(&sid).await;
    let (_, by_admin) = api.issue_ok(&sid).await;
    let (gone_id, gone) = api.issue_ok(&sid).await;
    assert_eq!(api.delete_key(&sid, &gone_id).await.status, 204);
    let forged = crate::common::api::bad_checksum(&by_admin);
    let stranger = generate(Kind::ApiKey);
    let vendor = "sk_live_0123456789abcdefghijklmnopqrstuv";
    let canaries = vec![
        Canary::new("the key GitHub reported", &by_github),
        Canary::new("the key an admin reported", &by_admin),
        Canary::new("a deleted key reported", &gone),
        Canary::new("a forged key", &forged),
        Canary::new("an unknown key", stranger.expose()),
        Canary::new("another vendor's token", vendor),
        Canary::new("the bootstrap token", &srv.token),
    ];
    let mut answers: Vec<(String, Reply)> = Vec::new();
    let report = body(&[
        entry(&by_github, "https://github.com/o/r/blob/main/.env"),
        entry(&gone, ""),
        entry(&forged, ""),
        entry(stranger.expose(), ""),
        entry(vendor, ""),
    ]);
    let http = crate::common::http();
    let r = github::report(&http, &srv.url(), &signer, report.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    answers.push(("GitHub's report".into(), r));
    let r = github::report(&http, &srv.url(), &signer, report).await;
    answers.push(("GitHub's report again".into(), r));
    let r = api
        .post(
            "/v1/leaks",
            Some(&srv.token),
            &json!({"key": by_admin, "url": "https://t/1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    answers.push(("an admin's report".into(), r));
    for k in [forged.as_str(), stranger.expose(), gone.as_str()] {
        let r = api
            .post("/v1/leaks", Some(&srv.token), &json!({"key": k}))
            .await;
        r.expect_error(404, "api_key_not_found");
        answers.push(("an admin's report of no key".into(), r));
    }
    answers.push((
        "the audit trail".into(),
        api.get("/v1/audit?limit=500").await,
    ));
    answers.push((
        "the key list".into(),
        api.get(&format!("/v1/services/{sid}/api-keys")).await,
    ));
    let metrics = read(http.get(metrics_url(&srv)).send().await.unwrap()).await;
    assert!(
        metrics
            .text
            .contains("ragkeys_leaks_total{by=\"github\"} 1"),
        "{}",
        metrics.text
    );
    assert!(metrics.text.contains("ragkeys_leaks_total{by=\"admin\"} 1"));
    answers.push(("the metrics".into(), metrics));
    for (what, r) in &answers {
        assert_no_canary(what, &r.text, &canaries);
        assert_no_canary(
            &format!("headers of {what}"),
            &format!("{:?}", r.headers),
            &canaries,
        );
    }
    assert!(assert_data_dir_clean(&dir, &canaries, "while running") > 0);
    assert_log_clean(&srv, &canaries);
    srv.stop();
    assert_data_dir_clean(&dir, &canaries, "after stopping");
    assert_log_clean(&srv, &canaries);
}
