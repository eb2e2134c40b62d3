//! Several replicas on one database (docs/api.md, Several replicas; docs/architecture.md, Several
//! replicas, in one picture). Each replica keeps its verify index in memory and:
//!
//! - trusts it only until a local deadline ([`Trust`]) that the protocol ([`protocol`]) moves
//!   forward after each lease renewal; past it `/v1/verify` answers 503 `unavailable`;
//! - changes it only by *refreshing* keys from the database ([`refresh`]), never by writing
//!   what a handler believes it committed, so that the index converges on the database
//!   whatever order the replicas' changes commit and arrive in;
//! - asks the database on an index miss (a key issued on another replica).
//!
//! With SQLite nothing of this runs: [`ReplicaState::single`] is always trusted and the
//! handlers update the index themselves under the write gate, as before.

pub mod protocol;
mod trust;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::sync::{Notify, watch};

pub use trust::Trust;

use super::store::postgres::{FeedCheck, PgStore};
use super::store::{KeyDigest, Store, StoreError, StoreResult};
use super::verify_index::VerifyIndex;
use crate::credential::Digest;

/// How long a lease lasts from the database's clock (docs/api.md: a cut-off replica stops
/// answering from memory within it; the goal is ≤ 1 s).
pub const LEASE: Duration = Duration::from_secs(1);
/// How often a replica catches up and renews: four renewals per lease, so that one slow or
/// lost renewal costs nothing.
pub const RENEW_EVERY: Duration = Duration::from_millis(250);
/// The local deadline ends this long before the lease could (clock rates differ a little and
/// the renewal's statement takes time to arrive): always before the database's `lease_until`.
pub const MARGIN: Duration = Duration::from_millis(100);

/// This replica's lease as the protocol last sent it (subscribe to [`ReplicaState::lease`]):
/// `serve` waits on it for the first sync. Always valid with SQLite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeaseState {
    /// The index is trusted (lease renewed, in sync).
    pub valid: bool,
    /// Every change with a `seq` up to this one is applied (0 with SQLite).
    pub acked_seq: i64,
}

/// The replica's side of `AppState`: its trust, and how the handlers ask for a resync.
pub struct ReplicaState {
    pub trust: Trust,
    shared: bool,
    resync: Notify,
    /// The lease, for metrics and logs: sent by the protocol on every change of validity and
    /// every acknowledgement.
    pub lease: watch::Sender<LeaseState>,
    /// Replicas holding a live lease, this one included, as the last renewal counted them (1
    /// alone or with SQLite): the per-address failure limit enforces its share of this many.
    live: AtomicU32,
    /// Answering verify from the index while the database takes no writes (docs/architecture.md,
    /// A read-only database): `/readyz` is not ready meanwhile, naming why.
    read_only: AtomicBool,
    /// Why the protocol has not started, if it waits (one of the `WAITING_*`).
    waiting: AtomicU8,
}

const WAITING_NOT: u8 = 0;
const WAITING_RECOVERY: u8 = 1;
const WAITING_FEED: u8 = 2;

impl ReplicaState {
    /// One process over its own store: the index is complete and always trusted.
    pub fn single() -> Self {
        ReplicaState {
            trust: Trust::always(),
            shared: false,
            resync: Notify::new(),
            lease: watch::Sender::new(LeaseState {
                valid: true,
                acked_seq: 0,
            }),
            live: AtomicU32::new(1),
            read_only: AtomicBool::new(false),
            waiting: AtomicU8::new(WAITING_NOT),
        }
    }

    /// A replica of a shared store: untrusted until [`protocol`] has synced it.
    pub fn shared() -> Self {
        ReplicaState {
            trust: Trust::lapsed(),
            shared: true,
            resync: Notify::new(),
            lease: watch::Sender::new(LeaseState::default()),
            live: AtomicU32::new(1),
            read_only: AtomicBool::new(false),
            waiting: AtomicU8::new(WAITING_NOT),
        }
    }

    /// True with a shared store: other processes change the keys, an index miss asks the
    /// database, and index changes are refreshes.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Replicas holding a live lease (at least 1: this one). One relaxed load: the verify path
    /// reads it on every call, and a count one renewal old is as good as a fresh one.
    pub fn live_replicas(&self) -> u32 {
        self.live.load(Ordering::Relaxed)
    }

