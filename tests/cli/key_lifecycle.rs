//! `ragkeys keys issue --expires | update | disable | enable | rotate` against a real
//! `ragkeys serve`: tables, `--json`, exit codes, local validation, confirmation, `--out`.

use crate::common;
use std::process::Output;

use crate::common::Server;
use crate::common::api::is_api_key;
use crate::common::cli::{Cli, expect_code, json, mode_of, stderr, stdout};

fn create_service(cli: &Cli, s: &Server, name: &str) -> String {
    let o = cli.remote(&s.url(), &s.token, &["--json", "services", "create", name]);
    expect_code(&o, 0);
    json(&o)["id"].as_str().unwrap().to_string()
}

fn keys(cli: &Cli, s: &Server, args: &[&str]) -> Output {
    let mut all = vec!["keys"];
    all.extend_from_slice(args);
    cli.remote(&s.url(), &s.token, &all)
}

/// Issues a key with `--json`: (id, plaintext).
fn issue_json(cli: &Cli, s: &Server, svc: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["--json", "issue", svc];
    args.extend_from_slice(extra);
    let o = keys(cli, s, &args);
    expect_code(&o, 0);
    let v = json(&o);
    (
        v["id"].as_str().unwrap().to_string(),
        v["key"].as_str().unwrap().to_string(),
    )
}

fn list_json(cli: &Cli, s: &Server, svc: &str) -> Vec<serde_json::Value> {
    let o = keys(cli, s, &["--json", "list", svc]);
    expect_code(&o, 0);
    json(&o)["api_keys"].as_array().unwrap().clone()
}

fn find(list: &[serde_json::Value], id: &str) -> serde_json::Value {
    list.iter()
        .find(|k| k["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {list:?}"))
        .clone()
}

/// `GET /v1/verify` with `key`: its status.
fn verify_status(s: &Server, key: &str) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let reply = rt.block_on(common::api::verify(&common::http(), &s.url(), key));
    reply.status.as_u16()
}

#[test]
fn issue_with_an_expiry_in_table_and_json() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "expiring");

    // Table form: the plaintext alone on stdout; the list shows the state and the expiry.
    let o = keys(&cli, &s, &["issue", &svc, "--expires", "30d"]);
    expect_code(&o, 0);
    assert!(is_api_key(stdout(&o).trim_end()), "{}", stdout(&o));
    let o = keys(&cli, &s, &["list", &svc]);
    expect_code(&o, 0);
    let t = stdout(&o);
    let lines: Vec<&str> = t.lines().collect();
    assert!(
        lines[0].contains("State") && lines[0].contains("Expires"),
        "{t}"
    );
    assert!(
        lines[1].contains("active") && !lines[1].contains("never  "),
        "{t}"
    );

    // JSON form: expires_at is 30 days ahead (give or take the test's own run time).
    let (id, _) = issue_json(&cli, &s, &svc, &["--expires", "7d"]);
    let k = find(&list_json(&cli, &s, &svc), &id);
    let at = chrono::DateTime::parse_from_rfc3339(k["expires_at"].as_str().unwrap()).unwrap();
    let ahead = at.timestamp() - chrono::Utc::now().timestamp();
    assert!((7 * 86_400 - 600..=7 * 86_400).contains(&ahead), "{ahead}");
    assert_eq!(k["state"], "active");

    // A date is the end of that day in UTC.
    let day = (chrono::Utc::now() + chrono::Duration::days(10)).date_naive();
    let (id, _) = issue_json(&cli, &s, &svc, &["--expires", &day.to_string()]);
    let k = find(&list_json(&cli, &s, &svc), &id);
    let want = day
        .succ_opt()
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let got = chrono::DateTime::parse_from_rfc3339(k["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(got.timestamp(), want.timestamp());

    // never: no expiry.
    let (id, _) = issue_json(&cli, &s, &svc, &["--expires", "never"]);
    assert!(find(&list_json(&cli, &s, &svc), &id)["expires_at"].is_null());
}

#[test]
fn bad_expires_and_grace_are_usage_errors_before_any_call() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "bad-values");
    let (id, _) = issue_json(&cli, &s, &svc, &[]);
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(2))
        .date_naive()
        .to_string();
    for bad in [
        "tomorrow",
        "0d",
        "367d",
        "2y",
        "2099-01-01",
        &yesterday,
        "30",
    ] {
        for args in [
            vec!["issue", svc.as_str(), "--expires", bad],
            vec!["update", svc.as_str(), id.as_str(), "--expires", bad],
            vec!["enable", svc.as_str(), id.as_str(), "--expires", bad],
        ] {
            let o = keys(&cli, &s, &args);
            expect_code(&o, 2);
            let e = stderr(&o);
            assert!(
                e.starts_with("error: --expires") && e.lines().count() == 1,
                "{e}"
            );
        }
    }
    for bad in ["8d", "604801", "1w", "-1", "abc"] {
        let flag = format!("--grace={bad}");
        let o = keys(&cli, &s, &["rotate", &svc, &id, &flag, "--yes"]);
        expect_code(&o, 2);
        let e = stderr(&o);
        assert!(
            e.starts_with("error: --grace") && e.lines().count() == 1,
            "{e}"
        );
    }
    // Nothing reached the service: one key, unchanged, still active.
    let list = list_json(&cli, &s, &svc);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["state"], "active");
    assert!(list[0]["expires_at"].is_null());
    // The service's own limit still answers as a usage error too (invalid_request → 2).
    let o = keys(&cli, &s, &["update", &svc, &id, "--name", &"n".repeat(51)]);
    expect_code(&o, 2);
}

