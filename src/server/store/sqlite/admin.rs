//! Admin tokens and the data dir's settings.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::common::{is_unique_violation, role_of, write_tx};
use crate::credential::Digest;
use crate::server::store::{NewToken, StoreError, StoreResult, TokenRecord};

// ---- admin tokens -------------------------------------------------------------------------

const TOKEN_COLUMNS: &str = "id, name, role, masked, created_at, console_pid";

fn token_row(row: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        role: role_of(row, 2)?,
        masked: row.get(3)?,
        created_at: row.get(4)?,
        console_pid: row.get(5)?,
    })
}

pub fn find_token(conn: &Connection, digest: &Digest) -> StoreResult<Option<TokenRecord>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM admin_tokens WHERE digest = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([&digest[..]], token_row)
        .optional()?)
}

pub fn create_token(conn: &mut Connection, token: &NewToken) -> StoreResult<TokenRecord> {
    let tx = write_tx(conn)?;
    let record = insert_token(&tx, token)?;
    tx.commit()?;
    Ok(record)
}

pub fn bootstrap_token(
    conn: &mut Connection,
    token: &NewToken,
) -> StoreResult<Option<TokenRecord>> {
    // Check and insert under one write lock: never two first tokens, never one beside another.
    let tx = write_tx(conn)?;
    let any: bool = tx.query_row("SELECT EXISTS (SELECT 1 FROM admin_tokens)", [], |r| {
        r.get(0)
    })?;
    if any {
        return Ok(None);
    }
    let record = insert_token(&tx, token)?;
    tx.commit()?;
    Ok(Some(record))
}

fn insert_token(tx: &rusqlite::Transaction<'_>, token: &NewToken) -> StoreResult<TokenRecord> {
    // A person's token never takes the name a console's own token has (docs/console.md, Who
    // did it); the unique index covers only the names people gave.
    if token.console_pid.is_none() {
        let held: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM admin_tokens WHERE name = ?1 AND console_pid IS NOT NULL)",
            [&token.name],
            |r| r.get(0),
        )?;
        if held {
            return Err(StoreError::NameTaken);
        }
    }
    let inserted = tx.execute(
        "INSERT INTO admin_tokens (name, role, digest, masked, created_at, console_pid) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            token.name,
            token.role.as_str(),
            &token.digest[..],
            token.masked,
            token.created_at,
            token.console_pid
        ],
    );
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e, "admin_tokens.name") => {
            return Err(StoreError::NameTaken);
        }
        Err(e) => return Err(e.into()),
    }
    // AUTOINCREMENT (schema 2): an id is never given to a second token.
    let id = tx.last_insert_rowid();
    Ok(TokenRecord {
        id,
        name: token.name.clone(),
        role: token.role,
        masked: token.masked.clone(),
        created_at: token.created_at,
        console_pid: token.console_pid,
    })
}

pub fn list_tokens(conn: &Connection) -> StoreResult<Vec<TokenRecord>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM admin_tokens ORDER BY created_at, id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], token_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn revoke_token(conn: &mut Connection, name: &str) -> StoreResult<()> {
    let n = conn.execute(
        "DELETE FROM admin_tokens WHERE name = ?1 AND console_pid IS NULL",
        [name],
    )?;
    if n == 0 {
        return Err(StoreError::TokenNotFound);
    }
    Ok(())
}

pub fn revoke_listed_token(conn: &mut Connection, t: &TokenRecord) -> StoreResult<()> {
    let n = conn.execute(
        "DELETE FROM admin_tokens WHERE id = ?1 AND name = ?2 AND masked = ?3 AND created_at = ?4",
        params![t.id, t.name, t.masked, t.created_at],
    )?;
    if n == 0 {
        return Err(StoreError::TokenNotFound);
    }
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

pub fn init_meta(conn: &mut Connection, key: &str, value: &str) -> StoreResult<String> {
    let tx = write_tx(conn)?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
        [key, value],
    )?;
    let stored: String =
        tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))?;
    tx.commit()?;
    Ok(stored)
}

/// A write larger than a key's issue (64 KiB, sixteen pages or more of the write-ahead log),
/// committed and synced: what clears a fault ([`crate::server::store::WriteHealth`]), so that
/// room for one small write on a full disk does not count as recovered.
pub fn probe_write(conn: &mut Connection) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('write_probe', hex(zeroblob(32768))) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [],
    )?;
    Ok(())
}
