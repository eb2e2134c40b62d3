//! Leaked keys and the notice outbox (docs/api.md, Leaked keys; Notifications): leak reports,
//! the tombstones of removed keys, and the deliveries of webhook notices.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::catalog::{KEY_COLUMNS_K, KEY_COLUMNS_LEN, key_row};
use super::common::write_tx;
use super::trail::insert_audit;
use crate::credential::Digest;
use crate::server::store::rules::{self, LeakStep};
use crate::server::store::{
    Delivery, DeliveryResult, FoundKey, KeyRecord, LeakOutcome, LeakReport, NOTICE_DEDUP_KEEP_SECS,
    Notice, StoreError, StoreResult, TOMBSTONE_KEEP_SECS, Tombstone, UnixTime,
};
use crate::wire::{AuditEvent, WebhookData, WebhookEventType};

/// Remembers a deleted or retired key by its digest (the latest removal wins). A retired key's
/// tombstone keeps `retired`, what notices say of it ([`tombstone_retired`]); a deleted key's
/// keeps none.
pub fn insert_tombstone(
    conn: &Connection,
    digest: &Digest,
    service_id: &str,
    key_id: &str,
    gone_at: UnixTime,
    retired: Option<&WebhookData>,
) -> StoreResult<()> {
    let retired = retired.map(serde_json::to_string).transpose()?;
    conn.prepare_cached(
        "INSERT INTO tombstones (digest, service_id, key_id, gone_at, retired) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (digest) DO UPDATE SET service_id = excluded.service_id, \
         key_id = excluded.key_id, gone_at = excluded.gone_at, retired = excluded.retired",
    )?
    .execute(params![&digest[..], service_id, key_id, gone_at, retired])?;
    Ok(())
}

/// Leaves what `key`, retired at `now`, needs once it has left `api_keys`: its tombstone,
/// holding what notices say of it, so that verify still refuses it as a stopped key (never
/// counted toward the address's failure limit) and `api_key.disabled_still_called` can name it
/// (docs/api.md, Notifications); and, when `notify`, its `api_key.retired` notice (a leak
/// report's retirement sends only its `api_key.leaked`).
pub fn tombstone_retired(
    conn: &Connection,
    digest: &Digest,
    key: &KeyRecord,
    now: UnixTime,
    notify: bool,
) -> StoreResult<()> {
    let data = rules::key_data(key, &service_name(conn, &key.service_id)?);
    insert_tombstone(conn, digest, &key.service_id, &key.id, now, Some(&data))?;
    if notify {
        let notice = rules::notice_of(WebhookEventType::ApiKeyRetired, data, now);
        insert_notice(conn, None, &notice)?;
    }
    Ok(())
}

/// What notices say of the retired key `key_id` of `service_id`, from its tombstone; `None`
/// when it was deleted instead, never existed, or its tombstone is gone.
pub fn retired_key(
    conn: &Connection,
    service_id: &str,
    key_id: &str,
) -> StoreResult<Option<WebhookData>> {
    let json: Option<String> = conn
        .prepare_cached(
            "SELECT retired FROM tombstones \
             WHERE key_id = ?1 AND service_id = ?2 AND retired IS NOT NULL",
        )?
        .query_row([key_id, service_id], |r| r.get(0))
        .optional()?;
    Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
}

/// Forgets tombstones older than [`TOMBSTONE_KEEP_SECS`] at `now`.
pub fn prune_tombstones(conn: &Connection, now: UnixTime) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM tombstones WHERE gone_at < ?1")?
        .execute([now - TOMBSTONE_KEEP_SECS])?;
    Ok(())
}

fn find_tombstone(
    conn: &Connection,
    digest: &Digest,
    now: UnixTime,
) -> StoreResult<Option<Tombstone>> {
    Ok(conn
        .prepare_cached(
            "SELECT service_id, key_id, gone_at FROM tombstones WHERE digest = ?1 AND gone_at >= ?2",
        )?
        .query_row(params![&digest[..], now - TOMBSTONE_KEEP_SECS], |r| {
            Ok(Tombstone {
                service_id: r.get(0)?,
                key_id: r.get(1)?,
                gone_at: r.get(2)?,
            })
        })
        .optional()?)
}

