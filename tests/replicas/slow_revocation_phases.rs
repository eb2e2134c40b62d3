//! A slow revocation says where its time went (docs/operating.md, Running several replicas): at debug
//! level, each write that announces a change logs one line with its phases (acquire, write,
//! lock, commit, acks). Here A's delete with replica B cut off from the database: the line is
//! there, finished, names every phase, and its phases add up to the time the delete took.

use crate::common;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::Server;
use crate::common::api::Api;
use crate::common::cut_proxy::Proxy;
use crate::common::replicas::*;

/// The feed's debug lines and nothing else below info.
const LOG: &str = "info,ragkeys::server::store::postgres::feed=debug";

/// The phases line of call `call` in `log`, as `name → milliseconds`, with the line.
fn phases(log: &str, call: &str) -> Option<(BTreeMap<String, f64>, String)> {
    let line = log
        .lines()
        .find(|l| l.contains("phases:") && l.contains(&format!("call=\"{call}\"")))?;
    let rest = &line[line.find("phases:").unwrap() + "phases:".len()..];
    let mut took = BTreeMap::new();
    for word in rest.split_whitespace() {
        let Some((name, value)) = word.split_once('=') else {
            continue;
        };
        if let Some(ms) = value.strip_suffix("ms").and_then(|v| v.parse().ok()) {
            took.insert(name.to_string(), ms);
        } else if let Ok(ms) = value.parse::<f64>() {
            took.insert(name.to_string(), ms);
        }
    }
    Some((took, line.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delete_with_a_replica_cut_off_logs_how_long_each_phase_took() {
    let _one = one_at_a_time().await;
    let db = common::pg::fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let pepper = dir.path().join("pepper");
    let pepper = pepper.to_str().unwrap();
    let mut args = vec!["--database", &db.url, "--pepper-file", pepper];
    args.extend_from_slice(FLAGS);
    let a = Server::start_in_logging(&dir.path().join("a"), &args, LOG);
    let proxy = Proxy::start(db_addr(&db.url));
    let b = replica(&via(&db.url, proxy.addr), dir.path(), "b", &[]);
    let token = bootstrap_token(&[a.data_dir.clone(), b.data_dir.clone()]);
    let api_a = Api::new(&a).as_token(&token);
    let api_b = Api::new(&b).as_token(&token);
    wait_ready(&api_a, Duration::from_secs(30)).await;
    wait_ready(&api_b, Duration::from_secs(30)).await;
    let sid = api_a.create_service("phases").await;
    let (kid, key) = api_a.issue_ok(&sid).await;
    assert_eq!(api_b.verify(&key).await.status, 200);

    proxy.cut();
    let sent = Instant::now();
    let r = api_a.delete_key(&sid, &kid).await;
    let took = sent.elapsed().as_secs_f64() * 1e3;
    assert_eq!(r.status, 204, "{}", r.text);

    // The line is written when the store call ends, before the answer leaves; read it within
    // a generous bound all the same.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (ms, line) = loop {
        if let Some(found) = phases(&a.log(), "delete_key") {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no phases line for the delete:\n{}",
            a.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("A's delete with B cut off, answered in {took:.1} ms: {line}");
    assert!(line.contains("DEBUG"), "{line}");
    assert!(line.contains("finished=true"), "{line}");
    let names = ["acquire", "write", "lock", "commit", "acks"];
    for name in names {
        assert!(ms.contains_key(name), "{name} missing: {line}");
    }
    let sum: f64 = names.iter().map(|n| ms[*n]).sum();
    let total = ms["total_ms"];
    // Each phase is rounded to 0.1 ms; the phases are the whole call.
    assert!((sum - total).abs() < 1.0, "phases {sum} of {total}: {line}");
    assert!(
        total <= took,
        "the call's {total} ms within the delete's {took} ms: {line}"
    );
    assert!(!line.contains(&key), "no key in the log: {line}");
}
