//! The contract of leaked keys and the notice outbox (docs/api.md, Leaked keys; Notifications).

use ragkeys::server::store::{
    DeliveryResult, LeakOutcome, LeakRecord, LeakReport, NewKey, Notice, StoreError,
    TOMBSTONE_KEEP_SECS,
};
use ragkeys::wire::{
    AuditAction, AuditEvent, KeyState, Role, Timestamp, WebhookEvent, WebhookEventType,
};

use super::{audit, change, new_key, service, service_with};
use crate::fixture::Fixture;

const NOW: i64 = 1_800_000_500;
const HOOK: &str = "https://hooks.example/ragkeys";

fn report(n: u8, url: Option<&str>) -> LeakReport {
    LeakReport {
        digest: [n; 32],
        leak: LeakRecord {
            reported_at: NOW,
            by: "github".into(),
            url: url.map(str::to_owned),
            source: Some("commit".into()),
        },
    }
}

fn leak_audit() -> AuditEvent {
    AuditEvent {
        actor: "github".into(),
        role: Role::System,
        at: Timestamp::from_unix(NOW),
        ..audit(AuditAction::ApiKeyLeak, "")
    }
}

/// Every notice in the outbox, as the one webhook URL would receive them, finished at once.
async fn drain(f: &Fixture) -> Vec<WebhookEvent> {
    let got = f
        .store
        .claim_deliveries(vec![HOOK.into()], NOW + 10, 60, 1000)
        .await
        .unwrap();
    let mut events = Vec::new();
    for d in got {
        assert!(d.notice.id.starts_with("msg_"), "{}", d.notice.id);
        assert!(
            !d.notice.body.contains("ragk_"),
            "a mask only: {}",
            d.notice.body
        );
        let e: WebhookEvent = serde_json::from_str(&d.notice.body).unwrap();
        assert_eq!(e.event_type, d.notice.event_type);
        f.store
            .finish_delivery(d.notice.id, d.url, DeliveryResult::Delivered)
            .await
            .unwrap();
        events.push(e);
    }
    events
}

fn masked_key(id: &str, n: u8) -> NewKey {
    NewKey {
        masked: format!("rk_mask{n}"),
        name: Some(format!("name{n}")),
        ..new_key(id, "svc_a", n)
    }
}

