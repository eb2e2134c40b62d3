//! The SQL of the SQLite store, as plain synchronous functions over one connection; `sqlite.rs`
//! decides which connection and which thread.

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::{
    IdempotencyRecord, KeyDigest, KeyRecord, NewKey, NewToken, ServiceRecord, StoreError,
    StoreResult, TokenRecord, UnixTime,
};
use crate::credential::Digest;
use crate::wire::{AuditAction, AuditEvent, Role, Timestamp};

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Failed(e.to_string())
    }
}

fn is_unique_violation(e: &rusqlite::Error, column: &str) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, Some(msg))
        if f.code == rusqlite::ErrorCode::ConstraintViolation && msg.contains(column))
}

fn write_tx(conn: &mut Connection) -> StoreResult<rusqlite::Transaction<'_>> {
    // IMMEDIATE takes the write lock up front, so two writers never deadlock on an upgrade.
    Ok(conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
}

fn digest_of(row: &Row<'_>, idx: usize) -> rusqlite::Result<Digest> {
    let v: Vec<u8> = row.get(idx)?;
    v.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Blob,
            "digest is not 32 bytes".into(),
        )
    })
}

fn hash_of(row: &Row<'_>, idx: usize) -> rusqlite::Result<[u8; 32]> {
    digest_of(row, idx)
}

fn role_of(row: &Row<'_>, idx: usize) -> rusqlite::Result<Role> {
    let s: String = row.get(idx)?;
    Role::parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("unknown role {s:?}").into(),
        )
    })
}

// ---- admin tokens -------------------------------------------------------------------------

const TOKEN_COLUMNS: &str = "id, name, role, masked, created_at";

fn token_row(row: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        role: role_of(row, 2)?,
        masked: row.get(3)?,
        created_at: row.get(4)?,
    })
}

pub fn find_token(conn: &Connection, digest: &Digest) -> StoreResult<Option<TokenRecord>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM admin_tokens WHERE digest = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([&digest[..]], token_row)
        .optional()?)
}

pub fn create_token(
    conn: &mut Connection,
    token: &NewToken,
    replace: bool,
) -> StoreResult<TokenRecord> {
    let tx = write_tx(conn)?;
    if replace {
        tx.execute("DELETE FROM admin_tokens WHERE name = ?1", [&token.name])?;
    }
    let inserted = tx.execute(
        "INSERT INTO admin_tokens (name, role, digest, masked, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![token.name, token.role.as_str(), &token.digest[..], token.masked, token.created_at],
    );
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e, "admin_tokens.name") => {
            return Err(StoreError::NameTaken);
        }
        Err(e) => return Err(e.into()),
    }
    let id = tx.last_insert_rowid();
    tx.commit()?;
    Ok(TokenRecord {
        id,
        name: token.name.clone(),
        role: token.role,
        masked: token.masked.clone(),
        created_at: token.created_at,
    })
}

pub fn list_tokens(conn: &Connection) -> StoreResult<Vec<TokenRecord>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM admin_tokens ORDER BY created_at, id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], token_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn revoke_token(conn: &mut Connection, name: &str) -> StoreResult<()> {
    let n = conn.execute("DELETE FROM admin_tokens WHERE name = ?1", [name])?;
    if n == 0 {
        return Err(StoreError::TokenNotFound);
    }
    Ok(())
}

// ---- services -----------------------------------------------------------------------------

const SERVICE_COLUMNS: &str = "id, name, description, key_count, created_at";

fn service_row(row: &Row<'_>) -> rusqlite::Result<ServiceRecord> {
    Ok(ServiceRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        key_count: row.get(3)?,
        created_at: row.get(4)?,
    })
}

pub fn list_services(conn: &Connection) -> StoreResult<Vec<ServiceRecord>> {
    let sql = format!("SELECT {SERVICE_COLUMNS} FROM services ORDER BY created_at, rowid");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], service_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get_service(conn: &Connection, id: &str) -> StoreResult<Option<ServiceRecord>> {
    let sql = format!("SELECT {SERVICE_COLUMNS} FROM services WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], service_row)
        .optional()?)
}

pub fn create_service(
    conn: &mut Connection,
    service: &ServiceRecord,
    max_services: u32,
    audit: &AuditEvent,
) -> StoreResult<ServiceRecord> {
    let tx = write_tx(conn)?;
    // A counter row rather than count(*): the same statement takes a row lock on PostgreSQL.
    let took = tx.execute(
        "UPDATE counters SET value = value + 1 WHERE name = 'services' AND value < ?1",
        [max_services],
    )?;
    if took == 0 {
        return Err(StoreError::ServiceLimit);
    }
    let inserted = tx.execute(
        "INSERT INTO services (id, name, description, key_count, created_at) VALUES (?1, ?2, ?3, 0, ?4)",
        params![service.id, service.name, service.description, service.created_at],
    );
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e, "services.name") => return Err(StoreError::NameTaken),
        Err(e) => return Err(e.into()),
    }
    insert_audit(&tx, audit)?;
    tx.commit()?;
    Ok(ServiceRecord {
        key_count: 0,
        ..service.clone()
    })
}