    /// Records the count a renewal returned (0 is read as 1: this replica has just renewed);
    /// true when it changed.
    pub fn set_live_replicas(&self, n: u32) -> bool {
        self.live.swap(n.max(1), Ordering::Relaxed) != n.max(1)
    }

    /// True while the protocol answers verify from a database that takes no writes.
    pub fn read_only(&self) -> bool {
        self.read_only.load(Ordering::Relaxed)
    }

    /// Set by the protocol when it starts and stops answering from a read-only database.
    pub fn set_read_only(&self, on: bool) {
        self.read_only.store(on, Ordering::Relaxed);
    }

    /// Why this replica waits before its protocol can start, for `/readyz` (None: it does not
    /// wait; see [`start_for`]).
    pub fn waiting(&self) -> Option<&'static str> {
        match self.waiting.load(Ordering::Relaxed) {
            WAITING_RECOVERY => Some(
                "the database is in recovery (a hot standby): it refuses LISTEN and NOTIFY, so \
                 this replica waits until it is promoted; retry in 1 s",
            ),
            WAITING_FEED => Some(
                "the change feed does not reach this replica: a NOTIFY through --database did \
                 not reach the listener; set --database-listen (see the log)",
            ),
            _ => None,
        }
    }

    /// The index may be wrong (a refresh after a committed write failed): stop trusting it now
    /// and resync from the database.
    pub fn distrust(&self) {
        self.trust.revoke();
        self.resync.notify_one();
    }

    /// Completes when [`ReplicaState::distrust`] was called (at once if it was since the last
    /// wait or the last [`ReplicaState::begin_sync`]).
    pub async fn resync_asked(&self) {
        self.resync.notified().await;
    }

    /// A resync starts (before it reads anything): the index is not trusted until the protocol
    /// extends it again, and a resync asked before now is forgotten, since this one covers it
    /// (a distrust from a write that failed during an outage must not end the first session
    /// after the database is back).
    pub fn begin_sync(&self) {
        // Consumes the permit a distrust() stored while no session was waiting, if any.
        let _ = self.resync.notified().now_or_never();
        self.trust.begin_sync();
    }
}

/// What the protocol works on, and all it sees of the service: this replica's verify index and
/// its trust. The service's state provides it.
pub trait Replica: Send + Sync + 'static {
    /// The index the protocol loads, refreshes from the feed, and reloads after a resync.
    fn index(&self) -> &VerifyIndex;
    /// Its trust and lease, which the protocol moves, and the handlers' requests to resync.
    fn state(&self) -> &ReplicaState;
}

/// Where a refresh reads keys from: the store's pool (handlers, index misses) or the
/// protocol's own connection.
pub trait KeyReader: Send {
    /// The current state of these keys; a digest without an entry is a deleted key.
    fn read(&mut self, digests: Vec<Digest>) -> BoxFuture<'_, StoreResult<Vec<KeyDigest>>>;
}

/// Reads through the store (its pool).
pub struct StoreReader<'a>(pub &'a dyn Store);

impl KeyReader for StoreReader<'_> {
    fn read(&mut self, digests: Vec<Digest>) -> BoxFuture<'_, StoreResult<Vec<KeyDigest>>> {
        self.0.key_digests(digests)
    }
}

/// How many times a refresh reads again when other refreshes keep touching its keys' stripes
/// meanwhile; each read again is one that lost to a newer one, so this is never reached in
/// practice, and reaching it is an error (the caller distrusts the index).
const REFRESH_ROUNDS: usize = 32;

/// Re-reads the state of `digests` and applies it to the index: a key that no longer exists
/// leaves it, one that does is set as it is now. A read that another refresh of the same
/// stripe overtook is read again, so that the index ends with the newest state whatever order
/// reads finish in. Errors: the reader's ([`StoreError::Unavailable`] when the database is
/// gone), or [`StoreError::Failed`] after [`REFRESH_ROUNDS`] overtaken reads.
pub async fn refresh(
    index: &VerifyIndex,
    digests: &[Digest],
    reader: &mut dyn KeyReader,
) -> StoreResult<()> {
    let mut pending: Vec<Digest> = digests.to_vec();
    pending.sort_unstable();
    pending.dedup();
    for _ in 0..REFRESH_ROUNDS {
        if pending.is_empty() {
            return Ok(());
        }
        let stamped: Vec<(Digest, u64)> = pending.iter().map(|d| (*d, index.stamp(d))).collect();
        let found = reader.read(pending).await?;
        pending = index.apply_if_unchanged(&stamped, found);
    }
    if pending.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Failed(format!(
            "{} keys kept changing while they were re-read",
            pending.len()
        )))
    }
}