pub async fn a_leak_report_disables_marks_retires_or_leaves_each_key(f: Fixture) {
    let expiring = NewKey {
        expires_at: Some(NOW - 10),
        ..masked_key("key_3", 3)
    };
    service_with(
        &f,
        &[
            masked_key("key_1", 1),
            masked_key("key_2", 2),
            expiring,
            masked_key("key_4", 4),
            masked_key("key_5", 5),
        ],
    )
    .await;
    let s = &f.store;
    s.update_key(
        "svc_a".into(),
        "key_2".into(),
        change(None, Some(false), None),
        NOW - 100,
        audit(AuditAction::ApiKeyUpdate, "svc_a"),
    )
    .await
    .unwrap();
    s.rotate_key(
        NewKey {
            created_at: NOW - 50,
            ..masked_key("key_4b", 40)
        },
        "key_4".into(),
        3600,
        None,
        audit(AuditAction::ApiKeyRotate, "svc_a"),
    )
    .await
    .unwrap();
    s.delete_key(
        "svc_a".into(),
        "key_5".into(),
        audit(AuditAction::ApiKeyDelete, "svc_a"),
    )
    .await
    .unwrap();
    drain(&f).await;

    let out = s
        .report_leaks(
            vec![
                report(1, Some("https://github.com/o/r/blob/x")),
                report(2, None),
                report(3, None),
                report(4, None),
                report(5, None),
                report(9, None),
                report(1, None),
            ],
            leak_audit(),
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(out.len(), 7);
    let LeakOutcome::Disabled(k1) = &out[0] else {
        panic!("{:?}", out[0])
    };
    assert!(!k1.key.enabled);
    assert_eq!(
        k1.key.leak.as_ref().unwrap().url.as_deref(),
        Some("https://github.com/o/r/blob/x")
    );
    assert_eq!(k1.service_name, "alpha");
    assert!(
        matches!(&out[1], LeakOutcome::Marked(k) if k.key.state(NOW) == KeyState::Disabled && k.key.leak.is_some())
    );
    assert!(
        matches!(&out[2], LeakOutcome::Marked(k) if k.key.state(NOW) == KeyState::Expired && k.key.enabled)
    );
    assert!(
        matches!(&out[3], LeakOutcome::Retired(k) if k.key.id == "key_4" && k.key.leak.is_some())
    );
    assert!(
        matches!(&out[4], LeakOutcome::Gone(Some(t)) if t.key_id == "key_5" && t.service_id == "svc_a")
    );
    assert!(matches!(&out[5], LeakOutcome::Gone(None)));
    assert!(
        matches!(&out[6], LeakOutcome::Unchanged(k) if k.key.id == "key_1"),
        "{:?}",
        out[6]
    );

    // Stored: the leak is read back everywhere, the rotating key is gone, its successor stays.
    let k1 = s
        .get_key("svc_a".into(), "key_1".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(k1.leak.as_ref().unwrap().by, "github");
    assert_eq!(k1.leak.as_ref().unwrap().source.as_deref(), Some("commit"));
    assert!(
        s.get_key("svc_a".into(), "key_4".into())
            .await
            .unwrap()
            .is_none()
    );
    let succ = s
        .get_key("svc_a".into(), "key_4b".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((succ.state(NOW), succ.leak), (KeyState::Active, None));
    let found = s.find_key_by_digest([2; 32]).await.unwrap().unwrap();
    assert!(found.key.leak.is_some());
    let listed = s.list_keys("svc_a".into()).await.unwrap();
    assert_eq!(listed.iter().filter(|k| k.leak.is_some()).count(), 3);

    // The trail: one api_key.leak per changed key with url and source, the retire after its leak.
    let mut events = s.list_audit("svc_a".into(), 100).await.unwrap();
    events.reverse();
    let tail: Vec<(AuditAction, Option<String>)> = events
        .iter()
        .rev()
        .take(5)
        .rev()
        .map(|e| (e.action, e.key_id.clone()))
        .collect();
    let id = |s: &str| Some(s.to_owned());
    assert_eq!(
        tail,
        vec![
            (AuditAction::ApiKeyLeak, id("key_1")),
            (AuditAction::ApiKeyLeak, id("key_2")),
            (AuditAction::ApiKeyLeak, id("key_3")),
            (AuditAction::ApiKeyLeak, id("key_4")),
            (AuditAction::ApiKeyRetire, id("key_4")),
        ]
    );
    let first = &events[events.len() - 5];
    assert_eq!(
        first.url,
        Some(Some("https://github.com/o/r/blob/x".into()))
    );
    assert_eq!(first.source, Some(Some("commit".into())));
    assert_eq!(first.masked.as_deref(), Some("rk_mask1"));
    assert_eq!(first.actor, "github");
    assert_eq!(events[events.len() - 4].url, Some(None), "JSON null");
    for e in events
        .iter()
        .filter(|e| e.action != AuditAction::ApiKeyLeak)
    {
        assert_eq!((&e.url, &e.source), (&None, &None), "{:?}", e.action);
    }
    let json = serde_json::to_value(first).unwrap();
    assert_eq!(json["source"], "commit");
    let other = serde_json::to_value(events.last().unwrap()).unwrap();
    assert!(
        other.get("url").is_none() && other.get("source").is_none(),
        "{other}"
    );

    // One api_key.leaked per changed key, none retired for the leak of a rotating key.
    let sent = drain(&f).await;
    let kinds: Vec<(WebhookEventType, String)> = sent
        .iter()
        .map(|e| (e.event_type, e.data.key_id.clone()))
        .collect();
    assert_eq!(
        kinds,
        ["key_1", "key_2", "key_3", "key_4"]
            .map(|k| (WebhookEventType::ApiKeyLeaked, k.to_owned()))
            .to_vec()
    );
    let d = &sent[0].data;
    assert_eq!(
        (
            d.service_id.as_str(),
            d.service_name.as_str(),
            d.masked.as_str()
        ),
        ("svc_a", "alpha", "rk_mask1")
    );
    assert_eq!(d.name.as_deref(), Some("name1"));
    assert_eq!(d.leak.as_ref().unwrap().by, "github");
    assert_eq!(sent[0].timestamp, Timestamp::from_unix(NOW));
    assert_eq!(
        sent[2].data.expires_at,
        Some(Timestamp::from_unix(NOW - 10))
    );

    // A leaked key enabled again and reported again is disabled again, the leak replaced.
    s.update_key(
        "svc_a".into(),
        "key_1".into(),
        change(None, Some(true), None),
        NOW + 1,
        audit(AuditAction::ApiKeyUpdate, "svc_a"),
    )
    .await
    .unwrap();
    let mut again = report(1, Some("https://later.example"));
    again.leak.reported_at = NOW + 2;
    let out = s
        .report_leaks(vec![again], leak_audit(), NOW + 2)
        .await
        .unwrap();
    let LeakOutcome::Disabled(k) = &out[0] else {
        panic!("{:?}", out[0])
    };
    assert_eq!(k.key.leak.as_ref().unwrap().reported_at, NOW + 2);
    assert_eq!(drain(&f).await.len(), 1);
    // Reported again while stopped: nothing written.
    let before = s.list_audit("svc_a".into(), 100).await.unwrap().len();
    let out = s
        .report_leaks(vec![report(2, None)], leak_audit(), NOW + 3)
        .await
        .unwrap();
    assert!(matches!(&out[0], LeakOutcome::Unchanged(_)));
    assert_eq!(
        s.list_audit("svc_a".into(), 100).await.unwrap().len(),
        before
    );
    assert_eq!(s.pending_deliveries().await.unwrap(), 0);
}

pub async fn every_removal_leaves_a_tombstone_for_400_days(f: Fixture) {
    service_with(
        &f,
        &(1..=4)
            .map(|n| masked_key(&format!("key_{n}"), n))
            .collect::<Vec<_>>(),
    )
    .await;
    let s = &f.store;
    let at = |t: i64, a: AuditAction, svc: &str| AuditEvent {
        at: Timestamp::from_unix(t),
        ..audit(a, svc)
    };
    s.delete_key(
        "svc_a".into(),
        "key_1".into(),
        at(NOW, AuditAction::ApiKeyDelete, "svc_a"),
    )
    .await
    .unwrap();
    // Rotated with no grace: gone at once.
    s.rotate_key(
        NewKey {
            created_at: NOW,
            ..masked_key("key_2b", 20)
        },
        "key_2".into(),
        0,
        None,
        audit(AuditAction::ApiKeyRotate, "svc_a"),
    )
    .await
    .unwrap();
    // Rotated with a grace that ends, then retired.
    s.rotate_key(
        NewKey {
            created_at: NOW,
            ..masked_key("key_3b", 30)
        },
        "key_3".into(),
        60,
        None,
        audit(AuditAction::ApiKeyRotate, "svc_a"),
    )
    .await
    .unwrap();
    assert_eq!(s.retire_due(None, NOW + 60).await.unwrap().len(), 1);
    // A whole service with its keys.
    s.create_service(
        service("svc_b", "beta"),
        999,
        audit(AuditAction::ServiceCreate, "svc_b"),
    )
    .await
    .unwrap();
    s.issue_key(
        NewKey {
            service_id: "svc_b".into(),
            ..masked_key("key_b", 7)
        },
        10,
        None,
        audit(AuditAction::ApiKeyIssue, "svc_b"),
    )
    .await
    .unwrap();
    s.delete_service("svc_b".into(), at(NOW, AuditAction::ServiceDelete, "svc_b"))
        .await
        .unwrap();

    let gone = |out: &[LeakOutcome]| -> Vec<Option<(String, i64)>> {
        out.iter()
            .map(|o| match o {
                LeakOutcome::Gone(t) => t.as_ref().map(|t| (t.key_id.clone(), t.gone_at)),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    let digests = [1u8, 2, 3, 7];
    let reports = || digests.iter().map(|n| report(*n, None)).collect::<Vec<_>>();
    let out = s
        .report_leaks(reports(), leak_audit(), NOW + 100)
        .await
        .unwrap();
    assert_eq!(
        gone(&out),
        vec![
            Some(("key_1".into(), NOW)),
            Some(("key_2".into(), NOW)),
            Some(("key_3".into(), NOW + 60)),
            Some(("key_b".into(), NOW)),
        ]
    );
    // Nothing was written for keys that are gone.
    let retired = drain(&f).await;
    assert!(
        retired
            .iter()
            .all(|e| e.event_type == WebhookEventType::ApiKeyRetired)
    );
    let ids: Vec<&str> = retired.iter().map(|e| e.data.key_id.as_str()).collect();
    assert_eq!(
        ids,
        ["key_2", "key_3"],
        "retired notices, none for a delete"
    );

    // 400 days later the tombstones are pruned by the retirement pass.
    let later = NOW + 60 + TOMBSTONE_KEEP_SECS + 1;
    assert!(s.retire_due(None, later).await.unwrap().is_empty());
    let out = s
        .report_leaks(reports(), leak_audit(), later)
        .await
        .unwrap();
    assert_eq!(gone(&out), vec![None, None, None, None]);
}

/// A retired key leaves the list but not the verify index: its tombstone brings it back as a
/// key disabled for good (at start, for a change, for an index miss), and says what a
/// `api_key.disabled_still_called` names; deleting its service forgets it.
pub async fn a_retired_key_stays_known_as_stopped_until_its_service_goes(f: Fixture) {
    service_with(
        &f,
        &(1..=3)
            .map(|n| masked_key(&format!("key_{n}"), n))
            .collect::<Vec<_>>(),
    )
    .await;
    let s = &f.store;
    s.delete_key(
        "svc_a".into(),
        "key_1".into(),
        audit(AuditAction::ApiKeyDelete, "svc_a"),
    )
    .await
    .unwrap();
    for (old, successor, n, grace) in [("key_2", "key_2b", 20, 0), ("key_3", "key_3b", 30, 60)] {
        s.rotate_key(
            NewKey {
                created_at: NOW,
                ..masked_key(successor, n)
            },
            old.into(),
            grace,
            None,
            audit(AuditAction::ApiKeyRotate, "svc_a"),
        )
        .await
        .unwrap();
    }
    assert_eq!(s.retire_due(None, NOW + 60).await.unwrap().len(), 1);

    let stopped = |keys: Vec<ragkeys::server::store::KeyDigest>| -> Vec<(u8, String, bool)> {
        let mut v: Vec<_> = keys
            .into_iter()
            .filter(|k| [1, 2, 3].contains(&k.digest[0]))
            .map(|k| (k.digest[0], k.key_id, k.valid_until == i64::MIN))
            .collect();
        v.sort();
        v
    };
    let expected = vec![
        (2, "key_2".to_string(), true),
        (3, "key_3".to_string(), true),
    ];
    assert_eq!(stopped(s.all_key_digests().await.unwrap()), expected);
    assert_eq!(
        stopped(
            s.key_digests(vec![[1; 32], [2; 32], [3; 32]])
                .await
                .unwrap()
        ),
        expected
    );
    assert!(s.live_digest([1; 32]).await.unwrap().is_none(), "deleted");
    let retired = s.live_digest([2; 32]).await.unwrap().unwrap();
    assert_eq!(
        (retired.service_id.as_str(), retired.valid_until),
        ("svc_a", i64::MIN)
    );

    let data = s
        .retired_key("svc_a".into(), "key_3".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            data.key_id.as_str(),
            data.masked.as_str(),
            data.name.as_deref()
        ),
        ("key_3", "rk_mask3", Some("name3"))
    );
    assert_eq!(data.service_id, "svc_a");
    assert!(
        s.retired_key("svc_a".into(), "key_1".into())
            .await
            .unwrap()
            .is_none(),
        "a deleted key was not retired"
    );
    assert!(
        s.retired_key("svc_b".into(), "key_3".into())
            .await
            .unwrap()
            .is_none(),
        "another service's"
    );

    // The service goes: its retired keys are forgotten with it, by every replica (the digests
    // it answers are the ones the verify index drops).
    let mut gone = s
        .delete_service("svc_a".into(), audit(AuditAction::ServiceDelete, "svc_a"))
        .await
        .unwrap();
    gone.sort();
    assert_eq!(gone, vec![[2; 32], [3; 32], [20; 32], [30; 32]]);
    assert_eq!(stopped(s.all_key_digests().await.unwrap()), vec![]);
    assert!(s.live_digest([2; 32]).await.unwrap().is_none());
    assert!(
        s.retired_key("svc_a".into(), "key_3".into())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn a_leaked_stopped_key_rotates_without_grace(f: Fixture) {
    service_with(&f, &[masked_key("key_1", 1), masked_key("key_2", 2)]).await;
    let s = &f.store;
    s.report_leaks(vec![report(1, None)], leak_audit(), NOW)
        .await
        .unwrap();
    drain(&f).await;
    let r = s
        .rotate_key(
            NewKey {
                created_at: NOW + 5,
                ..masked_key("key_1b", 10)
            },
            "key_1".into(),
            3600,
            None,
            audit(AuditAction::ApiKeyRotate, "svc_a"),
        )
        .await
        .unwrap();
    assert!(r.old_retired, "no grace for a leaked key");
    assert_eq!(r.successor.leak, None);
    assert!(r.successor.enabled);
    assert!(
        s.get_key("svc_a".into(), "key_1".into())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.get_service("svc_a".into())
            .await
            .unwrap()
            .unwrap()
            .key_count,
        2
    );
    let mut events = s.list_audit("svc_a".into(), 100).await.unwrap();
    events.reverse();
    let n = events.len();
    assert_eq!(
        (events[n - 2].action, events[n - 1].action),
        (AuditAction::ApiKeyRotate, AuditAction::ApiKeyRetire)
    );
    let sent = drain(&f).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].event_type, WebhookEventType::ApiKeyRetired);
    assert_eq!(sent[0].data.key_id, "key_1");
    assert!(sent[0].data.leak.is_some());
    let out = s
        .report_leaks(vec![report(1, None)], leak_audit(), NOW + 6)
        .await
        .unwrap();
    assert!(matches!(&out[0], LeakOutcome::Gone(Some(t)) if t.key_id == "key_1"));
    // A disabled key that never leaked still cannot be rotated.
    s.update_key(
        "svc_a".into(),
        "key_2".into(),
        change(None, Some(false), None),
        NOW,
        audit(AuditAction::ApiKeyUpdate, "svc_a"),
    )
    .await
    .unwrap();
    let err = s
        .rotate_key(
            NewKey {
                created_at: NOW + 5,
                ..masked_key("key_2b", 20)
            },
            "key_2".into(),
            0,
            None,
            audit(AuditAction::ApiKeyRotate, "svc_a"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::KeyNotActive(m) if m.contains("only an active key, or a leaked one, can be rotated")),
        "{err}"
    );
}

fn notice(kind: WebhookEventType, at: i64) -> Notice {
    Notice {
        id: format!("msg_{at}"),
        event_type: kind,
        body: format!("{{\"n\":{at}}}"),
        created_at: at,
    }
}

pub async fn notices_fan_out_and_are_claimed_retried_and_finished(f: Fixture) {
    let s = &f.store;
    let kind = WebhookEventType::ApiKeyExpiring;
    assert!(
        s.add_notice("expiring:7d:key_1".into(), notice(kind, 1))
            .await
            .unwrap()
    );
    assert!(
        !s.add_notice("expiring:7d:key_1".into(), notice(kind, 2))
            .await
            .unwrap(),
        "once"
    );
    assert!(
        s.add_notice("expiring:1d:key_1".into(), notice(kind, 3))
            .await
            .unwrap()
    );
    assert_eq!(s.pending_deliveries().await.unwrap(), 2);
    let urls = vec![
        "https://a.example".to_owned(),
        "https://b.example".to_owned(),
    ];
    let got = s.claim_deliveries(urls.clone(), NOW, 30, 3).await.unwrap();
    assert_eq!(got.len(), 3, "limited");
    assert_eq!(got[0].notice.id, "msg_1", "oldest first");
    assert_eq!(got[0].notice.body, "{\"n\":1}");
    assert_eq!(got[0].attempts, 0);
    assert_eq!(s.pending_deliveries().await.unwrap(), 4);
    // Claimed ones are not claimed again until the claim runs out.
    let rest = s
        .claim_deliveries(urls.clone(), NOW + 1, 30, 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert!(
        s.claim_deliveries(urls.clone(), NOW + 2, 30, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = s
        .claim_deliveries(urls.clone(), NOW + 30, 30, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 3, "claims of 30 s ran out");
    for d in &again {
        let result = if d.url == "https://a.example" {
            DeliveryResult::RetryAt(NOW + 100)
        } else {
            DeliveryResult::Delivered
        };
        s.finish_delivery(d.notice.id.clone(), d.url.clone(), result)
            .await
            .unwrap();
    }
    // The fourth delivery, claimed at NOW + 1, is dropped.
    s.finish_delivery(
        rest[0].notice.id.clone(),
        rest[0].url.clone(),
        DeliveryResult::Dropped,
    )
    .await
    .unwrap();
    assert_eq!(s.pending_deliveries().await.unwrap(), 2, "the two retries");
    assert!(
        s.claim_deliveries(urls.clone(), NOW + 99, 30, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let retried = s
        .claim_deliveries(urls.clone(), NOW + 100, 30, 10)
        .await
        .unwrap();
    assert_eq!(retried.len(), 2);
    assert!(
        retried
            .iter()
            .all(|d| d.attempts == 1 && d.url == "https://a.example")
    );
    for d in retried {
        s.finish_delivery(d.notice.id, d.url, DeliveryResult::Delivered)
            .await
            .unwrap();
    }
    assert_eq!(s.pending_deliveries().await.unwrap(), 0);
    // A sent notice keeps its dedup key: the next pass adds it again only once it is pruned,
    // 8 days later, at the next notice added.
    assert!(
        !s.add_notice("expiring:7d:key_1".into(), notice(kind, 5))
            .await
            .unwrap(),
        "sent, still taken"
    );
    assert!(
        !s.add_notice("expiring:1d:key_1".into(), notice(kind, 7 * 86_400))
            .await
            .unwrap(),
        "a week later, still taken"
    );
    // With no URL a notice is dropped, but its dedup key stays taken all the same.
    assert!(
        s.add_notice("still_called:2026-12-07:key_1".into(), notice(kind, 6))
            .await
            .unwrap()
    );
    assert!(
        s.claim_deliveries(vec![], NOW, 30, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.pending_deliveries().await.unwrap(), 0);
    assert!(
        !s.add_notice("still_called:2026-12-07:key_1".into(), notice(kind, 7))
            .await
            .unwrap(),
        "dropped for want of a URL, still taken"
    );
    // Eight days on, the old keys are pruned and taken afresh.
    let later = 8 * 86_400 + 10;
    assert!(
        s.add_notice("expiring:7d:key_1".into(), notice(kind, later))
            .await
            .unwrap()
    );
    assert!(
        s.add_notice(
            "still_called:2026-12-07:key_1".into(),
            notice(kind, later + 1)
        )
        .await
        .unwrap()
    );
}
