//! `ragkeys services …` and `ragkeys keys …` against a real `ragkeys serve`: tables, `--json`,
//! exit codes, `--out`, confirmation.

use std::io::Write;
use std::process::{Output, Stdio};

use crate::common::Server;
use crate::common::api::is_api_key;
use crate::common::cli::{Cli, code, dead_url, expect_code, json, mode_of, stderr, stdout};

fn create_service(cli: &Cli, s: &Server, name: &str) -> String {
    let o = cli.remote(&s.url(), &s.token, &["--json", "services", "create", name]);
    expect_code(&o, 0);
    json(&o)["id"].as_str().unwrap().to_string()
}

fn issue(cli: &Cli, s: &Server, svc: &str, args: &[&str]) -> Output {
    let mut all = vec!["keys", "issue", svc];
    all.extend_from_slice(args);
    cli.remote(&s.url(), &s.token, &all)
}

fn key_ids(cli: &Cli, s: &Server, svc: &str) -> Vec<String> {
    let o = cli.remote(&s.url(), &s.token, &["--json", "keys", "list", svc]);
    expect_code(&o, 0);
    json(&o)["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn services_in_tables_and_json() {
    let s = Server::start();
    let cli = Cli::new();

    let o = cli.remote(
        &s.url(),
        &s.token,
        &[
            "services",
            "create",
            "rag-demo",
            "--description",
            "Demo retrieval service",
        ],
    );
    expect_code(&o, 0);
    let table = stdout(&o);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].starts_with("Service ID"), "{table}");
    assert!(
        lines[1].contains("rag-demo") && lines[1].contains("0/5"),
        "{table}"
    );
    assert!(
        stderr(&o).contains("Created service rag-demo"),
        "{}",
        stderr(&o)
    );

    // --json prints the Service object itself; flags may follow the subcommand.
    let o = cli.run_env(
        &[
            "services",
            "create",
            "검색서비스",
            "--description",
            "한국어 설명",
            "--json",
            "--endpoint",
            &s.url(),
        ],
        &[("RAGKEYS_TOKEN", &s.token)],
    );
    expect_code(&o, 0);
    let svc = json(&o);
    assert_eq!(svc["name"], "검색서비스");
    assert_eq!(svc["description"], "한국어 설명");
    assert_eq!(svc["key_count"], 0);
    assert_eq!(svc["key_limit"], 5);
    assert!(svc["id"].as_str().is_some_and(|i| !i.is_empty()));
    assert!(svc["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));

    let o = cli.remote(&s.url(), &s.token, &["--json", "services", "list"]);
    expect_code(&o, 0);
    let list = json(&o);
    let services = list["services"].as_array().unwrap();
    assert_eq!(services.len(), 2);
    assert!(services.contains(&svc));

    let o = cli.remote(&s.url(), &s.token, &["services", "list"]);
    expect_code(&o, 0);
    let table = stdout(&o);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    // Columns line up in terminal cells, Korean included: "Created at" starts at the same cell.
    use unicode_width::UnicodeWidthStr;
    // The last column starts after the last run of two spaces (a random id may hold "20").
    let col = |l: &str| {
        let gap = l.rfind("  ").expect("columns are two spaces apart");
        let start = l.len() - l[gap..].trim_start().len();
        l[..start].width()
    };
    assert_eq!(col(lines[0]), col(lines[1]), "{table}");
    assert_eq!(col(lines[0]), col(lines[2]), "{table}");
    // Times are local (TZ=UTC here) with their offset.
    assert!(lines[1].contains("+00:00"), "{table}");
}

#[test]
fn keys_issue_list_delete_in_tables_and_json() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "keys-demo");

    let o = cli.remote(&s.url(), &s.token, &["keys", "list", &svc]);
    expect_code(&o, 0);
    assert!(stdout(&o).is_empty());
    assert!(stderr(&o).contains("No API Keys yet"), "{}", stderr(&o));

    // Plain issue: the key and a newline, nothing else on stdout.
    let o = issue(&cli, &s, &svc, &["--name", "ci-bot"]);
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(out.ends_with('\n') && out.lines().count() == 1, "{out:?}");
    let key = out.trim_end();
    assert!(is_api_key(key), "{out:?}");
    assert!(!stderr(&o).contains(key), "the key must not go to stderr");

    // --json: the IssuedKey object.
    let o = issue(&cli, &s, &svc, &["--json", "--name", "배포 봇"]);
    expect_code(&o, 0);
    let issued = json(&o);
    let key2 = issued["key"].as_str().unwrap();
    assert!(is_api_key(key2));
    assert_ne!(key, key2);
    assert_eq!(issued["name"], "배포 봇");
    assert!(issued["last_used_at"].is_null());
    let masked = issued["masked"].as_str().unwrap();
    assert_eq!(&masked[..9], &key2[..9]);
    assert!(masked.ends_with(&key2[key2.len() - 4..]));

    let o = cli.remote(&s.url(), &s.token, &["--json", "keys", "list", &svc]);
    expect_code(&o, 0);
    let list = json(&o);
    assert_eq!(list["key_limit"], 5);
    let keys = list["api_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["id"], issued["id"], "newest first");
    assert!(
        keys[0].get("key").is_none(),
        "a listing never holds the key"
    );
    assert!(!stdout(&o).contains(key) && !stdout(&o).contains(key2));

    let o = cli.remote(&s.url(), &s.token, &["keys", "list", &svc]);
    expect_code(&o, 0);
    let table = stdout(&o);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("Key ID") && lines[0].contains("API Key"),
        "{table}"
    );
    assert!(
        lines[1].contains(masked) && lines[1].contains("배포 봇"),
        "{table}"
    );
    assert!(
        lines[2].contains("ci-bot") && lines[2].contains("never"),
        "{table}"
    );
    assert!(!table.contains(key) && !table.contains(key2));
    assert!(stderr(&o).contains("2 / 5"), "{}", stderr(&o));

    let id = issued["id"].as_str().unwrap();
    let o = cli.remote(&s.url(), &s.token, &["keys", "delete", &svc, id, "--yes"]);
    expect_code(&o, 0);
    assert!(stdout(&o).is_empty());
    assert_eq!(key_ids(&cli, &s, &svc).len(), 1);
    // A second delete of the same key: not found.
    let o = cli.remote(&s.url(), &s.token, &["keys", "delete", &svc, id, "--yes"]);
    expect_code(&o, 3);

    // With --json a delete says what it deleted: the service answers 204 without a body.
    let other = key_ids(&cli, &s, &svc).remove(0);
    let o = cli.remote(
        &s.url(),
        &s.token,
        &["--json", "keys", "delete", &svc, &other, "--yes"],
    );
    expect_code(&o, 0);
    let v = json(&o);
    assert_eq!(
        (v["id"].as_str(), v["deleted"].as_bool()),
        (Some(other.as_str()), Some(true))
    );
    assert!(key_ids(&cli, &s, &svc).is_empty());

    let o = cli.remote(&s.url(), &s.token, &["services", "delete", &svc, "--yes"]);
    expect_code(&o, 0);
    assert!(stderr(&o).contains("Deleted service"), "{}", stderr(&o));
    let o = cli.remote(&s.url(), &s.token, &["keys", "list", &svc]);
    expect_code(&o, 3);
    let o = cli.remote(&s.url(), &s.token, &["--json", "services", "list"]);
    assert_eq!(json(&o)["services"], serde_json::json!([]));
}

