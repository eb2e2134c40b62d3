//! Usage per key (docs/api.md, Usage), merged across replicas: every replica adds its own counts
//! to the shared buckets, and `last_used_at` never moves backwards, whichever replica writes.

use std::collections::{BTreeMap, HashMap};

use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Row};

use super::catalog::get_service;
use super::common::{begin, digest_of, q, read_tx};
use crate::server::store::{
    KeyUsage, KeyUse, NetworkCount, StoreError, StoreResult, UnixTime, UsageBucket, UsageCount,
    recorded_since,
};

pub async fn touch_keys(pool: &PgPool, used: &[KeyUse]) -> StoreResult<()> {
    let mut tx = begin(pool).await?;
    // The newest use per key (one UPDATE may not touch a row twice), in key order so that
    // two replicas' batches lock rows in the same order. Of two in the same second the later
    // in the batch wins, as it would over two batches (and on SQLite).
    let mut newest: BTreeMap<&str, &KeyUse> = BTreeMap::new();
    for u in used {
        let e = newest.entry(&u.key_id).or_insert(u);
        if u.at >= e.at {
            *e = u;
        }
    }
    let ids: Vec<String> = newest.keys().map(|k| k.to_string()).collect();
    let ats: Vec<i64> = newest.values().map(|u| u.at).collect();
    let froms: Vec<String> = newest.values().map(|u| u.from.to_string()).collect();
    // GREATEST in effect: a late batch (from any replica) never undoes a newer use.
    q(
        "UPDATE api_keys k SET last_used_at = u.at, last_used_from = u.src \
         FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(id, at, src) \
         WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at <= u.at)",
    )
    .bind(ids)
    .bind(ats)
    .bind(froms)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Counts are u64 in memory, BIGINT here; a key would need 9e18 calls to saturate.
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub async fn record_usage(
    pool: &PgPool,
    counts: &[UsageCount],
    keep_hours_from: UnixTime,
    keep_days_from: UnixTime,
) -> StoreResult<()> {
    let mut tx = begin(pool).await?;
    for table in ["usage_hours", "usage_days"] {
        // One row per bucket: an INSERT … ON CONFLICT may not touch a row twice.
        let mut sums: HashMap<(&str, UnixTime), [i64; 4]> = HashMap::new();
        for c in counts {
            let start = if table == "usage_hours" {
                c.hour
            } else {
                c.day
            };
            let e = sums.entry((&c.key_id, start)).or_default();
            for (sum, n) in e.iter_mut().zip([c.ok, c.refused, c.denied, c.limited]) {
                *sum = sum.saturating_add(count(n));
            }
        }
        let mut sorted: Vec<_> = sums.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let ids: Vec<String> = sorted.iter().map(|((k, _), _)| k.to_string()).collect();
        let starts: Vec<i64> = sorted.iter().map(|((_, s), _)| *s).collect();
        let column = |i: usize| -> Vec<i64> { sorted.iter().map(|(_, n)| n[i]).collect() };
        // Adds to what other replicas wrote. `EXISTS`: a key deleted since it was counted takes
        // its counts with it.
        q(AssertSqlSafe(format!(
            "INSERT INTO {table} (key_id, start, ok, refused, denied, limited) \
             SELECT u.key_id, u.start, u.ok, u.refused, u.denied, u.limited \
             FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[]) \
                 AS u(key_id, start, ok, refused, denied, limited) \
             WHERE EXISTS (SELECT 1 FROM api_keys WHERE id = u.key_id) \
             ON CONFLICT (key_id, start) DO UPDATE SET \
                 ok = {table}.ok + excluded.ok, refused = {table}.refused + excluded.refused, \
                 denied = {table}.denied + excluded.denied, \
                 limited = {table}.limited + excluded.limited"
        )))
        .bind(ids)
        .bind(starts)
        .bind(column(0))
        .bind(column(1))
        .bind(column(2))
        .bind(column(3))
        .execute(&mut *tx)
        .await?;
    }
    // Scopes and networks per key per day, summed first for the same reason, in key order.
    let mut scopes: BTreeMap<(&str, UnixTime, &str), i64> = BTreeMap::new();
    let mut networks: BTreeMap<(&str, UnixTime, &str), (i64, UnixTime)> = BTreeMap::new();
    for c in counts {
        for (scope, n) in &c.scopes {
            let e = scopes.entry((&c.key_id, c.day, scope)).or_default();
            *e = e.saturating_add(count(*n));
        }
        for n in &c.networks {
            let e = networks
                .entry((&c.key_id, c.day, &n.network))
                .or_insert((0, UnixTime::MIN));
            e.0 = e.0.saturating_add(count(n.calls));
            e.1 = e.1.max(n.last_seen);
        }
    }
    if !scopes.is_empty() {
        q("INSERT INTO usage_scopes (key_id, start, scope, calls) \
           SELECT u.key_id, u.start, u.scope, u.calls \
           FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[]) AS u(key_id, start, scope, calls) \
           WHERE EXISTS (SELECT 1 FROM api_keys WHERE id = u.key_id) \
           ON CONFLICT (key_id, start, scope) DO UPDATE SET calls = usage_scopes.calls + excluded.calls")
        .bind(scopes.keys().map(|k| k.0.to_string()).collect::<Vec<_>>())
        .bind(scopes.keys().map(|k| k.1).collect::<Vec<_>>())
        .bind(scopes.keys().map(|k| k.2.to_string()).collect::<Vec<_>>())
        .bind(scopes.values().copied().collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    if !networks.is_empty() {
        q(
            "INSERT INTO usage_networks (key_id, start, network, calls, last_seen) \
           SELECT u.key_id, u.start, u.network, u.calls, u.last_seen \
           FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[]) \
               AS u(key_id, start, network, calls, last_seen) \
           WHERE EXISTS (SELECT 1 FROM api_keys WHERE id = u.key_id) \
           ON CONFLICT (key_id, start, network) DO UPDATE SET \
               calls = usage_networks.calls + excluded.calls, \
               last_seen = GREATEST(usage_networks.last_seen, excluded.last_seen)",
        )
        .bind(networks.keys().map(|k| k.0.to_string()).collect::<Vec<_>>())
        .bind(networks.keys().map(|k| k.1).collect::<Vec<_>>())
        .bind(networks.keys().map(|k| k.2.to_string()).collect::<Vec<_>>())
        .bind(networks.values().map(|v| v.0).collect::<Vec<_>>())
        .bind(networks.values().map(|v| v.1).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    q("DELETE FROM usage_hours WHERE start < $1")
        .bind(keep_hours_from)
        .execute(&mut *tx)
        .await?;
    for table in ["usage_days", "usage_scopes", "usage_networks"] {
        q(AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE start < $1"
        )))
        .bind(keep_days_from)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A stored count as u64 (never negative: the schema checks it).
fn n(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

async fn buckets(
    tx: &mut sqlx::PgConnection,
    table: &str,
    key_id: &str,
    from: UnixTime,
) -> StoreResult<Vec<UsageBucket>> {
    let rows = q(AssertSqlSafe(format!(
        "SELECT start, ok, refused, denied, limited FROM {table} \
         WHERE key_id = $1 AND start >= $2 ORDER BY start"
    )))
    .bind(key_id)
    .bind(from)
    .fetch_all(tx)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(UsageBucket {
                start: r.try_get(0)?,
                ok: n(r.try_get(1)?),
                refused: n(r.try_get(2)?),
                denied: n(r.try_get(3)?),
                limited: n(r.try_get(4)?),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Successful calls by scope and by network in the days from `from`, summed.
async fn scopes_and_networks(
    tx: &mut sqlx::PgConnection,
    key_id: &str,
    from: UnixTime,
) -> StoreResult<(Vec<(String, u64)>, Vec<NetworkCount>)> {
    let rows = q("SELECT scope, sum(calls)::bigint FROM usage_scopes \
                  WHERE key_id = $1 AND start >= $2 \
                  GROUP BY scope HAVING sum(calls) > 0 ORDER BY scope")
    .bind(key_id)
    .bind(from)
    .fetch_all(&mut *tx)
    .await?;
    let scopes = rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, n(r.try_get(1)?))))
        .collect::<Result<_, sqlx::Error>>()?;
    let rows = q(
        "SELECT network, sum(calls)::bigint, max(last_seen) FROM usage_networks \
         WHERE key_id = $1 AND start >= $2 GROUP BY network HAVING sum(calls) > 0",
    )
    .bind(key_id)
    .bind(from)
    .fetch_all(&mut *tx)
    .await?;
    let networks = rows
        .iter()
        .map(|r| {
            Ok(NetworkCount {
                network: r.try_get(0)?,
                calls: n(r.try_get(1)?),
                last_seen: r.try_get(2)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok((scopes, networks))
}

pub async fn key_usage(
    pool: &PgPool,
    service_id: &str,
    key_id: &str,
    hours_from: UnixTime,
    days_from: UnixTime,
) -> StoreResult<Option<KeyUsage>> {
    let mut tx = read_tx(pool).await?;
    if get_service(&mut tx, service_id).await?.is_none() {
        return Err(StoreError::ServiceNotFound);
    }
    let row = q("SELECT digest, last_used_at, last_used_from, created_at, \
             (SELECT value FROM meta WHERE key = 'usage_recorded_since') \
         FROM api_keys WHERE id = $1 AND service_id = $2")
    .bind(key_id)
    .bind(service_id)
    .fetch_optional(&mut *tx)
    .await?;
    let usage = match row {
        None => None,
        Some(r) => {
            let (scopes, networks) = scopes_and_networks(&mut tx, key_id, days_from).await?;
            let since: Option<String> = r.try_get(4)?;
            Some(KeyUsage {
                digest: digest_of(&r, 0)?,
                last_used_at: r.try_get(1)?,
                last_used_from: r.try_get(2)?,
                hours: buckets(&mut tx, "usage_hours", key_id, hours_from).await?,
                days: buckets(&mut tx, "usage_days", key_id, days_from).await?,
                scopes,
                networks,
                recorded_since: recorded_since(r.try_get(3)?, since.as_deref()),
            })
        }
    };
    tx.commit().await?;
    Ok(usage)
}