pub fn delete_service(
    conn: &mut Connection,
    id: &str,
    audit: &AuditEvent,
) -> StoreResult<Vec<Digest>> {
    let tx = write_tx(conn)?;
    let digests = {
        let mut stmt = tx.prepare_cached("SELECT digest FROM api_keys WHERE service_id = ?1")?;
        let rows = stmt.query_map([id], |r| digest_of(r, 0))?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    tx.execute("DELETE FROM api_keys WHERE service_id = ?1", [id])?;
    if tx.execute("DELETE FROM services WHERE id = ?1", [id])? == 0 {
        return Err(StoreError::ServiceNotFound);
    }
    tx.execute(
        "UPDATE counters SET value = value - 1 WHERE name = 'services' AND value > 0",
        [],
    )?;
    insert_audit(&tx, audit)?;
    tx.commit()?;
    Ok(digests)
}

// ---- API keys -----------------------------------------------------------------------------

fn key_row(row: &Row<'_>) -> rusqlite::Result<KeyRecord> {
    Ok(KeyRecord {
        id: row.get(0)?,
        service_id: row.get(1)?,
        masked: row.get(2)?,
        name: row.get(3)?,
        created_at: row.get(4)?,
        last_used_at: row.get(5)?,
    })
}

pub fn list_keys(conn: &Connection, service_id: &str) -> StoreResult<Vec<KeyRecord>> {
    // One read transaction, so that "the service exists" and its key list agree.
    let tx = conn.unchecked_transaction()?;
    if get_service(&tx, service_id)?.is_none() {
        return Err(StoreError::ServiceNotFound);
    }
    let keys = {
        let mut stmt = tx.prepare_cached(
            "SELECT id, service_id, masked, name, created_at, last_used_at FROM api_keys \
             WHERE service_id = ?1 ORDER BY created_at DESC, rowid DESC",
        )?;
        let rows = stmt.query_map([service_id], key_row)?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    tx.finish()?;
    Ok(keys)
}

pub fn issue_key(
    conn: &mut Connection,
    key: &NewKey,
    key_limit: u32,
    idempotency: Option<&IdempotencyRecord>,
    audit: &AuditEvent,
) -> StoreResult<KeyRecord> {
    let tx = write_tx(conn)?;
    // The cap: one conditional increment, a row lock on PostgreSQL; never count-then-insert.
    let took = tx.execute(
        "UPDATE services SET key_count = key_count + 1 WHERE id = ?1 AND key_count < ?2",
        params![key.service_id, key_limit],
    )?;
    if took == 0 {
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM services WHERE id = ?1)",
            [&key.service_id],
            |r| r.get(0),
        )?;
        return Err(if exists {
            StoreError::KeyLimit
        } else {
            StoreError::ServiceNotFound
        });
    }
    tx.execute(
        "INSERT INTO api_keys (id, service_id, digest, masked, name, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![key.id, key.service_id, &key.digest[..], key.masked, key.name, key.created_at],
    )?;
    if let Some(rec) = idempotency {
        upsert_idempotency(&tx, rec)?;
    }
    insert_audit(&tx, audit)?;
    tx.commit()?;
    Ok(KeyRecord {
        id: key.id.clone(),
        service_id: key.service_id.clone(),
        masked: key.masked.clone(),
        name: key.name.clone(),
        created_at: key.created_at,
        last_used_at: None,
    })
}

pub fn delete_key(
    conn: &mut Connection,
    service_id: &str,
    key_id: &str,
    audit: &AuditEvent,
) -> StoreResult<Digest> {
    let tx = write_tx(conn)?;
    let deleted = tx
        .query_row(
            "DELETE FROM api_keys WHERE id = ?1 AND service_id = ?2 RETURNING digest, masked",
            [key_id, service_id],
            |r| Ok((digest_of(r, 0)?, r.get::<_, String>(1)?)),
        )
        .optional()?;
    let Some((digest, masked)) = deleted else {
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM services WHERE id = ?1)",
            [service_id],
            |r| r.get(0),
        )?;
        return Err(if exists {
            StoreError::KeyNotFound
        } else {
            StoreError::ServiceNotFound
        });
    };
    tx.execute(
        "UPDATE services SET key_count = key_count - 1 WHERE id = ?1 AND key_count > 0",
        [service_id],
    )?;
    let audit = AuditEvent {
        masked: Some(masked),
        ..audit.clone()
    };
    insert_audit(&tx, &audit)?;
    tx.commit()?;
    Ok(digest)
}

pub fn all_key_digests(conn: &Connection) -> StoreResult<Vec<KeyDigest>> {
    let mut stmt =
        conn.prepare_cached("SELECT digest, service_id, id, last_used_at FROM api_keys")?;
    let rows = stmt.query_map([], |r| {
        Ok(KeyDigest {
            digest: digest_of(r, 0)?,
            service_id: r.get(1)?,
            key_id: r.get(2)?,
            last_used_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn touch_keys(conn: &mut Connection, used: &[(String, UnixTime)]) -> StoreResult<()> {
    let tx = write_tx(conn)?;
    {
        let mut stmt = tx.prepare_cached(
            "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
        )?;
        for (id, at) in used {
            stmt.execute(params![id, at])?;
        }
    }
    tx.commit()?;
    Ok(())
}

// ---- audit and idempotency ----------------------------------------------------------------

fn insert_audit(conn: &Connection, e: &AuditEvent) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO audit_events (at, actor, role, action, service_id, key_id, masked, remote_addr, outcome) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
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
        e.outcome
    ])?;
    Ok(())
}

fn upsert_idempotency(conn: &Connection, r: &IdempotencyRecord) -> StoreResult<()> {
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

pub fn list_audit(conn: &Connection, service_id: &str, limit: u32) -> StoreResult<Vec<AuditEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT at, actor, role, action, service_id, key_id, masked, remote_addr, outcome \
         FROM audit_events WHERE service_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![service_id, limit], |r| {
        let action: String = r.get(3)?;
        Ok(AuditEvent {
            at: Timestamp::from_unix(r.get(0)?),
            actor: r.get(1)?,
            role: role_of(r, 2)?,
            action: AuditAction::parse(&action).ok_or_else(|| {
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

pub fn get_meta(conn: &Connection, key: &str) -> StoreResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

pub fn set_meta(conn: &mut Connection, key: &str, value: &str) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    Ok(())
}
