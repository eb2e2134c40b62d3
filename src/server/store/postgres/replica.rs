//! The replica protocol's SQL (its logic is `server/replicas/`): the lease row of this process,
//! the change feed read back, and the keys' current state for the verify index. Every statement
//! runs on a connection of its own (never the store's pool), so that a pool busy with admin
//! calls cannot delay a renewal past the lease (docs/api.md, Several replicas; docs/architecture.md, The replica protocol).

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};

use super::catalog::policy_at;
use super::common::{begin_on, digest_array, digest_from, digest_of, q, qs, read_tx_on};
use super::feed::CHANNEL;
use super::scan::RETIRED_DIGESTS;
use crate::credential::Digest;
use crate::server::store::{KeyDigest, StoreResult, valid_until};

/// A connection for the protocol's statements, with the store's own options (TLS included).
pub async fn connect(pool: &PgPool) -> StoreResult<PgConnection> {
    Ok(PgConnection::connect_with(&pool.connect_options()).await?)
}

/// A listener on the change feed's channel, on its own connection. It does not reconnect by
/// itself: a lost connection ends it, and the protocol resyncs with a new one, since
/// notifications sent meanwhile are lost (docs/architecture.md, Several replicas). Its connection
/// comes from a pool of its own, not the store's: a listener dropped on a silent network
/// sends UNLISTEN before giving its connection back, and that may hang until TCP gives up; it
/// must not hold one of the store's connections meanwhile.
pub async fn listen(options: &sqlx::postgres::PgConnectOptions) -> StoreResult<PgListener> {
    let own = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .connect_lazy_with(options.clone());
    let mut listener = PgListener::connect_with(&own).await?;
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Registers (or re-registers) this replica with a lease of `lease_ms` from the database's
/// clock, acknowledging every change there is now: the caller reloads its whole index after
/// this and does not trust it before. Returns the acknowledged `seq`.
/// `read_only_grace_ms` is how long past its lease this replica may answer verify while the
/// database is read-only (`serve --read-only-verify`): writers read it (feed.rs).
pub async fn register(
    conn: &mut PgConnection,
    id: &str,
    host: &str,
    lease_ms: i64,
    read_only_grace_ms: i64,
) -> StoreResult<i64> {
    let mut tx = begin_on(conn).await?;
    let acked: i64 = qs(
        "INSERT INTO replicas (id, host, lease_until, acked_seq, read_only_grace_ms) \
         SELECT $1, $2, now() + $3 * interval '1 millisecond', coalesce(max(seq), 0), $4 \
         FROM changes \
         ON CONFLICT (id) DO UPDATE SET lease_until = excluded.lease_until, \
             acked_seq = excluded.acked_seq, read_only_grace_ms = excluded.read_only_grace_ms \
         RETURNING acked_seq",
    )
    .bind(id)
    .bind(host)
    .bind(lease_ms)
    .bind(read_only_grace_ms)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(acked)
}

/// Renews the lease and acknowledges every change up to `acked`. `None` when this replica's
/// row is gone (pruned after a long absence, or deleted by hand): it must register again; else
/// how many replicas hold a live lease now, this one included (docs/api.md, Several replicas:
/// the failure limit's share).
pub async fn renew(
    conn: &mut PgConnection,
    id: &str,
    acked: i64,
    lease_ms: i64,
) -> StoreResult<Option<i64>> {
    let mut tx = begin_on(conn).await?;
    // One statement: the count reads the table as it was before this update, so this row
    // counts once whether its old lease had lapsed or not.
    let live: Option<i64> = qs("WITH renewed AS (UPDATE replicas \
             SET lease_until = now() + $3 * interval '1 millisecond', acked_seq = $2 \
             WHERE id = $1 RETURNING id) \
         SELECT 1 + (SELECT count(*) FROM replicas \
             WHERE lease_until > now() AND id <> $1) FROM renewed")
    .bind(id)
    .bind(acked)
    .bind(lease_ms)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(live)
}

/// What a replica reads of a database that does not take its renewal, to decide whether it may
/// go on answering verify from its index (docs/architecture.md, A read-only database). One
/// snapshot, so that every field describes the same moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadOnlyView {
    /// Neither in recovery nor `default_transaction_read_only`: a write would be taken.
    pub writable: bool,
    /// A hot standby (`pg_is_in_recovery()`).
    pub in_recovery: bool,
    /// On a standby, the last write-ahead log position received and replayed (as text: they
    /// are only compared); `None` on a primary or when nothing was received by streaming.
    pub received: Option<String>,
    pub replayed: Option<String>,
    /// The newest change (0 when there is none).
    pub newest_seq: i64,
    /// Milliseconds, on the database's clock, until this replica's row leaves its read-only
    /// grace (`lease_until + read_only_grace_ms - now()`); `None` when the row is gone.
    pub grace_left_ms: Option<i64>,
    /// Another replica holds a lease renewed after this one's lapsed (by more than 500 ms):
    /// the database takes writes, only not from this replica.
    pub others_renewing: bool,
}