#[test]
fn exit_codes() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "codes");

    // 3: unknown ids, everywhere.
    for args in [
        &["keys", "list", "svc_unknown"][..],
        &["keys", "issue", "svc_unknown"],
        &["keys", "delete", &svc, "key_unknown", "--yes"],
        &["services", "delete", "svc_unknown", "--yes"],
    ] {
        expect_code(&cli.remote(&s.url(), &s.token, args), 3);
    }

    // 4: the sixth key.
    for _ in 0..5 {
        expect_code(&issue(&cli, &s, &svc, &[]), 0);
    }
    let o = issue(&cli, &s, &svc, &[]);
    expect_code(&o, 4);
    assert!(stdout(&o).is_empty());
    assert!(
        stderr(&o).contains("api_key_limit_exceeded"),
        "{}",
        stderr(&o)
    );
    assert_eq!(key_ids(&cli, &s, &svc).len(), 5);

    // 5: a viewer may look but not delete; a bad token may do nothing.
    let viewer = s.create_token("vera", "viewer");
    let id = key_ids(&cli, &s, &svc).remove(0);
    expect_code(&cli.remote(&s.url(), &viewer, &["keys", "list", &svc]), 0);
    let o = cli.remote(&s.url(), &viewer, &["keys", "delete", &svc, &id, "--yes"]);
    expect_code(&o, 5);
    assert!(stderr(&o).contains("forbidden"), "{}", stderr(&o));
    expect_code(&cli.remote(&s.url(), &viewer, &["keys", "issue", &svc]), 5);
    let o = cli.remote(&s.url(), "ragadm_notatokenatall", &["services", "list"]);
    expect_code(&o, 5);
    assert!(stderr(&o).contains("unauthorized"), "{}", stderr(&o));
    assert_eq!(key_ids(&cli, &s, &svc).len(), 5);

    // 6: nothing listening.
    let o = cli.remote(&dead_url(), &s.token, &["services", "list"]);
    expect_code(&o, 6);
    assert!(
        stderr(&o).contains("cannot reach the service"),
        "{}",
        stderr(&o)
    );

    // 2: usage.
    expect_code(&cli.remote(&s.url(), &s.token, &["keys", "list"]), 2);
    expect_code(&cli.remote(&s.url(), &s.token, &["keys", "frobnicate"]), 2);
    expect_code(
        &cli.remote(&s.url(), &s.token, &["services", "create", "ab"]),
        2,
    );
    expect_code(&cli.run(&["services", "list"]), 2);
    let o = cli.remote("not a url", &s.token, &["services", "list"]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("invalid endpoint URL"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn delete_without_a_terminal_needs_yes() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "no-tty");
    expect_code(&issue(&cli, &s, &svc, &[]), 0);
    let id = key_ids(&cli, &s, &svc).remove(0);

    let o = cli.remote(&s.url(), &s.token, &["keys", "delete", &svc, &id]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("--yes"), "{}", stderr(&o));
    let o = cli.remote(&s.url(), &s.token, &["services", "delete", &svc]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("--yes"), "{}", stderr(&o));
    assert_eq!(key_ids(&cli, &s, &svc), vec![id]);
}

