//! Everything a request may touch, built once per service; what a change of it means beyond the
//! store (following a write in the verify index, retiring rotated keys); and the background
//! chores (recording key use, pruning, retiring) that keep it tidy.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::drain::Draining;
use super::error::ApiError;
use super::forwarded::TrustedProxies;
use super::idempotency::{IdempotencyCache, RECORD_RETENTION_SECS};
use super::leak_keys::LeakKeys;
use super::rate_limit::FailureLimiter;
use super::replicas::{self, Replica, ReplicaState, StoreReader};
use super::store::{KeyUse, PROBE_EVERY, Store, StoreError, UnixTime, WriteFault};
use super::usage::UsageBook;
use super::verify_index::{Entry, VerifyIndex};
use crate::credential::{Digest, Pepper};
use crate::wire::Timestamp;

/// Uses of keys waiting to be written; past this, uses are dropped (they are only "last used").
const TOUCH_QUEUE: usize = 4096;
const TOUCH_BATCH: usize = 512;
const CHORE_INTERVAL: Duration = Duration::from_secs(60);

/// Limits an operator chooses when starting the service.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub key_limit: u32,
    pub verify_failures_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            key_limit: crate::wire::limits::DEFAULT_KEY_LIMIT,
            verify_failures_per_minute: 60,
        }
    }
}

pub struct AppState {
    pub store: Arc<dyn Store>,
    pub pepper: Pepper,
    pub key_limit: u32,
    pub index: VerifyIndex,
    pub limiter: FailureLimiter,
    /// Whose forwarding headers name the client (docs/api.md, The client address).
    pub proxies: TrustedProxies,
    pub idempotency: IdempotencyCache,
    /// Held across "change the store, then the index" so that the index follows commit order.
    pub write_gate: WriteGate,
    /// Whether the index may answer, and (with a shared store) how it follows the database.
    pub replica: ReplicaState,
    touches: mpsc::Sender<KeyUse>,
    /// Usage figures: flushed by the chores, read by the usage route (docs/api.md, Usage).
    pub usage: UsageBook,
    /// Set by a stop signal: the readiness routes answer 503 (docs/api.md, Endpoints).
    pub draining: Draining,
    /// The keys that sign GitHub's leak reports; none unless `--leak-report-keys` was given
    /// (docs/api.md, Leaked keys).
    pub leak_keys: Arc<LeakKeys>,
}

pub type SharedState = Arc<AppState>;

/// Serializes "change the store, then the index" within one process (SQLite): the index
/// follows commit order. With a shared store the index follows the database by refreshes
/// ([`AppState::follow`]), which need no such order, so the gate lets writes run side by side
/// (a delete waits for the other replicas' acknowledgements; one at a time would cap the
/// writes per second at one over that wait).
pub struct WriteGate {
    lock: Option<tokio::sync::Mutex<()>>,
}

impl WriteGate {
    fn new(shared: bool) -> Self {
        WriteGate {
            lock: (!shared).then(|| tokio::sync::Mutex::new(())),
        }
    }

    /// Holds the gate (nothing with a shared store) until the guard is dropped.
    pub async fn lock(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.lock {
            Some(l) => Some(l.lock().await),
            None => None,
        }
    }
}

impl AppState {
    /// The per-address failure limit that verify, whois and admins' leak reports share (one
    /// budget for every failed lookup, this replica's share of it with several replicas:
    /// docs/api.md, Verify). `Err` is 429 `rate_limited` with its `Retry-After` (seconds).
    pub fn check_failure_limit(&self, peer: IpAddr, now: Instant) -> Result<(), ApiError> {
        self.limiter
            .check(peer, now, self.replica.live_replicas())
            .map_err(ApiError::rate_limited)
    }

    /// After a write of the keys `digests` committed, before it is answered: with one process,
    /// `local` applies what the handler committed to the index (under the write gate); with a
    /// shared store, their state is re-read from the database instead (another replica may
    /// have changed them since), and if that fails the index is distrusted until the replica
    /// has resynced (503 meanwhile, never a 200 the change should have stopped).
    pub async fn follow(&self, digests: &[Digest], local: impl FnOnce(&VerifyIndex)) {
        if !self.replica.is_shared() {
            local(&self.index);
            return;
        }
        let reader = &mut StoreReader(&*self.store);
        if let Err(e) = replicas::refresh(&self.index, digests, reader).await {
            tracing::warn!(
                error = %e,
                "could not re-read changed keys: this replica answers 503 until it resyncs"
            );
            self.replica.distrust();
        }
    }

    /// Retires the rotated keys (of one service, or all) whose grace has ended: no timer per
    /// key, so every list, audit read and key mutation calls this first and shows the
    /// retirement at once (docs/api.md, Key lifecycle). Their digests stay in the verify index
    /// as keys disabled for good, set under the write gate (they were refused from their end
    /// already), and their kept replays are wiped. A failure is logged: the read goes on, the next look retires them.
    pub async fn retire_due(&self, service_id: Option<&str>) {
        let _gate = self.write_gate.lock().await;
        let now = Timestamp::now().unix();
        match self
            .store
            .retire_due(service_id.map(str::to_owned), now)
            .await
        {
            Ok(gone) => {
                let digests: Vec<_> = gone.iter().map(|r| r.digest).collect();
                self.follow(&digests, |index| index.retire(&digests)).await;
                for r in &gone {
                    self.idempotency.forget_keys(&r.service_id, Some(&r.key_id));
                }
            }
            Err(e) => log_failure(&e, "could not retire rotated keys"),
        }
    }