#[test]
fn update_renames_and_sets_expiry_in_table_and_json() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "renames");
    let (id, _) = issue_json(&cli, &s, &svc, &["--name", "old"]);

    // Nothing to change is a usage error; --name and --no-name exclude each other.
    let o = keys(&cli, &s, &["update", &svc, &id]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("nothing to update"), "{}", stderr(&o));
    let o = keys(&cli, &s, &["update", &svc, &id, "--name", "x", "--no-name"]);
    expect_code(&o, 2);

    let o = keys(&cli, &s, &["update", &svc, &id, "--name", "새 이름"]);
    expect_code(&o, 0);
    let t = stdout(&o);
    assert_eq!(t.lines().count(), 2, "{t}");
    assert!(t.lines().nth(1).unwrap().contains("새 이름"), "{t}");
    assert!(
        stderr(&o).contains(&format!("Updated API key {id}")),
        "{}",
        stderr(&o)
    );

    let o = keys(
        &cli,
        &s,
        &[
            "--json",
            "update",
            &svc,
            &id,
            "--no-name",
            "--expires",
            "90d",
        ],
    );
    expect_code(&o, 0);
    let v = json(&o);
    assert_eq!(v["id"], id.as_str());
    assert!(v["name"].is_null());
    assert!(v["expires_at"].is_string());
    assert!(v.get("key").is_none());

    let o = keys(
        &cli,
        &s,
        &["--json", "update", &svc, &id, "--expires", "never"],
    );
    expect_code(&o, 0);
    assert!(json(&o)["expires_at"].is_null());

    // Unknown key: 3; a viewer: 5.
    let o = keys(&cli, &s, &["update", &svc, "key_nope", "--name", "x"]);
    expect_code(&o, 3);
    let viewer = s.create_token("look", "viewer");
    let o = cli.remote(
        &s.url(),
        &viewer,
        &["keys", "update", &svc, &id, "--name", "y"],
    );
    expect_code(&o, 5);
}

