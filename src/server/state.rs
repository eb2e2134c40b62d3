//! Everything a request may touch, built once per service, and the background chores (recording
//! key use, pruning) that keep it tidy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::idempotency::{IdempotencyCache, RECORD_RETENTION_SECS};
use super::rate_limit::FailureLimiter;
use super::store::{KeyUse, Store, StoreError, UnixTime};
use super::usage::UsageBook;
use super::verify_index::{Entry, VerifyIndex};
use crate::credential::Pepper;
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
    pub idempotency: IdempotencyCache,
    /// Held across "change the store, then the index" so that the index follows commit order.
    pub write_gate: tokio::sync::Mutex<()>,
    touches: mpsc::Sender<KeyUse>,
    pub openapi: Bytes,
    /// Usage figures: flushed by the chores, read by the usage route (API.md, Usage).
    pub usage: UsageBook,
}

pub type SharedState = Arc<AppState>;

impl AppState {
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
) -> Result<(SharedState, Background), StoreError> {
    let index = VerifyIndex::load(store.all_key_digests().await?);
    let (touches, touch_rx) = mpsc::channel(TOUCH_QUEUE);
    let state = Arc::new(AppState {
        store,
        pepper,
        key_limit: limits.key_limit,
        index,
        limiter: FailureLimiter::new(limits.verify_failures_per_minute),
        idempotency: IdempotencyCache::default(),
        write_gate: tokio::sync::Mutex::new(()),
        touches,
        openapi: super::openapi::document(),
        usage: UsageBook::default(),
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
        tracing::warn!(error = %e, "could not record key use");
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
            _ = tick.tick() => {
                let now = Instant::now();
                state.limiter.prune(now);
                state.idempotency.prune(now);
                // Retirement is lazy (on every look); this sweep only frees the index of keys
                // nobody looked at, so it has nothing to do at start and waits a minute.
                if started {
                    super::handlers::keys::retire_due(&state, None).await;
                }
                started = true;
                let horizon = Timestamp::now().unix() - RECORD_RETENTION_SECS;
                if let Err(e) = state.store.prune_idempotency(horizon).await {
                    super::metrics::store_error();
                    tracing::warn!(error = %e, "could not prune idempotency records");
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
    if let Err(e) = state.usage.flush(&*state.store, &state.index).await {
        super::metrics::store_error();
        tracing::warn!(error = %e, "could not record key usage");
    }
}
