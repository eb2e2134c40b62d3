//! The SERVICE and KEY arguments (docs/cli.md, Arguments): a service by id or exact name, and
//! arguments no service could have refused as usage errors before anything is sent.

use crate::common::Server;
use crate::common::cli::{Cli, dead_url, expect_code, json, stderr, stdout};

#[test]
fn arguments_no_service_could_have_are_usage_errors_before_any_request() {
    let cli = Cli::new();
    // Nothing listens there: a request would be exit 6, not 2.
    let url = dead_url();
    let huge = "x".repeat(100_000);
    let long_service = "s".repeat(65);
    let long_key = format!("key_{}", "k".repeat(61));
    let cases: Vec<Vec<&str>> = vec![
        vec!["keys", "list", &huge],
        vec!["keys", "issue", &long_service],
        vec!["keys", "usage", "svc_1", &huge],
        vec!["keys", "update", "svc_1", &long_key, "--name", "n"],
        vec!["keys", "enable", "svc_1", "key 1"],
        vec!["keys", "rotate", "svc_1", "../key_1", "--grace", "1h"],
        vec!["keys", "delete", "svc_1", "key_\u{1b}[2J", "--yes"],
        vec!["keys", "disable", "svc_1", "ключ", "--yes"],
        vec!["services", "delete", &huge, "--yes"],
        vec!["audit", "--service", &long_service],
    ];
    for args in cases {
        let o = cli.remote(&url, "ragadm_x", &args);
        expect_code(&o, 2);
        let e = stderr(&o);
        assert!(e.len() < 400, "the argument was echoed: {} bytes", e.len());
        assert!(!e.contains("\u{1b}"), "{e:?}");
    }
    // Checked before the profile's token_command runs, too.
    let marker = cli.config_home.path().join("ran");
    cli.write_config(
        &format!(
            "[profile.p]\nendpoint = \"{url}\"\ntoken_command = \"touch {} && echo t\"\n",
            marker.display()
        ),
        0o600,
    );
    let o = cli.run(&["keys", "list", &huge, "--profile", "p"]);
    expect_code(&o, 2);
    assert!(!marker.exists(), "token_command ran");
    // 64 characters is still an argument a service can have: it is asked (and unreachable).
    let o = cli.remote(&url, "ragadm_x", &["keys", "list", &"s".repeat(64)]);
    expect_code(&o, 6);
}

#[test]
fn a_service_is_named_by_its_id_or_its_exact_name() {
    let s = Server::start();
    let cli = Cli::new();
    let o = cli.remote(
        &s.url(),
        &s.token,
        &["--json", "services", "create", "billing eu"],
    );
    expect_code(&o, 0);
    let sid = json(&o)["id"].as_str().unwrap().to_string();
    let o = cli.remote(
        &s.url(),
        &s.token,
        &["keys", "issue", "billing eu", "--name", "by-name"],
    );
    expect_code(&o, 0);
    let o = cli.remote(&s.url(), &s.token, &["--json", "keys", "list", &sid]);
    expect_code(&o, 0);
    let keys = json(&o)["api_keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 1);
    let kid = keys[0]["id"].as_str().unwrap().to_string();
    let o = cli.remote(&s.url(), &s.token, &["keys", "list", "billing eu"]);
    expect_code(&o, 0);
    assert!(stdout(&o).contains("by-name"), "{}", stdout(&o));
    let o = cli.remote(
        &s.url(),
        &s.token,
        &["keys", "update", "billing eu", &kid, "--name", "renamed"],
    );
    expect_code(&o, 0);
    // Exact: another case or a prefix is not the name.
    for other in ["Billing eu", "billing", "billing eu "] {
        let o = cli.remote(&s.url(), &s.token, &["keys", "list", other]);
        expect_code(&o, 3);
        assert!(stderr(&o).contains("service_not_found"), "{}", stderr(&o));
    }
    let o = cli.remote(
        &s.url(),
        &s.token,
        &["keys", "delete", "billing eu", &kid, "--yes"],
    );
    expect_code(&o, 0);
    let o = cli.remote(
        &s.url(),
        &s.token,
        &["services", "delete", "billing eu", "--yes"],
    );
    expect_code(&o, 0);
    let o = cli.remote(&s.url(), &s.token, &["--json", "services", "list"]);
    assert!(!stdout(&o).contains(&sid), "{}", stdout(&o));
}

/// A SERVICE argument is the id of a service if one has it, else its exact name: a name that
/// looks like an id (`svc_…`) names its service, with every command that takes one.
#[test]
fn a_service_named_like_an_id_is_found_by_its_name() {
    let s = Server::start();
    let cli = Cli::new();
    let url = s.url();
    let run = |args: &[&str]| cli.remote(&url, &s.token, args);
    let created = run(&["services", "create", "svc_billing", "--json"]);
    expect_code(&created, 0);
    let billing = json(&created)["id"].as_str().unwrap().to_string();
    assert_ne!(billing, "svc_billing");

    let issued = run(&[
        "keys",
        "issue",
        "svc_billing",
        "--name",
        "by-name",
        "--json",
    ]);
    expect_code(&issued, 0);
    let listed = run(&["keys", "list", "svc_billing", "--json"]);
    expect_code(&listed, 0);
    assert_eq!(json(&listed)["api_keys"][0]["name"], "by-name");
    let key = json(&listed)["api_keys"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    expect_code(&run(&["keys", "disable", "svc_billing", &key, "--yes"]), 0);
    expect_code(&run(&["keys", "usage", "svc_billing", &key]), 0);

    // Its id works as before.
    let listed = run(&["keys", "list", &billing, "--json"]);
    expect_code(&listed, 0);
    assert_eq!(json(&listed)["api_keys"][0]["name"], "by-name");
    // A key that is not there stays not found, whatever the names.
    let o = run(&["keys", "delete", &billing, "key_nope", "--yes"]);
    expect_code(&o, 3);
    assert!(stderr(&o).contains("api_key_not_found"), "{}", stderr(&o));
    // Nothing with that id or name: not found.
    let o = run(&["keys", "list", "svc_nobody"]);
    expect_code(&o, 3);

    // services delete by such a name.
    expect_code(&run(&["services", "delete", "svc_billing", "--yes"]), 0);
    let left = run(&["services", "list", "--json"]);
    expect_code(&left, 0);
    assert!(!stdout(&left).contains(&billing), "{}", stdout(&left));
}