/// The name of a service, for a notice; empty if it is gone meanwhile.
pub fn service_name(conn: &Connection, service_id: &str) -> StoreResult<String> {
    Ok(conn
        .prepare_cached("SELECT name FROM services WHERE id = ?1")?
        .query_row([service_id], |r| r.get(0))
        .optional()?
        .unwrap_or_default())
}

/// Puts a notice in the outbox; false when one with this `dedup` key is there already.
pub fn insert_notice(conn: &Connection, dedup: Option<&str>, n: &Notice) -> StoreResult<bool> {
    let added = conn
        .prepare_cached(
            "INSERT INTO notices (id, dedup, event_type, body, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (dedup) DO NOTHING",
        )?
        .execute(params![
            n.id,
            dedup,
            n.event_type.as_str(),
            n.body,
            n.created_at
        ])?;
    Ok(added == 1)
}

fn find_key(tx: &Transaction<'_>, digest: &Digest) -> StoreResult<Option<FoundKey>> {
    let sql = format!(
        "SELECT {KEY_COLUMNS_K}, s.name FROM api_keys k JOIN services s ON s.id = k.service_id \
         WHERE k.digest = ?1"
    );
    Ok(tx
        .prepare_cached(&sql)?
        .query_row([&digest[..]], |r| {
            Ok(FoundKey {
                key: key_row(r)?,
                service_name: r.get(KEY_COLUMNS_LEN)?,
            })
        })
        .optional()?)
}

fn set_leak(tx: &Transaction<'_>, key: &KeyRecord) -> StoreResult<()> {
    let leak = key.leak.as_ref();
    tx.prepare_cached(
        "UPDATE api_keys SET enabled = ?2, leak_reported_at = ?3, leak_by = ?4, leak_url = ?5, \
         leak_source = ?6 WHERE id = ?1",
    )?
    .execute(params![
        key.id,
        key.enabled,
        leak.map(|l| l.reported_at),
        leak.map(|l| l.by.as_str()),
        leak.and_then(|l| l.url.as_deref()),
        leak.and_then(|l| l.source.as_deref())
    ])?;
    Ok(())
}

pub fn report_leaks(
    conn: &mut Connection,
    reports: &[LeakReport],
    audit: &AuditEvent,
    now: UnixTime,
) -> StoreResult<Vec<LeakOutcome>> {
    let tx = write_tx(conn)?;
    let mut outcomes = Vec::with_capacity(reports.len());
    for report in reports {
        let Some(found) = find_key(&tx, &report.digest)? else {
            outcomes.push(LeakOutcome::Gone(find_tombstone(&tx, &report.digest, now)?));
            continue;
        };
        let step = rules::leak_step(&found.key, now);
        if step == LeakStep::Nothing {
            outcomes.push(LeakOutcome::Unchanged(found));
            continue;
        }
        let key = KeyRecord {
            enabled: found.key.enabled && step != LeakStep::Disable,
            leak: Some(report.leak.clone()),
            // A rotating key's grace ends with the report: what the answer and the webhook say.
            expires_at: if step == LeakStep::Retire {
                Some(now)
            } else {
                found.key.expires_at
            },
            ..found.key
        };
        insert_audit(&tx, &rules::leak_event(&key, &report.leak, audit))?;
        if step == LeakStep::Retire {
            tx.prepare_cached("DELETE FROM api_keys WHERE id = ?1")?
                .execute([&key.id])?;
            insert_audit(
                &tx,
                &rules::retire_event(&key.service_id, &key.id, &key.masked, now),
            )?;
            tombstone_retired(&tx, &report.digest, &key, now, false)?;
        } else {
            set_leak(&tx, &key)?;
        }
        let notice = rules::notice(
            WebhookEventType::ApiKeyLeaked,
            &key,
            &found.service_name,
            now,
        );
        insert_notice(&tx, None, &notice)?;
        let found = FoundKey {
            service_name: found.service_name,
            key,
        };
        outcomes.push(match step {
            LeakStep::Disable => LeakOutcome::Disabled(found),
            LeakStep::Retire => LeakOutcome::Retired(found),
            _ => LeakOutcome::Marked(found),
        });
    }
    tx.commit()?;
    Ok(outcomes)
}

