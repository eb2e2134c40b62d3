//! What only PostgreSQL has of leaked keys and notifications: replicas claiming the outbox at
//! once (and a notice one sent staying told for the other), and a database of schema 5 brought to 6 with its keys and trail kept.

use std::collections::HashSet;
use std::sync::Arc;

use ragkeys::server::store::postgres::schema;
use ragkeys::server::store::{Notice, Store};
use ragkeys::wire::{AuditAction, WebhookEventType};

use crate::common::pg;
use crate::fixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_claiming_at_once_never_claim_one_delivery_twice() {
    let f = fixture::postgres().await;
    let other = f.open_again().await;
    for n in 0..60 {
        let notice = Notice {
            id: format!("msg_{n:03}"),
            event_type: WebhookEventType::ApiKeyExpiring,
            body: "{}".into(),
            created_at: 1_800_000_000 + n,
        };
        assert!(f.store.add_notice(format!("d{n}"), notice).await.unwrap());
    }
    let urls = vec![
        "https://a.example".to_owned(),
        "https://b.example".to_owned(),
    ];
    let claimer = |s: Arc<dyn Store>, urls: Vec<String>| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = s
                    .claim_deliveries(urls.clone(), 1_800_001_000, 60, 7)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|d| (d.notice.id, d.url)));
            }
        })
    };
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            claimer(
                if i % 2 == 0 {
                    f.store.clone()
                } else {
                    other.clone()
                },
                urls.clone(),
            )
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(unique.len(), all.len(), "a delivery claimed twice");
    assert_eq!(all.len(), 120, "every notice to every URL, once");
    assert_eq!(f.store.pending_deliveries().await.unwrap(), 120);
    // Sent by one replica, a notice stays told for the other: it is not added again.
    for (id, url) in all {
        f.store
            .finish_delivery(id, url, ragkeys::server::store::DeliveryResult::Delivered)
            .await
            .unwrap();
    }
    assert_eq!(f.store.pending_deliveries().await.unwrap(), 0);
    for n in 0..60 {
        let again = Notice {
            id: format!("msg_again_{n:03}"),
            event_type: WebhookEventType::ApiKeyExpiring,
            body: "{}".into(),
            created_at: 1_800_002_000 + n,
        };
        assert!(!other.add_notice(format!("d{n}"), again).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_5_database_keeps_its_keys_and_trail_without_leaks() {
    let db = tokio::task::spawn_blocking(pg::fresh_database)
        .await
        .unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    assert_eq!(schema::migrate_to(&pool, 1, 5).await.unwrap(), 5);
    let name = db.name.clone();
    tokio::task::spawn_blocking(move || {
        pg::cluster().psql(
            &name,
            "INSERT INTO services (id, name, description, key_count, created_at) VALUES ('s', 'svc', '', 1, 1); \
             INSERT INTO api_keys (id, service_id, digest, masked, name, created_at) \
                 VALUES ('k', 's', decode(repeat('01', 32), 'hex'), 'm', 'ci', 1); \
             INSERT INTO audit_events (at, actor, role, action, service_id, key_id, masked, remote_addr, outcome) \
                 VALUES (1, 'alice', 'manager', 'api_key.issue', 's', 'k', 'm', '::1', 'ok');",
        );
    })
    .await
    .unwrap();
    pool.close().await;
    let url: ragkeys::server::store::postgres::DatabaseUrl = db.url.parse().unwrap();
    let store = fixture::open_pg(&url).await;
    let key = store
        .get_key("s".into(), "k".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((key.name.as_deref(), key.leak), (Some("ci"), None));
    let events = store.list_audit("s".into(), 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, AuditAction::ApiKeyIssue);
    assert_eq!((&events[0].url, &events[0].source), (&None, &None));
    let found = store.find_key_by_digest([1; 32]).await.unwrap().unwrap();
    assert_eq!(found.key.id, "k");
    let version = tokio::task::spawn_blocking(move || {
        pg::cluster().psql(&db.name, "SELECT max(version) FROM schema_migrations")
    })
    .await
    .unwrap();
    assert_eq!(version, "7");
}
