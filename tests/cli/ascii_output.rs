//! The CLI in a locale without UTF-8, or with `--ascii` (docs/cli.md, Output): tables, charts
//! and messages in 7-bit ASCII, one `?` per cluster of the service's text; `--json` untouched.

use crate::common::Server;
use crate::common::cli::{Cli, expect_code, json, stdout};

fn assert_ascii(what: &str, text: &str) {
    assert!(
        text.bytes().all(|b| b < 0x80),
        "{what} is not ASCII:\n{text}"
    );
}

#[test]
fn a_c_locale_or_ascii_prints_seven_bit_ascii_and_json_stays_whole() {
    let s = Server::start();
    let cli = Cli::new();
    let o = cli.remote(
        &s.url(),
        &s.token,
        &["--json", "services", "create", "검색서비스"],
    );
    expect_code(&o, 0);
    let sid = json(&o)["id"].as_str().unwrap().to_string();
    let o = cli.remote(
        &s.url(),
        &s.token,
        &[
            "--json",
            "keys",
            "issue",
            &sid,
            "--name",
            "배포용 키 ✔\u{FE0F}",
        ],
    );
    expect_code(&o, 0);
    let o = cli.remote(&s.url(), &s.token, &["--json", "keys", "list", &sid]);
    let kid = json(&o)["api_keys"][0]["id"].as_str().unwrap().to_string();
    let c_locale = [("LANG", "C")];
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["--endpoint", s.url().leak() as &str, "--token", &s.token];
        all.extend_from_slice(args);
        cli.run_env(&all, env)
    };

    let o = run(&["services", "list"], &c_locale);
    expect_code(&o, 0);
    assert_ascii("services list", &stdout(&o));
    assert!(stdout(&o).contains("?????  "), "{}", stdout(&o));

    for env in [&c_locale[..], &[("LANG", "ko_KR.EUC-KR")][..]] {
        let o = run(&["keys", "list", &sid], env);
        expect_code(&o, 0);
        assert_ascii("keys list", &stdout(&o));
        assert!(stdout(&o).contains("??? ? ?"), "{}", stdout(&o));
    }
    // --ascii in a UTF-8 locale; the usage chart's bars too.
    let o = run(&["keys", "list", &sid, "--ascii"], &[]);
    expect_code(&o, 0);
    assert!(stdout(&o).contains("??? ? ?"), "{}", stdout(&o));
    let o = run(&["keys", "usage", &sid, &kid, "--ascii"], &[]);
    expect_code(&o, 0);
    assert_ascii("keys usage", &stdout(&o));
    assert!(stdout(&o).contains("Oldest -> newest"), "{}", stdout(&o));

    // The service's JSON as it sent it, whatever the locale.
    let o = run(&["keys", "list", &sid, "--json"], &c_locale);
    expect_code(&o, 0);
    assert_eq!(
        json(&o)["api_keys"][0]["name"],
        "배포용 키 ✔\u{FE0F}",
        "{}",
        stdout(&o)
    );
    // In UTF-8, the emoji sequence is one `�` in its column.
    let o = run(&["keys", "list", &sid], &[]);
    assert!(stdout(&o).contains("배포용 키 \u{FFFD}"), "{}", stdout(&o));
}

#[test]
fn help_and_usage_errors_follow_the_locale_too() {
    let cli = Cli::new();
    for args in [
        &["--help"][..],
        &["keys", "--help"],
        &["keys", "issue", "--help"],
    ] {
        let o = cli.run_env(args, &[("LANG", "C")]);
        expect_code(&o, 0);
        assert_ascii(&format!("{args:?}"), &stdout(&o));
        assert!(stdout(&o).contains("ragadm_..."), "{}", stdout(&o));
    }
    let o = cli.run_env(&["keys", "issue", "--expires"], &[("LANG", "C")]);
    expect_code(&o, 2);
    assert_ascii("a usage error", &crate::common::cli::stderr(&o));
}