#[test]
fn out_writes_a_new_private_file_and_never_overwrites() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "out-file");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.txt");
    let p = path.to_str().unwrap();

    let o = issue(&cli, &s, &svc, &["--out", p]);
    expect_code(&o, 0);
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(is_api_key(written.trim_end()) && written.ends_with('\n'));
    assert_eq!(written.lines().count(), 1);
    assert_eq!(mode_of(&path), 0o600);
    assert!(stderr(&o).contains(p), "{}", stderr(&o));

    // An existing file is refused before any key is issued.
    let o = issue(&cli, &s, &svc, &["--out", p]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
    assert_eq!(key_ids(&cli, &s, &svc).len(), 1);

    // With --json the file holds the IssuedKey object.
    let jpath = dir.path().join("key.json");
    let o = issue(
        &cli,
        &s,
        &svc,
        &["--json", "--out", jpath.to_str().unwrap()],
    );
    expect_code(&o, 0);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&jpath).unwrap()).unwrap();
    assert!(is_api_key(v["key"].as_str().unwrap()));
    assert_eq!(mode_of(&jpath), 0o600);

    // A failed issue leaves no file behind.
    let gone = dir.path().join("never.txt");
    let o = issue(&cli, &s, "svc_unknown", &["--out", gone.to_str().unwrap()]);
    expect_code(&o, 3);
    assert!(!gone.exists());
}

/// Runs a delete with stdin on a pseudo-terminal and types `answer`.
fn delete_on_a_terminal(cli: &Cli, token: &str, args: &[&str], answer: &str) -> Output {
    let (master, slave) = crate::common::pty::open();
    let mut master = std::fs::File::from(master);
    let child = cli
        .command()
        .args(args)
        .env("RAGKEYS_TOKEN", token)
        .stdin(Stdio::from(slave))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    master.write_all(answer.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    drop(master);
    out
}

#[test]
fn delete_on_a_terminal_asks_first() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "tty-demo");
    expect_code(&issue(&cli, &s, &svc, &["--name", "prod-app"]), 0);
    let id = key_ids(&cli, &s, &svc).remove(0);
    let base = ["--endpoint", &s.url(), "keys", "delete", &svc, &id];

    let o = delete_on_a_terminal(&cli, &s.token, &base, "n\n");
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("[y/N]") && e.contains("prod-app") && e.contains("ragk_"),
        "{e}"
    );
    assert!(e.contains("cancelled"), "{e}");
    assert_eq!(key_ids(&cli, &s, &svc), vec![id.clone()]);

    let o = delete_on_a_terminal(&cli, &s.token, &base, "y\n");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(key_ids(&cli, &s, &svc).is_empty());

    let sbase = ["--endpoint", &s.url(), "services", "delete", &svc];
    let o = delete_on_a_terminal(&cli, &s.token, &sbase, "yes\n");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("tty-demo"), "{}", stderr(&o));
    expect_code(&cli.remote(&s.url(), &s.token, &["keys", "list", &svc]), 3);
}
