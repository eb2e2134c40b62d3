//! First start on a fresh data dir is race-free (issue 7, fault kind 3): whatever mix of
//! `ragkeys tokens …`, `ragkeys serve` and embedded services starts together on a new data dir,
//! the pepper, the schema, the pepper's check value, the bootstrap token and the demo service
//! are each created once, and every process uses the winner's. Real processes on real files;
//! many short rounds, since a race shows itself only now and then.

use crate::common;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use crate::common::api::Api;
use crate::common::{BIN, Server};
use serde_json::Value;

/// Processes started together per round, and rounds: enough that the old code failed in most
/// runs here (a few percent of rounds each), few enough for two loaded cores.
const CREATES: usize = 8;
const ROUNDS: usize = 40;

fn spawn_tokens(dir: &Path, args: &[&str]) -> Child {
    Command::new(BIN)
        .arg("tokens")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ragkeys tokens")
}

#[track_caller]
fn succeeded(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The data dir holds one complete private pepper and nothing half-made beside it.
#[track_caller]
fn one_pepper(dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir.join("pepper")).expect("a pepper file");
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert!(meta.len() >= 32, "a complete pepper: {} bytes", meta.len());
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.contains(".tmp")),
        "no temp file left behind: {names:?}"
    );
}

/// `GET path` with `token` against `base`: (status, body).
async fn get(base: &str, path: &str, token: &str) -> (u16, Value) {
    let r = Api::at(base.to_string()).get_as(path, Some(token)).await;
    let body = serde_json::from_str(&r.text).unwrap_or(Value::Null);
    (r.status.as_u16(), body)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn token_creates_started_together_on_a_fresh_data_dir_all_succeed_with_one_pepper() {
    let rt = runtime();
    for round in 0..ROUNDS {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let names: Vec<String> = (0..CREATES).map(|i| format!("t{i}")).collect();
        let children: Vec<Child> = names
            .iter()
            .map(|n| spawn_tokens(&dir, &["create", "--name", n, "--role", "manager"]))
            .collect();
        let tokens: Vec<String> = children
            .into_iter()
            .map(|c| {
                let out = c.wait_with_output().unwrap();
                succeeded(&format!("round {round}: tokens create"), &out)
            })
            .collect();
        one_pepper(&dir);
        let listed = succeeded(
            &format!("round {round}: tokens list"),
            &spawn_tokens(&dir, &["list", "--json"])
                .wait_with_output()
                .unwrap(),
        );
        let listed: Value = serde_json::from_str(&listed).unwrap();
        assert_eq!(listed.as_array().map(Vec::len), Some(CREATES), "{listed}");

        // Every printed token works against a service started afterwards, which makes no
        // bootstrap token of its own since tokens exist.
        let server = Server::start_in(&dir, &[]);
        assert!(
            !dir.join("admin.token").exists(),
            "no bootstrap token beside the created ones"
        );
        rt.block_on(async {
            for (name, token) in names.iter().zip(&tokens) {
                let (status, me) = get(&server.url(), "/v1/me", token).await;
                assert_eq!(status, 200, "round {round}: token {name}: {me}");
                assert_eq!(me["name"], name.as_str());
            }
        });
    }
}

/// One embedded service (as the console starts it) on `dir`, started and stopped at once.
fn embedded_start(dir: &Path) -> Result<(), String> {
    runtime().block_on(async {
        let server = ragkeys::server::start_embedded(dir)
            .await
            .map_err(|e| format!("{e:#}"))?;
        server.shutdown().await;
        Ok(())
    })
}

#[test]
fn serve_tokens_and_consoles_starting_together_set_the_data_dir_up_once() {
    const MIXED_ROUNDS: usize = 12;
    let rt = runtime();
    for round in 0..MIXED_ROUNDS {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let result = std::thread::scope(|s| {
            let serves: Vec<_> = (0..2)
                .map(|_| s.spawn(|| Server::start_in(&dir, &[])))
                .collect();
            let consoles: Vec<_> = (0..3).map(|_| s.spawn(|| embedded_start(&dir))).collect();
            let creates: Vec<Child> = (0..3)
                .map(|i| {
                    let name = format!("c{i}");
                    spawn_tokens(&dir, &["create", "--name", &name, "--role", "manager"])
                })
                .collect();
            let lists: Vec<Child> = (0..2)
                .map(|_| spawn_tokens(&dir, &["list", "--json"]))
                .collect();
            let created: Vec<String> = creates
                .into_iter()
                .map(|c| succeeded("tokens create", &c.wait_with_output().unwrap()))
                .collect();
            for l in lists {
                succeeded("tokens list", &l.wait_with_output().unwrap());
            }
            for c in consoles {
                if let Err(e) = c.join().unwrap() {
                    panic!("round {round}: an embedded start failed: {e}");
                }
            }
            let serves: Vec<Server> = serves
                .into_iter()
                .map(|h| h.join().expect("ragkeys serve started"))
                .collect();
            (created, serves)
        });
        let (created, serves) = result;
        one_pepper(&dir);
        let names = common::token_names(&dir);
        assert!(
            names.iter().filter(|n| *n == "admin").count() <= 1,
            "{names:?}"
        );
        // The bootstrap token, if a serve made one (none does once a token exists), is in
        // admin.token.
        let bootstrap = std::fs::read_to_string(dir.join("admin.token")).ok();
        assert_eq!(
            bootstrap.is_some(),
            names.iter().any(|n| n == "admin"),
            "admin.token exactly when the bootstrap token exists: {names:?}"
        );
        let mut working = created.clone();
        working.extend(bootstrap.map(|t| t.trim().to_string()));
        rt.block_on(async {
            for server in &serves {
                for token in &working {
                    let (status, me) = get(&server.url(), "/v1/me", token).await;
                    assert_eq!(status, 200, "round {round}: {me}");
                }
                let (status, list) = get(&server.url(), "/v1/services", &created[0]).await;
                assert_eq!(status, 200);
                let services = list["services"].as_array().unwrap();
                assert_eq!(services.len(), 1, "round {round}: one demo service: {list}");
                assert_eq!(services[0]["name"], "rag-demo");
            }
        });
        // The embedded tokens went with their services.
        let left = common::console_tokens(&dir);
        assert!(left.is_empty(), "{left:?}");
    }
}

#[test]
fn serves_started_together_on_a_fresh_data_dir_make_one_bootstrap_token() {
    const SERVE_ROUNDS: usize = 8;
    let rt = runtime();
    for round in 0..SERVE_ROUNDS {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let serves: Vec<Server> = std::thread::scope(|s| {
            let started: Vec<_> = (0..4)
                .map(|_| s.spawn(|| Server::start_in(&dir, &[])))
                .collect();
            started
                .into_iter()
                .map(|h| h.join().expect("every ragkeys serve starts"))
                .collect()
        });
        one_pepper(&dir);
        assert_eq!(common::token_names(&dir), ["admin"], "round {round}");
        let token = std::fs::read_to_string(dir.join("admin.token")).unwrap();
        rt.block_on(async {
            for server in &serves {
                let (status, me) = get(&server.url(), "/v1/me", token.trim()).await;
                assert_eq!(status, 200, "round {round}: {me}");
            }
        });
    }
}
