//! The replica protocol over PostgreSQL (docs/architecture.md, The replica protocol; docs/api.md, Several replicas). One task
//! per replica, in sessions; each session:
//!
//! 1. stops trusting the index, LISTENs on the change feed, and opens its own connection;
//! 2. registers (lease from the database clock, `acked_seq` = the newest change): writers wait
//!    for this replica from now on, and it serves nothing from memory yet;
//! 3. reloads the whole index, then applies every change since the registration;
//! 4. renews with what it applied and trusts the index until the renewal's send + LEASE −
//!    MARGIN, which is always before the database's `lease_until`;
//! 5. then, on every notification at once and every [`RENEW_EVERY`] otherwise: applies every
//!    change after the last applied (read from the `changes` table, so a lost notification
//!    costs one interval at most), renews, acknowledges, moves the deadline.
//!
//! Any failure (a lost listener, a statement failing or slower than a lease, a deadline found
//! passed, a refresh that could not be made) ends the session; the next one starts after a
//! short backoff and resyncs from scratch, by itself, until the database is back. At stop the
//! replica deletes its row, so that writers stop waiting for it at once.
//!
//! Between sessions, a database that can be read but takes no writes (a failover window) may
//! go on being served from the index for a bounded time: [`read_only`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use sqlx::PgConnection;
use sqlx::postgres::PgPool;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

mod read_only;

use super::{KeyReader, LEASE, LeaseState, MARGIN, RENEW_EVERY, Replica, refresh};
use crate::credential::Digest;
use crate::server::store::postgres::replica as sql;
use crate::server::store::{KeyDigest, StoreError, StoreResult};

/// The longest one protocol step (connect, a statement) may take before the session is given
/// up and a resync starts. Longer than the lease on purpose: the deadline already stops the
/// index from answering when a step is slow, so this only decides when a silent connection is
/// abandoned; a database that stalls for a second under load (seen on a busy 2-core host) then
/// costs a few 503s, not a full reload.
const STEP: Duration = Duration::from_secs(3);
/// Backoff between failed sessions: from the first to the last, doubling.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(1));

fn lease_ms() -> i64 {
    i64::try_from(LEASE.as_millis()).unwrap_or(1000)
}

