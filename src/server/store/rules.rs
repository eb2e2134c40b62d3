//! The rules of a key's lifecycle (docs/api.md, Key lifecycle), written once for both stores: each
//! store reads the key inside its transaction, asks these functions what the change means,
//! and writes what they answer. Nothing here touches a database.

use super::{KeyChange, KeyRecord, NewKey, StoreError, StoreResult, UnixTime, valid_until};
use crate::wire::{AuditAction, AuditEvent, KeyState, Role, Timestamp};

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
    /// Whether the key verifies differently (enabled or expires_at changed); a rename alone
    /// does not.
    pub verify_changed: bool,
    /// Whether the key may stop verifying earlier than before: the other replicas must have
    /// seen the change before it is answered (docs/api.md, Several replicas).
    pub stops: bool,
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
    let mut actions = Vec::new();
    if enabled != old.enabled {
        actions.push(if enabled {
            AuditAction::ApiKeyEnable
        } else {
            AuditAction::ApiKeyDisable
        });
    }
    if name != old.name || expires_at != old.expires_at {
        actions.push(AuditAction::ApiKeyUpdate);
    }
    let verify_changed = enabled != old.enabled || expires_at != old.expires_at;
    let stops = valid_until(enabled, expires_at) < valid_until(old.enabled, old.expires_at);
    Ok(Update {
        key: KeyRecord {
            name,
            enabled,
            expires_at,
            ..old
        },
        actions,
        verify_changed,
        stops,
    })
}

impl Update {
    /// The audit events to write, one per action, each naming the key's mask.
    pub fn events(&self, audit: &AuditEvent) -> Vec<AuditEvent> {
        self.actions
            .iter()
            .map(|action| AuditEvent {
                action: *action,
                masked: Some(self.key.masked.clone()),
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
/// can be rotated; the successor keeps its name and, unless it comes with an expiry of its own
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