pub fn add_notice(conn: &mut Connection, dedup: &str, notice: &Notice) -> StoreResult<bool> {
    let tx = write_tx(conn)?;
    tx.prepare_cached(
        "DELETE FROM notices WHERE dedup IS NOT NULL AND fanned_out = 1 AND created_at < ?1 \
         AND NOT EXISTS (SELECT 1 FROM deliveries WHERE notice_id = notices.id)",
    )?
    .execute([notice.created_at - NOTICE_DEDUP_KEEP_SECS])?;
    let added = insert_notice(&tx, Some(dedup), notice)?;
    tx.commit()?;
    Ok(added)
}

fn notice_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Notice> {
    let kind: String = r.get(at + 1)?;
    Ok(Notice {
        id: r.get(at)?,
        event_type: WebhookEventType::parse(&kind).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                at + 1,
                rusqlite::types::Type::Text,
                format!("unknown event type {kind:?}").into(),
            )
        })?,
        body: r.get(at + 2)?,
        created_at: r.get(at + 3)?,
    })
}

pub fn claim_deliveries(
    conn: &mut Connection,
    urls: &[String],
    now: UnixTime,
    claim_secs: u32,
    limit: u32,
) -> StoreResult<Vec<Delivery>> {
    let tx = write_tx(conn)?;
    if urls.is_empty() {
        // Nobody to tell: a notice nobody will ever receive is not kept, but a dedup key
        // stays taken, or the next pass would add it again.
        tx.execute(
            "DELETE FROM notices WHERE fanned_out = 0 AND dedup IS NULL",
            [],
        )?;
        tx.execute("UPDATE notices SET fanned_out = 1 WHERE fanned_out = 0", [])?;
    } else {
        for url in urls {
            tx.prepare_cached(
                "INSERT INTO deliveries (notice_id, url, attempts, next_at) \
                 SELECT id, ?1, 0, ?2 FROM notices WHERE fanned_out = 0 \
                 ON CONFLICT (notice_id, url) DO NOTHING",
            )?
            .execute(params![url, now])?;
        }
        tx.execute("UPDATE notices SET fanned_out = 1 WHERE fanned_out = 0", [])?;
    }
    let claimed = {
        let mut stmt = tx.prepare_cached(
            "SELECT d.url, d.attempts, n.id, n.event_type, n.body, n.created_at \
             FROM deliveries d JOIN notices n ON n.id = d.notice_id \
             WHERE d.next_at <= ?1 AND (d.claimed_until IS NULL OR d.claimed_until <= ?1) \
             ORDER BY n.seq, d.url LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now, limit], |r| {
            Ok(Delivery {
                url: r.get(0)?,
                attempts: r.get(1)?,
                notice: notice_row(r, 2)?,
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    for d in &claimed {
        tx.prepare_cached(
            "UPDATE deliveries SET claimed_until = ?3 WHERE notice_id = ?1 AND url = ?2",
        )?
        .execute(params![d.notice.id, d.url, now + i64::from(claim_secs)])?;
    }
    tx.commit()?;
    Ok(claimed)
}

pub fn finish_delivery(
    conn: &mut Connection,
    notice_id: &str,
    url: &str,
    result: DeliveryResult,
) -> StoreResult<()> {
    let tx = write_tx(conn)?;
    match result {
        DeliveryResult::RetryAt(at) => {
            tx.execute(
                "UPDATE deliveries SET attempts = attempts + 1, next_at = ?3, \
                 claimed_until = NULL WHERE notice_id = ?1 AND url = ?2",
                params![notice_id, url, at],
            )?;
        }
        DeliveryResult::Delivered | DeliveryResult::Dropped => {
            tx.execute(
                "DELETE FROM deliveries WHERE notice_id = ?1 AND url = ?2",
                params![notice_id, url],
            )?;
            tx.execute(
                // A notice with a dedup key is kept, sent, until add_notice prunes it.
                "DELETE FROM notices WHERE id = ?1 AND fanned_out = 1 AND dedup IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM deliveries WHERE notice_id = ?1)",
                [notice_id],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub fn pending_deliveries(conn: &Connection) -> StoreResult<u64> {
    let n: i64 = conn.query_row(
        "SELECT (SELECT count(*) FROM deliveries) \
         + (SELECT count(*) FROM notices WHERE fanned_out = 0)",
        [],
        |r| r.get(0),
    )?;
    u64::try_from(n).map_err(|_| StoreError::Failed(format!("negative count {n}")))
}
