//! Every command that lists `--json` honours it (docs/cli.md, Output): the ones whose service
//! answers nothing (deletes) or that work on the data dir (`tokens`) print a documented object.

use crate::common::Server;
use crate::common::cli::{Cli, expect_code, json};

#[test]
fn deletes_and_tokens_print_json_when_asked() {
    let s = Server::start();
    let cli = Cli::new();
    let o = cli.remote(
        &s.url(),
        &s.token,
        &["--json", "services", "create", "json-out"],
    );
    expect_code(&o, 0);
    let sid = json(&o)["id"].as_str().unwrap().to_string();
    let o = cli.remote(&s.url(), &s.token, &["keys", "issue", &sid, "--json"]);
    expect_code(&o, 0);
    let kid = json(&o)["id"].as_str().unwrap().to_string();

    let o = cli.remote(
        &s.url(),
        &s.token,
        &["keys", "delete", &sid, &kid, "--yes", "--json"],
    );
    expect_code(&o, 0);
    let v = json(&o);
    assert_eq!(v["id"], kid.as_str());
    assert_eq!(v["service_id"], sid.as_str());
    assert_eq!(v["deleted"], true);

    let o = cli.remote(
        &s.url(),
        &s.token,
        &["services", "delete", &sid, "--yes", "--json"],
    );
    expect_code(&o, 0);
    let v = json(&o);
    assert_eq!(v["id"], sid.as_str());
    assert_eq!(v["deleted"], true);

    let o = s.tokens(&["create", "--name", "ci-bot", "--role", "viewer", "--json"]);
    expect_code(&o, 0);
    let v = json(&o);
    assert_eq!(v["name"], "ci-bot");
    assert_eq!(v["role"], "viewer");
    let token = v["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ragadm_"), "{v}");
    assert!(
        v["created_at"].is_string() && v["masked"].is_string(),
        "{v}"
    );
    // The token printed works, and the listed object is the same but for the secret.
    let o = cli.remote(&s.url(), &token, &["services", "list"]);
    expect_code(&o, 0);
    let listed = json(&s.tokens(&["list", "--json"]));
    let mine = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci-bot")
        .unwrap()
        .clone();
    let mut without = v.clone();
    without.as_object_mut().unwrap().remove("token");
    assert_eq!(mine, without);

    let o = s.tokens(&["revoke", "ci-bot", "--json"]);
    expect_code(&o, 0);
    let v = json(&o);
    assert_eq!(v["name"], "ci-bot");
    assert_eq!(v["revoked"], true);
}
