//! The key lifecycle (API.md, Key lifecycle): PATCH, rotation into a shared slot, and the lazy
//! retirement of rotated keys whose grace has ended.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::catalog::{KEY_COLUMNS, insert_key, key_row};
use super::common::{digest_of, write_tx};
use super::trail::{insert_audit, upsert_idempotency};
use crate::credential::Digest;
use crate::server::store::{
    IdempotencyRecord, KeyChange, KeyRecord, KeyRotated, KeyUpdated, NewKey, Retired, StoreError,
    StoreResult, UnixTime,
};
use crate::wire::{AuditAction, AuditEvent, KeyState, Role, Timestamp};

/// The actor of events nobody asked for (a grace that ended).
pub const SYSTEM_ACTOR: &str = "system";

/// The key and its digest inside a write transaction; a rotated key whose grace ended by `now`
/// counts as gone (it is retired, not revived). `KeyNotFound` or `ServiceNotFound` otherwise.
fn current(
    tx: &Transaction<'_>,
    service_id: &str,
    key_id: &str,
    now: UnixTime,
) -> StoreResult<(KeyRecord, Digest)> {
    let found = tx
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS}, digest FROM api_keys WHERE id = ?1 AND service_id = ?2"
        ))?
        .query_row([key_id, service_id], |r| {
            Ok((key_row(r)?, digest_of(r, 10)?))
        })
        .optional()?;
    match found {
        Some((k, _)) if k.replaced_by.is_some() && k.expires_at.is_some_and(|e| now >= e) => {
            Err(StoreError::KeyNotFound)
        }
        Some(found) => Ok(found),
        None => {
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM services WHERE id = ?1)",
                [service_id],
                |r| r.get(0),
            )?;
            Err(if exists {
                StoreError::KeyNotFound
            } else {
                StoreError::ServiceNotFound
            })
        }
    }
}

pub fn update_key(
    conn: &mut Connection,
    service_id: &str,
    key_id: &str,
    change: &KeyChange,
    now: UnixTime,
    audit: &AuditEvent,
) -> StoreResult<KeyUpdated> {
    let tx = write_tx(conn)?;
    let (old, digest) = current(&tx, service_id, key_id, now)?;
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
    let key = KeyRecord {
        name,
        enabled,
        expires_at,
        ..old
    };
    if !actions.is_empty() {
        tx.execute(
            "UPDATE api_keys SET name = ?3, enabled = ?4, expires_at = ?5 WHERE id = ?1 AND service_id = ?2",
            params![key_id, service_id, key.name, key.enabled, key.expires_at],
        )?;
        for action in &actions {
            insert_audit(
                &tx,
                &AuditEvent {
                    action: *action,
                    masked: Some(key.masked.clone()),
                    ..audit.clone()
                },
            )?;
        }
    }
    tx.commit()?;
    Ok(KeyUpdated {
        key,
        digest,
        actions,
    })
}

pub fn rotate_key(
    conn: &mut Connection,
    successor: &NewKey,
    old_key_id: &str,
    grace_secs: u32,
    idempotency: Option<&IdempotencyRecord>,
    audit: &AuditEvent,
) -> StoreResult<KeyRotated> {
    let now = successor.created_at;
    let tx = write_tx(conn)?;
    let (old, old_digest) = current(&tx, &successor.service_id, old_key_id, now)?;
    let state = old.state(now);
    if state != KeyState::Active {
        return Err(StoreError::KeyNotActive(format!(
            "API key {old_key_id} is {}; only an active key can be rotated",
            state.as_str()
        )));
    }
    // Same name; the same lifetime counted from now if the old key had one.
    let new = NewKey {
        name: old.name.clone(),
        expires_at: old.expires_at.map(|e| now + (e - old.created_at).max(1)),
        ..successor.clone()
    };
    // The successor takes the old key's slot: key_count does not change.
    let new = insert_key(&tx, &new)?;
    let end = now + i64::from(grace_secs);
    let old_retired = grace_secs == 0;
    if old_retired {
        tx.execute("DELETE FROM api_keys WHERE id = ?1", [old_key_id])?;
    } else {
        tx.execute(
            "UPDATE api_keys SET replaced_by = ?2, expires_at = ?3 WHERE id = ?1",
            params![old_key_id, new.id, end],
        )?;
    }
    if let Some(rec) = idempotency {
        upsert_idempotency(&tx, rec)?;
    }
    let event = AuditEvent {
        masked: Some(old.masked.clone()),
        ..audit.clone()
    };
    insert_audit(&tx, &event)?;
    if old_retired {
        insert_audit(
            &tx,
            &retire_event(&old.service_id, &old.id, &old.masked, now),
        )?;
    }
    tx.commit()?;
    Ok(KeyRotated {
        old: KeyRecord {
            replaced_by: Some(new.id.clone()),
            expires_at: Some(end),
            ..old
        },
        old_digest,
        old_retired,
        successor: new,
    })
}

fn retire_event(service_id: &str, key_id: &str, masked: &str, now: UnixTime) -> AuditEvent {
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
    }
}

pub fn retire_due(
    conn: &mut Connection,
    service_id: Option<&str>,
    now: UnixTime,
) -> StoreResult<Vec<Retired>> {
    // A cheap look first, so that reads do not take the write lock when nothing is due.
    let due: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM api_keys WHERE replaced_by IS NOT NULL \
             AND expires_at <= ?1 AND (?2 IS NULL OR service_id = ?2))",
        )?
        .query_row(params![now, service_id], |r| r.get(0))?;
    if !due {
        return Ok(Vec::new());
    }
    let tx = write_tx(conn)?;
    // Under the write lock each row is deleted, and so retired, exactly once.
    let gone = {
        let mut stmt = tx.prepare_cached(
            "DELETE FROM api_keys WHERE replaced_by IS NOT NULL AND expires_at <= ?1 \
             AND (?2 IS NULL OR service_id = ?2) RETURNING service_id, id, digest, masked",
        )?;
        let rows = stmt.query_map(params![now, service_id], |r| {
            Ok((
                Retired {
                    service_id: r.get(0)?,
                    key_id: r.get(1)?,
                    digest: digest_of(r, 2)?,
                },
                r.get::<_, String>(3)?,
            ))
        })?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    for (r, masked) in &gone {
        insert_audit(&tx, &retire_event(&r.service_id, &r.key_id, masked, now))?;
    }
    tx.commit()?;
    Ok(gone.into_iter().map(|(r, _)| r).collect())
}
