//! What the SQL modules of the PostgreSQL store share: error mapping, read transactions,
//! column decoding.

use sqlx::postgres::{PgArguments, PgPool, PgRow};
use sqlx::query::{Query, QueryScalar};
use sqlx::{Connection, FromRow, PgConnection, Postgres, Row, SqlSafeStr, Transaction};

use super::{BEGIN, BEGIN_READ};

use crate::credential::Digest;
use crate::server::store::{StoreError, StoreResult, WriteFault};
use crate::wire::Role;

/// SQLSTATEs that mean "the database cannot serve us now" rather than "this request is wrong":
/// class 08 (connection exception), 57P01..57P03 (admin or crash shutdown, cannot connect now),
/// 53300 (too many connections), 57014 (a statement cancelled, e.g. by `statement_timeout`),
/// 25P03 (a transaction ended by `idle_in_transaction_session_timeout`, e.g. after a stall of
/// this process).
fn unavailable_code(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "53300" | "57014" | "25P03"
        )
}

/// SQLSTATEs of a database that reads but cannot take a write (docs/operating.md, Store faults):
/// 25006 read_only_sql_transaction (a standby, `default_transaction_read_only`), 53100
/// disk_full, 58030 io_error.
fn write_fault(code: &str) -> Option<WriteFault> {
    match code {
        "25006" => Some(WriteFault::ReadOnly),
        "53100" => Some(WriteFault::DiskFull),
        "58030" => Some(WriteFault::Io),
        _ => None,
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolClosed => StoreError::Closed,
            sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::BeginFailed => StoreError::Unavailable(e.to_string()),
            sqlx::Error::Database(d) if d.code().is_some_and(|c| unavailable_code(&c)) => {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::Database(d) => match d.code().as_deref().and_then(write_fault) {
                Some(fault) => StoreError::CannotWrite {
                    fault,
                    detail: d.message().to_owned(),
                },
                None => StoreError::Failed(e.to_string()),
            },
            _ => StoreError::Failed(e.to_string()),
        }
    }
}

/// True when `e` is a unique violation of the constraint `constraint` (PostgreSQL's default
/// names: `<table>_<column>_key`).
pub fn is_unique_violation(e: &sqlx::Error, constraint: &str) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.code().as_deref() == Some("23505") && d.constraint() == Some(constraint))
}

/// A read-write transaction on a pooled connection. Every statement with parameters runs
/// inside one: PgBouncer (before 1.21) in transaction mode may hand the Parse/Describe/Sync
/// and the Bind/Execute/Sync of a statement outside a transaction to different server
/// connections (docs/operating.md, PgBouncer).
pub async fn begin(pool: &PgPool) -> StoreResult<Transaction<'static, Postgres>> {
    Ok(pool.begin_with(BEGIN).await?)
}

/// [`begin`] on a connection of its own (the replica protocol's).
pub async fn begin_on(conn: &mut PgConnection) -> StoreResult<Transaction<'_, Postgres>> {
    Ok(conn.begin_with(BEGIN).await?)
}

/// [`read_tx`] on a connection of its own (the replica protocol's).
pub async fn read_tx_on(conn: &mut PgConnection) -> StoreResult<Transaction<'_, Postgres>> {
    Ok(conn.begin_with(BEGIN_READ).await?)
}

/// A read-only transaction that sees one snapshot, so that "the service exists" and what is
/// read of its keys agree (as SQLite's read transactions do).
pub async fn read_tx(pool: &PgPool) -> StoreResult<Transaction<'static, Postgres>> {
    Ok(pool.begin_with(BEGIN_READ).await?)
}

/// `sqlx::query` as an unnamed statement: a named (cached) one would outlive the transaction
/// and meet other clients' server connections behind a pooler.
pub fn q<'a>(sql: impl SqlSafeStr) -> Query<'a, Postgres, PgArguments> {
    sqlx::query(sql).persistent(false)
}

/// `sqlx::query_scalar` as an unnamed statement (see [`q`]).
pub fn qs<'a, O>(sql: impl SqlSafeStr) -> QueryScalar<'a, Postgres, O, PgArguments>
where
    (O,): for<'r> FromRow<'r, PgRow>,
{
    sqlx::query_scalar(sql).persistent(false)
}

fn bad_column(idx: usize, what: String) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: idx.to_string(),
        source: what.into(),
    }
}

/// A 32-byte BYTEA column (digests and hashes).
pub fn digest_of(row: &PgRow, idx: usize) -> Result<Digest, sqlx::Error> {
    let v: Vec<u8> = row.try_get(idx)?;
    v.try_into()
        .map_err(|_| bad_column(idx, "digest is not 32 bytes".into()))
}

/// A 32-byte value from a BYTEA read elsewhere (the `digests` array of a change).
pub fn digest_from(v: Vec<u8>) -> Result<Digest, sqlx::Error> {
    v.try_into()
        .map_err(|_| bad_column(0, "digest is not 32 bytes".into()))
}

pub fn role_of(row: &PgRow, idx: usize) -> Result<Role, sqlx::Error> {
    let s: String = row.try_get(idx)?;
    Role::parse(&s).ok_or_else(|| bad_column(idx, format!("unknown role {s:?}")))
}

/// An INTEGER column holding an unsigned count.
pub fn u32_of(row: &PgRow, idx: usize) -> Result<u32, sqlx::Error> {
    let v: i32 = row.try_get(idx)?;
    u32::try_from(v).map_err(|_| bad_column(idx, format!("negative count {v}")))
}

/// The digests as PostgreSQL's `BYTEA[]` wants them bound.
pub fn digest_array(digests: &[Digest]) -> Vec<Vec<u8>> {
    digests.iter().map(|d| d.to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outage_codes_are_unavailable_write_faults_are_store_faults_and_others_failures() {
        for code in ["08006", "08001", "57P01", "57P03", "53300"] {
            assert!(unavailable_code(code), "{code}");
        }
        for code in [
            "23505", "40P01", "42P01", "28P01", "25006", "53100", "58030",
        ] {
            assert!(!unavailable_code(code), "{code}");
        }
        assert_eq!(write_fault("25006"), Some(WriteFault::ReadOnly));
        assert_eq!(write_fault("53100"), Some(WriteFault::DiskFull));
        assert_eq!(write_fault("58030"), Some(WriteFault::Io));
        assert_eq!(write_fault("23505"), None);
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(matches!(StoreError::from(io), StoreError::Unavailable(_)));
        assert!(matches!(
            StoreError::from(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            StoreError::from(sqlx::Error::RowNotFound),
            StoreError::Failed(_)
        ));
    }
}
