//! The change feed's writing half (docs/architecture.md, The replica protocol): every write that changes which keys verify
//! announces ONE `changes` row inside its own transaction, with a NOTIFY delivered at commit;
//! after the commit of an awaited change (one that stops a key), the writer waits until every
//! other replica holding a live lease has acknowledged it, or its lease has run out (docs/api.md,
//! Several replicas). The replicas' side (LISTEN, apply, ack, lease) is `replicas/`.

use std::time::{Duration, Instant};

use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row};

use super::common::{begin, digest_array, digest_from, q, qs};
use crate::credential::Digest;
use crate::server::store::{StoreError, StoreResult, UnixTime};

/// The channel replicas LISTEN on; the payload is the change's `seq`.
pub const CHANNEL: &str = "ragkeys_changes";

/// Taken (transaction-level) right before a change is inserted, so that changes commit in the
/// order of their `seq`: a replica that has applied seq N never misses a smaller one that
/// commits later. Held only from the insert to the commit.
const CHANGES_LOCK: i64 = 0x7261_676b_6579_7302;

/// The longest a replica's lease lasts (replicas renew it for 1 s): once this long has passed
/// since a change committed, a replica that has not acknowledged it no longer answers from
/// memory, whatever happened to the database meanwhile.
pub const LEASE_BOUND: Duration = Duration::from_secs(1);

/// The longest a writer waits for acknowledgements before answering 503: a live replica
/// acknowledges within milliseconds and a cut-off one loses its lease within [`LEASE_BOUND`],
/// so only a database that stops answering makes a wait this long.
const WAIT_BOUND: Duration = Duration::from_secs(4);

/// The phases of a write that announces a change, in order: a pooled connection and `BEGIN`;
/// the write's own statements; [`CHANGES_LOCK`]; the change row, NOTIFY and `COMMIT`; the wait
/// for the replicas' acknowledgements (awaited changes only).
const PHASES: [&str; 5] = ["acquire", "write", "lock", "commit", "acks"];

/// How long each phase of one write took, logged at debug level (`RAGKEYS_LOG`, target
/// `ragkeys::server::store::postgres::feed`) when it is dropped: finished, failed, or abandoned
/// by the call's bound. So that a slow revocation (docs/operating.md, Running several replicas) says which
/// phase took the time. Costs one clock read per phase; the protocol is unchanged.
pub struct Phases {
    /// The store call, e.g. `delete_key`.
    what: &'static str,
    started: Instant,
    last: Instant,
    /// Per [`PHASES`]: how long it took, `None` while not reached.
    took: [Option<Duration>; 5],
    seq: Option<i64>,
    /// Whether the change announced is one its writer waits for.
    awaited: bool,
}

impl Phases {
    /// Starts timing `what`, right before it asks the pool for a connection.
    pub fn start(what: &'static str) -> Phases {
        let now = Instant::now();
        Phases {
            what,
            started: now,
            last: now,
            took: [None; 5],
            seq: None,
            awaited: false,
        }
    }

    /// Ends phase `i` of [`PHASES`] now.
    fn end(&mut self, i: usize) {
        let now = Instant::now();
        self.took[i] = Some(now - self.last);
        self.last = now;
    }

    /// The transaction has begun: the pool gave a connection.
    pub fn acquired(&mut self) {
        self.end(0);
    }

    /// The transaction has committed.
    pub fn committed(&mut self) {
        self.end(3);
    }

    /// Every live replica has acknowledged (or the wait ended).
    pub fn acknowledged(&mut self) {
        self.end(4);
    }
}

impl Drop for Phases {
    fn drop(&mut self) {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let mut phases = String::new();
        for (name, took) in PHASES.iter().zip(self.took) {
            if let Some(t) = took {
                phases.push_str(&format!(" {name}={:.1}ms", t.as_secs_f64() * 1e3));
            }
        }
        let finished = self.took[3].is_some() && (!self.awaited || self.took[4].is_some());
        // Else the phase it was in when it failed or was abandoned: the first after the last
        // one reached.
        let reached = self.took.iter().rposition(Option::is_some);
        let ended_in = match finished {
            true => "-",
            false => PHASES[reached.map_or(0, |i| i + 1).min(PHASES.len() - 1)],
        };
        tracing::debug!(
            call = self.what,
            seq = self.seq,
            total_ms = self.started.elapsed().as_secs_f64() * 1e3,
            finished,
            ended_in,
            "phases:{phases}"
        );
    }
}

