use super::*;
use crate::wire::{AuditAction, Role, Timestamp};

fn audit(action: AuditAction, service_id: &str) -> AuditEvent {
    AuditEvent {
        at: Timestamp::from_unix(1_800_000_000),
        actor: "t".into(),
        role: Role::Manager,
        action,
        service_id: service_id.into(),
        key_id: None,
        masked: None,
        remote_addr: "127.0.0.1".into(),
        outcome: "ok".into(),
    }
}

fn service(id: &str, name: &str) -> ServiceRecord {
    ServiceRecord {
        id: id.into(),
        name: name.into(),
        description: String::new(),
        key_count: 0,
        created_at: 1_800_000_000,
    }
}

fn new_key(id: &str, service_id: &str, n: u8) -> NewKey {
    NewKey {
        id: id.into(),
        service_id: service_id.into(),
        digest: [n; 32],
        masked: "ragk_AbCd********wXyZ".into(),
        name: None,
        created_at: 1_800_000_000 + i64::from(n),
        created_by: "admin".into(),
        expires_at: None,
    }
}

fn open_temp() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db")).unwrap();
    (dir, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_cap_holds_under_concurrent_issues() {
    let (_dir, store) = open_temp();
    let store = Arc::new(store);
    store
        .create_service(
            service("svc_a", "alpha"),
            999,
            audit(AuditAction::ServiceCreate, "svc_a"),
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for n in 0..20u8 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.issue_key(
                new_key(&format!("key_{n}"), "svc_a", n),
                5,
                None,
                audit(AuditAction::ApiKeyIssue, "svc_a"),
            )
            .await
        }));
    }
    let (mut ok, mut limited) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::KeyLimit) => limited += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!((ok, limited), (5, 15));
    let svc = store.get_service("svc_a".into()).await.unwrap().unwrap();
    assert_eq!(svc.key_count, 5);
    assert_eq!(store.list_keys("svc_a".into()).await.unwrap().len(), 5);
    let events = store.list_audit("svc_a".into(), 100).await.unwrap();
    assert_eq!(events.len(), 6, "one per successful issue plus the create");
}

