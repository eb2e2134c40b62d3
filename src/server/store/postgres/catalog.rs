//! Services and their API keys: the key cap lives here, held across replicas by row locks.

use std::time::Instant;

use sqlx::postgres::{PgPool, PgRow};
use sqlx::{AssertSqlSafe, PgConnection, Row};

use super::common::{begin, digest_of, is_unique_violation, q, qs, read_tx, u32_of};
use super::feed::{Phases, announce, await_acks};
use super::leaks::insert_tombstone;
use super::schema::MIGRATION_LOCK;
use super::trail::{insert_audit, upsert_idempotency};
use crate::credential::Digest;
use crate::server::store::rules;
use crate::server::store::stored_policy::StoredPolicy;
use crate::server::store::{
    FoundKey, IdempotencyRecord, KeyRecord, LeakRecord, NewKey, ServiceRecord, ServiceSummary,
    StoreError, StoreResult, UnixTime,
};
use crate::wire::AuditEvent;

// ---- services -----------------------------------------------------------------------------

const SERVICE_COLUMNS: &str = "id, name, description, key_count, created_at";

fn service_row(row: &PgRow) -> Result<ServiceRecord, sqlx::Error> {
    Ok(ServiceRecord {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        description: row.try_get(2)?,
        key_count: u32_of(row, 3)?,
        created_at: row.try_get(4)?,
    })
}

pub async fn list_services(pool: &PgPool) -> StoreResult<Vec<ServiceRecord>> {
    let mut tx = begin(pool).await?;
    let sql = format!("SELECT {SERVICE_COLUMNS} FROM services ORDER BY created_at, ord");
    let rows = q(AssertSqlSafe(sql)).fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok(rows.iter().map(service_row).collect::<Result<_, _>>()?)
}

pub async fn get_service(conn: &mut PgConnection, id: &str) -> StoreResult<Option<ServiceRecord>> {
    let sql = format!("SELECT {SERVICE_COLUMNS} FROM services WHERE id = $1");
    let row = q(AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await?;
    Ok(row.as_ref().map(service_row).transpose()?)
}

/// The services with their keys needing attention counted in the same statement: one
/// aggregate over `api_keys` joined to the services (docs/api.md, Service: `attention`).
fn summary_sql(filter: &str) -> String {
    let attention = rules::attention_sql("$1");
    format!(
        "SELECT s.id, s.name, s.description, s.key_count, s.created_at, \
         coalesce(a.n, 0)::INTEGER \
         FROM services s LEFT JOIN \
         (SELECT service_id, count(*) AS n FROM api_keys WHERE {attention} GROUP BY service_id) a \
         ON a.service_id = s.id {filter}"
    )
}

fn summary_row(row: &PgRow) -> Result<ServiceSummary, sqlx::Error> {
    Ok(ServiceSummary {
        service: service_row(row)?,
        attention: u32_of(row, 5)?,
    })
}

pub async fn list_service_summaries(
    pool: &PgPool,
    now: UnixTime,
) -> StoreResult<Vec<ServiceSummary>> {
    // One snapshot: the services and the keys counted for them agree.
    let mut tx = read_tx(pool).await?;
    let sql = summary_sql("ORDER BY s.created_at, s.ord");
    let rows = q(AssertSqlSafe(sql)).bind(now).fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok(rows.iter().map(summary_row).collect::<Result<_, _>>()?)
}

pub async fn get_service_summary(
    pool: &PgPool,
    id: &str,
    now: UnixTime,
) -> StoreResult<Option<ServiceSummary>> {
    let mut tx = read_tx(pool).await?;
    let sql = summary_sql("WHERE s.id = $2");
    let row = q(AssertSqlSafe(sql))
        .bind(now)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(row.as_ref().map(summary_row).transpose()?)
}

async fn service_exists(conn: &mut PgConnection, id: &str) -> StoreResult<bool> {
    Ok(qs("SELECT EXISTS (SELECT 1 FROM services WHERE id = $1)")
        .bind(id)
        .fetch_one(conn)
        .await?)
}

async fn insert_service(conn: &mut PgConnection, service: &ServiceRecord) -> StoreResult<()> {
    let inserted = q(
        "INSERT INTO services (id, name, description, key_count, created_at) VALUES ($1, $2, $3, 0, $4)",
    )
    .bind(&service.id)
    .bind(&service.name)
    .bind(&service.description)
    .bind(service.created_at)
    .execute(conn)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e, "services_name_key") => Err(StoreError::NameTaken),
        Err(e) => Err(e.into()),
    }
}

