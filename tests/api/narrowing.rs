//! `GET …/api-keys/{key_id}/narrowing` and the usage it is drawn from (docs/api.md, Usage by
//! reason, scope and network; Narrowing, exactly), against a real `ragkeys serve`: a client
//! "from 10.0.4.17" is the trusted proxy on 127.0.0.1 forwarding that address
//! (docs/testing.md, Addresses). Figures are exact at once: the answering process adds its
//! counts not yet written.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::Server;
use crate::common::api::{Api, Reply};

fn unix(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().expect("a time string"))
        .expect("RFC 3339")
        .timestamp()
}

/// `n` verifications of `key` from `client` (forwarded by the trusted proxy), with `query`
/// (`""` or `?scope=…`); each must answer `status`.
async fn calls(api: &Api, key: &str, client: &str, query: &str, n: usize, status: u16) {
    for i in 0..n {
        let r = api
            .send(
                Method::GET,
                &format!("/v1/verify{query}"),
                Some(key),
                None,
                &[("x-forwarded-for", client)],
            )
            .await;
        assert_eq!(
            r.status, status,
            "call {i} from {client}{query}: {}",
            r.text
        );
    }
}

async fn narrowing(api: &Api, sid: &str, kid: &str, query: &str) -> Reply {
    api.get(&format!(
        "/v1/services/{sid}/api-keys/{kid}/narrowing{query}"
    ))
    .await
}

async fn usage(api: &Api, sid: &str, kid: &str) -> Value {
    api.get(&format!("/v1/services/{sid}/api-keys/{kid}/usage"))
        .await
        .expect(200)
}

/// A key issued now, its id and its plaintext, and when it was created.
async fn issued(api: &Api, sid: &str) -> (String, String, i64) {
    let k = api.issue(sid, json!({})).await.expect(201);
    (
        k["id"].as_str().unwrap().to_string(),
        k["key"].as_str().unwrap().to_string(),
        unix(&k["created_at"]),
    )
}

const ALL: [&str; 3] = ["query", "ingest", "manage"];

/// A key nobody has called: nothing to propose, and its short history is said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_never_called_has_no_proposal() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let sid = api.create_service("never-called").await;
    let (kid, _, created) = issued(&api, &sid).await;
    let n = narrowing(&api, &sid, &kid, "").await.expect(200);
    assert_eq!(
        n,
        json!({
            "current": {"scopes": ALL, "rate_limit": null, "allowed_cidrs": null},
            "proposed": null,
            "reasons": ["no_calls_since_recording", "history_shorter_than_30d"],
            "would_refuse_30d": null,
        })
    );
    let u = usage(&api, &sid, &kid).await;
    assert_eq!(u["scopes_used"], json!({}));
    assert_eq!(u["networks"], json!([]));
    assert_eq!(u["networks_truncated"], false);
    assert_eq!(unix(&u["recorded_since"]), created);
    for b in u["hours"]
        .as_array()
        .unwrap()
        .iter()
        .chain(u["days"].as_array().unwrap())
    {
        assert_eq!(
            (b["denied"].as_u64(), b["limited"].as_u64()),
            (Some(0), Some(0)),
            "{b}"
        );
    }
}