/// Reads a [`ReadOnlyView`] for the replica `id`, in one read-only snapshot.
pub async fn read_only_view(conn: &mut PgConnection, id: &str) -> StoreResult<ReadOnlyView> {
    let mut tx = read_tx_on(conn).await?;
    let row = q("SELECT pg_is_in_recovery(), \
             current_setting('default_transaction_read_only') = 'on', \
             pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text, \
             (SELECT coalesce(max(seq), 0) FROM changes), \
             (SELECT (extract(epoch FROM lease_until - now()) * 1000)::bigint \
                  + read_only_grace_ms FROM replicas WHERE id = $1), \
             EXISTS (SELECT 1 FROM replicas o, replicas m WHERE m.id = $1 AND o.id <> $1 \
                  AND o.lease_until > m.lease_until + interval '500 milliseconds')")
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let in_recovery: bool = row.try_get(0)?;
    let default_read_only: bool = row.try_get(1)?;
    Ok(ReadOnlyView {
        writable: !in_recovery && !default_read_only,
        in_recovery,
        received: row.try_get(2)?,
        replayed: row.try_get(3)?,
        newest_seq: row.try_get(4)?,
        grace_left_ms: row.try_get(5)?,
        others_renewing: row.try_get(6)?,
    })
}

/// Removes this replica's row at a clean stop, so that writers stop waiting for it at once.
pub async fn deregister(conn: &mut PgConnection, id: &str) -> StoreResult<()> {
    let mut tx = begin_on(conn).await?;
    q("DELETE FROM replicas WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Every change after `after`, oldest first: (seq, the digests of the keys concerned).
/// Changes commit in `seq` order (feed.rs takes a lock for it), so none below the last one
/// read can appear later.
pub async fn changes_since(
    conn: &mut PgConnection,
    after: i64,
) -> StoreResult<Vec<(i64, Vec<Digest>)>> {
    let mut tx = begin_on(conn).await?;
    let rows = q("SELECT seq, digests FROM changes WHERE seq > $1 ORDER BY seq")
        .bind(after)
        .fetch_all(&mut *tx)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let seq: i64 = r.try_get(0)?;
        let digests: Vec<Vec<u8>> = r.try_get(1)?;
        let digests = digests
            .into_iter()
            .map(digest_from)
            .collect::<Result<Vec<_>, _>>()?;
        out.push((seq, digests));
    }
    tx.commit().await?;
    Ok(out)
}

const KEY_COLUMNS: &str = "digest, service_id, id, last_used_at, enabled, expires_at, \
     scopes, rate_requests, rate_per_seconds, allowed_cidrs";

fn key_digest(r: &PgRow) -> Result<KeyDigest, sqlx::Error> {
    let enabled: bool = r.try_get(4)?;
    let expires_at: Option<i64> = r.try_get(5)?;
    Ok(KeyDigest {
        policy: policy_at(r, 6)?,
        digest: digest_of(r, 0)?,
        service_id: r.try_get(1)?,
        key_id: r.try_get(2)?,
        last_used_at: r.try_get(3)?,
        valid_until: valid_until(enabled, expires_at),
    })
}

/// The current state of these keys (any state; a retired key as a stopped one); a digest
/// without a row is a deleted key.
pub async fn key_digests(
    conn: &mut PgConnection,
    digests: &[Digest],
) -> StoreResult<Vec<KeyDigest>> {
    let mut tx = begin_on(conn).await?;
    let rows = q(AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE digest = ANY($1) \
         UNION ALL {RETIRED_DIGESTS} AND digest = ANY($1)"
    )))
    .bind(digest_array(digests))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows.iter().map(key_digest).collect::<Result<_, _>>()?)
}

/// Every key (retired ones as stopped keys), for a full reload of the index.
pub async fn all_key_digests(conn: &mut PgConnection) -> StoreResult<Vec<KeyDigest>> {
    let mut tx = begin_on(conn).await?;
    let rows = q(AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys UNION ALL {RETIRED_DIGESTS}"
    )))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows.iter().map(key_digest).collect::<Result<_, _>>()?)
}
