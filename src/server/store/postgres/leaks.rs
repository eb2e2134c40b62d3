//! Leaked keys and the notice outbox (docs/api.md, Leaked keys; Notifications), as SQLite's:
//! leak reports followed by every replica as a disable is, the tombstones of removed keys, and
//! deliveries that replicas claim with `FOR UPDATE SKIP LOCKED`, so that no two claim one.

use std::time::Instant;

use sqlx::postgres::{PgPool, PgRow};
use sqlx::{AssertSqlSafe, PgConnection, Row};

use super::catalog::{KEY_COLUMNS_K, KEY_COLUMNS_LEN, key_row};
use super::common::{begin, q, qs};
use super::feed::{Phases, announce, await_acks};
use super::trail::insert_audit;
use crate::credential::Digest;
use crate::server::store::rules::{self, LeakStep};
use crate::server::store::{
    Delivery, DeliveryResult, FoundKey, KeyRecord, LeakOutcome, LeakReport, NOTICE_DEDUP_KEEP_SECS,
    Notice, StoreError, StoreResult, TOMBSTONE_KEEP_SECS, Tombstone, UnixTime,
};
use crate::wire::{AuditEvent, WebhookData, WebhookEventType};

/// Remembers a deleted or retired key by its digest (the latest removal wins), as SQLite's
/// `insert_tombstone`: a retired key's tombstone keeps `retired`, what notices say of it.
pub async fn insert_tombstone(
    conn: &mut PgConnection,
    digest: &Digest,
    service_id: &str,
    key_id: &str,
    gone_at: UnixTime,
    retired: Option<&WebhookData>,
) -> StoreResult<()> {
    let retired = retired.map(serde_json::to_string).transpose()?;
    q(
        "INSERT INTO tombstones (digest, service_id, key_id, gone_at, retired) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (digest) DO UPDATE SET service_id = excluded.service_id, \
         key_id = excluded.key_id, gone_at = excluded.gone_at, retired = excluded.retired",
    )
    .bind(&digest[..])
    .bind(service_id)
    .bind(key_id)
    .bind(gone_at)
    .bind(retired)
    .execute(conn)
    .await?;
    Ok(())
}

/// Leaves what `key`, retired at `now`, needs once it has left `api_keys`, as SQLite's
/// `tombstone_retired`: its tombstone, which keeps verify refusing it as a stopped key on every
/// replica and lets `api_key.disabled_still_called` name it, and, when `notify`, its
/// `api_key.retired` notice (docs/api.md, Notifications).
pub async fn tombstone_retired(
    conn: &mut PgConnection,
    digest: &Digest,
    key: &KeyRecord,
    now: UnixTime,
    notify: bool,
) -> StoreResult<()> {
    let name: Option<String> = qs("SELECT name FROM services WHERE id = $1")
        .bind(&key.service_id)
        .fetch_optional(&mut *conn)
        .await?;
    let data = rules::key_data(key, &name.unwrap_or_default());
    insert_tombstone(
        &mut *conn,
        digest,
        &key.service_id,
        &key.id,
        now,
        Some(&data),
    )
    .await?;
    if notify {
        let notice = rules::notice_of(WebhookEventType::ApiKeyRetired, data, now);
        insert_notice(conn, None, &notice).await?;
    }
    Ok(())
}

/// What notices say of the retired key `key_id` of `service_id`, from its tombstone; `None`
/// when it was deleted instead, never existed, or its tombstone is gone.
pub async fn retired_key(
    pool: &PgPool,
    service_id: &str,
    key_id: &str,
) -> StoreResult<Option<WebhookData>> {
    let mut tx = begin(pool).await?;
    let json: Option<String> = qs("SELECT retired FROM tombstones \
         WHERE key_id = $1 AND service_id = $2 AND retired IS NOT NULL")
    .bind(key_id)
    .bind(service_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
}

/// Forgets tombstones older than [`TOMBSTONE_KEEP_SECS`] at `now`.
pub async fn prune_tombstones(conn: &mut PgConnection, now: UnixTime) -> StoreResult<()> {
    q("DELETE FROM tombstones WHERE gone_at < $1")
        .bind(now - TOMBSTONE_KEEP_SECS)
        .execute(conn)
        .await?;
    Ok(())
}

async fn find_tombstone(
    conn: &mut PgConnection,
    digest: &Digest,
    now: UnixTime,
) -> StoreResult<Option<Tombstone>> {
    let row =
        q("SELECT service_id, key_id, gone_at FROM tombstones WHERE digest = $1 AND gone_at >= $2")
            .bind(&digest[..])
            .bind(now - TOMBSTONE_KEEP_SECS)
            .fetch_optional(conn)
            .await?;
    Ok(match row {
        Some(r) => Some(Tombstone {
            service_id: r.try_get(0)?,
            key_id: r.try_get(1)?,
            gone_at: r.try_get(2)?,
        }),
        None => None,
    })
}

/// Puts a notice in the outbox; false when one with this `dedup` key is there already.
pub async fn insert_notice(
    conn: &mut PgConnection,
    dedup: Option<&str>,
    n: &Notice,
) -> StoreResult<bool> {
    let added = q(
        "INSERT INTO notices (id, dedup, event_type, body, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dedup) DO NOTHING",
    )
    .bind(&n.id)
    .bind(dedup)
    .bind(n.event_type.as_str())
    .bind(&n.body)
    .bind(n.created_at)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(added == 1)
}

/// The key with this digest and its service's name, locked for this transaction.
async fn find_key(conn: &mut PgConnection, digest: &Digest) -> StoreResult<Option<FoundKey>> {
    let row = q(AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS_K}, s.name FROM api_keys k JOIN services s ON s.id = k.service_id \
         WHERE k.digest = $1 FOR UPDATE OF k"
    )))
    .bind(&digest[..])
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        Some(r) => Some(FoundKey {
            key: key_row(&r)?,
            service_name: r.try_get(KEY_COLUMNS_LEN)?,
        }),
        None => None,
    })
}

