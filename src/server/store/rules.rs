//! The rules of a key's lifecycle (docs/api.md, Key lifecycle), written once for both stores: each
//! store reads the key inside its transaction, asks these functions what the change means,
//! and writes what they answer. Nothing here touches a database.

use std::collections::BTreeMap;

use rand::Rng;
use serde_json::{Value, json};

use super::{
    KeyChange, KeyRecord, LeakRecord, NewKey, Notice, StoreError, StoreResult, UnixTime,
    valid_until,
};
use crate::policy::Policy;
use crate::wire::{
    AuditAction, AuditEvent, FieldChange, KeyState, Leak, Role, Timestamp, WebhookData,
    WebhookEvent, WebhookEventType,
};

/// The actor of events nobody asked for (a grace that ended).
pub const SYSTEM_ACTOR: &str = "system";

/// The keys that need attention at `now`, as an SQL condition on `api_keys` for both stores
/// (`NOW` stands for the bound time): the terms of `ApiKey::needs_attention`, read off
/// [`KeyRecord::state`]. A rotated key never counts; a disabled one always; a leaked one once it
/// no longer verifies; an active one whose expiry is within `ATTENTION_EXPIRY_SECS`.
pub fn attention_sql(now: &str) -> String {
    let soon = crate::wire::ATTENTION_EXPIRY_SECS;
    format!(
        "replaced_by IS NULL AND (NOT enabled \
         OR (expires_at > {now} AND expires_at <= {now} + {soon}) \
         OR (leak_reported_at IS NOT NULL AND expires_at <= {now}))"
    )
}

/// A rotated key whose grace ended by `now` counts as gone: it is retired, never revived.
pub fn retired_by(key: &KeyRecord, now: UnixTime) -> bool {
    key.replaced_by.is_some() && key.expires_at.is_some_and(|e| now >= e)
}

/// What a PATCH does to a key, decided before anything is written.
#[derive(Clone, Debug)]
pub struct Update {
    /// The key afterwards.
    pub key: KeyRecord,
    /// One audit action per kind of change; none when every field already had its value.
    pub actions: Vec<AuditAction>,
    /// Whether the key verifies differently (enabled, expires_at or its policy changed); a
    /// rename alone does not.
    pub verify_changed: bool,
    /// Whether the key may stop verifying earlier than before, or do less (a narrowed policy):
    /// the other replicas must have seen the change before it is answered (docs/api.md, Several
    /// replicas; Keys that carry their own policy).
    pub stops: bool,
    /// The fields of the `api_key.update` event, each with its old and new value in API form.
    pub changes: BTreeMap<String, FieldChange>,
}

/// Applies `change` to `old` (the key `key_id`) at `now`. A field already at its value is no
/// change. A new expiry on a rotating key is `KeyNotActive` (its grace is fixed), as is
/// enabling an expired key without a new future expiry.
pub fn update(
    old: KeyRecord,
    key_id: &str,
    change: &KeyChange,
    now: UnixTime,
) -> StoreResult<Update> {
    let name = change.name.clone().unwrap_or_else(|| old.name.clone());
    let enabled = change.enabled.unwrap_or(old.enabled);
    let expires_at = change.expires_at.unwrap_or(old.expires_at);
    let rotating = old.replaced_by.is_some();
    if rotating && expires_at != old.expires_at {
        return Err(StoreError::KeyNotActive(format!(
            "API key {key_id} is rotating; the end of its grace cannot be changed"
        )));
    }
    if change.enabled == Some(true) && !rotating && expires_at.is_some_and(|e| now >= e) {
        return Err(StoreError::KeyNotActive(format!(
            "API key {key_id} has expired; enable it together with a new future expires_at"
        )));
    }
    let policy = Policy {
        scopes: change
            .scopes
            .clone()
            .unwrap_or_else(|| old.policy.scopes.clone()),
        rate_limit: change.rate_limit.unwrap_or(old.policy.rate_limit),
        allowed_cidrs: change
            .allowed_cidrs
            .clone()
            .unwrap_or_else(|| old.policy.allowed_cidrs.clone()),
    };
    let mut actions = Vec::new();
    if enabled != old.enabled {
        actions.push(if enabled {
            AuditAction::ApiKeyEnable
        } else {
            AuditAction::ApiKeyDisable
        });
    }
    let new = KeyRecord {
        name,
        enabled,
        expires_at,
        policy,
        ..old.clone()
    };
    let changes = changes(&old, &new);
    if !changes.is_empty() {
        actions.push(AuditAction::ApiKeyUpdate);
    }
    let policy_changed = new.policy != old.policy;
    let verify_changed = enabled != old.enabled || expires_at != old.expires_at || policy_changed;
    let stops = valid_until(enabled, expires_at) < valid_until(old.enabled, old.expires_at)
        || old.policy.narrowed_by(&new.policy);
    Ok(Update {
        key: new,
        actions,
        verify_changed,
        stops,
        changes,
    })
}

