//! Notifications (docs/operating.md, Notifications): a real receiver verifies every webhook with
//! the reference `standardwebhooks` library. Checked here: the flags at start; a retired key's
//! event delivered once to every URL and verifying with either of two secrets; a receiver that is
//! down, across a service restart, gets every event once; SIGHUP re-reads the secrets (and
//! keeps them when the new file is malformed); `api_key.expiring` under faketime;
//! `api_key.disabled_still_called` once a day; two replicas send each event once; the metrics
//! move; no plaintext key or webhook secret in any payload or log.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::api::Api;
use crate::common::webhooks::{Receiver, faketime_env, free_port, new_secret, of_type};
use crate::common::{self, BIN, Server};
use crate::metrics_scrape::{metrics_url, scrape};

/// Generous for two loaded cores: deliveries are polled once a second.
const WITHIN: Duration = Duration::from_secs(60);

fn write_secrets(path: &Path, secrets: &[&str]) {
    let mut text = String::new();
    for s in secrets {
        text.push_str(s);
        text.push_str("\n\n");
    }
    std::fs::write(path, text).unwrap();
}

/// Writes `secrets` to `dir/webhook.secrets`: its path, and that path as `--webhook-secret-file`
/// takes it.
fn secrets_file(dir: &Path, secrets: &[&str]) -> (PathBuf, String) {
    let file = dir.join("webhook.secrets");
    write_secrets(&file, secrets);
    let arg = file.display().to_string();
    (file, arg)
}

/// Rotates `kid` with no grace: the old key is retired at once (one `api_key.retired`).
async fn retire(api: &Api, sid: &str, kid: &str) -> String {
    let r = api
        .call(
            Method::POST,
            &format!("/v1/services/{sid}/api-keys/{kid}/rotate"),
            Some(json!({"grace_seconds": 0})),
        )
        .await;
    assert_eq!(r.status, 201, "rotate: {}", r.text);
    r.json()["key"].as_str().unwrap().to_string()
}