async fn set_leak(conn: &mut PgConnection, key: &KeyRecord) -> StoreResult<()> {
    let leak = key.leak.as_ref();
    q(
        "UPDATE api_keys SET enabled = $2, leak_reported_at = $3, leak_by = $4, leak_url = $5, \
         leak_source = $6 WHERE id = $1",
    )
    .bind(&key.id)
    .bind(key.enabled)
    .bind(leak.map(|l| l.reported_at))
    .bind(leak.map(|l| l.by.clone()))
    .bind(leak.and_then(|l| l.url.clone()))
    .bind(leak.and_then(|l| l.source.clone()))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn report_leaks(
    pool: &PgPool,
    me: &str,
    reports: &[LeakReport],
    audit: &AuditEvent,
    now: UnixTime,
) -> StoreResult<Vec<LeakOutcome>> {
    let mut phases = Phases::start("report_leaks");
    let mut tx = begin(pool).await?;
    phases.acquired();
    let mut outcomes = Vec::with_capacity(reports.len());
    let mut changed: Vec<Digest> = Vec::new();
    for report in reports {
        let Some(found) = find_key(&mut tx, &report.digest).await? else {
            outcomes.push(LeakOutcome::Gone(
                find_tombstone(&mut tx, &report.digest, now).await?,
            ));
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
        insert_audit(&mut tx, &rules::leak_event(&key, &report.leak, audit)).await?;
        if step == LeakStep::Retire {
            q("DELETE FROM api_keys WHERE id = $1")
                .bind(&key.id)
                .execute(&mut *tx)
                .await?;
            insert_audit(
                &mut tx,
                &rules::retire_event(&key.service_id, &key.id, &key.masked, now),
            )
            .await?;
            tombstone_retired(&mut tx, &report.digest, &key, now, false).await?;
        } else {
            set_leak(&mut tx, &key).await?;
        }
        let notice = rules::notice(
            WebhookEventType::ApiKeyLeaked,
            &key,
            &found.service_name,
            now,
        );
        insert_notice(&mut tx, None, &notice).await?;
        if !changed.contains(&report.digest) {
            changed.push(report.digest);
        }
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
    // Every replica must stop verifying these keys before the report is answered, as for a
    // disable (docs/api.md, Several replicas).
    let seq = if changed.is_empty() {
        None
    } else {
        Some(announce(&mut tx, now, true, &changed, &mut phases).await?)
    };
    tx.commit().await?;
    phases.committed();
    if let Some(seq) = seq {
        await_acks(pool, me, seq, Instant::now()).await?;
        phases.acknowledged();
    }
    Ok(outcomes)
}

pub async fn add_notice(pool: &PgPool, dedup: &str, notice: &Notice) -> StoreResult<bool> {
    let mut tx = begin(pool).await?;
    q(
        "DELETE FROM notices WHERE dedup IS NOT NULL AND fanned_out AND created_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM deliveries WHERE notice_id = notices.id)",
    )
    .bind(notice.created_at - NOTICE_DEDUP_KEEP_SECS)
    .execute(&mut *tx)
    .await?;
    let added = insert_notice(&mut tx, Some(dedup), notice).await?;
    tx.commit().await?;
    Ok(added)
}

fn delivery_row(r: &PgRow) -> Result<Delivery, sqlx::Error> {
    let kind: String = r.try_get(3)?;
    let attempts: i32 = r.try_get(1)?;
    Ok(Delivery {
        url: r.try_get(0)?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        notice: Notice {
            id: r.try_get(2)?,
            event_type: WebhookEventType::parse(&kind).ok_or_else(|| {
                sqlx::Error::ColumnDecode {
                    index: "3".into(),
                    source: format!("unknown event type {kind:?}").into(),
                }
            })?,
            body: r.try_get(4)?,
            created_at: r.try_get(5)?,
        },
    })
}

pub async fn claim_deliveries(
    pool: &PgPool,
    urls: &[String],
    now: UnixTime,
    claim_secs: u32,
    limit: u32,
) -> StoreResult<Vec<Delivery>> {
    let mut tx = begin(pool).await?;
    // The notices not yet fanned out, locked so that one replica fans each out once.
    let fresh: Vec<String> =
        qs("SELECT id FROM notices WHERE NOT fanned_out ORDER BY seq FOR UPDATE SKIP LOCKED")
            .fetch_all(&mut *tx)
            .await?;
    if !fresh.is_empty() {
        if urls.is_empty() {
            // Nobody to tell: a notice nobody will ever receive is not kept, but a dedup key
            // stays taken, or the next pass would add it again.
            q("DELETE FROM notices WHERE id = ANY($1) AND dedup IS NULL")
                .bind(&fresh)
                .execute(&mut *tx)
                .await?;
            q("UPDATE notices SET fanned_out = TRUE WHERE id = ANY($1)")
                .bind(&fresh)
                .execute(&mut *tx)
                .await?;
        } else {
            q(
                "INSERT INTO deliveries (notice_id, url, attempts, next_at) \
                 SELECT n, u, 0, $3 FROM unnest($1::text[]) AS n, unnest($2::text[]) AS u \
                 ON CONFLICT (notice_id, url) DO NOTHING",
            )
            .bind(&fresh)
            .bind(urls)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            q("UPDATE notices SET fanned_out = TRUE WHERE id = ANY($1)")
                .bind(&fresh)
                .execute(&mut *tx)
                .await?;
        }
    }
    // Due and unclaimed (or claimed by a replica that let its claim run out); rows another
    // replica is claiming right now are skipped, never waited for nor taken twice.
    let rows = q("WITH due AS ( \
             SELECT d.notice_id, d.url FROM deliveries d JOIN notices n ON n.id = d.notice_id \
             WHERE d.next_at <= $1 AND (d.claimed_until IS NULL OR d.claimed_until <= $1) \
             ORDER BY n.seq, d.url LIMIT $2 FOR UPDATE OF d SKIP LOCKED) \
         UPDATE deliveries d SET claimed_until = $3 FROM due, notices n \
         WHERE d.notice_id = due.notice_id AND d.url = due.url AND n.id = d.notice_id \
         RETURNING d.url, d.attempts, n.id, n.event_type, n.body, n.created_at, n.seq")
    .bind(now)
    .bind(i64::from(limit))
    .bind(now + i64::from(claim_secs))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut claimed = rows
        .iter()
        .map(|r| Ok((r.try_get::<i64, _>(6)?, delivery_row(r)?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    // UPDATE … RETURNING keeps no order: oldest first again.
    claimed.sort_by(|a, b| (a.0, &a.1.url).cmp(&(b.0, &b.1.url)));
    Ok(claimed.into_iter().map(|(_, d)| d).collect())
}

pub async fn finish_delivery(
    pool: &PgPool,
    notice_id: &str,
    url: &str,
    result: DeliveryResult,
) -> StoreResult<()> {
    let mut tx = begin(pool).await?;
    match result {
        DeliveryResult::RetryAt(at) => {
            q(
                "UPDATE deliveries SET attempts = attempts + 1, next_at = $3, \
                 claimed_until = NULL WHERE notice_id = $1 AND url = $2",
            )
            .bind(notice_id)
            .bind(url)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        DeliveryResult::Delivered | DeliveryResult::Dropped => {
            q("DELETE FROM deliveries WHERE notice_id = $1 AND url = $2")
                .bind(notice_id)
                .bind(url)
                .execute(&mut *tx)
                .await?;
            // A notice with a dedup key is kept, sent, until add_notice prunes it.
            q(
                "DELETE FROM notices WHERE id = $1 AND fanned_out AND dedup IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM deliveries WHERE notice_id = $1)",
            )
            .bind(notice_id)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

pub async fn pending_deliveries(pool: &PgPool) -> StoreResult<u64> {
    let mut tx = begin(pool).await?;
    let n: i64 = qs("SELECT (SELECT count(*) FROM deliveries) \
         + (SELECT count(*) FROM notices WHERE NOT fanned_out)")
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    u64::try_from(n).map_err(|_| StoreError::Failed(format!("negative count {n}")))
}
