//! `ragkeys audit` and `ragkeys keys whois` (issue 9) as a script and a person use them: a real
//! `ragkeys serve`, the real binary, stdin a pipe or a real terminal (tmux).

use crate::common;
use crate::common::tmux;
use std::process::Output;

use crate::common::Server;
use crate::common::api::Api;
use crate::common::cli::{Cli, code, dead_url, expect_code, json, stderr, stdout};

fn remote(s: &Server, args: &[&str]) -> Vec<String> {
    let mut all = vec!["--endpoint".to_string(), s.url()];
    all.extend(args.iter().map(|a| a.to_string()));
    all
}

/// `ragkeys … keys whois ARGS` with `input` on stdin (a pipe).
fn whois_piped(cli: &Cli, url: &str, token: &str, args: &[&str], input: &str) -> Output {
    let mut all = vec!["--endpoint", url, "keys", "whois"];
    all.extend_from_slice(args);
    cli.run_piped(&all, &[("RAGKEYS_TOKEN", token)], input)
}

/// The data rows of a table on stdout (the header line left out).
fn rows(o: &Output) -> Vec<String> {
    stdout(o).lines().skip(1).map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_prints_a_table_or_the_services_json_filters_and_follows_pages_to_the_limit() {
    let s = Server::start();
    let api = Api::new(&s);
    let cli = Cli::new();
    let kept = api.create_service("audit-kept").await;
    let gone = api.create_service("audit-gone").await;
    let (_, key) = api.issue_ok(&kept).await;
    api.issue_ok(&gone).await;
    let r = api
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/services/{gone}"),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    // More than one page of the service's largest size (500), so that --limit must follow next.
    for i in 0..520 {
        api.create_service(&format!("bulk-{i:03}")).await;
    }
    let run = |args: &[&str]| {
        tokio::task::block_in_place(|| {
            cli.run_env(
                &remote(&s, args)
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
                &[("RAGKEYS_TOKEN", &s.token)],
            )
        })
    };

    // --json: one object with the events, as the service answers; 505 = a page of 500 + 5.
    let o = run(&["audit", "--limit", "505", "--json"]);
    expect_code(&o, 0);
    let v = json(&o);
    let got = v["events"].as_array().unwrap().clone();
    assert_eq!(got.len(), 505);
    assert!(v["next"].is_string(), "more events remain: {}", v["next"]);
    let p1 = api.get("/v1/audit?limit=500").await.json();
    let next = p1["next"].as_str().unwrap();
    let p2 = api
        .get(&format!("/v1/audit?limit=5&before={next}"))
        .await
        .json();
    let want: Vec<serde_json::Value> = p1["events"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2["events"].as_array().unwrap())
        .cloned()
        .collect();
    assert_eq!(
        got, want,
        "the CLI's events are the service's pages in order"
    );

    // The table: the columns, one row per event, the default limit of 100.
    let o = run(&["audit"]);
    expect_code(&o, 0);
    let header = stdout(&o).lines().next().unwrap_or_default().to_string();
    let cols: Vec<&str> = header
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        cols,
        [
            "At", "Actor", "Role", "Action", "Service", "API Key", "From", "Outcome"
        ]
    );
    assert_eq!(rows(&o).len(), 100);
    assert!(
        stderr(&o).contains("--limit"),
        "says how to see more: {}",
        stderr(&o)
    );

    // By name, by id, a deleted service by id, and by action.
    let by_name = run(&["audit", "--service", "audit-kept"]);
    expect_code(&by_name, 0);
    let lines = rows(&by_name);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("api_key.issue") && lines[0].contains(&ragkeys::credential::mask(&key))
    );
    assert!(lines[1].contains("service.create") && lines[1].contains("audit-kept"));
    assert!(
        !stdout(&by_name).contains(&key),
        "the plaintext is never shown"
    );
    let by_id = run(&["audit", "--service", &kept]);
    assert_eq!(rows(&by_id), lines);
    let deleted = run(&["audit", "--service", &gone, "--json"]);
    expect_code(&deleted, 0);
    let actions: Vec<String> = json(&deleted)["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        actions,
        ["service.delete", "api_key.issue", "service.create"]
    );
    let deleted_table = run(&["audit", "--service", &gone]);
    assert!(
        stdout(&deleted_table).contains("(deleted)"),
        "{}",
        stdout(&deleted_table)
    );
    let issues = run(&["audit", "--action", "api_key.issue", "--json"]);
    let issues = json(&issues)["events"].as_array().unwrap().clone();
    assert_eq!(issues.len(), 2);
    assert!(issues.iter().all(|e| e["action"] == "api_key.issue"));

    // Mistakes: one error line and the documented exit code.
    let o = run(&["audit", "--action", "api_key.explode"]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("api_key.whois"), "{}", stderr(&o));
    let o = run(&["audit", "--service", "no-such-name"]);
    expect_code(&o, 3);
    let o = run(&["audit", "--limit", "0"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_whois_reads_a_piped_key_and_says_whose_it_is() {
    let s = Server::start();
    let api = Api::new(&s);
    let cli = Cli::new();
    let sid = api.create_service("pipe-owner").await;
    let r = api
        .issue(&sid, serde_json::json!({"name": "ci-runner"}))
        .await;
    let v = r.json();
    let (id, key) = (
        v["id"].as_str().unwrap().to_string(),
        v["key"].as_str().unwrap().to_string(),
    );
    let url = s.url();
    let o = tokio::task::block_in_place(|| {
        whois_piped(&cli, &url, &s.token, &[], &format!("  {key}\n"))
    });
    expect_code(&o, 0);
    let out = stdout(&o);
    for want in [
        "pipe-owner",
        sid.as_str(),
        id.as_str(),
        &ragkeys::credential::mask(&key),
        "ci-runner",
        "active",
        "Last used",
        "never",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    assert!(
        !out.contains(&key) && !stderr(&o).contains(&key),
        "the plaintext is printed"
    );

    let o = tokio::task::block_in_place(|| whois_piped(&cli, &url, &s.token, &["--json"], &key));
    expect_code(&o, 0);
    let v = json(&o);
    assert_eq!(v["service_name"], "pipe-owner");
    assert_eq!(v["api_key"]["id"], id.as_str());

    // Unknown (or deleted): exit 3.
    let unknown = ragkeys::credential::generate(ragkeys::credential::Kind::ApiKey)
        .expose()
        .to_string();
    let o = tokio::task::block_in_place(|| whois_piped(&cli, &url, &s.token, &[], &unknown));
    expect_code(&o, 3);
    assert!(!stderr(&o).contains(&unknown), "{}", stderr(&o));

    // Malformed: exit 3 as unknown (the service answers both alike), checked before any
    // request (a dead endpoint would be exit 6); nothing at all is a usage error.
    let mut bad = key.clone();
    bad.pop();
    bad.push(if key.ends_with('A') { 'B' } else { 'A' });
    let dead = dead_url();
    for (input, want) in [(bad.as_str(), 3), ("not a key", 3), ("", 2)] {
        let o = tokio::task::block_in_place(|| whois_piped(&cli, &dead, &s.token, &[], input));
        expect_code(&o, want);
        assert!(!stderr(&o).contains(&bad), "{}", stderr(&o));
    }
    // The key is refused as an argument: stdin is the only way in.
    let o = tokio::task::block_in_place(|| {
        cli.run_env(
            &["--endpoint", &url, "keys", "whois", &key],
            &[("RAGKEYS_TOKEN", &s.token)],
        )
    });
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        !stderr(&o).contains(&key),
        "clap echoed the key: {}",
        stderr(&o)
    );
    // Two lookups found, one not: three whois events, none with the plaintext.
    let trail = api.get("/v1/audit?action=api_key.whois").await;
    assert_eq!(trail.json()["events"].as_array().unwrap().len(), 3);
    assert!(!trail.text.contains(&key));
}

#[test]
fn keys_whois_on_a_terminal_hides_what_is_typed() {
    let s = Server::start();
    let cli = Cli::new();
    let sid = json(&cli.remote(
        &s.url(),
        &s.token,
        &["services", "create", "tty-owner", "--json"],
    ))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let o = cli.remote(&s.url(), &s.token, &["keys", "issue", &sid]);
    expect_code(&o, 0);
    let key = stdout(&o).trim().to_string();
    let command = format!(
        "env -u RAGKEYS_PROFILE -u RAGKEYS_ENDPOINT -u RAGKEYS_TOKEN TZ=UTC \
         XDG_CONFIG_HOME={home} RAGKEYS_TOKEN={token} {bin} --endpoint {url} keys whois",
        home = tmux::sh_quote(&cli.config_home.path().display().to_string()),
        bin = tmux::sh_quote(common::BIN),
        url = tmux::sh_quote(&s.url()),
        token = tmux::sh_quote(&s.token),
    );
    let term = tmux::Tmux::start(&command, 120, 30);
    term.wait_text("API key (input hidden):");
    term.command(&["send-keys", "-t", "t", "-l", &key]);
    // What was typed is not on the screen, not even in part, while the prompt waits.
    let body = &key[5..];
    let screen = term.screen();
    assert!(
        !screen.contains(body) && !screen.contains(&key[..12]),
        "the key was echoed:\n{screen}"
    );
    term.keys(&["Enter"]);
    term.wait_text("tty-owner");
    assert_eq!(term.wait_exit_status(), 0, "{}", term.history());
    let history = term.history();
    assert!(
        history.contains(&ragkeys::credential::mask(&key)),
        "{history}"
    );
    assert!(
        !history.contains(body),
        "the key is in the scrollback:\n{history}"
    );
}