/// How long `serve` waits for a new replica's first sync before it listens anyway (answering
/// 503 until synced): long enough for a loaded database, short enough to start when it is down.
const FIRST_SYNC: Duration = Duration::from_secs(10);

/// How often a replica that waits for its database to leave recovery checks again.
const RECHECK: Duration = Duration::from_secs(1);

/// The replica protocol of a replica on PostgreSQL: running, or waiting for the database to
/// be promoted (then started by the waiter).
pub enum Feed {
    Running(protocol::Protocol),
    Waiting {
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<Option<protocol::Protocol>>,
    },
}

impl Feed {
    /// Stops the protocol (deregistering the replica) or the waiter.
    pub async fn stop(self) {
        match self {
            Feed::Running(p) => p.stop().await,
            Feed::Waiting { stop, task } => {
                let _ = stop.send(true);
                if let Ok(Some(p)) = task.await {
                    p.stop().await;
                }
            }
        }
    }
}

/// Starts the replica protocol when the store is PostgreSQL (`pg`), after the start-up check
/// of the change feed (docs/operating.md, PgBouncer), and waits (at most [`FIRST_SYNC`]) for
/// its first sync so that a replica that says it listens is usually ready too; `None` with
/// SQLite. A feed that cannot work is an error (the message says what to set); a database in
/// recovery is waited for, not ready meanwhile. Stop it with [`Feed::stop`] after the server
/// has stopped and before the store closes (it deregisters the replica).
/// `read_only_grace` is `serve --read-only-verify` (docs/architecture.md, A read-only database).
pub async fn start_for(
    pg: Option<&PgStore>,
    replica: Arc<dyn Replica>,
    read_only_grace: Duration,
) -> Result<Option<Feed>, String> {
    let Some(pg) = pg else { return Ok(None) };
    if pg.check_feed().await? == FeedCheck::InRecovery {
        tracing::warn!(
            "the database is in recovery (a hot standby): it refuses LISTEN and NOTIFY; \
             /readyz answers 503 until it is promoted"
        );
        replica
            .state()
            .waiting
            .store(WAITING_RECOVERY, Ordering::Relaxed);
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(wait_for_promotion(
            pg.clone(),
            replica,
            read_only_grace,
            stop_rx,
        ));
        return Ok(Some(Feed::Waiting { stop, task }));
    }
    let mut lease = replica.state().lease.subscribe();
    let running = start_protocol(pg, replica, read_only_grace);
    let synced = tokio::time::timeout(FIRST_SYNC, lease.wait_for(|l| l.valid)).await;
    if !matches!(synced, Ok(Ok(_))) {
        tracing::warn!(
            "not in sync with the database after {} s: listening anyway, /v1/verify and /readyz \
             answer 503 until this replica has synced",
            FIRST_SYNC.as_secs()
        );
    }
    Ok(Some(Feed::Running(running)))
}

fn start_protocol(
    pg: &PgStore,
    replica: Arc<dyn Replica>,
    read_only_grace: Duration,
) -> protocol::Protocol {
    protocol::start(
        pg.pool().clone(),
        pg.listen_options().clone(),
        pg.replica_id().to_owned(),
        pg.host().to_owned(),
        replica,
        read_only_grace,
    )
}

