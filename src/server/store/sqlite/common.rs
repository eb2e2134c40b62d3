//! What the SQL modules of the SQLite store share: error mapping, transactions, column decoding.

use rusqlite::{Connection, Row, TransactionBehavior};

use crate::credential::Digest;
use crate::server::store::{StoreError, StoreResult, WriteFault};
use crate::wire::Role;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        let fault = match &e {
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                C::DiskFull => Some(WriteFault::DiskFull),
                C::ReadOnly => Some(WriteFault::ReadOnly),
                C::SystemIoFailure => Some(WriteFault::Io),
                _ => None,
            },
            _ => None,
        };
        match fault {
            Some(fault) => StoreError::CannotWrite {
                fault,
                detail: e.to_string(),
            },
            None => StoreError::Failed(e.to_string()),
        }
    }
}

pub fn is_unique_violation(e: &rusqlite::Error, column: &str) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, Some(msg))
        if f.code == rusqlite::ErrorCode::ConstraintViolation && msg.contains(column))
}

pub fn write_tx(conn: &mut Connection) -> StoreResult<rusqlite::Transaction<'_>> {
    // IMMEDIATE takes the write lock up front, so two writers never deadlock on an upgrade.
    Ok(conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
}

pub fn digest_of(row: &Row<'_>, idx: usize) -> rusqlite::Result<Digest> {
    let v: Vec<u8> = row.get(idx)?;
    v.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Blob,
            "digest is not 32 bytes".into(),
        )
    })
}

pub fn hash_of(row: &Row<'_>, idx: usize) -> rusqlite::Result<[u8; 32]> {
    digest_of(row, idx)
}

pub fn role_of(row: &Row<'_>, idx: usize) -> rusqlite::Result<Role> {
    let s: String = row.get(idx)?;
    Role::parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("unknown role {s:?}").into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: std::os::raw::c_int) -> StoreError {
        StoreError::from(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    }

    #[test]
    fn full_read_only_and_io_errors_are_write_faults_and_the_rest_failures() {
        let fault = |e: StoreError| match e {
            StoreError::CannotWrite { fault, .. } => Some(fault),
            _ => None,
        };
        use rusqlite::ffi;
        assert_eq!(fault(failure(ffi::SQLITE_FULL)), Some(WriteFault::DiskFull));
        assert_eq!(
            fault(failure(ffi::SQLITE_READONLY)),
            Some(WriteFault::ReadOnly)
        );
        assert_eq!(
            fault(failure(ffi::SQLITE_IOERR_FSYNC)),
            Some(WriteFault::Io)
        );
        assert!(matches!(
            failure(ffi::SQLITE_CORRUPT),
            StoreError::Failed(_)
        ));
    }
}
