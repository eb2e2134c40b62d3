//! Several consoles on one data dir: each embedded service makes a manager token of its own and
//! revokes it when it shuts down, so a second console never locks the first one out.

use crate::common::api::Api;
use crate::common::{token_names, tokens};
use ragkeys::server::{EmbeddedServer, start_embedded};

/// The console's first request, with this embedded service's own token.
async fn services_seen_by(server: &EmbeddedServer) -> Vec<String> {
    let api = Api::at(server.endpoint());
    let token = server.token().expose().to_string();
    let list = api.get_as("/v1/services", Some(&token)).await;
    list.expect(200)["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn two_embedded_services_on_one_data_dir_never_revoke_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let first = start_embedded(&dir).await.unwrap();
    let second = start_embedded(&dir).await.unwrap();
    let own = format!("local-console@{}", std::process::id());
    for s in [&first, &second] {
        assert!(s.token_name().starts_with(&own), "{}", s.token_name());
    }
    assert_ne!(first.token_name(), second.token_name());
    // The first keeps working after the second started, and the other way round.
    assert_eq!(services_seen_by(&first).await, ["rag-demo"]);
    assert_eq!(services_seen_by(&second).await, ["rag-demo"]);
    let me = Api::at(first.endpoint())
        .get_as("/v1/me", Some(first.token().expose()))
        .await;
    assert_eq!(me.expect(200)["name"], first.token_name());

    let names = token_names(&dir);
    assert!(names.iter().any(|n| n == first.token_name()), "{names:?}");
    assert!(names.iter().any(|n| n == second.token_name()), "{names:?}");

    let (gone, gone_token) = (
        first.token_name().to_string(),
        first.token().expose().to_string(),
    );
    first.shutdown().await;
    let names = token_names(&dir);
    assert!(
        !names.contains(&gone),
        "a shut-down console's token stays: {names:?}"
    );
    assert!(names.iter().any(|n| n == second.token_name()), "{names:?}");
    assert_eq!(services_seen_by(&second).await, ["rag-demo"]);
    Api::at(second.endpoint())
        .get_as("/v1/services", Some(&gone_token))
        .await
        .expect_error(401, "unauthorized");

    second.shutdown().await;
    let names = token_names(&dir);
    assert!(
        !names.iter().any(|n| n.starts_with("local-console")),
        "{names:?}"
    );
}

#[tokio::test]
async fn embedded_starts_never_touch_tokens_people_made() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    for name in ["local-console", "local-console@alice", "admin"] {
        let out = tokens(&dir, &["create", "--name", name, "--role", "viewer"]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The names embedded services use are reserved: pruning can never hit a person's token.
    let out = tokens(
        &dir,
        &["create", "--name", "local-console@1", "--role", "manager"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reserved"));

    let embedded = start_embedded(&dir).await.unwrap();
    let names = token_names(&dir);
    for name in ["local-console", "local-console@alice", "admin"] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} was pruned: {names:?}"
        );
    }
    embedded.shutdown().await;
    assert_eq!(
        token_names(&dir),
        ["local-console", "local-console@alice", "admin"]
    );
}
