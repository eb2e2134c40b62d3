//! Keys that carry their own policy, from the command line (docs/cli.md, Access; Narrowing a
//! key): `keys issue --scope/--rate/--allow`, `keys update` with their counterparts, `keys
//! narrow` without a terminal, with `--yes` and on a terminal, the Access column and the policy
//! lines, `keys usage` by reason, scope and network; against a real `ragkeys serve`.

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::Server;
use crate::common::api::is_api_key;
use crate::common::cli::{Cli, code, dead_url, expect_code, json, stderr, stdout};

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

/// Issues a key with `--json` and `extra`: the IssuedKey.
fn issue_json(cli: &Cli, s: &Server, svc: &str, extra: &[&str]) -> Value {
    let mut args = vec!["--json", "issue", svc];
    args.extend_from_slice(extra);
    let o = keys(cli, s, &args);
    expect_code(&o, 0);
    json(&o)
}

/// The key `id` as `keys list --json` shows it.
fn listed(cli: &Cli, s: &Server, svc: &str, id: &str) -> Value {
    let o = keys(cli, s, &["--json", "list", svc]);
    expect_code(&o, 0);
    json(&o)["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .unwrap_or_else(|| panic!("{id} not listed: {}", stdout(&o)))
        .clone()
}

fn policy_of(k: &Value) -> (Value, Value, Value) {
    (
        k["scopes"].clone(),
        k["rate_limit"].clone(),
        k["allowed_cidrs"].clone(),
    )
}

/// The row of `id` in a table, and the table's header.
fn row_of(table: &str, id: &str) -> (String, String) {
    let header = table.lines().next().unwrap_or_default().to_string();
    let row = table
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("{id} not in:\n{table}"))
        .to_string();
    (header, row)
}

/// The text of the Access column in `row`, read at the header's `Access` position.
fn access_cell(header: &str, row: &str) -> String {
    let start = header.find("Access").expect("an Access column");
    let end = header.find("Expires").expect("Expires after Access");
    row.chars()
        .skip(start)
        .take(end - start)
        .collect::<String>()
        .trim()
        .to_string()
}

