//! Reads across every service's keys: the verify index's digests (loaded whole at start, or
//! the keys named by a change) and the metrics scrape's counts by state.

use sqlx::postgres::{PgPool, PgRow};
use sqlx::{AssertSqlSafe, Row};

use super::common::{digest_array, digest_of};
use crate::credential::Digest;
use crate::server::store::{KeyCounts, KeyDigest, StoreResult, UnixTime, valid_until};

const KEY_DIGEST_COLUMNS: &str = "digest, service_id, id, last_used_at, enabled, expires_at";

fn key_digest_row(r: &PgRow) -> Result<KeyDigest, sqlx::Error> {
    Ok(KeyDigest {
        digest: digest_of(r, 0)?,
        service_id: r.try_get(1)?,
        key_id: r.try_get(2)?,
        last_used_at: r.try_get(3)?,
        valid_until: valid_until(r.try_get(4)?, r.try_get(5)?),
    })
}

pub async fn all_key_digests(pool: &PgPool) -> StoreResult<Vec<KeyDigest>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {KEY_DIGEST_COLUMNS} FROM api_keys"
    )))
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(key_digest_row).collect::<Result<_, _>>()?)
}

/// The keys among `digests` that exist, as the verify index wants them.
pub async fn key_digests(pool: &PgPool, digests: &[Digest]) -> StoreResult<Vec<KeyDigest>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {KEY_DIGEST_COLUMNS} FROM api_keys WHERE digest = ANY($1)"
    )))
    .bind(digest_array(digests))
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(key_digest_row).collect::<Result<_, _>>()?)
}

/// Keys by state at `now` across all services, in one query with the rules of
/// [`KeyRecord::state`](crate::server::store::KeyRecord::state): rotated beats disabled beats
/// expired (the SQLite store's query, `store/sqlite/catalog.rs`).
pub async fn count_keys_by_state(pool: &PgPool, now: UnixTime) -> StoreResult<KeyCounts> {
    let rows = sqlx::query(
        "SELECT CASE WHEN replaced_by IS NOT NULL THEN 'rotating' \
                     WHEN NOT enabled THEN 'disabled' \
                     WHEN expires_at IS NOT NULL AND expires_at <= $1 THEN 'expired' \
                     ELSE 'active' END AS state, count(*) \
         FROM api_keys GROUP BY state",
    )
    .bind(now)
    .fetch_all(pool)
    .await?;
    let mut counts = KeyCounts::default();
    for row in &rows {
        let state: String = row.try_get(0)?;
        let n = u64::try_from(row.try_get::<i64, _>(1)?).unwrap_or(0);
        match state.as_str() {
            "rotating" => counts.rotating = n,
            "disabled" => counts.disabled = n,
            "expired" => counts.expired = n,
            _ => counts.active = n,
        }
    }
    Ok(counts)
}
