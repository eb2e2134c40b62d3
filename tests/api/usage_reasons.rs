//! Usage by reason and the narrowing it feeds, with verify enforcing a key's policy
//! (docs/api.md, Usage by reason, scope and network; Narrowing, exactly): every `denied` and
//! `limited` call shows at once, a key used only to query from one network is proposed exactly
//! that, and the proposal, applied as a PATCH, refuses what it left out. A client "from
//! 10.0.4.17" is the trusted proxy on 127.0.0.1 forwarding that address (docs/testing.md,
//! Addresses); the rate limit is per hour, so no token comes back during the test.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::Server;
use crate::common::api::{Api, Reply};

async fn verify_from(api: &Api, key: &str, client: &str, query: &str) -> Reply {
    api.send(
        Method::GET,
        &format!("/v1/verify{query}"),
        Some(key),
        None,
        &[("x-forwarded-for", client)],
    )
    .await
}

async fn usage(api: &Api, sid: &str, kid: &str) -> Value {
    api.get(&format!("/v1/services/{sid}/api-keys/{kid}/usage"))
        .await
        .expect(200)
}

/// The sums of one field over the hourly and over the daily buckets.
fn totals(u: &Value, field: &str) -> (u64, u64) {
    let sum = |series: &str| {
        u[series]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b[field].as_u64().expect("a count"))
            .sum()
    };
    (sum("hours"), sum("days"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_and_limited_calls_are_counted_exactly_at_once() {
    let srv = Server::start_with(&["--trusted-proxy", "127.0.0.1/32"]);
    let api = Api::new(&srv);
    let sid = api.create_service("reasons").await;
    let k = api
        .issue(
            &sid,
            json!({
                "scopes": ["query"],
                "rate_limit": {"requests": 3, "per_seconds": 3600},
                "allowed_cidrs": ["10.0.0.0/8"],
            }),
        )
        .await
        .expect(201);
    let (kid, key) = (k["id"].as_str().unwrap(), k["key"].as_str().unwrap());

    // Denied: a scope it lacks, an address outside its networks (a 403 spends no token).
    for _ in 0..2 {
        verify_from(&api, key, "10.0.4.17", "?scope=ingest")
            .await
            .expect_error(403, "insufficient_scope");
    }
    verify_from(&api, key, "192.0.2.1", "?scope=query")
        .await
        .expect_error(403, "address_not_allowed");
    // Three successful calls spend the bucket; the next two are limited.
    for _ in 0..3 {
        assert_eq!(
            verify_from(&api, key, "10.0.4.17", "?scope=query")
                .await
                .status,
            200
        );
    }
    for _ in 0..2 {
        verify_from(&api, key, "10.0.4.18", "?scope=query")
            .await
            .expect_error(429, "rate_limited");
    }

    let u = usage(&api, &sid, kid).await;
    assert_eq!(totals(&u, "ok"), (3, 3), "{u}");
    assert_eq!(totals(&u, "denied"), (3, 3), "{u}");
    assert_eq!(totals(&u, "limited"), (2, 2), "{u}");
    assert_eq!(totals(&u, "refused"), (0, 0), "{u}");
    // Scopes and networks count successful calls only.
    assert_eq!(u["scopes_used"], json!({"query": 3}), "{u}");
    let nets = u["networks"].as_array().unwrap();
    assert_eq!(nets.len(), 1, "{u}");
    assert_eq!(
        (&nets[0]["network"], &nets[0]["calls"]),
        (&json!("10.0.4.0/24"), &json!(3))
    );

    // A stopped key's calls are refused, not denied, whatever scope they ask for.
    api.call(
        Method::PATCH,
        &format!("/v1/services/{sid}/api-keys/{kid}"),
        Some(json!({"enabled": false})),
    )
    .await
    .expect(200);
    verify_from(&api, key, "10.0.4.17", "?scope=ingest")
        .await
        .expect_error(401, "invalid_api_key");
    let u = usage(&api, &sid, kid).await;
    assert_eq!(
        (totals(&u, "refused"), totals(&u, "denied")),
        ((1, 1), (3, 3)),
        "{u}"
    );

    // The proposal keeps the rate limit and narrows the allowlist to the network seen in it.
    let n = api
        .get(&format!("/v1/services/{sid}/api-keys/{kid}/narrowing"))
        .await
        .expect(200);
    assert_eq!(
        n["proposed"],
        json!({
            "scopes": ["query"],
            "rate_limit": {"requests": 3, "per_seconds": 3600},
            "allowed_cidrs": ["10.0.4.0/24"],
        }),
        "{n}"
    );
    assert_eq!(n["would_refuse_30d"], 0, "{n}");
}

/// The flow of docs/api.md: a key with every scope, used only with `scope=query` from
/// 10.0.4.17, is proposed `query` and 10.0.4.0/24 with nothing refused; judged against `ingest`
/// only, all its calls would have been refused; applied as a PATCH, an `ingest` call is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_used_only_to_query_is_narrowed_to_query_from_its_network() {
    let srv = Server::start_with(&["--trusted-proxy", "127.0.0.1/32"]);
    let api = Api::new(&srv);
    let sid = api.create_service("narrow-flow").await;
    let (kid, key) = api.issue_ok(&sid).await;
    for _ in 0..4 {
        assert_eq!(
            verify_from(&api, &key, "10.0.4.17", "?scope=query")
                .await
                .status,
            200
        );
    }
    let path = format!("/v1/services/{sid}/api-keys/{kid}/narrowing");
    let n = api.get(&path).await.expect(200);
    assert_eq!(
        n,
        json!({
            "current": {"scopes": ["query", "ingest", "manage"], "rate_limit": null, "allowed_cidrs": null},
            "proposed": {"scopes": ["query"], "rate_limit": null, "allowed_cidrs": ["10.0.4.0/24"]},
            "reasons": ["history_shorter_than_30d"],
            "would_refuse_30d": 0,
        })
    );
    let judged = api
        .get(&format!("{path}?scopes=ingest&allowed_cidrs=10.0.4.17"))
        .await
        .expect(200);
    assert_eq!(judged["would_refuse_30d"], 4, "{judged}");

    let p = &n["proposed"];
    api.call(
        Method::PATCH,
        &format!("/v1/services/{sid}/api-keys/{kid}"),
        Some(json!({"scopes": p["scopes"], "allowed_cidrs": p["allowed_cidrs"]})),
    )
    .await
    .expect(200);
    verify_from(&api, &key, "10.0.4.17", "?scope=ingest")
        .await
        .expect_error(403, "insufficient_scope");
    assert_eq!(
        verify_from(&api, &key, "10.0.4.99", "?scope=query")
            .await
            .status,
        200
    );
    // Nothing left to narrow: the proposal is the policy.
    let n = api.get(&path).await.expect(200);
    assert_eq!(n["proposed"], n["current"], "{n}");
    assert_eq!(
        usage(&api, &sid, &kid).await["scopes_used"],
        json!({"query": 5})
    );
}