/// Calls without a scope from 10.0.4.17 and 10.0.4.99: usage shows them under `none` and one
/// network at once; the proposal keeps the scopes (called without one) and allows only that
/// network; candidates are judged by what they would have refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_called_from_one_network_is_proposed_that_network() {
    let srv = Server::start_with(&["--trusted-proxy", "127.0.0.1/32"]);
    let api = Api::new(&srv);
    let sid = api.create_service("one-network").await;
    let (kid, key, _) = issued(&api, &sid).await;
    calls(&api, &key, "10.0.4.17", "", 3, 200).await;
    calls(&api, &key, "10.0.4.99", "", 2, 200).await;

    let u = usage(&api, &sid, &kid).await;
    assert_eq!(u["scopes_used"], json!({"none": 5}), "{u}");
    let nets = u["networks"].as_array().unwrap();
    assert_eq!(nets.len(), 1, "{u}");
    assert_eq!(
        (&nets[0]["network"], &nets[0]["calls"]),
        (&json!("10.0.4.0/24"), &json!(5))
    );
    let seen = unix(&nets[0]["last_seen"]);
    assert!(seen <= unix(&u["last_used_at"]) + 60, "{u}");

    let n = narrowing(&api, &sid, &kid, "").await.expect(200);
    assert_eq!(
        n,
        json!({
            "current": {"scopes": ALL, "rate_limit": null, "allowed_cidrs": null},
            "proposed": {"scopes": ALL, "rate_limit": null, "allowed_cidrs": ["10.0.4.0/24"]},
            "reasons": ["called_without_scope", "history_shorter_than_30d"],
            "would_refuse_30d": 0,
        })
    );

    // Candidates: calls without a scope are never refused by scopes; another network would
    // have refused them all; `any` refuses nothing; an absent parameter keeps the current.
    for (query, proposed_cidrs, refused) in [
        ("?scopes=query", json!(null), 0),
        ("?allowed_cidrs=192.0.2.0/24", json!(["192.0.2.0/24"]), 5),
        ("?allowed_cidrs=10.0.4.17", json!(["10.0.4.17/32"]), 5),
        (
            "?allowed_cidrs=10.0.0.0/8&scopes=ingest,query",
            json!(["10.0.0.0/8"]),
            0,
        ),
        ("?allowed_cidrs=any", json!(null), 0),
    ] {
        let n = narrowing(&api, &sid, &kid, query).await.expect(200);
        assert_eq!(
            n["proposed"]["allowed_cidrs"], proposed_cidrs,
            "{query}: {n}"
        );
        assert_eq!(n["would_refuse_30d"], refused, "{query}: {n}");
        assert_eq!(n["current"]["scopes"], json!(ALL), "{query}: {n}");
    }
    let n = narrowing(&api, &sid, &kid, "?scopes=ingest,query")
        .await
        .expect(200);
    assert_eq!(n["proposed"]["scopes"], json!(["query", "ingest"]), "{n}");
}

/// Each candidate value is checked as PATCH checks it: 400 `invalid_request` naming the
/// parameter; an unknown key or service is 404; a viewer may read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_are_checked_and_viewers_may_ask() {
    let srv = Server::start();
    let api = Api::new(&srv);
    let sid = api.create_service("candidates").await;
    let (kid, _, _) = issued(&api, &sid).await;
    for (query, names) in [
        ("?scopes=read", "scopes"),
        ("?scopes=", "scopes"),
        ("?scopes=query,query", "scopes"),
        ("?allowed_cidrs=10.0.4.17/24", "allowed_cidrs"),
        ("?allowed_cidrs=", "allowed_cidrs"),
        ("?allowed_cidrs=example.com", "allowed_cidrs"),
        ("?scopes=query&scopes=ingest", "scopes"),
        ("?rate_limit=5/s", "rate_limit"),
    ] {
        let msg = narrowing(&api, &sid, &kid, query)
            .await
            .expect_error(400, "invalid_request");
        assert!(msg.contains(names), "{query}: {msg}");
    }
    let seventeen = (1..=17)
        .map(|i| format!("10.0.{i}.0/24"))
        .collect::<Vec<_>>()
        .join(",");
    narrowing(&api, &sid, &kid, &format!("?allowed_cidrs={seventeen}"))
        .await
        .expect_error(400, "invalid_request");
    // The message of a host-bits CIDR names the network meant.
    let msg = narrowing(&api, &sid, &kid, "?allowed_cidrs=10.0.4.17/24")
        .await
        .expect_error(400, "invalid_request");
    assert!(msg.contains("10.0.4.0/24"), "{msg}");

    narrowing(&api, &sid, "key_nope", "")
        .await
        .expect_error(404, "api_key_not_found");
    narrowing(&api, "svc_nope", &kid, "")
        .await
        .expect_error(404, "service_not_found");

    let viewer = api.as_token(&srv.create_token("watcher", "viewer"));
    let n = narrowing(&viewer, &sid, &kid, "?scopes=query")
        .await
        .expect(200);
    assert_eq!(n["proposed"]["scopes"], json!(["query"]), "{n}");
    let anonymous = api
        .get_as(
            &format!("/v1/services/{sid}/api-keys/{kid}/narrowing"),
            None,
        )
        .await;
    anonymous.expect_error(401, "unauthorized");
    // Gone with the key.
    api.delete_key(&sid, &kid).await;
    narrowing(&api, &sid, &kid, "")
        .await
        .expect_error(404, "api_key_not_found");
}
