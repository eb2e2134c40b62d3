//! Services and their API keys: the key cap lives here.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::common::{digest_of, is_unique_violation, write_tx};
use super::leaks::insert_tombstone;
use super::trail::{insert_audit, upsert_idempotency};
use crate::credential::Digest;
use crate::server::store::rules;
use crate::server::store::stored_policy::StoredPolicy;
use crate::server::store::{
    FoundKey, IdempotencyRecord, KeyCounts, KeyDigest, KeyRecord, LeakRecord, NewKey,
    ServiceRecord, ServiceSummary, StoreError, StoreResult, UnixTime, valid_until,
};
use crate::wire::AuditEvent;

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

/// The services with their keys needing attention counted in the same statement: one
/// aggregate over `api_keys` joined to the services (docs/api.md, Service: `attention`).
fn summary_sql(filter: &str) -> String {
    let attention = rules::attention_sql("?1");
    format!(
        "SELECT s.id, s.name, s.description, s.key_count, s.created_at, coalesce(a.n, 0) \
         FROM services s LEFT JOIN \
         (SELECT service_id, count(*) AS n FROM api_keys WHERE {attention} GROUP BY service_id) a \
         ON a.service_id = s.id {filter}"
    )
}

fn summary_row(row: &Row<'_>) -> rusqlite::Result<ServiceSummary> {
    Ok(ServiceSummary {
        service: service_row(row)?,
        attention: row.get(5)?,
    })
}