/// Each field of an `api_key.update` that differs between `old` and `new`, with both values as
/// the API shows that field (docs/api.md, Endpoints: AuditEvent).
pub fn changes(old: &KeyRecord, new: &KeyRecord) -> BTreeMap<String, FieldChange> {
    let time = |t: Option<UnixTime>| json!(t.map(|t| Timestamp::from_unix(t).to_string()));
    let fields: [(&str, Value, Value); 5] = [
        ("name", json!(old.name), json!(new.name)),
        ("expires_at", time(old.expires_at), time(new.expires_at)),
        ("scopes", json!(old.policy.scopes), json!(new.policy.scopes)),
        (
            "rate_limit",
            json!(old.policy.rate_limit),
            json!(new.policy.rate_limit),
        ),
        (
            "allowed_cidrs",
            json!(old.policy.allowed_cidrs),
            json!(new.policy.allowed_cidrs),
        ),
    ];
    fields
        .into_iter()
        .filter(|(_, from, to)| from != to)
        .map(|(field, from, to)| (field.to_owned(), FieldChange { from, to }))
        .collect()
}

impl Update {
    /// The audit events to write, one per action, each naming the key's mask.
    pub fn events(&self, audit: &AuditEvent) -> Vec<AuditEvent> {
        self.actions
            .iter()
            .map(|action| AuditEvent {
                action: *action,
                masked: Some(self.key.masked.clone()),
                changes: (*action == AuditAction::ApiKeyUpdate).then(|| self.changes.clone()),
                ..audit.clone()
            })
            .collect()
    }
}

/// What a rotation does, decided before anything is written.
#[derive(Clone, Debug)]
pub struct Rotation {
    /// The successor to insert into the old key's slot.
    pub successor: NewKey,
    /// The end of the old key's grace.
    pub end: UnixTime,
    /// True when the grace is 0: the old key is deleted at once.
    pub old_retired: bool,
}

/// Rotates `old` (the key `old_key_id`) into `successor` (created at `now`): only an active key
/// can be rotated, or a leaked one that is disabled or expired, which is then retired at once
/// whatever the grace (docs/api.md, Leaked keys); the successor keeps its name, its policy and, unless it comes with an expiry of its own
/// (docs/api.md, Time), the old key's lifetime (if it had one) counted from now.
pub fn rotation(
    old: &KeyRecord,
    old_key_id: &str,
    successor: &NewKey,
    grace_secs: u32,
) -> StoreResult<Rotation> {
    let now = successor.created_at;
    let state = old.state(now);
    let leaked_stopped =
        old.leak.is_some() && matches!(state, KeyState::Disabled | KeyState::Expired);
    if state != KeyState::Active && !leaked_stopped {
        return Err(StoreError::KeyNotActive(format!(
            "API key {old_key_id} is {}; only an active key, or a leaked one, can be rotated",
            state.as_str()
        )));
    }
    Ok(Rotation {
        successor: NewKey {
            name: old.name.clone(),
            // The successor may do what the old key could (docs/api.md, Changes).
            policy: old.policy.clone(),
            expires_at: successor
                .expires_at
                .or_else(|| old.expires_at.map(|e| now + (e - old.created_at).max(1))),
            ..successor.clone()
        },
        end: now + i64::from(grace_secs),
        // A leaked key gets no grace: it must not verify a moment longer.
        old_retired: grace_secs == 0 || leaked_stopped,
    })
}

impl Rotation {
    /// The old key afterwards: `rotating` until the end of its grace (or as it was before it
    /// was retired at once), pointing at its successor.
    pub fn old_after(&self, old: KeyRecord, successor_id: &str) -> KeyRecord {
        KeyRecord {
            replaced_by: Some(successor_id.to_owned()),
            expires_at: Some(self.end),
            ..old
        }
    }
}

