//! The audit trail and the durable half of idempotent issuance.

use sqlx::postgres::{PgPool, PgRow};
use sqlx::{AssertSqlSafe, PgConnection, QueryBuilder, Row};

use super::common::{begin, digest_of, q, role_of};
use crate::server::idempotency::RECORD_RETENTION_SECS;
use crate::server::store::rules::{changes_of, changes_text};
use crate::server::store::{AuditQuery, IdempotencyRecord, StoreResult, StoredEvent, UnixTime};
use crate::wire::{AuditAction, AuditEvent, Timestamp};

pub async fn insert_audit(conn: &mut PgConnection, e: &AuditEvent) -> StoreResult<()> {
    q(
        "INSERT INTO audit_events (at, actor, role, action, service_id, key_id, masked, remote_addr, outcome, changes, url, source) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(e.at.unix())
    .bind(&e.actor)
    .bind(e.role.as_str())
    .bind(e.action.as_str())
    .bind(&e.service_id)
    .bind(&e.key_id)
    .bind(&e.masked)
    .bind(&e.remote_addr)
    .bind(&e.outcome)
    .bind(changes_text(e))
    .bind(e.url.clone().flatten())
    .bind(e.source.clone().flatten())
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes the durable record of an idempotent request unless a live one (younger than the
/// retention) holds its scope; true when written. Across replicas two requests with one
/// Idempotency-Key can both pass their in-memory check: the second one's insert waits on the
/// first's row and then finds it, so its caller rolls back instead of issuing a second key
/// (docs/api.md, Several replicas). An expired record is replaced, as SQLite does.
pub async fn upsert_idempotency(
    conn: &mut PgConnection,
    r: &IdempotencyRecord,
) -> StoreResult<bool> {
    let n = q(
        "INSERT INTO idempotency (scope, request_hash, key_id, status, outcome, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (scope) DO UPDATE SET request_hash = excluded.request_hash, \
         key_id = excluded.key_id, status = excluded.status, outcome = excluded.outcome, \
         created_at = excluded.created_at \
         WHERE idempotency.created_at <= excluded.created_at - $7",
    )
    .bind(&r.scope[..])
    .bind(&r.request_hash[..])
    .bind(&r.key_id)
    .bind(i32::from(r.status))
    .bind(&r.outcome)
    .bind(r.created_at)
    .bind(RECORD_RETENTION_SECS)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub async fn record_failure(
    pool: &PgPool,
    audit: &AuditEvent,
    idempotency: Option<&IdempotencyRecord>,
) -> StoreResult<()> {
    let mut tx = begin(pool).await?;
    insert_audit(&mut tx, audit).await?;
    if let Some(rec) = idempotency {
        // A live record written by another replica meanwhile stays: it is the first answer.
        upsert_idempotency(&mut tx, rec).await?;
    }
    tx.commit().await?;
    Ok(())
}

const EVENT_COLUMNS: &str = "at, actor, role, action, service_id, key_id, masked, remote_addr, \
     outcome, changes, url, source";

fn event_row(r: &PgRow) -> Result<AuditEvent, sqlx::Error> {
    let action: String = r.try_get(3)?;
    let parsed = AuditAction::parse(&action);
    // Only a leak report says where and how it was found: other events carry neither field.
    let leak = parsed == Some(AuditAction::ApiKeyLeak);
    Ok(AuditEvent {
        at: Timestamp::from_unix(r.try_get(0)?),
        actor: r.try_get(1)?,
        role: role_of(r, 2)?,
        action: parsed.ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "3".into(),
            source: format!("unknown audit action {action:?}").into(),
        })?,
        service_id: r.try_get(4)?,
        key_id: r.try_get(5)?,
        masked: r.try_get(6)?,
        remote_addr: r.try_get(7)?,
        outcome: r.try_get(8)?,
        changes: changes_of(r.try_get(9)?),
        url: if leak { Some(r.try_get(10)?) } else { None },
        source: if leak { Some(r.try_get(11)?) } else { None },
    })
}

pub async fn list_audit(
    pool: &PgPool,
    service_id: &str,
    limit: u32,
) -> StoreResult<Vec<AuditEvent>> {
    let mut tx = begin(pool).await?;
    let rows = q(AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE service_id = $1 ORDER BY id DESC LIMIT $2"
    )))
    .bind(service_id)
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows.iter().map(event_row).collect::<Result<_, _>>()?)
}

/// One page of the whole trail, newest first (or oldest first); the SQL names only the filters
/// asked for.
pub async fn list_audit_page(pool: &PgPool, q: &AuditQuery) -> StoreResult<Vec<StoredEvent>> {
    let mut tx = begin(pool).await?;
    let mut sql = QueryBuilder::new(format!(
        "SELECT {EVENT_COLUMNS}, id FROM audit_events WHERE TRUE"
    ));
    if let Some(s) = &q.service_id {
        sql.push(" AND service_id = ").push_bind(s.clone());
    }
    if let Some(a) = q.action {
        sql.push(" AND action = ").push_bind(a.as_str());
    }
    if let Some(before) = q.before {
        let past = if q.oldest_first {
            " AND id > "
        } else {
            " AND id < "
        };
        sql.push(past).push_bind(before);
    }
    let dir = if q.oldest_first {
        " ORDER BY id ASC LIMIT "
    } else {
        " ORDER BY id DESC LIMIT "
    };
    sql.push(dir).push_bind(i64::from(q.limit));
    let rows = sql.build().persistent(false).fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok(rows
        .iter()
        .map(|r| {
            Ok(StoredEvent {
                event: event_row(r)?,
                id: r.try_get(12)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?)
}

pub async fn find_idempotency(
    pool: &PgPool,
    scope: &[u8; 32],
) -> StoreResult<Option<IdempotencyRecord>> {
    let mut tx = begin(pool).await?;
    let row = q(
        "SELECT scope, request_hash, key_id, status, outcome, created_at FROM idempotency WHERE scope = $1",
    )
    .bind(&scope[..])
    .fetch_optional(&mut *tx)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let status: i32 = r.try_get(3)?;
    tx.commit().await?;
    Ok(Some(IdempotencyRecord {
        scope: digest_of(&r, 0)?,
        request_hash: digest_of(&r, 1)?,
        key_id: r.try_get(2)?,
        status: u16::try_from(status).unwrap_or(500),
        outcome: r.try_get(4)?,
        created_at: r.try_get(5)?,
    }))
}

pub async fn prune_idempotency(pool: &PgPool, created_before: UnixTime) -> StoreResult<()> {
    let mut tx = begin(pool).await?;
    q("DELETE FROM idempotency WHERE created_at < $1")
        .bind(created_before)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