#[tokio::test]
async fn keys_list_newest_first_and_delete_frees_the_slot() {
    let (_dir, store) = open_temp();
    store
        .create_service(
            service("svc_a", "alpha"),
            999,
            audit(AuditAction::ServiceCreate, "svc_a"),
        )
        .await
        .unwrap();
    for n in 1..=2u8 {
        store
            .issue_key(
                new_key(&format!("key_{n}"), "svc_a", n),
                2,
                None,
                audit(AuditAction::ApiKeyIssue, "svc_a"),
            )
            .await
            .unwrap();
    }
    let ids: Vec<_> = store
        .list_keys("svc_a".into())
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(ids, ["key_2", "key_1"]);
    let err = store
        .issue_key(
            new_key("key_3", "svc_a", 3),
            2,
            None,
            audit(AuditAction::ApiKeyIssue, "svc_a"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::KeyLimit));
    let digest = store
        .delete_key(
            "svc_a".into(),
            "key_1".into(),
            audit(AuditAction::ApiKeyDelete, "svc_a"),
        )
        .await
        .unwrap();
    assert_eq!(digest, [1; 32]);
    let again = store
        .delete_key(
            "svc_a".into(),
            "key_1".into(),
            audit(AuditAction::ApiKeyDelete, "svc_a"),
        )
        .await
        .unwrap_err();
    assert!(matches!(again, StoreError::KeyNotFound));
    store
        .issue_key(
            new_key("key_3", "svc_a", 3),
            2,
            None,
            audit(AuditAction::ApiKeyIssue, "svc_a"),
        )
        .await
        .unwrap();
    let missing = store
        .issue_key(
            new_key("key_4", "svc_x", 4),
            2,
            None,
            audit(AuditAction::ApiKeyIssue, "svc_x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::ServiceNotFound));
}

#[tokio::test]
async fn the_idempotency_record_commits_with_its_key() {
    let (_dir, store) = open_temp();
    store
        .create_service(
            service("svc_a", "alpha"),
            999,
            audit(AuditAction::ServiceCreate, "svc_a"),
        )
        .await
        .unwrap();
    let rec = IdempotencyRecord {
        scope: [7; 32],
        request_hash: [8; 32],
        key_id: Some("key_1".into()),
        status: 201,
        outcome: "ok".into(),
        created_at: 1_800_000_000,
    };
    store
        .issue_key(
            new_key("key_1", "svc_a", 1),
            1,
            Some(rec.clone()),
            audit(AuditAction::ApiKeyIssue, "svc_a"),
        )
        .await
        .unwrap();
    assert_eq!(store.find_idempotency([7; 32]).await.unwrap(), Some(rec));
    // A refused issue writes no record through issue_key: the transaction rolled back whole.
    let other = IdempotencyRecord {
        scope: [9; 32],
        ..Default::default()
    };
    let _ = store
        .issue_key(
            new_key("key_2", "svc_a", 2),
            1,
            Some(other),
            audit(AuditAction::ApiKeyIssue, "svc_a"),
        )
        .await
        .unwrap_err();
    assert_eq!(store.find_idempotency([9; 32]).await.unwrap(), None);
    store.prune_idempotency(1_800_000_001).await.unwrap();
    assert_eq!(store.find_idempotency([7; 32]).await.unwrap(), None);
}

#[tokio::test]
async fn services_are_unique_capped_and_take_their_keys_along() {
    let (_dir, store) = open_temp();
    let a = audit(AuditAction::ServiceCreate, "");
    store
        .create_service(service("svc_a", "alpha"), 2, a.clone())
        .await
        .unwrap();
    let taken = store
        .create_service(service("svc_b", "alpha"), 2, a.clone())
        .await
        .unwrap_err();
    assert!(matches!(taken, StoreError::NameTaken));
    store
        .create_service(service("svc_b", "beta"), 2, a.clone())
        .await
        .unwrap();
    let full = store
        .create_service(service("svc_c", "gamma"), 2, a.clone())
        .await
        .unwrap_err();
    assert!(matches!(full, StoreError::ServiceLimit));
    store
        .issue_key(
            new_key("key_1", "svc_a", 1),
            5,
            None,
            audit(AuditAction::ApiKeyIssue, "svc_a"),
        )
        .await
        .unwrap();
    let digests = store
        .delete_service("svc_a".into(), audit(AuditAction::ServiceDelete, "svc_a"))
        .await
        .unwrap();
    assert_eq!(digests, vec![[1; 32]]);
    assert!(store.all_key_digests().await.unwrap().is_empty());
    store
        .create_service(service("svc_c", "gamma"), 2, a)
        .await
        .unwrap();
    let names: Vec<_> = store
        .list_services()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["beta", "gamma"]);
}

#[tokio::test]
async fn tokens_are_found_by_digest_unique_by_name_and_revoked_by_name_or_listing() {
    let (_dir, store) = open_temp();
    let t = NewToken {
        name: "alice".into(),
        role: Role::Viewer,
        digest: [1; 32],
        masked: "ragadm_Ab********wXyZ".into(),
        created_at: 1,
    };
    let first = store.create_token(t.clone()).await.unwrap();
    let same_name = NewToken {
        digest: [3; 32],
        ..t.clone()
    };
    assert!(matches!(
        store.create_token(same_name).await,
        Err(StoreError::NameTaken)
    ));
    assert_eq!(
        store.find_token([1; 32]).await.unwrap().unwrap().role,
        Role::Viewer
    );
    store.revoke_listed_token(first.clone()).await.unwrap();
    assert_eq!(store.find_token([1; 32]).await.unwrap(), None);
    let again = NewToken {
        digest: [2; 32],
        role: Role::Manager,
        masked: "ragadm_Cd********wXyZ".into(),
        ..t
    };
    let second = store.create_token(again).await.unwrap();
    assert!(
        second.id > first.id,
        "a freed id is never given again: an Idempotency-Key is scoped to the id"
    );
    // The record listed earlier never reaches the token that took its name.
    assert!(matches!(
        store.revoke_listed_token(first).await,
        Err(StoreError::TokenNotFound)
    ));
    assert_eq!(
        store.find_token([2; 32]).await.unwrap().unwrap().role,
        Role::Manager
    );
    store.revoke_token("alice".into()).await.unwrap();
    assert!(matches!(
        store.revoke_token("alice".into()).await,
        Err(StoreError::TokenNotFound)
    ));
    assert!(store.list_tokens().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_reopened_store_keeps_its_data_and_a_closed_one_refuses_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = SqliteStore::open(&path).unwrap();
    store.set_meta("k", "v".into()).await.unwrap();
    store.close().await.unwrap();
    assert!(matches!(store.get_meta("k").await, Err(StoreError::Closed)));
    let again = SqliteStore::open(&path).unwrap();
    assert_eq!(again.get_meta("k").await.unwrap().as_deref(), Some("v"));
}

#[test]
fn a_database_from_a_newer_version_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = SqliteStore::open(&path).err().unwrap().to_string();
    assert!(err.contains("newer"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_time_setup_happens_once_across_connections() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    // Separate stores on one file, as separate processes would have.
    let stores: Vec<SqliteStore> = (0..6).map(|_| SqliteStore::open(&path).unwrap()).collect();
    let mut tasks = Vec::new();
    for (i, store) in stores.iter().enumerate() {
        let store = store.clone();
        let n = i as u8;
        tasks.push(tokio::spawn(async move {
            let token = store
                .bootstrap_token(NewToken {
                    name: "admin".into(),
                    role: Role::Manager,
                    digest: [n; 32],
                    masked: "ragadm_Ab********wXyZ".into(),
                    created_at: 1,
                })
                .await
                .unwrap();
            let seeded = store
                .seed_service(
                    "demo_seeded",
                    service(&format!("svc_{n}"), "rag-demo"),
                    audit(AuditAction::ServiceCreate, &format!("svc_{n}")),
                )
                .await
                .unwrap();
            let check = store.init_meta("check", format!("v{n}")).await.unwrap();
            (token.is_some(), seeded, check)
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    assert_eq!(results.iter().filter(|r| r.0).count(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|r| r.1).count(), 1, "{results:?}");
    let first = &results[0].2;
    assert!(results.iter().all(|r| &r.2 == first), "{results:?}");
    let store = &stores[0];
    assert_eq!(store.list_tokens().await.unwrap().len(), 1);
    assert_eq!(store.list_services().await.unwrap().len(), 1);
    // Once seeded, never again, even with no service left.
    let demo = store.list_services().await.unwrap().remove(0);
    store
        .delete_service(demo.id, audit(AuditAction::ServiceDelete, "x"))
        .await
        .unwrap();
    let again = store
        .seed_service(
            "demo_seeded",
            service("svc_z", "rag-demo"),
            audit(AuditAction::ServiceCreate, "svc_z"),
        )
        .await
        .unwrap();
    assert!(!again);
    assert!(store.list_services().await.unwrap().is_empty());
    // A bootstrap beside an existing token makes none.
    let later = store
        .bootstrap_token(NewToken {
            name: "admin2".into(),
            role: Role::Manager,
            digest: [99; 32],
            masked: "ragadm_Ab********wXyZ".into(),
            created_at: 2,
        })
        .await
        .unwrap();
    assert!(later.is_none());
}

#[tokio::test]
async fn get_key_tells_a_live_key_from_a_deleted_one_and_a_gone_service() {
    let (_dir, store) = open_temp();
    store
        .create_service(
            service("svc_a", "alpha"),
            10,
            audit(AuditAction::ServiceCreate, "svc_a"),
        )
        .await
        .unwrap();
    store
        .issue_key(
            new_key("key_1", "svc_a", 1),
            5,
            None,
            audit(AuditAction::ApiKeyIssue, "svc_a"),
        )
        .await
        .unwrap();
    let get = |k: &str| store.get_key("svc_a".into(), k.into());
    assert_eq!(get("key_1").await.unwrap().unwrap().id, "key_1");
    assert!(
        store
            .get_key("svc_other".into(), "key_1".into())
            .await
            .is_err_and(|e| matches!(e, StoreError::ServiceNotFound))
    );
    store
        .delete_key(
            "svc_a".into(),
            "key_1".into(),
            audit(AuditAction::ApiKeyDelete, "svc_a"),
        )
        .await
        .unwrap();
    assert_eq!(get("key_1").await.unwrap(), None);
    store
        .delete_service("svc_a".into(), audit(AuditAction::ServiceDelete, "svc_a"))
        .await
        .unwrap();
    assert!(matches!(
        get("key_1").await,
        Err(StoreError::ServiceNotFound)
    ));
}

#[tokio::test]
async fn a_rotation_shares_the_slot_and_its_old_key_retires_once() {
    let (_dir, store) = open_temp();
    store
        .create_service(
            service("svc_a", "alpha"),
            999,
            audit(AuditAction::ServiceCreate, "svc_a"),
        )
        .await
        .unwrap();
    for n in 0..5u8 {
        store
            .issue_key(
                new_key(&format!("key_{n}"), "svc_a", n),
                5,
                None,
                audit(AuditAction::ApiKeyIssue, "svc_a"),
            )
            .await
            .unwrap();
    }
    let t = 1_800_000_100;
    let successor = NewKey {
        created_at: t,
        ..new_key("key_new", "svc_a", 9)
    };
    let r = store
        .rotate_key(
            successor.clone(),
            "key_0".into(),
            60,
            None,
            audit(AuditAction::ApiKeyRotate, "svc_a"),
        )
        .await
        .unwrap();
    assert_eq!(r.old.replaced_by.as_deref(), Some("key_new"));
    assert!(!r.old_retired);
    let svc = store.get_service("svc_a".into()).await.unwrap().unwrap();
    assert_eq!(svc.key_count, 5, "the successor took the old key's slot");
    let again = store
        .rotate_key(
            NewKey {
                created_at: t,
                ..new_key("key_new2", "svc_a", 10)
            },
            "key_0".into(),
            60,
            None,
            audit(AuditAction::ApiKeyRotate, "svc_a"),
        )
        .await;
    assert!(matches!(again, Err(StoreError::KeyNotActive(_))));
    assert!(store.retire_due(None, t + 59).await.unwrap().is_empty());
    let gone = store
        .retire_due(Some("svc_a".into()), t + 60)
        .await
        .unwrap();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].key_id, "key_0");
    assert!(store.retire_due(None, t + 61).await.unwrap().is_empty());
    let keys = store.list_keys("svc_a".into()).await.unwrap();
    assert_eq!(keys.len(), 5);
    let svc = store.get_service("svc_a".into()).await.unwrap().unwrap();
    assert_eq!(svc.key_count, 5);
    let events = store.list_audit("svc_a".into(), 100).await.unwrap();
    let retires = events
        .iter()
        .filter(|e| e.action == AuditAction::ApiKeyRetire)
        .count();
    assert_eq!(retires, 1);
}