/// The running protocol; [`Protocol::stop`] deregisters the replica.
pub struct Protocol {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Protocol {
    /// Stops the protocol and deletes this replica's row (bounded by a lease: a database that
    /// is gone cannot hold up the stop; the row's lease then simply runs out).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts the protocol for the replica `id` (`host` is for operators: hostname:pid) on the
/// store's pool `pool` (its options; the protocol's connections are its own).
/// `read_only_grace`: how long past its lease this replica may answer verify from a database
/// that takes no writes (0: never; docs/architecture.md, A read-only database).
pub fn start(
    pool: PgPool,
    listen: sqlx::postgres::PgConnectOptions,
    id: String,
    host: String,
    replica: Arc<dyn Replica>,
    read_only_grace: Duration,
) -> Protocol {
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(
        run(pool, listen, id, host, replica, read_only_grace, stop_rx)
            .instrument(tracing::info_span!("replica")),
    );
    Protocol { stop, task }
}

/// Why a session ended.
enum End {
    Stopped,
    Lost(String),
}

async fn step<T>(what: &str, f: impl Future<Output = StoreResult<T>>) -> Result<T, End> {
    match tokio::time::timeout(STEP, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(End::Lost(format!("{what}: {e}"))),
        Err(_) => Err(End::Lost(format!("{what}: no answer within {STEP:?}"))),
    }
}

async fn run(
    pool: PgPool,
    listen: sqlx::postgres::PgConnectOptions,
    id: String,
    host: String,
    replica: Arc<dyn Replica>,
    read_only_grace: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = BACKOFF.0;
    let mut was_trusted = false;
    let grace_ms = i64::try_from(read_only_grace.as_millis()).unwrap_or(i64::MAX);
    loop {
        let mut session = Session {
            pool: &pool,
            listen: &listen,
            id: &id,
            host: &host,
            replica: &*replica,
            applied: 0,
            conn: None,
            read_only_grace_ms: grace_ms,
        };
        let started = Instant::now();
        let mut end = session.run(&mut stop, &mut was_trusted).await;
        let conn = session.conn.take();
        let mut applied = session.applied;
        if matches!(end, End::Lost(_)) && !read_only_grace.is_zero() {
            // Before the index lapses: maybe the database only stopped taking writes.
            end = match read_only::serve(&pool, &id, &*replica, &mut applied, &mut stop).await {
                read_only::Outcome::NotServed => end,
                read_only::Outcome::Ended(why) => End::Lost(why),
                read_only::Outcome::Stopped => End::Stopped,
            };
        }
        replica.state().trust.lapse();
        replica.state().lease.send_replace(LeaseState {
            valid: false,
            acked_seq: applied,
        });
        match end {
            End::Stopped => {
                deregister(&pool, &id, conn).await;
                return;
            }
            End::Lost(why) => {
                if was_trusted {
                    tracing::warn!(
                        "lost the database ({why}): /v1/verify answers 503 until this replica resyncs"
                    );
                } else {
                    tracing::debug!("replica sync failed: {why}");
                }
                was_trusted = false;
            }
        }
        // A session that ran for a while earns a fresh backoff.
        if started.elapsed() > LEASE * 5 {
            backoff = BACKOFF.0;
        }
        tokio::select! {
            () = stopped(&mut stop) => {
                deregister(&pool, &id, None).await;
                return;
            }
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

async fn deregister(pool: &PgPool, id: &str, conn: Option<PgConnection>) {
    let gone = async {
        let mut conn = match conn {
            Some(c) => c,
            None => sql::connect(pool).await?,
        };
        sql::deregister(&mut conn, id).await
    };
    match tokio::time::timeout(STEP, gone).await {
        Ok(Ok(())) => tracing::info!("replica deregistered"),
        Ok(Err(e)) => tracing::warn!(error = %e, "could not deregister; its lease runs out"),
        Err(_) => tracing::warn!("could not deregister in time; its lease runs out"),
    }
}

/// What the listener task reports.
enum Feed {
    /// A change was committed (its `seq`).
    Change(i64),
    /// The listener's connection is gone: notifications may have been lost.
    Lost(String),
}

fn open(conn: &mut Option<PgConnection>) -> &mut PgConnection {
    conn.as_mut().expect("the session's connection is open")
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

struct Session<'a> {
    pool: &'a PgPool,
    listen: &'a sqlx::postgres::PgConnectOptions,
    id: &'a str,
    host: &'a str,
    replica: &'a dyn Replica,
    /// Every change with a seq up to this one is applied to the index.
    applied: i64,
    conn: Option<PgConnection>,
    /// Recorded in this replica's row for writers (`serve --read-only-verify`).
    read_only_grace_ms: i64,
}

/// Reads keys on the protocol's own connection.
struct ConnReader<'a>(&'a mut PgConnection);

impl KeyReader for ConnReader<'_> {
    fn read(&mut self, digests: Vec<Digest>) -> BoxFuture<'_, StoreResult<Vec<KeyDigest>>> {
        Box::pin(async move { sql::key_digests(self.0, &digests).await })
    }
}

impl Session<'_> {
    async fn run(&mut self, stop: &mut watch::Receiver<bool>, was_trusted: &mut bool) -> End {
        match self.serve(stop, was_trusted).await {
            Ok(()) => End::Stopped,
            Err(end) => end,
        }
    }