/// The rotation's audit event, naming the old key's mask.
pub fn rotate_event(old: &KeyRecord, audit: &AuditEvent) -> AuditEvent {
    AuditEvent {
        masked: Some(old.masked.clone()),
        ..audit.clone()
    }
}

/// The `api_key.retire` event of a rotated key whose grace ended (or was 0), by the system.
pub fn retire_event(service_id: &str, key_id: &str, masked: &str, now: UnixTime) -> AuditEvent {
    AuditEvent {
        at: Timestamp::from_unix(now),
        actor: SYSTEM_ACTOR.into(),
        // The trail's role column names a token's role; the system acts with a manager's.
        role: Role::Manager,
        action: AuditAction::ApiKeyRetire,
        service_id: service_id.into(),
        key_id: Some(key_id.into()),
        masked: Some(masked.into()),
        remote_addr: String::new(),
        outcome: "ok".into(),
        changes: None,
        url: None,
        source: None,
    }
}

/// `changes` of an audit event as stored: JSON text, `None` for events without.
pub fn changes_text(e: &AuditEvent) -> Option<String> {
    e.changes
        .as_ref()
        .and_then(|c| serde_json::to_string(c).ok())
}

/// Reads [`changes_text`] back; text that does not parse reads as no changes.
pub fn changes_of(text: Option<String>) -> Option<BTreeMap<String, FieldChange>> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

/// What a leak report does to the key it names (docs/api.md, Leaked keys), decided before
/// anything is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeakStep {
    /// Active (also one leaked before and enabled again): disable it and set the leak.
    Disable,
    /// Rotating, also past its grace but not yet retired: retire it at once.
    Retire,
    /// Disabled or expired and never reported: set the leak, keep its state.
    Mark,
    /// Reported before and not active: nothing to write.
    Nothing,
}

/// The [`LeakStep`] for `key` at `now`.
pub fn leak_step(key: &KeyRecord, now: UnixTime) -> LeakStep {
    match key.state(now) {
        _ if key.replaced_by.is_some() => LeakStep::Retire,
        KeyState::Active => LeakStep::Disable,
        _ if key.leak.is_none() => LeakStep::Mark,
        _ => LeakStep::Nothing,
    }
}

/// The `api_key.leak` event of one key from the batch's template.
pub fn leak_event(key: &KeyRecord, leak: &LeakRecord, audit: &AuditEvent) -> AuditEvent {
    AuditEvent {
        action: AuditAction::ApiKeyLeak,
        service_id: key.service_id.clone(),
        key_id: Some(key.id.clone()),
        masked: Some(key.masked.clone()),
        url: Some(leak.url.clone()),
        source: Some(leak.source.clone()),
        ..audit.clone()
    }
}

/// A stored leak as the API shows it.
pub fn leak_wire(l: &LeakRecord) -> Leak {
    Leak {
        reported_at: Timestamp::from_unix(l.reported_at),
        by: l.by.clone(),
        url: l.url.clone(),
        source: l.source.clone(),
    }
}

/// A fresh notice id: `msg_` and 24 base62 characters.
pub fn notice_id() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let mut id = String::from("msg_");
    for _ in 0..24 {
        id.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
    id
}

/// The notice telling `event_type` about `key` of the service `service_name` at `now`
/// (docs/api.md, Notifications): the body names the key by its mask, never its secret.
pub fn notice(
    event_type: WebhookEventType,
    key: &KeyRecord,
    service_name: &str,
    now: UnixTime,
) -> Notice {
    notice_of(event_type, key_data(key, service_name), now)
}

/// What every notice says of `key` of the service `service_name`: its `data`.
pub fn key_data(key: &KeyRecord, service_name: &str) -> WebhookData {
    WebhookData {
        service_id: key.service_id.clone(),
        service_name: service_name.to_owned(),
        key_id: key.id.clone(),
        masked: key.masked.clone(),
        name: key.name.clone(),
        expires_at: key.expires_at.map(Timestamp::from_unix),
        leak: key.leak.as_ref().map(leak_wire),
    }
}

