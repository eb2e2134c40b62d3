//! Several consoles on one data dir: each embedded service makes a manager token of its own,
//! named after the person at the keyboard with the console's process id beside it, and revokes
//! it when it shuts down, so a second console never locks the first one out.

use crate::common::api::Api;
use crate::common::{console_tokens, person_at_this_host, token_names, tokens};
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
    // Named after a person on this host, never after a process: both consoles share the name,
    // and each token has this process's id beside it.
    let host = person_at_this_host("");
    for s in [&first, &second] {
        assert!(s.token_name().ends_with(&host), "{}", s.token_name());
        assert!(
            !s.token_name().contains("local-console"),
            "{}",
            s.token_name()
        );
    }
    assert_eq!(first.token_name(), second.token_name());
    let me_pid = std::process::id();
    assert_eq!(
        console_tokens(&dir),
        [
            (first.token_name().to_string(), me_pid),
            (second.token_name().to_string(), me_pid)
        ]
    );
    // The first keeps working after the second started, and the other way round.
    assert_eq!(services_seen_by(&first).await, ["rag-demo"]);
    assert_eq!(services_seen_by(&second).await, ["rag-demo"]);
    let me = Api::at(first.endpoint())
        .get_as("/v1/me", Some(first.token().expose()))
        .await;
    assert_eq!(me.expect(200)["name"], first.token_name());
    // A key issued from a console names the person as its creator, and so does the trail.
    let api = Api::at(first.endpoint());
    let sid = api
        .create_service_as(first.token().expose(), "by-a-person")
        .await;
    let issued = api.issue_as(first.token().expose(), &sid).await;
    assert_eq!(issued["created_by"], first.token_name(), "{issued}");
    let trail = api
        .get_as("/v1/audit?limit=10", Some(first.token().expose()))
        .await
        .expect(200);
    for e in trail["events"].as_array().unwrap() {
        assert_eq!(e["actor"], first.token_name(), "{e}");
    }

    let gone_token = first.token().expose().to_string();
    first.shutdown().await;
    assert_eq!(
        console_tokens(&dir),
        [(second.token_name().to_string(), me_pid)],
        "a shut-down console's token stays, or it took the other's along"
    );
    assert_eq!(services_seen_by(&second).await, ["rag-demo", "by-a-person"]);
    Api::at(second.endpoint())
        .get_as("/v1/services", Some(&gone_token))
        .await
        .expect_error(401, "unauthorized");

    second.shutdown().await;
    assert_eq!(console_tokens(&dir), []);
}

#[tokio::test]
async fn embedded_starts_never_touch_tokens_people_made() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    // Even names older consoles used, and the name this one will take: a person's token is
    // never pruned, whatever its name.
    let embedded_name = person_at_this_host(&login_of_this_process());
    let people = [
        "local-console@1",
        "local-console@alice",
        "admin",
        &embedded_name,
    ];
    for name in people {
        let out = tokens(&dir, &["create", "--name", name, "--role", "viewer"]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let embedded = start_embedded(&dir).await.unwrap();
    assert_eq!(embedded.token_name(), embedded_name);
    assert_eq!(token_names(&dir)[..4], people);
    // `tokens revoke NAME` takes the person's token of that name, never the console's.
    let out = tokens(&dir, &["revoke", &embedded_name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(services_seen_by(&embedded).await, ["rag-demo"]);
    let out = tokens(&dir, &["revoke", &embedded_name]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("console"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(services_seen_by(&embedded).await, ["rag-demo"]);
    // …and `tokens create` never takes a running console's name.
    let out = tokens(
        &dir,
        &["create", "--name", &embedded_name, "--role", "manager"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("console"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(console_tokens(&dir).len(), 1);
    embedded.shutdown().await;
    assert_eq!(token_names(&dir), people[..3]);
}

/// The login the embedded service names its token after in this process: LOGNAME, then USER,
/// then the password database (root's, on these machines).
fn login_of_this_process() -> String {
    ["LOGNAME", "USER"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| {
            let out = std::process::Command::new("id")
                .arg("-un")
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        })
}