pub fn list_service_summaries(
    conn: &Connection,
    now: UnixTime,
) -> StoreResult<Vec<ServiceSummary>> {
    let sql = summary_sql("ORDER BY s.created_at, s.rowid");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([now], summary_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get_service_summary(
    conn: &Connection,
    id: &str,
    now: UnixTime,
) -> StoreResult<Option<ServiceSummary>> {
    let sql = summary_sql("WHERE s.id = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![now, id], summary_row)
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

pub fn seed_service(
    conn: &mut Connection,
    once: &str,
    service: &ServiceRecord,
    audit: &AuditEvent,
) -> StoreResult<bool> {
    let tx = write_tx(conn)?;
    let seeded: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM meta WHERE key = ?1)",
        [once],
        |r| r.get(0),
    )?;
    let any: bool = tx.query_row("SELECT EXISTS (SELECT 1 FROM services)", [], |r| r.get(0))?;
    let create = !seeded && !any;
    if create {
        tx.execute(
            "UPDATE counters SET value = value + 1 WHERE name = 'services'",
            [],
        )?;
        tx.execute(
            "INSERT INTO services (id, name, description, key_count, created_at) VALUES (?1, ?2, ?3, 0, ?4)",
            params![service.id, service.name, service.description, service.created_at],
        )?;
        insert_audit(&tx, audit)?;
    }
    if !seeded {
        tx.execute("INSERT INTO meta (key, value) VALUES (?1, '1')", [once])?;
    }
    tx.commit()?;
    Ok(create)
}

pub fn delete_service(
    conn: &mut Connection,
    id: &str,
    audit: &AuditEvent,
) -> StoreResult<Vec<Digest>> {
    let tx = write_tx(conn)?;
    let keys = {
        let mut stmt =
            tx.prepare_cached("SELECT digest, id FROM api_keys WHERE service_id = ?1")?;
        let rows = stmt.query_map([id], |r| Ok((digest_of(r, 0)?, r.get::<_, String>(1)?)))?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    // Each key leaves a tombstone, so that a later leak report of it is still known.
    for (digest, key_id) in &keys {
        insert_tombstone(&tx, digest, id, key_id, audit.at.unix(), None)?;
    }
    let mut digests: Vec<Digest> = keys.into_iter().map(|(d, _)| d).collect();
    // Its retired keys are deleted with it: verify forgets them as it forgets the others.
    {
        let mut stmt = tx.prepare_cached(
            "UPDATE tombstones SET retired = NULL \
             WHERE service_id = ?1 AND retired IS NOT NULL RETURNING digest",
        )?;
        let rows = stmt.query_map([id], |r| digest_of(r, 0))?;
        for d in rows {
            digests.push(d?);
        }
    }
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

/// The columns [`key_row`] reads, in its order; the next column is [`KEY_COLUMNS_LEN`].
pub const KEY_COLUMNS: &str = "id, service_id, masked, name, created_at, last_used_at, \
     created_by, enabled, expires_at, replaced_by, \
     scopes, rate_requests, rate_per_seconds, allowed_cidrs, \
     leak_reported_at, leak_by, leak_url, leak_source";

/// How many columns [`KEY_COLUMNS`] names.
pub const KEY_COLUMNS_LEN: usize = 18;

/// [`KEY_COLUMNS`] of the table aliased `k`, for joins.
pub const KEY_COLUMNS_K: &str = "k.id, k.service_id, k.masked, k.name, k.created_at, \
     k.last_used_at, k.created_by, k.enabled, k.expires_at, k.replaced_by, \
     k.scopes, k.rate_requests, k.rate_per_seconds, k.allowed_cidrs, \
     k.leak_reported_at, k.leak_by, k.leak_url, k.leak_source";

/// The policy in the four columns from `at` on.
fn policy_at(row: &Row<'_>, at: usize) -> rusqlite::Result<crate::policy::Policy> {
    Ok(StoredPolicy {
        scopes: row.get(at)?,
        rate_requests: row.get(at + 1)?,
        rate_per_seconds: row.get(at + 2)?,
        allowed_cidrs: row.get(at + 3)?,
    }
    .policy())
}

/// The leak in the four columns from `at` on: none while `reported_at` is null.
fn leak_at(row: &Row<'_>, at: usize) -> rusqlite::Result<Option<LeakRecord>> {
    let Some(reported_at) = row.get::<_, Option<UnixTime>>(at)? else {
        return Ok(None);
    };
    Ok(Some(LeakRecord {
        reported_at,
        by: row.get::<_, Option<String>>(at + 1)?.unwrap_or_default(),
        url: row.get(at + 2)?,
        source: row.get(at + 3)?,
    }))
}

pub fn key_row(row: &Row<'_>) -> rusqlite::Result<KeyRecord> {
    Ok(KeyRecord {
        policy: policy_at(row, 10)?,
        leak: leak_at(row, 14)?,
        id: row.get(0)?,
        service_id: row.get(1)?,
        masked: row.get(2)?,
        name: row.get(3)?,
        created_at: row.get(4)?,
        last_used_at: row.get(5)?,
        created_by: row.get(6)?,
        enabled: row.get(7)?,
        expires_at: row.get(8)?,
        replaced_by: row.get(9)?,
    })
}

pub fn list_keys(conn: &Connection, service_id: &str) -> StoreResult<Vec<KeyRecord>> {
    // One read transaction, so that "the service exists" and its key list agree.
    let tx = conn.unchecked_transaction()?;
    if get_service(&tx, service_id)?.is_none() {
        return Err(StoreError::ServiceNotFound);
    }
    let keys = {
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys \
             WHERE service_id = ?1 ORDER BY created_at DESC, rowid DESC"
        ))?;
        let rows = stmt.query_map([service_id], key_row)?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    tx.finish()?;
    Ok(keys)
}

pub fn get_key(
    conn: &Connection,
    service_id: &str,
    key_id: &str,
) -> StoreResult<Option<KeyRecord>> {
    // One read transaction: "the service exists" and "the key exists" agree.
    let tx = conn.unchecked_transaction()?;
    if get_service(&tx, service_id)?.is_none() {
        return Err(StoreError::ServiceNotFound);
    }
    let key = tx
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1 AND service_id = ?2"
        ))?
        .query_row([key_id, service_id], key_row)
        .optional()?;
    tx.finish()?;
    Ok(key)
}

/// The key with this digest and its service's name (`POST /v1/whois`); deleted keys are gone.
pub fn find_key_by_digest(conn: &Connection, digest: &Digest) -> StoreResult<Option<FoundKey>> {
    let sql = format!(
        "SELECT {}, s.name FROM api_keys k JOIN services s ON s.id = k.service_id \
         WHERE k.digest = ?1",
        KEY_COLUMNS_K
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([&digest[..]], |r| {
            Ok(FoundKey {
                key: key_row(r)?,
                service_name: r.get(KEY_COLUMNS_LEN)?,
            })
        })
        .optional()?)
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
    let record = insert_key(&tx, key)?;
    if let Some(rec) = idempotency {
        upsert_idempotency(&tx, rec)?;
    }
    insert_audit(&tx, audit)?;
    tx.commit()?;
    Ok(record)
}

/// Inserts a new key row (its slot is the caller's business) and returns it as listed.
pub fn insert_key(conn: &Connection, key: &NewKey) -> StoreResult<KeyRecord> {
    let p = StoredPolicy::of(&key.policy);
    conn.prepare_cached(
        "INSERT INTO api_keys (id, service_id, digest, masked, name, created_at, created_by, expires_at, \
         scopes, rate_requests, rate_per_seconds, allowed_cidrs) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        key.id,
        key.service_id,
        &key.digest[..],
        key.masked,
        key.name,
        key.created_at,
        key.created_by,
        key.expires_at,
        p.scopes,
        p.rate_requests,
        p.rate_per_seconds,
        p.allowed_cidrs
    ])?;
    Ok(KeyRecord {
        policy: key.policy.clone(),
        leak: None,
        id: key.id.clone(),
        service_id: key.service_id.clone(),
        masked: key.masked.clone(),
        name: key.name.clone(),
        created_at: key.created_at,
        created_by: key.created_by.clone(),
        enabled: true,
        expires_at: key.expires_at,
        last_used_at: None,
        replaced_by: None,
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
            "DELETE FROM api_keys WHERE id = ?1 AND service_id = ?2 \
             RETURNING digest, masked, replaced_by IS NOT NULL",
            [key_id, service_id],
            |r| {
                Ok((
                    digest_of(r, 0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                ))
            },
        )
        .optional()?;
    let Some((digest, masked, rotated)) = deleted else {
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
    insert_tombstone(&tx, &digest, service_id, key_id, audit.at.unix(), None)?;
    // A rotated key shares its successor's slot: deleting it frees none.
    if !rotated {
        tx.execute(
            "UPDATE services SET key_count = key_count - 1 WHERE id = ?1 AND key_count > 0",
            [service_id],
        )?;
    }
    let audit = AuditEvent {
        masked: Some(masked),
        ..audit.clone()
    };
    insert_audit(&tx, &audit)?;
    tx.commit()?;
    Ok(digest)
}

fn key_digest_row(r: &Row<'_>) -> rusqlite::Result<KeyDigest> {
    Ok(KeyDigest {
        policy: policy_at(r, 6)?,
        digest: digest_of(r, 0)?,
        service_id: r.get(1)?,
        key_id: r.get(2)?,
        last_used_at: r.get(3)?,
        valid_until: valid_until(r.get(4)?, r.get(5)?),
    })
}

const KEY_DIGEST_COLUMNS: &str = "digest, service_id, id, last_used_at, enabled, expires_at, \
     scopes, rate_requests, rate_per_seconds, allowed_cidrs";

/// A retired key's tombstone as [`KEY_DIGEST_COLUMNS`]: a key disabled for good, so that verify
/// refuses it as stopped, not as unknown (docs/api.md, Verify: a client still sending a key that
/// was stopped never locks out its own address). Its policy is irrelevant: never checked.
const RETIRED_DIGESTS: &str = "SELECT digest, service_id, key_id, NULL, 0, NULL, 'query', \
     NULL, NULL, NULL FROM tombstones WHERE retired IS NOT NULL";

/// Every key the verify index holds: the keys, and the retired keys as stopped ones.
pub fn all_key_digests(conn: &Connection) -> StoreResult<Vec<KeyDigest>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {KEY_DIGEST_COLUMNS} FROM api_keys UNION ALL {RETIRED_DIGESTS}"
    ))?;
    let rows = stmt.query_map([], key_digest_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Keys by state at `now` across all services, in one query with the rules of
/// [`KeyRecord::state`]: rotated beats disabled beats expired.
pub fn count_keys_by_state(conn: &Connection, now: UnixTime) -> StoreResult<KeyCounts> {
    let mut stmt = conn.prepare_cached(
        "SELECT CASE WHEN replaced_by IS NOT NULL THEN 'rotating' \
                     WHEN enabled = 0 THEN 'disabled' \
                     WHEN expires_at IS NOT NULL AND expires_at <= ?1 THEN 'expired' \
                     ELSE 'active' END AS state, count(*) \
         FROM api_keys GROUP BY state",
    )?;
    let mut counts = KeyCounts::default();
    let rows = stmt.query_map([now], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (state, n) = row?;
        let n = u64::try_from(n).unwrap_or(0);
        match state.as_str() {
            "rotating" => counts.rotating = n,
            "disabled" => counts.disabled = n,
            "expired" => counts.expired = n,
            _ => counts.active = n,
        }
    }
    Ok(counts)
}

/// The keys among `digests` that exist (retired ones as stopped keys), as the verify index
/// wants them.
pub fn key_digests(conn: &Connection, digests: &[Digest]) -> StoreResult<Vec<KeyDigest>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {KEY_DIGEST_COLUMNS} FROM api_keys WHERE digest = ?1 \
         UNION ALL {RETIRED_DIGESTS} AND digest = ?1"
    ))?;
    let mut found = Vec::new();
    for d in digests {
        if let Some(k) = stmt.query_row([&d[..]], key_digest_row).optional()? {
            found.push(k);
        }
    }
    Ok(found)
}
