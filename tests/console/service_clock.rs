//! The console on a machine whose clock is two days off the service's (libfaketime), against a
//! `ragkeys serve` on the real clock (docs/console.md, The service's clock): lifetimes sent as
//! `lifetime_seconds` are counted on the service's clock, relative times count from the
//! service's now as learned from `Date`, and the header says how far the clocks differ.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Value, json};

use crate::common::api::Api;
use crate::common::tmux::{Tmux, sh_quote};
use crate::common::{Server, faketime};
use crate::tmux_copy_and_delete::console_command;

const DAY: i64 = 86_400;

fn unix(v: &Value) -> i64 {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map_or(0, |t| t.timestamp())
}

/// The console against `server`, its clock moved by `offset`, times shown in UTC.
fn skewed_console(server: &Server, home: &std::path::Path, offset: &str) -> Tmux {
    let console = console_command(server, home, &server.token, "--clipboard off --lang en");
    let faked: Vec<String> = faketime(offset).iter().map(|w| sh_quote(w)).collect();
    Tmux::start(
        &format!("TZ=UTC {} sh -c {}", faked.join(" "), sh_quote(&console)),
        100,
        30,
    )
}

/// A service with one key that was used a moment ago (its `last_used_at` written).
async fn service_with_a_fresh_key(api: &Api, name: &str) -> String {
    let sid = api.create_service(name).await;
    let key = api.issue(&sid, json!({"name": "fresh"})).await.expect(201);
    let plain = key["key"].as_str().unwrap_or_default().to_string();
    assert_eq!(api.verify(&plain).await.status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while api.list(&sid).await["api_keys"][0]["last_used_at"].is_null() {
        assert!(
            std::time::Instant::now() < deadline,
            "last_used_at never written"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    sid
}

/// Issues a key from the open keys screen with the expiry `rights` steps right of Never, and
/// returns it as the service lists it.
async fn issue_with(term: &Tmux, api: &Api, sid: &str, rights: usize) -> Value {
    let before = api.list(sid).await["api_keys"]
        .as_array()
        .map_or(0, Vec::len);
    term.keys(&["i"]);
    term.wait_text("[Issue]");
    term.keys(&["Tab"]);
    for _ in 0..rights {
        term.keys(&["Right"]);
    }
    term.keys(&["Enter"]);
    let screen = term.wait_for("the answer to the issue", |s| {
        s.contains("API Key copy") || s.contains("366 days") || s.contains("Error")
    });
    if screen.contains("API Key copy") {
        // [OK] before any copy asks once more; OK there closes it.
        term.keys(&["Tab", "Enter"]);
        term.wait_text("Close without copying?");
        term.keys(&["Left", "Enter"]);
        term.wait_gone_text("API Key copy");
    } else {
        term.keys(&["Escape"]);
        term.wait_gone_text("[Issue]");
    }
    let list = api.list(sid).await;
    let keys = list["api_keys"].as_array().cloned().unwrap_or_default();
    if keys.len() == before {
        return json!({ "refused": screen });
    }
    keys[0].clone()
}

/// On the Services screen, the header must say `note`; then on `service`'s keys, the fresh key's
/// Last used must read a few minutes at most. What is wrong, if anything.
fn header_and_fresh_row(term: &Tmux, service: &str, note: &str) -> Vec<String> {
    term.wait_text(service);
    let mut wrong = Vec::new();
    let header = term.screen().lines().next().unwrap_or_default().to_string();
    if !header.contains(note) {
        wrong.push(format!("the header does not say the skew: {header:?}"));
    }
    term.keys(&["Enter"]);
    let screen = term.wait_text("fresh");
    let row = screen
        .lines()
        .find(|l| l.contains("fresh"))
        .unwrap_or_default();
    if row.contains("d ago") || !(row.contains("just now") || row.contains("min ago")) {
        wrong.push(format!("Last used of a fresh key: {row:?}"));
    }
    wrong
}

#[tokio::test(flavor = "multi_thread")]
async fn two_days_ahead_lifetimes_and_last_used_count_on_the_services_clock() {
    ragkeys::client::install_crypto_provider();
    let server = Server::start();
    let api = Api::new(&server);
    let sid = service_with_a_fresh_key(&api, "ahead-svc").await;
    let home = tempfile::tempdir().unwrap();
    let term = skewed_console(&server, home.path(), "+2d");
    let mut wrong = header_and_fresh_row(&term, "ahead-svc", "clock 2 d ahead of the service");
    // 7 days: 7 days on the service's clock, whatever this machine's says.
    let k = issue_with(&term, &api, &sid, 1).await;
    let life = unix(&k["expires_at"]) - unix(&k["created_at"]);
    if (life - 7 * DAY).abs() > 5 {
        wrong.push(format!("7 days issued a key living {} s: {k}", life));
    }
    // 1 year: accepted, 365 days.
    let k = issue_with(&term, &api, &sid, 4).await;
    let life = unix(&k["expires_at"]) - unix(&k["created_at"]);
    if (life - 365 * DAY).abs() > 5 {
        wrong.push(format!("1 year: {k}"));
    }
    term.keys(&["q", "q"]);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_days_behind_the_rotate_popups_grace_ends_in_the_future() {
    ragkeys::client::install_crypto_provider();
    let server = Server::start();
    let api = Api::new(&server);
    let sid = service_with_a_fresh_key(&api, "behind-svc").await;
    let home = tempfile::tempdir().unwrap();
    let term = skewed_console(&server, home.path(), "-2d");
    let mut wrong = header_and_fresh_row(&term, "behind-svc", "clock 2 d behind the service");
    // R: the old key stops 24 hours (the default grace) after the service's now.
    term.keys(&["R"]);
    let screen = term.wait_text("The old key stops at");
    let at = screen
        .split("The old key stops at ")
        .nth(1)
        .and_then(|rest| rest.get(..19))
        .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").ok())
        .map(|t| t.and_utc().timestamp());
    let now = Utc::now().timestamp();
    match at {
        Some(at) if (at - (now + DAY)).abs() <= 120 => {}
        _ => wrong.push(format!(
            "the grace end is not 24 h after the service's now ({now}): {at:?} in\n{screen}"
        )),
    }
    term.keys(&["Escape"]);
    // 30 days sent from a clock 2 days behind: still 30 days on the service's clock.
    let k = issue_with(&term, &api, &sid, 2).await;
    let life = unix(&k["expires_at"]) - unix(&k["created_at"]);
    if (life - 30 * DAY).abs() > 5 {
        wrong.push(format!("30 days issued a key living {} s: {k}", life));
    }
    term.keys(&["q", "q"]);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_issued_for_3_days_reads_expires_in_3_d() {
    ragkeys::client::install_crypto_provider();
    let server = Server::start();
    let api = Api::new(&server);
    let sid = api.create_service("three-days").await;
    let cli = crate::common::cli::Cli::new();
    let o = cli.remote(
        &server.url(),
        &server.token,
        &["keys", "issue", &sid, "--expires", "3d"],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Seconds later, as a person reads it: under 3 whole days are left.
    let created = unix(&api.list(&sid).await["api_keys"][0]["created_at"]);
    while Utc::now().timestamp() < created + 2 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let home = tempfile::tempdir().unwrap();
    let console = console_command(&server, home.path(), &server.token, "--lang en");
    let term = Tmux::start(&console, 100, 30);
    term.wait_text("three-days");
    term.keys(&["Enter"]);
    // Rounded to the nearest day (docs/api.md, Time), not down: 2 d 23 h 59 m is 3 d.
    let screen = term.wait_text("ragk_");
    let row = screen
        .lines()
        .find(|l| l.contains("********"))
        .unwrap_or_default();
    assert!(row.contains("expires in 3 d"), "{screen}");
    assert!(screen.contains("1 key expires in 3 days"), "{screen}");
    term.keys(&["q", "q"]);
}
