//! Usage per key (docs/api.md, Usage): `last_used_at`/`last_used_from` and the hourly and daily
//! buckets. Rows hold the key id only; they go with their key (`ON DELETE CASCADE`).

use rusqlite::{Connection, OptionalExtension, params};

use super::catalog::get_service;
use super::common::{digest_of, write_tx};
use crate::server::store::{
    KeyUsage, KeyUse, StoreError, StoreResult, UnixTime, UsageBucket, UsageCount,
};

pub fn touch_keys(conn: &mut Connection, used: &[KeyUse]) -> StoreResult<()> {
    let tx = write_tx(conn)?;
    {
        // Never backwards: a late batch does not undo a newer use.
        let mut stmt = tx.prepare_cached(
            "UPDATE api_keys SET last_used_at = ?2, last_used_from = ?3 \
             WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at <= ?2)",
        )?;
        for u in used {
            stmt.execute(params![u.key_id, u.at, u.from.to_string()])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Counts are u64 in memory, INTEGER (i64) here; a key would need 9e18 calls to saturate.
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub fn record_usage(
    conn: &mut Connection,
    counts: &[UsageCount],
    keep_hours_from: UnixTime,
    keep_days_from: UnixTime,
) -> StoreResult<()> {
    let tx = write_tx(conn)?;
    for table in ["usage_hours", "usage_days"] {
        // `WHERE EXISTS`: a key deleted since it was counted takes its counts with it.
        let mut stmt = tx.prepare_cached(&format!(
            "INSERT INTO {table} (key_id, start, ok, refused) \
             SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM api_keys WHERE id = ?1) \
             ON CONFLICT (key_id, start) DO UPDATE SET \
                 ok = ok + excluded.ok, refused = refused + excluded.refused"
        ))?;
        for c in counts {
            let start = if table == "usage_hours" {
                c.hour
            } else {
                c.day
            };
            stmt.execute(params![c.key_id, start, count(c.ok), count(c.refused)])?;
        }
    }
    tx.execute(
        "DELETE FROM usage_hours WHERE start < ?1",
        [keep_hours_from],
    )?;
    tx.execute("DELETE FROM usage_days WHERE start < ?1", [keep_days_from])?;
    tx.commit()?;
    Ok(())
}

fn buckets(
    conn: &Connection,
    table: &str,
    key_id: &str,
    from: UnixTime,
) -> StoreResult<Vec<UsageBucket>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT start, ok, refused FROM {table} WHERE key_id = ?1 AND start >= ?2 ORDER BY start"
    ))?;
    let rows = stmt.query_map(params![key_id, from], |r| {
        let n = |i| r.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
        Ok(UsageBucket {
            start: r.get(0)?,
            ok: n(1)?,
            refused: n(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn key_usage(
    conn: &Connection,
    service_id: &str,
    key_id: &str,
    hours_from: UnixTime,
    days_from: UnixTime,
) -> StoreResult<Option<KeyUsage>> {
    // One read transaction: the key, its service and its buckets agree.
    let tx = conn.unchecked_transaction()?;
    if get_service(&tx, service_id)?.is_none() {
        return Err(StoreError::ServiceNotFound);
    }
    let key = tx
        .prepare_cached(
            "SELECT digest, last_used_at, last_used_from FROM api_keys \
             WHERE id = ?1 AND service_id = ?2",
        )?
        .query_row([key_id, service_id], |r| {
            Ok((digest_of(r, 0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let usage = match key {
        None => None,
        Some((digest, last_used_at, last_used_from)) => Some(KeyUsage {
            digest,
            last_used_at,
            last_used_from,
            hours: buckets(&tx, "usage_hours", key_id, hours_from)?,
            days: buckets(&tx, "usage_days", key_id, days_from)?,
        }),
    };
    tx.finish()?;
    Ok(usage)
}
