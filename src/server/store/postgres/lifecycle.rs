//! The key lifecycle (API.md, Key lifecycle): PATCH, rotation into a shared slot, and the
//! retirement of rotated keys whose grace has ended. Every statement that reads a key to change
//! it locks its row (`FOR UPDATE`), so that of several replicas changing one key at once each
//! sees the others' work: 50 rotations of one key give one successor.

use std::time::Instant;

use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, PgConnection, Row};

use super::catalog::{KEY_COLUMNS, insert_key, key_row};
use super::common::digest_of;
use super::feed::{Phases, announce, await_acks};
use super::trail::{insert_audit, upsert_idempotency};
use crate::credential::Digest;
use crate::server::store::{
    IdempotencyRecord, KeyChange, KeyRecord, KeyRotated, KeyUpdated, NewKey, Retired, StoreError,
    StoreResult, UnixTime,
};
use crate::wire::{AuditAction, AuditEvent, KeyState, Role, Timestamp};

/// The actor of events nobody asked for (a grace that ended), as in SQLite.
const SYSTEM_ACTOR: &str = "system";

/// The key and its digest, locked for this transaction; a rotated key whose grace ended by
/// `now` counts as gone (it is retired, not revived).
async fn current(
    tx: &mut PgConnection,
    service_id: &str,
    key_id: &str,
    now: UnixTime,
) -> StoreResult<(KeyRecord, Digest)> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS}, digest FROM api_keys WHERE id = $1 AND service_id = $2 FOR UPDATE"
    )))
    .bind(key_id)
    .bind(service_id)
    .fetch_optional(&mut *tx)
    .await?;
    let found = match row {
        Some(r) => Some((key_row(&r)?, digest_of(&r, 10)?)),
        None => None,
    };
    match found {
        Some((k, _)) if k.replaced_by.is_some() && k.expires_at.is_some_and(|e| now >= e) => {
            Err(StoreError::KeyNotFound)
        }
        Some(found) => Ok(found),
        None => {
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM services WHERE id = $1)")
                    .bind(service_id)
                    .fetch_one(&mut *tx)
                    .await?;
            Err(if exists {
                StoreError::KeyNotFound
            } else {
                StoreError::ServiceNotFound
            })
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn update_key(
    pool: &PgPool,
    me: &str,
    service_id: &str,
    key_id: &str,
    change: &KeyChange,
    now: UnixTime,
    audit: &AuditEvent,
) -> StoreResult<KeyUpdated> {
    let mut phases = Phases::start("update_key");
    let mut tx = pool.begin().await?;
    phases.acquired();
    let (old, digest) = current(&mut tx, service_id, key_id, now).await?;
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
    // Which keys verify changes only with enabled or expires_at; a rename alone is no change.
    let verify_changed = enabled != old.enabled || expires_at != old.expires_at;
    // Awaited when the key may stop verifying earlier than before (API.md, Several replicas).
    let stops = super::super::valid_until(enabled, expires_at)
        < super::super::valid_until(old.enabled, old.expires_at);
    let key = KeyRecord {
        name,
        enabled,
        expires_at,
        ..old
    };
    let mut seq = None;
    if !actions.is_empty() {
        sqlx::query(
            "UPDATE api_keys SET name = $3, enabled = $4, expires_at = $5 WHERE id = $1 AND service_id = $2",
        )
        .bind(key_id)
        .bind(service_id)
        .bind(&key.name)
        .bind(key.enabled)
        .bind(key.expires_at)
        .execute(&mut *tx)
        .await?;
        for action in &actions {
            insert_audit(
                &mut tx,
                &AuditEvent {
                    action: *action,
                    masked: Some(key.masked.clone()),
                    ..audit.clone()
                },
            )
            .await?;
        }
        if verify_changed {
            seq = Some((
                announce(&mut tx, now, stops, &[digest], &mut phases).await?,
                stops,
            ));
        }
    }
    tx.commit().await?;
    phases.committed();
    if let Some((seq, true)) = seq {
        await_acks(pool, me, seq, Instant::now()).await?;
        phases.acknowledged();
    }
    Ok(KeyUpdated {
        key,
        digest,
        actions,
    })
}

pub async fn rotate_key(
    pool: &PgPool,
    me: &str,
    successor: &NewKey,
    old_key_id: &str,
    grace_secs: u32,
    idempotency: Option<&IdempotencyRecord>,
    audit: &AuditEvent,
) -> StoreResult<KeyRotated> {
    let now = successor.created_at;
    let mut phases = Phases::start("rotate_key");
    let mut tx = pool.begin().await?;
    phases.acquired();
    let (old, old_digest) = current(&mut tx, &successor.service_id, old_key_id, now).await?;
    let state = old.state(now);
    if state != KeyState::Active {
        return Err(StoreError::KeyNotActive(format!(
            "API key {old_key_id} is {}; only an active key can be rotated",
            state.as_str()
        )));
    }
    let new = NewKey {
        name: old.name.clone(),
        expires_at: old.expires_at.map(|e| now + (e - old.created_at).max(1)),
        ..successor.clone()
    };
    // The successor takes the old key's slot: key_count does not change.
    let new = insert_key(&mut tx, &new).await?;
    let end = now + i64::from(grace_secs);
    let old_retired = grace_secs == 0;
    if old_retired {
        sqlx::query("DELETE FROM api_keys WHERE id = $1")
            .bind(old_key_id)
            .execute(&mut *tx)
            .await?;
    } else {
        sqlx::query("UPDATE api_keys SET replaced_by = $2, expires_at = $3 WHERE id = $1")
            .bind(old_key_id)
            .bind(&new.id)
            .bind(end)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(rec) = idempotency
        && !upsert_idempotency(&mut tx, rec).await?
    {
        return Err(StoreError::IdempotencyTaken);
    }
    let event = AuditEvent {
        masked: Some(old.masked.clone()),
        ..audit.clone()
    };
    insert_audit(&mut tx, &event).await?;
    if old_retired {
        insert_audit(
            &mut tx,
            &retire_event(&old.service_id, &old.id, &old.masked, now),
        )
        .await?;
    }
    let seq = announce(
        &mut tx,
        now,
        true,
        &[successor.digest, old_digest],
        &mut phases,
    )
    .await?;
    tx.commit().await?;
    phases.committed();
    await_acks(pool, me, seq, Instant::now()).await?;
    phases.acknowledged();
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
        role: Role::Manager,
        action: AuditAction::ApiKeyRetire,
        service_id: service_id.into(),
        key_id: Some(key_id.into()),
        masked: Some(masked.into()),
        remote_addr: String::new(),
        outcome: "ok".into(),
    }
}

pub async fn retire_due(
    pool: &PgPool,
    me: &str,
    service_id: Option<&str>,
    now: UnixTime,
) -> StoreResult<Vec<Retired>> {
    // A cheap look first, so that every read does not open a write transaction.
    let due: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM api_keys WHERE replaced_by IS NOT NULL \
         AND expires_at <= $1 AND ($2::text IS NULL OR service_id = $2))",
    )
    .bind(now)
    .bind(service_id)
    .fetch_one(pool)
    .await?;
    if !due {
        return Ok(Vec::new());
    }
    let mut phases = Phases::start("retire_due");
    let mut tx = pool.begin().await?;
    phases.acquired();
    // Each row is deleted by one transaction only (a concurrent DELETE waits on the row lock
    // and then finds it gone): each key is retired, with its event, exactly once.
    let rows = sqlx::query(
        "DELETE FROM api_keys WHERE replaced_by IS NOT NULL AND expires_at <= $1 \
         AND ($2::text IS NULL OR service_id = $2) RETURNING service_id, id, digest, masked",
    )
    .bind(now)
    .bind(service_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut gone = Vec::with_capacity(rows.len());
    for r in &rows {
        let retired = Retired {
            service_id: r.try_get(0)?,
            key_id: r.try_get(1)?,
            digest: digest_of(r, 2)?,
        };
        let masked: String = r.try_get(3)?;
        insert_audit(
            &mut tx,
            &retire_event(&retired.service_id, &retired.key_id, &masked, now),
        )
        .await?;
        gone.push(retired);
    }
    let seq = if gone.is_empty() {
        None
    } else {
        let digests: Vec<Digest> = gone.iter().map(|r| r.digest).collect();
        Some(announce(&mut tx, now, true, &digests, &mut phases).await?)
    };
    tx.commit().await?;
    phases.committed();
    if let Some(seq) = seq {
        await_acks(pool, me, seq, Instant::now()).await?;
        phases.acknowledged();
    }
    Ok(gone)
}
