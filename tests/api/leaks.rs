//! Leaked keys (docs/api.md, Leaked keys): GitHub's signed reports on `POST /v1/leaks/github`
//! and an admin's on `POST /v1/leaks`, against a real service, signed with the test's own key
//! pair whose public key is in the keys file.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::api::{Api, bad_checksum, unknown_api_key};
use crate::common::github::{self, SigningKey, body, entry, report, token_hash};
use crate::common::raw::{assert_raw_error, raw_exchange};
use crate::common::{Server, http};

/// A service reading its keys file from a temp dir, with the key "k1" (current) and "k0" (not
/// current) in it.
struct Setup {
    srv: Server,
    api: Api,
    current: SigningKey,
    old: SigningKey,
    dir: tempfile::TempDir,
}

fn start(extra: &[&str]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (current, old) = (SigningKey::new("k1"), SigningKey::new("k0"));
    let file = github::write_keys(dir.path(), &[(&current, true), (&old, false)]);
    let mut args = vec!["--leak-report-keys", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let srv = Server::start_with(&args);
    let api = Api::new(&srv);
    Setup {
        srv,
        api,
        current,
        old,
        dir,
    }
}

async fn leak_events(api: &Api) -> Vec<Value> {
    let r = api.get("/v1/audit?action=api_key.leak&limit=500").await;
    r.expect(200)["events"].as_array().unwrap().clone()
}

fn key_of(list: &Value, kid: &str) -> Option<Value> {
    list["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == kid)
        .cloned()
}

fn labels(answer: &Value) -> Vec<String> {
    answer
        .as_array()
        .expect("the feedback array")
        .iter()
        .map(|f| f["label"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_signed_report_stops_our_keys_and_labels_every_token() {
    let s = start(&[]);
    let api = &s.api;
    let sid = api.create_service("leaky").await;
    let (live_id, live) = api.issue_ok(&sid).await;
    let (gone_id, gone) = api.issue_ok(&sid).await;
    let (off_id, off) = api.issue_ok(&sid).await;
    let (rot_id, rot) = api.issue_ok(&sid).await;
    api.delete_key(&sid, &gone_id).await.expect(204);
    let path = |k: &str| format!("/v1/services/{sid}/api-keys/{k}");
    api.call(
        Method::PATCH,
        &path(&off_id),
        Some(json!({"enabled": false})),
    )
    .await
    .expect(200);
    let successor = api
        .call(
            Method::POST,
            &format!("{}/rotate", path(&rot_id)),
            Some(json!({"grace_seconds": 3600})),
        )
        .await
        .expect(201);
    let successor_key = successor["key"].as_str().unwrap().to_string();
    api.verify(&live).await.expect(200);
    api.verify(&rot).await.expect(200);

    let other_vendor = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";
    let forged = bad_checksum(&live);
    let entries = [
        entry(&live, "https://github.com/o/r/blob/main/.env"),
        entry(&gone, ""),
        entry(&forged, ""),
        entry(other_vendor, ""),
        entry(&off, "https://github.com/o/r/commit/1"),
        entry(&rot, ""),
    ];
    // Signed with the key that is no longer current: it still verifies.
    let answer = report(&http(), &s.srv.url(), &s.old, body(&entries)).await;
    let feedback = answer.expect(200);
    assert_eq!(
        labels(&feedback),
        [
            "true_positive",
            "true_positive",
            "false_positive",
            "false_positive",
            "true_positive",
            "true_positive"
        ]
    );
    let sent = [&live, &gone, &forged, other_vendor, &off, &rot];
    for (f, token) in feedback.as_array().unwrap().iter().zip(sent) {
        assert_eq!(f["token_hash"], token_hash(token));
        assert_eq!(f["token_type"], "ragkeys_api_key");
    }
    // Refused on the very next verify.
    api.verify(&live).await.expect_error(401, "invalid_api_key");
    api.verify(&rot).await.expect_error(401, "invalid_api_key");
    api.verify(&successor_key).await.expect(200);

    let list = api.list(&sid).await;
    let k = key_of(&list, &live_id).expect("the leaked key is listed");
    assert_eq!(k["state"], "disabled");
    assert_eq!(k["leak"]["by"], "github");
    assert_eq!(k["leak"]["url"], "https://github.com/o/r/blob/main/.env");
    assert_eq!(k["leak"]["source"], "content");
    let k = key_of(&list, &off_id).expect("the disabled key is listed");
    assert_eq!(k["state"], "disabled");
    assert_eq!(k["leak"]["by"], "github");
    assert!(key_of(&list, &rot_id).is_none(), "the rotating key retired");
    let succ = key_of(&list, successor["id"].as_str().unwrap()).unwrap();
    assert_eq!(succ["state"], "active");
    assert!(succ["leak"].is_null());

    let events = leak_events(api).await;
    assert_eq!(events.len(), 3, "{events:?}");
    for e in &events {
        assert_eq!(e["actor"], "github");
        assert_eq!(e["role"], "system");
        assert_eq!(e["source"], "content");
    }
    let live_event = events.iter().find(|e| e["key_id"] == live_id).unwrap();
    assert_eq!(live_event["url"], "https://github.com/o/r/blob/main/.env");
    let rot_event = events.iter().find(|e| e["key_id"] == rot_id).unwrap();
    assert!(rot_event["url"].is_null(), "an empty url is null");

    // The same report again: the same answer, nothing written.
    let again = report(&http(), &s.srv.url(), &s.current, body(&entries)).await;
    assert_eq!(again.expect(200), feedback);
    assert_eq!(leak_events(api).await.len(), 3);
}

/// The GitHub headers of one forged request.
type Headers = Vec<(&'static str, String)>;

#[tokio::test]
async fn a_report_not_signed_by_a_known_key_is_401_and_touches_nothing() {
    let s = start(&["--verify-failures-per-minute", "2"]);
    let api = &s.api;
    let sid = api.create_service("leaky").await;
    let (_, live) = api.issue_ok(&sid).await;
    let base = s.srv.url();
    let signed = body(&[entry(&live, "")]);
    let sig = s.current.sign(&signed);
    let stranger = SigningKey::new("k1");
    let mut changed = signed.clone();
    let at = changed.len() - 3;
    changed[at] = b' ';
    let cases: Vec<(Vec<u8>, Headers)> = vec![
        // One byte changed.
        (
            changed,
            vec![
                ("Github-Public-Key-Identifier", "k1".into()),
                ("Github-Public-Key-Signature", sig.clone()),
            ],
        ),
        // An identifier not in the file.
        (
            signed.clone(),
            vec![
                ("Github-Public-Key-Identifier", "k9".into()),
                ("Github-Public-Key-Signature", sig.clone()),
            ],
        ),
        // Signed by a key that is not the one the file names.
        (
            signed.clone(),
            vec![
                ("Github-Public-Key-Identifier", "k1".into()),
                ("Github-Public-Key-Signature", stranger.sign(&signed)),
            ],
        ),
        (
            signed.clone(),
            vec![("Github-Public-Key-Identifier", "k1".into())],
        ),
        (
            signed.clone(),
            vec![("Github-Public-Key-Signature", sig.clone())],
        ),
        (signed.clone(), vec![]),
        (
            signed.clone(),
            vec![
                ("Github-Public-Key-Identifier", "k1".into()),
                ("Github-Public-Key-Signature", "not base64 at all".into()),
            ],
        ),
    ];
    for (i, (b, headers)) in cases.into_iter().enumerate() {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = github::post_raw(&http(), &base, b, &headers).await;
        r.expect_error(401, "invalid_signature");
        assert_eq!(r.status, 401, "case {i}");
    }
    api.verify(&live).await.expect(200);
    assert!(leak_events(api).await.is_empty());
    // None of them counted toward the per-address failure limit (2 a minute here).
    let r = api
        .post(
            "/v1/whois",
            Some(&s.srv.token),
            &json!({"key": unknown_api_key()}),
        )
        .await;
    r.expect_error(404, "api_key_not_found");
    // A signed body that is not an array of objects.
    for bad in [&b"{}"[..], b"[1]", b"not json"] {
        let r = report(&http(), &base, &s.current, bad.to_vec()).await;
        r.expect_error(400, "invalid_request");
    }
}

#[tokio::test]
async fn without_a_keys_file_the_route_does_not_exist() {
    let srv = Server::start();
    let k = SigningKey::new("k1");
    let r = report(&http(), &srv.url(), &k, body(&[entry("x", "")])).await;
    r.expect_error(404, "not_found");
}

#[test]
fn an_unreadable_keys_file_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    for (name, contents) in [
        ("missing.json", None),
        ("broken.json", Some("{\"public_keys\":")),
    ] {
        let path = dir.path().join(name);
        if let Some(c) = contents {
            std::fs::write(&path, c).unwrap();
        }
        let out = std::process::Command::new(crate::common::BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--leak-report-keys")
            .arg(&path)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("leak report keys"), "{err}");
    }
}

/// Polls `check` until it holds (a SIGHUP is handled asynchronously).
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sighup_rereads_the_keys_file_and_keeps_the_old_keys_when_it_is_broken() {
    let s = start(&[]);
    let base = s.srv.url();
    let empty = body(&[]);
    let newer = SigningKey::new("k2");
    report(&http(), &base, &newer, empty.clone())
        .await
        .expect_error(401, "invalid_signature");
    github::write_keys(s.dir.path(), &[(&newer, true)]);
    s.srv.signal(libc::SIGHUP);
    until("the new key verifies", || async {
        report(&http(), &base, &newer, empty.clone()).await.status == 200
    })
    .await;
    report(&http(), &base, &s.current, empty.clone())
        .await
        .expect_error(401, "invalid_signature");
    // A broken file: the keys loaded stay, and the log says why.
    std::fs::write(s.dir.path().join("github-keys.json"), "{not json").unwrap();
    s.srv.signal(libc::SIGHUP);
    until("the log says the old keys are kept", || async {
        s.srv.log().contains("keeping the leak report keys")
    })
    .await;
    report(&http(), &base, &newer, empty).await.expect(200);
}

#[tokio::test]
async fn a_batch_of_1000_tokens_is_answered_in_order() {
    let s = start(&[]);
    let api = &s.api;
    let sid = api.create_service("leaky").await;
    let mut ours = Vec::new();
    for _ in 0..5 {
        ours.push(api.issue_ok(&sid).await.1);
    }
    let mut tokens = Vec::new();
    for i in 0..1000 {
        tokens.push(match i % 200 {
            0 => ours[i / 200].clone(),
            1 => bad_checksum(&unknown_api_key()),
            2 => format!("ghp_{i:036}"),
            _ => unknown_api_key(),
        });
    }
    let entries: Vec<Value> = tokens.iter().map(|t| entry(t, "")).collect();
    let b = body(&entries);
    assert!(b.len() > 16 * 1024, "over the common body limit");
    let answer = report(&http(), &s.srv.url(), &s.current, b).await;
    let feedback = answer.expect(200);
    let got = feedback.as_array().unwrap();
    assert_eq!(got.len(), 1000);
    for (i, (f, t)) in got.iter().zip(&tokens).enumerate() {
        assert_eq!(f["token_hash"], token_hash(t), "entry {i}");
        let want = if i % 200 == 0 {
            "true_positive"
        } else {
            "false_positive"
        };
        assert_eq!(f["label"], want, "entry {i}");
    }
    for k in &ours {
        api.verify(k).await.expect_error(401, "invalid_api_key");
    }
    // Over 1 MiB is refused, signed or not, from the declared length: on a raw socket, since
    // the service answers and closes while a polite client may still be writing the body.
    let big = vec![b' '; 1024 * 1024 + 1];
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Github-Public-Key-Identifier: {}\r\nGithub-Public-Key-Signature: {}\r\n\
         Content-Length: {}\r\n\r\n",
        github::ROUTE,
        s.srv.addr,
        s.current.id,
        s.current.sign(&big),
        big.len()
    );
    let r = raw_exchange(s.srv.addr, &head, &[big]).await;
    assert_raw_error(&r, 413, "payload_too_large");
}

#[tokio::test]
async fn an_admin_reports_a_key_it_found() {
    let s = start(&["--verify-failures-per-minute", "3"]);
    let api = &s.api;
    let sid = api.create_service("leaky").await;
    let (kid, key) = api.issue_ok(&sid).await;
    let viewer = s.srv.create_token("watcher", "viewer");
    let r = api
        .post("/v1/leaks", Some(&viewer), &json!({"key": key}))
        .await;
    r.expect_error(403, "forbidden");
    api.verify(&key).await.expect(200);

    let r = api
        .post(
            "/v1/leaks",
            Some(&s.srv.token),
            &json!({"key": key, "url": "https://tickets.example/42"}),
        )
        .await;
    let answer = r.expect(200);
    assert_eq!(answer["service_id"], sid);
    assert_eq!(answer["api_key"]["id"], kid);
    assert_eq!(answer["api_key"]["state"], "disabled");
    assert_eq!(answer["api_key"]["leak"]["by"], "admin");
    assert_eq!(
        answer["api_key"]["leak"]["url"],
        "https://tickets.example/42"
    );
    assert!(answer["api_key"]["leak"]["source"].is_null());
    api.verify(&key).await.expect_error(401, "invalid_api_key");
    // The viewer's refused attempt is audited too, with its outcome.
    let all = leak_events(api).await;
    assert!(
        all.iter()
            .any(|e| e["outcome"] == "forbidden" && e["actor"] == "watcher")
    );
    let events: Vec<_> = all.into_iter().filter(|e| e["outcome"] == "ok").collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["actor"], "admin");
    assert_eq!(events[0]["role"], "manager");
    assert_eq!(events[0]["url"], "https://tickets.example/42");

    // Enabling it again works as any enable, and keeps the record.
    let path = format!("/v1/services/{sid}/api-keys/{kid}");
    let enabled = api
        .call(Method::PATCH, &path, Some(json!({"enabled": true})))
        .await
        .expect(200);
    assert_eq!(enabled["state"], "active");
    assert_eq!(enabled["leak"]["by"], "admin");
    api.verify(&key).await.expect(200);

    // Unknown, malformed and deleted keys: one 404, counted toward the failure limit.
    let (gone_id, gone) = api.issue_ok(&sid).await;
    api.delete_key(&sid, &gone_id).await.expect(204);
    for k in [unknown_api_key(), "ragk_nope".to_string(), gone] {
        let r = api
            .post("/v1/leaks", Some(&s.srv.token), &json!({"key": k}))
            .await;
        r.expect_error(404, "api_key_not_found");
    }
    let r = api
        .post(
            "/v1/leaks",
            Some(&s.srv.token),
            &json!({"key": unknown_api_key()}),
        )
        .await;
    r.expect_error(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
}

#[tokio::test]
async fn a_leaked_stopped_key_rotates_without_grace() {
    let s = start(&[]);
    let api = &s.api;
    let sid = api.create_service("leaky").await;
    let (kid, key) = api.issue_ok(&sid).await;
    report(&http(), &s.srv.url(), &s.current, body(&[entry(&key, "")]))
        .await
        .expect(200);
    let rotate = format!("/v1/services/{sid}/api-keys/{kid}/rotate");
    let successor = api
        .call(Method::POST, &rotate, Some(json!({"grace_seconds": 3600})))
        .await
        .expect(201);
    let new_key = successor["key"].as_str().unwrap();
    api.verify(new_key).await.expect(200);
    api.verify(&key).await.expect_error(401, "invalid_api_key");
    assert_eq!(
        api.list_ids(&sid).await,
        [successor["id"].as_str().unwrap()],
        "the leaked key left the list at once"
    );
    // Reported again: its tombstone makes it ours, with nothing to do.
    let again = report(&http(), &s.srv.url(), &s.current, body(&[entry(&key, "")])).await;
    assert_eq!(labels(&again.expect(200)), ["true_positive"]);
    api.verify(new_key).await.expect(200);
}

/// Where a key was found reaches terminals, audit readers and webhook receivers: an admin's URL
/// with control characters or over 2,048 characters is refused, while GitHub's (signed, never
/// refused for it) is kept without them and cut to that length.
#[tokio::test]
async fn the_url_of_a_report_never_carries_control_characters_or_megabytes() {
    let s = start(&[]);
    let api = &s.api;
    let sid = api.create_service("leaky").await;
    let (kid, key) = api.issue_ok(&sid).await;
    for url in [
        "https://chat.example/t/1\u{1b}[31m".to_string(),
        format!("https://chat.example/{}", "a".repeat(2048)),
    ] {
        let r = api
            .post(
                "/v1/leaks",
                Some(&s.srv.token),
                &json!({"key": key, "url": url}),
            )
            .await;
        let err = r.expect_error(400, "invalid_request");
        assert!(err.contains("url"), "{err}");
    }
    // Nothing happened: the key still verifies, no leak recorded.
    api.verify(&key).await.expect(200);
    assert!(leak_events(api).await.iter().all(|e| e["outcome"] != "ok"));

    let mut e = entry(
        &key,
        &format!(
            "https://github.com/o/r\u{7}\u{1b}]0;x{}",
            "b".repeat(300_000)
        ),
    );
    e["source"] = json!("\u{1b}[2Jcontent\u{202e}");
    report(&http(), &s.srv.url(), &s.current, body(&[e]))
        .await
        .expect(200);
    let list = api.list(&sid).await;
    let leak = &key_of(&list, &kid).expect("the key")["leak"];
    let url = leak["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://github.com/o/r]0;xbbb"),
        "{url:.60}"
    );
    assert_eq!(url.chars().count(), 2048);
    assert_eq!(leak["source"], "[2Jcontent");
}