pub async fn create_service(
    pool: &PgPool,
    service: &ServiceRecord,
    max_services: u32,
    audit: &AuditEvent,
) -> StoreResult<ServiceRecord> {
    let mut tx = begin(pool).await?;
    // A conditional increment of one counter row: its row lock serializes the check across
    // replicas, and a waiter re-reads the row before deciding.
    let took = q("UPDATE counters SET value = value + 1 WHERE name = 'services' AND value < $1")
        .bind(i64::from(max_services))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if took == 0 {
        return Err(StoreError::ServiceLimit);
    }
    insert_service(&mut tx, service).await?;
    insert_audit(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(ServiceRecord {
        key_count: 0,
        ..service.clone()
    })
}

pub async fn seed_service(
    pool: &PgPool,
    once: &str,
    service: &ServiceRecord,
    audit: &AuditEvent,
) -> StoreResult<bool> {
    let mut tx = begin(pool).await?;
    // The setup lock: of several processes seeding together exactly one looks and writes.
    q("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    let seeded: bool = qs("SELECT EXISTS (SELECT 1 FROM meta WHERE key = $1)")
        .bind(once)
        .fetch_one(&mut *tx)
        .await?;
    let any: bool = qs("SELECT EXISTS (SELECT 1 FROM services)")
        .fetch_one(&mut *tx)
        .await?;
    let create = !seeded && !any;
    if create {
        q("UPDATE counters SET value = value + 1 WHERE name = 'services'")
            .execute(&mut *tx)
            .await?;
        insert_service(&mut tx, service).await?;
        insert_audit(&mut tx, audit).await?;
    }
    if !seeded {
        q("INSERT INTO meta (key, value) VALUES ($1, '1')")
            .bind(once)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(create)
}

pub async fn delete_service(
    pool: &PgPool,
    me: &str,
    id: &str,
    audit: &AuditEvent,
) -> StoreResult<Vec<Digest>> {
    let mut phases = Phases::start("delete_service");
    let mut tx = begin(pool).await?;
    phases.acquired();
    // The service's row first: an issue on another replica waits for this delete and then
    // finds no service, rather than adding a key under it meanwhile.
    let locked: Option<String> = qs("SELECT id FROM services WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    if locked.is_none() {
        return Err(StoreError::ServiceNotFound);
    }
    let rows = q("DELETE FROM api_keys WHERE service_id = $1 RETURNING digest, id")
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
    let mut digests = Vec::with_capacity(rows.len());
    // Each key leaves a tombstone, so that a later leak report of it is still known.
    for r in &rows {
        let digest = digest_of(r, 0)?;
        let key_id: String = r.try_get(1)?;
        insert_tombstone(&mut tx, &digest, id, &key_id, audit.at.unix(), None).await?;
        digests.push(digest);
    }
    // Its retired keys are deleted with it: every replica's verify forgets them as the others.
    let retired = q("UPDATE tombstones SET retired = NULL \
         WHERE service_id = $1 AND retired IS NOT NULL RETURNING digest")
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    for r in &retired {
        digests.push(digest_of(r, 0)?);
    }
    q("DELETE FROM services WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    q("UPDATE counters SET value = value - 1 WHERE name = 'services' AND value > 0")
        .execute(&mut *tx)
        .await?;
    insert_audit(&mut tx, audit).await?;
    let seq = if digests.is_empty() {
        None
    } else {
        Some(announce(&mut tx, audit.at.unix(), true, &digests, &mut phases).await?)
    };
    tx.commit().await?;
    phases.committed();
    if let Some(seq) = seq {
        await_acks(pool, me, seq, Instant::now()).await?;
        phases.acknowledged();
    }
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

pub const KEY_COLUMNS_K: &str = "k.id, k.service_id, k.masked, k.name, k.created_at, \
     k.last_used_at, k.created_by, k.enabled, k.expires_at, k.replaced_by, \
     k.scopes, k.rate_requests, k.rate_per_seconds, k.allowed_cidrs, \
     k.leak_reported_at, k.leak_by, k.leak_url, k.leak_source";

/// The policy in the four columns from `at` on (`scopes, rate_requests, rate_per_seconds,
/// allowed_cidrs`).
pub fn policy_at(row: &PgRow, at: usize) -> Result<crate::policy::Policy, sqlx::Error> {
    Ok(StoredPolicy {
        scopes: row.try_get(at)?,
        rate_requests: row.try_get(at + 1)?,
        rate_per_seconds: row.try_get(at + 2)?,
        allowed_cidrs: row.try_get(at + 3)?,
    }
    .policy())
}

/// The leak in the four columns from `at` on: none while `reported_at` is null.
fn leak_at(row: &PgRow, at: usize) -> Result<Option<LeakRecord>, sqlx::Error> {
    let Some(reported_at) = row.try_get::<Option<UnixTime>, _>(at)? else {
        return Ok(None);
    };
    Ok(Some(LeakRecord {
        reported_at,
        by: row
            .try_get::<Option<String>, _>(at + 1)?
            .unwrap_or_default(),
        url: row.try_get(at + 2)?,
        source: row.try_get(at + 3)?,
    }))
}

pub fn key_row(row: &PgRow) -> Result<KeyRecord, sqlx::Error> {
    Ok(KeyRecord {
        policy: policy_at(row, 10)?,
        leak: leak_at(row, 14)?,
        id: row.try_get(0)?,
        service_id: row.try_get(1)?,
        masked: row.try_get(2)?,
        name: row.try_get(3)?,
        created_at: row.try_get(4)?,
        last_used_at: row.try_get(5)?,
        created_by: row.try_get(6)?,
        enabled: row.try_get(7)?,
        expires_at: row.try_get(8)?,
        replaced_by: row.try_get(9)?,
    })
}

pub async fn list_keys(pool: &PgPool, service_id: &str) -> StoreResult<Vec<KeyRecord>> {
    let mut tx = read_tx(pool).await?;
    if get_service(&mut tx, service_id).await?.is_none() {
        return Err(StoreError::ServiceNotFound);
    }
    let rows = q(AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE service_id = $1 ORDER BY created_at DESC, ord DESC"
    )))
    .bind(service_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows.iter().map(key_row).collect::<Result<_, _>>()?)
}

pub async fn get_key(
    pool: &PgPool,
    service_id: &str,
    key_id: &str,
) -> StoreResult<Option<KeyRecord>> {
    let mut tx = read_tx(pool).await?;
    if get_service(&mut tx, service_id).await?.is_none() {
        return Err(StoreError::ServiceNotFound);
    }
    let row = q(AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1 AND service_id = $2"
    )))
    .bind(key_id)
    .bind(service_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row.as_ref().map(key_row).transpose()?)
}

pub async fn find_key_by_digest(pool: &PgPool, digest: &Digest) -> StoreResult<Option<FoundKey>> {
    let mut tx = begin(pool).await?;
    let sql = format!(
        "SELECT {KEY_COLUMNS_K}, s.name FROM api_keys k JOIN services s ON s.id = k.service_id \
         WHERE k.digest = $1"
    );
    let row = q(AssertSqlSafe(sql))
        .bind(&digest[..])
        .fetch_optional(&mut *tx)
        .await?;
    let Some(r) = row else { return Ok(None) };
    tx.commit().await?;
    Ok(Some(FoundKey {
        key: key_row(&r)?,
        service_name: r.try_get(KEY_COLUMNS_LEN)?,
    }))
}

#[allow(clippy::too_many_arguments)]
pub async fn issue_key(
    pool: &PgPool,
    key: &NewKey,
    key_limit: u32,
    idempotency: Option<&IdempotencyRecord>,
    audit: &AuditEvent,
) -> StoreResult<KeyRecord> {
    let mut phases = Phases::start("issue_key");
    let mut tx = begin(pool).await?;
    phases.acquired();
    // The cap: a conditional increment takes the service's row lock; a replica waiting on it
    // re-reads key_count once the holder commits, so N issues over all replicas give exactly
    // key_limit keys.
    let took = q("UPDATE services SET key_count = key_count + 1 WHERE id = $1 AND key_count < $2")
        .bind(&key.service_id)
        .bind(i64::from(key_limit))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if took == 0 {
        return Err(if service_exists(&mut tx, &key.service_id).await? {
            StoreError::KeyLimit
        } else {
            StoreError::ServiceNotFound
        });
    }
    let record = insert_key(&mut tx, key).await?;
    if let Some(rec) = idempotency
        && !upsert_idempotency(&mut tx, rec).await?
    {
        // Another replica answered this Idempotency-Key meanwhile: never a second key.
        return Err(StoreError::IdempotencyTaken);
    }
    insert_audit(&mut tx, audit).await?;
    // Not awaited: other replicas find a new key through an index miss.
    announce(&mut tx, key.created_at, false, &[key.digest], &mut phases).await?;
    tx.commit().await?;
    phases.committed();
    Ok(record)
}

/// Inserts a new key row (its slot is the caller's business) and returns it as listed.
pub async fn insert_key(conn: &mut PgConnection, key: &NewKey) -> StoreResult<KeyRecord> {
    let p = StoredPolicy::of(&key.policy);
    q(
        "INSERT INTO api_keys (id, service_id, digest, masked, name, created_at, created_by, expires_at, \
         scopes, rate_requests, rate_per_seconds, allowed_cidrs) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&key.id)
    .bind(&key.service_id)
    .bind(&key.digest[..])
    .bind(&key.masked)
    .bind(&key.name)
    .bind(key.created_at)
    .bind(&key.created_by)
    .bind(key.expires_at)
    .bind(p.scopes)
    .bind(p.rate_requests)
    .bind(p.rate_per_seconds)
    .bind(p.allowed_cidrs)
    .execute(conn)
    .await?;
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

pub async fn delete_key(
    pool: &PgPool,
    me: &str,
    service_id: &str,
    key_id: &str,
    audit: &AuditEvent,
) -> StoreResult<Digest> {
    let mut phases = Phases::start("delete_key");
    let mut tx = begin(pool).await?;
    phases.acquired();
    let deleted = q("DELETE FROM api_keys WHERE id = $1 AND service_id = $2 \
         RETURNING digest, masked, replaced_by IS NOT NULL")
    .bind(key_id)
    .bind(service_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = deleted else {
        return Err(if service_exists(&mut tx, service_id).await? {
            StoreError::KeyNotFound
        } else {
            StoreError::ServiceNotFound
        });
    };
    let digest = digest_of(&row, 0)?;
    let masked: String = row.try_get(1)?;
    let rotated: bool = row.try_get(2)?;
    insert_tombstone(&mut tx, &digest, service_id, key_id, audit.at.unix(), None).await?;
    // A rotated key shares its successor's slot: deleting it frees none.
    if !rotated {
        q("UPDATE services SET key_count = key_count - 1 WHERE id = $1 AND key_count > 0")
            .bind(service_id)
            .execute(&mut *tx)
            .await?;
    }
    let audit = AuditEvent {
        masked: Some(masked),
        ..audit.clone()
    };
    insert_audit(&mut tx, &audit).await?;
    let seq = announce(&mut tx, audit.at.unix(), true, &[digest], &mut phases).await?;
    tx.commit().await?;
    phases.committed();
    await_acks(pool, me, seq, Instant::now()).await?;
    phases.acknowledged();
    Ok(digest)
}