/// `GET /v1/verify?scope=SCOPE` with `key`: the status.
fn verify(s: &Server, key: &str, scope: Option<&str>) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = match scope {
        Some(sc) => format!("{}/v1/verify?scope={sc}", s.url()),
        None => format!("{}/v1/verify", s.url()),
    };
    rt.block_on(async {
        crate::common::http()
            .get(url)
            .header("authorization", format!("Bearer {key}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

#[test]
fn issue_with_a_policy_in_table_and_json() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "policies");

    // Table form: the plaintext alone on stdout; the notice says what the key may do.
    let o = keys(
        &cli,
        &s,
        &[
            "issue",
            &svc,
            "--name",
            "chat",
            "--scope",
            "query,ingest",
            "--rate",
            "100/s",
            "--allow",
            "10.0.0.0/8",
            "--allow",
            "192.0.2.7",
        ],
    );
    expect_code(&o, 0);
    let key = stdout(&o).trim_end().to_string();
    assert!(is_api_key(&key), "{}", stdout(&o));
    assert!(
        stderr(&o).contains(
            "Access: query, ingest; rate limit 100/s; allowed from 10.0.0.0/8, 192.0.2.7/32."
        ),
        "{}",
        stderr(&o)
    );

    // The service keeps exactly that, canonical (a bare address is a /32).
    let o = keys(&cli, &s, &["--json", "list", &svc]);
    expect_code(&o, 0);
    let k = json(&o)["api_keys"][0].clone();
    assert_eq!(
        policy_of(&k),
        (
            json!(["query", "ingest"]),
            json!({"requests": 100, "per_seconds": 1}),
            json!(["10.0.0.0/8", "192.0.2.7/32"])
        )
    );
    let id = k["id"].as_str().unwrap().to_string();

    // The table's Access column: scopes, R for the rate limit, A for the allowlist.
    let o = keys(&cli, &s, &["list", &svc]);
    expect_code(&o, 0);
    let (header, row) = row_of(&stdout(&o), &id);
    assert_eq!(
        access_cell(&header, &row),
        "query+ingest R A",
        "{header}\n{row}"
    );

    // --json: the IssuedKey as the service sent it, scopes in the API's order, each once.
    let v = issue_json(
        &cli,
        &s,
        &svc,
        &["--scope", "manage", "--scope", "query,manage"],
    );
    assert!(is_api_key(v["key"].as_str().unwrap()));
    assert_eq!(
        policy_of(&v),
        (json!(["query", "manage"]), Value::Null, Value::Null)
    );
    let v = issue_json(
        &cli,
        &s,
        &svc,
        &["--rate", "6000/min", "--allow", "2001:DB8::/32"],
    );
    assert_eq!(
        policy_of(&v),
        (
            json!(["query", "ingest", "manage"]),
            json!({"requests": 6000, "per_seconds": 60}),
            json!(["2001:db8::/32"])
        )
    );
    let full = issue_json(&cli, &s, &svc, &[]);
    assert_eq!(
        policy_of(&full),
        (
            json!(["query", "ingest", "manage"]),
            Value::Null,
            Value::Null
        )
    );
    let o = keys(&cli, &s, &["list", &svc]);
    let t = stdout(&o);
    let (header, row) = row_of(&t, v["id"].as_str().unwrap());
    assert_eq!(access_cell(&header, &row), "full R A", "{t}");
    let (header, row) = row_of(&t, full["id"].as_str().unwrap());
    assert_eq!(access_cell(&header, &row), "full", "{t}");

    // The policy holds on the verify path: a query+ingest key may not manage.
    assert_eq!(
        verify(&s, &key, Some("query")),
        403,
        "127.0.0.1 is not allowed"
    );
    let local = issue_json(
        &cli,
        &s,
        &svc,
        &["--scope", "query", "--allow", "127.0.0.1"],
    );
    let local_key = local["key"].as_str().unwrap();
    assert_eq!(verify(&s, local_key, Some("query")), 200);
    assert_eq!(verify(&s, local_key, Some("ingest")), 403);

    // whois prints the policy in full.
    let o = cli.run_piped(
        &["--endpoint", &s.url(), "keys", "whois"],
        &[("RAGKEYS_TOKEN", &s.token)],
        &key,
    );
    expect_code(&o, 0);
    let out = stdout(&o);
    for want in [
        "Scopes        query, ingest",
        "Rate limit    100/s",
        "Allowed from  10.0.0.0/8, 192.0.2.7/32",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
}

#[test]
fn update_changes_and_clears_access_in_table_and_json() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "updates");
    let id = issue_json(&cli, &s, &svc, &["--name", "pipeline"])["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Table form: the key's row, its Access column the new policy in short.
    let o = keys(&cli, &s, &["update", &svc, &id, "--scope", "ingest"]);
    expect_code(&o, 0);
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 2, "{out}");
    let (header, row) = row_of(&out, &id);
    assert_eq!(access_cell(&header, &row), "ingest", "{out}");
    assert_eq!(listed(&cli, &s, &svc, &id)["scopes"], json!(["ingest"]));

    // --json: the service's ApiKey; the other fields stay as they were.
    let o = keys(
        &cli,
        &s,
        &[
            "--json",
            "update",
            &svc,
            &id,
            "--rate",
            "10000/h",
            "--allow",
            "10.0.4.0/24,10.0.5.9",
        ],
    );
    expect_code(&o, 0);
    let v = json(&o);
    assert_eq!(
        policy_of(&v),
        (
            json!(["ingest"]),
            json!({"requests": 10000, "per_seconds": 3600}),
            json!(["10.0.4.0/24", "10.0.5.9/32"])
        )
    );
    assert_eq!(v["name"], "pipeline");
    assert_eq!(policy_of(&listed(&cli, &s, &svc, &id)), policy_of(&v));
    let o = keys(&cli, &s, &["update", &svc, &id, "--name", "pipeline-2"]);
    expect_code(&o, 0);
    let (header, row) = row_of(&stdout(&o), &id);
    assert_eq!(access_cell(&header, &row), "ingest R A", "{}", stdout(&o));

    // Each counterpart clears its field.
    let o = keys(&cli, &s, &["--json", "update", &svc, &id, "--no-rate"]);
    expect_code(&o, 0);
    assert_eq!(json(&o)["rate_limit"], Value::Null);
    assert_eq!(
        json(&o)["allowed_cidrs"],
        json!(["10.0.4.0/24", "10.0.5.9/32"])
    );
    let o = keys(
        &cli,
        &s,
        &["update", &svc, &id, "--all-scopes", "--allow-any"],
    );
    expect_code(&o, 0);
    let (header, row) = row_of(&stdout(&o), &id);
    assert_eq!(access_cell(&header, &row), "full", "{}", stdout(&o));
    assert_eq!(
        policy_of(&listed(&cli, &s, &svc, &id)),
        (
            json!(["query", "ingest", "manage"]),
            Value::Null,
            Value::Null
        )
    );

    // Nothing to update names every flag that would.
    let o = keys(&cli, &s, &["update", &svc, &id]);
    expect_code(&o, 2);
    let e = stderr(&o);
    for flag in [
        "--name",
        "--no-name",
        "--expires",
        "--scope",
        "--all-scopes",
        "--rate",
        "--no-rate",
        "--allow",
        "--allow-any",
    ] {
        assert!(e.contains(flag), "{flag} missing from {e}");
    }
}

#[test]
fn access_flags_are_checked_before_anything_is_sent() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "checked");
    let seventeen: Vec<String> = (0..17).map(|i| format!("10.0.{i}.0/24")).collect();
    let seventeen = seventeen.join(",");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["issue", &svc, "--scope", "bogus"], "bogus"),
        (vec!["issue", &svc, "--scope", "query,"], "--scope"),
        (vec!["issue", &svc, "--rate", "0/s"], "0/s"),
        (vec!["issue", &svc, "--rate", "5/day"], "5/day"),
        (vec!["issue", &svc, "--rate", "1000001/s"], "1000001/s"),
        (
            vec!["issue", &svc, "--allow", "10.0.4.17/24"],
            "10.0.4.0/24",
        ),
        (vec!["issue", &svc, "--allow", "example.com"], "example.com"),
        (vec!["issue", &svc, "--allow", &seventeen], "17 given"),
        (vec!["update", &svc, "key_x", "--scope", "admin"], "admin"),
        (vec!["update", &svc, "key_x", "--rate", "5"], "'5'"),
        (
            vec!["update", &svc, "key_x", "--scope", "query", "--all-scopes"],
            "--all-scopes",
        ),
        (
            vec!["update", &svc, "key_x", "--rate", "5/s", "--no-rate"],
            "--no-rate",
        ),
        (
            vec![
                "update",
                &svc,
                "key_x",
                "--allow",
                "10.0.0.0/8",
                "--allow-any",
            ],
            "--allow-any",
        ),
    ];
    let dead = dead_url();
    for (args, names) in &cases {
        // Against a service: exit 2, one line naming the value.
        let o = keys(&cli, &s, args);
        expect_code(&o, 2);
        assert!(stderr(&o).contains(names), "{args:?}: {}", stderr(&o));
        // Against an address nothing listens on: still exit 2 (a request would be exit 6).
        let mut all = vec!["--endpoint", dead.as_str(), "keys"];
        all.extend_from_slice(args);
        let o = cli.run_env(&all, &[("RAGKEYS_TOKEN", &s.token)]);
        expect_code(&o, 2);
    }
    // Nothing was issued, and the service saw no attempt.
    let o = keys(&cli, &s, &["--json", "list", &svc]);
    assert_eq!(json(&o)["api_keys"], json!([]));
    let o = cli.remote(&s.url(), &s.token, &["--json", "audit", "--service", &svc]);
    expect_code(&o, 0);
    let events = json(&o)["events"].as_array().unwrap().clone();
    assert!(
        events.iter().all(|e| e["action"] == "service.create"),
        "{events:?}"
    );
}