/// Records a change of `digests` in the transaction `tx` (call it last, right before the
/// commit) and returns its `seq`; the NOTIFY goes out when the transaction commits.
/// `awaited`: its writer will wait for the replicas' acknowledgements ([`await_acks`]).
/// Ends the `write` and `lock` phases of `phases`.
pub async fn announce(
    tx: &mut PgConnection,
    at: UnixTime,
    awaited: bool,
    digests: &[Digest],
    phases: &mut Phases,
) -> StoreResult<i64> {
    phases.end(1);
    q("SELECT pg_advisory_xact_lock($1)")
        .bind(CHANGES_LOCK)
        .execute(&mut *tx)
        .await?;
    phases.end(2);
    let seq: i64 =
        qs("INSERT INTO changes (at, awaited, digests) VALUES ($1, $2, $3) RETURNING seq")
            .bind(at)
            .bind(awaited)
            .bind(digest_array(digests))
            .fetch_one(&mut *tx)
            .await?;
    q("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(seq.to_string())
        .execute(&mut *tx)
        .await?;
    phases.seq = Some(seq);
    phases.awaited = awaited;
    Ok(seq)
}

/// After the commit of the awaited change `seq`: returns once no other replica (`me` is this
/// process's id) both holds a live lease and has acknowledged less than `seq`. Polls every
/// 1 ms, doubling to 8 ms. When the database stops answering meanwhile, the lease bound still
/// holds: it waits until [`LEASE_BOUND`] (plus a margin) has passed since `committed`, then
/// returns, since no replica can still be answering from an index that misses the change.
///
/// A replica whose lease has lapsed but is still within its read-only grace
/// (`read_only_grace_ms`, `serve --read-only-verify`) may be answering verify from a database it
/// could read but not write: it re-reads the changes at least once a lease and stops at the
/// first one it has not applied, so for such a row the writer waits out the same bound
/// (docs/architecture.md, A read-only database).
pub async fn await_acks(pool: &PgPool, me: &str, seq: i64, committed: Instant) -> StoreResult<()> {
    let bound = committed + LEASE_BOUND + Duration::from_millis(100);
    let mut pause = Duration::from_millis(1);
    loop {
        let waiting: StoreResult<(i64, i64)> = async {
            let mut tx = begin(pool).await?;
            let n = sqlx::query_as(
                "SELECT count(*) FILTER (WHERE lease_until > now()), \
                     count(*) FILTER (WHERE lease_until <= now() \
                         AND lease_until + read_only_grace_ms * interval '1 millisecond' > now()) \
                 FROM replicas WHERE id <> $1 AND acked_seq < $2",
            )
            .persistent(false)
            .bind(me)
            .bind(seq)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(n)
        }
        .await;
        match waiting {
            Ok((0, 0)) => {
                crate::server::metrics::revocation_acked(committed.elapsed());
                return Ok(());
            }
            Ok((0, _)) if Instant::now() >= bound => {
                crate::server::metrics::revocation_acked(committed.elapsed());
                return Ok(());
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, seq, "cannot read the replicas' acknowledgements; waiting out their leases");
                tokio::time::sleep_until(bound.into()).await;
                crate::server::metrics::revocation_acked(committed.elapsed());
                return Ok(());
            }
        }
        if committed.elapsed() > WAIT_BOUND {
            return Err(StoreError::Unavailable(format!(
                "change {seq} is committed but not acknowledged by every live replica after {} s",
                WAIT_BOUND.as_secs()
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(8));
    }
}

/// Every change after `after`, oldest first.
pub async fn changes_since(pool: &PgPool, after: i64) -> StoreResult<Vec<(i64, Vec<Digest>)>> {
    let mut tx = begin(pool).await?;
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

/// Forgets changes older than `before` (unix seconds) and replicas whose lease ended long ago:
/// a replica that was away that long reloads its whole index anyway.
pub async fn prune(pool: &PgPool, before: UnixTime) -> StoreResult<()> {
    let mut tx = begin(pool).await?;
    q("DELETE FROM changes WHERE at < $1 AND seq < (SELECT max(seq) FROM changes)")
        .bind(before)
        .execute(&mut *tx)
        .await?;
    q("DELETE FROM replicas WHERE lease_until < now() - interval '1 hour'")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// How long the start-up check waits for its own notification.
pub const PROBE_WAIT: Duration = Duration::from_secs(2);

/// LISTENs on `channel` over `listen` (a connection of its own), sends a NOTIFY with a random
/// payload through `pool`, and says whether it arrived within [`PROBE_WAIT`]. Not heard means
/// the listener sits behind a transaction pool: its LISTEN stayed on a server connection that
/// PgBouncer gave back, not the one the notification goes to.
pub async fn probe(
    pool: &PgPool,
    listen: &sqlx::postgres::PgConnectOptions,
    channel: &str,
) -> Result<bool, String> {
    let own = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .connect_lazy_with(listen.clone());
    let mut listener = sqlx::postgres::PgListener::connect_with(&own)
        .await
        .map_err(|e| format!("cannot connect the change feed's listener: {e}"))?;
    listener.eager_reconnect(false);
    listener
        .listen(channel)
        .await
        .map_err(|e| format!("the change feed's LISTEN failed: {e}"))?;
    let payload = format!("{:016x}", rand::random::<u64>());
    let send = async {
        let mut tx = begin(pool).await?;
        q("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(&payload)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        StoreResult::Ok(())
    };
    match send.await {
        Ok(()) => {}
        // The pooler gave the NOTIFY's transaction the server connection the LISTEN went to,
        // which delivered the notification to this client (sqlx refuses it): a transaction pool.
        Err(e) if e.to_string().contains("NotificationResponse") => return Ok(false),
        Err(e) => return Err(format!("the start-up NOTIFY failed: {e}")),
    }
    let heard = tokio::time::timeout(PROBE_WAIT, async {
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) if n.payload() == payload => return true,
                Ok(Some(_)) => {}
                _ => return false,
            }
        }
    })
    .await;
    Ok(heard == Ok(true))
}
