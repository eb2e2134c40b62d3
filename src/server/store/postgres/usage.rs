//! Usage per key (docs/api.md, Usage), merged across replicas: every replica adds its own counts
//! to the shared buckets, and `last_used_at` never moves backwards, whichever replica writes.

use std::collections::{BTreeMap, HashMap};

use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Row};

use super::catalog::get_service;
use super::common::{begin, digest_of, q, read_tx};
use crate::server::store::{
    KeyUsage, KeyUse, StoreError, StoreResult, UnixTime, UsageBucket, UsageCount,
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
        let mut sums: HashMap<(&str, UnixTime), (i64, i64)> = HashMap::new();
        for c in counts {
            let start = if table == "usage_hours" {
                c.hour
            } else {
                c.day
            };
            let e = sums.entry((&c.key_id, start)).or_default();
            e.0 = e.0.saturating_add(count(c.ok));
            e.1 = e.1.saturating_add(count(c.refused));
        }
        let mut sorted: Vec<_> = sums.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let ids: Vec<String> = sorted.iter().map(|((k, _), _)| k.to_string()).collect();
        let starts: Vec<i64> = sorted.iter().map(|((_, s), _)| *s).collect();
        let oks: Vec<i64> = sorted.iter().map(|(_, (o, _))| *o).collect();
        let refused: Vec<i64> = sorted.iter().map(|(_, (_, r))| *r).collect();
        // Adds to what other replicas wrote. `EXISTS`: a key deleted since it was counted takes
        // its counts with it.
        q(AssertSqlSafe(format!(
            "INSERT INTO {table} (key_id, start, ok, refused) \
             SELECT u.key_id, u.start, u.ok, u.refused \
             FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(key_id, start, ok, refused) \
             WHERE EXISTS (SELECT 1 FROM api_keys WHERE id = u.key_id) \
             ON CONFLICT (key_id, start) DO UPDATE SET \
                 ok = {table}.ok + excluded.ok, refused = {table}.refused + excluded.refused"
        )))
        .bind(ids)
        .bind(starts)
        .bind(oks)
        .bind(refused)
        .execute(&mut *tx)
        .await?;
    }
    q("DELETE FROM usage_hours WHERE start < $1")
        .bind(keep_hours_from)
        .execute(&mut *tx)
        .await?;
    q("DELETE FROM usage_days WHERE start < $1")
        .bind(keep_days_from)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn buckets(
    tx: &mut sqlx::PgConnection,
    table: &str,
    key_id: &str,
    from: UnixTime,
) -> StoreResult<Vec<UsageBucket>> {
    let rows = q(AssertSqlSafe(format!(
        "SELECT start, ok, refused FROM {table} WHERE key_id = $1 AND start >= $2 ORDER BY start"
    )))
    .bind(key_id)
    .bind(from)
    .fetch_all(tx)
    .await?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    rows.iter()
        .map(|r| {
            Ok(UsageBucket {
                start: r.try_get(0)?,
                ok: n(r.try_get(1)?),
                refused: n(r.try_get(2)?),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
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
    let row = q(
        "SELECT digest, last_used_at, last_used_from FROM api_keys WHERE id = $1 AND service_id = $2",
    )
    .bind(key_id)
    .bind(service_id)
    .fetch_optional(&mut *tx)
    .await?;
    let usage = match row {
        None => None,
        Some(r) => Some(KeyUsage {
            digest: digest_of(&r, 0)?,
            last_used_at: r.try_get(1)?,
            last_used_from: r.try_get(2)?,
            hours: buckets(&mut tx, "usage_hours", key_id, hours_from).await?,
            days: buckets(&mut tx, "usage_days", key_id, days_from).await?,
        }),
    };
    tx.commit().await?;
    Ok(usage)
}