    /// Why the store cannot take writes now, if it cannot: `/readyz` is not ready meanwhile
    /// (docs/api.md, Shutting down and starting up).
    pub fn store_fault(&self) -> Option<WriteFault> {
        self.store.write_fault().or_else(|| {
            // Answering verify from a read-only database: no write can be taken meanwhile.
            self.replica.read_only().then_some(WriteFault::ReadOnly)
        })
    }

    /// Records a successful verification from `from` without waiting: the background writer
    /// stores it (`last_used_at`, `last_used_from`). Called once a minute per key.
    pub fn record_use(&self, entry: &Entry, at: UnixTime, from: std::net::IpAddr) {
        entry.usage.set_from(from);
        let _ = self.touches.try_send(KeyUse {
            key_id: entry.key_id.clone(),
            at,
            from,
        });
    }
}

/// The replica protocol sees the index and the replica's trust, nothing else of the state.
impl Replica for AppState {
    fn index(&self) -> &VerifyIndex {
        &self.index
    }

    fn state(&self) -> &ReplicaState {
        &self.replica
    }
}

/// The chores running beside the server; stopped (and flushed) at shutdown.
pub struct Background {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Background {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

pub async fn build(
    store: Arc<dyn Store>,
    pepper: Pepper,
    limits: Limits,
    proxies: TrustedProxies,
) -> Result<(SharedState, Background), StoreError> {
    let shared = store.is_shared();
    // A shared store's index is loaded by the replica protocol, which also decides when to
    // trust it (replicas/protocol.rs).
    let index = if shared {
        VerifyIndex::default()
    } else {
        VerifyIndex::load(store.all_key_digests().await?)
    };
    let (touches, touch_rx) = mpsc::channel(TOUCH_QUEUE);
    let state = Arc::new(AppState {
        store,
        pepper,
        key_limit: limits.key_limit,
        index,
        limiter: FailureLimiter::new(limits.verify_failures_per_minute),
        proxies,
        idempotency: IdempotencyCache::default(),
        write_gate: WriteGate::new(shared),
        replica: if shared {
            ReplicaState::shared()
        } else {
            ReplicaState::single()
        },
        touches,
        usage: UsageBook::default(),
        draining: Draining::default(),
        leak_keys: Arc::default(),
    });
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(
        chores(state.clone(), touch_rx, stop_rx).instrument(tracing::info_span!("chores")),
    );
    Ok((state, Background { stop, task }))
}

async fn flush(state: &AppState, batch: &mut Vec<KeyUse>) {
    if batch.is_empty() {
        return;
    }
    if let Err(e) = state.store.touch_keys(std::mem::take(batch)).await {
        super::metrics::store_error();
        // Dropped: only "last used", and the index still shows this process's last use.
        log_failure(&e, "could not record key use");
    }
}

/// Logs a failed write of the chores or of a side record, but not a store that cannot take
/// writes: that one is logged once when it begins, and a chore meets it every minute.
fn log_failure(e: &StoreError, what: &str) {
    if !matches!(e, StoreError::CannotWrite { .. }) {
        tracing::warn!(error = %e, "{what}");
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn chores(
    state: SharedState,
    mut touch_rx: mpsc::Receiver<KeyUse>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(CHORE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Recovery needs no client: a replica out of rotation gets no writes to prove it.
    let mut probe = tokio::time::interval(PROBE_EVERY);
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::new();
    // The first tick fires at start; the retirement sweep waits for the next one (see below).
    let mut started = false;
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            used = touch_rx.recv() => {
                let Some(used) = used else { break };
                batch.push(used);
                while batch.len() < TOUCH_BATCH {
                    match touch_rx.try_recv() {
                        Ok(u) => batch.push(u),
                        Err(_) => break,
                    }
                }
                flush(&state, &mut batch).await;
            }
            _ = probe.tick() => {
                if state.store.write_fault().is_some() {
                    // A failure keeps the fault, which was logged when it began.
                    let _ = state.store.probe_write().await;
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                state.limiter.prune(now);
                state.idempotency.prune(now);
                // Retirement is lazy (on every look); this sweep only frees the index of keys
                // nobody looked at, so it has nothing to do at start and waits a minute.
                if started {
                    state.retire_due(None).await;
                }
                started = true;
                let horizon = Timestamp::now().unix() - RECORD_RETENTION_SECS;
                if let Err(e) = state.store.prune_idempotency(horizon).await {
                    super::metrics::store_error();
                    log_failure(&e, "could not prune idempotency records");
                }
                flush_usage(&state).await;
            }
        }
    }
    while let Ok(u) = touch_rx.try_recv() {
        batch.push(u);
    }
    flush(&state, &mut batch).await;
    // A graceful stop loses no count; a kill -9 loses at most the last minute's.
    flush_usage(&state).await;
}

/// Writes the usage counts (at most once a minute: the chore tick, and at stop).
async fn flush_usage(state: &AppState) {
    // On failure the counts stay in memory for the next flush (UsageBook::flush).
    if let Err(e) = state.usage.flush(&*state.store, &state.index).await {
        super::metrics::store_error();
        log_failure(&e, "could not record key usage");
    }
}
