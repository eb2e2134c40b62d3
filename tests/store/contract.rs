//! The contract of a store (`ragkeys::server::store::Store`), written once: each case takes a
//! fresh [`Fixture`] and is run on SQLite and on PostgreSQL (`main.rs` lists the cases once).

use ragkeys::policy::{Policy, RateLimit, Scope};
use ragkeys::server::store::{
    AuditQuery, IdempotencyRecord, KeyChange, KeyCounts, KeyUse, NetworkCount, NewKey, NewToken,
    ServiceRecord, StoreError, UsageBucket, UsageCount,
};
use ragkeys::wire::{AuditAction, AuditEvent, KeyState, Role, Timestamp};

use crate::fixture::Fixture;

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
        changes: None,
        url: None,
        source: None,
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
        policy: Default::default(),
    }
}

pub async fn the_key_cap_holds_under_concurrent_issues(f: Fixture) {
    let store = f.store.clone();
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

pub async fn keys_list_newest_first_and_delete_frees_the_slot(f: Fixture) {
    let store = &f.store;
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

pub async fn the_idempotency_record_commits_with_its_key(f: Fixture) {
    let store = &f.store;
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

pub async fn services_are_unique_capped_and_take_their_keys_along(f: Fixture) {
    let store = &f.store;
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

pub async fn tokens_are_found_by_digest_unique_by_name_and_revoked_by_name_or_listing(f: Fixture) {
    let store = &f.store;
    let t = NewToken {
        name: "alice".into(),
        role: Role::Viewer,
        digest: [1; 32],
        masked: "ragadm_Ab********wXyZ".into(),
        created_at: 1,
        console_pid: None,
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

/// Consoles' own tokens are named after a person and may share that name; their process id is
/// stored beside them; a token a person makes never takes such a name, and revoking by name
/// never reaches one (docs/console.md, Who did it).
pub async fn console_tokens_share_a_name_that_people_neither_take_nor_revoke(f: Fixture) {
    let store = &f.store;
    let console = |pid: u32, digest: u8| NewToken {
        name: "alice@bastion-1".into(),
        role: Role::Manager,
        digest: [digest; 32],
        masked: format!("ragadm_{digest:02}********wXyZ"),
        created_at: 1,
        console_pid: Some(pid),
    };
    let first = store.create_token(console(4242, 1)).await.unwrap();
    let second = store.create_token(console(4243, 2)).await.unwrap();
    assert_eq!(
        (first.console_pid, second.console_pid),
        (Some(4242), Some(4243))
    );
    assert_ne!(first.id, second.id);
    let found = store.find_token([2; 32]).await.unwrap().unwrap();
    assert_eq!(found, second);
    // A person's token with that name is refused while a console holds it.
    let person = NewToken {
        console_pid: None,
        ..console(1, 3)
    };
    assert!(matches!(
        store.create_token(person.clone()).await,
        Err(StoreError::NameTaken)
    ));
    assert!(matches!(
        store.revoke_token("alice@bastion-1".into()).await,
        Err(StoreError::TokenNotFound)
    ));
    assert_eq!(
        store.list_tokens().await.unwrap(),
        [first.clone(), second.clone()]
    );
    // Once the consoles are gone the name is free for a person, and a console started later
    // still makes its own beside that person's token, which revoking by name then removes.
    store.revoke_listed_token(first).await.unwrap();
    store.revoke_listed_token(second).await.unwrap();
    let made = store.create_token(person).await.unwrap();
    assert_eq!(made.console_pid, None);
    let third = store.create_token(console(4244, 4)).await.unwrap();
    store.revoke_token("alice@bastion-1".into()).await.unwrap();
    assert_eq!(store.list_tokens().await.unwrap(), [third]);
}

pub async fn a_reopened_store_keeps_its_data_and_a_closed_one_refuses_work(f: Fixture) {
    let store = &f.store;
    store.set_meta("k", "v".into()).await.unwrap();
    store.close().await.unwrap();
    assert!(matches!(store.get_meta("k").await, Err(StoreError::Closed)));
    let again = f.open_again().await;
    assert_eq!(again.get_meta("k").await.unwrap().as_deref(), Some("v"));
}

pub async fn first_time_setup_happens_once_across_connections(f: Fixture) {
    // Separate stores on one file (one database), as separate processes would have.
    let mut stores = Vec::new();
    for _ in 0..6 {
        stores.push(f.open_again().await);
    }
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
                    console_pid: None,
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
            console_pid: None,
        })
        .await
        .unwrap();
    assert!(later.is_none());
}

pub async fn get_key_tells_a_live_key_from_a_deleted_one_and_a_gone_service(f: Fixture) {
    let store = &f.store;
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

pub async fn a_rotation_shares_the_slot_and_its_old_key_retires_once(f: Fixture) {
    let store = &f.store;
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

/// A service `svc_a` with the keys `keys` issued in it (up to 10).
async fn service_with(f: &Fixture, keys: &[NewKey]) {
    f.store
        .create_service(
            service("svc_a", "alpha"),
            999,
            audit(AuditAction::ServiceCreate, "svc_a"),
        )
        .await
        .unwrap();
    for k in keys {
        f.store
            .issue_key(
                k.clone(),
                10,
                None,
                audit(AuditAction::ApiKeyIssue, "svc_a"),
            )
            .await
            .unwrap();
    }
}

fn change(
    name: Option<Option<&str>>,
    enabled: Option<bool>,
    expires_at: Option<Option<i64>>,
) -> KeyChange {
    KeyChange {
        name: name.map(|n| n.map(str::to_owned)),
        enabled,
        expires_at,
        ..KeyChange::default()
    }
}

/// Actions of the trail of `svc_a` after its creation and the issues, oldest first.
async fn actions_after_issues(f: &Fixture, issued: usize) -> Vec<(AuditAction, Option<String>)> {
    let mut events = f.store.list_audit("svc_a".into(), 100).await.unwrap();
    events.reverse();
    events
        .into_iter()
        .skip(1 + issued)
        .map(|e| (e.action, e.masked))
        .collect()
}

pub async fn a_patch_changes_only_what_differs_and_audits_each_kind_once(f: Fixture) {
    service_with(&f, &[new_key("key_1", "svc_a", 1)]).await;
    let now = 1_800_000_100;
    let patch = |c: KeyChange| {
        f.store.update_key(
            "svc_a".into(),
            "key_1".into(),
            c,
            now,
            audit(AuditAction::ApiKeyUpdate, "svc_a"),
        )
    };
    let renamed = patch(change(Some(Some("ci")), None, None)).await.unwrap();
    assert_eq!(renamed.actions, [AuditAction::ApiKeyUpdate]);
    assert_eq!(renamed.key.name.as_deref(), Some("ci"));
    assert_eq!(renamed.digest, [1; 32]);
    // Every field at its value already: no change, no event.
    let same = patch(change(Some(Some("ci")), Some(true), Some(None)))
        .await
        .unwrap();
    assert!(same.actions.is_empty(), "{:?}", same.actions);
    let disabled = patch(change(None, Some(false), None)).await.unwrap();
    assert_eq!(disabled.actions, [AuditAction::ApiKeyDisable]);
    assert_eq!(disabled.key.state(now), KeyState::Disabled);
    let later = now + 3600;
    let enabled = patch(change(None, Some(true), Some(Some(later))))
        .await
        .unwrap();
    assert_eq!(
        enabled.actions,
        [AuditAction::ApiKeyEnable, AuditAction::ApiKeyUpdate]
    );
    assert_eq!(enabled.key.expires_at, Some(later));
    // The store holds what the answer says, and the verify index would load it.
    let stored = f
        .store
        .get_key("svc_a".into(), "key_1".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, enabled.key);
    let digests = f.store.all_key_digests().await.unwrap();
    assert_eq!(digests.len(), 1);
    assert_eq!(digests[0].valid_until, later);
    let masked = Some("ragk_AbCd********wXyZ".to_owned());
    assert_eq!(
        actions_after_issues(&f, 1).await,
        [
            (AuditAction::ApiKeyUpdate, masked.clone()),
            (AuditAction::ApiKeyDisable, masked.clone()),
            (AuditAction::ApiKeyEnable, masked.clone()),
            (AuditAction::ApiKeyUpdate, masked),
        ]
    );
}

pub async fn a_patch_refuses_what_the_lifecycle_forbids(f: Fixture) {
    let now = 1_800_000_100;
    let expired = NewKey {
        expires_at: Some(now - 50),
        ..new_key("key_1", "svc_a", 1)
    };
    service_with(&f, &[expired, new_key("key_2", "svc_a", 2)]).await;
    let patch = |key: &str, c: KeyChange, at: i64| {
        f.store.update_key(
            "svc_a".into(),
            key.into(),
            c,
            at,
            audit(AuditAction::ApiKeyUpdate, "svc_a"),
        )
    };
    // Enabling an expired key needs a new expiry in the future.
    for c in [
        change(None, Some(true), None),
        change(None, Some(true), Some(Some(now - 1))),
    ] {
        let err = patch("key_1", c, now).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::KeyNotActive(m) if m.contains("has expired")),
            "{err}"
        );
    }
    let revived = patch("key_1", change(None, Some(true), Some(Some(now + 60))), now)
        .await
        .unwrap();
    assert_eq!(revived.actions, [AuditAction::ApiKeyUpdate]);
    assert_eq!(revived.key.state(now), KeyState::Active);
    // A rotating key's grace is fixed.
    f.store
        .rotate_key(
            NewKey {
                created_at: now,
                ..new_key("key_3", "svc_a", 3)
            },
            "key_2".into(),
            60,
            None,
            audit(AuditAction::ApiKeyRotate, "svc_a"),
        )
        .await
        .unwrap();
    let err = patch("key_2", change(None, None, Some(Some(now + 1000))), now)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::KeyNotActive(m) if m.contains("rotating")),
        "{err}"
    );
    // Once its grace ended it is gone, retired or not yet.
    let gone = patch("key_2", change(Some(Some("x")), None, None), now + 60)
        .await
        .unwrap_err();
    assert!(matches!(gone, StoreError::KeyNotFound), "{gone}");
    let unknown = patch("key_9", change(Some(None), None, None), now)
        .await
        .unwrap_err();
    assert!(matches!(unknown, StoreError::KeyNotFound), "{unknown}");
    let no_service = f
        .store
        .update_key(
            "svc_x".into(),
            "key_1".into(),
            change(Some(None), None, None),
            now,
            audit(AuditAction::ApiKeyUpdate, "svc_x"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(no_service, StoreError::ServiceNotFound),
        "{no_service}"
    );
    // A refused change wrote nothing: the rotation's event is the last.
    let trail = actions_after_issues(&f, 2).await;
    let kinds: Vec<_> = trail.iter().map(|(a, _)| *a).collect();
    assert_eq!(
        kinds,
        [AuditAction::ApiKeyUpdate, AuditAction::ApiKeyRotate]
    );
}

pub async fn a_rotation_keeps_the_name_and_the_lifetime_and_zero_grace_retires_at_once(f: Fixture) {
    let named = NewKey {
        name: Some("ci".into()),
        expires_at: Some(1_800_000_001 + 1000),
        ..new_key("key_1", "svc_a", 1)
    };
    service_with(&f, &[named, new_key("key_2", "svc_a", 2)]).await;
    let t = 1_800_000_101;
    let r = f
        .store
        .rotate_key(
            NewKey {
                created_at: t,
                ..new_key("key_new", "svc_a", 9)
            },
            "key_1".into(),
            0,
            None,
            audit(AuditAction::ApiKeyRotate, "svc_a"),
        )
        .await
        .unwrap();
    assert!(r.old_retired);
    assert_eq!(r.old_digest, [1; 32]);
    assert_eq!(r.old.replaced_by.as_deref(), Some("key_new"));
    assert_eq!(r.successor.name.as_deref(), Some("ci"));
    assert_eq!(
        r.successor.expires_at,
        Some(t + 1000),
        "the same lifetime from now"
    );
    assert_eq!(
        f.store
            .get_key("svc_a".into(), "key_1".into())
            .await
            .unwrap(),
        None
    );
    let svc = f.store.get_service("svc_a".into()).await.unwrap().unwrap();
    assert_eq!(svc.key_count, 2);
    let mut events = f.store.list_audit("svc_a".into(), 100).await.unwrap();
    events.reverse();
    let retire = events.last().unwrap();
    assert_eq!(retire.action, AuditAction::ApiKeyRetire);
    assert_eq!(retire.actor, "system");
    assert_eq!(retire.key_id.as_deref(), Some("key_1"));
    assert_eq!(events[events.len() - 2].action, AuditAction::ApiKeyRotate);
    // Only an active key is rotated.
    f.store
        .update_key(
            "svc_a".into(),
            "key_2".into(),
            change(None, Some(false), None),
            t,
            audit(AuditAction::ApiKeyUpdate, "svc_a"),
        )
        .await
        .unwrap();
    let err = f
        .store
        .rotate_key(
            NewKey {
                created_at: t,
                ..new_key("key_new2", "svc_a", 10)
            },
            "key_2".into(),
            60,
            None,
            audit(AuditAction::ApiKeyRotate, "svc_a"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::KeyNotActive(m) if m.contains("disabled")),
        "{err}"
    );
}

pub async fn keys_are_counted_by_state_with_rotated_over_disabled_over_expired(f: Fixture) {
    let t = 1_800_000_500;
    let expiring = |id: &str, n: u8| NewKey {
        expires_at: Some(t - 100),
        ..new_key(id, "svc_a", n)
    };
    service_with(
        &f,
        &[
            new_key("active", "svc_a", 1),
            new_key("disabled", "svc_a", 2),
            expiring("expired", 3),
            expiring("both", 4),
            new_key("rotated", "svc_a", 5),
            new_key("deleted", "svc_a", 6),
        ],
    )
    .await;
    for id in ["disabled", "both"] {
        f.store
            .update_key(
                "svc_a".into(),
                id.into(),
                change(None, Some(false), None),
                t,
                audit(AuditAction::ApiKeyUpdate, "svc_a"),
            )
            .await
            .unwrap();
    }
    f.store
        .rotate_key(
            NewKey {
                created_at: t - 10,
                ..new_key("successor", "svc_a", 7)
            },
            "rotated".into(),
            3600,
            None,
            audit(AuditAction::ApiKeyRotate, "svc_a"),
        )
        .await
        .unwrap();
    f.store
        .delete_key(
            "svc_a".into(),
            "deleted".into(),
            audit(AuditAction::ApiKeyDelete, "svc_a"),
        )
        .await
        .unwrap();
    let counts = f.store.count_keys_by_state(t).await.unwrap();
    assert_eq!(
        counts,
        KeyCounts {
            active: 2,
            disabled: 2,
            expired: 1,
            rotating: 1,
        }
    );
    // Each key listed is counted in the state the list gives it.
    let mut listed = KeyCounts::default();
    for k in f.store.list_keys("svc_a".into()).await.unwrap() {
        listed.add(k.state(t));
    }
    assert_eq!(listed, counts);
}

fn used(key_id: &str, at: i64, from: &str) -> KeyUse {
    KeyUse {
        key_id: key_id.into(),
        at,
        from: from.parse().unwrap(),
    }
}

pub async fn a_use_is_recorded_never_backwards_and_the_newest_address_wins(f: Fixture) {
    service_with(
        &f,
        &[new_key("key_1", "svc_a", 1), new_key("key_2", "svc_a", 2)],
    )
    .await;
    let usage = |key: &str| f.store.key_usage("svc_a".into(), key.into(), 0, 0);
    let fresh = usage("key_1").await.unwrap().unwrap();
    assert_eq!(fresh.digest, [1; 32]);
    assert_eq!((fresh.last_used_at, fresh.last_used_from), (None, None));
    f.store
        .touch_keys(vec![
            used("key_1", 100, "10.0.0.1"),
            used("key_2", 90, "10.0.0.9"),
            used("key_gone", 100, "10.0.0.3"),
        ])
        .await
        .unwrap();
    // A late batch never undoes a newer use.
    f.store
        .touch_keys(vec![used("key_1", 50, "10.0.0.2")])
        .await
        .unwrap();
    let one = usage("key_1").await.unwrap().unwrap();
    assert_eq!(one.last_used_at, Some(100));
    assert_eq!(one.last_used_from.as_deref(), Some("10.0.0.1"));
    // Within one batch, the later of two uses in the same second is the last one.
    f.store
        .touch_keys(vec![
            used("key_2", 120, "10.0.0.4"),
            used("key_2", 120, "10.0.0.5"),
        ])
        .await
        .unwrap();
    let two = usage("key_2").await.unwrap().unwrap();
    assert_eq!(two.last_used_at, Some(120));
    assert_eq!(two.last_used_from.as_deref(), Some("10.0.0.5"));
    let listed = f.store.list_keys("svc_a".into()).await.unwrap();
    let at: Vec<_> = listed
        .iter()
        .map(|k| (k.id.as_str(), k.last_used_at))
        .collect();
    assert_eq!(at, [("key_2", Some(120)), ("key_1", Some(100))]);
    assert!(usage("key_9").await.unwrap().is_none());
    let gone = f
        .store
        .key_usage("svc_x".into(), "key_1".into(), 0, 0)
        .await
        .unwrap_err();
    assert!(matches!(gone, StoreError::ServiceNotFound), "{gone}");
}

pub async fn usage_counts_add_up_per_bucket_and_old_buckets_are_pruned(f: Fixture) {
    service_with(
        &f,
        &[new_key("key_1", "svc_a", 1), new_key("key_2", "svc_a", 2)],
    )
    .await;
    let (h, d) = (3600, 86_400);
    let day = 20_000 * d;
    let count = |key: &str, hour: i64, ok: u64, refused: u64| UsageCount {
        key_id: key.into(),
        hour,
        day: hour.div_euclid(d) * d,
        ok,
        refused,
        ..Default::default()
    };
    f.store
        .record_usage(
            vec![
                count("key_1", day + 10 * h, 3, 1),
                count("key_1", day + 11 * h, 2, 0),
                count("key_2", day + 10 * h, 7, 0),
                // A key deleted since it was counted: its counts go with it.
                count("key_gone", day + 10 * h, 5, 5),
            ],
            0,
            0,
        )
        .await
        .unwrap();
    // Another writer (replica) adds to the same buckets; the same key twice in one batch too.
    f.store
        .record_usage(
            vec![
                count("key_1", day + 11 * h, 1, 1),
                count("key_1", day + 11 * h, 1, 0),
                count("key_1", day - 2 * h, 4, 0),
            ],
            0,
            0,
        )
        .await
        .unwrap();
    let bucket = |start, ok, refused| UsageBucket {
        start,
        ok,
        refused,
        ..Default::default()
    };
    let u = f
        .store
        .key_usage("svc_a".into(), "key_1".into(), day, 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        u.hours,
        [bucket(day + 10 * h, 3, 1), bucket(day + 11 * h, 4, 1)]
    );
    assert_eq!(u.days, [bucket(day - d, 4, 0), bucket(day, 7, 2)]);
    // Pruning drops buckets that started before the horizons, whatever key they belong to.
    f.store
        .record_usage(vec![], day + 11 * h, day)
        .await
        .unwrap();
    let u = f
        .store
        .key_usage("svc_a".into(), "key_1".into(), 0, 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.hours, [bucket(day + 11 * h, 4, 1)]);
    assert_eq!(u.days, [bucket(day, 7, 2)]);
    let other = f
        .store
        .key_usage("svc_a".into(), "key_2".into(), 0, 0)
        .await
        .unwrap()
        .unwrap();
    assert!(other.hours.is_empty());
    assert_eq!(other.days, [bucket(day, 7, 0)]);
}

pub async fn usage_keeps_reasons_scopes_and_networks_per_day_and_prunes_them(f: Fixture) {
    let before = Timestamp::now().unix();
    let mut old = new_key("key_old", "svc_a", 2);
    // Issued before the store recorded reasons, scopes and networks.
    old.created_at = 1_600_000_000;
    service_with(&f, &[new_key("key_1", "svc_a", 1), old]).await;
    let (h, d) = (3600, 86_400);
    let day = 20_000 * d;
    let net = |network: &str, calls, last_seen| NetworkCount {
        network: network.into(),
        calls,
        last_seen,
    };
    let count = |hour: i64, scopes: &[(&str, u64)], networks: Vec<NetworkCount>| UsageCount {
        key_id: "key_1".into(),
        hour,
        day: hour.div_euclid(d) * d,
        ok: 1,
        refused: 0,
        denied: 2,
        limited: 3,
        scopes: scopes.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
        networks,
    };
    f.store
        .record_usage(
            vec![
                count(
                    day - d + 5 * h,
                    &[("query", 4), ("none", 1)],
                    vec![net("10.0.4.0/24", 5, day - d + 5 * h + 9)],
                ),
                count(
                    day + 10 * h,
                    &[("query", 2), ("ingest", 1)],
                    vec![
                        net("10.0.4.0/24", 2, day + 10 * h + 7),
                        net("2001:db8:1:2::/64", 1, day + 10 * h + 1),
                    ],
                ),
                // A key deleted since it was counted: its scopes and networks go with it.
                UsageCount {
                    key_id: "key_gone".into(),
                    ..count(day, &[("manage", 9)], vec![net("192.0.2.0/24", 9, day)])
                },
            ],
            0,
            0,
        )
        .await
        .unwrap();
    // Another replica's counts for the same day add up; last_seen never goes backwards.
    f.store
        .record_usage(
            vec![count(
                day + 11 * h,
                &[("query", 1)],
                vec![net("10.0.4.0/24", 1, day + 10 * h)],
            )],
            0,
            0,
        )
        .await
        .unwrap();
    let u = f
        .store
        .key_usage("svc_a".into(), "key_1".into(), 0, 0)
        .await
        .unwrap()
        .unwrap();
    let reasons: Vec<(u64, u64, u64, u64)> = u
        .days
        .iter()
        .map(|b| (b.ok, b.refused, b.denied, b.limited))
        .collect();
    assert_eq!(reasons, [(1, 0, 2, 3), (2, 0, 4, 6)]);
    assert_eq!(u.hours.iter().map(|b| b.denied).sum::<u64>(), 6);
    assert_eq!(u.hours.iter().map(|b| b.limited).sum::<u64>(), 9);
    let mut scopes = u.scopes.clone();
    scopes.sort();
    assert_eq!(
        scopes,
        [
            ("ingest".to_string(), 1),
            ("none".to_string(), 1),
            ("query".to_string(), 7)
        ]
    );
    let mut networks = u.networks.clone();
    networks.sort_by(|a, b| a.network.cmp(&b.network));
    assert_eq!(
        networks,
        [
            net("10.0.4.0/24", 8, day + 10 * h + 7),
            net("2001:db8:1:2::/64", 1, day + 10 * h + 1),
        ]
    );
    // A key's own creation is where its recording begins; an older key's is the schema's.
    assert_eq!(u.recorded_since, 1_800_000_001);
    let old = f
        .store
        .key_usage("svc_a".into(), "key_old".into(), 0, 0)
        .await
        .unwrap()
        .unwrap();
    assert!(old.scopes.is_empty() && old.networks.is_empty());
    let after = Timestamp::now().unix();
    assert!(
        old.recorded_since > 1_600_000_000 && old.recorded_since <= after,
        "{} not in ({before}-ish, {after}]",
        old.recorded_since
    );
    // Only the days from `days_from` count, and pruning drops the older days.
    let u = f
        .store
        .key_usage("svc_a".into(), "key_1".into(), 0, day)
        .await
        .unwrap()
        .unwrap();
    let mut scopes = u.scopes.clone();
    scopes.sort();
    assert_eq!(
        scopes,
        [("ingest".to_string(), 1), ("query".to_string(), 3)]
    );
    f.store.record_usage(vec![], 0, day).await.unwrap();
    let u = f
        .store
        .key_usage("svc_a".into(), "key_1".into(), 0, 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.scopes.len(), 2);
    assert_eq!(u.networks.len(), 2);
    assert_eq!(u.networks.iter().map(|n| n.calls).sum::<u64>(), 4);
    f.store.record_usage(vec![], 0, day + d).await.unwrap();
    let u = f
        .store
        .key_usage("svc_a".into(), "key_1".into(), 0, 0)
        .await
        .unwrap()
        .unwrap();
    assert!(u.scopes.is_empty() && u.networks.is_empty() && u.days.is_empty());
}

pub async fn the_whole_trail_pages_newest_first_and_keeps_deleted_services(f: Fixture) {
    service_with(&f, &[new_key("key_1", "svc_a", 1)]).await;
    f.store
        .create_service(
            service("svc_b", "beta"),
            999,
            audit(AuditAction::ServiceCreate, "svc_b"),
        )
        .await
        .unwrap();
    let failed = AuditEvent {
        outcome: "api_key_limit_exceeded".into(),
        ..audit(AuditAction::ApiKeyIssue, "svc_b")
    };
    let rec = IdempotencyRecord {
        scope: [5; 32],
        status: 409,
        outcome: "api_key_limit_exceeded".into(),
        created_at: 1_800_000_000,
        ..Default::default()
    };
    f.store
        .record_failure(failed.clone(), Some(rec.clone()))
        .await
        .unwrap();
    assert_eq!(f.store.find_idempotency([5; 32]).await.unwrap(), Some(rec));
    let whois = AuditEvent {
        key_id: Some("key_1".into()),
        ..audit(AuditAction::ApiKeyWhois, "svc_a")
    };
    f.store.record_audit(whois.clone()).await.unwrap();
    f.store
        .delete_service("svc_b".into(), audit(AuditAction::ServiceDelete, "svc_b"))
        .await
        .unwrap();
    let page = |q: AuditQuery| f.store.list_audit_page(q);
    let all = page(AuditQuery {
        limit: 100,
        ..Default::default()
    })
    .await
    .unwrap();
    let actions: Vec<_> = all.iter().map(|e| e.event.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::ServiceDelete,
            AuditAction::ApiKeyWhois,
            AuditAction::ApiKeyIssue,
            AuditAction::ServiceCreate,
            AuditAction::ApiKeyIssue,
            AuditAction::ServiceCreate,
        ]
    );
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "ids fall");
    assert_eq!(all[1].event, whois);
    assert_eq!(all[2].event, failed);
    // Pages of two, each starting below the last id of the one before.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let p = page(AuditQuery {
            before,
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
        if p.is_empty() {
            break;
        }
        assert!(p.len() <= 2);
        before = Some(p.last().unwrap().id);
        seen.extend(p);
    }
    assert_eq!(seen, all);
    // Oldest first, paged with the same cursor toward the newest.
    let mut oldest = Vec::new();
    let mut after = None;
    loop {
        let p = page(AuditQuery {
            before: after,
            limit: 2,
            oldest_first: true,
            ..Default::default()
        })
        .await
        .unwrap();
        if p.is_empty() {
            break;
        }
        assert!(p.windows(2).all(|w| w[0].id < w[1].id), "ids rise");
        after = Some(p.last().unwrap().id);
        oldest.extend(p);
    }
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(oldest, reversed);
    let first_issue = page(AuditQuery {
        action: Some(AuditAction::ApiKeyIssue),
        limit: 1,
        oldest_first: true,
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(first_issue[0].event.service_id, "svc_a");
    // The deleted service's events stay, by service and by action.
    let of_b = page(AuditQuery {
        service_id: Some("svc_b".into()),
        limit: 100,
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(of_b.len(), 3);
    let issues = page(AuditQuery {
        action: Some(AuditAction::ApiKeyIssue),
        limit: 100,
        ..Default::default()
    })
    .await
    .unwrap();
    let services: Vec<_> = issues.iter().map(|e| e.event.service_id.as_str()).collect();
    assert_eq!(services, ["svc_b", "svc_a"]);
    // The per-service list is the same trail, newest first.
    let of_a = f.store.list_audit("svc_a".into(), 100).await.unwrap();
    let expected: Vec<_> = all
        .iter()
        .filter(|e| e.event.service_id == "svc_a")
        .map(|e| e.event.clone())
        .collect();
    assert_eq!(of_a, expected);
    assert_eq!(
        f.store.list_audit("svc_a".into(), 1).await.unwrap().len(),
        1
    );
}

pub async fn a_key_is_found_by_its_digest_in_any_state_until_it_is_deleted(f: Fixture) {
    let expiring = NewKey {
        expires_at: Some(2_000_000_000),
        ..new_key("key_2", "svc_a", 2)
    };
    service_with(&f, &[new_key("key_1", "svc_a", 1), expiring]).await;
    f.store
        .update_key(
            "svc_a".into(),
            "key_1".into(),
            change(None, Some(false), None),
            1_800_000_100,
            audit(AuditAction::ApiKeyUpdate, "svc_a"),
        )
        .await
        .unwrap();
    let found = f.store.find_key_by_digest([1; 32]).await.unwrap().unwrap();
    assert_eq!(found.service_name, "alpha");
    assert_eq!(found.key.id, "key_1");
    assert!(!found.key.enabled);
    assert_eq!(f.store.find_key_by_digest([9; 32]).await.unwrap(), None);
    // What the verify index reads: every key that exists, with when it stops verifying.
    let mut read = f
        .store
        .key_digests(vec![[1; 32], [2; 32], [9; 32]])
        .await
        .unwrap();
    read.sort_by(|a, b| a.key_id.cmp(&b.key_id));
    let valid: Vec<_> = read
        .iter()
        .map(|k| (k.key_id.as_str(), k.digest, k.valid_until))
        .collect();
    assert_eq!(
        valid,
        [
            ("key_1", [1; 32], i64::MIN),
            ("key_2", [2; 32], 2_000_000_000)
        ]
    );
    let live = f.store.live_digest([2; 32]).await.unwrap().unwrap();
    assert_eq!(
        (live.service_id.as_str(), live.valid_until),
        ("svc_a", 2_000_000_000)
    );
    let mut all = f.store.all_key_digests().await.unwrap();
    all.sort_by(|a, b| a.key_id.cmp(&b.key_id));
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].valid_until, i64::MIN);
    f.store
        .delete_key(
            "svc_a".into(),
            "key_2".into(),
            audit(AuditAction::ApiKeyDelete, "svc_a"),
        )
        .await
        .unwrap();
    assert_eq!(f.store.find_key_by_digest([2; 32]).await.unwrap(), None);
    assert!(f.store.live_digest([2; 32]).await.unwrap().is_none());
    assert!(f.store.key_digests(vec![[2; 32]]).await.unwrap().is_empty());
}

pub async fn settings_are_set_again_or_initialised_once(f: Fixture) {
    assert_eq!(f.store.get_meta("k").await.unwrap(), None);
    f.store.set_meta("k", "one".into()).await.unwrap();
    f.store.set_meta("k", "two".into()).await.unwrap();
    assert_eq!(f.store.get_meta("k").await.unwrap().as_deref(), Some("two"));
    assert_eq!(f.store.init_meta("k", "three".into()).await.unwrap(), "two");
    assert_eq!(
        f.store.init_meta("new", "first".into()).await.unwrap(),
        "first"
    );
    assert_eq!(
        f.store.init_meta("new", "second".into()).await.unwrap(),
        "first"
    );
    assert_eq!(
        f.store.get_meta("new").await.unwrap().as_deref(),
        Some("first")
    );
}

/// docs/api.md, Time: a rotation whose body gives the successor an expiry (`lifetime_seconds`
/// or `expires_at`) keeps it rather than the old key's lifetime.
pub async fn a_rotation_with_the_successors_own_expiry_keeps_it(f: Fixture) {
    let old = NewKey {
        expires_at: Some(1_800_000_001 + 1000),
        ..new_key("key_1", "svc_a", 1)
    };
    service_with(&f, &[old]).await;
    let t = 1_800_000_101;
    let r = f
        .store
        .rotate_key(
            NewKey {
                created_at: t,
                expires_at: Some(t + 7 * 86_400),
                ..new_key("key_new", "svc_a", 9)
            },
            "key_1".into(),
            3600,
            None,
            audit(AuditAction::ApiKeyRotate, "svc_a"),
        )
        .await
        .unwrap();
    assert_eq!(r.successor.expires_at, Some(t + 7 * 86_400));
    assert_eq!(
        r.old.expires_at,
        Some(t + 3600),
        "the grace is the old key's"
    );
}

/// A key's policy as issued by the test below: `query` only, 5/s, two networks.
fn narrow_policy() -> Policy {
    Policy {
        scopes: vec![Scope::Query],
        rate_limit: Some(RateLimit {
            requests: 5,
            per_seconds: 1,
        }),
        allowed_cidrs: Some(vec!["10.0.0.0/8".into(), "2001:db8::/32".into()]),
    }
}

pub async fn a_policy_is_kept_changed_with_its_changes_audited_and_inherited(f: Fixture) {
    let issued = NewKey {
        policy: narrow_policy(),
        ..new_key("key_1", "svc_a", 1)
    };
    service_with(&f, &[issued, new_key("key_2", "svc_a", 2)]).await;
    // Every read carries the policy: the list, one key, by digest, and the verify index's reads.
    let keys = f.store.list_keys("svc_a".into()).await.unwrap();
    let by_id = |id: &str| keys.iter().find(|k| k.id == id).unwrap().policy.clone();
    assert_eq!(by_id("key_1"), narrow_policy());
    assert_eq!(by_id("key_2"), Policy::full(), "issued without: everything");
    let one = f.store.get_key("svc_a".into(), "key_1".into()).await;
    assert_eq!(one.unwrap().unwrap().policy, narrow_policy());
    let found = f.store.find_key_by_digest([1; 32]).await.unwrap().unwrap();
    assert_eq!(found.key.policy, narrow_policy());
    let digests = f.store.key_digests(vec![[1; 32]]).await.unwrap();
    assert_eq!(digests[0].policy, narrow_policy());
    let all = f.store.all_key_digests().await.unwrap();
    assert!(
        all.iter()
            .any(|d| d.digest == [1; 32] && d.policy == narrow_policy())
    );
    assert_eq!(
        f.store.live_digest([1; 32]).await.unwrap().unwrap().policy,
        narrow_policy()
    );

    let now = 1_800_000_100;
    let patch = |id: &str, c: KeyChange| {
        f.store.update_key(
            "svc_a".into(),
            id.to_owned(),
            c,
            now,
            AuditEvent {
                key_id: Some(id.to_owned()),
                ..audit(AuditAction::ApiKeyUpdate, "svc_a")
            },
        )
    };
    // Narrow key_2 to `query` and name it: one event listing both fields in API form.
    let u = patch(
        "key_2",
        KeyChange {
            name: Some(Some("chat".into())),
            scopes: Some(vec![Scope::Query]),
            ..KeyChange::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(u.actions, [AuditAction::ApiKeyUpdate]);
    assert_eq!(u.key.policy.scopes, [Scope::Query]);
    let event = f
        .store
        .list_audit("svc_a".into(), 1)
        .await
        .unwrap()
        .remove(0);
    let changes = serde_json::to_value(event.changes.expect("changes")).unwrap();
    assert_eq!(
        changes,
        serde_json::json!({
            "name": {"from": null, "to": "chat"},
            "scopes": {"from": ["query", "ingest", "manage"], "to": ["query"]},
        })
    );
    // The same values again: no change, no event.
    let same = patch(
        "key_2",
        KeyChange {
            scopes: Some(vec![Scope::Query]),
            rate_limit: Some(None),
            allowed_cidrs: Some(None),
            ..KeyChange::default()
        },
    )
    .await
    .unwrap();
    assert!(same.actions.is_empty(), "{:?}", same.actions);
    // Clearing the limit and the allowlist of key_1: both listed, `null` on the new side.
    let cleared = patch(
        "key_1",
        KeyChange {
            rate_limit: Some(None),
            allowed_cidrs: Some(None),
            ..KeyChange::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        cleared.key.policy,
        Policy {
            scopes: vec![Scope::Query],
            ..Policy::full()
        }
    );
    let event = f
        .store
        .list_audit("svc_a".into(), 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        serde_json::to_value(event.changes.unwrap()).unwrap(),
        serde_json::json!({
            "rate_limit": {"from": {"requests": 5, "per_seconds": 1}, "to": null},
            "allowed_cidrs": {"from": ["10.0.0.0/8", "2001:db8::/32"], "to": null},
        })
    );
    // Events of other kinds have no `changes`, in both listings.
    let disabled = patch(
        "key_1",
        KeyChange {
            enabled: Some(false),
            ..KeyChange::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(disabled.actions, [AuditAction::ApiKeyDisable]);
    let page = f
        .store
        .list_audit_page(AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(page[0].event.changes.is_none());
    assert_eq!(
        page.iter()
            .filter(|e| e.event.changes.is_some())
            .map(|e| e.event.action)
            .collect::<Vec<_>>(),
        [AuditAction::ApiKeyUpdate, AuditAction::ApiKeyUpdate]
    );
    // Stored and read back as changed.
    let keys = f.store.list_keys("svc_a".into()).await.unwrap();
    assert_eq!(
        keys.iter().find(|k| k.id == "key_2").unwrap().policy.scopes,
        [Scope::Query]
    );
    // A rotation's successor inherits the policy, whatever the successor came with.
    let rotated = f
        .store
        .rotate_key(
            NewKey {
                created_at: now,
                ..new_key("key_3", "svc_a", 3)
            },
            "key_2".into(),
            60,
            None,
            audit(AuditAction::ApiKeyRotate, "svc_a"),
        )
        .await
        .unwrap();
    assert_eq!(rotated.successor.policy.scopes, [Scope::Query]);
    let stored = f.store.get_key("svc_a".into(), "key_3".into()).await;
    assert_eq!(stored.unwrap().unwrap().policy.scopes, [Scope::Query]);
}

mod attention;
mod leaks;
pub use attention::*;
pub use leaks::*;
