//! Reads across every service's keys: the verify index's digests (loaded whole at start, or
//! the keys named by a change) and the metrics scrape's counts by state.

use sqlx::postgres::{PgPool, PgRow};
use sqlx::{AssertSqlSafe, Row};

use super::catalog::policy_at;
use super::common::{begin, digest_array, digest_of, q};
use crate::credential::Digest;
use crate::server::store::{KeyCounts, KeyDigest, StoreResult, UnixTime, valid_until};

const KEY_DIGEST_COLUMNS: &str = "digest, service_id, id, last_used_at, enabled, expires_at, \
     scopes, rate_requests, rate_per_seconds, allowed_cidrs";

fn key_digest_row(r: &PgRow) -> Result<KeyDigest, sqlx::Error> {
    Ok(KeyDigest {
        policy: policy_at(r, 6)?,
        digest: digest_of(r, 0)?,
        service_id: r.try_get(1)?,
        key_id: r.try_get(2)?,
        last_used_at: r.try_get(3)?,
        valid_until: valid_until(r.try_get(4)?, r.try_get(5)?),
    })
}

/// A retired key's tombstone as [`KEY_DIGEST_COLUMNS`]: a key disabled for good, so that verify
/// refuses it as stopped, not as unknown, on every replica (docs/api.md, Verify: a client still
/// sending a key that was stopped never locks out its own address). Its policy is never checked.
pub const RETIRED_DIGESTS: &str = "SELECT digest, service_id, key_id, NULL, false, NULL, \
     'query', NULL, NULL, NULL FROM tombstones WHERE retired IS NOT NULL";

/// Every key the verify index holds: the keys, and the retired keys as stopped ones.
pub async fn all_key_digests(pool: &PgPool) -> StoreResult<Vec<KeyDigest>> {
    let mut tx = begin(pool).await?;
    let rows = q(AssertSqlSafe(format!(
        "SELECT {KEY_DIGEST_COLUMNS} FROM api_keys UNION ALL {RETIRED_DIGESTS}"
    )))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows.iter().map(key_digest_row).collect::<Result<_, _>>()?)
}

/// The keys among `digests` that exist (retired ones as stopped keys), as the verify index
/// wants them.
pub async fn key_digests(pool: &PgPool, digests: &[Digest]) -> StoreResult<Vec<KeyDigest>> {
    let mut tx = begin(pool).await?;
    let rows = q(AssertSqlSafe(format!(
        "SELECT {KEY_DIGEST_COLUMNS} FROM api_keys WHERE digest = ANY($1) \
         UNION ALL {RETIRED_DIGESTS} AND digest = ANY($1)"
    )))
    .bind(digest_array(digests))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows.iter().map(key_digest_row).collect::<Result<_, _>>()?)
}

/// Keys by state at `now` across all services, in one aggregate query (one scan, a column per
/// state) with the rules of [`KeyRecord::state`](crate::server::store::KeyRecord::state):
/// rotated beats disabled beats expired.
pub async fn count_keys_by_state(pool: &PgPool, now: UnixTime) -> StoreResult<KeyCounts> {
    let mut tx = begin(pool).await?;
    let row = q("SELECT count(*) FILTER (WHERE replaced_by IS NOT NULL), \
                count(*) FILTER (WHERE replaced_by IS NULL AND NOT enabled), \
                count(*) FILTER (WHERE replaced_by IS NULL AND enabled AND expires_at <= $1), \
                count(*) FILTER (WHERE replaced_by IS NULL AND enabled \
                                 AND (expires_at IS NULL OR expires_at > $1)) \
         FROM api_keys")
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let n = |i: usize| -> Result<u64, sqlx::Error> {
        Ok(u64::try_from(row.try_get::<i64, _>(i)?).unwrap_or(0))
    };
    tx.commit().await?;
    Ok(KeyCounts {
        rotating: n(0)?,
        disabled: n(1)?,
        expired: n(2)?,
        active: n(3)?,
    })
}
