//! The service as an operator meets it: the data dir, the pepper, admin tokens from the command
//! line while it runs, signals, TLS, and the embedded mode of the console.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{BIN, Server, tokens};
use crate::support::Api;

/// Runs `ragkeys serve` expecting it to refuse to start: returns (exit code, stderr).
fn serve_refused(dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve did not refuse to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The harness records a line just after it reports it: give it a moment.
fn wait_for_log(server: &Server, needle: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if server.log().contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_data_dir_is_private_and_the_first_token_is_written_for_the_operator() {
    let mut server = Server::start();
    let dir = server.data_dir.clone();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("pepper")), 0o600);
    assert_eq!(mode(&dir.join("admin.token")), 0o600);
    for db in ["ragkeys.db", "ragkeys.db-wal", "ragkeys.db-shm"] {
        assert_eq!(mode(&dir.join(db)), 0o600, "{db}");
    }
    let file = std::fs::read_to_string(dir.join("admin.token")).unwrap();
    assert_eq!(file, format!("{}\n", server.token));
    assert!(server.token.starts_with("ragadm_") && server.token.len() == 43);
    let path = dir.join("admin.token").display().to_string();
    assert!(wait_for_log(&server, &path), "{}", server.log());
    let log = server.log();
    assert!(
        !log.contains(&server.token),
        "the token itself is never logged"
    );
    assert_eq!(server.stop(), Some(0));
    // A second start with tokens present does not make another.
    std::fs::remove_file(dir.join("admin.token")).unwrap();
    let mut again = Server::start_in(&dir, &[]);
    assert!(!dir.join("admin.token").exists());
    assert_eq!(again.stop(), Some(0));
}

#[tokio::test]
async fn tokens_are_created_listed_and_revoked_while_the_service_runs() {
    let server = Server::start();
    let api = Api::new(&server);
    let dir = server.data_dir.clone();

    let out = tokens(&dir, &["create", "--name", "ci-bot", "--role", "manager"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.ends_with('\n') && stdout.lines().count() == 1,
        "{stdout:?}"
    );
    let token = stdout.trim_end().to_string();
    assert!(token.starts_with("ragadm_") && token.len() == 43);
    // Usable at once by the running service.
    let me = api.get("/v1/me", Some(&token)).await;
    assert_eq!(
        me.expect(200),
        &json!({"name": "ci-bot", "role": "manager"})
    );

    let dup = tokens(&dir, &["create", "--name", "ci-bot", "--role", "viewer"]);
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    assert!(dup.stdout.is_empty());
    for bad in ["", &"n".repeat(51), "tab\tname"] {
        let r = tokens(&dir, &["create", "--name", bad, "--role", "viewer"]);
        assert!(!r.status.success(), "name {bad:?}");
        assert!(r.stdout.is_empty());
    }

    let list = tokens(&dir, &["list"]);
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

    let revoke = tokens(&dir, &["revoke", "ci-bot"]);
    assert!(revoke.status.success());
    // The very next request with it fails.
    api.get("/v1/me", Some(&token))
        .await
        .expect_error(401, "unauthorized");
    let missing = tokens(&dir, &["revoke", "ci-bot"]);
    assert_eq!(missing.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("ci-bot"));
    assert!(!String::from_utf8_lossy(&tokens(&dir, &["list"]).stdout).contains("ci-bot"));
}

#[tokio::test]
async fn a_pepper_others_can_read_is_refused() {
    let mut server = Server::start();
    let dir = server.data_dir.clone();
    assert_eq!(server.stop(), Some(0));
    let pepper = dir.join("pepper");
    std::fs::set_permissions(&pepper, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, stderr) = serve_refused(&dir, &[]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("pepper") && stderr.contains("chmod 600"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
    std::fs::set_permissions(&pepper, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut back = Server::start_in(&dir, &[]);
    assert_eq!(back.stop(), Some(0));

    // An explicit --pepper-file is checked the same way, and a foreign one is refused.
    let other = dir.parent().unwrap().join("other-pepper");
    std::fs::write(&other, [9u8; 32]).unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (code, stderr) = serve_refused(&dir, &["--pepper-file", other.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("readable by group or others"), "{stderr}");
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, stderr) = serve_refused(&dir, &["--pepper-file", other.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("does not belong"), "{stderr}");
}

#[tokio::test]
async fn a_newer_database_or_an_unusable_data_dir_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    {
        let c = rusqlite::Connection::open(dir.join("ragkeys.db")).unwrap();
        c.pragma_update(None, "user_version", 999).unwrap();
    }
    let (code, stderr) = serve_refused(&dir, &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("newer"), "{stderr}");
    assert!(!stderr.contains("panicked"));

    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let (code, stderr) = serve_refused(&file.join("data"), &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("data dir"), "{stderr}");
}

#[tokio::test]
async fn sigterm_finishes_cleanly_with_exit_0() {
    let mut server = Server::start();
    let api = Api::new(&server);
    let svc = api.create_service(&server.token, "signals").await;
    let key = api.issue(&server.token, &svc).await;
    assert_eq!(server.stop(), Some(0));
    let log = server.log();
    assert!(log.contains("stopped"), "{log}");
    // Everything committed before the stop is there after it.
    let server = Server::start_in(&server.data_dir.clone(), &[]);
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
        let (code, stderr) = serve_refused(
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
async fn the_embedded_service_makes_its_own_token_and_a_demo_service_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let embedded = ragkeys::server::start_embedded(&dir).await.unwrap();
    let endpoint = embedded.endpoint();
    assert!(endpoint.starts_with("http://127.0.0.1:"));
    let token = embedded.token().expose().to_string();
    let api = Api::at(endpoint.clone());
    let name = embedded.token_name().to_string();
    assert!(
        name.starts_with(&format!("local-console@{}", std::process::id())),
        "{name}"
    );
    let me = api.get("/v1/me", Some(&token)).await;
    assert_eq!(me.expect(200), &json!({"name": name, "role": "manager"}));
    let list = api.get("/v1/services", Some(&token)).await;
    let services = list.expect(200)["services"].as_array().unwrap().clone();
    assert_eq!(services.len(), 1);
    assert_eq!(services[0]["name"], "rag-demo");
    assert_eq!(services[0]["description"], "Demo retrieval service");
    assert!(
        !dir.join("admin.token").exists(),
        "the console's token is never written"
    );
    let demo = services[0]["id"].as_str().unwrap().to_string();
    api.delete(&format!("/v1/services/{demo}"), Some(&token))
        .await
        .expect(204);
    embedded.shutdown().await;

    let again = ragkeys::server::start_embedded(&dir).await.unwrap();
    let api = Api::at(again.endpoint());
    let fresh = again.token().expose().to_string();
    assert_ne!(fresh, token);
    api.get("/v1/me", Some(&token))
        .await
        .expect_error(401, "unauthorized");
    let list = api.get("/v1/services", Some(&fresh)).await;
    assert_eq!(
        list.expect(200)["services"],
        json!([]),
        "the demo is made on first run only"
    );
    again.shutdown().await;
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let mut server = Server::start_with(&["--key-limit", "1000"]);
    let api = std::sync::Arc::new(Api::new(&server));
    let svc = api.create_service(&server.token, "draining").await;
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
    let again = Server::start_in(&server.data_dir.clone(), &[]);
    let api = Api::new(&again);
    for key in &issued {
        api.verify(key).await.expect(200);
    }
}