/// Checks the change feed again every [`RECHECK`] until the database has left recovery and
/// the feed works, then starts the protocol; None when stopped first. A feed that fails its
/// check after the promotion keeps the replica not ready, saying so in the log once.
async fn wait_for_promotion(
    pg: PgStore,
    replica: Arc<dyn Replica>,
    read_only_grace: Duration,
    mut stop: watch::Receiver<bool>,
) -> Option<protocol::Protocol> {
    let mut said = None;
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return None,
            () = tokio::time::sleep(RECHECK) => {}
        }
        let waiting = match pg.check_feed().await {
            Ok(FeedCheck::Heard) => break,
            Ok(FeedCheck::InRecovery) => WAITING_RECOVERY,
            Err(e) => {
                if said.as_ref() != Some(&e) {
                    tracing::error!("{e}");
                    said = Some(e);
                }
                WAITING_FEED
            }
        };
        replica.state().waiting.store(waiting, Ordering::Relaxed);
    }
    tracing::info!("the database was promoted: starting the change feed and the lease");
    let running = start_protocol(&pg, replica.clone(), read_only_grace);
    replica
        .state()
        .waiting
        .store(WAITING_NOT, Ordering::Relaxed);
    Some(running)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resync_forgets_a_distrust_from_before_it_began_but_not_one_after() {
        let state = ReplicaState::shared();
        state.distrust();
        state.begin_sync();
        assert!(
            state.resync_asked().now_or_never().is_none(),
            "a distrust from before the resync ended the new session"
        );
        state.distrust();
        assert!(state.resync_asked().now_or_never().is_some());
    }

    fn key(d: u8, valid_until: i64) -> KeyDigest {
        KeyDigest {
            digest: [d; 32],
            service_id: "svc_a".into(),
            key_id: format!("key_{d}"),
            last_used_at: None,
            valid_until,
            policy: Default::default(),
        }
    }

    /// Answers from `db`; on its first read, first lets a newer refresh (the key deleted)
    /// land in the index, as a concurrent delete's refresh would while this read is in flight.
    struct Overtaken<'a> {
        index: &'a VerifyIndex,
        db: Vec<KeyDigest>,
        reads: usize,
    }

    impl KeyReader for Overtaken<'_> {
        fn read(&mut self, digests: Vec<Digest>) -> BoxFuture<'_, StoreResult<Vec<KeyDigest>>> {
            self.reads += 1;
            let stale = self.db.clone();
            if self.reads == 1 {
                // The newer refresh: the key is gone (its read began and ended during ours).
                let stamped: Vec<_> = digests.iter().map(|d| (*d, self.index.stamp(d))).collect();
                assert!(self.index.apply_if_unchanged(&stamped, vec![]).is_empty());
                self.db.clear();
            }
            Box::pin(async move { Ok(stale) })
        }
    }

    #[tokio::test]
    async fn a_read_overtaken_by_a_newer_one_never_revives_a_deleted_key() {
        let index = VerifyIndex::load(vec![key(1, i64::MAX)]);
        let mut reader = Overtaken {
            index: &index,
            db: vec![key(1, i64::MAX)],
            reads: 0,
        };
        refresh(&index, &[[1; 32]], &mut reader).await.unwrap();
        assert_eq!(reader.reads, 2, "the overtaken read is read again");
        assert!(
            index.lookup(&[1; 32]).is_none(),
            "the stale read was dropped"
        );
    }

    #[tokio::test]
    async fn a_refresh_sets_removes_and_keeps_the_entry_of_a_key_that_stays() {
        let index = VerifyIndex::load(vec![key(1, i64::MAX), key(2, i64::MAX)]);
        let before = index.lookup(&[1; 32]).unwrap();
        struct Db(Vec<KeyDigest>);
        impl KeyReader for Db {
            fn read(&mut self, _: Vec<Digest>) -> BoxFuture<'_, StoreResult<Vec<KeyDigest>>> {
                let v = self.0.clone();
                Box::pin(async move { Ok(v) })
            }
        }
        // Key 1 disabled, key 2 deleted, key 3 new; the same digest twice is harmless.
        let mut db = Db(vec![key(1, i64::MIN), key(3, 1000)]);
        refresh(&index, &[[1; 32], [2; 32], [3; 32], [1; 32]], &mut db)
            .await
            .unwrap();
        let after = index.lookup(&[1; 32]).unwrap();
        assert!(
            std::sync::Arc::ptr_eq(&before, &after),
            "unwritten usage stays"
        );
        assert!(!after.valid_at(0));
        assert!(index.lookup(&[2; 32]).is_none());
        assert!(index.lookup(&[3; 32]).unwrap().valid_at(999));
        // A reload moves every stamp: a refresh that read before it reads again.
        let stamp = index.stamp(&[3; 32]);
        index.replace_all(vec![key(3, 1000)]);
        assert_eq!(
            index.apply_if_unchanged(&[([3; 32], stamp)], vec![]),
            vec![[3; 32]]
        );
        assert!(index.lookup(&[3; 32]).is_some());
        assert!(index.lookup(&[1; 32]).is_none());
    }

    #[test]
    fn one_process_is_always_trusted_and_a_replica_not_before_its_first_sync() {
        let now = std::time::Instant::now();
        assert!(ReplicaState::single().trust.trusted_at(now));
        assert!(!ReplicaState::shared().trust.trusted_at(now));
    }
}