    async fn serve(
        &mut self,
        stop: &mut watch::Receiver<bool>,
        was_trusted: &mut bool,
    ) -> Result<(), End> {
        let replica = self.replica.state();
        // Before anything is read: whatever this session reads is what it may trust.
        replica.begin_sync();
        let (feed_tx, mut feed) = mpsc::unbounded_channel();
        let listener = step("listen", sql::listen(self.listen)).await?;
        let _listening = ListenerTask::spawn(listener, feed_tx);
        self.conn = Some(step("connect", sql::connect(self.pool)).await?);
        let acked = step(
            "register",
            sql::register(
                open(&mut self.conn),
                self.id,
                self.host,
                lease_ms(),
                self.read_only_grace_ms,
            ),
        )
        .await?;
        let keys = step("load the keys", sql::all_key_digests(open(&mut self.conn))).await?;
        self.replica.index().replace_all(keys);
        self.applied = acked;
        self.catch_up_and_renew().await?;
        if !*was_trusted {
            tracing::info!(
                keys = self.replica.index().len(),
                acked_seq = self.applied,
                "replica in sync: answering from its index"
            );
        }
        *was_trusted = true;
        let mut tick = tokio::time::interval(RENEW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.reset();
        loop {
            tokio::select! {
                biased;
                () = stopped(stop) => return Ok(()),
                () = replica.resync_asked() => {
                    return Err(End::Lost("an index update failed".into()));
                }
                ev = feed.recv() => match ev {
                    Some(Feed::Change(seq)) => {
                        // A burst arrives together: one catch-up for all of it.
                        let mut newest = seq;
                        while let Ok(ev) = feed.try_recv() {
                            match ev {
                                Feed::Change(s) => newest = newest.max(s),
                                Feed::Lost(why) => return Err(End::Lost(why)),
                            }
                        }
                        if newest > self.applied {
                            self.catch_up_and_renew().await?;
                        }
                    }
                    Some(Feed::Lost(why)) => return Err(End::Lost(why)),
                    None => return Err(End::Lost("the listener stopped".into())),
                },
                _ = tick.tick() => {
                    // Paused or starved past the deadline (a stopped process, a stalled
                    // host): changes may have been pruned meanwhile, so resync.
                    if !replica.trust.trusted_at(Instant::now()) {
                        return Err(End::Lost("the lease lapsed before it could be renewed".into()));
                    }
                    self.catch_up_and_renew().await?;
                }
            }
        }
    }

    /// Applies every change after `applied`, then renews the lease acknowledging them, then
    /// moves the local deadline to the renewal's send + LEASE − MARGIN.
    async fn catch_up_and_renew(&mut self) -> Result<(), End> {
        // The deadline counts from before the catch-up read, not from the renewal: a change
        // committed after this read is unknown to us, and its writer, should it lose the
        // database, waits out one lease from its commit (store/postgres/feed.rs); a deadline
        // counted from a later renewal could outlast that wait.
        let sent = Instant::now();
        let changes = step(
            "read changes",
            sql::changes_since(open(&mut self.conn), self.applied),
        )
        .await?;
        if let Some((newest, _)) = changes.last() {
            let newest = *newest;
            let digests: Vec<Digest> = changes.into_iter().flat_map(|(_, d)| d).collect();
            let index = self.replica.index();
            let reader = &mut ConnReader(open(&mut self.conn));
            step("apply changes", refresh(index, &digests, reader)).await?;
            self.applied = newest;
        }
        let (id, applied) = (self.id, self.applied);
        let renewed = step(
            "renew",
            sql::renew(open(&mut self.conn), id, applied, lease_ms()),
        )
        .await?;
        let Some(live) = renewed else {
            return Err(End::Lost("this replica's row is gone".into()));
        };
        let replica = self.replica.state();
        let live = u32::try_from(live).unwrap_or(u32::MAX);
        if replica.set_live_replicas(live) {
            tracing::info!(
                live_replicas = live,
                "replicas holding a live lease changed: this one enforces its share of the \
                 per-address failure limit"
            );
        }
        if !replica.trust.extend_to(sent + LEASE - MARGIN) {
            return Err(End::Lost("an index update failed".into()));
        }
        replica.lease.send_if_modified(|l| {
            let next = LeaseState {
                valid: true,
                acked_seq: applied,
            };
            let changed = *l != next;
            *l = next;
            changed
        });
        Ok(())
    }
}

/// Forwards notifications to the session; dropping it stops the listener.
struct ListenerTask(JoinHandle<()>);

impl ListenerTask {
    fn spawn(mut listener: sqlx::postgres::PgListener, tx: mpsc::UnboundedSender<Feed>) -> Self {
        // Its own task so that a notification is never lost to a cancelled receive.
        ListenerTask(tokio::spawn(async move {
            loop {
                let lost = match listener.try_recv().await {
                    Ok(Some(n)) => match n.payload().parse::<i64>() {
                        Ok(seq) => {
                            if tx.send(Feed::Change(seq)).is_err() {
                                return;
                            }
                            continue;
                        }
                        // Not ours to judge: the table is read anyway.
                        Err(_) => {
                            if tx.send(Feed::Change(i64::MAX)).is_err() {
                                return;
                            }
                            continue;
                        }
                    },
                    Ok(None) => "the listener's connection was lost".to_owned(),
                    Err(e) => format!("the listener failed: {}", StoreError::from(e)),
                };
                let _ = tx.send(Feed::Lost(lost));
                return;
            }
        }))
    }
}

impl Drop for ListenerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
