//! `ragkeys keys leak` and leaked keys everywhere the CLI shows a key (docs/cli.md, Leaked keys):
//! the real binary against a real `ragkeys serve`, the key piped on stdin.

use std::process::Output;

use crate::common;
use crate::common::Server;
use crate::common::api::{is_api_key, unknown_api_key};
use crate::common::cli::{Cli, expect_code, json, stderr, stdout};

/// `RAGKEYS_TOKEN=token ragkeys --endpoint URL ARGS…`, `env` added.
fn run(cli: &Cli, s: &Server, token: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let url = s.url();
    let mut all = vec!["--endpoint", url.as_str()];
    all.extend_from_slice(args);
    let mut env = env.to_vec();
    env.push(("RAGKEYS_TOKEN", token));
    cli.run_env(&all, &env)
}

/// `ragkeys --endpoint URL keys leak ARGS…` with `key` piped on stdin.
fn leak(cli: &Cli, s: &Server, token: &str, args: &[&str], key: &str) -> Output {
    let url = s.url();
    let mut all = vec!["--endpoint", url.as_str(), "keys", "leak"];
    all.extend_from_slice(args);
    cli.run_piped(&all, &[("RAGKEYS_TOKEN", token)], &format!("{key}\n"))
}

fn whois(cli: &Cli, s: &Server, key: &str) -> Output {
    let url = s.url();
    cli.run_piped(
        &["--endpoint", url.as_str(), "keys", "whois"],
        &[("RAGKEYS_TOKEN", s.token.as_str())],
        &format!("{key}\n"),
    )
}

