//! The key lifecycle (docs/api.md, Key lifecycle): PATCH, rotation into a shared slot, and the lazy
//! retirement of rotated keys whose grace has ended.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::catalog::{KEY_COLUMNS, KEY_COLUMNS_LEN, insert_key, key_row};
use super::common::{digest_of, write_tx};
use super::leaks::{prune_tombstones, tombstone_retired};
use super::trail::{insert_audit, upsert_idempotency};
use crate::credential::Digest;
use crate::server::store::stored_policy::StoredPolicy;
use crate::server::store::{
    IdempotencyRecord, KeyChange, KeyRecord, KeyRotated, KeyUpdated, NewKey, Retired, StoreError,
    StoreResult, UnixTime, rules,
};
use crate::wire::AuditEvent;

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
            Ok((key_row(r)?, digest_of(r, KEY_COLUMNS_LEN)?))
        })
        .optional()?;
    match found {
        Some((k, _)) if rules::retired_by(&k, now) => Err(StoreError::KeyNotFound),
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
    let update = rules::update(old, key_id, change, now)?;
    let key = &update.key;
    if !update.actions.is_empty() {
        let p = StoredPolicy::of(&key.policy);
        tx.execute(
            "UPDATE api_keys SET name = ?3, enabled = ?4, expires_at = ?5, scopes = ?6, \
             rate_requests = ?7, rate_per_seconds = ?8, allowed_cidrs = ?9 \
             WHERE id = ?1 AND service_id = ?2",
            params![
                key_id,
                service_id,
                key.name,
                key.enabled,
                key.expires_at,
                p.scopes,
                p.rate_requests,
                p.rate_per_seconds,
                p.allowed_cidrs
            ],
        )?;
        for event in update.events(audit) {
            insert_audit(&tx, &event)?;
        }
    }
    tx.commit()?;
    Ok(KeyUpdated {
        key: update.key,
        digest,
        actions: update.actions,
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
    let rotation = rules::rotation(&old, old_key_id, successor, grace_secs)?;
    // The successor takes the old key's slot: key_count does not change.
    let new = insert_key(&tx, &rotation.successor)?;
    if rotation.old_retired {
        tx.execute("DELETE FROM api_keys WHERE id = ?1", [old_key_id])?;
    } else {
        tx.execute(
            "UPDATE api_keys SET replaced_by = ?2, expires_at = ?3 WHERE id = ?1",
            params![old_key_id, new.id, rotation.end],
        )?;
    }
    if let Some(rec) = idempotency {
        upsert_idempotency(&tx, rec)?;
    }
    insert_audit(&tx, &rules::rotate_event(&old, audit))?;
    if rotation.old_retired {
        insert_audit(
            &tx,
            &rules::retire_event(&old.service_id, &old.id, &old.masked, now),
        )?;
        tombstone_retired(&tx, &old_digest, &old, now, true)?;
    }
    tx.commit()?;
    Ok(KeyRotated {
        old: rotation.old_after(old, &new.id),
        old_digest,
        old_retired: rotation.old_retired,
        successor: new,
    })
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
             AND expires_at <= ?1 AND (?2 IS NULL OR service_id = ?2)) \
             OR EXISTS (SELECT 1 FROM tombstones WHERE gone_at < ?3)",
        )?
        .query_row(
            params![
                now,
                service_id,
                now - crate::server::store::TOMBSTONE_KEEP_SECS
            ],
            |r| r.get(0),
        )?;
    if !due {
        return Ok(Vec::new());
    }
    let tx = write_tx(conn)?;
    // Under the write lock each row is deleted, and so retired, exactly once.
    let gone = {
        let mut stmt = tx.prepare_cached(&format!(
            "DELETE FROM api_keys WHERE replaced_by IS NOT NULL AND expires_at <= ?1 \
             AND (?2 IS NULL OR service_id = ?2) RETURNING {KEY_COLUMNS}, digest"
        ))?;
        let rows = stmt.query_map(params![now, service_id], |r| {
            let key = key_row(r)?;
            Ok((
                Retired {
                    service_id: key.service_id.clone(),
                    key_id: key.id.clone(),
                    digest: digest_of(r, KEY_COLUMNS_LEN)?,
                },
                key,
            ))
        })?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    for (r, key) in &gone {
        insert_audit(
            &tx,
            &rules::retire_event(&r.service_id, &r.key_id, &key.masked, now),
        )?;
        tombstone_retired(&tx, &r.digest, key, now, true)?;
    }
    prune_tombstones(&tx, now)?;
    tx.commit()?;
    Ok(gone.into_iter().map(|(r, _)| r).collect())
}
