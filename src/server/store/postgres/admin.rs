//! Admin tokens and the deployment's settings (`meta`).

use sqlx::postgres::{PgPool, PgRow};
use sqlx::{AssertSqlSafe, Row};

use super::common::{begin, is_unique_violation, q, qs, role_of};
use super::schema::MIGRATION_LOCK;
use crate::credential::Digest;
use crate::server::store::{NewToken, StoreError, StoreResult, TokenRecord};

const TOKEN_COLUMNS: &str = "id, name, role, masked, created_at, console_pid";

fn token_row(row: &PgRow) -> Result<TokenRecord, sqlx::Error> {
    Ok(TokenRecord {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        role: role_of(row, 2)?,
        masked: row.try_get(3)?,
        created_at: row.try_get(4)?,
        console_pid: row
            .try_get::<Option<i64>, _>(5)?
            .and_then(|pid| u32::try_from(pid).ok()),
    })
}

pub async fn find_token(pool: &PgPool, digest: &Digest) -> StoreResult<Option<TokenRecord>> {
    let mut tx = begin(pool).await?;
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM admin_tokens WHERE digest = $1");
    let row = q(AssertSqlSafe(sql))
        .bind(&digest[..])
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(row.as_ref().map(token_row).transpose()?)
}

async fn insert_token(conn: &mut sqlx::PgConnection, token: &NewToken) -> StoreResult<TokenRecord> {
    // A person's token never takes the name a console's own token has (docs/console.md, Who
    // did it); the unique index covers only the names people gave.
    if token.console_pid.is_none() {
        let held: bool = qs(
            "SELECT EXISTS (SELECT 1 FROM admin_tokens WHERE name = $1 AND console_pid IS NOT NULL)",
        )
        .bind(&token.name)
        .fetch_one(&mut *conn)
        .await?;
        if held {
            return Err(StoreError::NameTaken);
        }
    }
    // An identity column: an id is never given to a second token (as SQLite's schema 2).
    let inserted: Result<i64, sqlx::Error> = qs(
        "INSERT INTO admin_tokens (name, role, digest, masked, created_at, console_pid) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(&token.name)
    .bind(token.role.as_str())
    .bind(&token.digest[..])
    .bind(&token.masked)
    .bind(token.created_at)
    .bind(token.console_pid.map(i64::from))
    .fetch_one(conn)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(e) if is_unique_violation(&e, "admin_tokens_name_key") => {
            return Err(StoreError::NameTaken);
        }
        Err(e) => return Err(e.into()),
    };
    Ok(TokenRecord {
        id,
        name: token.name.clone(),
        role: token.role,
        masked: token.masked.clone(),
        created_at: token.created_at,
        console_pid: token.console_pid,
    })
}

pub async fn create_token(pool: &PgPool, token: &NewToken) -> StoreResult<TokenRecord> {
    let mut tx = begin(pool).await?;
    let record = insert_token(&mut tx, token).await?;
    tx.commit().await?;
    Ok(record)
}

pub async fn bootstrap_token(pool: &PgPool, token: &NewToken) -> StoreResult<Option<TokenRecord>> {
    // Check and insert under the setup lock: of replicas starting together, exactly one adds
    // the first token, and never one beside a token another made meanwhile.
    let mut tx = begin(pool).await?;
    q("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    let any: bool = qs("SELECT EXISTS (SELECT 1 FROM admin_tokens)")
        .fetch_one(&mut *tx)
        .await?;
    if any {
        return Ok(None);
    }
    let record = insert_token(&mut tx, token).await?;
    tx.commit().await?;
    Ok(Some(record))
}

pub async fn list_tokens(pool: &PgPool) -> StoreResult<Vec<TokenRecord>> {
    let mut tx = begin(pool).await?;
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM admin_tokens ORDER BY created_at, id");
    let rows = q(AssertSqlSafe(sql)).fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok(rows.iter().map(token_row).collect::<Result<_, _>>()?)
}

pub async fn revoke_token(pool: &PgPool, name: &str) -> StoreResult<()> {
    let mut tx = begin(pool).await?;
    let n = q("DELETE FROM admin_tokens WHERE name = $1 AND console_pid IS NULL")
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::TokenNotFound);
    }
    tx.commit().await?;
    Ok(())
}

pub async fn revoke_listed_token(pool: &PgPool, t: &TokenRecord) -> StoreResult<()> {
    let mut tx = begin(pool).await?;
    let n = q(
        "DELETE FROM admin_tokens WHERE id = $1 AND name = $2 AND masked = $3 AND created_at = $4",
    )
    .bind(t.id)
    .bind(&t.name)
    .bind(&t.masked)
    .bind(t.created_at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::TokenNotFound);
    }
    tx.commit().await?;
    Ok(())
}

pub async fn get_meta(pool: &PgPool, key: &str) -> StoreResult<Option<String>> {
    let mut tx = begin(pool).await?;
    let value = qs("SELECT value FROM meta WHERE key = $1")
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(value)
}

pub async fn set_meta(pool: &PgPool, key: &str, value: &str) -> StoreResult<()> {
    let mut tx = begin(pool).await?;
    q("INSERT INTO meta (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value")
    .bind(key)
    .bind(value)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn init_meta(pool: &PgPool, key: &str, value: &str) -> StoreResult<String> {
    // A second writer's insert waits on the first's row, then does nothing; the read that
    // follows (a new snapshot) sees the first writer's committed value.
    // Two transactions: the read must take a new snapshot after the insert's wait.
    let mut conn = begin(pool).await?;
    q("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
        .bind(key)
        .bind(value)
        .execute(&mut *conn)
        .await?;
    conn.commit().await?;
    let mut tx = begin(pool).await?;
    let value = qs("SELECT value FROM meta WHERE key = $1")
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(value)
}

/// A real write, committed, that fails as any write would while the database is read-only, full
/// or failing (docs/operating.md, Store faults): this replica's row touched in place.
pub async fn probe_write(pool: &PgPool, me: &str) -> StoreResult<()> {
    let mut tx = begin(pool).await?;
    q("UPDATE replicas SET host = host WHERE id = $1")
        .bind(me)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