/// Polls the metrics until `series` reaches at least `n`.
async fn wait_metric(url: &str, series: &str, n: f64) -> HashMap<String, f64> {
    let http = common::http();
    let deadline = std::time::Instant::now() + WITHIN;
    loop {
        let (text, samples) = scrape(&http, url).await;
        if samples.get(series).copied().unwrap_or(0.0) >= n {
            return samples;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{series} did not reach {n}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn deliveries(event: &str, outcome: &str) -> String {
    format!(r#"ragkeys_webhook_deliveries_total{{event="{event}",outcome="{outcome}"}}"#)
}

/// How many times each webhook-id was received.
fn ids(received: &[Value]) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for r in received {
        *n.entry(r["id"].as_str().unwrap().to_string()).or_default() += 1;
    }
    n
}

/// The canary: none of `secrets` (plaintext keys, webhook secrets and their base64) in `text`.
fn assert_no_secret(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        let bare = s.trim_start_matches("whsec_");
        assert!(!text.contains(bare), "{what} holds a secret");
    }
}

#[test]
fn the_webhook_flags_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (code, err, _) = common::serve_refused(
        &data,
        &[
            "--webhook",
            "ftp://hooks.example/x",
            "--webhook-secret-file",
            "/dev/null",
        ],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--webhook") && err.contains("http"), "{err}");
    let (code, err, _) = common::serve_refused(&data, &["--webhook", "http://127.0.0.1:9/x"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--webhook-secret-file"), "{err}");
    let (code, err, _) = common::serve_refused(
        &data,
        &[
            "--webhook-retry-scale",
            "0",
            "--webhook",
            "http://127.0.0.1:9/x",
        ],
    );
    assert_eq!(code, Some(2), "{err}");
    // A malformed file stops the start, naming the file and the line, never its content.
    let file = dir.path().join("secrets");
    let good = new_secret();
    std::fs::write(&file, format!("{good}\nnot-a-secret-QUJD\n")).unwrap();
    let file_arg = file.display().to_string();
    let (code, err, _) = common::serve_refused(
        &data,
        &[
            "--webhook",
            "http://127.0.0.1:9/x",
            "--webhook-secret-file",
            &file_arg,
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&file_arg) && err.contains("line 2"), "{err}");
    assert!(!err.contains("QUJD"), "{err}");
    assert_no_secret("stderr", &err, &[&good]);
    std::fs::write(&file, "\n\n").unwrap();
    let (code, err, _) = common::serve_refused(
        &data,
        &[
            "--webhook",
            "http://127.0.0.1:9/x",
            "--webhook-secret-file",
            &file_arg,
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no secret"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_key_is_delivered_to_every_url_signed_with_every_secret() {
    let (old, new) = (new_secret(), new_secret());
    // Each receiver knows one of the two secrets: both must verify the same delivery.
    let (a, b) = (Receiver::start(&old), Receiver::start(&new));
    let dir = tempfile::tempdir().unwrap();
    let (_, file_arg) = secrets_file(dir.path(), &[&old, &new]);
    let (a_url, b_url) = (a.url(), b.url());
    let srv = Server::start_with(&[
        "--metrics-listen",
        "127.0.0.1:0",
        "--webhook",
        &a_url,
        "--webhook",
        &b_url,
        "--webhook-secret-file",
        &file_arg,
    ]);
    let murl = metrics_url(&srv);
    let api = Api::new(&srv);
    let sid = api.create_service("billing-api").await;
    let (kid, key) = api.issue_ok(&sid).await;
    let successor = retire(&api, &sid, &kid).await;
    for r in [&a, &b] {
        let got = r.wait_for(WITHIN, |g| !g.is_empty()).await;
        assert_eq!(got.len(), 1, "{got:#?}");
        let e = &got[0];
        assert_eq!(e["signatures"], 2, "one signature per secret");
        assert_eq!(e["content_type"], "application/json");
        assert!(e["id"].as_str().unwrap().starts_with("msg_"));
        let ev = &e["event"];
        assert_eq!(ev["type"], "api_key.retired");
        assert_eq!(ev["data"]["key_id"], kid.as_str());
        assert_eq!(ev["data"]["service_id"], sid.as_str());
        assert_eq!(ev["data"]["service_name"], "billing-api");
        assert!(ev["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_no_secret(
            "a webhook",
            &e["body"].to_string(),
            &[&key, &successor, &old, &new],
        );
    }
    // The same event (one id) went to both URLs.
    assert_eq!(a.received()[0]["id"], b.received()[0]["id"]);
    let samples = wait_metric(&murl, &deliveries("api_key.retired", "delivered"), 2.0).await;
    assert_eq!(
        samples
            .get(&deliveries("api_key.retired", "failed"))
            .copied()
            .unwrap_or(0.0),
        0.0
    );
    let samples = {
        let mut s = samples;
        while s.get("ragkeys_webhook_pending").copied().unwrap_or(1.0) > 0.0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            s = scrape(&common::http(), &murl).await.1;
        }
        s
    };
    assert_eq!(samples["ragkeys_webhook_pending"], 0.0);
    let (text, _) = scrape(&common::http(), &murl).await;
    assert!(
        text.contains("# HELP ragkeys_webhook_deliveries_total"),
        "{text}"
    );
    assert_no_secret("the metrics", &text, &[&key, &successor, &old, &new]);
    assert_no_secret("the log", &srv.log(), &[&key, &successor, &old, &new]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_gets_every_event_once_even_across_a_restart() {
    let secret = new_secret();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_, file_arg) = secrets_file(dir.path(), &[&secret]);
    let flags = [
        "--metrics-listen",
        "127.0.0.1:0",
        "--webhook",
        url.as_str(),
        "--webhook-secret-file",
        file_arg.as_str(),
        "--webhook-retry-scale",
        "0.001",
    ];
    let mut srv = Server::start_in(&data, &flags);
    let api = Api::new(&srv);
    let sid = api.create_service("payments").await;
    let (k1, key1) = api.issue_ok(&sid).await;
    let (k2, key2) = api.issue_ok(&sid).await;
    retire(&api, &sid, &k1).await;
    retire(&api, &sid, &k2).await;
    // Nobody listens: attempts fail and are retried.
    wait_metric(
        &metrics_url(&srv),
        &deliveries("api_key.retired", "failed"),
        2.0,
    )
    .await;
    assert!(srv.log().contains("will retry"), "{}", srv.log());
    let first_log = srv.log();
    assert_eq!(srv.stop(), Some(0));
    // Back up, and the service restarted: what was pending is in the store.
    let r = Receiver::start_on(port, &secret, &[]);
    let srv = Server::start_in(&data, &flags);
    let api = Api::new(&srv);
    let got = r.wait_for(WITHIN, |g| g.len() >= 2).await;
    let keys: Vec<&str> = got
        .iter()
        .map(|e| e["event"]["data"]["key_id"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&k1.as_str()) && keys.contains(&k2.as_str()),
        "{got:#?}"
    );
    // And with it up, a new event arrives too.
    let (k3, key3) = api.issue_ok(&sid).await;
    retire(&api, &sid, &k3).await;
    r.wait_for(WITHIN, |g| g.len() >= 3).await;
    let murl = metrics_url(&srv);
    wait_metric(&murl, &deliveries("api_key.retired", "delivered"), 3.0).await;
    loop {
        let (_, s) = scrape(&common::http(), &murl).await;
        if s.get("ragkeys_webhook_pending") == Some(&0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let got = r.received();
    assert_eq!(got.len(), 3, "{got:#?}");
    assert!(ids(&got).values().all(|n| *n == 1), "{got:#?}");
    let logs = format!("{first_log}\n{}", srv.log());
    assert_no_secret("the log", &logs, &[&key1, &key2, &key3, &secret]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rereads_the_secrets_and_keeps_them_when_the_file_is_malformed() {
    let (old, new) = (new_secret(), new_secret());
    // The receiver knows only the new secret.
    let r = Receiver::start(&new);
    let dir = tempfile::tempdir().unwrap();
    let (file, file_arg) = secrets_file(dir.path(), &[&old]);
    let url = r.url();
    let srv = Server::start_with(&[
        "--metrics-listen",
        "127.0.0.1:0",
        "--webhook",
        &url,
        "--webhook-secret-file",
        &file_arg,
        "--webhook-retry-scale",
        "0.001",
    ]);
    let murl = metrics_url(&srv);
    let api = Api::new(&srv);
    let sid = api.create_service("search").await;
    let (kid, _) = api.issue_ok(&sid).await;
    retire(&api, &sid, &kid).await;
    // Signed with the old secret only: the receiver answers 400, the service retries.
    wait_metric(&murl, &deliveries("api_key.retired", "failed"), 1.0).await;
    assert!(srv.log().contains("answered 400"), "{}", srv.log());
    // A malformed file on SIGHUP: the old secret stays, and the log says why.
    std::fs::write(&file, "whsec_!!!\n").unwrap();
    srv.signal(libc::SIGHUP);
    let deadline = std::time::Instant::now() + WITHIN;
    while !srv.log().contains("keeping the webhook secrets in use") {
        assert!(std::time::Instant::now() < deadline, "{}", srv.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(r.received().is_empty());
    // Both lines, then SIGHUP: the next retry verifies.
    write_secrets(&file, &[&old, &new]);
    srv.signal(libc::SIGHUP);
    let got = r.wait_for(WITHIN, |g| !g.is_empty()).await;
    assert_eq!(got[0]["event"]["data"]["key_id"], kid.as_str());
    assert_eq!(got[0]["signatures"], 2);
    assert_no_secret("the log", &srv.log(), &[&old, &new]);
}

/// `ragkeys serve` over `data` with the clock moved by `offset`, as the receiver's.
fn serve_skewed(data: &Path, offset: &str, extra: &[&str]) -> Server {
    serve_skewed_logging(data, offset, extra, "info")
}

/// [`serve_skewed`] with the log filter `level`.
fn serve_skewed_logging(data: &Path, offset: &str, extra: &[&str], level: &str) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.envs(faketime_env(offset))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--drain",
            "0",
            "--data-dir",
        ])
        .arg(data)
        .args(extra)
        .env("RAGKEYS_LOG", level);
    Server::spawn(cmd, data)
}

/// Waits until `line` is in the service's log `n` times.
async fn wait_log_count(srv: &Server, line: &str, n: usize, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    while srv.log().matches(line).count() < n {
        assert!(std::time::Instant::now() < deadline, "{}", srv.log());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_notice_is_sent_once_across_passes_and_restarts() {
    let secret = new_secret();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_, file_arg) = secrets_file(dir.path(), &[&secret]);
    // A key for 8 days, seen 26 hours later: inside its 7-day mark.
    let kid = {
        let mut srv = Server::start_in(&data, &[]);
        let api = Api::new(&srv);
        let sid = api.create_service("reports").await;
        let key = api
            .issue(&sid, json!({"lifetime_seconds": 691_200}))
            .await
            .expect(201);
        srv.stop();
        key["id"].as_str().unwrap().to_string()
    };
    let offset = "+26h";
    let port = free_port();
    let r = Receiver::start_on(port, &secret, &faketime_env(offset));
    let url = format!("http://127.0.0.1:{port}/hook");
    let extra = [
        "--webhook",
        url.as_str(),
        "--webhook-secret-file",
        &file_arg,
    ];
    let level = "info,ragkeys::server::webhooks=debug";
    let expiring = |g: &[Value]| {
        of_type(g, "api_key.expiring")
            .iter()
            .filter(|e| e["event"]["data"]["key_id"] == kid.as_str())
            .count()
    };
    let mut srv = serve_skewed_logging(&data, offset, &extra, level);
    r.wait_for(WITHIN, |g| expiring(g) >= 1).await;
    srv.stop();
    // Restarted: its first pass and the next one find the notice sent already.
    let srv = serve_skewed_logging(&data, offset, &extra, level);
    wait_log_count(
        &srv,
        "webhook notice already added",
        2,
        Duration::from_secs(200),
    )
    .await;
    let got = r.received();
    assert_eq!(expiring(&got), 1, "{got:#?}");
    assert_eq!(of_type(&got, "api_key.expiring").len(), 1, "{got:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_notices_come_seven_days_and_one_day_before_under_faketime() {
    let secret = new_secret();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_, file_arg) = secrets_file(dir.path(), &[&secret]);
    // Today: a key for 8 days (less an hour) and one for 3 days.
    let now = chrono::Utc::now();
    let at = |d: chrono::Duration| (now + d).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (long, short) = {
        let mut srv = Server::start_in(&data, &[]);
        let api = Api::new(&srv);
        let sid = api.create_service("reports").await;
        let long = api
            .issue(
                &sid,
                json!({"expires_at": at(chrono::Duration::hours(8 * 24 - 1))}),
            )
            .await
            .expect(201);
        let short = api
            .issue(&sid, json!({"expires_at": at(chrono::Duration::days(3))}))
            .await
            .expect(201);
        srv.stop();
        (
            long["id"].as_str().unwrap().to_string(),
            short["id"].as_str().unwrap().to_string(),
        )
    };
    let expiring = |g: &[Value], kid: &str| {
        of_type(g, "api_key.expiring")
            .iter()
            .filter(|e| e["event"]["data"]["key_id"] == kid)
            .count()
    };
    let mut received = Vec::new();
    // +1 day: the long key's 7-day notice; the 3-day key never had 7 days ahead of it.
    // +2 days 2 hours: the 3-day key's 1-day notice. +7 days: the long key's 1-day notice.
    for (offset, kid, want) in [("+1d", &long, 1), ("+50h", &short, 1), ("+7d", &long, 2)] {
        let port = free_port();
        let r = Receiver::start_on(port, &secret, &faketime_env(offset));
        let url = format!("http://127.0.0.1:{port}/hook");
        let mut srv = serve_skewed(
            &data,
            offset,
            &["--webhook", &url, "--webhook-secret-file", &file_arg],
        );
        // Earlier stages' events arrived at earlier receivers.
        let before: Vec<Value> = received.clone();
        let got = r
            .wait_for(WITHIN, |g| {
                let all: Vec<Value> = before.iter().chain(g).cloned().collect();
                expiring(&all, kid) >= want
            })
            .await;
        srv.stop();
        received.extend(got);
    }
    assert_eq!(expiring(&received, &long), 2, "{received:#?}");
    assert_eq!(expiring(&received, &short), 1, "{received:#?}");
    for e in of_type(&received, "api_key.expiring") {
        assert!(e["event"]["data"]["expires_at"].is_string(), "{e:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_key_still_called_is_told_once_a_day() {
    let secret = new_secret();
    let r = Receiver::start(&secret);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_, file_arg) = secrets_file(dir.path(), &[&secret]);
    let url = r.url();
    let extra = [
        "--webhook",
        url.as_str(),
        "--webhook-secret-file",
        file_arg.as_str(),
        "--verify-failures-per-minute",
        "1000",
    ];
    let level = "info,ragkeys::server::webhooks=debug";
    let mut srv = Server::start_in_logging(&data, &extra, level);
    let api = Api::new(&srv);
    let sid = api.create_service("ingest").await;
    let (kid, key) = api.issue_ok(&sid).await;
    let r2 = api
        .call(
            Method::PATCH,
            &format!("/v1/services/{sid}/api-keys/{kid}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(r2.status, 200, "{}", r2.text);
    for _ in 0..3 {
        assert_eq!(api.verify(&key).await.status, 401);
    }
    // Counted on the verify path, written once a minute, told by the next pass.
    let got = r
        .wait_for(Duration::from_secs(200), |g| {
            !of_type(g, "api_key.disabled_still_called").is_empty()
        })
        .await;
    let e = &of_type(&got, "api_key.disabled_still_called")[0]["event"];
    assert_eq!(e["data"]["key_id"], kid.as_str());
    // Called again the same day: the next pass tells nobody.
    for _ in 0..3 {
        assert_eq!(api.verify(&key).await.status, 401);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(200);
    while !srv.log().contains("already told today") {
        assert!(std::time::Instant::now() < deadline, "{}", srv.log());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        of_type(&r.received(), "api_key.disabled_still_called").len(),
        1
    );
    assert_no_secret("the log", &srv.log(), &[&key, &secret]);
    // Restarted the same day: the store remembers it was told.
    srv.stop();
    let srv = Server::start_in_logging(&data, &extra, level);
    let api = Api::new(&srv);
    for _ in 0..3 {
        assert_eq!(api.verify(&key).await.status, 401);
    }
    wait_log_count(
        &srv,
        "webhook notice already added",
        1,
        Duration::from_secs(200),
    )
    .await;
    assert_eq!(
        of_type(&r.received(), "api_key.disabled_still_called").len(),
        1,
        "{:#?}",
        r.received()
    );
}

/// A retired key has left the list, but a client still sending it is told about all the same:
/// its tombstone names it as the `api_key.retired` event did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_key_still_called_is_told_with_what_its_retirement_said() {
    let secret = new_secret();
    let r = Receiver::start(&secret);
    let dir = tempfile::tempdir().unwrap();
    let (_, file_arg) = secrets_file(dir.path(), &[&secret]);
    let url = r.url();
    let extra = [
        "--webhook",
        url.as_str(),
        "--webhook-secret-file",
        file_arg.as_str(),
    ];
    let srv = Server::start_in(&dir.path().join("data"), &extra);
    let api = Api::new(&srv);
    let sid = api.create_service("billing").await;
    let issued = api
        .call(
            Method::POST,
            &format!("/v1/services/{sid}/api-keys"),
            Some(json!({"name": "billing worker"})),
        )
        .await;
    assert_eq!(issued.status, 201, "{}", issued.text);
    let (kid, key) = (
        issued.json()["id"].as_str().unwrap().to_string(),
        issued.json()["key"].as_str().unwrap().to_string(),
    );
    let successor = retire(&api, &sid, &kid).await;
    let got = r
        .wait_for(WITHIN, |g| !of_type(g, "api_key.retired").is_empty())
        .await;
    let retired = of_type(&got, "api_key.retired")[0]["event"]["data"].clone();
    for _ in 0..3 {
        assert_eq!(api.verify(&key).await.status, 401);
    }
    assert_eq!(api.verify(&successor).await.status, 200);
    // Counted on the verify path, written once a minute, told by the next pass.
    let got = r
        .wait_for(Duration::from_secs(200), |g| {
            !of_type(g, "api_key.disabled_still_called").is_empty()
        })
        .await;
    let told = &of_type(&got, "api_key.disabled_still_called")[0]["event"];
    assert_eq!(told["data"], retired, "named as its retirement named it");
    assert_eq!(told["data"]["key_id"], kid.as_str());
    assert_eq!(told["data"]["name"], "billing worker");
    assert_eq!(told["data"]["service_name"], "billing");
    assert_no_secret("the log", &srv.log(), &[&key, &successor, &secret]);
    for e in r.received() {
        assert_no_secret("a webhook", &e.to_string(), &[&key, &successor, &secret]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_send_each_event_once() {
    let _one = common::replicas::one_at_a_time().await;
    let secret = new_secret();
    let r = Receiver::start(&secret);
    let db = common::pg::fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let (_, file_arg) = secrets_file(dir.path(), &[&secret]);
    let url = r.url();
    let extra = [
        "--webhook",
        url.as_str(),
        "--webhook-secret-file",
        file_arg.as_str(),
    ];
    let extra_m = [&extra[..], &["--metrics-listen", "127.0.0.1:0"]].concat();
    let a = common::replicas::replica(&db.url, dir.path(), "a", &extra_m);
    let b = common::replicas::replica(&db.url, dir.path(), "b", &extra_m);
    let token = common::replicas::bootstrap_token(&[a.data_dir.clone(), b.data_dir.clone()]);
    let (api_a, api_b) = (
        Api::at(a.url()).as_token(&token),
        Api::at(b.url()).as_token(&token),
    );
    common::replicas::wait_ready(&api_a, WITHIN).await;
    common::replicas::wait_ready(&api_b, WITHIN).await;
    let sid = api_a.create_service("shared").await;
    // One key rotated again and again, on each replica in turn: one retirement each time,
    // within the key limit.
    const N: usize = 6;
    let (mut kid, _) = api_a.issue_ok(&sid).await;
    for i in 0..N {
        let api = if i % 2 == 0 { &api_a } else { &api_b };
        let r = api
            .call(
                Method::POST,
                &format!("/v1/services/{sid}/api-keys/{kid}/rotate"),
                Some(json!({"grace_seconds": 0})),
            )
            .await;
        assert_eq!(r.status, 201, "rotate: {}", r.text);
        kid = r.json()["id"].as_str().unwrap().to_string();
    }
    r.wait_for(WITHIN, |g| g.len() >= N).await;
    // Every delivery counted by the replica that sent it, and the shared outbox empty: nothing
    // more can be sent.
    let murls = [metrics_url(&a), metrics_url(&b)];
    let deadline = std::time::Instant::now() + WITHIN;
    loop {
        let mut total = 0.0;
        let mut pending = 0.0;
        for murl in &murls {
            let (_, s) = scrape(&common::http(), murl).await;
            total += s
                .get(&deliveries("api_key.retired", "delivered"))
                .copied()
                .unwrap_or(0.0);
            pending += s.get("ragkeys_webhook_pending").copied().unwrap_or(1.0);
        }
        assert!(total <= N as f64, "a delivery was sent twice: {total}");
        if total == N as f64 && pending == 0.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "delivered {total}, pending {pending}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let got = r.received();
    assert_eq!(got.len(), N, "{got:#?}");
    assert!(ids(&got).values().all(|n| *n == 1), "{got:#?}");
}
