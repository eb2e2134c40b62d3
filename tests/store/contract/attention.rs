//! A service's `attention` (docs/api.md, Service): the keys the store counts in its services
//! query are exactly those the API's own rule (`ApiKey::needs_attention`) picks from the keys it
//! lists, at any moment, service by service.

use ragkeys::server::store::{KeyRecord, LeakRecord, LeakReport, NewKey, ServiceSummary};
use ragkeys::wire::{ApiKey, AuditAction, AuditEvent, Leak, Timestamp};

use super::{audit, change, new_key, service};
use crate::fixture::Fixture;

const NOW: i64 = 1_800_000_500;
const DAY: i64 = 86_400;

/// The key as the API lists it at `now`, to ask the API's rule about it.
fn as_listed(k: KeyRecord, now: i64) -> ApiKey {
    ApiKey {
        state: k.state(now),
        id: k.id,
        masked: k.masked,
        name: k.name,
        created_at: Timestamp::from_unix(k.created_at),
        created_by: k.created_by,
        expires_at: k.expires_at.map(Timestamp::from_unix),
        last_used_at: k.last_used_at.map(Timestamp::from_unix),
        replaced_by: k.replaced_by,
        policy: k.policy,
        leak: k.leak.map(|l| Leak {
            reported_at: Timestamp::from_unix(l.reported_at),
            by: l.by,
            url: l.url,
            source: l.source,
        }),
    }
}

fn expiring(id: &str, service_id: &str, n: u8, at: i64) -> NewKey {
    NewKey {
        expires_at: Some(at),
        ..new_key(id, service_id, n)
    }
}

fn leak(n: u8) -> LeakReport {
    LeakReport {
        digest: [n; 32],
        leak: LeakRecord {
            reported_at: NOW,
            by: "admin".into(),
            url: None,
            source: None,
        },
    }
}

fn leak_audit() -> AuditEvent {
    AuditEvent {
        at: Timestamp::from_unix(NOW),
        ..audit(AuditAction::ApiKeyLeak, "")
    }
}

fn by_id(all: &[ServiceSummary], id: &str) -> u32 {
    all.iter()
        .find(|s| s.service.id == id)
        .unwrap_or_else(|| panic!("{id} listed"))
        .attention
}

pub async fn a_service_counts_the_keys_that_need_attention_as_the_api_rule_does(f: Fixture) {
    let s = &f.store;
    for (id, name) in [("svc_a", "alpha"), ("svc_b", "bravo"), ("svc_c", "charlie")] {
        s.create_service(
            service(id, name),
            999,
            audit(AuditAction::ServiceCreate, id),
        )
        .await
        .unwrap();
    }
    let keys = [
        new_key("plain", "svc_a", 1),
        new_key("disabled", "svc_a", 2),
        expiring("in_3_days", "svc_a", 3, NOW + 3 * DAY),
        expiring("in_7_days", "svc_a", 4, NOW + 7 * DAY),
        expiring("in_8_days", "svc_a", 5, NOW + 8 * DAY),
        expiring("expired", "svc_a", 6, NOW - 10),
        expiring("expired_leaked", "svc_a", 7, NOW - 10),
        new_key("leaked_enabled_again", "svc_a", 8),
        new_key("rotated", "svc_a", 9),
        new_key("leaked_disabled", "svc_a", 10),
        new_key("other_disabled", "svc_c", 11),
        new_key("other_plain", "svc_c", 12),
    ];
    for k in keys {
        let sid = k.service_id.clone();
        s.issue_key(k, 20, None, audit(AuditAction::ApiKeyIssue, &sid))
            .await
            .unwrap();
    }
    for (sid, id) in [("svc_a", "disabled"), ("svc_c", "other_disabled")] {
        s.update_key(
            sid.into(),
            id.into(),
            change(None, Some(false), None),
            NOW - 100,
            audit(AuditAction::ApiKeyUpdate, sid),
        )
        .await
        .unwrap();
    }
    s.rotate_key(
        NewKey {
            created_at: NOW - 50,
            ..new_key("successor", "svc_a", 13)
        },
        "rotated".into(),
        3600,
        None,
        audit(AuditAction::ApiKeyRotate, "svc_a"),
    )
    .await
    .unwrap();
    s.report_leaks(vec![leak(7), leak(8), leak(10)], leak_audit(), NOW)
        .await
        .unwrap();
    // Enabled again after the report: `active · leaked` verifies, nothing is left to do.
    s.update_key(
        "svc_a".into(),
        "leaked_enabled_again".into(),
        change(None, Some(true), None),
        NOW,
        audit(AuditAction::ApiKeyUpdate, "svc_a"),
    )
    .await
    .unwrap();

    // disabled, in_3_days, in_7_days (the bound counts), expired_leaked, leaked_disabled.
    let all = s.list_service_summaries(NOW).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|x| x.service.id.as_str())
            .collect::<Vec<_>>(),
        ["svc_a", "svc_b", "svc_c"],
        "oldest first, as list_services"
    );
    assert_eq!(by_id(&all, "svc_a"), 5);
    assert_eq!(by_id(&all, "svc_b"), 0, "a service without keys");
    assert_eq!(by_id(&all, "svc_c"), 1);
    let plain: Vec<_> = s.list_services().await.unwrap();
    assert_eq!(
        all.iter().map(|x| x.service.clone()).collect::<Vec<_>>(),
        plain,
        "the same services, field by field"
    );

    // At every moment the count is the API's rule over the listed keys: an expiry comes within
    // 7 days, a key expires, a grace ends.
    for now in [
        NOW,
        NOW + DAY + 1,
        NOW + 3 * DAY,
        NOW + 7 * DAY + 1,
        NOW + 9 * DAY,
    ] {
        let all = s.list_service_summaries(now).await.unwrap();
        for id in ["svc_a", "svc_b", "svc_c"] {
            let listed = s.list_keys(id.into()).await.unwrap();
            let by_rule = listed
                .into_iter()
                .map(|k| as_listed(k, now))
                .filter(|k| k.needs_attention(Timestamp::from_unix(now)))
                .count() as u32;
            assert_eq!(by_id(&all, id), by_rule, "{id} at {now}");
            let one = s.get_service_summary(id.into(), now).await.unwrap();
            assert_eq!(
                one.map(|x| x.attention),
                Some(by_rule),
                "{id} alone at {now}"
            );
        }
    }
    assert_eq!(
        s.get_service_summary("svc_gone".into(), NOW).await.unwrap(),
        None
    );
}