/// `GET /v1/verify?scope=…` with `key` from the local address `from` (any 127.x.y.z reaches
/// this machine's service): the status.
fn verify_from(s: &Server, key: &str, scope: &str, from: &str) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = reqwest::Client::builder()
        .local_address(from.parse::<std::net::IpAddr>().unwrap())
        .no_proxy()
        .build()
        .unwrap();
    rt.block_on(async {
        http.get(format!("{}/v1/verify?scope={scope}", s.url()))
            .header("authorization", format!("Bearer {key}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

/// `keys usage --json` once `ready` holds for it (the service counts in memory and answers from
/// there at once; the wait only spares a slow machine a false failure).
fn usage_when(cli: &Cli, s: &Server, svc: &str, id: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o = keys(cli, s, &["--json", "usage", svc, id]);
        expect_code(&o, 0);
        let u = json(&o);
        if ready(&u) {
            return u;
        }
        assert!(Instant::now() < deadline, "usage never became ready: {u}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Issues a key and calls verify with `scope=query` `n` times from 127.0.0.1; (id, key) once its
/// usage shows them.
fn used_for_query(cli: &Cli, s: &Server, svc: &str, n: u64) -> (String, String) {
    let v = issue_json(cli, s, svc, &[]);
    let (id, key) = (
        v["id"].as_str().unwrap().to_string(),
        v["key"].as_str().unwrap().to_string(),
    );
    for _ in 0..n {
        assert_eq!(verify(s, &key, Some("query")), 200);
    }
    usage_when(cli, s, svc, &id, |u| u["scopes_used"]["query"] == n);
    (id, key)
}

const FULL: [&str; 3] = ["query", "ingest", "manage"];

#[test]
fn narrow_prints_the_diff_and_changes_nothing_without_a_terminal() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "narrowing");
    let (id, _) = used_for_query(&cli, &s, &svc, 3);

    let o = keys(&cli, &s, &["narrow", &svc, &id]);
    expect_code(&o, 0);
    let out = stdout(&o);
    let diff = "\
  query (3 calls in 30 days)
- ingest (0 calls in 30 days)
- manage (0 calls in 30 days)
- allowed from anywhere
+ allowed from 127.0.0.0/24 (3 calls)
  no rate limit
";
    assert!(out.contains(diff), "{out}");
    assert!(out.contains("\nImpact: "), "{out}");
    assert!(
        out.contains("Note: recording began less than 30 days ago"),
        "{out}"
    );
    assert!(stderr(&o).contains("Nothing was changed"), "{}", stderr(&o));
    assert_eq!(
        policy_of(&listed(&cli, &s, &svc, &id)),
        (json!(FULL), Value::Null, Value::Null),
        "nothing changed"
    );

    // --json: the narrowing answer as the service sent it; still nothing changed.
    let o = keys(&cli, &s, &["--json", "narrow", &svc, &id]);
    expect_code(&o, 0);
    let v = json(&o);
    assert_eq!(v["current"]["scopes"], json!(FULL));
    assert_eq!(v["proposed"]["scopes"], json!(["query"]));
    assert_eq!(v["proposed"]["allowed_cidrs"], json!(["127.0.0.0/24"]));
    assert_eq!(v["would_refuse_30d"], json!(0));
    assert_eq!(listed(&cli, &s, &svc, &id)["scopes"], json!(FULL));

    // A key that was never called has nothing to propose, and says why.
    let idle = issue_json(&cli, &s, &svc, &[])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let o = keys(&cli, &s, &["narrow", &svc, &idle]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).starts_with("Nothing to narrow") && stdout(&o).contains("no successful call"),
        "{}",
        stdout(&o)
    );
    let o = keys(&cli, &s, &["--json", "narrow", &svc, &idle]);
    expect_code(&o, 0);
    assert_eq!(json(&o)["proposed"], Value::Null);
    expect_code(&keys(&cli, &s, &["narrow", &svc, "key_nope"]), 3);
}

#[test]
fn narrow_with_yes_applies_the_proposal() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "narrow-yes");
    let (id, key) = used_for_query(&cli, &s, &svc, 2);
    assert_eq!(listed(&cli, &s, &svc, &id)["scopes"], json!(FULL));

    let o = keys(&cli, &s, &["narrow", &svc, &id, "--yes"]);
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("- ingest (0 calls in 30 days)"), "{out}");
    let (header, row) = row_of(out.split("\n\n").last().unwrap_or(&out), &id);
    assert_eq!(access_cell(&header, &row), "query A", "{out}");
    assert!(stderr(&o).contains("Narrowed API key"), "{}", stderr(&o));
    assert_eq!(
        policy_of(&listed(&cli, &s, &svc, &id)),
        (json!(["query"]), Value::Null, json!(["127.0.0.0/24"]))
    );
    // In force at once: the removed scope is refused, the kept one still verifies.
    assert_eq!(verify(&s, &key, Some("ingest")), 403);
    assert_eq!(verify(&s, &key, Some("query")), 200);

    // Narrowed already: nothing more to propose.
    let o = keys(&cli, &s, &["narrow", &svc, &id, "--yes"]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).starts_with("Nothing to narrow"),
        "{}",
        stdout(&o)
    );

    // --json --yes: the narrowing answer alone on stdout; its proposal is what was applied.
    let (id2, _) = used_for_query(&cli, &s, &svc, 1);
    let o = keys(&cli, &s, &["--json", "narrow", &svc, &id2, "--yes"]);
    expect_code(&o, 0);
    let v = json(&o);
    assert_eq!(v["proposed"]["scopes"], json!(["query"]));
    let k = listed(&cli, &s, &svc, &id2);
    assert_eq!(k["scopes"], v["proposed"]["scopes"]);
    assert_eq!(k["allowed_cidrs"], v["proposed"]["allowed_cidrs"]);
}

