//! A stdout that cannot be written (issue 7, kind 9): `>/dev/full` gives every command one
//! `error: …` line with the OS's reason and exit code 1, and `tokens create` leaves no live
//! token behind that nobody received.

use crate::common;
use crate::common::cli;
use std::process::Stdio;

use crate::common::Server;
use crate::common::cli::{Cli, expect_code, stderr};

fn to_full(mut c: std::process::Command) -> std::process::Output {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    c.stdout(Stdio::from(full)).output().unwrap()
}

#[track_caller]
fn one_error_with_reason(o: &std::process::Output, what: &str) {
    expect_code(o, 1);
    let e = stderr(o);
    let line = e.lines().find(|l| l.starts_with("error: ")).unwrap();
    assert!(line.contains("No space left on device"), "{what}: {e}");
    assert!(line.contains("stdout"), "{what}: {e}");
}

#[test]
fn every_command_reports_a_failed_stdout() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = {
        let o = cli.remote(
            &s.url(),
            &s.token,
            &["--json", "services", "create", "full"],
        );
        expect_code(&o, 0);
        cli::json(&o)["id"].as_str().unwrap().to_string()
    };
    // An empty list prints only a notice on stderr: give the key list a row.
    expect_code(&cli.remote(&s.url(), &s.token, &["keys", "issue", &svc]), 0);
    let remote: [&[&str]; 6] = [
        &["services", "list"],
        &["services", "list", "--json"],
        &["keys", "list", &svc],
        &["keys", "list", &svc, "--json"],
        &["keys", "issue", &svc],
        &["services", "create", "other", "--json"],
    ];
    for args in remote {
        let mut c = cli.command();
        c.args(["--endpoint", &s.url()])
            .env("RAGKEYS_TOKEN", &s.token)
            .args(args);
        one_error_with_reason(&to_full(c), &args.join(" "));
    }
    let mut c = cli.command();
    c.args(["completions", "bash"]);
    one_error_with_reason(&to_full(c), "completions");

    let dir = s.data_dir.to_str().unwrap().to_string();
    for args in [
        &["tokens", "list", "--data-dir", &dir][..],
        &["tokens", "list", "--json", "--data-dir", &dir],
    ] {
        let mut c = cli.command();
        c.args(args);
        one_error_with_reason(&to_full(c), &args.join(" "));
    }
}

#[test]
fn tokens_create_into_a_full_stdout_says_why_and_keeps_no_token() {
    let s = Server::start();
    let cli = Cli::new();
    let dir = s.data_dir.to_str().unwrap().to_string();
    let mut c = cli.command();
    c.args([
        "tokens",
        "create",
        "--name",
        "lost",
        "--role",
        "viewer",
        "--data-dir",
        &dir,
    ]);
    let o = to_full(c);
    one_error_with_reason(&o, "tokens create");
    assert!(stderr(&o).contains("revoked"), "{}", stderr(&o));
    assert!(!common::token_names(&s.data_dir).contains(&"lost".to_string()));
}