/// A service and `n` keys named `name-1`…: (service id, [(key id, plaintext)]).
fn service_with_keys(
    cli: &Cli,
    s: &Server,
    name: &str,
    n: usize,
) -> (String, Vec<(String, String)>) {
    let o = run(
        cli,
        s,
        &s.token,
        &["--json", "services", "create", name],
        &[],
    );
    expect_code(&o, 0);
    let sid = json(&o)["id"].as_str().unwrap().to_string();
    let keys = (1..=n)
        .map(|i| {
            let key_name = format!("{name}-{i}");
            let o = run(
                cli,
                s,
                &s.token,
                &["--json", "keys", "issue", &sid, "--name", &key_name],
                &[],
            );
            expect_code(&o, 0);
            let v = json(&o);
            (
                v["id"].as_str().unwrap().to_string(),
                v["key"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (sid, keys)
}

/// The line of `keys list` that shows `id`.
fn list_row(cli: &Cli, s: &Server, sid: &str, id: &str, env: &[(&str, &str)]) -> Option<String> {
    let o = run(cli, s, &s.token, &["keys", "list", sid], env);
    expect_code(&o, 0);
    stdout(&o)
        .lines()
        .find(|l| l.starts_with(id))
        .map(str::to_string)
}

fn verify_status(s: &Server, key: &str) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(common::api::verify(&common::http(), &s.url(), key))
        .status
        .as_u16()
}

#[test]
fn a_reported_key_stops_at_once_and_reads_leaked_with_its_record() {
    let s = Server::start();
    let cli = Cli::new();
    let finder = s.create_token("leak-finder", "manager");
    let (sid, keys) = service_with_keys(&cli, &s, "leak-cli", 1);
    let (id, key) = &keys[0];
    assert_eq!(verify_status(&s, key), 200);

    // A URL carrying an escape sequence is refused by the service, naming the field, and
    // nothing happens: the key still verifies.
    let o = leak(
        &cli,
        &s,
        &finder,
        &["--url", "https://tickets.example/T-7\u{1b}[2J"],
        key,
    );
    expect_code(&o, 2);
    assert!(stderr(&o).contains("url"), "{}", stderr(&o));
    assert!(!stderr(&o).contains('\u{1b}'), "{:?}", stderr(&o));
    assert_eq!(
        verify_status(&s, key),
        200,
        "a refused report stopped the key"
    );

    let o = leak(
        &cli,
        &s,
        &finder,
        &["--url", "https://tickets.example/T-7"],
        key,
    );
    expect_code(&o, 0);
    let out = stdout(&o);
    for want in [
        sid.as_str(),
        id.as_str(),
        &ragkeys::credential::mask(key),
        "Leaked",
        "by leak-finder at https://tickets.example/T-7",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    assert!(!out.contains('\u{1b}'), "{out:?}");
    assert!(
        !out.contains(key.as_str()) && !stderr(&o).contains(key.as_str()),
        "the plaintext is printed"
    );
    assert!(
        stderr(&o).contains(&format!("ragkeys keys rotate {sid} {id}")),
        "{}",
        stderr(&o)
    );
    assert_eq!(verify_status(&s, key), 401, "the leaked key still verifies");

    let row = list_row(&cli, &s, &sid, id, &[]).expect("the key is listed");
    assert!(row.contains("  Leaked  "), "{row}");

    let o = whois(&cli, &s, key);
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("Leaked"), "{out}");
    let leak_line = out
        .lines()
        .find(|l| l.starts_with("Leak "))
        .unwrap_or_else(|| panic!("no leak line in:\n{out}"));
    assert!(
        leak_line.contains("by leak-finder at https://tickets.example/T-7"),
        "{leak_line}"
    );

    // --json: the service's body as it is; a second report of the stopped key changes nothing.
    let o = leak(&cli, &s, &finder, &["--json"], key);
    expect_code(&o, 0);
    let v = json(&o);
    assert_eq!(v["service_id"], sid.as_str());
    assert_eq!(v["api_key"]["id"], id.as_str());
    assert_eq!(v["api_key"]["state"], "disabled");
    assert_eq!(v["api_key"]["leak"]["by"], "leak-finder");
    assert!(
        v["api_key"]["leak"]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://tickets.example/T-7")),
        "{v}"
    );
    let o = run(&cli, &s, &s.token, &["--json", "keys", "list", &sid], &[]);
    let listed = json(&o)["api_keys"][0].clone();
    assert_eq!(listed["leak"], v["api_key"]["leak"]);
}

#[test]
fn unknown_keys_viewers_and_a_token_from_stdin_are_refused() {
    let s = Server::start();
    let cli = Cli::new();
    let (_, keys) = service_with_keys(&cli, &s, "leak-refusals", 1);
    let (_, key) = &keys[0];

    let o = leak(&cli, &s, &s.token, &[], &unknown_api_key());
    expect_code(&o, 3);
    assert!(stderr(&o).contains("api_key_not_found"), "{}", stderr(&o));

    let viewer = s.create_token("leak-viewer", "viewer");
    let o = leak(&cli, &s, &viewer, &[], key);
    expect_code(&o, 5);

    // stdin carries the key: it cannot carry the token too.
    let url = s.url();
    let o = cli.run_piped(
        &["--endpoint", url.as_str(), "--token", "-", "keys", "leak"],
        &[],
        &format!("{}\n{key}\n", s.token),
    );
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("--token -") && stderr(&o).contains("keys leak"),
        "{}",
        stderr(&o)
    );

    // A key on the command line: refused, never echoed, never sent.
    let o = run(&cli, &s, &s.token, &["keys", "leak", key], &[]);
    expect_code(&o, 2);
    assert!(!stderr(&o).contains(key.as_str()), "{}", stderr(&o));

    // Malformed: exit 3 as the service answers it (api_key_not_found), but never sent.
    let o = leak(&cli, &s, &s.token, &[], "ragk_not-a-key");
    expect_code(&o, 3);
    assert!(stderr(&o).contains("nothing was sent"), "{}", stderr(&o));

    assert_eq!(
        verify_status(&s, key),
        200,
        "a refused report stopped the key"
    );
}

#[test]
fn a_leaked_key_is_enabled_only_with_yes_and_rotates_without_a_grace() {
    let s = Server::start();
    let cli = Cli::new();
    let (sid, keys) = service_with_keys(&cli, &s, "leak-after", 2);
    let (enabled_id, enabled_key) = &keys[0];
    let (rotated_id, rotated_key) = &keys[1];
    for (_, key) in &keys {
        let o = leak(
            &cli,
            &s,
            &s.token,
            &["--url", "https://chat.example/m/1"],
            key,
        );
        expect_code(&o, 0);
    }

    // Without --yes: refused with the leak named, before any PATCH.
    let o = run(
        &cli,
        &s,
        &s.token,
        &["keys", "enable", &sid, enabled_id],
        &[],
    );
    expect_code(&o, 2);
    let e = stderr(&o);
    for want in ["leaked", "https://chat.example/m/1", "--yes"] {
        assert!(e.contains(want), "{want:?} missing from {e}");
    }
    assert_eq!(verify_status(&s, enabled_key), 401);
    let row = list_row(&cli, &s, &sid, enabled_id, &[]).unwrap();
    assert!(row.contains("  Leaked  "), "{row}");
    let o = run(
        &cli,
        &s,
        &s.token,
        &[
            "--json",
            "audit",
            "--service",
            &sid,
            "--action",
            "api_key.enable",
        ],
        &[],
    );
    expect_code(&o, 0);
    assert_eq!(
        json(&o)["events"],
        serde_json::json!([]),
        "a PATCH was sent"
    );

    // With --yes: enabled, and marked as leaked but active.
    let o = run(
        &cli,
        &s,
        &s.token,
        &["keys", "enable", &sid, enabled_id, "--yes"],
        &[],
    );
    expect_code(&o, 0);
    assert!(stdout(&o).contains("active · leaked"), "{}", stdout(&o));
    assert_eq!(verify_status(&s, enabled_key), 200);
    let row = list_row(&cli, &s, &sid, enabled_id, &[]).unwrap();
    assert!(row.contains("active · leaked"), "{row}");
    let ascii = list_row(&cli, &s, &sid, enabled_id, &[("LANG", "C")]).unwrap();
    assert!(ascii.contains("active - leaked"), "{ascii}");
    assert!(ascii.is_ascii(), "{ascii}");

    // Rotate: a successor at once, the grace ignored and said so once; the old key leaves.
    let o = run(
        &cli,
        &s,
        &s.token,
        &["keys", "rotate", &sid, rotated_id, "--grace", "1h"],
        &[],
    );
    expect_code(&o, 0);
    let successor = stdout(&o).trim().to_string();
    assert!(is_api_key(&successor), "{}", stdout(&o));
    let e = stderr(&o);
    assert_eq!(e.matches("without a grace").count(), 1, "{e}");
    assert!(!e.contains("keeps working"), "{e}");
    assert_eq!(verify_status(&s, &successor), 200);
    assert_eq!(verify_status(&s, rotated_key), 401);
    let o = run(&cli, &s, &s.token, &["--json", "keys", "list", &sid], &[]);
    let listed = json(&o)["api_keys"].as_array().unwrap().clone();
    assert!(
        listed.iter().all(|k| k["id"] != rotated_id.as_str()),
        "the leaked key is still listed: {listed:?}"
    );
    let new = listed
        .iter()
        .find(|k| k["name"] == "leak-after-2")
        .unwrap_or_else(|| panic!("no successor named leak-after-2: {listed:?}"));
    assert_eq!(new["state"], "active");
    assert!(new["leak"].is_null(), "{new}");
}

#[test]
fn the_help_and_the_completions_name_keys_leak() {
    let cli = Cli::new();
    let o = cli.run(&["keys", "--help"]);
    expect_code(&o, 0);
    assert!(
        stdout(&o)
            .lines()
            .any(|l| l.trim_start().starts_with("leak ")),
        "{}",
        stdout(&o)
    );
    let o = cli.run(&["keys", "leak", "--help"]);
    expect_code(&o, 0);
    for want in ["--url <URL>", "stdin", "--json"] {
        assert!(stdout(&o).contains(want), "{want:?}: {}", stdout(&o));
    }
    let o = cli.run(&["keys", "enable", "--help"]);
    assert!(stdout(&o).contains("--yes"), "{}", stdout(&o));
    for shell in ["bash", "zsh", "fish"] {
        let o = cli.run(&["completions", shell]);
        expect_code(&o, 0);
        let script = stdout(&o);
        assert!(script.contains("leak"), "{shell}");
        // fish spells a long option `-l url`.
        assert!(
            script.contains("--url") || script.contains("-l url"),
            "{shell}"
        );
    }
}