/// `ragkeys keys narrow` with stdin on a pseudo-terminal, answering `answer`.
fn narrow_on_a_terminal(cli: &Cli, s: &Server, svc: &str, id: &str, answer: &str) -> Output {
    let (master, slave) = crate::common::pty::open();
    let mut master = std::fs::File::from(master);
    let child = cli
        .command()
        .args(["--endpoint", &s.url(), "keys", "narrow", svc, id])
        .env("RAGKEYS_TOKEN", &s.token)
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
fn narrow_on_a_terminal_asks_first() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "narrow-tty");
    let (id, _) = used_for_query(&cli, &s, &svc, 2);

    let o = narrow_on_a_terminal(&cli, &s, &svc, &id, "n\n");
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("- manage (0 calls in 30 days)"),
        "{}",
        stdout(&o)
    );
    let e = stderr(&o);
    assert!(e.contains("[y/N]") && e.contains("cancelled"), "{e}");
    assert_eq!(listed(&cli, &s, &svc, &id)["scopes"], json!(FULL));

    let o = narrow_on_a_terminal(&cli, &s, &svc, &id, "y\n");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        policy_of(&listed(&cli, &s, &svc, &id)),
        (json!(["query"]), Value::Null, json!(["127.0.0.0/24"]))
    );
}

