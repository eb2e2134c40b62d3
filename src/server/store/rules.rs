//! The rules of a key's lifecycle (docs/api.md, Key lifecycle), written once for both stores: each
//! store reads the key inside its transaction, asks these functions what the change means,
//! and writes what they answer. Nothing here touches a database.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{KeyChange, KeyRecord, NewKey, StoreError, StoreResult, UnixTime, valid_until};
use crate::policy::Policy;
use crate::wire::{AuditAction, AuditEvent, FieldChange, KeyState, Role, Timestamp};

/// The actor of events nobody asked for (a grace that ended).
pub const SYSTEM_ACTOR: &str = "system";

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
/// can be rotated; the successor keeps its name, its policy and, unless it comes with an expiry of its own
/// (docs/api.md, Time), the old key's lifetime (if it had one) counted from now.
pub fn rotation(
    old: &KeyRecord,
    old_key_id: &str,
    successor: &NewKey,
    grace_secs: u32,
) -> StoreResult<Rotation> {
    let now = successor.created_at;
    let state = old.state(now);
    if state != KeyState::Active {
        return Err(StoreError::KeyNotActive(format!(
            "API key {old_key_id} is {}; only an active key can be rotated",
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
        old_retired: grace_secs == 0,
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
