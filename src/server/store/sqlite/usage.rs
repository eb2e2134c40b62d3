//! Usage per key (docs/api.md, Usage): `last_used_at`/`last_used_from`, the hourly and daily
//! buckets, and successful calls by scope and by network per day. Rows hold the key id only; they go with their key (`ON DELETE CASCADE`).

use rusqlite::{Connection, OptionalExtension, params};

use super::admin::get_meta;
use super::catalog::get_service;
use super::common::{digest_of, write_tx};
use crate::server::store::{
    KeyUsage, KeyUse, NetworkCount, StoreError, StoreResult, UnixTime, UsageBucket, UsageCount,
    recorded_since,
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
            "INSERT INTO {table} (key_id, start, ok, refused, denied, limited) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM api_keys WHERE id = ?1) \
             ON CONFLICT (key_id, start) DO UPDATE SET \
                 ok = ok + excluded.ok, refused = refused + excluded.refused, \
                 denied = denied + excluded.denied, limited = limited + excluded.limited"
        ))?;
        for c in counts {
            let start = if table == "usage_hours" {
                c.hour
            } else {
                c.day
            };
            stmt.execute(params![
                c.key_id,
                start,
                count(c.ok),
                count(c.refused),
                count(c.denied),
                count(c.limited)
            ])?;
        }
    }
    {
        let mut scopes = tx.prepare_cached(
            "INSERT INTO usage_scopes (key_id, start, scope, calls) \
             SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM api_keys WHERE id = ?1) \
             ON CONFLICT (key_id, start, scope) DO UPDATE SET calls = calls + excluded.calls",
        )?;
        let mut networks = tx.prepare_cached(
            "INSERT INTO usage_networks (key_id, start, network, calls, last_seen) \
             SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM api_keys WHERE id = ?1) \
             ON CONFLICT (key_id, start, network) DO UPDATE SET \
                 calls = calls + excluded.calls, last_seen = max(last_seen, excluded.last_seen)",
        )?;
        for c in counts {
            for (scope, n) in &c.scopes {
                scopes.execute(params![c.key_id, c.day, scope, count(*n)])?;
            }
            for n in &c.networks {
                networks.execute(params![
                    c.key_id,
                    c.day,
                    n.network,
                    count(n.calls),
                    n.last_seen
                ])?;
            }
        }
    }
    tx.execute(
        "DELETE FROM usage_hours WHERE start < ?1",
        [keep_hours_from],
    )?;
    for table in ["usage_days", "usage_scopes", "usage_networks"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE start < ?1"),
            [keep_days_from],
        )?;
    }
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
        "SELECT start, ok, refused, denied, limited FROM {table} \
         WHERE key_id = ?1 AND start >= ?2 ORDER BY start"
    ))?;
    let rows = stmt.query_map(params![key_id, from], |r| {
        Ok(UsageBucket {
            start: r.get(0)?,
            ok: n(r, 1)?,
            refused: n(r, 2)?,
            denied: n(r, 3)?,
            limited: n(r, 4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A stored count as u64 (never negative: the schema checks it).
fn n(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    r.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0))
}

/// Successful calls by scope and by network in the days from `from`, summed.
fn scopes_and_networks(
    conn: &Connection,
    key_id: &str,
    from: UnixTime,
) -> StoreResult<(Vec<(String, u64)>, Vec<NetworkCount>)> {
    let scopes = conn
        .prepare_cached(
            "SELECT scope, sum(calls) FROM usage_scopes WHERE key_id = ?1 AND start >= ?2 \
             GROUP BY scope HAVING sum(calls) > 0 ORDER BY scope",
        )?
        .query_map(params![key_id, from], |r| Ok((r.get(0)?, n(r, 1)?)))?
        .collect::<Result<_, _>>()?;
    let networks = conn
        .prepare_cached(
            "SELECT network, sum(calls), max(last_seen) FROM usage_networks \
             WHERE key_id = ?1 AND start >= ?2 GROUP BY network HAVING sum(calls) > 0",
        )?
        .query_map(params![key_id, from], |r| {
            Ok(NetworkCount {
                network: r.get(0)?,
                calls: n(r, 1)?,
                last_seen: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok((scopes, networks))
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
            "SELECT digest, last_used_at, last_used_from, created_at FROM api_keys \
             WHERE id = ?1 AND service_id = ?2",
        )?
        .query_row([key_id, service_id], |r| {
            Ok((digest_of(r, 0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)?))
        })
        .optional()?;
    let usage = match key {
        None => None,
        Some((digest, last_used_at, last_used_from, created_at)) => {
            let (scopes, networks) = scopes_and_networks(&tx, key_id, days_from)?;
            let since: Option<String> = get_meta(&tx, "usage_recorded_since")?;
            Some(KeyUsage {
                digest,
                last_used_at,
                last_used_from,
                hours: buckets(&tx, "usage_hours", key_id, hours_from)?,
                days: buckets(&tx, "usage_days", key_id, days_from)?,
                scopes,
                networks,
                recorded_since: recorded_since(created_at, since.as_deref()),
            })
        }
    };
    tx.finish()?;
    Ok(usage)
}