#[test]
fn usage_shows_reasons_scopes_and_networks() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "usage-why");
    // Two tokens an hour: two calls pass, the third is limited; another scope is denied.
    let v = issue_json(&cli, &s, &svc, &["--scope", "query", "--rate", "2/h"]);
    let (id, key) = (v["id"].as_str().unwrap(), v["key"].as_str().unwrap());
    assert_eq!(verify(&s, key, Some("query")), 200);
    assert_eq!(verify(&s, key, Some("query")), 200);
    assert_eq!(verify(&s, key, Some("ingest")), 403);
    assert_eq!(verify(&s, key, Some("query")), 429);
    let u = usage_when(&cli, &s, &svc, id, |u| {
        let last = &u["hours"][23];
        last["ok"] == 2 && last["denied"] == 1 && last["limited"] == 1
    });

    let o = keys(&cli, &s, &["usage", &svc, id]);
    expect_code(&o, 0);
    let out = stdout(&o);
    let line = |p: &str| {
        out.lines()
            .find(|l| l.starts_with(p))
            .unwrap_or_else(|| panic!("no {p:?} in:\n{out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (series, total) in [
        ("24 hours, ok", "2 2"),
        ("24 hours, denied", "1 1"),
        ("24 hours, limited", "1 1"),
        ("30 days, denied", "1 1"),
        ("30 days, limited", "1 1"),
        ("24 hours, refused", "0 0"),
    ] {
        assert!(line(series).contains(total), "{series}: {}", line(series));
    }
    assert!(
        line("Bucket").ends_with("OK Refused Denied Limited"),
        "{out}"
    );
    assert!(line("day ").ends_with("2 0 1 1"), "{out}");
    assert!(line("query").ends_with("query 2"), "{out}");
    assert!(line("127.0.0.0/24").starts_with("127.0.0.0/24 2 "), "{out}");
    assert!(out.contains("recorded since "), "{out}");
    assert!(!out.contains("More networks"), "{out}");

    // --json: the service's Usage object as it sent it.
    assert_eq!(u["scopes_used"], json!({"query": 2}));
    assert_eq!(u["networks"][0]["network"], "127.0.0.0/24");
    assert_eq!(u["networks_truncated"], false);
    assert!(u["recorded_since"].is_string(), "{u}");
}

#[test]
fn networks_past_the_kept_ones_are_said_in_usage_and_narrow() {
    let s = Server::start();
    let cli = Cli::new();
    let svc = create_service(&cli, &s, "many-nets");
    let v = issue_json(&cli, &s, &svc, &[]);
    let (id, key) = (v["id"].as_str().unwrap(), v["key"].as_str().unwrap());
    // Seventeen client networks: 127.0.N.1 are all this machine.
    for n in 0..17 {
        assert_eq!(verify_from(&s, key, "query", &format!("127.0.{n}.1")), 200);
    }
    usage_when(&cli, &s, &svc, id, |u| u["networks_truncated"] == true);

    let o = keys(&cli, &s, &["usage", &svc, id]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).contains("More networks were seen: only the 16 with the most calls are listed."),
        "{}",
        stdout(&o)
    );
    // The allowlist stays as it is, and narrow says why; the scopes still narrow.
    let o = keys(&cli, &s, &["narrow", &svc, id]);
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("- ingest (0 calls in 30 days)"), "{out}");
    assert!(out.contains("  allowed from anywhere"), "{out}");
    assert!(out.contains("more networks than are kept"), "{out}");
}
