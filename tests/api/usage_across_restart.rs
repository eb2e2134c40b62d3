//! Usage per key across a restart, and `ragkeys keys usage` (docs/api.md, Usage; docs/cli.md).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::common::Server;
use crate::common::api::Api;
use crate::common::cli::{Cli, expect_code, json, stderr, stdout};
use serde_json::{Value, json};

fn total(series: &Value, field: &str) -> u64 {
    series
        .as_array()
        .expect("a series")
        .iter()
        .map(|b| b[field].as_u64().expect("a count"))
        .sum()
}

fn hour_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600
}

async fn usage(api: &Api, sid: &str, kid: &str) -> Value {
    let r = api
        .get(&format!("/v1/services/{sid}/api-keys/{kid}/usage"))
        .await;
    assert_eq!(r.status, 200, "usage: {}", r.text);
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_survive_a_graceful_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut srv = Server::start_in(&dir, &[]);
    let api = Api::new(&srv);
    let sid = api.create_service("usage-restart").await;
    let (kid, key) = api.issue_ok(&sid).await;
    let (off_id, off_key) = api.issue_ok(&sid).await;
    for _ in 0..11 {
        assert_eq!(api.verify(&key).await.status, 200);
    }
    let r = api
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/services/{sid}/api-keys/{off_id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for _ in 0..4 {
        assert_eq!(api.verify(&off_key).await.status, 401);
    }
    // SIGTERM: the service writes what it counted before it exits.
    assert_eq!(tokio::task::block_in_place(|| srv.stop()), Some(0));

    let srv = Server::start_in(&dir, &[]);
    let api = Api::new(&srv);
    let u = usage(&api, &sid, &kid).await;
    assert_eq!(
        (total(&u["hours"], "ok"), total(&u["days"], "ok")),
        (11, 11),
        "{u}"
    );
    assert_eq!(u["last_used_from"], "127.0.0.1", "{u}");
    assert!(u["last_used_at"].is_string(), "{u}");
    let off = usage(&api, &sid, &off_id).await;
    assert_eq!(
        (
            total(&off["hours"], "refused"),
            total(&off["days"], "refused")
        ),
        (4, 4),
        "{off}"
    );
    assert_eq!(total(&off["hours"], "ok"), 0);
    // Counted on after the restart, on top of what was written.
    for _ in 0..2 {
        assert_eq!(api.verify(&key).await.status, 200);
    }
    assert_eq!(total(&usage(&api, &sid, &kid).await["days"], "ok"), 13);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_usage_prints_sparklines_and_totals_or_the_json() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let sid = api.create_service("usage-cli").await;
    let (kid, key) = api.issue_ok(&sid).await;
    let hour_before = hour_now();
    for _ in 0..5 {
        assert_eq!(api.verify(&key).await.status, 200);
    }
    let cli = Cli::new();
    let (url, token) = (srv.url(), srv.token.clone());
    let (table, js, missing) = tokio::task::block_in_place(|| {
        (
            cli.remote(&url, &token, &["keys", "usage", &sid, &kid]),
            cli.remote(&url, &token, &["--json", "keys", "usage", &sid, &kid]),
            cli.remote(&url, &token, &["keys", "usage", &sid, "key_nope"]),
        )
    });
    expect_code(&table, 0);
    let text = stdout(&table);
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{text}"))
            .to_string()
    };
    let spark = |l: &str| l.chars().filter(|c| ('▁'..='█').contains(c)).count();
    for series in ["24 hours, ok", "24 hours, refused"] {
        assert_eq!(spark(&line(series)), 24, "{text}");
    }
    for series in ["30 days, ok", "30 days, refused"] {
        assert_eq!(spark(&line(series)), 30, "{text}");
    }
    let ok = line("24 hours, ok");
    let words: Vec<&str> = ok.split_whitespace().collect();
    assert!(words.contains(&"5"), "the total: {ok}");
    if hour_now() == hour_before {
        assert!(ok.ends_with('█'), "the current hour is the tallest: {ok}");
    }
    assert!(
        line("24 hours, refused").ends_with(&"▁".repeat(24)),
        "{text}"
    );
    assert!(line(&kid).contains("127.0.0.1"), "{text}");

    expect_code(&js, 0);
    let v = json(&js);
    assert_eq!(v["key_id"], kid.as_str());
    assert_eq!(total(&v["hours"], "ok"), 5);
    assert_eq!(v["days"].as_array().map(Vec::len), Some(30));

    expect_code(&missing, 3);
    let err = stderr(&missing);
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
