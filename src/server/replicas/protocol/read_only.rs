//! Answering verify while the database can be read but takes no writes: a failover window, a
//! standby not yet promoted, `default_transaction_read_only` (docs/architecture.md, A read-only
//! database). No revocation can commit there, so the index stays right as long as nothing
//! commits; the replica checks that at least once a lease and stops at the first sign of a
//! write, and for no longer than its row's read-only grace, which writers honour.
//!
//! While it serves this way, every [`RENEW_EVERY`] it reads one snapshot ([`sql::ReadOnlyView`])
//! and goes on only if all of these hold:
//!
//! - the database still takes no writes (else a new session registers again);
//! - its row is still within `lease_until + read_only_grace_ms` on the database's clock;
//! - no change committed since it started (the newest `seq` is the one its index holds);
//! - no other replica renewed its lease after this one's lapsed (then the database takes
//!   writes, only not from this replica, and writers would be waiting for it);
//! - on a standby, everything received is replayed and nothing more arrives (an upstream that
//!   still streams is a primary that takes writes).
//!
//! It then trusts the index until that read's send + LEASE − MARGIN, never past the grace: a
//! writer that commits meanwhile waits one lease and a margin for rows in their grace
//! (store/postgres/feed.rs), by which time this replica has read the change and stopped.

use std::time::{Duration, Instant};

use sqlx::PgConnection;
use sqlx::postgres::PgPool;
use tokio::sync::watch;

use super::{End, LEASE, MARGIN, RENEW_EVERY, Replica, sql, step, stopped};

/// How serving from a read-only database ended.
pub enum Outcome {
    /// It never began: the database takes writes, cannot be read, or the grace is over.
    NotServed,
    /// It began and ended (why, for the log).
    Ended(String),
    /// The service is stopping.
    Stopped,
}

/// What the replica saw when it began: what must not move while it serves.
struct Start {
    newest_seq: i64,
    received: Option<String>,
}

impl Start {
    /// Why serving must stop given `view`, or how long the grace still lasts.
    fn check(&self, view: &sql::ReadOnlyView) -> Result<Duration, String> {
        if view.writable {
            return Err("the database takes writes again".into());
        }
        let Some(left) = view.grace_left_ms.filter(|ms| *ms > 0) else {
            return Err("its read-only grace is over".into());
        };
        if view.newest_seq != self.newest_seq {
            return Err(format!(
                "a change committed meanwhile (seq {} after {})",
                view.newest_seq, self.newest_seq
            ));
        }
        if view.others_renewing {
            return Err("other replicas renew their leases: the database takes writes".into());
        }
        if view.in_recovery && (view.received != view.replayed || view.received != self.received) {
            return Err("the standby still receives changes from a primary".into());
        }
        Ok(Duration::from_millis(u64::try_from(left).unwrap_or(0)))
    }
}

/// Serves verify from the index while the database stays read-only (see the module's rules),
/// with `applied` the newest change the index holds. Returns at the first rule broken, at a
/// failed read, or at stop; the caller lapses the index then. Begins only if the first read
/// allows it, within one lease.
pub async fn serve(
    pool: &PgPool,
    id: &str,
    replica: &dyn Replica,
    applied: &mut i64,
    stop: &mut watch::Receiver<bool>,
) -> Outcome {
    let begun = tokio::time::timeout(LEASE, begin(pool, id, replica, applied)).await;
    let (mut conn, start, cause) = match begun {
        Ok(Ok(Some(began))) => began,
        Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return Outcome::NotServed,
    };
    let state = replica.state();
    state.set_read_only(true);
    tracing::warn!(
        cause,
        "the database takes no writes: answering /v1/verify from the index while nothing \
         changes there, for at most the read-only grace; writes answer 503"
    );
    let mut tick = tokio::time::interval(RENEW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.reset();
    let why = loop {
        tokio::select! {
            biased;
            () = stopped(stop) => {
                state.set_read_only(false);
                return Outcome::Stopped;
            }
            () = state.resync_asked() => break "an index update failed".to_owned(),
            _ = tick.tick() => {}
        }
        let sent = Instant::now();
        let view = match step("read-only check", sql::read_only_view(&mut conn, id)).await {
            Ok(view) => view,
            Err(End::Lost(why)) => break why,
            Err(End::Stopped) => break "stopped".to_owned(),
        };
        match start.check(&view) {
            Ok(left) => {
                if !state.trust.extend_to(sent + (LEASE.min(left)) - MARGIN) {
                    break "an index update failed".to_owned();
                }
            }
            Err(why) => break why,
        }
    };
    state.set_read_only(false);
    tracing::info!(why, "stopped answering from the read-only database");
    Outcome::Ended(why)
}

/// The first read: `None` when the database takes writes or the rules forbid serving. On
/// success the index holds everything up to the returned start's `newest_seq` and is trusted.
async fn begin(
    pool: &PgPool,
    id: &str,
    replica: &dyn Replica,
    applied: &mut i64,
) -> Result<Option<(PgConnection, Start, &'static str)>, End> {
    let mut conn = step("connect", sql::connect(pool)).await?;
    let sent = Instant::now();
    let view = step("read-only check", sql::read_only_view(&mut conn, id)).await?;
    let start = Start {
        newest_seq: view.newest_seq,
        received: view.received.clone(),
    };
    let Ok(left) = start.check(&view) else {
        return Ok(None);
    };
    let state = replica.state();
    let deadline = sent + LEASE.min(left) - MARGIN;
    // Still trusted and nothing new: keep answering without a gap. Otherwise reload it all
    // from this database (whatever it holds is what may be trusted).
    let kept = state.trust.trusted_at(Instant::now())
        && view.newest_seq == *applied
        && state.trust.extend_to(deadline);
    if !kept {
        state.begin_sync();
        let keys = step("load the keys", sql::all_key_digests(&mut conn)).await?;
        replica.index().replace_all(keys);
        *applied = view.newest_seq;
        if !state.trust.extend_to(deadline) {
            return Ok(None);
        }
    }
    let cause = if view.in_recovery {
        "a standby in recovery"
    } else {
        "default_transaction_read_only is on"
    };
    Ok(Some((conn, start, cause)))
}