#[test]
fn disable_and_enable_in_table_and_json() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "on-off");
    let (id, key) = issue_json(&cli, &s, &svc, &[]);
    assert_eq!(verify_status(&s, &key), 200);

    // Without a terminal, disable is refused unless --yes; nothing changes.
    let o = keys(&cli, &s, &["disable", &svc, &id]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("--yes"), "{}", stderr(&o));
    assert_eq!(find(&list_json(&cli, &s, &svc), &id)["state"], "active");
    assert_eq!(verify_status(&s, &key), 200);

    let o = keys(&cli, &s, &["disable", &svc, &id, "--yes"]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).lines().nth(1).unwrap().contains("disabled"),
        "{}",
        stdout(&o)
    );
    assert_eq!(verify_status(&s, &key), 401);
    let o = keys(&cli, &s, &["list", &svc]);
    assert!(stdout(&o).contains("disabled"), "{}", stdout(&o));

    // Rotating a disabled key: 409 api_key_not_active → exit 7.
    let o = keys(&cli, &s, &["rotate", &svc, &id, "--grace", "1h"]);
    expect_code(&o, 7);
    assert!(stderr(&o).contains("api_key_not_active"), "{}", stderr(&o));

    let o = keys(&cli, &s, &["--json", "enable", &svc, &id]);
    expect_code(&o, 0);
    assert_eq!(json(&o)["state"], "active");
    assert_eq!(verify_status(&s, &key), 200);

    let o = keys(&cli, &s, &["--json", "disable", &svc, &id, "--yes"]);
    expect_code(&o, 0);
    assert_eq!(json(&o)["state"], "disabled");
    let o = keys(&cli, &s, &["enable", &svc, &id, "--expires", "1y"]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).lines().nth(1).unwrap().contains("active"),
        "{}",
        stdout(&o)
    );
    assert_eq!(verify_status(&s, &key), 200);

    // Unknown key: 3, with or without --yes.
    expect_code(&keys(&cli, &s, &["disable", &svc, "key_nope", "--yes"]), 3);
    expect_code(&keys(&cli, &s, &["enable", &svc, "key_nope"]), 3);
}

#[test]
fn enabling_an_expired_key_needs_a_new_expiry() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "expired");
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(3))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (id, key) = issue_json(&cli, &s, &svc, &["--expires", &soon]);
    // Wait for the expiry on the condition itself, with a generous deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while find(&list_json(&cli, &s, &svc), &id)["state"] != "expired" {
        assert!(std::time::Instant::now() < deadline, "never expired");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(verify_status(&s, &key), 401);
    let o = keys(&cli, &s, &["list", &svc]);
    assert!(stdout(&o).contains("expired"), "{}", stdout(&o));

    let o = keys(&cli, &s, &["enable", &svc, &id]);
    expect_code(&o, 7);
    let e = stderr(&o);
    assert!(
        e.starts_with("error: ") && e.contains("api_key_not_active"),
        "{e}"
    );
    let o = keys(
        &cli,
        &s,
        &["--json", "enable", &svc, &id, "--expires", "7d"],
    );
    expect_code(&o, 0);
    assert_eq!(json(&o)["state"], "active");
    assert_eq!(verify_status(&s, &key), 200);
}

#[test]
fn rotate_prints_only_the_successor_and_keeps_the_old_key_for_the_grace() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "rotation");
    let (old, old_key) = issue_json(&cli, &s, &svc, &["--name", "prod"]);
    // Fill the service: rotation works at the limit (the two keys share one slot).
    for _ in 0..4 {
        issue_json(&cli, &s, &svc, &[]);
    }

    let o = keys(&cli, &s, &["rotate", &svc, &old, "--grace", "1h"]);
    expect_code(&o, 0);
    let new_key = stdout(&o).trim_end().to_string();
    assert!(
        is_api_key(&new_key) && stdout(&o).lines().count() == 1,
        "{}",
        stdout(&o)
    );
    assert_ne!(new_key, old_key);
    assert!(stderr(&o).contains(&old), "{}", stderr(&o));
    assert_eq!(verify_status(&s, &old_key), 200);
    assert_eq!(verify_status(&s, &new_key), 200);

    let list = list_json(&cli, &s, &svc);
    assert_eq!(list.len(), 6, "{list:?}");
    let o_k = find(&list, &old);
    assert_eq!(o_k["state"], "rotating");
    let succ = o_k["replaced_by"].as_str().unwrap().to_string();
    assert_eq!(find(&list, &succ)["name"], "prod");
    let o = keys(&cli, &s, &["list", &svc]);
    let row = stdout(&o)
        .lines()
        .find(|l| l.starts_with(&old))
        .unwrap()
        .to_string();
    assert!(
        row.contains(&format!("rotating → {succ}")) && row.contains("ends "),
        "{row}"
    );
    // Six rows, five slots: the old half of a rotation holds none, as the console's `5 / 5` says.
    assert!(stderr(&o).contains("5 / 5 API Keys"), "{}", stderr(&o));

    // A rotating key cannot be rotated again: 7.
    let o = keys(&cli, &s, &["rotate", &svc, &old, "--grace", "1h"]);
    expect_code(&o, 7);

    // JSON form: the service's IssuedKey of the successor.
    let o = keys(
        &cli,
        &s,
        &["--json", "rotate", &svc, &succ, "--grace", "24h"],
    );
    expect_code(&o, 0);
    let v = json(&o);
    assert!(is_api_key(v["key"].as_str().unwrap()));
    assert_eq!(v["state"], "active");
    assert_eq!(v["name"], "prod");

    // Unknown key 3; a viewer 5; unknown service 3.
    expect_code(&keys(&cli, &s, &["rotate", &svc, "key_nope"]), 3);
    expect_code(&keys(&cli, &s, &["rotate", "svc_nope", &old]), 3);
    let viewer = s.create_token("look", "viewer");
    let o = cli.remote(&s.url(), &viewer, &["keys", "rotate", &svc, &succ]);
    expect_code(&o, 5);
}