/// The notice telling `event_type` at `now` about the key `data` describes.
pub fn notice_of(event_type: WebhookEventType, data: WebhookData, now: UnixTime) -> Notice {
    let event = WebhookEvent {
        event_type,
        timestamp: Timestamp::from_unix(now),
        data,
    };
    Notice {
        id: notice_id(),
        event_type,
        // A plain struct of strings always serializes.
        body: serde_json::to_string(&event).unwrap_or_default(),
        created_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> KeyRecord {
        KeyRecord {
            id: "key_1".into(),
            service_id: "svc_1".into(),
            masked: "ragk_AbCd********wXyZ".into(),
            name: None,
            created_at: 100,
            created_by: "admin".into(),
            enabled: true,
            expires_at: None,
            last_used_at: None,
            replaced_by: None,
            policy: Policy::default(),
            leak: None,
        }
    }

    fn leak() -> LeakRecord {
        LeakRecord {
            reported_at: 150,
            by: "github".into(),
            url: None,
            source: Some("commit".into()),
        }
    }

    #[test]
    fn a_leak_disables_an_active_key_retires_a_rotating_one_and_marks_a_stopped_one_once() {
        let now = 200;
        assert_eq!(leak_step(&key(), now), LeakStep::Disable);
        let leaked_enabled = KeyRecord {
            leak: Some(leak()),
            ..key()
        };
        assert_eq!(leak_step(&leaked_enabled, now), LeakStep::Disable);
        let rotating = KeyRecord {
            replaced_by: Some("key_2".into()),
            expires_at: Some(now - 1),
            ..key()
        };
        assert_eq!(
            leak_step(&rotating, now),
            LeakStep::Retire,
            "grace over, not yet retired"
        );
        let disabled = KeyRecord {
            enabled: false,
            ..key()
        };
        assert_eq!(leak_step(&disabled, now), LeakStep::Mark);
        let expired = KeyRecord {
            expires_at: Some(now),
            ..key()
        };
        assert_eq!(leak_step(&expired, now), LeakStep::Mark);
        let reported = KeyRecord {
            leak: Some(leak()),
            ..disabled
        };
        assert_eq!(leak_step(&reported, now), LeakStep::Nothing);
    }

    #[test]
    fn a_notice_body_is_the_webhook_event_with_the_mask_and_the_leak() {
        let k = KeyRecord {
            leak: Some(leak()),
            expires_at: Some(300),
            ..key()
        };
        let n = notice(WebhookEventType::ApiKeyLeaked, &k, "alpha", 200);
        assert!(n.id.starts_with("msg_") && n.id.len() == 28, "{}", n.id);
        assert_ne!(n.id, notice_id());
        let body: serde_json::Value = serde_json::from_str(&n.body).unwrap();
        assert_eq!(body["type"], "api_key.leaked");
        assert_eq!(body["data"]["service_name"], "alpha");
        assert_eq!(body["data"]["masked"], "ragk_AbCd********wXyZ");
        assert_eq!(body["data"]["name"], serde_json::Value::Null);
        assert_eq!(body["data"]["leak"]["by"], "github");
        assert_eq!(body["data"]["leak"]["url"], serde_json::Value::Null);
        assert!(body["data"]["expires_at"].is_string());
        let plain = notice(WebhookEventType::ApiKeyRetired, &key(), "alpha", 200);
        let body: serde_json::Value = serde_json::from_str(&plain.body).unwrap();
        assert!(body["data"].get("leak").is_none() && body["data"].get("expires_at").is_none());
    }

    #[test]
    fn a_leaked_stopped_key_rotates_at_once_and_another_stopped_key_not_at_all() {
        let successor = NewKey {
            id: "key_2".into(),
            service_id: "svc_1".into(),
            digest: [2; 32],
            masked: "m".into(),
            name: None,
            created_at: 200,
            created_by: "admin".into(),
            expires_at: None,
            policy: Policy::default(),
        };
        let leaked = KeyRecord {
            enabled: false,
            leak: Some(leak()),
            ..key()
        };
        assert!(
            rotation(&leaked, "key_1", &successor, 3600)
                .unwrap()
                .old_retired
        );
        assert!(
            !rotation(&key(), "key_1", &successor, 3600)
                .unwrap()
                .old_retired
        );
        let disabled = KeyRecord {
            enabled: false,
            ..key()
        };
        let err = rotation(&disabled, "key_1", &successor, 0).unwrap_err();
        assert!(
            err.to_string()
                .contains("only an active key, or a leaked one")
        );
    }
}
