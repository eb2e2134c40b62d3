//! The operator's side that is SQLite's alone: the data dir's files and modes, the pepper kept in
//! it, a newer `ragkeys.db`, and the embedded service of the console (which always runs on the
//! data dir). Only `contract::sqlite` includes this module; PostgreSQL's own counterparts (the
//! pepper file, a newer schema) are in tests/replicas/contract.rs.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::json;

use super::lifecycle::wait_for_log;
use crate::common::Server;
use crate::common::api::Api;
use crate::common::serve_refused;

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
async fn a_pepper_others_can_read_is_refused() {
    let mut server = Server::start();
    let dir = server.data_dir.clone();
    assert_eq!(server.stop(), Some(0));
    let pepper = dir.join("pepper");
    std::fs::set_permissions(&pepper, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, stderr, _) = serve_refused(&dir, &[]);
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
    let (code, stderr, _) = serve_refused(&dir, &["--pepper-file", other.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("readable by group or others"), "{stderr}");
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, stderr, _) = serve_refused(&dir, &["--pepper-file", other.to_str().unwrap()]);
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
    let (code, stderr, _) = serve_refused(&dir, &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("newer"), "{stderr}");
    assert!(!stderr.contains("panicked"));

    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let (code, stderr, _) = serve_refused(&file.join("data"), &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("data dir"), "{stderr}");
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
    // Named after the person at the keyboard, with the process id beside it, not in it.
    assert!(
        name.ends_with(&crate::common::person_at_this_host("")),
        "{name}"
    );
    assert_eq!(
        crate::common::console_tokens(&dir),
        [(name.clone(), std::process::id())]
    );
    let me = api.get_as("/v1/me", Some(&token)).await;
    assert_eq!(me.expect(200), json!({"name": name, "role": "manager"}));
    let list = api.get_as("/v1/services", Some(&token)).await;
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
    api.get_as("/v1/me", Some(&token))
        .await
        .expect_error(401, "unauthorized");
    let list = api.get_as("/v1/services", Some(&fresh)).await;
    assert_eq!(
        list.expect(200)["services"],
        json!([]),
        "the demo is made on first run only"
    );
    again.shutdown().await;
}
