//! The key lifecycle (docs/api.md, Key lifecycle): PATCH, rotation into a shared slot, and the
//! retirement of rotated keys whose grace has ended. Every statement that reads a key to change
//! it locks its row (`FOR UPDATE`), so that of several replicas changing one key at once each
//! sees the others' work: 50 rotations of one key give one successor.

use std::time::Instant;

use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, PgConnection};

use super::catalog::{KEY_COLUMNS, KEY_COLUMNS_LEN, insert_key, key_row};
use super::common::{begin, digest_of, q, qs};
use super::feed::{Phases, announce, await_acks};
use super::leaks::{prune_tombstones, tombstone_retired};
use super::trail::{insert_audit, upsert_idempotency};
use crate::credential::Digest;
use crate::server::store::stored_policy::StoredPolicy;
use crate::server::store::{
    IdempotencyRecord, KeyChange, KeyRecord, KeyRotated, KeyUpdated, NewKey, Retired, StoreError,
    StoreResult, UnixTime, rules,
};
use crate::wire::AuditEvent;

/// The key and its digest, locked for this transaction; a rotated key whose grace ended by
/// `now` counts as gone (it is retired, not revived).
async fn current(
    tx: &mut PgConnection,
    service_id: &str,
    key_id: &str,
    now: UnixTime,
) -> StoreResult<(KeyRecord, Digest)> {
    let row = q(AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS}, digest FROM api_keys WHERE id = $1 AND service_id = $2 FOR UPDATE"
    )))
    .bind(key_id)
    .bind(service_id)
    .fetch_optional(&mut *tx)
    .await?;
    let found = match row {
        Some(r) => Some((key_row(&r)?, digest_of(&r, KEY_COLUMNS_LEN)?)),
        None => None,
    };
    match found {
        Some((k, _)) if rules::retired_by(&k, now) => Err(StoreError::KeyNotFound),
        Some(found) => Ok(found),
        None => {
            let exists: bool = qs("SELECT EXISTS (SELECT 1 FROM services WHERE id = $1)")
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
    let mut tx = begin(pool).await?;
    phases.acquired();
    let (old, digest) = current(&mut tx, service_id, key_id, now).await?;
    let update = rules::update(old, key_id, change, now)?;
    let key = &update.key;
    let mut seq = None;
    if !update.actions.is_empty() {
        let p = StoredPolicy::of(&key.policy);
        q(
            "UPDATE api_keys SET name = $3, enabled = $4, expires_at = $5, scopes = $6, \
             rate_requests = $7, rate_per_seconds = $8, allowed_cidrs = $9 \
             WHERE id = $1 AND service_id = $2",
        )
        .bind(key_id)
        .bind(service_id)
        .bind(&key.name)
        .bind(key.enabled)
        .bind(key.expires_at)
        .bind(p.scopes)
        .bind(p.rate_requests)
        .bind(p.rate_per_seconds)
        .bind(p.allowed_cidrs)
        .execute(&mut *tx)
        .await?;
        for event in update.events(audit) {
            insert_audit(&mut tx, &event).await?;
        }
        // Which keys verify changes only with enabled, expires_at or the policy; a rename alone
        // is no change. Awaited when the key may stop verifying earlier than before or may do
        // less (docs/api.md, Several replicas; Keys that carry their own policy).
        if update.verify_changed {
            let stops = update.stops;
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
        key: update.key,
        digest,
        actions: update.actions,
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
    let mut tx = begin(pool).await?;
    phases.acquired();
    let (old, old_digest) = current(&mut tx, &successor.service_id, old_key_id, now).await?;
    let rotation = rules::rotation(&old, old_key_id, successor, grace_secs)?;
    // The successor takes the old key's slot: key_count does not change.
    let new = insert_key(&mut tx, &rotation.successor).await?;
    if rotation.old_retired {
        q("DELETE FROM api_keys WHERE id = $1")
            .bind(old_key_id)
            .execute(&mut *tx)
            .await?;
    } else {
        q("UPDATE api_keys SET replaced_by = $2, expires_at = $3 WHERE id = $1")
            .bind(old_key_id)
            .bind(&new.id)
            .bind(rotation.end)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(rec) = idempotency
        && !upsert_idempotency(&mut tx, rec).await?
    {
        return Err(StoreError::IdempotencyTaken);
    }
    insert_audit(&mut tx, &rules::rotate_event(&old, audit)).await?;
    if rotation.old_retired {
        insert_audit(
            &mut tx,
            &rules::retire_event(&old.service_id, &old.id, &old.masked, now),
        )
        .await?;
        tombstone_retired(&mut tx, &old_digest, &old, now, true).await?;
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
        old: rotation.old_after(old, &new.id),
        old_digest,
        old_retired: rotation.old_retired,
        successor: new,
    })
}

pub async fn retire_due(
    pool: &PgPool,
    me: &str,
    service_id: Option<&str>,
    now: UnixTime,
) -> StoreResult<Vec<Retired>> {
    let mut look = begin(pool).await?;
    // A cheap look first, so that every read does not open a write transaction.
    let due: bool = qs(
        "SELECT EXISTS (SELECT 1 FROM api_keys WHERE replaced_by IS NOT NULL \
         AND expires_at <= $1 AND ($2::text IS NULL OR service_id = $2)) \
         OR EXISTS (SELECT 1 FROM tombstones WHERE gone_at < $3)",
    )
    .bind(now)
    .bind(service_id)
    .bind(now - crate::server::store::TOMBSTONE_KEEP_SECS)
    .fetch_one(&mut *look)
    .await?;
    look.commit().await?;
    if !due {
        return Ok(Vec::new());
    }
    let mut phases = Phases::start("retire_due");
    let mut tx = begin(pool).await?;
    phases.acquired();
    // Each row is deleted by one transaction only (a concurrent DELETE waits on the row lock
    // and then finds it gone): each key is retired, with its event, exactly once.
    let rows = q(AssertSqlSafe(format!(
        "DELETE FROM api_keys WHERE replaced_by IS NOT NULL AND expires_at <= $1 \
         AND ($2::text IS NULL OR service_id = $2) RETURNING {KEY_COLUMNS}, digest"
    )))
    .bind(now)
    .bind(service_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut gone = Vec::with_capacity(rows.len());
    for r in &rows {
        let key = key_row(r)?;
        let retired = Retired {
            service_id: key.service_id.clone(),
            key_id: key.id.clone(),
            digest: digest_of(r, KEY_COLUMNS_LEN)?,
        };
        insert_audit(
            &mut tx,
            &rules::retire_event(&retired.service_id, &retired.key_id, &key.masked, now),
        )
        .await?;
        tombstone_retired(&mut tx, &retired.digest, &key, now, true).await?;
        gone.push(retired);
    }
    prune_tombstones(&mut tx, now).await?;
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