#[test]
fn rotate_now_needs_yes_without_a_terminal_and_stops_the_old_key() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "rotate-now");
    let (old, old_key) = issue_json(&cli, &s, &svc, &[]);

    let o = keys(&cli, &s, &["rotate", &svc, &old, "--grace", "0"]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("--yes"), "{}", stderr(&o));
    assert_eq!(list_json(&cli, &s, &svc).len(), 1);
    assert_eq!(verify_status(&s, &old_key), 200);

    let o = keys(&cli, &s, &["rotate", &svc, &old, "--grace", "0", "--yes"]);
    expect_code(&o, 0);
    let new_key = stdout(&o).trim_end().to_string();
    assert!(is_api_key(&new_key));
    assert_eq!(verify_status(&s, &old_key), 401);
    assert_eq!(verify_status(&s, &new_key), 200);
    let list = list_json(&cli, &s, &svc);
    assert!(list.iter().all(|k| k["id"] != old.as_str()), "{list:?}");
}

#[test]
fn rotate_out_writes_a_new_private_file_and_never_overwrites() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "rotate-out");
    let (old, _) = issue_json(&cli, &s, &svc, &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("next.txt");
    let p = path.to_str().unwrap();

    std::fs::write(&path, "keep me\n").unwrap();
    let o = keys(&cli, &s, &["rotate", &svc, &old, "--out", p]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me\n");
    assert_eq!(find(&list_json(&cli, &s, &svc), &old)["state"], "active");

    std::fs::remove_file(&path).unwrap();
    let o = keys(
        &cli,
        &s,
        &["rotate", &svc, &old, "--grace", "7d", "--out", p],
    );
    expect_code(&o, 0);
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(is_api_key(written.trim_end()) && written.lines().count() == 1);
    assert_eq!(mode_of(&path), 0o600);
    assert_eq!(verify_status(&s, written.trim_end()), 200);
    // One plain sentence on stderr: what was written, where.
    let said = stderr(&o);
    assert!(
        said.starts_with(&format!("Rotated API key {old} into key_"))
            && said.contains(&format!(" written to {p} (mode 0600)")),
        "{said}"
    );

    // A failed rotation leaves no file behind.
    let gone = dir.path().join("never.txt");
    let o = keys(
        &cli,
        &s,
        &["rotate", &svc, &old, "--out", gone.to_str().unwrap()],
    );
    expect_code(&o, 7);
    assert!(!gone.exists());
}

#[test]
fn completions_know_the_new_commands() {
    let cli = Cli::new();
    let o = cli.run(&["completions", "bash"]);
    expect_code(&o, 0);
    let script = stdout(&o);
    for word in [
        "rotate",
        "disable",
        "enable",
        "update",
        "--grace",
        "--expires",
        "--no-name",
    ] {
        assert!(script.contains(word), "{word}");
    }
}
