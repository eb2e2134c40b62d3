//! The service as an operator meets it: the data dir, the pepper, admin tokens from the command
//! line while it runs, signals, TLS, and the embedded mode of the console.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use super::backend::Server;
use crate::common::api::Api;
use crate::common::serve_refused;

/// The harness records a line just after it reports it: give it a moment.
pub fn wait_for_log(server: &crate::common::Server, needle: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if server.log().contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[tokio::test]
async fn tokens_are_created_listed_and_revoked_while_the_service_runs() {
    let server = Server::start();
    let api = Api::new(&server);

    let out = server.tokens(&["create", "--name", "ci-bot", "--role", "manager"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.ends_with('\n') && stdout.lines().count() == 1,
        "{stdout:?}"
    );
    let token = stdout.trim_end().to_string();
    assert!(token.starts_with("ragadm_") && token.len() == 43);
    // Usable at once by the running service.
    let me = api.get_as("/v1/me", Some(&token)).await;
    assert_eq!(me.expect(200), json!({"name": "ci-bot", "role": "manager"}));

    let dup = server.tokens(&["create", "--name", "ci-bot", "--role", "viewer"]);
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    assert!(dup.stdout.is_empty());
    for bad in ["", &"n".repeat(51), "tab\tname"] {
        let r = server.tokens(&["create", "--name", bad, "--role", "viewer"]);
        assert!(!r.status.success(), "name {bad:?}");
        assert!(r.stdout.is_empty());
    }

    let list = server.tokens(&["list"]);
    assert!(list.status.success());
    let text = String::from_utf8(list.stdout).unwrap();
    for needle in [
        "NAME",
        "ROLE",
        "CREATED",
        "MASKED",
        "admin",
        "ci-bot",
        "manager",
        &token[..9],
        &token[39..],
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    assert!(
        !text.contains(&token) && !text.contains(&server.token),
        "never the token"
    );

    let revoke = server.tokens(&["revoke", "ci-bot"]);
    assert!(revoke.status.success());
    // The very next request with it fails.
    api.get_as("/v1/me", Some(&token))
        .await
        .expect_error(401, "unauthorized");
    let missing = server.tokens(&["revoke", "ci-bot"]);
    assert_eq!(missing.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("ci-bot"));
    assert!(!String::from_utf8_lossy(&server.tokens(&["list"]).stdout).contains("ci-bot"));
}

#[tokio::test]
async fn sigterm_finishes_cleanly_with_exit_0() {
    let mut server = Server::start();
    let api = Api::new(&server);
    let svc = api.create_service_as(&server.token, "signals").await;
    let key = api.issue_as(&server.token, &svc).await;
    assert_eq!(server.stop(), Some(0));
    let log = server.log();
    assert!(log.contains("stopped"), "{log}");
    // Everything committed before the stop is there after it.
    let server = server.place().start(&[]);
    let api = Api::new(&server);
    api.verify(key["key"].as_str().unwrap()).await.expect(200);
}

fn self_signed(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.cert.pem()).unwrap();
    std::fs::write(&k, cert.signing_key.serialize_pem()).unwrap();
    (c, k)
}

#[tokio::test]
async fn tls_serves_https_and_bad_files_are_refused() {
    ragkeys::client::install_crypto_provider();
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(tmp.path());
    let server = Server::start_with(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(wait_for_log(&server, "(https)"), "{}", server.log());
    let client = reqwest::Client::builder()
        .tls_certs_merge(
            reqwest::Certificate::from_pem_bundle(&std::fs::read(&cert).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/v1/me", server.addr.port());
    let r = client
        .get(&url)
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Plain HTTP to the TLS port gets no answer as HTTP.
    assert!(
        crate::common::http()
            .get(format!("{}/healthz", server.url()))
            .send()
            .await
            .is_err()
    );

    let data = tmp.path().join("data");
    let garbage = tmp.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    for (c, k, needle) in [
        (garbage.clone(), key.clone(), "certificate"),
        (cert.clone(), garbage.clone(), "private key"),
        (tmp.path().join("missing.pem"), key.clone(), "missing.pem"),
        (cert.clone(), cert.clone(), "key"),
    ] {
        let (code, stderr, _) = serve_refused(
            &data,
            &[
                "--tls-cert",
                c.to_str().unwrap(),
                "--tls-key",
                k.to_str().unwrap(),
            ],
        );
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains(needle), "{needle}: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let mut server = Server::start_with(&["--key-limit", "1000"]);
    let api = std::sync::Arc::new(Api::new(&server));
    let svc = api.create_service_as(&server.token, "draining").await;
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let (api, token, svc) = (api.clone(), server.token.clone(), svc.clone());
        tasks.push(tokio::spawn(async move {
            let url = format!("{}/v1/services/{svc}/api-keys", api.base);
            let sent = api
                .http
                .post(url)
                .bearer_auth(&token)
                .json(&json!({}))
                .send()
                .await;
            match sent {
                Ok(r) => Some((r.status().as_u16(), r.text().await.ok())),
                // Not yet accepted when the listener closed: never started, nothing to finish.
                Err(_) => None,
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    let stopper = tokio::task::spawn_blocking(move || {
        let code = server.stop();
        (code, server)
    });
    let mut issued = Vec::new();
    for t in tasks {
        if let Some((status, body)) = t.await.unwrap() {
            assert_eq!(status, 201, "an in-flight request was cut short: {body:?}");
            let body: serde_json::Value = serde_json::from_str(&body.unwrap()).unwrap();
            issued.push(body["key"].as_str().unwrap().to_string());
        }
    }
    let (code, server) = stopper.await.unwrap();
    assert_eq!(code, Some(0));
    assert!(!issued.is_empty(), "no request got through before the stop");
    let again = server.place().start(&[]);
    let api = Api::new(&again);
    for key in &issued {
        api.verify(key).await.expect(200);
    }
}
