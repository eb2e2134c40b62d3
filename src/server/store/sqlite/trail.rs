//! The audit trail and the durable half of idempotent issuance.

use rusqlite::{Connection, OptionalExtension, params};

use super::common::{hash_of, role_of, write_tx};
use crate::server::store::rules::{changes_of, changes_text};
use crate::server::store::{AuditQuery, IdempotencyRecord, StoreResult, StoredEvent, UnixTime};
use crate::wire::{AuditAction, AuditEvent, Timestamp};

// ---- audit and idempotency ----------------------------------------------------------------

pub fn insert_audit(conn: &Connection, e: &AuditEvent) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO audit_events (at, actor, role, action, service_id, key_id, masked, remote_addr, outcome, changes, url, source) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        e.at.unix(),
        e.actor,
        e.role.as_str(),
        e.action.as_str(),
        e.service_id,
        e.key_id,
        e.masked,
        e.remote_addr,
        e.outcome,
        changes_text(e),
        e.url.clone().flatten(),
        e.source.clone().flatten()
    ])?;
    Ok(())
}

pub fn upsert_idempotency(conn: &Connection, r: &IdempotencyRecord) -> StoreResult<()> {
    // A record older than the retention may still sit there unpruned: the new one replaces it.
    conn.prepare_cached(
        "INSERT INTO idempotency (scope, request_hash, key_id, status, outcome, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (scope) DO UPDATE SET request_hash = excluded.request_hash, \
         key_id = excluded.key_id, status = excluded.status, outcome = excluded.outcome, \
         created_at = excluded.created_at",
    )?
    .execute(params![
        &r.scope[..],
        &r.request_hash[..],
        r.key_id,
        r.status,
        r.outcome,
        r.created_at
    ])?;
    Ok(())
}

pub fn record_failure(
    conn: &mut Connection,
    audit: &AuditEvent,
    idempotency: Option<&IdempotencyRecord>,
) -> StoreResult<()> {
    let tx = write_tx(conn)?;
    insert_audit(&tx, audit)?;
    if let Some(rec) = idempotency {
        upsert_idempotency(&tx, rec)?;
    }
    tx.commit()?;
    Ok(())
}

/// The columns [`event_row`] reads, in its order.
const EVENT_COLUMNS: &str = "at, actor, role, action, service_id, key_id, masked, remote_addr, \
     outcome, changes, url, source";

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEvent> {
    let action: String = r.get(3)?;
    let parsed = AuditAction::parse(&action);
    // Only a leak report says where and how it was found: other events carry neither field.
    let leak = parsed == Some(AuditAction::ApiKeyLeak);
    Ok(AuditEvent {
        at: Timestamp::from_unix(r.get(0)?),
        actor: r.get(1)?,
        role: role_of(r, 2)?,
        action: parsed.ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                3,
                rusqlite::types::Type::Text,
                format!("unknown audit action {action:?}").into(),
            )
        })?,
        service_id: r.get(4)?,
        key_id: r.get(5)?,
        masked: r.get(6)?,
        remote_addr: r.get(7)?,
        outcome: r.get(8)?,
        changes: changes_of(r.get(9)?),
        url: if leak { Some(r.get(10)?) } else { None },
        source: if leak { Some(r.get(11)?) } else { None },
    })
}

pub fn list_audit(conn: &Connection, service_id: &str, limit: u32) -> StoreResult<Vec<AuditEvent>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE service_id = ?1 ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![service_id, limit], event_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One page of the whole trail, newest first (or oldest first). The SQL names only the filters
/// asked for, so that SQLite walks the primary key (or `audit_by_service` for one service) from
/// `before` on, down or up.
pub fn list_audit_page(conn: &Connection, q: &AuditQuery) -> StoreResult<Vec<StoredEvent>> {
    let mut sql = format!("SELECT {EVENT_COLUMNS}, id FROM audit_events WHERE 1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(s) = &q.service_id {
        args.push(s.clone().into());
        sql.push_str(&format!(" AND service_id = ?{}", args.len()));
    }
    if let Some(a) = q.action {
        args.push(a.as_str().to_owned().into());
        sql.push_str(&format!(" AND action = ?{}", args.len()));
    }
    if let Some(before) = q.before {
        args.push(before.into());
        let past = if q.oldest_first { '>' } else { '<' };
        sql.push_str(&format!(" AND id {past} ?{}", args.len()));
    }
    args.push(i64::from(q.limit).into());
    let dir = if q.oldest_first { "ASC" } else { "DESC" };
    sql.push_str(&format!(" ORDER BY id {dir} LIMIT ?{}", args.len()));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
        Ok(StoredEvent {
            event: event_row(r)?,
            id: r.get(12)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn find_idempotency(
    conn: &Connection,
    scope: &[u8; 32],
) -> StoreResult<Option<IdempotencyRecord>> {
    Ok(conn
        .prepare_cached(
            "SELECT scope, request_hash, key_id, status, outcome, created_at FROM idempotency WHERE scope = ?1",
        )?
        .query_row([&scope[..]], |r| {
            Ok(IdempotencyRecord {
                scope: hash_of(r, 0)?,
                request_hash: hash_of(r, 1)?,
                key_id: r.get(2)?,
                status: r.get(3)?,
                outcome: r.get(4)?,
                created_at: r.get(5)?,
            })
        })
        .optional()?)
}

pub fn prune_idempotency(conn: &mut Connection, created_before: UnixTime) -> StoreResult<()> {
    conn.execute(
        "DELETE FROM idempotency WHERE created_at < ?1",
        [created_before],
    )?;
    Ok(())
}
