//! The CLI on a machine whose clock is two days off the service's (libfaketime), against a
//! `ragkeys serve` on the real clock (docs/cli.md, Time): `--expires 7d` and `1y` are lifetimes
//! the service counts (`lifetime_seconds`), the grace end of a rotation is counted on the
//! service's clock, and the skew is said once on stderr.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::common::Server;
use crate::common::cli::{Cli, code, json, stderr};

const DAY: i64 = 86_400;

fn unix(v: &Value) -> i64 {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map_or(0, |t| t.timestamp())
}

fn lifetime(k: &Value) -> i64 {
    unix(&k["expires_at"]) - unix(&k["created_at"])
}

/// `RAGKEYS_TOKEN=… ragkeys --endpoint … ARGS` with the clock moved by `offset`.
fn skewed(cli: &Cli, s: &Server, offset: &str, args: &[&str]) -> std::process::Output {
    let url = s.url();
    let mut all = vec!["--endpoint", url.as_str()];
    all.extend_from_slice(args);
    cli.run_skewed(offset, &all, &[("RAGKEYS_TOKEN", s.token.as_str())])
}

fn service(cli: &Cli, s: &Server, name: &str) -> String {
    let o = cli.remote(&s.url(), &s.token, &["--json", "services", "create", name]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    json(&o)["id"].as_str().unwrap_or_default().to_string()
}

#[test]
fn two_days_ahead_expiries_are_lifetimes_on_the_services_clock() {
    let s = Server::start();
    let cli = Cli::new();
    let sid = service(&cli, &s, "cli-ahead");
    let mut wrong = Vec::new();
    for (expires, days) in [("7d", 7), ("1y", 365), ("3d", 3)] {
        let o = skewed(
            &cli,
            &s,
            "+2d",
            &["--json", "keys", "issue", &sid, "--expires", expires],
        );
        let err = stderr(&o);
        if code(&o) != 0 {
            wrong.push(format!("--expires {expires}: exit {}: {err}", code(&o)));
            continue;
        }
        let k = json(&o);
        if (lifetime(&k) - days * DAY).abs() > 5 {
            wrong.push(format!("--expires {expires} gave {} s: {k}", lifetime(&k)));
        }
        if err.matches("clock 2 d ahead of the service").count() != 1 {
            wrong.push(format!("the skew is not said once: {err:?}"));
        }
    }
    // keys update and keys enable count a new lifetime the same way.
    let kid = {
        let o = cli.remote(&s.url(), &s.token, &["--json", "keys", "issue", &sid]);
        json(&o)["id"].as_str().unwrap_or_default().to_string()
    };
    let o = skewed(
        &cli,
        &s,
        "+2d",
        &["--json", "keys", "update", &sid, &kid, "--expires", "30d"],
    );
    let left = unix(&json(&o)["expires_at"]) - Utc::now().timestamp();
    if (left - 30 * DAY).abs() > 5 {
        wrong.push(format!(
            "keys update --expires 30d: {left} s left: {}",
            stderr(&o)
        ));
    }
    let o = cli.remote(
        &s.url(),
        &s.token,
        &["keys", "disable", &sid, &kid, "--yes"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = skewed(
        &cli,
        &s,
        "+2d",
        &["--json", "keys", "enable", &sid, &kid, "--expires", "90d"],
    );
    let left = unix(&json(&o)["expires_at"]) - Utc::now().timestamp();
    if (left - 90 * DAY).abs() > 5 {
        wrong.push(format!(
            "keys enable --expires 90d: {left} s left: {}",
            stderr(&o)
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn two_days_behind_a_rotations_grace_ends_after_the_services_now() {
    let s = Server::start();
    let cli = Cli::new();
    let sid = service(&cli, &s, "cli-behind");
    let o = cli.remote(&s.url(), &s.token, &["--json", "keys", "issue", &sid]);
    let kid = json(&o)["id"].as_str().unwrap_or_default().to_string();
    let o = skewed(
        &cli,
        &s,
        "-2d",
        &["keys", "rotate", &sid, &kid, "--grace", "24h"],
    );
    let err = stderr(&o);
    assert_eq!(code(&o), 0, "{err}");
    let mut wrong = Vec::new();
    if err.matches("clock 2 d behind the service").count() != 1 {
        wrong.push(format!("the skew is not said once: {err:?}"));
    }
    // `… keeps working until about 2026-12-08 15:20:00 +00:00.` (TZ=UTC)
    let until = err
        .split("until about ")
        .nth(1)
        .and_then(|r| r.get(..26))
        .and_then(|t| DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S %:z").ok())
        .map(|t| t.timestamp());
    let want = Utc::now().timestamp() + DAY;
    match until {
        Some(t) if (t - want).abs() <= 60 => {}
        _ => wrong.push(format!(
            "the grace ends at {until:?}, not about {want}: {err}"
        )),
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn clocks_in_step_say_nothing() {
    let s = Server::start();
    let cli = Cli::new();
    let sid = service(&cli, &s, "cli-in-step");
    let o = cli.remote(
        &s.url(),
        &s.token,
        &["keys", "issue", &sid, "--expires", "7d"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stderr(&o).contains("clock"), "{}", stderr(&o));
}
